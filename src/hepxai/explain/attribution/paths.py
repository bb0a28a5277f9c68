"""Binary paths through the model: images that gain one lit pixel per step.

A *path* is an ordered list of pixels ``p_1 .. p_n`` (flat indices into one image of shape
``(C, H, W)``); its images are ``x_0`` (empty) and ``x_k`` = pixels ``p_1 .. p_k`` lit.
Binary-path IG, Shapley sampling, SmoothGrad on top of them, and the deletion curves of the
judging code all evaluate many such paths; this module builds their images chunk by chunk (all
paths of many events in one batch, vectorised with offsets, never pixel by pixel) and returns
the model outputs at every step and, on request, the trapezoid-weighted sum of the input
gradients along each path.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from hepxai.core.errors import HepxaiError
from hepxai.core.sparse import ragged_positions


@dataclass
class Paths:
    """Ragged pixel orders: path ``p`` is ``pixels[offsets[p]:offsets[p + 1]]`` (flat indices
    into images of ``shape``)."""

    offsets: np.ndarray  # (n_paths + 1,) int64
    pixels: np.ndarray  # (n_total,) int64
    shape: tuple[int, ...]  # (C, H, W) of one image

    @property
    def n_pixels(self) -> int:
        return int(np.prod(self.shape))

    @property
    def n_paths(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def n_images(self) -> int:
        """Images over all paths: ``n + 1`` per path (the empty start included)."""
        return int(self.lengths.sum()) + self.n_paths


def lit_pixels(x: torch.Tensor) -> Paths:
    """Lit pixels of ``(b, C, H, W)`` images in top-down (row-major) order, one path each."""
    flat = x.reshape(len(x), -1)
    event, pixel = torch.nonzero(flat, as_tuple=True)  # row-major, sorted by event
    counts = np.bincount(event.numpy(), minlength=len(x))
    return Paths(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
                 pixel.numpy().astype(np.int64), tuple(x.shape[1:]))


def random_orders(paths: Paths, repeats: int, seeds: np.ndarray) -> tuple[Paths, np.ndarray]:
    """``repeats`` random permutations of every path, path ``p`` seeded by ``seeds[p]``.

    Returns the new paths (path ``p * repeats + r`` is repeat ``r`` of path ``p``) and the
    original path of each. The orders of one event do not depend on the others in its batch.
    """
    lengths = paths.lengths
    keys = np.empty(repeats * paths.offsets[-1])
    out_offsets = np.concatenate([[0], np.cumsum(np.repeat(lengths, repeats))]).astype(np.int64)
    for p in range(paths.n_paths):  # one RNG draw per event, vectorised over its repeats
        rng = np.random.default_rng(int(seeds[p]))
        start = out_offsets[p * repeats]
        keys[start:start + repeats * lengths[p]] = rng.random(repeats * lengths[p])
    owner = np.repeat(np.arange(paths.n_paths * repeats), np.repeat(lengths, repeats))
    order = np.lexsort((keys, owner))  # within each repeated path, sort by its random keys
    source, _ = ragged_positions(paths.offsets, np.repeat(np.arange(paths.n_paths), repeats))
    return Paths(out_offsets, paths.pixels[source][order], paths.shape), \
        np.repeat(np.arange(paths.n_paths), repeats)


def all_orders(paths: Paths, max_pixels: int = 8) -> tuple[Paths, np.ndarray]:
    """Every permutation of every path (exact Shapley values); paths of at most ``max_pixels``.

    Returns the new paths and, for each, the original path it permutes.
    """
    longest = int(paths.lengths.max(initial=0))
    if longest > max_pixels:
        raise HepxaiError(f"all orders of {longest} pixels is {math.factorial(longest):,} paths; "
                          f"use random orders (an integer) for events with more than "
                          f"{max_pixels} lit pixels")
    pieces, owners = [], []
    for p in range(paths.n_paths):  # tiny events only: n! orders each, n <= 8
        pixels = paths.pixels[paths.offsets[p]:paths.offsets[p + 1]]
        orders = np.array(list(itertools.permutations(pixels)), dtype=np.int64).reshape(
            -1, len(pixels))
        pieces.append(orders.ravel())
        owners.append(np.full(len(orders), p))
    owner = np.concatenate(owners)
    lengths = paths.lengths[owner]
    return Paths(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
                 np.concatenate(pieces), paths.shape), owner


def path_images(paths: Paths, image_ids: np.ndarray) -> torch.Tensor:
    """Dense images ``(m, C, H, W)`` for global image numbers ``image_ids`` of ``paths``."""
    path_of, step_of = image_index(paths)
    path, step = path_of[image_ids], step_of[image_ids]
    # image j holds the first step[j] pixels of its path
    owner = np.repeat(np.arange(len(image_ids)), step)
    rank = np.arange(len(owner)) - np.repeat(np.cumsum(step) - step, step)
    positions = paths.offsets[path][owner] + rank
    dense = torch.zeros(len(image_ids), paths.n_pixels)
    dense[torch.from_numpy(owner), torch.from_numpy(paths.pixels[positions])] = 1.0
    return dense.view(-1, *paths.shape)


def image_index(paths: Paths) -> tuple[np.ndarray, np.ndarray]:
    """For every image of every path: its path and its step (0 = empty image)."""
    steps = paths.lengths + 1
    path_of = np.repeat(np.arange(paths.n_paths), steps)
    step_of = np.arange(len(path_of)) - np.repeat(np.cumsum(steps) - steps, steps)
    return path_of, step_of


def evaluate_paths(forward: Callable[[torch.Tensor], torch.Tensor], paths: Paths,
                   batch_images: int = 512, gradients: bool = False,
                   progress_bar: Callable | None = None) -> tuple[np.ndarray, torch.Tensor | None]:
    """Model outputs at every step of every path, and optionally the trapezoid-averaged gradients.

    Parameters:
        forward: images ``(m, C, H, W)`` -> outputs ``(m, T)``.
        paths: the pixel orders.
        batch_images: images per forward pass.
        gradients: also return ``(n_paths, T, C*H*W)``: for each path and output, the average of
            ``dF/dx`` along the path by the trapezoid rule (weights ``1/2n, 1/n, ..., 1/2n``);
            zero for empty paths.

    Returns:
        outputs: float64 ``(n_images, T)`` ordered path by path, step by step.
        path_gradients or None.
    """
    path_of, step_of = image_index(paths)
    lengths = paths.lengths
    n_images = len(path_of)
    outputs: list[np.ndarray] = []
    summed: torch.Tensor | None = None
    if gradients:
        n = lengths[path_of].astype(np.float64)
        end = (step_of == 0) | (step_of == n)
        weights = np.where(n > 0, np.where(end, 0.5, 1.0) / np.maximum(n, 1), 0.0)
    starts = range(0, n_images, batch_images)
    for start in (progress_bar(starts) if progress_bar else starts):
        ids = np.arange(start, min(start + batch_images, n_images))
        x = path_images(paths, ids)
        if not gradients:
            with torch.no_grad():
                outputs.append(forward(x).double().numpy())
            continue
        x.requires_grad_(True)
        with torch.enable_grad():
            out = forward(x)
            n_out = out.shape[1]
            if summed is None:
                summed = torch.zeros(paths.n_paths, n_out, paths.n_pixels)
            w = torch.from_numpy(weights[ids]).float().view(-1, 1)
            owner = torch.from_numpy(path_of[ids])
            for t in range(n_out):
                grad = torch.autograd.grad(out[:, t].sum(), x, retain_graph=t + 1 < n_out)[0]
                summed[:, t].index_add_(0, owner, grad.reshape(len(ids), -1) * w)
        outputs.append(out.detach().double().numpy())
    return np.concatenate(outputs), summed


def step_contributions(paths: Paths, outputs: np.ndarray) -> np.ndarray:
    """``F(x_k) - F(x_{k-1})`` for the pixel each step adds: ``(n_total, T)``, path by path."""
    path_of, step_of = image_index(paths)
    differences = np.diff(outputs, axis=0)
    # image j >= 1 of a path minus image j - 1 of the same path; drop the cross-path rows
    keep = step_of[1:] > 0
    return differences[keep]
