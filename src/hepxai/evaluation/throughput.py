"""Inference speed of a model: events per second in batches, and single-event latency."""

from __future__ import annotations

import time

import numpy as np
import torch

from hepxai.models.base import MuonRegressor


def _example_batch(n: int, channels_last: bool, device: str) -> torch.Tensor:
    # ~20 lit pixels an image, like the data; the speed of dense convolutions does not depend
    # on the values, but this keeps any sparse shortcut honest
    generator = torch.Generator().manual_seed(0)
    x = (torch.rand(n, 1, 9, 384, generator=generator) < 20 / 3456).float().to(device)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


@torch.no_grad()
def measure_throughput(model: MuonRegressor, device: str = "cpu", batch_size: int = 1024,
                       repeats: int = 5, latency_repeats: int = 50) -> dict[str, float]:
    """``events_per_second`` at ``batch_size`` and median ``latency_ms`` for one event."""
    model.eval()
    cl = model.recipe.channels_last
    batch = _example_batch(batch_size, cl, device)
    single = _example_batch(1, cl, device)
    model(batch)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(batch)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    latencies = []
    for _ in range(latency_repeats):
        start = time.perf_counter()
        model(single)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        latencies.append(time.perf_counter() - start)
    return {"events_per_second": batch_size / float(np.median(times)),
            "latency_ms": 1e3 * float(np.median(latencies)), "batch_size": batch_size}


def measure_tree_throughput(model, dataset, batch_size: int = 1024,
                            latency_repeats: int = 50) -> dict[str, float]:
    """The same numbers for a scikit-learn tree, on real lit-pixel images of ``dataset``."""
    rows = dataset.rows[:batch_size]
    batch = dataset.images.take(rows)
    single = dataset.images.take(rows[:1])
    model.predict_images(batch)
    start = time.perf_counter()
    model.predict_images(batch)
    seconds = time.perf_counter() - start
    latencies = []
    for _ in range(latency_repeats):
        start = time.perf_counter()
        model.predict_images(single)
        latencies.append(time.perf_counter() - start)
    return {"events_per_second": rows.size / seconds,
            "latency_ms": 1e3 * float(np.median(latencies)), "batch_size": int(rows.size)}
