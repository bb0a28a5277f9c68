"""Judging scores on hand-made maps with hand-computed values, and against scipy/scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from hepxai.core.errors import HepxaiError
from hepxai.explain.judging import agreement, deletion_gap, localization
from hepxai.explain.judging import path_deletion_curves as deletion_curves
from hepxai.explain.judging.ranks import masked_auroc, masked_spearman
from hepxai.usecases.muon.categories import trigger_categories


def _event(lit: list[int], muon: list[int], values: dict[int, float]):
    image = np.zeros(3456, bool)
    image[lit] = True
    truth = np.zeros(3456, bool)
    truth[muon] = True
    a = np.zeros(3456)
    for pixel, value in values.items():
        a[pixel] = value
    return image, truth, a


def test_localization_on_a_hand_made_map():
    # lit: 0, 1, 2, 3 (muon 0, 1); relevance |a|: 0:3, 1:1, 2:-2 (abs 2), 3:0, unlit 9: 100
    image, truth, a = _event([0, 1, 2, 3], [0, 1], {0: 3.0, 1: 1.0, 2: -2.0, 9: 100.0})
    scores = localization(a[None], image[None], truth[None], name="muon")
    assert scores["muon_share"][0] == pytest.approx(4 / 6)  # unlit pixel 9 ignored
    assert scores["precision_at_k"][0] == pytest.approx(0.5)  # top-2 lit: 0 and 2
    # muon {3, 1} vs noise {2, 0}: pairs won 3>2, 3>0, 1>0 of 4 -> 0.75
    assert scores["auroc"][0] == pytest.approx(0.75)


def test_localization_is_undefined_without_muon_hits():
    image, truth, a = _event([5, 6], [], {5: 1.0})
    scores = localization(a[None], image[None], truth[None], name="muon")
    assert np.isnan(scores["muon_share"][0]) and np.isnan(scores["auroc"][0])


def test_masked_rank_statistics_equal_scipy_and_sklearn():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20, 50)).round(1)  # rounding makes ties
    b = a + rng.normal(size=(20, 50))
    mask = rng.random((20, 50)) < 0.4
    positive = rng.random((20, 50)) < 0.5
    rho = masked_spearman(a, b, mask)
    auc = masked_auroc(a, positive, mask)
    for i in range(20):
        m = mask[i]
        assert rho[i] == pytest.approx(spearmanr(a[i, m], b[i, m]).statistic)
        assert auc[i] == pytest.approx(roc_auc_score(positive[i, m], a[i, m]))


def test_agreement_of_identical_and_reversed_maps():
    image, _, a = _event([0, 1, 2, 3, 4], [], {0: 1.0, 1: 2.0, 2: 3.0, 3: 4.0, 4: 5.0})
    same = agreement(a[None], a[None], image[None], k=2)
    assert same["spearman"][0] == pytest.approx(1.0) and same["top_k_overlap"][0] == 1.0
    reverse = np.where(image, 6.0 - a, 0.0)
    opposite = agreement(a[None], reverse[None], image[None], k=2)
    assert opposite["spearman"][0] == pytest.approx(-1.0)
    assert opposite["top_k_overlap"][0] == 0.0


def test_deletion_curve_of_an_additive_model():
    # F = sum of pixel weights: deleting in decreasing-weight order is the steepest descent
    weights = torch.zeros(3456)
    weights[[10, 20, 30]] = torch.tensor([1.0, 5.0, 3.0])

    def forward(x):
        return (x.reshape(len(x), -1) * weights).sum(1, keepdim=True)

    image = np.zeros((1, 3456), bool)
    image[0, [10, 20, 30]] = True
    curve = deletion_curves(forward, image.reshape(1, 9, 384), weights.numpy()[None])[0]
    np.testing.assert_allclose(curve, [9.0, 4.0, 1.0, 0.0])
    worst = deletion_curves(forward, image.reshape(1, 9, 384), -weights.numpy()[None])[0]
    np.testing.assert_allclose(worst, [9.0, 8.0, 5.0, 0.0])
    # gap = mean(worst - best) = (0 + 4 + 4 + 0) / 4
    assert deletion_gap([curve], [worst])[0] == pytest.approx(2.0)


def test_trigger_categories_and_bad_input():
    cats = trigger_categories(np.array([20, 20, 10, 10, 0]), np.array([16, 15, 16, 3, 30]),
                              only_noise=np.array([0, 0, 0, 0, 1], bool))
    assert list(cats) == ["TP", "FN", "FP", "TN", "only-noise"]
    with pytest.raises(HepxaiError, match=r"\(2, 10\)"):
        localization(np.zeros((2, 10)), np.zeros((2, 10)), np.zeros((2, 11)))
