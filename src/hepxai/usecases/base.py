"""What the core needs to know about a use case: one :class:`UseCase` object per package.

It replaces the central registries a use case once had to be added to (the CLI's module list,
the checkpoint rebuilders, the report's data-format table): the core asks
:func:`hepxai.usecases.get` and never imports a use case by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class UseCase:
    """A vertical package on top of the core.

    Attributes:
        name: ``hepxai VERB NAME`` on the command line, ``use_case`` in checkpoints.
        summary: one line for ``hepxai --help`` and the docs.
        data_format: the ``format`` attribute of its HDF5 data files (``hepxai-muon``...), from
            which ``hepxai report RUN_DIR`` recognises a run directory.
        cli: the module whose import registers its commands (kept light: it imports torch
            and the rest only inside the command handlers).
        rebuild: checkpoint dict -> the freshly built model (weights not loaded yet), so
            :func:`hepxai.models.load` can read any use case's checkpoints.
        is_run_dir: whether a directory without data files is one of its run directories
            (the muon layout predates the data files in run directories).
        model_file: the file that marks a model stored in the use case's own format in a run
            directory (SUSY: ``model.json``), read by ``load_model_dir``; ``None`` for models
            stored as hepxai checkpoints.
        onnx: the module telling :mod:`hepxai.models.onnx_export` the inputs of its torch
            models and the held-out file they are checked on (``exportable``, ``CHECK_FILE``);
            ``None``: its models are not exported.
    """

    name: str
    summary: str
    data_format: str
    cli: str
    rebuild: Callable[[dict[str, Any]], Any]
    is_run_dir: Callable[[Any], bool] | None = None
    model_file: str | None = None
    load_model_dir: Callable[[Any], Any] | None = None
    onnx: str | None = None
