"""Simulate a SUSY data directory (``train.h5``, ``test.h5``) from a preset.

| preset | train / test events | use |
| --- | --- | --- |
| quick | 20,000 / 5,000 | tests, CI, a first look (about 10 s) |
| fast | 200,000 / 50,000 | the demo and a laptop study (about 2 minutes) |
| full | 620,000 / 125,000 | the benchmark: >= 500k / 100k preselected events (about 5 min) |

Sizes count stored events (equal numbers per class); every reconstruction's preselection keeps
75-95 % of them. A split whose file already holds exactly the requested events (seed, size,
simulator configuration) is skipped, so re-running a command resumes where it stopped.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from hepxai.core.errors import HepxaiError
from hepxai.pipeline.cache import make_splits
from hepxai.usecases.susy.names import SIMULATION_PRESETS
from hepxai.usecases.susy.simulator import (
    BLOCK_CANDIDATES,
    CLASSES,
    SPLITS,
    SusySimConfig,
    simulate_split,
)
from hepxai.usecases.susy.store import SusyFile, split_path, write_events


@dataclass(frozen=True)
class SplitSizes:
    """Stored events per split (train, test)."""

    train: int
    test: int

    def __post_init__(self) -> None:
        for split in SPLITS:
            value = getattr(self, split)
            if value != 0 and value < len(CLASSES):
                raise HepxaiError(f"--n-{split} must be 0 (skip) or at least {len(CLASSES)} "
                                  f"(one event per class), got {value}")


#: the simulation presets (sizes in :data:`hepxai.usecases.susy.names.SIMULATION_PRESETS`)
#: an upper estimate of a split file's bytes per event, for the free-space check (213-216
#: measured: ls -l of 'hepxai simulate susy --preset quick')
FILE_BYTES_PER_EVENT = 256
PRESETS: dict[str, SplitSizes] = {name: SplitSizes(*sizes)
                                  for name, sizes in SIMULATION_PRESETS.items()}


def resolve_sizes(preset: str | None = None, *, n_train: int | None = None,
                  n_test: int | None = None) -> SplitSizes:
    """Sizes of a preset with optional per-split overrides."""
    name = preset or "fast"
    if name not in PRESETS:
        raise HepxaiError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    sizes = PRESETS[name]
    return SplitSizes(train=sizes.train if n_train is None else n_train,
                      test=sizes.test if n_test is None else n_test)


def _wanted_attrs(config: SusySimConfig, seed: int, n_events: int) -> dict:
    return {"seed": seed, "n_events": n_events, "block_candidates": BLOCK_CANDIDATES,
            "simulator_config": config.to_json(), "source": "hepxai simulator",
            "luminosity_fb": config.luminosity_fb}


def simulate_dataset(out_dir: str | os.PathLike[str], sizes: SplitSizes, *, seed: int = 1,
                     config: SusySimConfig | None = None,
                     overwrite: bool = False) -> dict[str, dict]:
    """Write ``train.h5`` and ``test.h5`` into ``out_dir``.

    Returns per split: path, events, seconds, bytes, whether it was reused, and the per-process
    bookkeeping (candidates, filter efficiency, expected events). Raises :class:`HepxaiError`
    when a file with *other* contents exists and ``overwrite`` is not set.
    """
    config = config or SusySimConfig()
    if not 0 <= seed < 2**63:
        raise HepxaiError(f"seed must be in [0, 2**63), got {seed}")
    sizes_of = {split: getattr(sizes, split) for split in SPLITS}

    def write(path: Path, split: str, n_events: int, attrs: dict, bar) -> dict:
        events, info = simulate_split(config, seed, split, n_events, on_events=bar.update)
        write_events(path, events, split=split, attrs={**attrs, "processes": json.dumps(info)})
        return {"processes": info}

    return make_splits(out_dir, sizes_of, path=split_path,
                       wanted=lambda split, n_events: _wanted_attrs(config, seed, n_events),
                       read_attrs=lambda path: SusyFile(path).attrs, write=write,
                       overwrite=overwrite, bytes_per_event=lambda split: FILE_BYTES_PER_EVENT,
                       reused_extra=lambda attrs: {
                           "processes": json.loads(attrs.get("processes", "{}"))})
