"""Binary-path Integrated Gradients (thesis 6.2): the path from the empty image to the event
adds one lit pixel per step, because the inputs are binary and a straight line through
fractional pixels is not a detector state.

Modes:
    ``thesis``  average of the input gradients along the top-down path (trapezoid rule), a map
                over all pixels, as in the thesis' figures;
    ``exact``   every lit pixel gets ``F(x_k) - F(x_{k-1})`` for the step that adds it, so the
                map sums to ``F(x) - F(empty)`` exactly (completeness);
    ``shapley`` the exact contributions averaged over ``orders`` random orders: Shapley value
                sampling over lit pixels (Strumbelj & Kononenko), unbiased for the Shapley value;
                ``orders="all"`` enumerates every order (exact values, events of <= 8 hits).
"""

from __future__ import annotations

import numpy as np
import torch

from hepxai.core.errors import HepxaiError
from hepxai.core.progress import progress
from hepxai.explain.attribution.base import ImageAttributionMethod
from hepxai.explain.attribution.paths import (
    N_PIXELS,
    all_orders,
    evaluate_paths,
    lit_pixels,
    random_orders,
    step_contributions,
)
from hepxai.explain.registry import register

MODES = ("thesis", "exact", "shapley")


@register("ig-binary", "muon")
class BinaryPathIG(ImageAttributionMethod):
    """Binary-path IG; ``mode`` in thesis/exact/shapley, ``orders`` and ``seed`` for shapley."""

    batch_size = 256  # events per call; the path images go through the model in batch_images

    def __init__(self, model, targets=None, mode: str = "thesis", orders: int | str = 20,
                 seed: int = 0, batch_size: int | None = None, batch_images: int = 512,
                 fused: bool = True):
        if mode not in MODES:
            raise HepxaiError(f"unknown binary IG mode {mode!r}; choose from {', '.join(MODES)}")
        if orders != "all" and (not isinstance(orders, int | np.integer) or orders < 1):
            raise HepxaiError(f"shapley mode needs at least one order, got {orders}")
        params = {"mode": mode, **({"orders": orders, "seed": seed} if mode == "shapley" else {})}
        super().__init__(model, targets, batch_size, fused, **params)
        self.mode, self.orders, self.seed = mode, orders, seed
        self.batch_images = batch_images

    def _attribute(self, x: torch.Tensor, ids: np.ndarray):
        b = len(x)
        paths = lit_pixels(x)
        owner_of_path = np.arange(paths.n_paths)
        if self.mode == "shapley" and self.orders == "all":
            paths, owner_of_path = all_orders(paths)
        elif self.mode == "shapley":
            # orders seeded per (seed, event id): an event's explanation does not depend on
            # which other events share its batch
            paths, owner_of_path = random_orders(paths, self.orders, event_seeds(self.seed, ids))
        bar = (lambda it: progress(it, desc=f"binary IG ({self.mode})", unit="batch")) \
            if paths.n_images > 20 * self.batch_images else None
        outputs, gradients = evaluate_paths(self.outputs, paths, self.batch_images,
                                            gradients=self.mode == "thesis", progress_bar=bar)
        first = np.concatenate([[0], np.cumsum(paths.lengths + 1)[:-1]])
        last = first + paths.lengths
        one_path = np.unique(owner_of_path, return_index=True)[1]  # first path of each event
        out = torch.from_numpy(outputs[last[one_path]])
        base = torch.from_numpy(outputs[first[one_path]])
        if self.mode == "thesis":
            return gradients.view(b, -1, 9, 384), out, None
        contributions = step_contributions(paths, outputs)  # (n_total, T)
        owner = np.repeat(owner_of_path, paths.lengths)
        repeats = np.bincount(owner_of_path, minlength=b).reshape(b, 1, 1, 1)
        n_out = contributions.shape[1]
        values = np.zeros((n_out, b * N_PIXELS))
        flat = owner * N_PIXELS + paths.pixels
        for t in range(n_out):
            values[t] = np.bincount(flat, contributions[:, t], minlength=b * N_PIXELS)
        values = values.reshape(n_out, b, 9, 384).transpose(1, 0, 2, 3) / np.maximum(repeats, 1)
        return torch.from_numpy(np.ascontiguousarray(values)), out, base


def event_seeds(seed: int, ids: np.ndarray) -> np.ndarray:
    """One RNG seed per event from the method's seed and the event's id."""
    return (np.asarray(ids, np.int64) * 1_000_003 + int(seed) * 7_919) % (2**62)
