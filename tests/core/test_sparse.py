"""Lit-pixel image lists against dense numpy references."""

from __future__ import annotations

import numpy as np

from hepxai.core.sparse import SparseImages, ragged_positions


def _random_dense(rng, n=50, shape=(9, 384), p=0.01):
    return (rng.random((n, *shape)) < p).astype(np.uint8)


def test_dense_round_trip_and_gather():
    rng = np.random.default_rng(0)
    dense = _random_dense(rng)
    dense[3] = 0  # an empty event
    images = SparseImages.from_dense(dense)
    assert len(images) == 50 and images.counts.sum() == dense.sum()
    assert np.array_equal(images.to_dense(), dense)
    rows = rng.integers(0, 50, 200)  # repeats and any order
    assert np.array_equal(images.to_dense(rows), dense[rows])
    assert np.array_equal(images.take(rows).to_dense(), dense[rows])
    assert np.array_equal(images.slice(10, 20).to_dense(), dense[10:20])
    joined = SparseImages.concatenate([images.slice(0, 7), images.slice(7, 50)])
    assert np.array_equal(joined.to_dense(), dense)


def test_from_event_pixels_merges_duplicates_and_sorts():
    images = SparseImages.from_event_pixels(np.array([1, 0, 1, 1]), np.array([5, 9, 2, 5]), 3,
                                            (2, 8))
    assert images.offsets.tolist() == [0, 1, 3, 3]
    assert images.indices.tolist() == [9, 2, 5]
    dense = images.to_dense()
    assert dense.shape == (3, 2, 8) and dense.sum() == 3 and dense[0, 1, 1] == 1


def test_ragged_positions_matches_python():
    offsets = np.array([0, 2, 2, 5, 6])
    rows = np.array([2, 0, 2, 1, 3])
    positions, owner = ragged_positions(offsets, rows)
    expected = [p for r in rows for p in range(offsets[r], offsets[r + 1])]
    owners = [i for i, r in enumerate(rows) for _ in range(offsets[r], offsets[r + 1])]
    assert positions.tolist() == expected and owner.tolist() == owners


def test_subset():
    rng = np.random.default_rng(1)
    dense = _random_dense(rng, p=0.05)
    part = dense & (rng.random(dense.shape) < 0.5)
    assert SparseImages.from_dense(part).is_subset_of(SparseImages.from_dense(dense))
    part[0, 0, 0], dense[0, 0, 0] = 1, 0
    assert not SparseImages.from_dense(part).is_subset_of(SparseImages.from_dense(dense))
