"""Which use case a run directory belongs to, so ``hepxai report RUN_DIR`` needs no use case."""

from __future__ import annotations

import os
from pathlib import Path

import h5py

from hepxai.core.errors import HepxaiError

# the ``format`` attribute every hepxai HDF5 data file carries -> use case
DATA_FORMATS = {"hepxai-muon": "muon", "hepxai-darkjet": "darkjet", "hepxai-susy": "susy"}


def use_case_of(run_dir: str | os.PathLike[str]) -> str:
    """The use case of ``run_dir``, from the format of its data files (``data/**/*.h5``), else
    from the muon layout (``models/*/history.json``, ``explain/*/judging.json``)."""
    run = Path(run_dir)
    if not run.is_dir():
        raise HepxaiError(f"{run}: no such run directory; run 'hepxai demo USE_CASE --out {run}' "
                          "first")
    for path in sorted(run.glob("data/**/*.h5")):
        try:
            with h5py.File(path, "r") as f:
                found = DATA_FORMATS.get(str(f.attrs.get("format", "")))
        except OSError:
            continue  # unreadable file: let the other files (or the report itself) decide
        if found:
            return found
    if any(run.glob("models/*/history.json")) or any(run.glob("explain/*/judging.json")):
        return "muon"
    raise HepxaiError(f"{run}: cannot tell which use case this run directory holds (no hepxai "
                      "data file under data/); name it: 'hepxai report muon|darkjet|susy "
                      f"{run}'")
