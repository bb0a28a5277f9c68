"""Benchmark of the soft tree's decision flow: extraction for many events, one thesis-7.6
figure, and the confidence (max leaf probability) as a noise-rejection signal.

    .venv/bin/python bench/tree.py --checkpoint RUN/models/convsdt-distilled/best.pt \
        --data RUN/data [--events 10000]

Writes ``bench/sections/tree.md``. The extraction is compared with a simple reference in the
same process: every event on its own, the 31 node probabilities one node at a time and the 32
leaf reach probabilities by walking each leaf's root path in Python (timed on a few hundred
events and scaled).
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch

from hepxai.io.checkpoint import load_model, read_checkpoint
from hepxai.usecases.muon.decision_flow import confidence_study, feature_maps, flow_of_dataset
from hepxai.usecases.muon.flow import DecisionFlow, tree_input
from hepxai.usecases.muon.flow_figures import plot_decision_flow
from hepxai.usecases.muon.loader import MuonDataset
from hepxai.usecases.muon.store import MuonFile, split_path

HERE = Path(__file__).resolve().parent


def reference_flow(model, images: torch.Tensor) -> np.ndarray:
    """Leaf reach probabilities ``(n, 32)`` the slow way: per event, per node, per leaf."""
    tree = model.tree
    out = np.zeros((len(images), tree.n_leaves))
    with torch.no_grad():
        for e in range(len(images)):
            features = tree_input(model, images[e:e + 1])[0]
            p = [float(torch.sigmoid(tree.inner.weight[n] @ features + tree.inner.bias[n]))
                 for n in range(tree.n_leaves - 1)]
            for leaf in range(tree.n_leaves):
                node, reach = 0, 1.0
                for level in range(tree.depth):
                    left = not (leaf >> (tree.depth - 1 - level)) & 1
                    reach *= p[node] if left else 1.0 - p[node]
                    node = 2 * node + (1 if left else 2)
                out[e, leaf] = reach
    return out


def _describe(checkpoint: Path) -> str:
    state = read_checkpoint(checkpoint, use_case="muon")
    identity = state.get("identity", {})
    teacher = identity.get("teacher")
    return (f"{identity.get('model')} ({identity.get('preset')}) trained on "
            f"{identity.get('n_train', 0):,} events for {state.get('epoch')} epoch(s)"
            + (f", distilled from {teacher}" if teacher else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--reference-events", type=int, default=300)
    parser.add_argument("--out", type=Path, default=HERE / "sections" / "tree.md")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = load_model(args.checkpoint, use_case="muon")
    flow = DecisionFlow(model)
    val = MuonFile(split_path(args.data, "val"))
    n = min(args.events, len(val))
    images = torch.from_numpy(val.images.to_dense(np.arange(n))[:, None].astype(np.float32))

    flow.explain(images[:256])  # warm-up
    start = time.perf_counter()
    path = flow.explain(images)
    extraction = time.perf_counter() - start
    m = min(args.reference_events, n)
    start = time.perf_counter()
    reference = reference_flow(model, images[:m])
    reference_seconds = (time.perf_counter() - start) * n / m
    max_diff = float(np.abs(reference - path.leaf_probabilities[:m]).max())

    # one figure: relevance of the 31 nodes for one event, feature maps, the drawing
    row = int(np.argmax(path.max_leaf_probability))
    x = images[row:row + 1]
    truth = val.truth.to_dense(np.array([row]))[0] if val.truth is not None else None
    start = time.perf_counter()
    one = flow.explain(x, relevance=True)
    plot_decision_flow(one, 0, val.images.to_dense(np.array([row]))[0], truth,
                       feature_maps(model, x),
                       (float(val.labels["pt"][row]), float(val.labels["eta"][row])),
                       Path("/tmp") / "bench_decision_flow.png")
    figure = time.perf_counter() - start

    # confidence on the whole validation set and >= 100k only-noise events
    val_set = MuonDataset(val)
    muon = flow_of_dataset(flow, val_set, "validation")
    noise = flow_of_dataset(flow, MuonDataset(MuonFile(split_path(args.data, "noise"))),
                            "only noise")
    confidence = confidence_study(muon, noise, val_set.targets[:, 0].numpy().astype(np.float64))

    lines = [
        "## Decision flow of the soft tree (muon)",
        "",
        f"Command: `.venv/bin/python bench/tree.py --checkpoint {args.checkpoint} "
        f"--data {args.data}` ({torch.get_num_threads()} threads, {platform.machine()}, "
        f"torch {torch.__version__}). Model: {_describe(args.checkpoint)}.",
        "",
        "| what | seconds | target |",
        "| --- | ---: | ---: |",
        f"| decision flow of {n:,} validation events (branch and leaf probabilities, leaf "
        f"values, outputs; no relevance images) | {extraction:.2f} | <= 10 |",
        f"| reference: per event, per node, per leaf in Python ({m} events timed, scaled to "
        f"{n:,}) | {reference_seconds:.1f} | |",
        f"| one thesis-7.6 figure (31 node relevance images by one batched backward, feature "
        f"maps, drawing) | {figure:.2f} | <= 5 |",
        "",
        f"Speed-up of the extraction over the reference: {reference_seconds / extraction:.0f}x "
        f"(largest difference of the leaf probabilities {max_diff:.1e}).",
        "",
        f"Confidence as a noise-rejection signal ({len(val_set):,} validation events, "
        f"{len(noise.outputs):,} only-noise events): AUROC only-noise vs muon events of the "
        f"maximum leaf probability {confidence['auroc_max_leaf_probability']:.3f}, of the leaf "
        f"entropy {confidence['auroc_entropy']:.3f}; mean max leaf probability "
        f"{confidence['mean_max_leaf_probability']['muon']:.3f} (muon) vs "
        f"{confidence['mean_max_leaf_probability']['only_noise']:.3f} (only noise).",
        "",
        "| cut on max leaf probability | muon events rejected | efficiency 15 GeV | "
        "only-noise fake rate (15 GeV) |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for r in confidence["cuts"]:
        lines.append(f"| {r['cut']:.3f} | {100 * r['muon_events_rejected']:.0f}% | "
                     f"{r['efficiency_15']:.4f} | {100 * r['fake_rate']:.4f}% |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
