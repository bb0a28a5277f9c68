"""Evaluate dark-jet taggers: the metric table (models x pre-processing variants), ROC curves,
score distributions and the poster's claims checked on our data.

For every checkpoint: its graphs are rebuilt (or read from the cache) from the test split with
the graph settings the model was trained with, the logits saved as ``.npz``, and the metrics of
:func:`hepxai.metrics.classification.binary_tagger_metrics` computed (AUC; accuracy, precision,
recall, F1, TNR at probability 0.5; TNR at the 90% signal-efficiency working point; rejection
1/FPR at 50/70/90% signal efficiency; the background tail above probability 0.9).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from hepxai.core.atomic import FIGURES_BYTES, atomic_path, check_free_space
from hepxai.core.errors import HepxaiError
from hepxai.core.labels import distinct_labels, file_stem
from hepxai.io.checkpoint import load_model, read_checkpoint
from hepxai.metrics import classification
from hepxai.usecases.darkjet.graphs import GraphSettings, load_graphs
from hepxai.usecases.darkjet.store import DarkJetFile, split_path
from hepxai.usecases.darkjet.task import JetSet, predict

EFFICIENCIES = (0.5, 0.7, 0.9)
CLAIM_METRICS = ("auc", "accuracy", "precision", "recall", "f1", "tnr_90")
ROC_POINTS = 400


def graph_settings_of(state: dict[str, Any]) -> GraphSettings:
    """The graph settings a darkjet checkpoint was trained with."""
    saved = (state.get("identity") or {}).get("graphs")
    if not saved:
        raise HepxaiError("the checkpoint records no graph settings; re-train it with "
                          "'hepxai train darkjet'")
    return GraphSettings(**saved)


def model_label(state: dict[str, Any]) -> str:
    settings = graph_settings_of(state)
    epoch = f", epoch {state['epoch']}" if "epoch" in state else ""
    return f"{state['model']} {settings.variant} ({state['preset']}{epoch})"


def _curve_points(y: np.ndarray, logits: np.ndarray) -> dict[str, list[float]]:
    """The ROC thinned to at most :data:`ROC_POINTS` points evenly spread in signal efficiency."""
    curve = classification.roc_curve(y, logits)
    keep = np.unique(np.searchsorted(curve.tpr, np.linspace(0, 1, ROC_POINTS)).clip(
        0, len(curve.tpr) - 1))
    keep = np.unique(np.r_[0, keep, len(curve.tpr) - 1])
    return {"tpr": curve.tpr[keep].tolist(), "fpr": curve.fpr[keep].tolist()}


def evaluate_checkpoint(checkpoint: str | os.PathLike[str], data_dir: str | os.PathLike[str],
                        out_dir: Path, device: str = "cpu", split: str = "test",
                        max_jets: int | None = None,
                        cache_dir: str | os.PathLike[str] | None = None,
                        label: str | None = None) -> dict[str, Any]:
    """The metrics of one checkpoint on ``split``; predictions written under ``out_dir``.
    ``label``: the model's name in tables (default :func:`model_label`)."""
    state = read_checkpoint(checkpoint, use_case="darkjet")
    settings = graph_settings_of(state)
    model = load_model(checkpoint, device=device, use_case="darkjet")
    graphs = load_graphs(split_path(data_dir, split), settings, cache_dir=cache_dir,
                         max_jets=max_jets)
    dataset = JetSet(graphs, model.representation)
    label = label or model_label(state)
    logits = predict(model, dataset, device, desc=f"{label}: {split}")
    y = dataset.labels
    if np.all(y == y[0]):
        raise HepxaiError(f"the {split} selection holds only one class; evaluate on more jets")
    metrics = classification.binary_tagger_metrics(y, logits, EFFICIENCIES)
    path = out_dir / "predictions" / f"{file_stem(label)}.npz"
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, logits=logits, labels=y, jet_rows=graphs.jet_rows[dataset.rows],
                 pt=graphs.pt[dataset.rows])
    return {"label": label, "checkpoint": str(checkpoint), "model": state["model"],
            "preset": state["preset"], "variant": settings.variant,
            "graphs": settings.to_dict(), "epoch": state.get("epoch"),
            "parameters": model.n_parameters(), "split": split, "n_jets": len(dataset),
            "metrics": metrics, "roc": _curve_points(y, logits), "predictions": str(path)}


def evaluate_models(checkpoints: list[str | os.PathLike[str]], data_dir: str | os.PathLike[str],
                    out_dir: str | os.PathLike[str], device: str = "cpu", split: str = "test",
                    max_jets: int | None = None,
                    cache_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Every checkpoint on the same jets of ``split``; the table and the poster-claim check."""
    if not checkpoints:
        raise HepxaiError("no checkpoint given; pass at least one --checkpoint")
    states = [read_checkpoint(c, use_case="darkjet") for c in checkpoints]
    for state in states:  # every input checked before any work
        graph_settings_of(state)
    # distinct labels: two runs' models of one kind would overwrite each other's predictions
    labels = distinct_labels([model_label(s) for s in states], checkpoints)
    split_file = split_path(data_dir, split)
    if not split_file.exists():
        raise HepxaiError(f"{split_file}: no such file; simulate jets first with "
                          f"'hepxai simulate darkjet --out {data_dir}'")
    out = Path(out_dir)
    # before any work: per model and jet its logit, label, row and pT (8 bytes each at most)
    n_jets = int(DarkJetFile(split_file, load=False).attrs.get("n_events", 0))
    n_jets = n_jets if max_jets is None else min(n_jets, max_jets)
    check_free_space(out, len(checkpoints) * 32 * n_jets + FIGURES_BYTES,
                     f"the predictions of {len(checkpoints)} model(s) and the figures")
    models = [evaluate_checkpoint(c, data_dir, out, device, split, max_jets, cache_dir, label)
              for c, label in zip(checkpoints, labels, strict=True)]
    return {"split": split, "data": str(data_dir), "models": models,
            "claims": check_poster_claims(models)}


def check_poster_claims(models: list[dict[str, Any]], gnn: str = "resgnn",
                        cnn: str = "cnn3d") -> list[dict[str, Any]]:
    """Per pre-processing variant with both a GNN and a CNN: the GNN's relative gain on every
    metric (the poster: +2-5% on all) and its QCD-rejection ratio at 50% and 70% signal
    efficiency (the poster: 2x)."""
    by_key = {(m["model"], m["variant"]): m for m in models}
    checks = []
    for variant in sorted({m["variant"] for m in models}):
        if (gnn, variant) not in by_key or (cnn, variant) not in by_key:
            continue
        g, c = by_key[(gnn, variant)]["metrics"], by_key[(cnn, variant)]["metrics"]
        gains = {k: (g[k] - c[k]) / c[k] if c[k] else float("nan") for k in CLAIM_METRICS}
        ratios = {e: g["rejection"][e] / c["rejection"][e] if c["rejection"][e] else
                  float("nan") for e in ("0.5", "0.7")}
        checks.append({
            "variant": variant, "gnn": gnn, "cnn": cnn, "relative_gain": gains,
            "rejection_ratio": ratios,
            "gnn_better_on_all": all(v > 0 for v in gains.values()),
            "gain_2_to_5_percent": all(0.02 <= v <= 0.05 for v in gains.values()),
            "rejection_2x": all(r >= 2.0 for r in ratios.values())})
    return checks


def metric_table(results: dict[str, Any]) -> str:
    """The models x variants table as Markdown."""
    lines = ["| variant | model | AUC | accuracy | precision | recall | F1 | TNR@90% sig | "
             "R50 | R70 | R90 | bkg tail (p>=0.9) |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    order = {"gnn-0": 0, "gnn-1": 1, "gnn-2": 2}
    models = {"resgnn": 0, "gatv2": 1, "cnn3d": 2}
    for m in sorted(results["models"], key=lambda m: (order.get(m["variant"], 9),
                                                      models.get(m["model"], 9))):
        x = m["metrics"]
        r = x["rejection"]
        lines.append(
            f"| {m['variant']} | {m['model']} | {x['auc']:.4f} | {x['accuracy']:.4f} | "
            f"{x['precision']:.4f} | {x['recall']:.4f} | {x['f1']:.4f} | {x['tnr_90']:.4f} | "
            f"{_rej(r['0.5'])} | {_rej(r['0.7'])} | {_rej(r['0.9'])} | "
            f"{x['background_tail']:.4f} |")
    return "\n".join(lines)


def _rej(value: float | None) -> str:
    return _number(value, form="{:.1f}")


def claims_table(results: dict[str, Any]) -> str:
    """The poster-claim check as Markdown."""
    if not results["claims"]:
        return "(no variant has both a resgnn and a cnn3d model: no comparison)"
    lines = ["| variant | " + " | ".join(f"gain {k}" for k in CLAIM_METRICS)
             + " | rejection ratio @50% | @70% | GNN better on all | 2-5% on all | 2x rejection |",
             "| --- |" + " ---: |" * (len(CLAIM_METRICS) + 2) + " --- | --- | --- |"]
    for c in results["claims"]:
        gains = " | ".join(_number(c["relative_gain"][k], 100, "{:+.1f}%")
                           for k in CLAIM_METRICS)
        ratios = c["rejection_ratio"]
        lines.append(f"| {c['variant']} | {gains} | {_number(ratios['0.5'])} | "
                     f"{_number(ratios['0.7'])} | {_yes(c['gnn_better_on_all'])} | "
                     f"{_yes(c['gain_2_to_5_percent'])} | {_yes(c['rejection_2x'])} |")
    return "\n".join(lines)


def _number(value: float | None, scale: float = 1.0, form: str = "{:.2f}") -> str:
    """Formatted, or "n/a" for an undefined value (NaN, or null after a JSON round trip)."""
    if value is None or not np.isfinite(value):
        return "n/a" if value is None or np.isnan(value) else "inf"
    return form.format(scale * value)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
