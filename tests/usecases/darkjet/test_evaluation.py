"""The tagging metrics against scikit-learn: ROC, AUC, accuracy / precision / recall / F1,
TNR at the 90% signal-efficiency working point, rejection, background tail."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit
from sklearn import metrics as skm

from hepxai.core.errors import HepxaiError
from hepxai.metrics import classification as cls


@pytest.fixture(scope="module")
def scores():
    rng = np.random.default_rng(3)
    y = rng.random(5000) < 0.4
    logits = rng.normal(0, 1, 5000) + 1.6 * y
    logits[:200] = np.round(logits[:200], 1)  # ties
    return y.astype(int), logits


def test_roc_and_auc_equal_sklearn(scores):
    y, z = scores
    fpr, tpr, thresholds = skm.roc_curve(y, z, drop_intermediate=False)
    curve = cls.roc_curve(y, z)
    np.testing.assert_allclose(curve.fpr, fpr)
    np.testing.assert_allclose(curve.tpr, tpr)
    np.testing.assert_allclose(curve.thresholds[1:], thresholds[1:])
    assert cls.roc_auc(y, z) == pytest.approx(skm.roc_auc_score(y, z), rel=1e-12)


def test_working_point_metrics_equal_sklearn(scores):
    y, z = scores
    result = cls.binary_tagger_metrics(y, z)
    predicted = expit(z) >= 0.5
    assert result["accuracy"] == pytest.approx(skm.accuracy_score(y, predicted))
    assert result["precision"] == pytest.approx(skm.precision_score(y, predicted))
    assert result["recall"] == pytest.approx(skm.recall_score(y, predicted))
    assert result["f1"] == pytest.approx(skm.f1_score(y, predicted))
    tn, fp, fn, tp = skm.confusion_matrix(y, predicted).ravel()
    assert (result["tn"], result["fp"], result["fn"], result["tp"]) == (tn, fp, fn, tp)
    # the 90% working point: the highest cut keeping >= 90% of the signal
    fpr, tpr, thresholds = skm.roc_curve(y, z, drop_intermediate=False)
    i = int(np.argmax(tpr >= 0.9))
    assert cls.threshold_at_efficiency(y, z, 0.9) == pytest.approx(thresholds[i])
    assert result["tnr_90"] == pytest.approx(1 - fpr[i])
    # rejection 1/FPR at 50% signal efficiency, interpolated along sklearn's curve
    assert result["rejection"]["0.5"] == pytest.approx(1 / np.interp(0.5, tpr, fpr))
    assert result["background_tail"] == pytest.approx(np.mean(expit(z[y == 0]) >= 0.9))


def test_bad_inputs_are_one_line_errors(scores):
    y, z = scores
    with pytest.raises(HepxaiError, match="NaN"):
        cls.binary_tagger_metrics(y, np.r_[z[:-1], np.nan])
    with pytest.raises(HepxaiError, match="both"):
        cls.binary_tagger_metrics(np.zeros(10), np.arange(10.0))
    with pytest.raises(HepxaiError, match="efficiency"):
        cls.threshold_at_efficiency(y, z, 1.5)
