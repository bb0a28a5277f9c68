"""Evaluation of SUSY classifiers: per-class ROC/AUC, signal efficiency vs background rejection,
the discovery significance at a working point, confusion matrices and yields.

Each model is evaluated on the test-split events preselected in the reconstruction it was
trained on. Two conventions, both reported:

* *per-class* ROC/AUC (one class against the rest, unweighted): how well the classifier
  separates the processes, the machine-learning view (classes are simulated in equal numbers);
* *physics* numbers with the per-event weights (expected events at 139 fb^-1): background
  rejection against the cross-section-weighted background mix, the significance
  Z (Asimov, optionally with a relative background uncertainty) of the cut
  ``P(signal) >= t`` at the best threshold and at a fixed signal efficiency, and the yield of
  every process there. Backgrounds are simulated in equal numbers with the signal, so one
  simulated W+jets or ttbar event stands for tens to hundreds of expected events; a cut that
  keeps none of them would claim zero background. Each background process therefore counts at
  least 1.15 events' worth (the 68 % CL Poisson upper limit for nothing seen), and a working
  point may also be required to keep ``min_background_events`` simulated background events.

When ``max_events`` keeps only part of the test split, weights are scaled per class so yields
still refer to the whole split (and thus to 139 fb^-1).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from hepxai.core.errors import HepxaiError
from hepxai.core.labels import distinct_labels, file_stem
from hepxai.metrics.classification import (
    efficiency_rejection,
    one_vs_rest,
    rejection_at,
    roc_auc,
    significance_scan,
)
from hepxai.usecases.susy.models import SusyModel, load_model
from hepxai.usecases.susy.store import SusyFile, SusyTable, split_path

SIGNAL = "signal"
REJECTION_EFFICIENCIES = (0.3, 0.5, 0.7)


def run_label(run: str | os.PathLike[str], model: SusyModel) -> str:
    """A short name for a run: ``bdt-full`` style from the model, or the directory name."""
    return f"{model.kind}-{model.sample}" if model.sample in ("simplified", "full") \
        else Path(run).name


def load_runs(runs: list[str | os.PathLike[str]]) -> dict[str, tuple[Path, SusyModel]]:
    """Models of the run directories by label; a shared label gets the end of its run's path
    that tells the runs apart (:func:`hepxai.core.labels.distinct_labels`)."""
    if not runs:
        raise HepxaiError("no model to evaluate; pass --run DIR (a directory written by "
                          "'hepxai train susy')")
    models = [load_model(run) for run in runs]
    labels = distinct_labels([run_label(r, m) for r, m in zip(runs, models, strict=True)], runs,
                             option="--run")
    return {label: (Path(run), model) for label, run, model in zip(labels, runs, models,
                                                                   strict=True)}


def check_compatible(model: SusyModel, data: SusyFile) -> None:
    if tuple(model.feature_names) != tuple(data.feature_names):
        raise HepxaiError(f"{data.path}: the file's variables ({', '.join(data.feature_names)}) "
                          "differ from the model's; use data made by the same hepxai version")
    if tuple(model.class_names) != tuple(data.class_names):
        raise HepxaiError(f"{data.path}: the file's classes ({', '.join(data.class_names)}) "
                          "differ from the model's")


def physical_weights(data: SusyFile, table: SusyTable) -> np.ndarray:
    """Weights of ``table`` scaled per class so they sum to the whole preselected split."""
    full = data.presel[table.level]
    weight = table.weight.copy()
    for k in range(len(table.class_names)):
        selected = table.y == k
        total = data.weight[full & (data.label == k)].sum()
        part = weight[selected].sum()
        if part > 0:
            weight[selected] *= total / part
    return weight


def _thin(x: np.ndarray, y: np.ndarray, points: int = 300) -> tuple[list[float], list[float]]:
    """At most ``points`` points of a curve (for JSON and plots), ends kept."""
    if len(x) <= points:
        return x.tolist(), y.tolist()
    keep = np.unique(np.r_[np.linspace(0, len(x) - 1, points).astype(int), len(x) - 1])
    return x[keep].tolist(), y[keep].tolist()


def evaluate_model(model: SusyModel, data: SusyFile, *, max_events: int | None = None,
                   rel_unc: float = 0.2, min_background_events: int = 0,
                   signal_efficiency: float = 0.5) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """All numbers of one model on ``data`` (its own reconstruction, preselected events).

    Returns the JSON-ready result and the predictions (event_id, label, weight, proba).
    """
    check_compatible(model, data)
    if SIGNAL not in model.class_names:
        raise HepxaiError(f"the model has no {SIGNAL!r} class; significance needs one")
    table = data.table(model.sample, max_events=max_events)
    proba = model.predict_proba(table.x)
    weight = physical_weights(data, table)
    classes = table.class_names
    ovr = one_vs_rest(table.y, proba, classes)
    s = classes.index(SIGNAL)
    is_signal = table.y == s
    score = proba[:, s]
    eff, rej = efficiency_rejection(is_signal, score, weight)
    groups = np.asarray(classes)[table.y]
    scan = significance_scan(is_signal, score, weight, rel_unc=rel_unc,
                             min_background_events=min_background_events,
                             signal_efficiency=signal_efficiency, groups=groups)
    scan_stat = significance_scan(is_signal, score, weight, rel_unc=0.0,
                                  min_background_events=min_background_events,
                                  signal_efficiency=signal_efficiency, groups=groups)
    predicted = proba.argmax(axis=1)
    confusion = np.zeros((len(classes), len(classes)))
    np.add.at(confusion, (table.y, predicted), 1.0)
    confusion /= confusion.sum(axis=1, keepdims=True)

    def yields(threshold: float | None) -> dict[str, float]:
        chosen = score >= threshold if threshold is not None else np.ones(len(score), bool)
        return {c: float(weight[chosen & (table.y == k)].sum()) for k, c in enumerate(classes)}

    best = scan["best"]
    result = {
        "sample": model.sample, "kind": model.kind, "preset": model.meta.get("preset"),
        "n_events": len(table), "n_per_class": np.bincount(table.y, minlength=len(classes))
        .tolist(),
        "auc": {c: r.auc for c, r in ovr.items()},
        "roc": {c: dict(zip(("fpr", "tpr"), _thin(r.fpr, r.tpr), strict=True))
                for c, r in ovr.items()},
        "signal_auc_weighted": roc_auc(is_signal, score, weight),
        # rejections beyond what the simulated background can resolve print as "> limit"
        "rejection_limit": float(weight[~is_signal].sum() / weight[~is_signal].max()),
        "rejection": {f"{e:g}": float(r) for e, r in zip(
            REJECTION_EFFICIENCIES, rejection_at(is_signal, score, REJECTION_EFFICIENCIES,
                                                 weight), strict=True)},
        "efficiency_rejection": dict(zip(("efficiency", "rejection"), _thin(eff, rej),
                                         strict=True)),
        "significance": scan, "significance_stat_only": {
            k: scan_stat[k] for k in ("best", "at_efficiency", "rel_unc")},
        "confusion": confusion.tolist(),
        "accuracy_balanced": float(np.mean(np.diag(confusion))),
        "yields_preselection": yields(None),
        "yields_best": yields(best["threshold"]) if best else None,
        "train_seconds": model.meta.get("train_seconds"),
        "n_train": model.meta.get("n_train"),
    }
    predictions = {"event_id": table.event_id, "label": table.y, "weight": weight,
                   "proba": proba.astype(np.float32)}
    return result, predictions


def evaluate_runs(runs: list[str | os.PathLike[str]], data_dir: str | os.PathLike[str], *,
                  max_events: int | None = None, rel_unc: float = 0.2,
                  min_background_events: int = 0, signal_efficiency: float = 0.5
                  ) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]]]:
    """Evaluate every run on the test split of ``data_dir``; results by run label."""
    if not 0 < signal_efficiency <= 1:
        raise HepxaiError(f"--signal-efficiency must be in (0, 1], got {signal_efficiency}")
    if rel_unc < 0:
        raise HepxaiError(f"--rel-unc must be >= 0, got {rel_unc}")
    data = SusyFile(split_path(data_dir, "test"))
    models = load_runs(runs)
    results, predictions = {}, {}
    for label, (run, model) in models.items():
        result, pred = evaluate_model(model, data, max_events=max_events, rel_unc=rel_unc,
                                      min_background_events=min_background_events,
                                      signal_efficiency=signal_efficiency)
        result["run"] = str(run)
        results[label] = result
        predictions[label] = pred
    summary = {"data": str(data.path), "classes": list(data.class_names),
               "luminosity_fb": data.attrs.get("luminosity_fb"), "rel_unc": rel_unc,
               "min_background_events": min_background_events,
               "signal_efficiency": signal_efficiency, "models": results}
    return summary, predictions


def metric_table(summary: dict[str, Any]) -> str:
    """Markdown: per model the per-class AUCs, the weighted signal AUC, rejections and Z."""
    classes = summary["classes"]
    eff = summary["signal_efficiency"]
    head = (["model", "events"] + [f"AUC {c}" for c in classes]
            + ["AUC sig (w)", "R50", f"Z best (rel {summary['rel_unc']:g})", "s / b best",
               f"Z @ {eff:.0%} eff"])
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for label, r in summary["models"].items():
        best = r["significance"]["best"]
        at = r["significance"]["at_efficiency"]
        cells = ([label, f"{r['n_events']:,}"] + [f"{r['auc'][c]:.4f}" for c in classes]
                 + [f"{r['signal_auc_weighted']:.4f}",
                    _fmt_rejection(r["rejection"]["0.5"], r.get("rejection_limit")),
                    _fmt_z(best), f"{best['s']:.1f} / {best['b']:.1f}" if best else "n/a",
                    _fmt_z(at)])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt_rejection(value: float | None, limit: float | None = None) -> str:
    if value is None or not np.isfinite(value):
        return f"> {limit:,.0f}" if limit else "inf"
    return f"{value:,.0f}"


def _fmt_z(point: dict | None) -> str:
    """Z of a working point; undefined (no background left, or none found) as 'n/a'."""
    if not point or point.get("z") is None or not np.isfinite(point["z"]):
        return "n/a (b = 0)" if point and point.get("b") == 0 else "n/a"
    return f"{point['z']:.2f}"


def yields_table(summary: dict[str, Any]) -> str:
    """Markdown: expected events per process after preselection and at each best cut; a
    background below what its simulated events resolve shows as ``< floor`` (the 1.15-event
    floor the significance uses)."""
    classes = summary["classes"]
    lines = ["| model | selection | " + " | ".join(classes) + " |",
             "|" + " --- |" * (len(classes) + 2)]
    for label, r in summary["models"].items():
        lines.append(f"| {label} | preselection | " + " | ".join(
            f"{r['yields_preselection'][c]:,.1f}" for c in classes) + " |")
        best = r["significance"]["best"]
        if r["yields_best"] is None or best is None:
            continue
        floors = best.get("b_per_group", {})
        cells = []
        for c in classes:
            raw = r["yields_best"][c]
            used = floors.get(c, raw)
            cells.append(f"< {used:,.1f}" if used > raw * (1 + 1e-9) + 1e-12 else f"{raw:,.1f}")
        lines.append(f"| {label} | P(signal) >= {best['threshold']:.3f} | " + " | ".join(cells)
                     + " |")
    return "\n".join(lines)


def evaluate_to(runs: list[Path], data: Path, out: Path, *, max_events: int | None = None,
                rel_unc: float = 0.2, min_background_events: int = 0,
                signal_efficiency: float = 0.5) -> dict[str, Any]:
    """Evaluate, then write evaluation.json, predictions/*.npz and the figures into ``out``."""
    import numpy as np

    from hepxai.core.atomic import (
        FIGURES_BYTES,
        atomic_path,
        check_free_space,
        output_directory,
        write_json_atomic,
    )
    from hepxai.usecases.susy import figures as viz
    from hepxai.usecases.susy.evaluation import evaluate_runs

    output_directory(out)
    if min_background_events < 0:
        raise HepxaiError(f"--min-background-events must be >= 0, got {min_background_events}")
    summary, predictions = evaluate_runs(runs, data, max_events=max_events, rel_unc=rel_unc,
                                         min_background_events=min_background_events,
                                         signal_efficiency=signal_efficiency)
    # the predictions are small beside the evaluation itself: checked before they are written
    check_free_space(out, sum(np.asarray(a).nbytes for pred in predictions.values()
                              for a in pred.values())
                     + FIGURES_BYTES, f"the predictions of {len(predictions)} model(s) and the "
                     "figures")
    for label, pred in predictions.items():
        with atomic_path(out / "predictions" / f"{file_stem(label)}.npz") as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, **pred)
    summary["figures"] = {
        "roc": str(viz.plot_roc(summary, out / "roc.png")),
        "efficiency_rejection": str(viz.plot_efficiency_rejection(
            summary, out / "efficiency_rejection.png")),
        "significance": str(viz.plot_significance(summary, out / "significance.png")),
        "scores": str(viz.plot_scores(predictions, summary["classes"], out / "scores.png"))}
    write_json_atomic(out / "evaluation.json", summary)
    return summary
