"""The SUSY HDF5 file: one file per split, the same events in three reconstructions.

Layout (``format = "hepxai-susy"``, ``format_version = 1``)::

    /event_id            (n,)    int64    process * 10**10 + generator candidate serial
    /label               (n,)    int8     class index into the ``classes`` attribute
    /weight              (n,)    float64  expected events at ``luminosity_fb`` per simulated event
    /truth/features      (n, F)  float32  columns named by the ``features`` attribute
    /truth/presel        (n,)    bool     the preselection of that reconstruction
    /simplified/...      the same for the simplified (truth + light smearing) reconstruction
    /full/...            the same for the full (detector-like) reconstruction
    attributes: format, format_version, split, n_events, seed, block_candidates, features,
                units, classes, levels, luminosity_fb, processes (per-process bookkeeping, JSON),
                simulator_config (JSON), source, hepxai_version

Row ``i`` is the same event in every group, which is what the simplified-vs-full comparison
relies on. Files are written to a temporary name and renamed (:func:`hepxai.core.atomic_path`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from hepxai.core.errors import HepxaiError
from hepxai.io.h5 import H5File
from hepxai.usecases.susy.names import SAMPLES
from hepxai.usecases.susy.simulator import CLASSES, FEATURE_INFO, FEATURES, LEVELS, SusyEvents

FORMAT = "hepxai-susy"
FORMAT_VERSION = 1
SPLIT_FILES = {"train": "train.h5", "test": "test.h5"}


def split_path(data_dir: str | os.PathLike[str], split: str) -> Path:
    """The file of ``split`` inside a SUSY data directory."""
    return Path(data_dir) / SPLIT_FILES[split]


def write_events(path: str | os.PathLike[str], events: SusyEvents, *, split: str,
                 attrs: dict[str, Any], class_names: tuple[str, ...] | None = None) -> Path:
    """Write ``events`` to ``path`` atomically (see the module docstring for the layout): the
    reconstructions ``events`` has (all three simulated, one imported); ``class_names``: what
    the labels index (default: the simulator's classes)."""
    if len(events) == 0:
        raise HepxaiError(f"{path}: no events to write; ask for at least one event per class")
    levels = [level for level in LEVELS if level in events.features]  # an import has one
    header = {"features": json.dumps(FEATURES),
              "units": json.dumps({k: v[0] for k, v in FEATURE_INFO.items()}),
              "classes": json.dumps(class_names or CLASSES), "levels": json.dumps(levels)}
    with SusyFile.create(path, split=split, n_events=len(events), header=header,
                         attrs=attrs) as f:
        f.create_dataset("event_id", data=events.event_id)
        f.create_dataset("label", data=events.label)
        f.create_dataset("weight", data=events.weight)
        for level in levels:
            group = f.create_group(level)
            group.create_dataset("features", data=events.features[level],
                                 chunks=(min(len(events), 65_536), len(FEATURES)))
            group.create_dataset("presel", data=events.presel[level])
    return Path(path)


@dataclass
class SusyTable:
    """Events of one reconstruction, ready for a model.

    x: float32 ``(n, F)`` in the units of :data:`~hepxai.usecases.susy.simulator.FEATURE_INFO`;
    y: int64 ``(n,)`` class index; weight: float64 ``(n,)`` expected events at the file's
    luminosity; event_id: int64 ``(n,)``; rows: the rows of the file they came from.
    """

    x: np.ndarray
    y: np.ndarray
    weight: np.ndarray
    event_id: np.ndarray
    rows: np.ndarray
    level: str
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.y)


class SusyFile(H5File):
    """A whole split file in memory (float32 tables are small: 64 bytes an event per level).

    Raises :class:`HepxaiError` with a one-line message for a missing, foreign, corrupt or
    inconsistent file (see :class:`~hepxai.io.h5.H5File`), and for non-finite features or
    weights.
    """

    FORMAT, FORMAT_VERSION = FORMAT, FORMAT_VERSION  # the module's constants
    KIND, MAKE = "SUSY", "hepxai simulate susy"
    MISSING_HINT = "simulate data first with 'hepxai simulate susy --out DIR'"

    def _read(self, f: h5py.File) -> None:
        self.feature_names = self._names("features")
        self.class_names = self._names("classes")
        for name, kind in (("event_id", "integer"), ("label", "integer"),
                           ("weight", "floating")):
            dataset = f[name]  # missing: the reader's own "not a readable file" line
            if not isinstance(dataset, h5py.Dataset) or dataset.ndim != 1 or \
                    not np.issubdtype(dataset.dtype, getattr(np, kind)):
                found = f"{getattr(dataset, 'dtype', 'a group')} {getattr(dataset, 'shape', '')}"
                raise HepxaiError(f"{self.path}: /{name} must be one {kind} value per event, "
                                  f"found {found}; the file is corrupt, re-create it")
        self.event_id = f["event_id"][()]
        self.label = f["label"][()]
        self.weight = f["weight"][()]
        self.features = {lv: f[lv]["features"][()] for lv in LEVELS if lv in f}
        self.presel = {lv: f[lv]["presel"][()].astype(bool) for lv in LEVELS if lv in f}
        self._check()

    def _names(self, key: str) -> tuple[str, ...]:
        """The JSON list of names in attribute ``key`` (the features, the classes)."""
        text = self.attrs[key]  # missing: the reader's own "not a readable file" line
        try:
            names = json.loads(text)
        except (TypeError, ValueError):
            names = None
        if not isinstance(names, list) or not names or \
                not all(isinstance(n, str) for n in names):
            raise HepxaiError(f"{self.path}: the '{key}' attribute is not a JSON list of names; "
                              "the file is corrupt, re-create it")
        return tuple(names)

    def _check(self) -> None:
        where = str(self.path)
        n = len(self.label)
        if n == 0:
            raise HepxaiError(f"{where}: the file holds no events; simulate at least one event "
                              "per class")
        if not any(lv in self.features for lv in SAMPLES):
            raise HepxaiError(f"{where}: no {' or '.join(SAMPLES)} reconstruction in the file; "
                              "re-create it with 'hepxai simulate susy' or 'hepxai import "
                              "susy'")
        if len(self.event_id) != n or len(self.weight) != n:
            raise HepxaiError(f"{where}: event_id, label and weight disagree on the number of "
                              "events; the file is corrupt, re-create it")
        for level, table in self.features.items():
            if table.ndim != 2 or table.shape != (n, len(self.feature_names)):
                raise HepxaiError(f"{where}: /{level}/features has shape {table.shape}, expected "
                                  f"({n}, {len(self.feature_names)}) for the features named in "
                                  "the file; re-create it")
            if not np.issubdtype(table.dtype, np.floating):
                raise HepxaiError(f"{where}: /{level}/features has dtype {table.dtype}, expected "
                                  "float32; re-create the file")
            bad = ~np.isfinite(table)
            if bad.any():
                row, col = np.argwhere(bad)[0]
                raise HepxaiError(f"{where}: /{level}/features holds {int(bad.sum())} NaN or "
                                  f"infinite values (first: event row {row}, "
                                  f"'{self.feature_names[col]}'); fix or re-create the file")
            if len(self.presel[level]) != n:
                raise HepxaiError(f"{where}: /{level}/presel has {len(self.presel[level])} "
                                  f"entries for {n} events; re-create the file")
        if not np.all(np.isfinite(self.weight)) or np.any(self.weight < 0):
            raise HepxaiError(f"{where}: weights must be finite and >= 0; re-create the file")
        if self.label.min() < 0 or self.label.max() >= len(self.class_names):
            raise HepxaiError(f"{where}: labels outside 0..{len(self.class_names) - 1} "
                              f"({', '.join(self.class_names)}); re-create the file")
        if len(np.unique(self.event_id)) != n:
            raise HepxaiError(f"{where}: event ids are not unique; re-create the file")

    def __len__(self) -> int:
        return len(self.label)

    @property
    def processes(self) -> dict[str, dict]:
        """Per-process bookkeeping of the simulation (events, candidates, sigma x BR...)."""
        return json.loads(self.attrs.get("processes", "{}"))

    def selection(self, levels: tuple[str, ...] | list[str]) -> np.ndarray:
        """Rows preselected in *every* reconstruction of ``levels`` (sorted ``(m,)`` int64)."""
        mask = np.ones(len(self), bool)
        for level in levels:
            mask &= self.presel[self._level(level)]
        return np.flatnonzero(mask)

    def _level(self, level: str) -> str:
        if level not in self.features:
            raise HepxaiError(f"{self.path}: no {level!r} reconstruction in the file (it holds "
                              f"{', '.join(self.features)}); choose --sample "
                              f"{' or '.join(s for s in SAMPLES if s in self.features)}")
        return level

    def table(self, level: str, *, rows: np.ndarray | None = None, presel: bool = True,
              max_events: int | None = None) -> SusyTable:
        """The events of one reconstruction: the given ``rows``, or all rows (those preselected
        in that reconstruction when ``presel``), the first ``max_events`` of them."""
        self._level(level)
        if rows is None:
            rows = np.flatnonzero(self.presel[level]) if presel else np.arange(len(self))
        rows = np.asarray(rows, np.int64)
        if max_events is not None:
            rows = rows[:max_events]
        if len(rows) == 0:
            raise HepxaiError(f"{self.path}: no {level} events selected (preselection or "
                              "--max-events leave none); simulate more events")
        return SusyTable(x=self.features[level][rows].astype(np.float32),
                         y=self.label[rows].astype(np.int64), weight=self.weight[rows],
                         event_id=self.event_id[rows], rows=rows, level=level,
                         feature_names=self.feature_names, class_names=self.class_names)
