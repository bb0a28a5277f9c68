"""Classification metrics against scikit-learn and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from hepxai.core.errors import HepxaiError
from hepxai.metrics.classification import (
    asimov_significance,
    efficiency_rejection,
    one_vs_rest,
    rejection_at,
    roc_auc,
    roc_curve,
    significance_scan,
)


def sample(n: int = 2000, seed: int = 0, ties: bool = True):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.3
    score = rng.normal(y * 1.2, 1.0)
    if ties:
        score = np.round(score, 1)  # many tied scores
    return y, score, rng.uniform(0.1, 3.0, n)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ties", [False, True])
def test_roc_curve_matches_scikit_learn(weighted: bool, ties: bool) -> None:
    y, score, w = sample(ties=ties)
    weight = w if weighted else None
    ours = roc_curve(y, score, weight)
    fpr, tpr, thresholds = sk_roc_curve(y, score, sample_weight=weight, drop_intermediate=False)
    np.testing.assert_allclose(ours.fpr, fpr, atol=1e-12)
    np.testing.assert_allclose(ours.tpr, tpr, atol=1e-12)
    np.testing.assert_allclose(ours.thresholds[1:], thresholds[1:])
    assert roc_auc(y, score, weight) == pytest.approx(roc_auc_score(y, score,
                                                                    sample_weight=weight))


def test_one_vs_rest_matches_scikit_learn_per_class() -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, 3000)
    logits = rng.normal(size=(3000, 4)) + 1.5 * np.eye(4)[labels]
    proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    curves = one_vs_rest(labels, proba, ("a", "b", "c", "d"))
    reference = roc_auc_score(labels, proba, multi_class="ovr", average=None)
    np.testing.assert_allclose([c.auc for c in curves.values()], reference, rtol=1e-12)


def test_rejection_at_efficiency_by_brute_force() -> None:
    y, score, w = sample(ties=False)
    curve = roc_curve(y, score, w)
    for efficiency in (0.3, 0.5, 0.8):
        # the ROC point pair around the efficiency, interpolated linearly by hand
        i = np.searchsorted(curve.tpr, efficiency)
        t0, t1 = curve.tpr[i - 1], curve.tpr[i]
        f0, f1 = curve.fpr[i - 1], curve.fpr[i]
        fpr = f0 + (efficiency - t0) / (t1 - t0) * (f1 - f0)
        assert rejection_at(y, score, [efficiency], w)[0] == pytest.approx(1 / fpr)
    eff, rejection = efficiency_rejection(y, score, w)
    assert np.all(np.diff(eff) >= 0) and np.all(np.diff(rejection) <= 1e-12)


def test_perfect_separation_has_infinite_rejection() -> None:
    y = np.array([0, 0, 1, 1])
    assert rejection_at(y, [0.1, 0.2, 0.8, 0.9], [0.5])[0] == np.inf
    assert roc_auc(y, [0.1, 0.2, 0.8, 0.9]) == 1.0


def test_asimov_significance_hand_computed() -> None:
    # s = 10, b = 100: 110 ln(1.1) = 10.484120, minus 10 = 0.484120, x2 = 0.968240, sqrt
    assert asimov_significance(10.0, 100.0) == pytest.approx(0.983992, abs=1e-6)
    # s = 5, b = 1: 6 ln 6 = 10.750557, minus 5 = 5.750557, x2 = 11.501114, sqrt = 3.391329
    assert asimov_significance(5.0, 1.0) == pytest.approx(3.391329, abs=1e-6)
    # s << b: Z -> s / sqrt(b)
    assert asimov_significance(1.0, 1e6) == pytest.approx(1e-3, rel=1e-4)


def test_significance_with_background_uncertainty_hand_computed() -> None:
    s, b, rel = 10.0, 100.0, 0.2
    var = (rel * b) ** 2  # 400
    first = (s + b) * math.log((s + b) * (b + var) / (b**2 + (s + b) * var))  # 110 ln(55000/54000)
    second = b**2 / var * math.log1p(var * s / (b * (b + var)))  # 25 ln(1 + 4000/50000)
    assert first == pytest.approx(110 * math.log(55000 / 54000))
    assert second == pytest.approx(25 * math.log(1.08))
    expected = math.sqrt(2 * (first - second))
    assert asimov_significance(s, b, rel) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.434463, abs=1e-6)
    # small uncertainty -> the plain Asimov value; s << b -> s / sqrt(b + sigma_b^2)
    assert asimov_significance(10.0, 100.0, 1e-6) == pytest.approx(0.983992, abs=1e-5)
    assert asimov_significance(1.0, 1e4, 0.05) == pytest.approx(1 / math.sqrt(1e4 + 500**2),
                                                                 rel=1e-3)
    assert math.isnan(asimov_significance(1.0, 0.0))


def test_significance_scan_small_example() -> None:
    # scores: signals at 0.9 and 0.8, backgrounds (two processes) at 0.7, 0.6, 0.5
    y = np.array([1, 1, 0, 0, 0])
    score = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    weight = np.array([5.0, 5.0, 2.0, 4.0, 4.0])
    group = np.array(["s", "s", "a", "b", "b"])
    scan = significance_scan(y, score, weight, groups=group, floor_events=1.15,
                             signal_efficiency=0.5)
    best = scan["best"]
    # at t = 0.8: s = 10; no simulated background passes, each process counts 1.15 x its mean
    # weight: a 1.15 x 2 + b 1.15 x 4 = 6.9
    assert best["threshold"] == 0.8 and best["s"] == 10.0
    assert best["b"] == pytest.approx(6.9)
    assert best["z"] == pytest.approx(asimov_significance(10.0, 6.9))
    assert scan["at_efficiency"]["threshold"] == 0.9
    no_floor = significance_scan(y, score, weight, floor_events=0.0, signal_efficiency=None)
    assert no_floor["best"]["b"] == 2.0  # b = 0 is undefined; the best is at t = 0.7
    required = significance_scan(y, score, weight, groups=group, min_background_events=2)
    assert required["best"]["threshold"] == 0.6 and required["best"]["n_background_mc"] == 2


@pytest.mark.parametrize("call, message", [
    (lambda: roc_curve([0, 1, 1], [0.1, np.nan, 0.3]), "NaN"),
    (lambda: roc_curve([0, 1], [0.1, 0.2, 0.3]), "2 events"),
    (lambda: roc_curve([1, 1], [0.1, 0.2]), "both signal and background"),
    (lambda: roc_curve([0, 2], [0.1, 0.2]), "0/1"),
    (lambda: roc_curve([0, 1], [0.1, 0.2], [1.0, -1.0]), "weights"),
    (lambda: one_vs_rest([0, 1, 1], np.ones((3, 3)) / 3, ("a", "b", "c")), "no event of class c"),
    (lambda: asimov_significance(1.0, 1.0, -0.1), ">= 0"),
    (lambda: rejection_at([0, 1], [0.1, 0.2], [1.5]), r"\(0, 1\]"),
])
def test_bad_inputs_raise_one_line_errors(call, message: str) -> None:
    with pytest.raises(HepxaiError, match=message) as info:
        call()
    assert "\n" not in str(info.value)
