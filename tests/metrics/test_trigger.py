"""Tests of hepxai.metrics.trigger: hand-computed values and sklearn/scipy references."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from hepxai.metrics import trigger as tr

# ------------------------------------------------------------------------- regression


def test_mae_hand_computed() -> None:
    pt_t = [10.0, 20.0, 5.0]
    pt_p = [12.0, 17.0, 5.0]  # |d| = 2, 3, 0
    eta_t = [0.5, 1.0, 0.2]
    eta_p = [0.4, 1.3, 0.2]  # |d| = 0.1, 0.3, 0
    out = tr.mae(pt_t, pt_p, eta_t, eta_p)
    assert out["pt"] == pytest.approx(5.0 / 3)
    assert out["eta"] == pytest.approx(0.4 / 3)
    assert out["total"] == pytest.approx(5.4 / 3)
    assert set(out) == {"total", "pt", "eta"}
    assert all(type(v) is float for v in out.values())


def test_spread_closed_window() -> None:
    pt_t = np.array([6.99, 7.0, 10.0, 13.0, 13.01, 20.0])
    pt_p = np.array([100.0, 8.0, 13.0, 11.0, 100.0, 0.0])
    # in window: 7.0 (|d|=1), 10.0 (3), 13.0 (2); 6.99 and 13.01 excluded
    assert tr.spread(pt_t, pt_p) == pytest.approx(2.0)
    assert tr.spread(pt_t, pt_p, window=(9.0, 11.0)) == pytest.approx(3.0)


def test_spread_empty_window_is_nan() -> None:
    assert math.isnan(tr.spread([1.0, 20.0], [1.0, 20.0]))


# ------------------------------------------------------------------ trigger decision


def test_selected_by_is_strict() -> None:
    np.testing.assert_array_equal(tr.selected_by([9.0, 10.0, 10.5], 10.0), [False, False, True])


def test_efficiency_strict_threshold() -> None:
    pt_t = np.array([10.0, 10.0, 12.0, 15.0, 20.0, 5.0])
    sel = np.array([False, True, True, False, True, True])
    # above 10 (strict): 12, 15, 20 -> selected 12 and 20 -> 2/3; events at exactly 10 ignored
    assert tr.efficiency(pt_t, sel, 10.0) == pytest.approx(2.0 / 3)
    # with >= the answer would be 3/5
    assert tr.efficiency(pt_t, sel, 9.99) == pytest.approx(3.0 / 5)
    assert math.isnan(tr.efficiency(pt_t, sel, 100.0))


def test_efficiency_accepts_int_01_selection() -> None:
    assert tr.efficiency([11.0, 12.0], np.array([1, 0]), 10.0) == pytest.approx(0.5)


def test_selection_confusion_counts_and_rows() -> None:
    pt_t = np.array([20.0, 20.0, 20.0, 15.0, 5.0, 5.0, 5.0, 5.0, 15.0])
    sel = np.array([True, True, False, False, True, False, False, False, False])
    # positives (>15): 3 -> TP 2, FN 1; negatives: 6 (incl. the two at 15) -> FP 1, TN 5
    counts = tr.selection_confusion(pt_t, sel, 15.0, normalize=False)
    np.testing.assert_array_equal(counts, [[2, 1], [1, 5]])
    assert np.issubdtype(counts.dtype, np.integer)
    norm = tr.selection_confusion(pt_t, sel, 15.0)
    np.testing.assert_allclose(norm, [[2 / 3, 1 / 3], [1 / 6, 5 / 6]])
    np.testing.assert_allclose(norm.sum(axis=1), [1.0, 1.0])


def test_selection_confusion_empty_row_is_nan() -> None:
    norm = tr.selection_confusion([1.0, 2.0], [True, False], 10.0)
    assert np.all(np.isnan(norm[0]))
    np.testing.assert_allclose(norm[1], [0.5, 0.5])


def _sklearn_report(y_true: np.ndarray, y_pred: np.ndarray, t: float, **kw: object):
    sk = pytest.importorskip("sklearn.metrics")
    return sk.classification_report(
        y_true,
        y_pred,
        labels=[False, True],
        target_names=[f"pT <= {t:g} GeV", f"pT > {t:g} GeV"],
        zero_division=0,
        **kw,
    )


@pytest.mark.parametrize(
    "seed, threshold, mode",
    [
        (0, 10.0, "random"),
        (1, 15.0, "random"),
        (2, 12.5, "random"),
        (3, 10.0, "none_selected"),
        (4, 10.0, "all_selected"),
        (5, 100.0, "no_positive"),
    ],
)
def test_classification_report_matches_sklearn(seed: int, threshold: float, mode: str) -> None:
    rng = np.random.default_rng(seed)
    n = 500
    pt_t = rng.uniform(0.0, 30.0, n)
    pt_p = pt_t + rng.normal(0.0, 4.0, n)
    sel = tr.selected_by(pt_p, threshold)
    if mode == "none_selected":
        sel = np.zeros(n, dtype=bool)
    elif mode == "all_selected":
        sel = np.ones(n, dtype=bool)
    ours = tr.classification_report(pt_t, sel, threshold)
    ref = _sklearn_report(pt_t > threshold, sel, threshold, output_dict=True)
    assert list(ours) == list(ref)
    for key, ref_val in ref.items():
        if isinstance(ref_val, dict):
            assert set(ours[key]) == set(ref_val)
            for metric, v in ref_val.items():
                assert ours[key][metric] == pytest.approx(v, abs=1e-12), (key, metric)
        else:
            assert ours[key] == pytest.approx(ref_val, abs=1e-12), key
    json.dumps(ours)


@pytest.mark.parametrize("digits", [2, 4])
def test_format_classification_report_matches_sklearn_text(digits: int) -> None:
    rng = np.random.default_rng(7)
    pt_t = rng.uniform(0.0, 30.0, 300)
    sel = tr.selected_by(pt_t + rng.normal(0.0, 3.0, 300), 15.0)
    text = tr.format_classification_report(tr.classification_report(pt_t, sel, 15.0), digits)
    assert text == _sklearn_report(pt_t > 15.0, sel, 15.0, digits=digits)


def test_fake_rate_at_requirement_does_not_meet_it() -> None:
    pred = np.zeros(1000)
    pred[:2] = 20.0
    pred[2] = 15.0  # exactly at threshold: does not fire
    out = tr.fake_rate(pred)
    assert out["selected"] == 2
    assert out["n_events"] == 1000
    assert out["rate"] == pytest.approx(0.002)
    assert out["percent"] == pytest.approx(0.2)
    assert out["requirement"] == 0.002
    assert out["meets_requirement"] is False
    pred[1] = 0.0
    assert tr.fake_rate(pred)["meets_requirement"] is True
    json.dumps(out)


# ---------------------------------------------------------------------- turn-on curve


def test_clopper_pearson_closed_forms() -> None:
    lo, up = tr.clopper_pearson(0, 10, cl=0.68)
    assert lo == 0.0
    assert up == pytest.approx(1 - 0.16 ** (1 / 10), rel=1e-12)
    lo, up = tr.clopper_pearson(10, 10, cl=0.68)
    assert up == 1.0
    assert lo == pytest.approx(0.16 ** (1 / 10), rel=1e-12)
    lo, up = tr.clopper_pearson(0, 0)
    assert math.isnan(lo) and math.isnan(up)


@pytest.mark.parametrize("k, n", [(0, 10), (3, 10), (7, 20), (10, 10), (1, 1), (50, 137)])
def test_clopper_pearson_matches_scipy_binomtest(k: int, n: int) -> None:
    ref = stats.binomtest(k, n).proportion_ci(confidence_level=0.68, method="exact")
    lo, up = tr.clopper_pearson(k, n, cl=0.68)
    assert lo == pytest.approx(ref.low, abs=1e-10)
    assert up == pytest.approx(ref.high, abs=1e-10)


def test_clopper_pearson_vectorised() -> None:
    k = np.array([0, 3, 5, 0])
    n = np.array([10, 10, 5, 0])
    lo, up = tr.clopper_pearson(k, n)
    assert lo.shape == up.shape == (4,)
    for i in range(3):
        s_lo, s_up = tr.clopper_pearson(int(k[i]), int(n[i]))
        assert lo[i] == pytest.approx(s_lo) and up[i] == pytest.approx(s_up)
    assert np.isnan(lo[3]) and np.isnan(up[3])
    assert np.all(lo[:3] <= k[:3] / n[:3]) and np.all(up[:3] >= k[:3] / n[:3])


def test_clopper_pearson_rejects_k_above_n() -> None:
    with pytest.raises(ValueError, match="k"):
        tr.clopper_pearson(5, 3)


def test_turn_on_perfect_selection() -> None:
    rng = np.random.default_rng(0)
    pt_t = rng.uniform(0.0, 25.0, 5000)
    sel = tr.selected_by(pt_t, 10.0)  # a perfect trigger
    curve = tr.turn_on(pt_t, sel)
    assert curve.bin_edges[0] == 3.0 and curve.bin_edges[-1] == 20.0
    np.testing.assert_allclose(np.diff(curve.bin_edges), 0.5)
    expected, _ = np.histogram(pt_t, bins=curve.bin_edges)
    np.testing.assert_array_equal(curve.n_total, expected)
    below = curve.bin_edges[1:] <= 10.0
    np.testing.assert_array_equal(curve.efficiency[below], 0.0)
    np.testing.assert_array_equal(curve.efficiency[~below], 1.0)
    assert np.all(curve.lower <= curve.efficiency) and np.all(curve.efficiency <= curve.upper)
    np.testing.assert_allclose(curve.bin_centers, curve.bin_edges[:-1] + 0.25)


def test_turn_on_empty_bins_and_to_dict() -> None:
    pt_t = np.array([1.0, 2.5, 2.6, 20.0])
    sel = np.array([True, True, False, True])
    curve = tr.turn_on(pt_t, sel, bin_edges=[0.0, 1.0, 2.0, 3.0, 20.0])
    np.testing.assert_array_equal(curve.n_total, [0, 1, 2, 1])  # last bin closed, like np
    np.testing.assert_array_equal(curve.n_selected, [0, 1, 1, 1])
    assert np.isnan(curve.efficiency[0]) and np.isnan(curve.lower[0])
    np.testing.assert_allclose(curve.efficiency[1:], [1.0, 0.5, 1.0])
    d = json.loads(json.dumps(curve.to_dict(), allow_nan=False))
    assert d["efficiency"][0] is None and d["efficiency"][2] == 0.5
    assert d["n_total"] == [0, 1, 2, 1]
    with pytest.raises(ValueError):
        curve.efficiency[1] = 0.0  # read-only


# ------------------------------------------------------------------------- resolution


def test_resolution_constant_bias() -> None:
    rng = np.random.default_rng(1)
    pt_t = rng.uniform(0.0, 25.0, 3000)
    eta_t = rng.uniform(0.0, 1.0, 3000)
    res = tr.resolution(pt_t, pt_t * 1.1, eta_t, eta_t - 0.05)
    np.testing.assert_allclose(np.diff(res.bin_edges), 1.0)
    assert res.bin_edges[0] == 3.0 and res.bin_edges[-1] == 20.0
    expected, _ = np.histogram(pt_t, bins=res.bin_edges)
    np.testing.assert_array_equal(res.n, expected)
    assert np.all(res.n > 0)
    np.testing.assert_allclose(res.pt_mean, 0.1, atol=1e-12)
    np.testing.assert_allclose(res.pt_width, 0.0, atol=1e-12)
    np.testing.assert_allclose(res.pt_std, 0.0, atol=1e-12)
    np.testing.assert_allclose(res.eta_mean, -0.05, atol=1e-12)
    np.testing.assert_allclose(res.pt_median, 0.1, atol=1e-12)
    np.testing.assert_allclose(res.eta_median, -0.05, atol=1e-12)
    np.testing.assert_allclose(res.eta_width, 0.0, atol=1e-12)


def test_resolution_gaussian_width() -> None:
    rng = np.random.default_rng(2)
    n = 200_000
    pt_t = rng.uniform(3.0, 20.0, n)
    eta_t = rng.uniform(0.0, 1.0, n)
    sigma_pt, sigma_eta = 0.12, 0.03
    pt_p = pt_t * (1.0 + rng.normal(0.0, sigma_pt, n))
    eta_p = eta_t + rng.normal(0.0, sigma_eta, n)
    res = tr.resolution(pt_t, pt_p, eta_t, eta_p)
    # ~12k events per bin: widths good to a few percent
    np.testing.assert_allclose(res.pt_width, sigma_pt, rtol=0.05)
    np.testing.assert_allclose(res.pt_std, sigma_pt, rtol=0.05)
    np.testing.assert_allclose(res.pt_mean, 0.0, atol=0.01)
    np.testing.assert_allclose(res.eta_width, sigma_eta, rtol=0.05)
    np.testing.assert_allclose(res.eta_std, sigma_eta, rtol=0.05)


def test_resolution_robust_width_ignores_outliers() -> None:
    rng = np.random.default_rng(3)
    n = 20_000
    pt_t = rng.uniform(5.0, 6.0, n)
    rel = rng.normal(0.0, 0.1, n)
    rel[:200] = 50.0  # 1% catastrophic outliers
    res = tr.resolution(pt_t, pt_t * (1 + rel), np.zeros(n), np.zeros(n), bin_edges=[5.0, 6.0])
    assert res.pt_width[0] == pytest.approx(0.1, rel=0.1)
    assert res.pt_std[0] > 1.0
    assert abs(res.pt_median[0]) < 0.01 < res.pt_mean[0]  # the median ignores the tail


def test_resolution_empty_bin_nan_and_to_dict() -> None:
    res = tr.resolution([4.5, 4.6], [5.0, 4.6], [0.1, 0.2], [0.1, 0.2], bin_edges=[3, 4, 5])
    np.testing.assert_array_equal(res.n, [0, 2])
    assert np.isnan(res.pt_mean[0]) and np.isnan(res.eta_width[0])
    assert res.pt_mean[1] == pytest.approx((0.5 / 4.5) / 2)
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert d["pt_mean"][0] is None and d["n"] == [0, 2]


def test_resolution_bins_like_np_histogram_on_edges() -> None:
    pt_t = np.array([2.0, 3.0, 4.0, 4.5, 19.0, 20.0, 20.5])  # on edges, and outside the range
    res = tr.resolution(pt_t, pt_t, np.zeros(7), np.zeros(7))
    expected, _ = np.histogram(pt_t, bins=res.bin_edges)
    np.testing.assert_array_equal(res.n, expected)
    assert res.n[-1] == 2  # 19 and 20: the last bin includes its upper edge


def test_resolution_rejects_nonpositive_edges() -> None:
    with pytest.raises(ValueError, match="bin_edges"):
        tr.resolution([1.0], [1.0], [0.0], [0.0], bin_edges=[0.0, 5.0])


# ---------------------------------------------------------------------------- summary


def test_trigger_summary() -> None:
    pt_t = np.array([5.0, 8.0, 12.0, 16.0, 20.0])
    pt_p = np.array([5.0, 11.0, 10.0, 14.0, 21.0])  # 10.0 exactly at T=10: not selected
    eta = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    noise = np.concatenate([np.zeros(998), [16.0, 30.0]])
    out = tr.trigger_summary(pt_t, pt_p, eta, eta, pt_pred_noise=noise)
    assert out["mae"]["pt"] == pytest.approx(8.0 / 5)
    assert out["spread"] == pytest.approx(5.0 / 2)  # 8 -> 3, 12 -> 2
    assert out["efficiency_15"] == pytest.approx(0.5)  # 16 missed, 20 kept
    assert out["efficiency_10"] == pytest.approx(2.0 / 3)  # 12 missed (10.0 is not > 10)
    assert out["only_noise"]["selected"] == 2
    assert out["only_noise"]["meets_requirement"] is False
    assert out["n_events"] == 5
    json.dumps(out, allow_nan=False)
    assert "only_noise" not in tr.trigger_summary(pt_t, pt_p, eta, eta)


def test_trigger_summary_nan_becomes_none() -> None:
    out = tr.trigger_summary([1.0, 2.0], [1.0, 2.0], [0.0, 0.0], [0.0, 0.0])
    assert out["spread"] is None and out["efficiency_15"] is None
    json.dumps(out, allow_nan=False)


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: tr.mae([1.0, 2.0], [1.0], [0.0, 0.0], [0.0, 0.0]), "pt_pred"),
        (lambda: tr.spread([1.0, 2.0, 3.0], [1.0, 2.0]), "pt_true"),
        (lambda: tr.efficiency([1.0, 2.0], [True], 1.0), "selected"),
        (lambda: tr.turn_on([1.0, 2.0], [True, False, True]), "selected"),
        (lambda: tr.resolution([5.0], [5.0], [0.1, 0.2], [0.1]), "eta_true"),
    ],
)
def test_length_mismatch_raises(call, name: str) -> None:
    with pytest.raises(ValueError, match=f"length mismatch.*{name}"):
        call()


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: tr.mae([1.0, np.nan], [1.0, 2.0], [0.0, 0.0], [0.0, 0.0]), "pt_true"),
        (lambda: tr.mae([1.0, 2.0], [1.0, 2.0], [0.0, 0.0], [np.nan, 0.0]), "eta_pred"),
        (lambda: tr.spread([1.0, 2.0], [np.nan, np.nan]), "pt_pred"),
        (lambda: tr.fake_rate([0.0, np.nan]), "pt_pred_noise"),
        (lambda: tr.selected_by([np.nan], 10.0), "pt_pred"),
    ],
)
def test_nan_raises(call, name: str) -> None:
    with pytest.raises(ValueError, match=f"{name} has \\d+ NaN"):
        call()


def test_nan_message_counts_values() -> None:
    with pytest.raises(ValueError, match="^pt_true has 3 NaN values; clean"):
        tr.efficiency([np.nan, np.nan, 1.0, np.nan], [True] * 4, 10.0)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: tr.mae([], [], [], []), "pt_true"),
        (lambda: tr.efficiency([], np.array([], dtype=bool), 10.0), "pt_true"),
        (lambda: tr.fake_rate([]), "pt_pred_noise"),
        (lambda: tr.turn_on([1.0], np.array([], dtype=bool)), "selected"),
    ],
)
def test_empty_raises(call, name: str) -> None:
    with pytest.raises(ValueError, match=f"{name} is empty"):
        call()


def test_other_bad_inputs() -> None:
    with pytest.raises(ValueError, match="selected must be a boolean"):
        tr.efficiency([1.0, 2.0], [0.5, 1.0], 1.0)
    with pytest.raises(ValueError, match="pt_true must be 1-D"):
        tr.efficiency(np.ones((2, 2)), [True, False], 1.0)
    with pytest.raises(ValueError, match="window"):
        tr.spread([1.0], [1.0], window=(13.0, 7.0))
    with pytest.raises(ValueError, match="bin_edges must be strictly increasing"):
        tr.turn_on([1.0], [True], bin_edges=[3.0, 2.0])
    with pytest.raises(ValueError, match="cl"):
        tr.clopper_pearson(1, 2, cl=1.5)


def test_errors_are_hepxai_errors() -> None:
    from hepxai.core.errors import HepxaiError

    with pytest.raises(HepxaiError):
        tr.mae([], [], [], [])
