"""Confusion categories of a selection: one function, one threshold rule for every use case.

An example is *selected* when its score is strictly above the threshold (a trigger fires above
15 GeV; a tagger selects a jet when P(dark photon) > 0.5), the rule scikit-learn's classifiers
use for ``predict``. TP: positive and selected; FN: positive, not selected; FP; TN.
"""

from __future__ import annotations

import numpy as np

CATEGORIES = ("TP", "FN", "FP", "TN")


def selected(scores: np.ndarray, threshold: float) -> np.ndarray:
    """bool: the examples a cut ``score > threshold`` selects."""
    return np.asarray(scores, np.float64) > threshold


def confusion_categories(truth: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """``"TP" / "FN" / "FP" / "TN"`` per example (object array) from the true class (bool,
    positive = True) and the selection (bool, e.g. :func:`selected`).

    >>> list(confusion_categories(np.array([1, 1, 0, 0], bool), np.array([1, 0, 1, 0], bool)))
    ['TP', 'FN', 'FP', 'TN']
    """
    truth, chosen = np.asarray(truth, bool), np.asarray(chosen, bool)
    return np.where(truth, np.where(chosen, "TP", "FN"),
                    np.where(chosen, "FP", "TN")).astype(object)
