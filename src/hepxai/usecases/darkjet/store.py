"""The dark-jet HDF5 file: variable-length jets as flat cluster arrays plus offsets.

Layout (``format = "hepxai-darkjet"``, ``format_version = 1``), one file per split
(``train.h5``, ``val.h5``, ``test.h5``)::

    /clusters   (n_clusters_total,) compound eta, phi, layer (0-6), energy [GeV], is_noise
    /offsets    (n + 1,) int64      jet i owns clusters[offsets[i]:offsets[i + 1]]
    /jets       (n,) compound       label (1 = dark photon), pt [GeV], eta, phi, n_clusters,
                                    n_noise, em_fraction, width, decay_radius [m] (NaN for QCD)
    attributes: format, format_version, split, n_events, n_per_class, seed, simulator_config
                (JSON), source, hepxai_version

Arrays are contiguous and unfiltered so they can be memory-mapped. Written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from hepxai.core.errors import HepxaiError
from hepxai.core.ragged import arange as ragged_arange  # the one implementation, by its old name
from hepxai.io.h5 import H5File
from hepxai.pipeline.cache import make_splits
from hepxai.usecases.darkjet.names import DEFAULT_PER_CLASS
from hepxai.usecases.darkjet.simulator import (
    CLUSTER_DTYPE,
    JET_DTYPE,
    DarkJetSimConfig,
    Jets,
    simulate_blocks,
)

FORMAT = "hepxai-darkjet"
FORMAT_VERSION = 1
SPLITS = ("train", "val", "test")
#: an upper estimate of a split file's bytes per jet, for the free-space check (288-315
#: measured: ls -l of 'hepxai simulate darkjet --n 2000')
FILE_BYTES_PER_JET = 360
SPLIT_FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}
# first simulator block of each split: far apart, so splits never share a random stream
SPLIT_BLOCK = {"train": 0, "val": 1_000_000, "test": 2_000_000}


def split_path(data_dir: str | os.PathLike[str], split: str) -> Path:
    return Path(data_dir) / f"{split}.h5"


def split_sizes(n_per_class: int) -> dict[str, int]:
    """Jets per class in each split: 80 / 10 / 10, every split at least one jet."""
    if n_per_class < 3:
        raise HepxaiError(f"--n must be at least 3 jets per class (one per split), got "
                          f"{n_per_class}")
    val = max(1, round(n_per_class * SPLIT_FRACTIONS["val"]))
    test = max(1, round(n_per_class * SPLIT_FRACTIONS["test"]))
    return {"train": n_per_class - val - test, "val": val, "test": test}


def write_jets(path: str | os.PathLike[str], jets: Jets, attrs: dict[str, Any]) -> Path:
    if len(jets) == 0:
        raise HepxaiError(f"{path}: no jets to write; ask for at least one jet")
    with DarkJetFile.create(path, n_events=len(jets), attrs=attrs) as f:
        f.create_dataset("clusters", data=jets.clusters)
        f.create_dataset("offsets", data=jets.offsets)
        f.create_dataset("jets", data=jets.jets)
    return Path(path)


def simulate_split(config: DarkJetSimConfig, seed: int, split: str, n_per_class: int,
                   bar=None) -> Jets:
    """Both classes of one split, interleaved by a seeded permutation."""
    parts = []
    for label in (0, 1):
        for block in simulate_blocks(config, seed, label, n_per_class, SPLIT_BLOCK[split]):
            parts.append(block)
            if bar is not None:
                bar.update(len(block))
    jets = Jets.concatenate(parts)
    order = np.random.default_rng([seed, SPLIT_BLOCK[split], 0x5EED]).permutation(len(jets))
    return take(jets, order)


def take(jets: Jets, rows: np.ndarray) -> Jets:
    """The jets ``rows`` (in that order) as a new :class:`Jets`, vectorised."""
    rows = np.asarray(rows, np.int64)
    starts, stops = jets.offsets[rows], jets.offsets[rows + 1]
    counts = stops - starts
    offsets = np.zeros(rows.size + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    index = ragged_arange(starts, counts)
    return Jets(jets.clusters[index], offsets, jets.jets[rows])


def _wanted(config: DarkJetSimConfig, seed: int, split: str, n_per_class: int) -> dict:
    return {"split": split, "seed": seed, "n_per_class": n_per_class,
            "simulator_config": config.to_json(), "source": "hepxai simulator"}


def simulate_dataset(out_dir: str | os.PathLike[str], n_per_class: int = DEFAULT_PER_CLASS,
                     *, seed: int = 1, config: DarkJetSimConfig | None = None,
                     overwrite: bool = False) -> dict[str, dict]:
    """Write ``train.h5``, ``val.h5`` and ``test.h5`` (``n_per_class`` jets of each class in
    all, split 80/10/10) into ``out_dir``. A split file that already holds exactly these jets is
    kept, so an interrupted run resumes; a file with other settings needs ``overwrite``."""
    config = config or DarkJetSimConfig()
    if not 0 <= seed < 2**63:
        raise HepxaiError(f"seed must be in [0, 2**63), got {seed}")
    sizes = {split: 2 * n for split, n in split_sizes(n_per_class).items()}  # both classes

    def write(path: Path, split: str, n_jets: int, attrs: dict, bar) -> None:
        write_jets(path, simulate_split(config, seed, split, n_jets // 2, bar), attrs)

    return make_splits(out_dir, sizes, path=split_path,
                       wanted=lambda split, n_jets: _wanted(config, seed, split, n_jets // 2),
                       read_attrs=lambda path: DarkJetFile(path, load=False).attrs,
                       write=write, overwrite=overwrite, unit="jet", noun="jets",
                       bytes_per_event=lambda split: FILE_BYTES_PER_JET)


class DarkJetFile(H5File):
    """One split file, read whole into memory (a 320k-jet training file is ~120 MB).

    Attributes: ``clusters`` (flat, :data:`CLUSTER_DTYPE`), ``offsets`` ``(n + 1,)``, ``jets``
    (:data:`JET_DTYPE`), ``attrs``. One-line :class:`HepxaiError` for a missing, corrupt or
    foreign file (see :class:`~hepxai.io.h5.H5File`).
    """

    FORMAT, FORMAT_VERSION = FORMAT, FORMAT_VERSION  # the module's constants
    KIND, MAKE = "darkjet", "hepxai simulate darkjet"
    MISSING_HINT = "simulate jets first with 'hepxai simulate darkjet --out DIR'"
    FOREIGN_HINT = "simulate one with 'hepxai simulate darkjet'"

    def __init__(self, path: str | os.PathLike[str], load: bool = True):
        self._load = load  # False: only the attributes (is a finished split reusable?)
        super().__init__(path)

    def _read(self, f: h5py.File) -> None:
        if not self._load:
            return
        clusters, jets = f["clusters"][()], f["jets"][()]
        offsets = np.asarray(f["offsets"][()], np.int64)
        for name, table, dtype in (("clusters", clusters, CLUSTER_DTYPE),
                                   ("jets", jets, JET_DTYPE)):
            missing = set(dtype.names) - set(table.dtype.names or ())
            if missing:
                raise HepxaiError(f"{self.path}: /{name} lacks {', '.join(sorted(missing))}; "
                                  "re-create the file with this hepxai version")
        if len(jets) == 0:
            raise HepxaiError(f"{self.path}: the file holds no jets; simulate at least one")
        if (offsets.ndim != 1 or offsets.size != len(jets) + 1 or offsets[0] != 0
                or offsets[-1] != len(clusters) or np.any(np.diff(offsets) <= 0)):
            raise HepxaiError(f"{self.path}: /offsets do not match /clusters and /jets (or a jet "
                              "has no cluster); the file is corrupt, re-create it")
        for column in ("eta", "phi", "energy"):
            if not np.all(np.isfinite(clusters[column])):
                raise HepxaiError(f"{self.path}: cluster {column} holds NaN or infinite values; "
                                  "fix or re-create the file")
        if np.any(clusters["energy"] <= 0) or np.any(clusters["layer"] >= 7):
            raise HepxaiError(f"{self.path}: clusters need energy > 0 and a layer in 0-6; fix "
                              "or re-create the file")
        if not np.all(np.isin(jets["label"], (0, 1))):
            raise HepxaiError(f"{self.path}: jet labels must be 0 (QCD) or 1 (dark photon)")
        self.clusters = clusters
        self.jets = jets
        self.offsets = offsets

    def __len__(self) -> int:
        return len(self.jets)

    @property
    def labels(self) -> np.ndarray:
        return self.jets["label"].astype(np.int64)

    @property
    def config(self) -> DarkJetSimConfig | None:
        text = self.attrs.get("simulator_config")
        return DarkJetSimConfig.from_json(text) if text else None

    def as_jets(self, rows: np.ndarray | None = None) -> Jets:
        jets = Jets(self.clusters, self.offsets, self.jets)
        return jets if rows is None else take(jets, rows)
