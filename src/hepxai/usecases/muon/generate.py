"""Simulate a whole muon data directory (train / val / only-noise files) from a preset.

Each split is its own atomically written file, and a split whose file already holds exactly
the requested events (same seed, size, configuration) is skipped, so an interrupted run resumes
at the split it was writing and never loses a finished one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hepxai.core.errors import HepxaiError
from hepxai.pipeline.cache import make_splits
from hepxai.usecases.muon.geometry import MuonSimConfig
from hepxai.usecases.muon.names import SIMULATION_PRESETS
from hepxai.usecases.muon.simulator import BLOCK_EVENTS, SPLITS, simulate_chunks
from hepxai.usecases.muon.store import MuonFile, split_path, write_events


@dataclass(frozen=True)
class SplitSizes:
    """Events per split: training, validation (the thesis' test set) and only-noise."""

    train: int
    val: int
    noise: int

    def __post_init__(self) -> None:
        for split in SPLITS:
            if getattr(self, split) < 0:
                raise HepxaiError(f"--n-{split} must be >= 0, got {getattr(self, split)}")
        if not any(getattr(self, split) for split in SPLITS):
            raise HepxaiError("every split has 0 events: nothing to simulate; give --n N or "
                              "--n-train / --n-val / --n-noise above 0")

    @classmethod
    def from_total(cls, n: int) -> SplitSizes:
        """``n`` muon events split 90/10 as the thesis, plus as many only-noise events."""
        if n < 2:
            raise HepxaiError(f"--n must be at least 2 (one training and one validation "
                              f"event), got {n}")
        val = max(1, round(n * PRESETS["paper"].val / (PRESETS["paper"].train
                                                        + PRESETS["paper"].val)))
        return cls(train=n - val, val=val, noise=n)


#: the simulation presets (sizes in :data:`hepxai.usecases.muon.names.SIMULATION_PRESETS`)
#: upper estimates of a split file's bytes per event, for the free-space check: 105 (muon events,
#: with their truth) and 55 (only-noise) measured at the default noise (ls -l of a 3,000-event
#: 'hepxai simulate muon --n 3000')
FILE_BYTES_PER_EVENT = {"train": 128, "val": 128, "noise": 64}
PRESETS: dict[str, SplitSizes] = {name: SplitSizes(*sizes)
                                  for name, sizes in SIMULATION_PRESETS.items()}


def resolve_sizes(preset: str | None = None, n: int | None = None, *, n_train: int | None = None,
                  n_val: int | None = None, n_noise: int | None = None) -> SplitSizes:
    """Sizes from a preset name or ``--n``, with optional per-split overrides."""
    if n is not None:
        sizes = SplitSizes.from_total(n)
    else:
        name = preset or "fast"
        if name not in PRESETS:
            raise HepxaiError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        sizes = PRESETS[name]
    return SplitSizes(train=sizes.train if n_train is None else n_train,
                      val=sizes.val if n_val is None else n_val,
                      noise=sizes.noise if n_noise is None else n_noise)


def _wanted_attrs(config: MuonSimConfig, seed: int, n_events: int) -> dict:
    return {"seed": seed, "n_events": n_events, "block_events": BLOCK_EVENTS,
            "simulator_config": config.to_json(), "source": "hepxai simulator"}


def simulate_dataset(out_dir: str | os.PathLike[str], sizes: SplitSizes, *, seed: int = 1,
                     config: MuonSimConfig | None = None, workers: int | None = None,
                     overwrite: bool = False) -> dict[str, dict]:
    """Write ``train.h5``, ``val.h5`` and ``noise.h5`` into ``out_dir``.

    Returns per split: path, events, seconds, bytes on disk and whether it was reused.
    Raises :class:`HepxaiError` when a file with *other* contents exists and ``overwrite`` is
    not set (so nothing a user made is silently replaced).
    """
    config = config or MuonSimConfig()
    if not 0 <= seed < 2**63:
        raise HepxaiError(f"seed must be in [0, 2**63), got {seed}")
    sizes_of = {split: getattr(sizes, split) for split in SPLITS}

    def write(path: Path, split: str, n_events: int, attrs: dict, bar) -> None:
        write_events(path, simulate_chunks(config, seed, split, n_events, workers=workers),
                     split=split, attrs=attrs, on_chunk=bar.update)

    return make_splits(out_dir, sizes_of, path=split_path,
                       wanted=lambda split, n_events: _wanted_attrs(config, seed, n_events),
                       read_attrs=lambda path: MuonFile(path).attrs, write=write,
                       overwrite=overwrite, bytes_per_event=FILE_BYTES_PER_EVENT.__getitem__)
