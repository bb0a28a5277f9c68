"""Binary images stored as lists of lit pixels (compressed sparse rows).

A muon RPC image is 9 x 384 = 3,456 pixels of which about 20 are lit (< 1 %), so an event is
stored as the sorted flat indices of its lit pixels (``row * width + column``) and a batch as one
flat index array plus ``offsets`` (event ``i`` owns ``indices[offsets[i]:offsets[i + 1]]``).
That is ~2 bytes a hit instead of 3,456 bytes an image, needs no decompression, and can be
memory-mapped straight from an HDF5 file. Every operation here is vectorised over events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hepxai.core import ragged

INDEX_DTYPE = np.uint16  # 3,456 pixels < 65,536
OFFSET_DTYPE = np.int64


def ragged_positions(offsets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions in the flat array of the elements of ``rows``, and the output row of each
    (:func:`hepxai.core.ragged.take`)."""
    return ragged.take(offsets, rows)


@dataclass(frozen=True)
class SparseImages:
    """A batch of binary images as lit-pixel lists.

    Attributes
    ----------
    offsets : (n_events + 1,) int64; may be a read-only memory map.
    indices : (n_hits,) uint16 flat pixel indices ``row * shape[1] + column``, sorted per event.
    shape : (rows, columns) of one image, e.g. (9, 384).
    """

    offsets: np.ndarray
    indices: np.ndarray
    shape: tuple[int, int]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_pixels(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def counts(self) -> np.ndarray:
        """(n_events,) number of lit pixels per event."""
        return np.diff(self.offsets)

    @classmethod
    def empty(cls, shape: tuple[int, int]) -> SparseImages:
        return cls(np.zeros(1, OFFSET_DTYPE), np.zeros(0, INDEX_DTYPE), shape)

    @classmethod
    def from_event_pixels(cls, event: np.ndarray, pixel: np.ndarray, n_events: int,
                          shape: tuple[int, int]) -> SparseImages:
        """Build from parallel (event, pixel) arrays; duplicates are merged (logical OR).

        ``event`` values must lie in ``[0, n_events)`` and ``pixel`` in ``[0, rows * columns)``.
        """
        n_pixels = shape[0] * shape[1]
        keys = np.unique(np.asarray(event, np.int64) * n_pixels + np.asarray(pixel, np.int64))
        owners = keys // n_pixels
        offsets = np.zeros(n_events + 1, OFFSET_DTYPE)
        np.cumsum(np.bincount(owners, minlength=n_events), out=offsets[1:])
        return cls(offsets, (keys - owners * n_pixels).astype(INDEX_DTYPE), shape)

    @classmethod
    def from_dense(cls, images: np.ndarray) -> SparseImages:
        """From a dense (n, rows, columns) array; every non-zero pixel counts as lit."""
        images = np.asarray(images)
        n = images.shape[0]
        event, pixel = np.nonzero(images.reshape(n, -1))
        offsets = np.zeros(n + 1, OFFSET_DTYPE)
        np.cumsum(np.bincount(event, minlength=n), out=offsets[1:])
        # np.nonzero is row-major, so pixels come out sorted within each event already
        return cls(offsets, pixel.astype(INDEX_DTYPE), tuple(images.shape[1:]))

    @classmethod
    def concatenate(cls, parts: Sequence[SparseImages]) -> SparseImages:
        if not parts:
            raise ValueError("nothing to concatenate")
        shape = parts[0].shape
        if any(p.shape != shape for p in parts):
            raise ValueError("cannot concatenate images of different shapes")
        indices = np.concatenate([np.asarray(p.indices) for p in parts])
        counts = np.concatenate([p.counts for p in parts])
        offsets = np.zeros(counts.size + 1, OFFSET_DTYPE)
        np.cumsum(counts, out=offsets[1:])
        return cls(offsets, indices, shape)

    def slice(self, start: int, stop: int) -> SparseImages:
        """Events ``start:stop`` (a copy with offsets starting at 0)."""
        lo, hi = int(self.offsets[start]), int(self.offsets[stop])
        offsets = np.asarray(self.offsets[start:stop + 1], OFFSET_DTYPE) - lo
        return SparseImages(offsets, np.asarray(self.indices[lo:hi]), self.shape)

    def take(self, rows: np.ndarray) -> SparseImages:
        """Events ``rows`` in the given order (vectorised gather)."""
        rows = np.asarray(rows, np.int64)
        positions, _ = ragged_positions(self.offsets, rows)
        counts = self.offsets[rows + 1] - self.offsets[rows]
        offsets = np.zeros(rows.size + 1, OFFSET_DTYPE)
        np.cumsum(counts, out=offsets[1:])
        return SparseImages(offsets, np.asarray(self.indices)[positions], self.shape)

    def event_pixels(self) -> tuple[np.ndarray, np.ndarray]:
        """Parallel (event, pixel) int64 arrays of every lit pixel."""
        event = np.repeat(np.arange(len(self), dtype=np.int64), self.counts)
        return event, np.asarray(self.indices, np.int64)

    def to_dense(self, rows: np.ndarray | None = None, dtype: np.dtype = np.uint8,
                 out: np.ndarray | None = None) -> np.ndarray:
        """Dense images ``(b, rows, columns)`` of the selected events (all when ``rows`` is None).

        ``out``: an optional zero-filled array of the right shape to fill (saves an allocation).
        """
        if rows is None:
            rows = np.arange(len(self))
        rows = np.asarray(rows, np.int64)
        positions, owner = ragged_positions(self.offsets, rows)
        if out is None:
            out = np.zeros((rows.size, self.n_pixels), dtype=dtype)
        flat = out.reshape(rows.size, self.n_pixels)
        flat[owner, np.asarray(self.indices)[positions]] = 1
        return out.reshape(rows.size, *self.shape)

    def is_subset_of(self, other: SparseImages) -> bool:
        """True when every lit pixel here is lit in ``other`` too (event by event)."""
        if len(self) != len(other) or self.shape != other.shape:
            return False
        n_pixels = self.n_pixels
        e1, p1 = self.event_pixels()
        e2, p2 = other.event_pixels()
        return bool(np.isin(e1 * n_pixels + p1, e2 * n_pixels + p2).all())
