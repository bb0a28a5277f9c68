"""Evaluate muon checkpoints as the thesis does (tables 7.2-7.5, figure 7.2), with baselines.

For every checkpoint: predictions on the validation and only-noise files (saved as ``.npz``),
the trigger metrics of :mod:`hepxai.metrics.trigger`, the selection at 15 GeV (classification
report, confusion matrix), the only-noise selections, turn-on and resolution curves, parameter
count, size on disk and inference throughput. The classical baselines join the same tables.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hepxai.core.atomic import FIGURES_BYTES, atomic_path, check_free_space, read_json
from hepxai.core.errors import HepxaiError
from hepxai.core.labels import distinct_labels, file_stem
from hepxai.io.checkpoint import load_model, read_checkpoint
from hepxai.metrics import thesis_code, trigger
from hepxai.train.loop import save_model_only
from hepxai.usecases.muon.loader import MuonDataset
from hepxai.usecases.muon.models.decision_tree import DecisionTreeModel
from hepxai.usecases.muon.store import split_path
from hepxai.usecases.muon.task import predict
from hepxai.usecases.muon.throughput import measure_throughput, measure_tree_throughput

#: below this share of the truth's spread a model's predicted pT counts as one value
CONSTANT_SHARE = 0.05
#: fewer events above the threshold than this and the efficiency is too uncertain to compare
FEW_EVENTS = 50


def degeneracy(label: str, true_pt: np.ndarray, predicted_pt: np.ndarray,
               threshold: float = 15.0, learned_only: bool = False) -> str | None:
    """One sentence when a model is too weak for its numbers to mean what the report's tables
    suggest, else ``None``: its pT predictions are nearly one value (their spread under
    :data:`CONSTANT_SHARE` of the truth's), it selects no event or every event at
    ``threshold`` GeV, or too few true events lie above it (:data:`FEW_EVENTS`: then the
    efficiency's 95 % interval is stated; none at all: the efficiency is undefined).
    ``learned_only``: only the first two, whether the model learned at all.

    >>> import numpy as np
    >>> pt = np.linspace(3, 30, 400)
    >>> degeneracy("m", pt, np.full(400, 11.9)).split(";")[0]
    'm predicts almost one value (pT spread 0.00 GeV against 7.81 GeV of the truth)'
    >>> degeneracy("m", pt, pt + 0.5) is None
    True
    """
    true_pt, predicted_pt = np.asarray(true_pt, float), np.asarray(predicted_pt, float)
    reasons = []
    if np.std(predicted_pt) < CONSTANT_SHARE * np.std(true_pt):
        reasons.append(f"predicts almost one value (pT spread {np.std(predicted_pt):.2f} GeV "
                       f"against {np.std(true_pt):.2f} GeV of the truth)")
    selected = predicted_pt > threshold
    if not selected.any() or selected.all():
        reasons.append(f"selects {'no' if not selected.any() else 'every'} event at "
                       f"{threshold:g} GeV")
    above = true_pt > threshold
    if learned_only:
        pass
    elif not above.any():
        reasons.append(f"has no true event above {threshold:g} GeV (its efficiency is "
                       "undefined)")
    elif above.sum() < FEW_EVENTS:
        lo, hi = trigger.clopper_pearson(int((selected & above).sum()), int(above.sum()), 0.95)
        reasons.append(f"has only {int(above.sum())} true events above {threshold:g} GeV "
                       f"(efficiency 95 % interval [{lo:.2f}, {hi:.2f}])")
    if not reasons:
        return None
    if len(reasons) == 1 and reasons[0].startswith("has "):  # the sample, not the model
        return f"{label} {reasons[0]}: differences in efficiency within it are not established"
    return (f"{label} " + "; ".join(reasons) + ": its efficiency, galleries and explanations "
            "describe a model that has not learned the task (train on more events or epochs)")


def model_label(checkpoint: str | os.PathLike[str]) -> str:
    """A readable name: ``attribution-cnn (fast, epoch 2)``, ``distilled convsdt (fast, ...)``."""
    state = read_checkpoint(checkpoint, use_case="muon")
    teacher = (state.get("identity") or {}).get("teacher")
    prefix = "distilled " if teacher else ""
    epoch = f", epoch {state['epoch']}" if "epoch" in state else ""
    return f"{prefix}{state['model']} ({state['preset']}{epoch})"


def _rows(n: int, max_events: int | None) -> np.ndarray | None:
    return None if max_events is None or max_events >= n else np.arange(max_events)


def evaluate_checkpoint(checkpoint: str | os.PathLike[str], val: MuonDataset,
                        noise: MuonDataset | None, out_dir: Path, device: str = "cpu",
                        label: str | None = None) -> dict[str, Any]:
    """All numbers of one model; predictions written to ``out_dir/predictions/``."""
    model = load_model(checkpoint, device=device, use_case="muon")
    label = label or model_label(checkpoint)
    if isinstance(model, DecisionTreeModel):
        return _evaluate_tree(model, checkpoint, val, noise, out_dir, label)
    pred = predict(model, val, device, desc=f"{label}: validation")
    pred_noise = predict(model, noise, device, desc=f"{label}: only-noise") \
        if noise is not None else None
    encoded_p = model.encode_targets(torch.from_numpy(pred).to(model.target_mean))
    encoded_t = model.encode_targets(val.targets.to(model.target_mean))
    with tempfile.TemporaryDirectory() as tmp_dir:
        size = save_model_only(model, Path(tmp_dir) / "weights.pt")
    distilled = bool((read_checkpoint(checkpoint, use_case="muon").get("identity") or {})
                     .get("teacher"))
    # a distilled model z-scores by its teacher's predictions, whose spread can be tiny (a weak
    # teacher predicts nearly one value): its loss against the labels is then in other units
    # than the other models' and must not be read beside them
    z_scored = ("z-scored by its teacher's predictions: not comparable with models trained on "
                "the labels; compare the MAE") if distilled else "z-scored targets"
    loss_space = (z_scored if model.recipe.normalise_targets else "GeV, |eta|") \
        + (", 1/pT" if model.recipe.pt_transform == "inverse" else "") \
        + (f", |eta| x{model.recipe.eta_weight:g}" if model.recipe.eta_weight != 1.0 else "")
    return _summarise(model, checkpoint, label, val, pred, pred_noise, out_dir,
                      loss=float((encoded_p - encoded_t).abs().sum(1).mean()),
                      loss_space=loss_space, size=size,
                      throughput=measure_throughput(model, device))


def _evaluate_tree(model: DecisionTreeModel, checkpoint: str | os.PathLike[str],
                   val: MuonDataset, noise: MuonDataset | None, out_dir: Path,
                   label: str) -> dict[str, Any]:
    """The same numbers for a scikit-learn tree (loss: MAE in GeV and |eta|)."""
    pred = model.predict_images(val.images.take(val.rows))
    pred_noise = None if noise is None else model.predict_images(noise.images.take(noise.rows))
    loss = float(np.abs(pred - val.targets.numpy()).sum(1).mean())
    tree = read_checkpoint(checkpoint, use_case="muon")["tree"]
    size = sum(t.numel() * t.element_size() for t in (*tree["nodes"].values(), tree["values"]))
    return _summarise(model, checkpoint, label, val, pred, pred_noise, out_dir, loss=loss,
                      loss_space="GeV, |eta|", size=size,
                      throughput=measure_tree_throughput(model, val))


def _summarise(model: Any, checkpoint: str | os.PathLike[str], label: str, val: MuonDataset,
               pred: np.ndarray, pred_noise: np.ndarray | None, out_dir: Path, *, loss: float,
               loss_space: str, size: int, throughput: dict[str, float]) -> dict[str, Any]:
    targets = val.targets.numpy()
    pt, eta = targets[:, 0], targets[:, 1]
    saved = out_dir / "predictions" / f"{file_stem(label)}.npz"
    with atomic_path(saved) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, val=pred, val_rows=val.rows, noise=pred_noise if pred_noise is not None
                 else np.zeros((0, 2)), targets=targets)
    result = trigger.trigger_summary(pt, pred[:, 0], eta, pred[:, 1],
                                     None if pred_noise is None else pred_noise[:, 0])
    selected = trigger.selected_by(pred[:, 0], 15.0)
    thesis = thesis_code.thesis_code_summary(pt, pred[:, 0], eta, pred[:, 1])
    result.update({
        # the same predictions as the thesis' code reports them (see metrics.thesis_code)
        "thesis_code": thesis, "conventions": thesis_code.compare(result, thesis),
        "label": label, "checkpoint": str(checkpoint), "predictions": str(saved),
        "model": model.name,
        "preset": model.preset, "loss": loss, "loss_space": loss_space,
        "classification_report_15": trigger.classification_report(pt, selected, 15.0),
        "confusion_15": trigger.selection_confusion(pt, selected, 15.0).tolist(),
        "turn_on": {f"{t:g}": trigger.turn_on(pt, trigger.selected_by(pred[:, 0], t)).to_dict()
                    for t in (15.0, 10.0)},
        "resolution": trigger.resolution(pt, pred[:, 0], eta, pred[:, 1]).to_dict(),
        "parameters": model.n_parameters(),
        "size_bytes": size,
        "throughput": throughput,
    })
    if pred_noise is not None:
        result["only_noise_10"] = trigger.fake_rate(pred_noise[:, 0], threshold=10.0)
    return result


def evaluate_models(checkpoints: list[str | os.PathLike[str]], data_dir: str | os.PathLike[str],
                    out_dir: str | os.PathLike[str], *, max_events: int | None = None,
                    device: str = "cpu") -> dict[str, Any]:
    """Evaluate every checkpoint on the same events of ``data_dir``."""
    if not checkpoints:
        raise HepxaiError("no checkpoint given; pass at least one --checkpoint")
    out = Path(out_dir)
    val_path, noise_path = split_path(data_dir, "val"), split_path(data_dir, "noise")
    val = MuonDataset(val_path)
    if max_events is not None:
        val = MuonDataset(val.file, rows=_rows(len(val), max_events))
    noise = None
    if noise_path.exists():
        noise = MuonDataset(noise_path)
        if max_events is not None:
            noise = MuonDataset(noise.file, rows=_rows(len(noise), max_events))
    # two models of one kind, preset and epoch (from two runs) must not share a label: each
    # would overwrite the other's predictions and table row
    labels = distinct_labels([model_label(c) for c in checkpoints], checkpoints)
    # before any work: per model and validation event 2 predictions, 2 targets and the row,
    # per only-noise event 2 predictions (8 bytes each at most), and the figures
    per_model = 40 * len(val) + 16 * (0 if noise is None else len(noise))
    check_free_space(out, len(checkpoints) * per_model + FIGURES_BYTES,
                     f"the predictions of {len(checkpoints)} model(s) and the figures")
    models = [evaluate_checkpoint(c, val, noise, out, device, label=label)
              for c, label in zip(checkpoints, labels, strict=True)]
    return {"data": str(data_dir), "n_val": len(val), "n_noise": 0 if noise is None
            else len(noise), "models": models}


def evaluate_to(checkpoints: list[str | os.PathLike[str]], data_dir: str | os.PathLike[str],
                out_dir: str | os.PathLike[str], *,
                baselines: str | os.PathLike[str] | None = None, max_events: int | None = None,
                device: str = "cpu") -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``hepxai evaluate muon``: :func:`evaluate_models`, written to ``out_dir/evaluation.json``
    with the turn-on curves at 15 and 10 GeV, the resolution and the confusion matrices at
    15 GeV; the classical baselines of ``baselines`` (a ``baselines.json``, skipped when it does
    not exist) are added to the results and curves. Returns the results and the baselines
    (``None`` without them), what :func:`thesis_tables` prints."""
    from hepxai.core.atomic import write_json_atomic
    from hepxai.viz.evaluation import plot_confusion_matrices
    from hepxai.viz.trigger import plot_resolution, plot_turn_on

    out = Path(out_dir)
    found = None
    if baselines is not None and Path(baselines).exists():  # checked before the long part
        found = _read_baselines(Path(baselines))
    results = evaluate_models(checkpoints, data_dir, out, max_events=max_events, device=device)
    if found is not None:
        results["baselines"] = found["baselines"]
    reference = {} if found is None else found["baselines"]
    for key in ("15", "10"):
        curves = {m["label"]: m["turn_on"][key] for m in results["models"]}
        curves.update({f"baseline: {name}": b["turn_on"][key] for name, b in reference.items()})
        plot_turn_on(curves, float(key), out / f"turn_on_{key}.png")
    resolutions = {m["label"]: m["resolution"] for m in results["models"]}
    resolutions.update({f"baseline: {name}": b["resolution"] for name, b in reference.items()
                        if "resolution" in b})
    plot_resolution(resolutions, out / "resolution.png")
    plot_confusion_matrices({m["label"]: m["confusion_15"] for m in results["models"]}, 15.0,
                            out / "confusion_15.png")
    # last: evaluation.json is the mark of a finished evaluation (the demo and report trust it)
    write_json_atomic(out / "evaluation.json", results)
    return results, found


# -- tables -----------------------------------------------------------------------------------
def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None or (isinstance(value, float) and np.isnan(value)) \
        else format(value, spec)


def _read_baselines(path: Path) -> dict[str, Any]:
    """``baselines.json`` of 'hepxai baselines muon', each baseline checked to carry what the
    tables and curves read (turn-on curves at 15 and 10 GeV)."""
    made_by = "'hepxai baselines muon'"
    found = read_json(path, made_by, ("baselines",))
    entries = found["baselines"]
    broken = [name for name, b in entries.items()
              if not (isinstance(b, dict) and isinstance(b.get("turn_on"), dict)
                      and {"15", "10"} <= set(b["turn_on"]))] \
        if isinstance(entries, dict) else ["baselines"]
    if broken:
        raise HepxaiError(f"{path}: the entry {broken[0]!r} lacks its turn-on curves (damaged, "
                          f"or another hepxai version); re-create it with {made_by}")
    return found


def thesis_tables(results: dict[str, Any], baselines: dict[str, Any] | None = None,
                  conventions: str = "hepxai") -> str:
    """Tables 7.2 (loss, spread, efficiency), 7.4 (efficiency at 10 GeV), 7.5 (only-noise),
    7.3 (classification report at 15 GeV) and model sizes, as text, then both conventions side
    by side. ``conventions="thesis"``: the loss, spread and efficiencies of table 7.2 as the
    thesis' code computes them (:mod:`hepxai.metrics.thesis_code`; the baselines keep
    hepxai's)."""
    if conventions not in thesis_code.CONVENTIONS:
        raise HepxaiError(f"unknown conventions {conventions!r}; choose "
                          f"{' or '.join(thesis_code.CONVENTIONS)}")
    thesis = conventions == "thesis"
    rows = [(m["label"], {**m, "loss": m["thesis_code"]["mae"], **m["thesis_code"]}
             if thesis else m) for m in results["models"]]
    base_rows = []
    if baselines is not None:
        for name, b in baselines["baselines"].items():
            noise = b.get("only_noise") or b.get("only_noise_15")
            base_rows.append((f"baseline: {name}", {
                "loss": None, "spread": b.get("spread"), "efficiency_15": b.get("efficiency_15"),
                "efficiency_10": b.get("efficiency_10"), "only_noise": noise}))
    header = ("Table 7.2/7.4/7.5: regression and selection, the thesis' code conventions "
              "(loss = Keras MAE: the two outputs averaged; efficiency counts >= threshold; "
              f"means of per-batch values, batch {thesis_code.KERAS_BATCH_SIZE}; baselines in "
              "hepxai's)" if thesis else "Table 7.2/7.4/7.5: regression and selection")
    lines = [f"Validation: {results['n_val']:,} events; only-noise: {results['n_noise']:,} "
             "events", "", header,
             f"{'model':<36}{'loss':>9}{'spread':>9}{'eff@15':>9}{'eff@10':>9}"
             f"{'only-noise > 15 GeV':>24}"]
    for label, m in rows + base_rows:
        noise = m.get("only_noise")
        noise_text = "-" if not noise else f"{noise['selected']} ({noise['percent']:.4f}%)"
        lines.append(f"{label:<36}{_fmt(m.get('loss'), '.4f'):>9}"
                     f"{_fmt(m.get('spread'), '.4f'):>9}{_fmt(m.get('efficiency_15'), '.4f'):>9}"
                     f"{_fmt(m.get('efficiency_10'), '.4f'):>9}{noise_text:>24}")
    lines += ["", "Model size and speed",
              f"{'model':<36}{'parameters':>12}{'size [kB]':>11}{'events/s':>11}"
              f"{'latency [ms]':>14}"]
    for label, m in rows:
        lines.append(f"{label:<36}{m['parameters']:>12,}{m['size_bytes'] / 1e3:>11.1f}"
                     f"{m['throughput']['events_per_second']:>11,.0f}"
                     f"{m['throughput']['latency_ms']:>14.2f}")
    for label, m in rows:
        lines += ["", f"Table 7.3: selection at 15 GeV, {label}",
                  trigger.format_classification_report(m["classification_report_15"])]
    lines += ["", "hepxai's conventions vs the thesis' code (the same predictions)",
              f"{'model':<36}{'quantity':<26}{'hepxai':>10}{'thesis':>10}{'difference':>12}"]
    for m in results["models"]:
        for row in m.get("conventions", []):
            lines.append(f"{m['label']:<36}{row['quantity']:<26}{_fmt(row['hepxai'], '.4f'):>10}"
                         f"{_fmt(row['thesis'], '.4f'):>10}"
                         f"{_fmt(row['difference'], '+.4f'):>12}")
    return "\n".join(lines)
