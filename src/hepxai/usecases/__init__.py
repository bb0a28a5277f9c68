"""The use cases, one package each on top of the core; adding one is a folder and a line here.

Each package defines ``USE_CASE`` (a :class:`~hepxai.usecases.base.UseCase`) in its
``__init__``; nothing heavy is imported until a use case is asked for.
"""

from __future__ import annotations

import os
from importlib import import_module
from pathlib import Path

from hepxai.core.errors import HepxaiError
from hepxai.usecases.base import UseCase

#: name -> package; the order is the order of ``hepxai --help``
PACKAGES = {
    "muon": "hepxai.usecases.muon",
    "darkjet": "hepxai.usecases.darkjet",
    "susy": "hepxai.usecases.susy",
}


def names() -> tuple[str, ...]:
    """The use cases' names."""
    return tuple(PACKAGES)


def get(name: str) -> UseCase:
    """The use case ``name``; a one-line error naming the choices otherwise."""
    if name not in PACKAGES:
        raise HepxaiError(f"unknown use case {name!r}; choose one of {', '.join(PACKAGES)}")
    return import_module(PACKAGES[name]).USE_CASE


def all_use_cases() -> list[UseCase]:
    return [get(name) for name in PACKAGES]


def of_run_dir(run_dir: str | os.PathLike[str]) -> str:
    """The use case of ``run_dir``, from the ``format`` attribute of its data files
    (``data/**/*.h5``), else from a use case's own run layout (:attr:`UseCase.is_run_dir`), so
    ``hepxai report RUN_DIR`` needs no use case."""
    import h5py

    run = Path(run_dir)
    if not run.is_dir():
        raise HepxaiError(f"{run}: no such run directory; run 'hepxai demo USE_CASE --out {run}' "
                          "first")
    formats = {case.data_format: case.name for case in all_use_cases()}
    for path in sorted(run.glob("data/**/*.h5")):
        try:
            with h5py.File(path, "r") as f:
                found = formats.get(str(f.attrs.get("format", "")))
        except OSError:
            continue  # unreadable file: let the other files (or the report itself) decide
        if found:
            return found
    for case in all_use_cases():
        if case.is_run_dir is not None and case.is_run_dir(run):
            return case.name
    raise HepxaiError(f"{run}: cannot tell which use case this run directory holds (no hepxai "
                      f"data file under data/); name it: 'hepxai report {'|'.join(PACKAGES)} "
                      f"{run}'")


__all__ = ["PACKAGES", "UseCase", "all_use_cases", "get", "names", "of_run_dir"]
