"""Tests of the muon HDF5 store: round trip, memory map, determinism, resume, atomicity,
the PyTorch loader and the handling of corrupt files."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import hepxai
from hepxai.core.errors import HepxaiError
from hepxai.core.sparse import SparseImages
from hepxai.usecases.muon import store
from hepxai.usecases.muon.generate import SplitSizes, simulate_dataset
from hepxai.usecases.muon.geometry import MuonSimConfig
from hepxai.usecases.muon.loader import MuonDataset, muon_loader
from hepxai.usecases.muon.simulator import (
    BLOCK_EVENTS,
    BOOKKEEPING_DTYPE,
    LABEL_DTYPE,
    MuonEvents,
    simulate,
    simulate_chunks,
)
from hepxai.usecases.muon.store import MuonFile, split_path, write_events

SPLITS = ("train", "val", "noise")
MUON_SEED = 7  # the settings of the ``muon_dir`` fixture (conftest.py)
MUON_SIZES = {"train": 500, "val": 160, "noise": 200}


# ------------------------------------------------------------------------------ helpers


def assert_sparse_equal(a: SparseImages, b: SparseImages) -> None:
    assert a.shape == b.shape
    np.testing.assert_array_equal(np.asarray(a.offsets), np.asarray(b.offsets))
    np.testing.assert_array_equal(np.asarray(a.indices), np.asarray(b.indices))


def assert_struct_equal(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype.names == b.dtype.names
    assert len(a) == len(b)
    for name in a.dtype.names:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def assert_events_equal(a: MuonEvents, b: MuonEvents) -> None:
    assert_sparse_equal(a.images, b.images)
    assert_sparse_equal(a.truth, b.truth)
    assert_struct_equal(a.labels, b.labels)
    assert_struct_equal(a.bookkeeping, b.bookkeeping)


def read_dir(data_dir: Path) -> dict[str, MuonEvents]:
    return {split: MuonFile(split_path(data_dir, split)).events() for split in SPLITS}


def copy_dir(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def test_fixture_settings(muon_dir: Path) -> None:
    for split, n in MUON_SIZES.items():
        attrs = MuonFile(split_path(muon_dir, split)).attrs
        assert (attrs["seed"], attrs["n_events"]) == (MUON_SEED, n)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".partial"))


def assert_one_line_error(exc: pytest.ExceptionInfo, path: Path) -> None:
    message = str(exc.value)
    assert "\n" not in message
    assert str(path) in message


# ------------------------------------------------------------------------------ round trip


@pytest.mark.parametrize("split", SPLITS)
def test_round_trip_equals_in_memory_simulation(muon_dir: Path, split: str) -> None:
    n = MUON_SIZES[split]
    data = MuonFile(split_path(muon_dir, split))
    expected = simulate(MuonSimConfig(), MUON_SEED, split, 0, n)
    assert len(data) == n == len(expected)
    assert data.split == split
    assert data.shape == (9, 384)
    assert data.labels.dtype == LABEL_DTYPE
    assert data.bookkeeping.dtype == BOOKKEEPING_DTYPE
    assert_sparse_equal(data.images, expected.images)
    assert data.truth is not None
    assert_sparse_equal(data.truth, expected.truth)
    assert_struct_equal(data.labels, expected.labels)
    assert_struct_equal(data.bookkeeping, expected.bookkeeping)
    # events() of every row is the same thing again, in memory
    assert_events_equal(data.events(), expected)
    rows = np.array([n - 1, 0, 3, 3])
    sub = data.events(rows)
    assert_sparse_equal(sub.images, expected.images.take(rows))
    np.testing.assert_array_equal(sub.labels["pt"], expected.labels["pt"][rows])


@pytest.mark.parametrize("split", SPLITS)
def test_attributes(muon_dir: Path, split: str) -> None:
    data = MuonFile(split_path(muon_dir, split))
    attrs = data.attrs
    assert attrs["format"] == "hepxai-muon"
    assert attrs["format_version"] == 1
    assert attrs["split"] == split
    assert attrs["seed"] == MUON_SEED
    assert attrs["n_events"] == MUON_SIZES[split]
    assert attrs["block_events"] == BLOCK_EVENTS
    assert list(attrs["image_shape"]) == [9, 384]
    assert attrs["simulator_config"] == MuonSimConfig().to_json()
    assert attrs["hepxai_version"] == hepxai.__version__
    assert data.config == MuonSimConfig()


def test_simulated_content_is_consistent(muon_dir: Path) -> None:
    val = MuonFile(split_path(muon_dir, "val"))
    assert val.truth.is_subset_of(val.images)
    np.testing.assert_array_equal(val.labels["nhits"], val.truth.counts)
    assert (val.labels["pt"] >= 3).all() and (val.labels["pt"] <= 20).all()
    assert set(np.unique(val.labels["charge"])) == {-1, 1}
    noise = MuonFile(split_path(muon_dir, "noise"))
    assert len(noise.truth.indices) == 0
    for name in LABEL_DTYPE.names:
        assert (noise.labels[name] == 0).all(), name
    # every drawn noise strip is in the image (no muon to overlap with)
    np.testing.assert_array_equal(noise.images.counts, noise.bookkeeping["n_noise"])


# ------------------------------------------------------------------------------ memory map


def test_memory_map_and_to_dense(muon_dir: Path) -> None:
    path = split_path(muon_dir, "train")
    data = MuonFile(path)
    for images in (data.images, data.truth):
        assert isinstance(images.indices, np.memmap)
        assert isinstance(images.offsets, np.memmap)
        assert not images.indices.flags.writeable
    # the raw datasets, read through h5py (not through the memory map)
    with h5py.File(path, "r") as f:
        indices = f["images/indices"][()]
        offsets = f["images/offsets"][()]
    np.testing.assert_array_equal(np.asarray(data.images.indices), indices)
    rng = np.random.default_rng(0)
    rows = np.concatenate([rng.choice(len(data), 40, replace=False), [5, 5, len(data) - 1]])
    dense = data.images.to_dense(rows)
    assert dense.shape == (rows.size, 9, 384) and dense.dtype == np.uint8
    expected = np.zeros((rows.size, 9, 384), np.uint8)
    for k, row in enumerate(rows):
        for flat in indices[offsets[row]:offsets[row + 1]]:
            expected[k, flat // 384, flat % 384] = 1
    np.testing.assert_array_equal(dense, expected)
    assert dense.sum() == sum(offsets[r + 1] - offsets[r] for r in rows)


# ------------------------------------------------------------------------------ determinism


def test_workers_and_chunk_sizes_give_identical_files(muon_dir: Path, tmp_path: Path) -> None:
    simulate_dataset(tmp_path / "w2", SplitSizes(**MUON_SIZES), seed=MUON_SEED, workers=2)
    reference = read_dir(muon_dir)
    for split, events in read_dir(tmp_path / "w2").items():
        assert_events_equal(events, reference[split])
    config = MuonSimConfig()
    n = MUON_SIZES["val"]
    for chunk_events, workers in ((97, 2), (60, 1), (1000, 1)):
        chunks = list(simulate_chunks(config, MUON_SEED, "val", n, chunk_events=chunk_events,
                                      workers=workers))
        assert [len(c) for c in chunks[:-1]] == [chunk_events] * (len(chunks) - 1)
        assert_events_equal(MuonEvents.concatenate(chunks), reference["val"].slice(0, n))


def test_event_ranges_independent_of_block_boundaries() -> None:
    config = MuonSimConfig()
    wide = simulate(config, 3, "train", BLOCK_EVENTS - 20, BLOCK_EVENTS + 20)
    left = simulate(config, 3, "train", BLOCK_EVENTS - 20, BLOCK_EVENTS)
    right = simulate(config, 3, "train", BLOCK_EVENTS, BLOCK_EVENTS + 20)
    assert_events_equal(MuonEvents.concatenate([left, right]), wide)
    assert len(wide) == 40


def test_different_seed_or_split_gives_different_events(muon_dir: Path) -> None:
    reference = MuonFile(split_path(muon_dir, "val"))
    n = len(reference)
    other_seed = simulate(MuonSimConfig(), MUON_SEED + 1, "val", 0, n)
    other_split = simulate(MuonSimConfig(), MUON_SEED, "train", 0, n)
    for other in (other_seed, other_split):
        assert not np.array_equal(np.asarray(other.images.indices[:200]),
                                  np.asarray(reference.images.indices[:200]))
        assert not np.array_equal(other.labels["pt"], reference.labels["pt"])


# ------------------------------------------------------------------------------ resume


def test_second_run_reuses_files(muon_dir: Path, tmp_path: Path) -> None:
    data = copy_dir(muon_dir, tmp_path / "data")
    mtimes = {split: split_path(data, split).stat().st_mtime_ns for split in SPLITS}
    summary = simulate_dataset(data, SplitSizes(**MUON_SIZES), seed=MUON_SEED, workers=1)
    assert set(summary) == set(SPLITS)
    for split in SPLITS:
        assert summary[split]["reused"] is True
        assert summary[split]["events"] == MUON_SIZES[split]
        assert summary[split]["path"] == str(split_path(data, split))
        assert split_path(data, split).stat().st_mtime_ns == mtimes[split]


def test_first_run_is_not_reused(tmp_path: Path) -> None:
    summary = simulate_dataset(tmp_path, SplitSizes(train=0, val=0, noise=30), seed=5, workers=1)
    assert set(summary) == {"noise"}  # a split of 0 events is skipped
    assert summary["noise"]["reused"] is False
    assert summary["noise"]["bytes"] == split_path(tmp_path, "noise").stat().st_size
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noise.h5"]


def test_resume_after_a_missing_split_rewrites_only_that_split(muon_dir: Path,
                                                               tmp_path: Path) -> None:
    data = copy_dir(muon_dir, tmp_path / "data")
    train_mtime = split_path(data, "train").stat().st_mtime_ns
    split_path(data, "noise").unlink()
    summary = simulate_dataset(data, SplitSizes(**MUON_SIZES), seed=MUON_SEED, workers=1)
    assert summary["train"]["reused"] and summary["val"]["reused"]
    assert summary["noise"]["reused"] is False
    assert split_path(data, "train").stat().st_mtime_ns == train_mtime
    assert_events_equal(MuonFile(split_path(data, "noise")).events(),
                        MuonFile(split_path(muon_dir, "noise")).events())


@pytest.mark.parametrize("seed, sizes", [
    (MUON_SEED + 1, SplitSizes(**MUON_SIZES)),
    (MUON_SEED, SplitSizes(train=MUON_SIZES["train"] + 1, val=MUON_SIZES["val"],
                           noise=MUON_SIZES["noise"])),
], ids=["seed", "size"])
def test_other_settings_refused_without_overwrite(muon_dir: Path, tmp_path: Path, seed: int,
                                                  sizes: SplitSizes) -> None:
    data = copy_dir(muon_dir, tmp_path / "data")
    before = {split: split_path(data, split).read_bytes() for split in SPLITS}
    with pytest.raises(HepxaiError) as exc:
        simulate_dataset(data, sizes, seed=seed, workers=1)
    assert "overwrite" in str(exc.value)
    assert_one_line_error(exc, split_path(data, "train"))
    for split in SPLITS:
        assert split_path(data, split).read_bytes() == before[split]
    assert leftovers(data) == []


def test_overwrite_replaces_files(muon_dir: Path, tmp_path: Path) -> None:
    data = copy_dir(muon_dir, tmp_path / "data")
    sizes = SplitSizes(train=100, val=30, noise=40)
    summary = simulate_dataset(data, sizes, seed=8, workers=1, overwrite=True)
    for split in SPLITS:
        assert summary[split]["reused"] is False
        replaced = MuonFile(split_path(data, split))
        assert replaced.attrs["seed"] == 8 and len(replaced) == getattr(sizes, split)
        assert_events_equal(replaced.events(),
                            simulate(MuonSimConfig(), 8, split, 0, getattr(sizes, split)))


# ------------------------------------------------------------------------------ atomicity


class _InterruptingFile:
    """Stands in for h5py.File: writes for real into the temporary file, then is interrupted
    while creating ``fail_at`` (reads are passed through)."""

    opened: list[Path] = []
    fail_at = "labels"

    def __new__(cls, name, mode="r", *args, **kwargs):
        if mode == "r":
            return _REAL_FILE(name, mode, *args, **kwargs)
        return super().__new__(cls)

    def __init__(self, name, mode="r", *args, **kwargs):
        self._f = _REAL_FILE(name, mode, *args, **kwargs)
        self.opened.append(Path(name))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()
        return False

    @property
    def attrs(self):
        return self._f.attrs

    def create_group(self, name):
        return self._f.create_group(name)

    def create_dataset(self, name, **kwargs):
        if name == self.fail_at:
            assert self.opened[-1].exists()  # the partial file is really there
            raise KeyboardInterrupt
        return self._f.create_dataset(name, **kwargs)


_REAL_FILE = h5py.File


def test_interrupted_h5_write_keeps_previous_file(muon_dir: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "val.h5"
    shutil.copy(split_path(muon_dir, "val"), target)
    before = target.read_bytes()
    events = MuonFile(split_path(muon_dir, "train")).events()
    _InterruptingFile.opened = []
    monkeypatch.setattr(store.h5py, "File", _InterruptingFile)
    with pytest.raises(KeyboardInterrupt):
        write_events(target, [events], split="train", attrs={"seed": 1})
    monkeypatch.undo()
    assert len(_InterruptingFile.opened) == 1
    partial = _InterruptingFile.opened[0]
    assert partial.name.startswith(".val.h5.") and partial.name.endswith(".partial")
    assert not partial.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["val.h5"]
    assert target.read_bytes() == before
    assert MuonFile(target).split == "val"


def test_interrupted_simulation_leaves_no_file(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    _InterruptingFile.opened = []
    monkeypatch.setattr(store.h5py, "File", _InterruptingFile)
    with pytest.raises(KeyboardInterrupt):
        simulate_dataset(tmp_path, SplitSizes(train=0, val=0, noise=20), seed=5, workers=1)
    monkeypatch.undo()
    assert _InterruptingFile.opened  # the write really started
    assert list(tmp_path.iterdir()) == []


def test_interrupted_overwrite_keeps_finished_file(muon_dir: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    data = copy_dir(muon_dir, tmp_path / "data")
    before = {split: split_path(data, split).read_bytes() for split in SPLITS}
    _InterruptingFile.opened = []
    monkeypatch.setattr(store.h5py, "File", _InterruptingFile)
    with pytest.raises(KeyboardInterrupt):
        simulate_dataset(data, SplitSizes(train=30, val=10, noise=10), seed=6, workers=1,
                         overwrite=True)
    monkeypatch.undo()
    assert [p.parent for p in _InterruptingFile.opened] == [data]
    assert leftovers(data) == []
    for split in SPLITS:
        assert split_path(data, split).read_bytes() == before[split]
    assert MuonFile(split_path(data, "train")).attrs["seed"] == MUON_SEED


def test_chunks_failing_midway_write_nothing(muon_dir: Path, tmp_path: Path) -> None:
    source = MuonFile(split_path(muon_dir, "val")).events()
    target = tmp_path / "train.h5"

    def chunks():
        yield source.slice(0, 50)
        yield source.slice(50, 100)
        raise RuntimeError("worker died")

    seen = []
    with pytest.raises(RuntimeError, match="worker died"):
        write_events(target, chunks(), split="val", attrs={}, on_chunk=seen.append)
    assert seen == [50, 50]
    assert list(tmp_path.iterdir()) == []
    # and with a previous complete file in place
    shutil.copy(split_path(muon_dir, "train"), target)
    before = target.read_bytes()
    with pytest.raises(RuntimeError):
        write_events(target, chunks(), split="val", attrs={})
    assert target.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_write_events_refuses_empty(tmp_path: Path, muon_dir: Path) -> None:
    events = MuonFile(split_path(muon_dir, "val")).events()
    for chunks in ([], [events.slice(0, 0)]):
        with pytest.raises(HepxaiError, match="no events"):
            write_events(tmp_path / "x.h5", chunks, split="val", attrs={})
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ loader


def test_dataset_and_sequential_loader(muon_dir: Path) -> None:
    path = split_path(muon_dir, "val")
    data = MuonFile(path)
    dataset = MuonDataset(path)
    assert len(dataset) == len(data)
    x0, y0 = dataset[3]
    assert x0.shape == (1, 9, 384) and x0.dtype == torch.float32
    assert y0.shape == (2,) and y0.dtype == torch.float32
    batches = list(muon_loader(dataset, batch_size=64))
    assert [b[0].shape[0] for b in batches] == [64, 64, len(data) - 128]
    x = torch.cat([b[0] for b in batches]).numpy()
    y = torch.cat([b[1] for b in batches]).numpy()
    assert x.shape == (len(data), 1, 9, 384) and x.dtype == np.float32
    assert y.shape == (len(data), 2) and y.dtype == np.float32
    np.testing.assert_array_equal(y[:, 0], data.labels["pt"])
    np.testing.assert_array_equal(y[:, 1], data.labels["eta"])
    np.testing.assert_array_equal(x[:, 0], data.images.to_dense().astype(np.float32))
    np.testing.assert_array_equal(x0.numpy()[0], data.images.to_dense([3])[0])


def _shuffled_order(dataset: MuonDataset, pt: np.ndarray, seed: int) -> np.ndarray:
    order, images = [], []
    for x, y in muon_loader(dataset, batch_size=50, shuffle=True, seed=seed):
        # pT is continuous, so it identifies the event
        order.extend(int(np.flatnonzero(pt == value)[0]) for value in y[:, 0].numpy())
        images.append(x.numpy())
    order = np.asarray(order)
    np.testing.assert_array_equal(np.concatenate(images)[:, 0],
                                  dataset.file.images.to_dense(order).astype(np.float32))
    return order


def test_shuffled_loader(muon_dir: Path) -> None:
    dataset = MuonDataset(split_path(muon_dir, "val"))
    pt = dataset.file.labels["pt"]
    assert np.unique(pt).size == pt.size
    a = _shuffled_order(dataset, pt, seed=0)
    b = _shuffled_order(dataset, pt, seed=0)
    c = _shuffled_order(dataset, pt, seed=1)
    np.testing.assert_array_equal(np.sort(a), np.arange(len(dataset)))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, np.arange(len(dataset)))


def test_dataset_rows_truth_and_targets(muon_dir: Path) -> None:
    path = split_path(muon_dir, "val")
    data = MuonFile(path)
    rows = np.array([9, 2, 2, 40])
    dataset = MuonDataset(data, targets=("phi", "nhits", "pt"), truth=True, rows=rows)
    x, y = dataset.__getitems__([0, 1, 2, 3])
    np.testing.assert_array_equal(x.numpy()[:, 0], data.truth.to_dense(rows))
    expected = np.stack([data.labels[t][rows].astype(np.float32) for t in ("phi", "nhits", "pt")],
                        axis=1)
    np.testing.assert_array_equal(y.numpy(), expected)
    assert not np.array_equal(x.numpy()[:, 0], data.images.to_dense(rows))
    with pytest.raises(HepxaiError, match="unknown target"):
        MuonDataset(data, targets=("pt", "energy"))
    with pytest.raises(HepxaiError, match="empty"):
        MuonDataset(data, rows=np.array([], np.int64))


# ------------------------------------------------------------------------------ corrupt input


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "val.h5"
    with pytest.raises(HepxaiError) as exc:
        MuonFile(path)
    assert_one_line_error(exc, path)
    assert "no such file" in str(exc.value)


def test_text_file_named_h5(tmp_path: Path) -> None:
    path = tmp_path / "train.h5"
    path.write_text("pt,eta\n1,2\n")
    with pytest.raises(HepxaiError) as exc:
        MuonFile(path)
    assert_one_line_error(exc, path)


@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.5, 0.9, 0.999])
def test_truncated_file(muon_dir: Path, tmp_path: Path, fraction: float) -> None:
    data = split_path(muon_dir, "train").read_bytes()
    path = tmp_path / "train.h5"
    path.write_bytes(data[:int(len(data) * fraction)])
    with pytest.raises(HepxaiError) as exc:
        MuonFile(path)
    assert_one_line_error(exc, path)


def test_hdf5_without_format_attribute(muon_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "val.h5"
    shutil.copy(split_path(muon_dir, "val"), path)
    with h5py.File(path, "r+") as f:
        del f.attrs["format"]
    with pytest.raises(HepxaiError) as exc:
        MuonFile(path)
    assert_one_line_error(exc, path)
    assert "format" in str(exc.value)
    # a foreign HDF5 file with an unrelated layout
    other = tmp_path / "foreign.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("images", data=np.zeros((4, 9, 384), np.uint8))
    with pytest.raises(HepxaiError) as exc:
        MuonFile(other)
    assert_one_line_error(exc, other)


def test_newer_format_version(muon_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "val.h5"
    shutil.copy(split_path(muon_dir, "val"), path)
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(HepxaiError, match="newer") as exc:
        MuonFile(path)
    assert_one_line_error(exc, path)


@pytest.mark.parametrize("field", ["pt", "eta", "phi"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_label(muon_dir: Path, tmp_path: Path, field: str, bad: float) -> None:
    path = tmp_path / "val.h5"
    shutil.copy(split_path(muon_dir, "val"), path)
    with h5py.File(path, "r+") as f:
        labels = f["labels"][()]
        labels[field][[3, 17]] = bad
        f["labels"][...] = labels
    with pytest.raises(HepxaiError) as exc:
        MuonFile(path)
    assert_one_line_error(exc, path)
    assert field in str(exc.value) and "2 events" in str(exc.value)


def test_inconsistent_offsets_and_counts(muon_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "val.h5"
    shutil.copy(split_path(muon_dir, "val"), path)
    with h5py.File(path, "r+") as f:
        offsets = f["images/offsets"][()]
        offsets[-1] += 1
        f["images/offsets"][...] = offsets
    with pytest.raises(HepxaiError, match="offsets") as exc:
        MuonFile(path)
    assert_one_line_error(exc, path)

    path2 = tmp_path / "train.h5"
    shutil.copy(split_path(muon_dir, "val"), path2)
    with h5py.File(path2, "r+") as f:
        labels = f["labels"][()]
        del f["labels"]
        f.create_dataset("labels", data=labels[:-1])
    with pytest.raises(HepxaiError, match="disagree") as exc:
        MuonFile(path2)
    assert_one_line_error(exc, path2)


def test_memory_mapped_reader_survives_atomic_replace(muon_dir: Path, tmp_path: Path) -> None:
    """A reader's memory map stays valid while the file is atomically replaced."""
    path = tmp_path / "val.h5"
    shutil.copy(split_path(muon_dir, "val"), path)
    reader = MuonFile(path)
    expected = reader.images.to_dense(np.arange(20))
    write_events(path, [simulate(MuonSimConfig(), 99, "val", 0, 30)], split="val", attrs={})
    np.testing.assert_array_equal(reader.images.to_dense(np.arange(20)), expected)
    assert len(MuonFile(path)) == 30
    assert os.path.getsize(path) > 0


def _rewrite(path: Path, name: str, values) -> None:
    with h5py.File(path, "a") as f:
        if name.startswith("@"):
            f.attrs[name[1:]] = values
        else:
            del f[name]
            f.create_dataset(name, data=values)


CORRUPTIONS = {
    "pixel beyond the image": ("images/indices", lambda a: np.where(
        np.arange(a.size) == 3, 9 * 384 + 5, a).astype(a.dtype), "beyond the 3456 of an image"),
    "float pixel indices": ("images/indices", lambda a: a.astype(np.float32) + 0.5,
                            "not integers"),
    "decreasing offsets": ("images/offsets", lambda o: np.r_[o[:2], o[1] - 1, o[3:]],
                           "offsets decrease"),
    "float offsets": ("images/offsets", lambda o: o.astype(np.float64), "not integers"),
    "truth offsets shifted": ("truth/offsets", lambda o: o + 1, "offsets run from 1"),
    "image shape of three numbers": ("@image_shape", lambda s: np.array([9, 384, 1]),
                                     "image_shape attribute is [9, 384, 1]"),
    "image shape of zeros": ("@image_shape", lambda s: np.array([0, 384]),
                             "image_shape attribute is [0, 384]"),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_a_corrupt_muon_file_is_refused_when_opened(case: str, muon_dir: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Each corruption used to reach a model as an IndexError or a negative repeat count."""
    from cli_checks import user_error

    data = tmp_path / "data"
    shutil.copytree(muon_dir, data)
    name, corrupt, message = CORRUPTIONS[case]
    with h5py.File(data / "val.h5", "r") as f:
        original = f.attrs[name[1:]] if name.startswith("@") else f[name][()]
    _rewrite(data / "val.h5", name, corrupt(original))
    with pytest.raises(HepxaiError, match=re.escape(message)) as error:
        MuonFile(data / "val.h5")
    assert "\n" not in str(error.value) and "re-create it" in str(error.value)
    user_error(capsys, ["baselines", "muon", "--data", data, "--out", tmp_path / "b"])
