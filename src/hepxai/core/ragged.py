"""Ragged arrays: the items of many examples (hits of events, nodes of graphs) in one flat array
with ``offsets`` (example ``i`` owns ``flat[offsets[i]:offsets[i + 1]]``), and the vectorised
operations every use case needs on them, with no loop over examples.
"""

from __future__ import annotations

import numpy as np


def offsets_of(counts: np.ndarray) -> np.ndarray:
    """Offsets ``(n + 1,)`` int64 of examples with ``counts`` items each."""
    offsets = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(np.asarray(counts, np.int64), out=offsets[1:])
    return offsets


def offsets_problem(offsets: np.ndarray, n_items: int) -> str | None:
    """What is wrong with ``offsets`` of a flat array of ``n_items``, or None: they must be
    one-dimensional integers starting at 0, never decreasing, ending at ``n_items`` (vectorised:
    one pass over the offsets, none over the items).

    >>> offsets_problem(np.array([0, 2, 1, 3]), 3)
    'decrease (at example 1)'
    """
    if offsets.ndim != 1 or offsets.size == 0:
        return f"have shape {offsets.shape}, not (n + 1,)"
    if not np.issubdtype(offsets.dtype, np.integer):
        return f"are {offsets.dtype}, not integers"
    if offsets[0] != 0 or offsets[-1] != n_items:
        return f"run from {offsets[0]} to {offsets[-1]}, not from 0 to {n_items}"
    steps = np.diff(offsets)
    if steps.size and steps.min() < 0:
        return f"decrease (at example {int(np.argmax(steps < 0))})"
    return None


def owners(offsets: np.ndarray) -> np.ndarray:
    """The example of every item ``(n_items,)`` from ``offsets`` ``(n + 1,)``."""
    return np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))


def arange(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + c)`` for every ``(s, c)``."""
    counts = np.asarray(counts, np.int64)
    group_start = np.cumsum(counts) - counts
    return (np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(group_start, counts)
            + np.repeat(np.asarray(starts, np.int64), counts))


def take(offsets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat positions of the items of examples ``rows`` (any order, repeats allowed), example
    by example, and for each position the index *into ``rows``* it belongs to.

    >>> [a.tolist() for a in take(np.array([0, 2, 5]), np.array([1, 0]))]
    [[2, 3, 4, 0, 1], [0, 0, 0, 1, 1]]
    """
    rows = np.asarray(rows, dtype=np.int64)
    starts = np.asarray(offsets)[rows]
    counts = np.asarray(offsets)[rows + 1] - starts
    return arange(starts, counts), np.repeat(np.arange(rows.size, dtype=np.int64), counts)


def pad(values: np.ndarray, offsets: np.ndarray, fill: float = 0.0
        ) -> tuple[np.ndarray, np.ndarray]:
    """Ragged ``(n_items,)`` -> dense ``(n, max_items)`` rows and their bool mask, so row-wise
    statistics (ranks, AUROC) serve ragged examples unchanged.

    >>> rows, mask = pad(np.array([1.0, 2.0, 3.0]), np.array([0, 2, 3]))
    >>> rows.tolist(), mask.tolist()
    ([[1.0, 2.0], [3.0, 0.0]], [[True, True], [True, False]])
    """
    counts = np.diff(offsets)
    owner = owners(offsets)
    slot = np.arange(len(owner)) - np.repeat(offsets[:-1], counts)
    dense = np.full((len(counts), max(int(counts.max(initial=0)), 1)), fill, np.float64)
    mask = np.zeros(dense.shape, bool)
    dense[owner, slot] = values
    mask[owner, slot] = True
    return dense, mask


def segment_sum(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per-example sums ``(n,)`` of a ragged ``(n_items,)`` array (float64)."""
    return np.bincount(owners(offsets), np.asarray(values, np.float64),
                       minlength=len(offsets) - 1)


def ranks_within(scores: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Rank of every item inside its example by decreasing ``scores`` (0 = highest; ties by
    position): ``(n_items,)`` int64."""
    owner = owners(offsets)
    order = np.lexsort((-np.asarray(scores, np.float64), owner))  # by example, then score
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order)) - offsets[owner[order]]
    return rank
