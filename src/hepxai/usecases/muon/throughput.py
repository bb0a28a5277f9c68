"""Inference speed of a model: events per second in batches, and single-event latency."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from hepxai.usecases.muon.models.base import MuonRegressor


def _median_seconds(call: Callable[[], object], repeats: int, device: str = "cpu") -> float:
    """Median wall time of ``call()`` after one warm-up call."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _example_batch(n: int, channels_last: bool, device: str) -> torch.Tensor:
    # ~20 lit pixels an image, like the data; dense convolutions do not care about the values,
    # but this keeps any sparse shortcut honest
    generator = torch.Generator().manual_seed(0)
    x = (torch.rand(n, 1, 9, 384, generator=generator) < 20 / 3456).float().to(device)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


@torch.no_grad()
def measure_throughput(model: MuonRegressor, device: str = "cpu", batch_size: int = 1024,
                       repeats: int = 5, latency_repeats: int = 50) -> dict[str, float]:
    """``events_per_second`` at ``batch_size`` and median ``latency_ms`` for one event."""
    model.eval()
    batch = _example_batch(batch_size, model.recipe.channels_last, device)
    single = _example_batch(1, model.recipe.channels_last, device)
    return {"events_per_second": batch_size / _median_seconds(lambda: model(batch), repeats,
                                                              device),
            "latency_ms": 1e3 * _median_seconds(lambda: model(single), latency_repeats, device),
            "batch_size": batch_size}


def measure_tree_throughput(model, dataset, batch_size: int = 1024, repeats: int = 5,
                            latency_repeats: int = 50) -> dict[str, float]:
    """The same numbers for a scikit-learn tree, on real lit-pixel images of ``dataset``."""
    rows = dataset.rows[:batch_size]
    batch, single = dataset.images.take(rows), dataset.images.take(rows[:1])
    return {"events_per_second": rows.size / _median_seconds(
                lambda: model.predict_images(batch), repeats),
            "latency_ms": 1e3 * _median_seconds(lambda: model.predict_images(single),
                                                latency_repeats),
            "batch_size": int(rows.size)}
