"""Simulated SUSY samples shared by the ``test_susy_*`` files, made once per test process.

Not a test module (no ``test_`` prefix): the files import it, pytest's rootdir insertion puts
``tests/`` on ``sys.path``.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from hepxai.usecases.susy.generate import SplitSizes, simulate_dataset
from hepxai.usecases.susy.simulator import SusyEvents, SusySimConfig, simulate_split

PHYSICS_SEED = 5
DATA_SEED = 3


@functools.lru_cache(maxsize=1)
def physics_events() -> tuple[SusyEvents, dict]:
    """15,000 events (3,000 a class) in memory: enough for correlations to +-0.015."""
    return simulate_split(SusySimConfig(), PHYSICS_SEED, "train", 15_000)


@functools.lru_cache(maxsize=1)
def data_dir() -> Path:
    """A small data directory (train 5,000 / test 2,500 events). Read-only: copy to modify."""
    out = Path(tempfile.mkdtemp(prefix="hepxai-susy-")) / "data"
    simulate_dataset(out, SplitSizes(train=5_000, test=2_500), seed=DATA_SEED)
    return out
