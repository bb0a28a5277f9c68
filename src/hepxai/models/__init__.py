"""Models of every use case, and what explanations need from any model.

:func:`load` reads any hepxai model: a ``.pt`` checkpoint of a torch model (muon, darkjet:
rebuilt through its use case), a training run directory holding ``best.pt``, or a run
directory of a model stored in its own format (a SUSY BDT or MLP: ``model.json``).
:mod:`hepxai.models.inference` makes the fast, BatchNorm-folded copies the explainers run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hepxai.core.errors import HepxaiError


def load(path: str | os.PathLike[str], device: str = "cpu") -> Any:
    """The model at ``path``, weights loaded, in eval mode.

    >>> model = load("runs/muon/tracin-cnn-fast/best.pt")       # doctest: +SKIP
    >>> model = load("runs/darkjet/resgnn-gnn-1-fast")          # its best.pt  # doctest: +SKIP
    >>> bdt = load("runs/susy/bdt-full")                        # model.json  # doctest: +SKIP
    """
    from hepxai.io.checkpoint import load_model

    path, own_format = locate(path)
    if own_format is not None:
        return own_format.load_model_dir(path)
    return load_model(path, device=device, use_case=None)


def locate(path: str | os.PathLike[str]) -> tuple[Path, Any]:
    """Where the model of ``path`` is stored: ``(checkpoint file, None)`` for a hepxai
    checkpoint (``path`` itself, or ``best.pt`` of a run directory), ``(run directory, its
    UseCase)`` for a model in its use case's own format (a SUSY ``model.json``; ``path`` may
    be the run directory or a file in it).

    >>> locate("runs/susy/bdt-full")                  # doctest: +SKIP
    (PosixPath('runs/susy/bdt-full'), UseCase(name='susy', ...))
    """
    from hepxai import usecases

    path = Path(path)
    run = path if path.is_dir() else path.parent  # a file of a SUSY run means its run
    for case in usecases.all_use_cases():
        if case.model_file is not None and (run / case.model_file).is_file():
            return run, case
    if not path.is_dir():
        return path, None
    if (path / "best.pt").is_file():
        return path / "best.pt", None
    raise HepxaiError(f"{path}: no model here (no best.pt or model description); give a "
                      "checkpoint or a run directory written by 'hepxai train'")


def use_case_of(path: str | os.PathLike[str]) -> str:
    """The use case of the model at ``path`` (a checkpoint or a run directory), from the
    checkpoint or the model description: what ``hepxai export-model --checkpoint`` needs.

    >>> use_case_of("runs/muon/tracin-cnn-fast/best.pt")   # doctest: +SKIP
    'muon'
    """
    from hepxai.io.checkpoint import read_checkpoint

    path, own_format = locate(path)
    return own_format.name if own_format is not None else read_checkpoint(path)["use_case"]


__all__ = ["load", "locate", "use_case_of"]
