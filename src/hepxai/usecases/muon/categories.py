"""The trigger categories every muon study groups events by: TP / FN / FP / TN at 15 GeV (the
trigger fires when the predicted pT is strictly above the threshold,
:func:`hepxai.metrics.trigger.selected_by`) plus ``only-noise`` events (no muon at all)."""

from __future__ import annotations

import numpy as np

from hepxai.explain.judging.categories import confusion_categories
from hepxai.metrics import trigger

THRESHOLD_GEV = 15.0
NOISE = "only-noise"
CATEGORIES = ("TP", "FN", "FP", "TN", NOISE)


def trigger_categories(pt_true: np.ndarray, pt_pred: np.ndarray,
                       threshold: float = THRESHOLD_GEV,
                       only_noise: np.ndarray | None = None) -> np.ndarray:
    """``"TP" / "FN" / "FP" / "TN"`` per event (positive: true pT above ``threshold``; selected:
    predicted pT above it), ``"only-noise"`` where ``only_noise`` flags an event."""
    category = confusion_categories(np.asarray(pt_true, np.float64) > threshold,
                                    trigger.selected_by(pt_pred, threshold))
    if only_noise is not None:
        category = np.where(only_noise, NOISE, category).astype(object)
    return category
