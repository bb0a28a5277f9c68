"""Benchmark of the muon attribution methods: SmoothGrad (n = 100, sigma = 2%) on binary-path
IG per event, against the reference algorithm of the thesis' published code run in the same
process; and the cost of every method per event.

    .venv/bin/python bench/explain.py [--reference-copies 20]

Writes bench/sections/explain.md and rebuilds bench/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import publish_section  # noqa: E402

from hepxai.explain import (  # noqa: E402
    BinaryPathIG,
    IntegratedGradients,
    RegressionActivationMap,
    Saliency,
    SmoothGrad,
    salt_and_pepper,
)
from hepxai.usecases.muon.models import create  # noqa: E402
from hepxai.usecases.muon.store import MuonFile  # noqa: E402


def reference_smoothgrad(model, image: np.ndarray, copies: int, sigma: float,
                         seed: int) -> np.ndarray:
    """The published algorithm: noise pixel by pixel in a Python double loop, then one binary
    IG path per noisy copy, each copy's path through the (original) model on its own."""
    rng = np.random.default_rng(seed)
    total = np.zeros(image.shape)
    for _ in range(copies):
        noisy = image.copy()
        for r in range(image.shape[0]):
            for c in range(image.shape[1]):
                if noisy[r, c] == 0 and rng.random() < sigma:
                    noisy[r, c] = 1
        lit = np.flatnonzero(noisy)
        path = np.zeros((len(lit) + 1, image.size), np.float32)
        for k in range(1, len(lit) + 1):
            path[k, lit[:k]] = 1
        x = torch.from_numpy(path).view(-1, 1, *image.shape).requires_grad_(True)
        grad = torch.autograd.grad(model(x)[:, 0].sum(), x)[0].view(len(path), -1).numpy()
        weights = np.full(len(path), 1.0 / max(len(lit), 1))
        weights[[0, -1]] *= 0.5
        total += (weights[:, None] * grad).sum(0).reshape(image.shape)
    return total / copies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/muon"))
    parser.add_argument("--reference-copies", type=int, default=20,
                        help="noisy copies the (slow) reference runs; its time is scaled to 100")
    parser.add_argument("--events", type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = create("attribution-cnn", "fast", seed=1).eval()
    val = MuonFile(args.data / "val.h5")
    counts = val.images.counts[:200]
    rows = np.flatnonzero((counts >= 20) & (counts <= 40))[:args.events]  # typical events
    images = val.images.to_dense(rows).astype(np.float32)
    lines = ["## Attribution methods (muon)", "",
             f"Command: `.venv/bin/python bench/explain.py --data {args.data}` (2 cores; an "
             "untrained fast Attribution CNN: the cost does not depend on the weights; target "
             "pT; validation events with "
             f"{', '.join(str(int(counts[r])) for r in rows)} hits).", ""]

    smooth = SmoothGrad(BinaryPathIG(model, mode="thesis"), noise=salt_and_pepper(0.02),
                        n_samples=100)
    images = images[:, None]  # (n, 1, 9, 384)
    smooth.attribute(images[:1], target="pt")  # warm-up (fused copy, allocator)
    started = time.perf_counter()
    smooth.attribute(images, target="pt")
    ours = (time.perf_counter() - started) / len(rows)

    started = time.perf_counter()
    for i in range(len(rows)):
        reference_smoothgrad(model, images[i, 0], args.reference_copies, 0.02, seed=i)
    reference = (time.perf_counter() - started) / len(rows) * 100 / args.reference_copies
    lines += ["| SmoothGrad, n = 100, sigma = 2%, binary-path IG (thesis mode) | s / event |",
              "|---|---:|",
              f"| hepxai (all copies and path images batched, BN folded) | {ours:.2f} |",
              f"| reference (pixel loop noise, one copy at a time; {args.reference_copies} "
              f"copies timed, scaled to 100) | {reference:.2f} |",
              f"| speed-up | {reference / ours:.1f}x |", ""]

    rows_methods = []
    for label, method in [("saliency", Saliency(model)),
                          ("RAM (grad-cam form)", RegressionActivationMap(model)),
                          ("IG, 50 steps", IntegratedGradients(model, n_steps=50)),
                          ("binary IG, thesis", BinaryPathIG(model)),
                          ("binary IG, exact", BinaryPathIG(model, mode="exact")),
                          ("binary IG, shapley, 20 orders",
                           BinaryPathIG(model, mode="shapley", orders=20))]:
        batch = np.repeat(images, 8, axis=0)
        method.attribute(batch[:2], target="pt")
        started = time.perf_counter()
        method.attribute(batch, target="pt")
        per_event_ms = (time.perf_counter() - started) / len(batch) * 1e3
        rows_methods.append(f"| {label} | {per_event_ms:.1f} |")
    lines += ["| method (16 events per call) | ms / event |", "|---|---:|", *rows_methods, ""]
    target = ours <= 5.0
    lines += [f"Target: at most 5 s per event and at least 20x the reference: "
              f"{'met' if target else 'not met'} for time ({ours:.1f} s), "
              f"{'met' if reference / ours >= 20 else 'not met'} for the speed-up "
              f"({reference / ours:.1f}x).", ""]
    publish_section("explain", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
