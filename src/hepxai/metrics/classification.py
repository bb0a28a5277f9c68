"""Classification metrics of the tagging and search use cases (binary and multi-class).

Generic over use cases: a score per event (higher = more signal-like), a truth flag or class
index, and optional per-event weights (e.g. expected events at a luminosity). Everything is
vectorised numpy and matches scikit-learn where scikit-learn has the same quantity:

* :func:`roc_curve`, :func:`roc_auc` -- weighted ROC (``sklearn.metrics.roc_curve`` with
  ``drop_intermediate=False``) and its area (``roc_auc_score``);
* :func:`one_vs_rest` -- per-class ROC/AUC of a multi-class classifier from its class scores;
* :func:`efficiency_rejection`, :func:`rejection_at` -- signal efficiency vs background
  rejection 1/epsilon_B, the way taggers are quoted;
* :func:`asimov_significance` -- discovery significance of a counting experiment, with an
  optional relative background uncertainty (Cowan et al.);
* :func:`significance_scan` -- that significance for every cut on the score; the best working
  point and the one at a fixed signal efficiency.

Inputs are validated at the boundary: NaN/inf, length mismatch, non-1-D arrays, negative
weights, a class with no event and empty arrays raise :class:`MetricInputError`, a one-line
:class:`~hepxai.core.errors.HepxaiError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import expit

from hepxai.metrics.trigger import MetricInputError

__all__ = [
    "RocCurve",
    "asimov_significance",
    "background_tail",
    "binary_summary",
    "binary_tagger_metrics",
    "efficiency_rejection",
    "one_vs_rest",
    "rejection_at",
    "roc_auc",
    "roc_curve",
    "significance_scan",
    "threshold_at_efficiency",
    "tnr_at_efficiency",
]


def _arrays(y_true: ArrayLike, score: ArrayLike,
            weight: ArrayLike | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    s = np.asarray(score, dtype=np.float64)
    if y.ndim != 1 or s.ndim != 1:
        raise MetricInputError(f"truth and score must be 1-D (one value per event), got shapes "
                               f"{y.shape} and {s.shape}")
    if len(y) != len(s):
        raise MetricInputError(f"truth has {len(y)} events but score has {len(s)}")
    if len(y) == 0:
        raise MetricInputError("no events: truth and score are empty")
    if not np.all(np.isfinite(s)):
        raise MetricInputError(f"score holds {int((~np.isfinite(s)).sum())} NaN or infinite "
                               "values")
    if y.dtype != bool:
        values = np.unique(y)
        if not np.all(np.isin(values, (0, 1))):
            raise MetricInputError(f"binary truth must be 0/1 or bool, got values {values[:5]}")
        y = y.astype(bool)
    if weight is None:
        w = np.ones(len(y))
    else:
        w = np.asarray(weight, dtype=np.float64)
        if w.shape != y.shape:
            raise MetricInputError(f"weight has shape {w.shape}, expected {y.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise MetricInputError("weights must be finite and >= 0")
    if not np.any(w[y] > 0) or not np.any(w[~y] > 0):
        raise MetricInputError("need events (with weight > 0) of both signal and background")
    return y, s, w


@dataclass(frozen=True)
class RocCurve:
    """Cumulative efficiencies for every distinct score threshold (descending).

    Event ``i`` is selected at threshold ``t`` when ``score_i >= t``. ``fpr[0] = tpr[0] = 0`` at
    ``thresholds[0] = inf``; ``tpr`` is the signal efficiency, ``fpr`` the background
    efficiency, both weighted when weights were given.
    """

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray

    @property
    def auc(self) -> float:
        """Area under the curve (trapezoids; ties are a straight segment)."""
        return float(np.trapezoid(self.tpr, self.fpr))


def _cumulative(y: np.ndarray, s: np.ndarray, w: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Signal and background weight selected at each distinct threshold (descending)."""
    order = np.argsort(-s, kind="mergesort")
    s, y, w = s[order], y[order], w[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last index of every tied group
    tps = np.cumsum(w * y)[last]
    fps = np.cumsum(w * ~y)[last]
    return tps, fps, s[last]


def roc_curve(y_true: ArrayLike, score: ArrayLike, weight: ArrayLike | None = None) -> RocCurve:
    """Weighted ROC curve of a binary problem (``y_true`` 0/1 or bool, score higher = signal)."""
    y, s, w = _arrays(y_true, score, weight)
    tps, fps, thresholds = _cumulative(y, s, w)
    return RocCurve(fpr=np.r_[0.0, fps / fps[-1]], tpr=np.r_[0.0, tps / tps[-1]],
                    thresholds=np.r_[np.inf, thresholds])


def roc_auc(y_true: ArrayLike, score: ArrayLike, weight: ArrayLike | None = None) -> float:
    """Area under the (weighted) ROC curve: the probability that a signal event scores higher
    than a background event (ties count one half)."""
    return roc_curve(y_true, score, weight).auc


def auc_standard_error(auc: float, n_signal: int, n_background: int) -> float:
    """The standard error of an AUC from ``n_signal`` and ``n_background`` events (Hanley and
    McNeil 1982, with their exponential approximations of the two pair-correlation terms):
    what one test set's AUC may move by, so a difference between retrainings is read
    against it.

    >>> round(auc_standard_error(0.8, 100, 100), 4)
    0.0314
    """
    if n_signal < 1 or n_background < 1:
        return float("nan")
    a = float(auc)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    variance = (a * (1 - a) + (n_signal - 1) * (q1 - a * a)
                + (n_background - 1) * (q2 - a * a)) / (n_signal * n_background)
    return float(np.sqrt(max(variance, 0.0)))


def blind_tagger(label: str, auc: float, n_signal: int, n_background: int,
                 separates: str = "signal from background") -> str | None:
    """One sentence when a tagger's AUC is within two standard errors
    (:func:`auc_standard_error`) of 0.5, a blind tagger's, on its ``n_signal`` and
    ``n_background`` test events, else ``None``: the report's banner for a model too weak for
    its explanations to mean anything.

    >>> blind_tagger("gnn", 0.51, 200, 200).split(" is within")[0]
    'gnn: AUC 0.510 +- 0.029 on 200 + 200 test events'
    >>> blind_tagger("gnn", 0.80, 200, 200) is None
    True
    """
    if n_signal < 1 or n_background < 1 or not np.isfinite(auc):
        return (f"{label}: {n_signal:,} signal and {n_background:,} background test events: "
                "its AUC is undefined; evaluate on events of both classes")
    se = auc_standard_error(auc, n_signal, n_background)
    if abs(auc - 0.5) >= 2 * se:
        return None
    return (f"{label}: AUC {auc:.3f} +- {se:.3f} on {n_signal:,} + {n_background:,} test "
            f"events is within two standard errors of a blind tagger (0.5): it has not "
            f"learned to separate {separates}, and its explanations describe no learned "
            "rule (train on more events or epochs)")


def one_vs_rest(labels: ArrayLike, scores: ArrayLike, class_names: Sequence[str],
                weight: ArrayLike | None = None) -> dict[str, RocCurve]:
    """Per-class ROC of a multi-class classifier: class ``k`` against all others, scored by
    column ``k`` of ``scores`` ``(n, K)`` (e.g. the class probabilities)."""
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] != len(class_names):
        raise MetricInputError(f"scores must be (n_events, {len(class_names)}) for classes "
                               f"{', '.join(class_names)}, got shape {scores.shape}")
    if labels.ndim != 1 or len(labels) != len(scores):
        raise MetricInputError(f"labels must be 1-D with one entry per row of scores, got shape "
                               f"{labels.shape} for {len(scores)} rows")
    present = set(np.unique(labels).tolist())
    missing = [name for k, name in enumerate(class_names) if k not in present]
    if missing:
        raise MetricInputError(f"no event of class {', '.join(missing)}; one-vs-rest ROC needs "
                               "every class")
    return {name: roc_curve(labels == k, scores[:, k], weight)
            for k, name in enumerate(class_names)}


def efficiency_rejection(y_true: ArrayLike, score: ArrayLike,
                         weight: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Signal efficiency and background rejection 1/epsilon_B at every threshold.

    Points with no background selected (rejection infinite) are left out, so the arrays plot
    directly on a log axis.
    """
    curve = roc_curve(y_true, score, weight)
    keep = curve.fpr > 0
    return curve.tpr[keep], 1.0 / curve.fpr[keep]


def rejection_at(y_true: ArrayLike, score: ArrayLike, efficiencies: ArrayLike,
                 weight: ArrayLike | None = None) -> np.ndarray:
    """Background rejection 1/epsilon_B at the given signal efficiencies (linear interpolation
    of epsilon_B along the ROC curve; ``inf`` where no background survives)."""
    eff = np.asarray(efficiencies, dtype=np.float64)
    if eff.ndim > 1 or np.any((eff <= 0) | (eff > 1)) or not np.all(np.isfinite(eff)):
        raise MetricInputError(f"signal efficiencies must be in (0, 1], got {eff}")
    curve = roc_curve(y_true, score, weight)
    # tpr is non-decreasing; for each efficiency take the smallest fpr reaching it, linearly
    fpr = np.interp(eff, curve.tpr, curve.fpr)
    with np.errstate(divide="ignore"):
        return np.where(fpr > 0, 1.0 / np.maximum(fpr, 1e-300), np.inf)


def asimov_significance(s: ArrayLike, b: ArrayLike, rel_unc: float = 0.0) -> np.ndarray:
    """Median discovery significance Z for ``s`` signal on ``b`` background events.

    ``rel_unc = 0``: Z = sqrt(2 ((s + b) ln(1 + s/b) - s)) (Asimov, Cowan et al. 2011).
    ``rel_unc > 0`` (background uncertainty sigma_b = rel_unc * b):
    Z = sqrt(2 ((s + b) ln((s + b)(b + sigma^2) / (b^2 + (s + b) sigma^2))
              - b^2 / sigma^2 ln(1 + sigma^2 s / (b (b + sigma^2))))).
    ``b <= 0`` gives NaN (undefined); ``s = 0`` gives 0.
    """
    s = np.asarray(s, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if rel_unc < 0 or not np.isfinite(rel_unc):
        raise MetricInputError(f"relative background uncertainty must be >= 0, got {rel_unc}")
    if np.any(s < 0):
        raise MetricInputError("signal yields must be >= 0")
    valid = b > 0
    bb = np.where(valid, b, 1.0)
    if rel_unc == 0:
        z2 = 2.0 * ((s + bb) * np.log1p(s / bb) - s)
    else:
        var = (rel_unc * bb) ** 2
        z2 = 2.0 * ((s + bb) * np.log((s + bb) * (bb + var) / (bb**2 + (s + bb) * var))
                    - bb**2 / var * np.log1p(var * s / (bb * (bb + var))))
    z = np.sqrt(np.maximum(z2, 0.0))  # rounding can give -1e-16 at s = 0
    return np.where(valid, z, np.nan)


def significance_scan(y_true: ArrayLike, score: ArrayLike, weight: ArrayLike,
                      rel_unc: float = 0.0, min_background_events: int = 0,
                      signal_efficiency: float | None = 0.5, groups: ArrayLike | None = None,
                      floor_events: float = 1.15) -> dict:
    """Significance of the selection ``score >= t`` for every distinct threshold ``t``.

    ``weight`` must be physical (expected events), so s and b are yields. Simulated background
    is finite: a tight cut can leave no simulated event of a process, and a background of 0
    would be claimed. Each background group (``groups``: a process label per event; default: all
    background is one group) therefore contributes at least ``floor_events`` times its mean
    event weight, 1.15 being the 68 % CL upper limit on a Poisson mean when nothing is seen
    (``floor_events=0`` switches this off). The best working point maximises Z among thresholds
    that keep at least ``min_background_events`` simulated background events; the second working
    point is the loosest threshold reaching ``signal_efficiency``.

    Returns a JSON-ready dict: ``curve`` (threshold, s, b, z, n_background_mc, as lists),
    ``best`` and ``at_efficiency`` (threshold, s, b, z, signal/background efficiency, simulated
    counts, b per group), ``rel_unc``, ``min_background_events``, ``floor_events``, totals.
    """
    y, s_arr, w = _arrays(y_true, score, weight)
    if min_background_events < 0:
        raise MetricInputError(f"min_background_events must be >= 0, got {min_background_events}")
    if floor_events < 0 or not np.isfinite(floor_events):
        raise MetricInputError(f"floor_events must be >= 0, got {floor_events}")
    if groups is None:
        group = np.zeros(len(y), np.int64)
    else:
        group = np.asarray(groups)
        if group.shape != y.shape:
            raise MetricInputError(f"groups has shape {group.shape}, expected {y.shape}")
    sig, _, thresholds = _cumulative(y, s_arr, w)
    n_sig_mc, n_bkg_mc = _cumulative(y, s_arr, np.ones_like(w))[:2]
    per_group = {}
    for g in np.unique(group[~y]):
        members = ~y & (group == g)
        passed = _cumulative(members, s_arr, w)[0]
        floor = floor_events * w[members].mean()
        per_group[g.item() if hasattr(g, "item") else g] = np.maximum(passed, floor)
    bkg = np.sum(list(per_group.values()), axis=0)
    z = asimov_significance(sig, bkg, rel_unc)
    allowed = (n_bkg_mc >= min_background_events) & np.isfinite(z)
    total_s, total_b = sig[-1], bkg[-1]

    def point(i: int) -> dict:
        return {"threshold": float(thresholds[i]), "s": float(sig[i]), "b": float(bkg[i]),
                "z": float(z[i]), "signal_efficiency": float(sig[i] / total_s),
                "background_efficiency": float(bkg[i] / total_b),
                "n_signal_mc": int(n_sig_mc[i]), "n_background_mc": int(n_bkg_mc[i]),
                "b_per_group": {str(g): float(v[i]) for g, v in per_group.items()}}

    result = {"rel_unc": rel_unc, "min_background_events": min_background_events,
              "floor_events": floor_events, "total_signal": float(total_s),
              "total_background": float(total_b), "best": None, "at_efficiency": None}
    if allowed.any():
        result["best"] = point(int(np.flatnonzero(allowed)[np.argmax(z[allowed])]))
    if signal_efficiency is not None:
        if not 0 < signal_efficiency <= 1:
            raise MetricInputError(f"signal efficiency must be in (0, 1], got {signal_efficiency}")
        i = int(np.searchsorted(sig / total_s, signal_efficiency - 1e-12))
        result["at_efficiency"] = {"target": signal_efficiency, **point(min(i, len(sig) - 1))}
    # a compact curve for plots: at most 400 points spread evenly in signal efficiency
    keep = np.unique(np.searchsorted(sig / total_s, np.linspace(0.0, 1.0, 401)).clip(
        0, len(sig) - 1))
    result["curve"] = {"threshold": thresholds[keep].tolist(), "s": sig[keep].tolist(),
                       "b": bkg[keep].tolist(), "z": np.nan_to_num(z[keep]).tolist(),
                       "n_background_mc": n_bkg_mc[keep].astype(int).tolist()}
    return result


# -- binary working points (dark-jet tagging) -----------------------------------------------
def threshold_at_efficiency(y_true: ArrayLike, score: ArrayLike, efficiency: float) -> float:
    """The highest score threshold ``t`` whose selection ``score >= t`` keeps at least the
    fraction ``efficiency`` of the signal (the working point of a tagger)."""
    if not 0 < efficiency <= 1:
        raise MetricInputError(f"signal efficiency must be in (0, 1], got {efficiency}")
    curve = roc_curve(y_true, score)
    i = int(np.searchsorted(curve.tpr, efficiency - 1e-12))
    return float(curve.thresholds[min(i, len(curve.thresholds) - 1)])


def binary_summary(y_true: ArrayLike, selected: ArrayLike) -> dict[str, float | int]:
    """Confusion counts and accuracy, precision, recall (= signal efficiency), F1 and true
    negative rate (specificity TN / (TN + FP)) of a yes/no selection, as scikit-learn's
    ``accuracy_score``, ``precision_score``, ``recall_score``, ``f1_score`` (0 where undefined)."""
    y, s, _ = _arrays(y_true, np.asarray(selected, dtype=np.float64), None)
    chosen = s > 0.5
    tp, fp = int(np.sum(chosen & y)), int(np.sum(chosen & ~y))
    fn, tn = int(np.sum(~chosen & y)), int(np.sum(~chosen & ~y))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "accuracy": (tp + tn) / len(y),
            "precision": precision, "recall": recall, "f1": f1, "tnr": tn / (tn + fp)}


def tnr_at_efficiency(y_true: ArrayLike, score: ArrayLike, efficiency: float = 0.9) -> float:
    """True negative rate (background rejected as a fraction) at the working point keeping
    ``efficiency`` of the signal: the slides' specificity at the 90% working point."""
    cut = threshold_at_efficiency(y_true, score, efficiency)
    return float(binary_summary(y_true, np.asarray(score) >= cut)["tnr"])


def background_tail(y_true: ArrayLike, probability: ArrayLike, cut: float = 0.9) -> float:
    """Fraction of background events whose output probability reaches the signal region
    ``probability >= cut`` (the mistag tail the slides compare between taggers)."""
    y, p, _ = _arrays(y_true, probability, None)
    if not 0 < cut < 1:
        raise MetricInputError(f"signal-region cut must be in (0, 1), got {cut}")
    return float(np.mean(p[~y] >= cut))


def binary_tagger_metrics(y_true: ArrayLike, logits: ArrayLike,
                          efficiencies: Sequence[float] = (0.5, 0.7, 0.9),
                          tail_cut: float = 0.9) -> dict:
    """Everything a tagger is quoted with, from logits (score = sigmoid(logit)): AUC;
    accuracy, precision, recall, F1 and TNR at probability 0.5; TNR at 90% signal efficiency;
    rejection 1/FPR at ``efficiencies``; the background tail above ``tail_cut``."""
    y, z, _ = _arrays(y_true, logits, None)
    probability = expit(z)
    summary = binary_summary(y, probability >= 0.5)
    rejection = rejection_at(y, z, list(efficiencies))
    return {"auc": roc_auc(y, z), **summary,
            "tnr_90": tnr_at_efficiency(y, z, 0.9),
            "rejection": {f"{e:g}": float(r) for e, r in zip(efficiencies, rejection,
                                                              strict=True)},
            "background_tail": background_tail(y, probability, tail_cut),
            "tail_cut": tail_cut, "n_signal": int(y.sum()), "n_background": int((~y).sum())}
