"""The AUC's standard error (Hanley-McNeil) against the spread of the AUC over resampled test
sets drawn from the same score distributions."""

from __future__ import annotations

import numpy as np
import pytest

from hepxai.metrics.classification import auc_standard_error, roc_auc


@pytest.mark.parametrize("separation, n_signal, n_background", [(1.0, 200, 300), (2.0, 80, 80)])
def test_the_auc_standard_error_matches_the_spread_of_repeated_test_sets(
        separation: float, n_signal: int, n_background: int) -> None:
    rng = np.random.default_rng(7)
    y = np.r_[np.ones(n_signal), np.zeros(n_background)]
    aucs = [roc_auc(y, np.r_[rng.normal(separation, 1, n_signal), rng.normal(0, 1, n_background)])
            for _ in range(2000)]
    mean = float(np.mean(aucs))
    # exponential scores are the formula's model; for normal ones it holds within ~10 %
    assert auc_standard_error(mean, n_signal, n_background) == pytest.approx(np.std(aucs),
                                                                             rel=0.12)
    assert np.isnan(auc_standard_error(0.7, 0, 10))
