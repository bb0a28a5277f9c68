"""The soft tree's decision-flow study: example figures per category with plain-language
summaries, the leaf usage over the validation set, and the tree's confidence as a
noise-rejection signal (only-noise events vs muon events).

Output (``OUT``): ``tree.json``, ``leaf_usage.png``, ``decision_flow_CATEGORY.png``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from hepxai.core.atomic import write_json_atomic
from hepxai.core.progress import progress
from hepxai.explain.types import TreePath
from hepxai.metrics.trigger import efficiency, fake_rate
from hepxai.usecases.muon.flow import DecisionFlow, plain_language
from hepxai.usecases.muon.loader import MuonDataset, muon_loader
from hepxai.usecases.muon.models.base import MuonRegressor
from hepxai.usecases.muon.store import MuonFile, split_path

THRESHOLD = 15.0
#: confidence cuts: reject the least confident 1%, 5%, 10% of muon events
CUT_QUANTILES = (0.01, 0.05, 0.10)


def flow_of_dataset(flow: DecisionFlow, dataset: MuonDataset, desc: str) -> TreePath:
    """Decision flow (no relevance) of every event of ``dataset``, batch by batch."""
    parts = [flow.explain(x) for x, _ in progress(muon_loader(dataset, batch_size=1024),
                                                  desc=desc, unit="batch")]
    return TreePath(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                      ("branch_probabilities", "leaf_probabilities")),
                    parts[0].leaf_values, np.concatenate([p.outputs for p in parts]),
                    params=parts[0].params)


def confidence_study(muon: TreePath, noise: TreePath, true_pt: np.ndarray) -> dict[str, Any]:
    """How well the tree's confidence separates only-noise from muon events, and what a cut on
    it does to the trigger; computed from the same predictions as the evaluation tables."""
    result: dict[str, Any] = {}
    for name, muon_score, noise_score in (
            ("max_leaf_probability", muon.max_leaf_probability, noise.max_leaf_probability),
            ("entropy", -muon.entropy, -noise.entropy)):
        labels = np.r_[np.zeros(len(muon_score)), np.ones(len(noise_score))]
        # noise events should be the *less* confident ones: score = -confidence
        result[f"auroc_{name}"] = float(roc_auc_score(labels, -np.r_[muon_score, noise_score]))
    selected = muon.outputs[:, 0] > THRESHOLD
    noise_selected = noise.outputs[:, 0] > THRESHOLD
    rows = [{"cut": 0.0, "muon_events_rejected": 0.0,
             "efficiency_15": efficiency(true_pt, selected, THRESHOLD),
             "fake_rate": fake_rate(noise.outputs[:, 0], THRESHOLD)["rate"]}]
    for q in CUT_QUANTILES:
        cut = float(np.quantile(muon.max_leaf_probability, q))
        keep_muon = muon.max_leaf_probability >= cut
        keep_noise = noise.max_leaf_probability >= cut
        rows.append({"cut": cut, "muon_events_rejected": q,
                     "efficiency_15": efficiency(true_pt, selected & keep_muon, THRESHOLD),
                     "fake_rate": float((noise_selected & keep_noise).mean())})
    result["cuts"] = rows
    result["mean_max_leaf_probability"] = {"muon": float(muon.max_leaf_probability.mean()),
                                           "only_noise": float(noise.max_leaf_probability.mean())}
    return result


def feature_maps(model: MuonRegressor, x: torch.Tensor) -> list[np.ndarray]:
    """Channel-averaged outputs of the first three conv blocks (each ends with a ReLU)."""
    body = getattr(model, "body", None)
    if body is None:
        return []
    maps: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda m, i, o: maps.append(o.detach()))
             for m in body.modules() if isinstance(m, torch.nn.ReLU)][:3]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return [m[0].mean(0).numpy() for m in maps[:3]]


def muon_focus(path: TreePath, i: int, truth: np.ndarray, image: np.ndarray) -> float:
    """Share of the path nodes' |relevance| on lit pixels that lies on truth-muon hits."""
    relevance = np.abs(path.node_relevance[i][path.max_probability_path[i]]).sum(0)
    lit = image.astype(bool)
    total = relevance[lit].sum()
    return float(relevance[lit & truth.astype(bool)].sum() / total) if total > 0 else float("nan")


def tree_study(model: MuonRegressor, data_dir: str | os.PathLike[str],
               out: str | os.PathLike[str], per_category: int = 1, pool: int = 5000,
               seed: int = 0, device: str = "cpu") -> str:
    """Run the decision-flow study; returns a plain-text report (also in ``tree.json``)."""
    from hepxai.usecases.muon.flow_figures import plot_decision_flow, plot_leaf_usage
    from hepxai.usecases.muon.study import select_events

    out = Path(out)
    # the plain model, not the BN-folded copy: the confidence cut then acts on exactly the
    # predictions of the evaluation tables (the copy agrees only to float rounding)
    flow = DecisionFlow(model, fused=False)
    val = MuonFile(split_path(data_dir, "val"))
    val_set = MuonDataset(val, rows=np.arange(min(pool, len(val))))
    muon_flow = flow_of_dataset(flow, val_set, "decision flow (validation)")
    true_pt = val_set.targets[:, 0].numpy().astype(np.float64)
    report: dict[str, Any] = {"model": model.name, "preset": model.preset,
                              "n_validation_events": len(val_set)}
    plot_leaf_usage(muon_flow, true_pt, out / "leaf_usage.png")
    usage = np.bincount(muon_flow.best_leaf, minlength=muon_flow.leaf_probabilities.shape[1])
    with np.errstate(invalid="ignore"):
        mean_pt = np.bincount(muon_flow.best_leaf, weights=true_pt, minlength=len(usage)) / usage
    report["leaves"] = [{"leaf": int(l), "events": int(usage[l]),
                         "mean_true_pt": float(mean_pt[l]),
                         "value_pt": float(muon_flow.leaf_values[l, 0]),
                         "value_eta": float(muon_flow.leaf_values[l, 1])}
                        for l in range(len(usage))]  # noqa: E741
    noise_path = split_path(data_dir, "noise")
    if noise_path.exists():
        noise = MuonFile(noise_path)
        noise_flow = flow_of_dataset(flow, MuonDataset(noise, rows=np.arange(min(pool,
                                                                                  len(noise)))),
                                     "decision flow (only noise)")
        report["confidence"] = confidence_study(muon_flow, noise_flow, true_pt)
    events = select_events(model, data_dir, per_category, pool, seed, device)
    examples = []
    seen: set[str] = set()
    for row in range(len(events.ids)):
        category = str(events.categories[row])
        if category in seen:
            continue
        seen.add(category)
        x = torch.from_numpy(events.images[row:row + 1, None].astype(np.float32))
        path = flow.explain(x, relevance=True)
        truth = events.truth[row]
        focus = muon_focus(path, 0, truth, events.images[row]) if truth.any() else None
        labels = tuple(events.labels[row]) if category != "only-noise" else None
        text = plain_language(path, 0, labels, focus)
        figure = out / f"decision_flow_{category}.png"
        plot_decision_flow(path, 0, events.images[row], truth, feature_maps(model, x), labels,
                           figure)
        examples.append({"category": category, "event": int(events.ids[row]),
                         "split": str(events.split[row]), "summary": text,
                         "figure": figure.name,
                         "max_leaf_probability": float(path.max_leaf_probability[0]),
                         "path": path.max_probability_path[0].tolist(),
                         "leaf": int(path.best_leaf[0])})
    report["examples"] = examples
    write_json_atomic(out / "tree.json", report)
    return format_tree_report(report)


def format_tree_report(report: dict[str, Any]) -> str:
    lines = [f"Decision flow of {report['model']} ({report['preset']}), "
             f"{report['n_validation_events']} validation events"]
    confidence = report.get("confidence")
    if confidence:
        lines.append(f"confidence AUROC (only-noise vs muon): max leaf probability "
                     f"{confidence['auroc_max_leaf_probability']:.3f}, entropy "
                     f"{confidence['auroc_entropy']:.3f}")
        lines.append(f"{'cut on max leaf prob':>22}{'muon rejected':>15}{'eff@15':>9}"
                     f"{'fake rate':>11}")
        for row in confidence["cuts"]:
            lines.append(f"{row['cut']:>22.3f}{row['muon_events_rejected']:>15.0%}"
                         f"{row['efficiency_15']:>9.3f}{row['fake_rate']:>11.4%}")
    for example in report["examples"]:
        lines.append(f"[{example['category']}] {example['summary']}")
    return "\n".join(lines)
