"""The muon HDF5 file: one file per split, lit-pixel lists, memory-mapped reading.

Layout (``format = "hepxai-muon"``, ``format_version = 1``)::

    /images/indices    (n_hits,)  uint16  flat pixel index row * 384 + strip, sorted per event
    /images/offsets    (n + 1,)   int64   event i owns indices[offsets[i]:offsets[i + 1]]
    /truth/indices, /truth/offsets        the muon-only (denoised) images, same encoding
    /labels            (n,)  compound pt [GeV], eta (|eta|), phi [rad], charge, nhits
    /bookkeeping       (n,)  compound n_noise, silent_stations (bit mask), z0 [m]   (optional)
    /eta_sign          (n,)  int8     the sign of eta, +1 or -1 (optional: imported ntuples
                                      with a signed eta; /labels holds |eta|)
    attributes: format, format_version, split, n_events, image_shape, seed, block_events,
                simulator_config (JSON), source, hepxai_version

The arrays are stored contiguous and unfiltered: lit-pixel lists are already ~100x smaller than
dense images (about 40 bytes an event), and an unfiltered contiguous dataset can be
memory-mapped, so a shuffled batch is a gather from the page cache instead of an HDF5 read per
event. Files are written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from hepxai.core.errors import HepxaiError
from hepxai.core.ragged import offsets_problem
from hepxai.core.sparse import INDEX_DTYPE, OFFSET_DTYPE, SparseImages
from hepxai.io.h5 import H5File
from hepxai.io.ntuple import Spool
from hepxai.usecases.muon.geometry import MuonSimConfig
from hepxai.usecases.muon.simulator import BOOKKEEPING_DTYPE, LABEL_DTYPE, MuonEvents

FORMAT = "hepxai-muon"
FORMAT_VERSION = 1
SPLIT_FILES = {"train": "train.h5", "val": "val.h5", "noise": "noise.h5"}
LAYERS, STRIPS = 9, 384


def split_path(data_dir: str | os.PathLike[str], split: str) -> Path:
    """The file of ``split`` inside a muon data directory."""
    return Path(data_dir) / SPLIT_FILES[split]


def write_events(path: str | os.PathLike[str], chunks: Iterable[MuonEvents], *, split: str,
                 attrs: dict[str, Any], on_chunk: Callable[[int], None] | None = None) -> Path:
    """Write all events of ``chunks`` to ``path`` atomically.

    The lit-pixel lists of a split are collected in memory (about 40 bytes an event, 40 MB for
    the 850k-event training split) so they can be written as contiguous, memory-mappable
    datasets; the dense images never exist. ``on_chunk(n)`` is called after each chunk.
    """
    parts = []
    for chunk in chunks:
        parts.append(chunk)
        if on_chunk is not None:
            on_chunk(len(chunk))
    if not parts:
        raise HepxaiError(f"{path}: no events to write; ask for at least one event")
    events = MuonEvents.concatenate(parts)
    del parts
    if len(events) == 0:
        raise HepxaiError(f"{path}: no events to write; ask for at least one event")
    with MuonFile.create(path, split=split, n_events=len(events),
                         header={"image_shape": events.images.shape}, attrs=attrs) as f:
        for name, images in (("images", events.images), ("truth", events.truth)):
            group = f.create_group(name)
            group.create_dataset("indices", data=np.asarray(images.indices, INDEX_DTYPE))
            group.create_dataset("offsets", data=np.asarray(images.offsets, OFFSET_DTYPE))
        f.create_dataset("labels", data=events.labels)
        f.create_dataset("bookkeeping", data=events.bookkeeping)
    return Path(path)


def write_spooled(path: str | os.PathLike[str], spool: Spool, split: str, *,
                  attrs: dict[str, Any]) -> Path:
    """Write the events spooled for ``split`` (columns ``counts``, ``indices``, optionally
    ``truth_counts`` / ``truth_indices``, ``labels``, ``bookkeeping``, ``eta_sign``; see
    :mod:`hepxai.usecases.muon.ntuple`) to ``path`` atomically, copying a bounded slice at a
    time: the split never has to fit in memory."""
    n = spool.length(split, "counts")
    with MuonFile.create(path, split=split, n_events=n,
                         header={"image_shape": (LAYERS, STRIPS)}, attrs=attrs) as f:
        for group, prefix in (("images", ""), ("truth", "truth_")):
            target = f.create_group(group)
            if not spool.has(split, f"{prefix}counts"):  # no truth: empty lists, has_truth 0
                target.create_dataset("indices", data=np.zeros(0, INDEX_DTYPE))
                target.create_dataset("offsets", data=np.zeros(n + 1, OFFSET_DTYPE))
                continue
            spool.write_dataset(target, "indices", split, f"{prefix}indices")
            offsets = target.create_dataset("offsets", shape=(n + 1,), dtype=OFFSET_DTYPE)
            offsets[0], total = 0, 0
            for start in range(0, n, 1 << 22):  # running sums of the counts, slice by slice
                running = total + np.cumsum(spool.read(split, f"{prefix}counts", start,
                                                       start + (1 << 22)))
                offsets[start + 1:start + 1 + running.size] = running
                total = int(running[-1])
        for name in ("labels", "bookkeeping", "eta_sign"):
            spool.write_dataset(f, name, split)
    return Path(path)


class MuonFile(H5File):
    """Read-only view of one split file; pixel lists are memory-mapped, labels loaded.

    >>> data = MuonFile("data/muon/val.h5")
    >>> x = data.images.to_dense(np.arange(8))   # (8, 9, 384) uint8
    >>> data.labels["pt"][:8]                     # GeV

    Raises :class:`HepxaiError` with a one-line message for a missing, corrupt or foreign file
    (see :class:`~hepxai.io.h5.H5File`).
    """

    FORMAT, FORMAT_VERSION = FORMAT, FORMAT_VERSION  # the module's constants
    KIND, MAKE = "muon", "hepxai simulate muon"
    MISSING_HINT = ("simulate data first with 'hepxai simulate muon --out DIR' or convert files "
                    "with 'hepxai import muon'")
    FOREIGN_HINT = "convert it with 'hepxai import muon'"

    def _read(self, f: h5py.File) -> None:
        shape = np.asarray(self.attrs.get("image_shape", ()))
        if shape.shape != (2,) or not np.issubdtype(shape.dtype, np.integer) or shape.min() < 1:
            raise HepxaiError(f"{self.path}: not a readable hepxai muon file (its image_shape "
                              f"attribute is {shape.tolist()}, not (layers, strips)); the file "
                              "is corrupt, re-create it")
        self.shape: tuple[int, int] = (int(shape[0]), int(shape[1]))
        self.images = self._sparse(f, "images")
        has_truth = "truth" in f and bool(self.attrs.get("has_truth", True))
        self.truth = self._sparse(f, "truth") if has_truth else None
        self.labels: np.ndarray = f["labels"][()]
        self.bookkeeping = f["bookkeeping"][()] if "bookkeeping" in f else None
        #: the sign of eta (+1/-1) of an imported ntuple with signed eta, else None
        self.eta_sign: np.ndarray | None = f["eta_sign"][()] if "eta_sign" in f else None
        missing = set(LABEL_DTYPE.names or ()) - set(self.labels.dtype.names or ())
        if missing:
            raise HepxaiError(f"{self.path}: the labels table lacks {', '.join(sorted(missing))}; "
                              "re-create the file with this hepxai version")
        check_labels(self.labels, str(self.path))
        n = len(self.images)
        if n == 0:
            raise HepxaiError(f"{self.path}: the file holds no events; simulate or import data "
                              "with at least one event")
        if len(self.labels) != n or (self.truth is not None and len(self.truth) != n):
            raise HepxaiError(f"{self.path}: images, truth and labels disagree on the number of "
                              "events; the file is corrupt, re-create it")
        if self.eta_sign is not None and (len(self.eta_sign) != n
                                          or not np.isin(self.eta_sign, (-1, 1)).all()):
            raise HepxaiError(f"{self.path}: /eta_sign must hold +1 or -1 for each of the {n} "
                              "events; the file is corrupt, re-create it")

    def _sparse(self, f: h5py.File, name: str) -> SparseImages:
        offsets = self.memmap_or_read(f[f"{name}/offsets"])
        indices = self.memmap_or_read(f[f"{name}/indices"])
        # checked on open (vectorised, index arrays only): a corrupt file never reaches a model
        problem = offsets_problem(offsets, indices.size)
        if problem is not None:
            raise HepxaiError(f"{self.path}: /{name} offsets {problem}; the file is corrupt or "
                              "truncated, re-create it")
        pixels = self.shape[0] * self.shape[1]
        if not np.issubdtype(indices.dtype, np.integer):
            problem = f"are {indices.dtype}, not integers"
        elif indices.size and int(indices.max()) >= pixels:
            problem = f"reach pixel {int(indices.max())}, beyond the {pixels} of an image"
        if problem is not None:
            raise HepxaiError(f"{self.path}: /{name} indices {problem}; the file is corrupt, "
                              "re-create it")
        return SparseImages(offsets, indices, self.shape)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def config(self) -> MuonSimConfig | None:
        """The simulator configuration, or None for imported files."""
        text = self.attrs.get("simulator_config")
        return MuonSimConfig.from_json(text) if text else None

    def events(self, rows: np.ndarray | None = None) -> MuonEvents:
        """The selected events (all when ``rows`` is None) as an in-memory :class:`MuonEvents`."""
        rows = np.arange(len(self)) if rows is None else np.asarray(rows, np.int64)
        truth = self.truth.take(rows) if self.truth is not None else \
            SparseImages(np.zeros(rows.size + 1, OFFSET_DTYPE), np.zeros(0, INDEX_DTYPE),
                         self.shape)
        bookkeeping = self.bookkeeping[rows] if self.bookkeeping is not None else \
            np.zeros(rows.size, BOOKKEEPING_DTYPE)
        return MuonEvents(self.images.take(rows), truth, self.labels[rows], bookkeeping)


def check_labels(labels: np.ndarray, source: str) -> None:
    """Reject labels a model must not be trained or judged on (NaN / infinite values)."""
    for name in ("pt", "eta", "phi"):
        bad = int((~np.isfinite(labels[name])).sum())
        if bad:
            raise HepxaiError(f"{source}: {bad} events have a NaN or infinite {name} label; "
                              "remove or fix them before use")

