"""Faithfulness by deletion: remove an example's items in the order a method ranks them and
watch the prediction; a faithful map finds the items that carry the prediction faster than a
random order does.

Two ways to walk a curve:

* every step, for binary images (:func:`path_deletion_curves`): lit pixels are switched off one
  by one, read from the binary-path machinery (all steps of many events in one batch); the
  curve has ``n_lit + 1`` points;
* at fractions of each example's items (:func:`deletion_outputs`): the top ``floor(f n)``
  items removed (at most ``n - 1``, so a graph keeps a node), through the modality's
  :meth:`~hepxai.explain.modality.Modality.remove` (pixels or features set to the baseline;
  graphs: the induced subgraph of the rest), every example of a chunk in one forward pass per
  fraction.

The gap (:func:`deletion_gap`) is the mean over the curve's points of (random-order curve -
method-order curve), in the output's units: positive when the method is faithful.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from hepxai.core import ragged
from hepxai.explain.attribution.paths import Paths, evaluate_paths
from hepxai.explain.modality import Batch, Modality

FRACTIONS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)


def removed_counts(n_items: np.ndarray, fraction: float) -> np.ndarray:
    """Items removed per example at ``fraction``: ``floor(f n)``, at most ``n - 1``."""
    n_items = np.asarray(n_items, np.int64)
    return np.minimum(np.floor(fraction * n_items + 1e-9).astype(np.int64),
                      np.maximum(n_items - 1, 0))


def path_deletion_curves(forward: Callable[[torch.Tensor], torch.Tensor], images: np.ndarray,
                         order_scores: np.ndarray, batch_images: int = 512) -> list[np.ndarray]:
    """Prediction while the lit pixels of binary images ``(n, C, H, W)`` (or ``(n, H, W)``) are
    switched off in decreasing ``order_scores`` (same shape).

    ``forward``: images -> ``(m, 1)`` the explained output. Returns one array per example of
    length ``n_lit + 1``: the output with ``0, 1, ..., n_lit`` pixels removed.
    """
    images = np.asarray(images).astype(bool)
    shape = images.shape[1:] if images.ndim == 4 else (1, *images.shape[1:])
    flat_images = images.reshape(len(images), -1)
    scores = np.asarray(order_scores, np.float64).reshape(len(images), -1)
    # deletion in order o_1..o_n == the addition path of the reversed order, read backwards
    order = np.argsort(np.where(flat_images, scores, np.inf), axis=1, kind="stable")
    counts = flat_images.sum(1)
    # the first counts[i] entries of row i: its lit pixels by ascending score
    pixels = order[np.arange(order.shape[1])[None, :] < counts[:, None]].astype(np.int64)
    paths = Paths(ragged.offsets_of(counts), pixels, tuple(shape))
    outputs, _ = evaluate_paths(forward, paths, batch_images)
    starts = ragged.offsets_of(counts + 1)
    return [outputs[starts[i]:starts[i + 1], 0][::-1] for i in range(len(counts))]


def deletion_outputs(forward: Callable[[Batch], torch.Tensor], modality: Modality,
                     batch: Batch, scores: np.ndarray, real: np.ndarray,
                     fractions=FRACTIONS, baseline=None) -> np.ndarray:
    """The explained output ``(n, n_fractions)`` after removing each example's
    :func:`removed_counts` highest-``scores`` real items.

    ``scores`` and ``real`` are per item in the modality's layout: dense ``(n, *item_shape)``,
    graphs ``(n_nodes_total,)``.
    """
    scores = np.asarray(scores, np.float64)
    real = np.asarray(real, bool)
    ragged_items = batch.offsets is not None
    if ragged_items:
        rank = ragged.ranks_within(np.where(real, scores, -np.inf), batch.offsets)
        n_items = np.diff(batch.offsets)
    else:
        flat = np.where(real, scores, -np.inf).reshape(batch.n, -1)
        order = np.argsort(-flat, axis=1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(flat.shape[1])[None, :].repeat(batch.n, 0), 1)
        rank = rank.reshape(real.shape)
        n_items = real.reshape(batch.n, -1).sum(1)
    out = np.empty((batch.n, len(fractions)))
    with torch.no_grad():
        for j, fraction in enumerate(fractions):
            removed = removed_counts(n_items, fraction)
            # an item stays when its rank is past its example's removed count
            if ragged_items:
                keep = rank >= np.repeat(removed, n_items)
            else:
                keep = (rank >= removed.reshape(-1, *([1] * (rank.ndim - 1)))) | ~real
            out[:, j] = forward(modality.remove(batch, keep, baseline)).double().numpy()
    return out


def deletion_gap(method: list[np.ndarray] | np.ndarray, random: list[np.ndarray] | np.ndarray
                 ) -> np.ndarray:
    """Mean over a curve's points of (random-order curve - method-order curve), per example
    (curves: a list of arrays, or ``(n, n_points)``); NaN for a curve of one point."""
    return np.array([np.mean(r - a) if len(a) > 1 else np.nan
                     for a, r in zip(method, random, strict=True)])


def mean_curve(curves: list[np.ndarray], points: int = 21) -> np.ndarray:
    """Curves of any lengths resampled on the fraction of items removed (0..1), each relative
    to its own start, and averaged: ``(points,)``."""
    grid = np.linspace(0, 1, points)
    resampled = [np.interp(grid, np.linspace(0, 1, len(c)), c - c[0]) for c in curves
                 if len(c) > 1]
    return np.mean(resampled, axis=0) if resampled else np.full(points, np.nan)
