"""Binary-path Integrated Gradients (thesis 6.2): the path from the empty image to the event
adds one lit pixel per step, because the inputs are binary hit maps and a straight line through
fractional pixels is not a detector state.

Modes:
    ``thesis``  average of the input gradients along the top-down path (trapezoid rule), a map
                over all pixels, as in the thesis' figures;
    ``exact``   every lit pixel gets ``F(x_k) - F(x_{k-1})`` for the step that adds it, so the
                map sums to ``F(x) - F(empty)`` exactly (completeness);
    ``shapley`` the exact contributions averaged over ``orders`` random orders: Shapley value
                sampling over lit pixels (Strumbelj & Kononenko), unbiased for the Shapley value;
                ``orders="all"`` enumerates every order (exact values, events of <= 8 hits).

Every path of every event of a chunk goes through the model in batches of ``batch_images``
images (:mod:`hepxai.explain.attribution.paths`), never pixel by pixel.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hepxai.core.errors import HepxaiError
from hepxai.core.progress import progress
from hepxai.explain.attribution.paths import (
    all_orders,
    evaluate_paths,
    lit_pixels,
    random_orders,
    step_contributions,
)
from hepxai.explain.base import Explainer, Parts, Targets, event_seeds
from hepxai.explain.modality import Batch, Image, Modality

MODES = ("thesis", "exact", "shapley")


class BinaryPathIG(Explainer):
    """Binary-path IG of binary images; ``mode`` in thesis/exact/shapley, ``orders`` and
    ``seed`` for shapley.

    >>> cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(),
    ...                           torch.nn.Linear(32, 1))
    >>> a = BinaryPathIG(cnn, mode="exact").attribute((torch.rand(3, 1, 6, 6) < 0.2).float())
    >>> bool(a.completeness_error().max() < 1e-5)   # sums to F(x) - F(empty)
    True
    """

    name = "ig-binary"
    complete = True
    modalities = ("image",)
    default_batch_size = 256  # events per chunk; their path images run in batch_images

    def __init__(self, model: Any, *, mode: str = "thesis", orders: int | str = 20,
                 seed: int = 0, batch_images: int = 512, **options: Any):
        if mode not in MODES:
            raise HepxaiError(f"unknown binary IG mode {mode!r}; choose from {', '.join(MODES)}")
        if orders != "all" and (not isinstance(orders, int | np.integer) or orders < 1):
            raise HepxaiError(f"shapley mode needs at least one order, got {orders}")
        options.setdefault("modality", Image(binary=True))
        super().__init__(model, **options)
        self.mode, self.orders, self.seed = mode, orders, seed
        self.batch_images = batch_images
        self.params = {"mode": mode,
                       **({"orders": orders, "seed": seed} if mode == "shapley" else {})}

    def _attribute(self, modality: Modality, batch: Batch, targets: Targets, baselines: Any,
                   ids: np.ndarray) -> Parts:
        if not getattr(modality, "binary", False):
            raise HepxaiError(f"{self.name} walks binary paths; give binary images with "
                              "modality=Image(binary=True)")
        if baselines is not None:
            raise HepxaiError(f"{self.name} starts every path at the empty image; it takes no "
                              "baselines")
        x = batch.x
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

        def forward(images: torch.Tensor) -> torch.Tensor:
            return self.runner(images).reshape(len(images), -1)[:, targets.columns]

        outputs, gradients = evaluate_paths(forward, paths, self.batch_images,
                                            gradients=self.mode == "thesis", progress_bar=bar)
        first = np.concatenate([[0], np.cumsum(paths.lengths + 1)[:-1]])
        last = first + paths.lengths
        one_path = np.unique(owner_of_path, return_index=True)[1]  # first path of each event
        out = torch.from_numpy(outputs[last[one_path]])
        base = torch.from_numpy(outputs[first[one_path]])
        shape = tuple(x.shape[1:])
        if self.mode == "thesis":
            return Parts(gradients.view(b, -1, *shape), out, None)
        contributions = step_contributions(paths, outputs)  # (n_total, T)
        owner = np.repeat(owner_of_path, paths.lengths)
        repeats = np.bincount(owner_of_path, minlength=b).reshape(b, 1, *([1] * len(shape)))
        n_out, n_pixels = contributions.shape[1], paths.n_pixels
        values = np.zeros((n_out, b * n_pixels))
        flat = owner * n_pixels + paths.pixels
        for t in range(n_out):
            values[t] = np.bincount(flat, contributions[:, t], minlength=b * n_pixels)
        values = np.moveaxis(values.reshape(n_out, b, *shape), 0, 1) / np.maximum(repeats, 1)
        return Parts(np.ascontiguousarray(values), out, base)
