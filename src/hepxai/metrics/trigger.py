"""Trigger metrics for the ATLAS RPC L0 muon trigger use case.

A model predicts the transverse momentum pT (GeV) and |eta| of a muon from a detector hit
image. Trigger physicists judge such a model with the numbers defined here, following the
thesis the use case comes from:

* :func:`mae` -- the per-sample loss |pT - pT_hat| + |eta - eta_hat|, averaged;
* :func:`spread` -- mean |pT - pT_hat| for true pT in [7, 13] GeV, the region of the
  trigger turn-on;
* :func:`efficiency` -- plateau efficiency above a pT threshold;
* :func:`selection_confusion`, :func:`classification_report` -- the trigger decision seen as
  a binary classifier ("true pT > T" vs "selected");
* :func:`fake_rate` -- how often pure noise fires the trigger;
* :func:`clopper_pearson`, :func:`turn_on` -- efficiency versus true pT with exact intervals;
* :func:`resolution` -- pT and eta resolution in bins of true pT;
* :func:`trigger_summary` -- all the headline numbers in one JSON-ready dict.

"The trigger fires" always means ``pt_pred > threshold`` (:func:`selected_by`). All inputs
are 1-D arrays of one value per event; pT in GeV, eta dimensionless. Inputs are checked
at the boundary: a NaN, a length mismatch, a non-1-D or an empty array raises
:class:`MetricInputError` (a :class:`ValueError`). A number computed over a subset that
turns out empty (no event in the spread window, no event above threshold, an empty bin)
is ``float('nan')`` rather than an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from hepxai.core.errors import HepxaiError

__all__ = [
    "MetricInputError",
    "mae",
    "spread",
    "efficiency",
    "selected_by",
    "selection_confusion",
    "classification_report",
    "format_classification_report",
    "fake_rate",
    "clopper_pearson",
    "TurnOn",
    "turn_on",
    "Resolution",
    "resolution",
    "trigger_summary",
]

#: Default turn-on binning: 0.5 GeV wide bins from 3 to 20 GeV (34 bins).
DEFAULT_TURN_ON_EDGES: NDArray[np.float64] = np.linspace(3.0, 20.0, 35)
#: Default resolution binning: 1 GeV wide bins from 3 to 20 GeV (17 bins).
DEFAULT_RESOLUTION_EDGES: NDArray[np.float64] = np.linspace(3.0, 20.0, 18)


class MetricInputError(HepxaiError, ValueError):
    """Invalid input to a metric (NaN, length mismatch, empty array, bad parameter).

    A :class:`ValueError`, and a :class:`~hepxai.core.errors.HepxaiError` so the command
    line reports it as a one-line message.
    """


# --------------------------------------------------------------------------- validation


def _float_1d(name: str, values: ArrayLike) -> NDArray[np.float64]:
    """``values`` as a non-empty 1-D float array without NaN, or raise naming ``name``."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MetricInputError(f"{name} is not numeric: {exc}") from None
    if arr.ndim != 1:
        raise MetricInputError(f"{name} must be 1-D (one value per event), got shape {arr.shape}")
    if arr.size == 0:
        raise MetricInputError(f"{name} is empty; need at least one event")
    n_nan = int(np.count_nonzero(np.isnan(arr)))
    if n_nan:
        raise MetricInputError(f"{name} has {n_nan} NaN values; clean the inputs first")
    return arr


def _bool_1d(name: str, values: ArrayLike) -> NDArray[np.bool_]:
    """``values`` as a non-empty 1-D boolean array (bool, or integers 0/1)."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise MetricInputError(f"{name} must be 1-D (one value per event), got shape {arr.shape}")
    if arr.size == 0:
        raise MetricInputError(f"{name} is empty; need at least one event")
    if arr.dtype == np.bool_:
        return arr
    if np.issubdtype(arr.dtype, np.integer) and np.all((arr == 0) | (arr == 1)):
        return arr.astype(np.bool_)
    raise MetricInputError(
        f"{name} must be a boolean array (dtype {arr.dtype} given); "
        "use selected_by(pt_pred, threshold)"
    )


def _same_length(**arrays: NDArray[Any]) -> None:
    """Raise if the given 1-D arrays do not all have the same length."""
    lengths = {name: arr.shape[0] for name, arr in arrays.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise MetricInputError(f"length mismatch: {detail} events")


def _threshold(value: float, name: str = "threshold") -> float:
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise MetricInputError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(t):
        raise MetricInputError(f"{name} must be finite, got {t}")
    return t


def _edges(name: str, edges: ArrayLike | None, default: NDArray[np.float64]) -> NDArray[np.float64]:
    if edges is None:
        return default.copy()
    arr = _float_1d(name, edges)
    if arr.size < 2:
        raise MetricInputError(f"{name} needs at least 2 edges, got {arr.size}")
    if np.any(np.diff(arr) <= 0):
        raise MetricInputError(f"{name} must be strictly increasing")
    return arr


def _ratio(num: float, den: float) -> float:
    """num / den, NaN when den is 0 (an empty subset)."""
    return float(num) / float(den) if den else float("nan")


def _nan_to_none(values: NDArray[Any]) -> list[Any]:
    """A JSON-ready list: NaN becomes None, numpy scalars become Python ones."""
    return [None if isinstance(v, float) and np.isnan(v) else v for v in values.tolist()]


def _json_float(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _frozen(arr: ArrayLike, dtype: Any = None) -> NDArray[Any]:
    out = np.array(arr, dtype=dtype)  # a private copy, so freezing it cannot affect the caller
    out.setflags(write=False)
    return out


# ------------------------------------------------------------------------ regression


def mae(
    pt_true: ArrayLike, pt_pred: ArrayLike, eta_true: ArrayLike, eta_pred: ArrayLike
) -> dict[str, float]:
    """Mean absolute errors of the pT and |eta| regression.

    Args:
        pt_true, pt_pred: shape (n,), true and predicted pT in GeV.
        eta_true, eta_pred: shape (n,), true and predicted |eta|.

    Returns:
        ``{"total": mean(|pT - pT_hat| + |eta - eta_hat|), "pt": mean |pT - pT_hat| (GeV),
        "eta": mean |eta - eta_hat|}``. ``total`` is the thesis' per-sample loss (it adds
        GeV and a dimensionless number, as the thesis does); ``total == pt + eta``.
    """
    pt_t = _float_1d("pt_true", pt_true)
    pt_p = _float_1d("pt_pred", pt_pred)
    eta_t = _float_1d("eta_true", eta_true)
    eta_p = _float_1d("eta_pred", eta_pred)
    _same_length(pt_true=pt_t, pt_pred=pt_p, eta_true=eta_t, eta_pred=eta_p)
    d_pt = np.abs(pt_t - pt_p)
    d_eta = np.abs(eta_t - eta_p)
    return {
        "total": float(np.mean(d_pt + d_eta)),
        "pt": float(np.mean(d_pt)),
        "eta": float(np.mean(d_eta)),
    }


def spread(
    pt_true: ArrayLike, pt_pred: ArrayLike, window: tuple[float, float] = (7.0, 13.0)
) -> float:
    """Mean |pT - pT_hat| (GeV) over events whose true pT lies in the closed ``window``.

    The default [7, 13] GeV window straddles the 10 GeV threshold, where a wrong prediction
    moves an event across the trigger decision.

    Args:
        pt_true, pt_pred: shape (n,), true and predicted pT in GeV.
        window: (low, high) in GeV; both ends included.

    Returns:
        The spread in GeV, or NaN if no event has true pT in the window.
    """
    pt_t = _float_1d("pt_true", pt_true)
    pt_p = _float_1d("pt_pred", pt_pred)
    _same_length(pt_true=pt_t, pt_pred=pt_p)
    low, high = _threshold(window[0], "window[0]"), _threshold(window[1], "window[1]")
    if low > high:
        raise MetricInputError(f"window must be (low, high) with low <= high, got {window}")
    inside = (pt_t >= low) & (pt_t <= high)
    if not np.any(inside):
        return float("nan")
    return float(np.mean(np.abs(pt_t[inside] - pt_p[inside])))


# ----------------------------------------------------------------- trigger decision


def efficiency(pt_true: ArrayLike, selected: ArrayLike, threshold: float) -> float:
    """Plateau efficiency: #(true pT > T and selected) / #(true pT > T).

    "Above threshold" is strict (``>``) as in the thesis formulas; note that the published
    reference code used ``>=``, which differs only for events exactly at T.

    Args:
        pt_true: shape (n,), true pT in GeV.
        selected: shape (n,), bool, the trigger decision (see :func:`selected_by`).
        threshold: T in GeV.

    Returns:
        The efficiency in [0, 1], or NaN if no event has true pT > T.
    """
    pt_t = _float_1d("pt_true", pt_true)
    sel = _bool_1d("selected", selected)
    _same_length(pt_true=pt_t, selected=sel)
    above = pt_t > _threshold(threshold)
    return _ratio(np.count_nonzero(above & sel), np.count_nonzero(above))


def selected_by(pt_pred: ArrayLike, threshold: float) -> NDArray[np.bool_]:
    """The trigger decision: ``pt_pred > threshold`` (strict), shape (n,) bool.

    This is the one definition of "the trigger fires" used by every metric here.
    """
    pt_p = _float_1d("pt_pred", pt_pred)
    return pt_p > _threshold(threshold)


def _counts(pt_true: ArrayLike, selected: ArrayLike, threshold: float) -> tuple[int, int, int, int]:
    """(TP, FN, FP, TN) with positive = true pT > T, predicted positive = selected."""
    pt_t = _float_1d("pt_true", pt_true)
    sel = _bool_1d("selected", selected)
    _same_length(pt_true=pt_t, selected=sel)
    pos = pt_t > _threshold(threshold)
    tp = int(np.count_nonzero(pos & sel))
    fn = int(np.count_nonzero(pos & ~sel))
    fp = int(np.count_nonzero(~pos & sel))
    tn = int(pos.size - tp - fn - fp)
    return tp, fn, fp, tn


def selection_confusion(
    pt_true: ArrayLike, selected: ArrayLike, threshold: float, normalize: bool = True
) -> NDArray[Any]:
    """Confusion matrix of the trigger decision, rows = true class, positive class first.

    Args:
        pt_true: shape (n,), true pT in GeV.
        selected: shape (n,), bool trigger decision.
        threshold: T in GeV; positive means true pT > T (strict).
        normalize: divide each row by its sum (row-normalised).

    Returns:
        Shape (2, 2): ``[[TP, FN], [FP, TN]]``. Integer counts if ``normalize`` is False;
        otherwise floats where row 0 is (efficiency, 1 - efficiency) and row 1 is
        (fake fraction, rejection) -- a row with no events is NaN.
    """
    tp, fn, fp, tn = _counts(pt_true, selected, threshold)
    counts = np.array([[tp, fn], [fp, tn]], dtype=np.int64)
    if not normalize:
        return counts
    row_sums = counts.sum(axis=1, keepdims=True).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(row_sums > 0, counts / row_sums, np.nan)


def _class_names(threshold: float) -> tuple[str, str]:
    return f"pT <= {threshold:g} GeV", f"pT > {threshold:g} GeV"


def classification_report(
    pt_true: ArrayLike, selected: ArrayLike, threshold: float, digits: int = 4
) -> dict[str, Any]:
    """Precision/recall/F1 of the trigger decision, as sklearn's ``classification_report``.

    Gives the same numbers as ``sklearn.metrics.classification_report(y_true, y_pred,
    labels=[0, 1], target_names=[...], output_dict=True, zero_division=0)`` with
    ``y_true = pt_true > T`` and ``y_pred = selected``; class 0 is "rejected"
    (``pT <= T``), class 1 "selected" (``pT > T``). Computed here with numpy only.

    Args:
        pt_true: shape (n,), true pT in GeV.
        selected: shape (n,), bool trigger decision.
        threshold: T in GeV.
        digits: as in sklearn, it affects only the text form; the dict holds unrounded
            values. Pass the same value to :func:`format_classification_report`.

    Returns:
        ``{"pT <= T GeV": {...}, "pT > T GeV": {...}, "accuracy": float, "macro avg": {...},
        "weighted avg": {...}}`` where each inner dict has ``precision``, ``recall``,
        ``f1-score`` (floats; 0 where undefined, as ``zero_division=0``) and ``support``
        (int number of true events of the class, or of all events for the averages).
    """
    del digits  # kept for sklearn's signature: it never changes the numbers of the dict
    t = _threshold(threshold)
    tp, fn, fp, tn = _counts(pt_true, selected, t)
    # Per class c in (0, 1): true positives, predicted count, true count of that class.
    tp_c = np.array([tn, tp], dtype=np.float64)
    pred_c = np.array([tn + fn, tp + fp], dtype=np.float64)
    true_c = np.array([tn + fp, tp + fn], dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(pred_c > 0, tp_c / pred_c, 0.0)
        recall = np.where(true_c > 0, tp_c / true_c, 0.0)
        # sklearn's F-score form, 2 TP / (2 TP + FP + FN); 0 when the denominator is 0.
        f1_den = pred_c + true_c
        f1 = np.where(f1_den > 0, 2.0 * tp_c / f1_den, 0.0)
    n = int(tp + fn + fp + tn)
    support = true_c.astype(np.int64)
    report: dict[str, Any] = {}
    for c, name in enumerate(_class_names(t)):
        report[name] = {
            "precision": float(precision[c]),
            "recall": float(recall[c]),
            "f1-score": float(f1[c]),
            "support": int(support[c]),
        }
    report["accuracy"] = (tp + tn) / n
    report["macro avg"] = {
        "precision": float(np.mean(precision)),
        "recall": float(np.mean(recall)),
        "f1-score": float(np.mean(f1)),
        "support": n,
    }
    weights = true_c / n
    report["weighted avg"] = {
        "precision": float(np.sum(precision * weights)),
        "recall": float(np.sum(recall * weights)),
        "f1-score": float(np.sum(f1 * weights)),
        "support": n,
    }
    return report


def format_classification_report(report: dict[str, Any], digits: int = 4) -> str:
    """Text table of a :func:`classification_report` dict, in sklearn's layout.

    Reproduces the text of ``sklearn.metrics.classification_report`` (thesis table 7.3):
    one row per class, a blank line, then accuracy, macro avg and weighted avg.
    """
    headers = ["precision", "recall", "f1-score", "support"]
    classes = [k for k in report if k not in ("accuracy", "macro avg", "weighted avg")]
    width = max(max(len(c) for c in classes), len("weighted avg"), digits)
    row_fmt = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"

    def row(name: str) -> str:
        r = report[name]
        return row_fmt.format(
            name,
            r["precision"],
            r["recall"],
            r["f1-score"],
            int(r["support"]),
            width=width,
            digits=digits,
        )

    text = ("{:>{width}s} " + " {:>9}" * len(headers)).format("", *headers, width=width)
    text += "\n\n"
    text += "".join(row(c) for c in classes)
    text += "\n"
    n = int(report["macro avg"]["support"])
    text += ("{:>{width}s} " + " {:>9}" * 2 + " {:>9.{digits}f}" + " {:>9}\n").format(
        "accuracy", "", "", report["accuracy"], n, width=width, digits=digits
    )
    text += row("macro avg") + row("weighted avg")
    return text


def fake_rate(
    pt_pred_noise: ArrayLike, threshold: float = 15.0, requirement: float = 0.002
) -> dict[str, Any]:
    """How often the trigger fires on images containing noise hits only (true pT = 0).

    The requirement of 0.2% is the L0 rate budget: the 80 kHz allowed to this trigger
    out of the 40 MHz LHC bunch-crossing rate (80 kHz / 40 MHz = 0.002).

    Args:
        pt_pred_noise: shape (n,), predicted pT in GeV on the only-noise set.
        threshold: T in GeV; an event fires if pT_hat > T.
        requirement: maximum allowed fraction; it must be beaten strictly.

    Returns:
        ``{"selected": int, "n_events": int, "rate": float, "percent": float,
        "threshold": float, "requirement": float, "meets_requirement": bool}`` with
        ``meets_requirement = rate < requirement``.
    """
    fired = selected_by(_float_1d("pt_pred_noise", pt_pred_noise), threshold)
    req = _threshold(requirement, "requirement")
    n_sel = int(np.count_nonzero(fired))
    n = int(fired.size)
    rate = n_sel / n
    return {
        "selected": n_sel,
        "n_events": n,
        "rate": rate,
        "percent": 100.0 * rate,
        "threshold": float(threshold),
        "requirement": req,
        "meets_requirement": bool(rate < req),
    }


# ---------------------------------------------------------------------- turn-on curve


def _count_array(name: str, values: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64)
    if np.any(np.isnan(arr)):
        raise MetricInputError(f"{name} has NaN values; counts must be integers >= 0")
    if np.any(arr < 0) or np.any(arr != np.round(arr)):
        raise MetricInputError(f"{name} must hold integers >= 0")
    return arr


def clopper_pearson(k: ArrayLike, n: ArrayLike, cl: float = 0.68) -> tuple[Any, Any]:
    """Clopper-Pearson (exact) central interval for a binomial fraction k / n.

    Args:
        k: number of successes, integer >= 0, any shape broadcastable with ``n``.
        n: number of trials, integer >= k.
        cl: confidence level of the central interval, in (0, 1); 0.68 is "1 sigma".

    Returns:
        ``(lower, upper)``, floats for scalar inputs, else arrays of the broadcast shape.
        ``lower = 0`` where k = 0, ``upper = 1`` where k = n, both NaN where n = 0.
    """
    k_arr = _count_array("k", k)
    n_arr = _count_array("n", n)
    conf = _threshold(cl, "cl")
    if not 0.0 < conf < 1.0:
        raise MetricInputError(f"cl must be in (0, 1), got {conf}")
    k_arr, n_arr = np.broadcast_arrays(k_arr, n_arr)
    if np.any(k_arr > n_arr):
        raise MetricInputError("k must not exceed n")
    alpha = 1.0 - conf
    # beta.ppf needs positive shape parameters; feed 1 where the bound is fixed anyway.
    lower = stats.beta.ppf(alpha / 2, np.where(k_arr > 0, k_arr, 1), n_arr - k_arr + 1)
    upper = stats.beta.ppf(1 - alpha / 2, k_arr + 1, np.where(n_arr > k_arr, n_arr - k_arr, 1))
    lower = np.where(k_arr > 0, lower, 0.0)
    upper = np.where(n_arr > k_arr, upper, 1.0)
    lower = np.where(n_arr > 0, lower, np.nan)
    upper = np.where(n_arr > 0, upper, np.nan)
    if lower.ndim == 0:
        return float(lower), float(upper)
    return lower, upper


@dataclass(frozen=True, eq=False)
class TurnOn:
    """Trigger efficiency versus true pT. All arrays are read-only.

    Attributes:
        bin_edges: shape (b + 1,), GeV.
        bin_centers: shape (b,), GeV.
        n_total: shape (b,), int, events per bin of true pT.
        n_selected: shape (b,), int, selected events per bin.
        efficiency: shape (b,), n_selected / n_total, NaN for empty bins.
        lower, upper: shape (b,), Clopper-Pearson interval at ``cl``, NaN for empty bins.
        cl: confidence level of the interval.
    """

    bin_edges: NDArray[np.float64]
    bin_centers: NDArray[np.float64]
    n_total: NDArray[np.int64]
    n_selected: NDArray[np.int64]
    efficiency: NDArray[np.float64]
    lower: NDArray[np.float64]
    upper: NDArray[np.float64]
    cl: float = 0.68

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form: lists of Python numbers, NaN written as None."""
        return {
            "bin_edges": _nan_to_none(self.bin_edges),
            "bin_centers": _nan_to_none(self.bin_centers),
            "n_total": self.n_total.tolist(),
            "n_selected": self.n_selected.tolist(),
            "efficiency": _nan_to_none(self.efficiency),
            "lower": _nan_to_none(self.lower),
            "upper": _nan_to_none(self.upper),
            "cl": float(self.cl),
        }


def turn_on(
    pt_true: ArrayLike,
    selected: ArrayLike,
    bin_edges: ArrayLike | None = None,
    cl: float = 0.68,
) -> TurnOn:
    """Turn-on curve: fraction of selected events in bins of true pT.

    Args:
        pt_true: shape (n,), true pT in GeV.
        selected: shape (n,), bool trigger decision (see :func:`selected_by`).
        bin_edges: shape (b + 1,), increasing, GeV; default 0.5 GeV bins from 3 to 20 GeV.
            Bins follow ``np.histogram``: half-open except the last, which includes its
            upper edge; events outside the edges are ignored.
        cl: confidence level of the Clopper-Pearson intervals.

    Returns:
        A :class:`TurnOn`; bins without events have NaN efficiency and interval.
    """
    pt_t = _float_1d("pt_true", pt_true)
    sel = _bool_1d("selected", selected)
    _same_length(pt_true=pt_t, selected=sel)
    edges = _edges("bin_edges", bin_edges, DEFAULT_TURN_ON_EDGES)
    n_total, _ = np.histogram(pt_t, bins=edges)
    n_sel, _ = np.histogram(pt_t[sel], bins=edges)
    with np.errstate(invalid="ignore", divide="ignore"):
        eff = np.where(n_total > 0, n_sel / n_total, np.nan)
    lower, upper = clopper_pearson(n_sel, n_total, cl)
    return TurnOn(
        bin_edges=_frozen(edges),
        bin_centers=_frozen(0.5 * (edges[:-1] + edges[1:])),
        n_total=_frozen(n_total, np.int64),
        n_selected=_frozen(n_sel, np.int64),
        efficiency=_frozen(eff),
        lower=_frozen(lower),
        upper=_frozen(upper),
        cl=float(cl),
    )


# ------------------------------------------------------------------------- resolution


@dataclass(frozen=True, eq=False)
class Resolution:
    """pT and eta resolution in bins of true pT. All arrays are read-only, shape (b,).

    Attributes:
        bin_edges: shape (b + 1,), GeV.
        bin_centers: GeV.
        n: int, events per bin.
        pt_mean: mean of the relative residual (pT_hat - pT) / pT.
        pt_median: its median (the bias, robust against tails).
        pt_width: robust width of it, (q84 - q16) / 2 (half the central 68% interval).
        pt_std: its standard deviation (ddof=0).
        eta_mean, eta_median, eta_width, eta_std: the same for eta_hat - eta (absolute, not
            relative).

    Bins without events hold NaN.
    """

    bin_edges: NDArray[np.float64]
    bin_centers: NDArray[np.float64]
    n: NDArray[np.int64]
    pt_mean: NDArray[np.float64]
    pt_median: NDArray[np.float64]
    pt_width: NDArray[np.float64]
    pt_std: NDArray[np.float64]
    eta_mean: NDArray[np.float64]
    eta_median: NDArray[np.float64]
    eta_width: NDArray[np.float64]
    eta_std: NDArray[np.float64]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form: lists of Python numbers, NaN written as None."""
        return {
            "bin_edges": _nan_to_none(self.bin_edges),
            "bin_centers": _nan_to_none(self.bin_centers),
            "n": self.n.tolist(),
            "pt_mean": _nan_to_none(self.pt_mean),
            "pt_median": _nan_to_none(self.pt_median),
            "pt_width": _nan_to_none(self.pt_width),
            "pt_std": _nan_to_none(self.pt_std),
            "eta_mean": _nan_to_none(self.eta_mean),
            "eta_median": _nan_to_none(self.eta_median),
            "eta_width": _nan_to_none(self.eta_width),
            "eta_std": _nan_to_none(self.eta_std),
        }


def _binned_stats(
    values: NDArray[np.float64], splits: NDArray[np.intp]
) -> tuple[NDArray[np.float64], ...]:
    """Mean, median, robust width and std of ``values`` (sorted by bin) per bin slice."""
    n_bins = splits.size - 1
    mean = np.full(n_bins, np.nan)
    median = np.full(n_bins, np.nan)
    width = np.full(n_bins, np.nan)
    std = np.full(n_bins, np.nan)
    for b in range(n_bins):  # a loop over bins; each bin is vectorised
        chunk = values[splits[b] : splits[b + 1]]
        if chunk.size == 0:
            continue
        q16, q50, q84 = np.quantile(chunk, [0.16, 0.5, 0.84])
        mean[b] = np.mean(chunk)
        median[b] = q50
        width[b] = 0.5 * (q84 - q16)
        std[b] = np.std(chunk)
    return mean, median, width, std


def resolution(
    pt_true: ArrayLike,
    pt_pred: ArrayLike,
    eta_true: ArrayLike,
    eta_pred: ArrayLike,
    bin_edges: ArrayLike | None = None,
) -> Resolution:
    """pT and eta resolution in bins of true pT.

    Args:
        pt_true, pt_pred: shape (n,), true and predicted pT in GeV.
        eta_true, eta_pred: shape (n,), true and predicted |eta|.
        bin_edges: shape (b + 1,), increasing, GeV, first edge > 0 (the pT residual is
            relative); default 1 GeV bins from 3 to 20 GeV. Bins follow ``np.histogram``
            (last bin closed); events outside the edges are ignored.

    Returns:
        A :class:`Resolution` with, per bin, the mean and width of (pT_hat - pT) / pT and of
        eta_hat - eta; NaN for empty bins.
    """
    pt_t = _float_1d("pt_true", pt_true)
    pt_p = _float_1d("pt_pred", pt_pred)
    eta_t = _float_1d("eta_true", eta_true)
    eta_p = _float_1d("eta_pred", eta_pred)
    _same_length(pt_true=pt_t, pt_pred=pt_p, eta_true=eta_t, eta_pred=eta_p)
    edges = _edges("bin_edges", bin_edges, DEFAULT_RESOLUTION_EDGES)
    if edges[0] <= 0:
        raise MetricInputError(
            f"bin_edges must start above 0 GeV (relative pT residual), got {edges[0]:g}"
        )
    n_bins = edges.size - 1
    # Same bin assignment as np.histogram: [e_i, e_{i+1}), the last bin closed.
    idx = np.searchsorted(edges, pt_t, side="right") - 1
    idx[pt_t == edges[-1]] = n_bins - 1
    inside = (idx >= 0) & (idx < n_bins)
    order = np.argsort(idx[inside], kind="stable")
    idx_sorted = idx[inside][order]
    splits = np.searchsorted(idx_sorted, np.arange(n_bins + 1), side="left")
    pt_in = pt_t[inside][order]
    rel = (pt_p[inside][order] - pt_in) / pt_in
    d_eta = eta_p[inside][order] - eta_t[inside][order]
    pt_mean, pt_median, pt_width, pt_std = _binned_stats(rel, splits)
    eta_mean, eta_median, eta_width, eta_std = _binned_stats(d_eta, splits)
    return Resolution(
        bin_edges=_frozen(edges),
        bin_centers=_frozen(0.5 * (edges[:-1] + edges[1:])),
        n=_frozen(np.diff(splits), np.int64),
        pt_mean=_frozen(pt_mean),
        pt_median=_frozen(pt_median),
        pt_width=_frozen(pt_width),
        pt_std=_frozen(pt_std),
        eta_mean=_frozen(eta_mean),
        eta_median=_frozen(eta_median),
        eta_width=_frozen(eta_width),
        eta_std=_frozen(eta_std),
    )


# ---------------------------------------------------------------------------- summary


def trigger_summary(
    pt_true: ArrayLike,
    pt_pred: ArrayLike,
    eta_true: ArrayLike,
    eta_pred: ArrayLike,
    pt_pred_noise: ArrayLike | None = None,
    thresholds: tuple[float, ...] = (15.0, 10.0),
    *,
    noise_threshold: float = 15.0,
) -> dict[str, Any]:
    """The headline trigger numbers of a model in one JSON-serialisable dict.

    Args:
        pt_true, pt_pred: shape (n,), true and predicted pT in GeV.
        eta_true, eta_pred: shape (n,), true and predicted |eta|.
        pt_pred_noise: shape (m,), predictions on the only-noise set, or None.
        thresholds: pT thresholds T (GeV) for the plateau efficiency.
        noise_threshold: T (GeV) for the only-noise fake rate.

    Returns:
        ``{"n_events": int, "mae": {"total", "pt", "eta"}, "spread": float,
        "efficiency_<T>": float for each T (e.g. ``efficiency_15``), and, if noise
        predictions are given, "only_noise": :func:`fake_rate` dict}``. Plain Python
        numbers; a NaN (empty subset) is written as None.
    """
    pt_t = _float_1d("pt_true", pt_true)
    pt_p = _float_1d("pt_pred", pt_pred)
    summary: dict[str, Any] = {
        "n_events": int(pt_t.size),
        "mae": mae(pt_t, pt_p, eta_true, eta_pred),
        "spread": _json_float(spread(pt_t, pt_p)),
    }
    for t in thresholds:
        t = _threshold(t, "thresholds")
        summary[f"efficiency_{t:g}"] = _json_float(efficiency(pt_t, selected_by(pt_p, t), t))
    if pt_pred_noise is not None:
        summary["only_noise"] = fake_rate(pt_pred_noise, threshold=noise_threshold)
    return summary
