"""The trigger numbers as the thesis' published code computes them (lorin98/xAI-HEP).

hepxai's :mod:`~hepxai.metrics.trigger` follows the thesis' formulas. The thesis' tables were
made with its code, a Keras model compiled with ``loss='mae', metrics=[spread, efficiency]``,
which differs in three ways a user comparing numbers must know:

- **MAE**: Keras' ``'mae'`` averages the two outputs, ``(|pT - pT^| + ||eta| - |eta|^|) / 2``
  per event: half of hepxai's ``mae["total"]`` (the sum). Keras weights a batch's loss by its
  size, so the reported loss is the whole-set mean.
- **Efficiency**: the code counts ``>=`` the threshold, in the denominator (true pT) and the
  numerator (true and predicted pT), where hepxai (the thesis' formulas) counts ``>``; and a
  set with no event above threshold gives 1.0 where hepxai gives NaN.
- **Aggregation**: a Keras metric function returns one value per batch (default batch size of
  ``model.evaluate``: 32) and the reported number is the *unweighted mean over batches* (the
  last, shorter batch counts as much as a full one), not the whole-set value. A batch with no
  event in the spread window gives NaN (TensorFlow's mean of nothing), and so does then the
  spread.

:func:`thesis_code_summary` gives those numbers, vectorised (per-batch sums by ``bincount``,
no loop over batches); :func:`compare` puts them beside hepxai's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from hepxai.metrics import trigger

#: the batch size of ``model.evaluate`` when none is given (Keras' default)
KERAS_BATCH_SIZE = 32
CONVENTIONS = ("hepxai", "thesis")
#: every place the thesis' code departs from its formulas (or from hepxai), and how hepxai
#: reproduces it: what the muon report lists (the README has the same table)
DIFFERENCES: tuple[dict[str, str], ...] = (
    {"quantity": "MAE (loss)", "thesis": "Keras 'mae': the two outputs averaged",
     "hepxai": "their sum", "reproduce": "evaluate muon --conventions thesis"},
    {"quantity": "efficiency", "thesis": "true and predicted pT >= T; 1.0 without true pT >= T",
     "hepxai": "> T (the thesis' formulas); NaN for an empty set",
     "reproduce": "evaluate muon --conventions thesis"},
    {"quantity": "aggregation", "thesis": f"unweighted mean of per-batch values "
                                          f"(batch {KERAS_BATCH_SIZE})",
     "hepxai": "whole-set values", "reproduce": "evaluate muon --conventions thesis"},
    {"quantity": "IG and SmoothGrad", "thesis": "explain pT + |eta|",
     "hepxai": "each output", "reproduce": "explain muon --conventions thesis (target pt+eta)"},
    {"quantity": "RAM", "thesis": "hidden units 0 / 1 of the first Dense(1024): not a CAM",
     "hepxai": "CAM / Grad-CAM of the output",
     "reproduce": "explain muon --methods ram-thesis-code"},
    {"quantity": "SmoothGrad copies", "thesis": "100", "hepxai": "20",
     "reproduce": "explain muon --conventions thesis (or --copies 100)"},
    {"quantity": "TracIn", "thesis": "labels - predictions, no bias term, no step sizes",
     "hepxai": "the MAE loss' gradient, bias term, step sizes",
     "reproduce": "influence muon precompute --conventions thesis"},
    {"quantity": "ConvSDT training", "thesis": "pT standardised only, no shuffling",
     "hepxai": "both targets standardised, shuffled", "reproduce": "not offered"},
)


def _batches(n: int, batch_size: int) -> tuple[np.ndarray, int]:
    if batch_size < 1:
        raise trigger.MetricInputError(f"batch_size must be at least 1, got {batch_size}")
    return np.arange(n) // batch_size, -(-n // batch_size)


def mae(pt_true: ArrayLike, pt_pred: ArrayLike, eta_true: ArrayLike,
        eta_pred: ArrayLike) -> float:
    """Keras' ``'mae'`` loss on the two outputs: the whole-set mean of
    ``(|pT - pT^| + |eta - eta^|) / 2``.

    >>> mae([10.0, 20.0], [12.0, 20.0], [0.5, 1.0], [0.5, 0.0])   # (2 + 1) / 2 / 2
    0.75
    """
    return trigger.mae(pt_true, pt_pred, eta_true, eta_pred)["total"] / 2


def spread(pt_true: ArrayLike, pt_pred: ArrayLike, *, batch_size: int = KERAS_BATCH_SIZE,
           window: tuple[float, float] = (7.0, 13.0)) -> float:
    """The mean over batches of each batch's mean |pT - pT^| for true pT in the closed
    ``window``; NaN when any batch has no event in the window.

    >>> spread([8.0, 9.0, 12.0], [9.0, 9.0, 8.0], batch_size=2)   # (0.5 + 4) / 2
    2.25
    """
    pt_t, pt_p = trigger._float_1d("pt_true", pt_true), trigger._float_1d("pt_pred", pt_pred)
    trigger._same_length(pt_true=pt_t, pt_pred=pt_p)
    batch, n_batches = _batches(pt_t.size, batch_size)
    inside = (pt_t >= window[0]) & (pt_t <= window[1])
    total = np.bincount(batch, np.where(inside, np.abs(pt_t - pt_p), 0.0), n_batches)
    count = np.bincount(batch, inside, n_batches)
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.mean(total / count))  # 0 / 0 = NaN, as tf.reduce_mean([])


def efficiency(pt_true: ArrayLike, pt_pred: ArrayLike, threshold: float, *,
               batch_size: int = KERAS_BATCH_SIZE) -> float:
    """The mean over batches of ``#(true >= T and predicted >= T) / #(true >= T)``, a batch
    without a true pT >= T counting 1.0.

    >>> efficiency([15.0, 16.0, 3.0, 4.0], [15.0, 14.0, 3.0, 4.0], 15.0, batch_size=2)
    0.75
    """
    pt_t, pt_p = trigger._float_1d("pt_true", pt_true), trigger._float_1d("pt_pred", pt_pred)
    trigger._same_length(pt_true=pt_t, pt_pred=pt_p)
    t = trigger._threshold(threshold)
    batch, n_batches = _batches(pt_t.size, batch_size)
    above = pt_t >= t
    den = np.bincount(batch, above, n_batches)
    num = np.bincount(batch, above & (pt_p >= t), n_batches)
    return float(np.mean(np.where(den > 0, num / np.maximum(den, 1), 1.0)))


def thesis_code_summary(pt_true: ArrayLike, pt_pred: ArrayLike, eta_true: ArrayLike,
                        eta_pred: ArrayLike, thresholds: tuple[float, ...] = (15.0, 10.0), *,
                        batch_size: int = KERAS_BATCH_SIZE) -> dict[str, Any]:
    """The numbers of :func:`hepxai.metrics.trigger.trigger_summary` the thesis' code reports:
    ``{"mae", "spread", "efficiency_<T>", "batch_size"}`` (NaN written as None).

    >>> thesis_code_summary([15.0, 5.0], [15.0, 5.0], [0.5, 0.5], [0.5, 0.5])["efficiency_15"]
    1.0
    """
    out: dict[str, Any] = {
        "mae": mae(pt_true, pt_pred, eta_true, eta_pred),
        "spread": trigger._json_float(spread(pt_true, pt_pred, batch_size=batch_size)),
        "batch_size": batch_size,
    }
    for t in thresholds:
        out[f"efficiency_{t:g}"] = efficiency(pt_true, pt_pred, t, batch_size=batch_size)
    return out


def compare(hepxai_summary: dict[str, Any], thesis: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows ``{"quantity", "hepxai", "thesis", "difference"}`` for each number both conventions
    give, ``hepxai_summary`` a :func:`~hepxai.metrics.trigger.trigger_summary`.

    >>> compare({"mae": {"total": 2.0}, "spread": 1.0}, {"mae": 1.0, "spread": 1.5})[0]
    {'quantity': 'MAE', 'hepxai': 2.0, 'thesis': 1.0, 'difference': -1.0}
    """
    rows = [("MAE", hepxai_summary["mae"]["total"], thesis["mae"]),
            ("spread [GeV]", hepxai_summary.get("spread"), thesis.get("spread"))]
    rows += [(f"efficiency at {key.split('_')[1]} GeV", hepxai_summary.get(key), thesis[key])
             for key in thesis if key.startswith("efficiency_")]
    return [{"quantity": name, "hepxai": a, "thesis": b,
             "difference": None if a is None or b is None else b - a} for name, a, b in rows]
