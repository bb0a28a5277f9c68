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
    from hepxai import usecases
    from hepxai.io.checkpoint import load_model

    path = Path(path)
    if path.is_dir():
        for case in usecases.all_use_cases():
            if case.model_file is not None and (path / case.model_file).is_file():
                return case.load_model_dir(path)
        if (path / "best.pt").is_file():
            path = path / "best.pt"
        else:
            raise HepxaiError(f"{path}: no model here (no best.pt or model description); give a "
                              "checkpoint or a run directory written by 'hepxai train'")
    return load_model(path, device=device, use_case=None)


__all__ = ["load"]
