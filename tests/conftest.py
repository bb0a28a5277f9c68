"""Shared fixtures: quiet progress bars, one small simulated muon data directory, and one
torch thread for modules of tiny models (``pytestmark = pytest.mark.usefixtures(
"one_torch_thread")``)."""

from __future__ import annotations

from pathlib import Path

import pytest

MUON_SEED = 7
MUON_SIZES = {"train": 500, "val": 160, "noise": 200}


@pytest.fixture(autouse=True)
def _no_progress_bars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEPXAI_PROGRESS", "0")


@pytest.fixture(scope="session")
def muon_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated data directory (train/val/noise.h5, seed 7). Read-only: copy it to modify."""
    from hepxai.usecases.muon.generate import SplitSizes, simulate_dataset

    out = tmp_path_factory.mktemp("muon") / "data"
    simulate_dataset(out, SplitSizes(**MUON_SIZES), seed=MUON_SEED, workers=1)
    return out


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny graphs gain nothing from intra-op threads, and on a shared machine the thread
    synchronisation of many small ops costs more than the ops (up to 30x here)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
