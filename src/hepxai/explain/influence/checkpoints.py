"""The checkpoints TracIn sums over: which ones (spread over a run, or named) and what each is
(path, SHA-256, epoch, learning rate, the run it belongs to), for any use case.

A checkpoint counts with the step size of its epoch, the ``learning_rate`` the training loop
stores with it (the mean over the epoch's steps); checkpoints of one TracIn computation must
belong to one training run.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hepxai.core.errors import HepxaiError
from hepxai.explain.influence.constants import DEFAULT_CHECKPOINTS

#: ``read(path) -> checkpoint dict`` (with ``learning_rate``; optionally ``epoch``, ``model``,
#: ``preset`` and ``identity`` with ``seed`` and ``n_train``)
Reader = Callable[[Path], dict[str, Any]]


@dataclass(frozen=True)
class CheckpointRef:
    """One checkpoint TracIn uses: where it is, its step size and what it is a checkpoint of."""

    path: str
    epoch: int
    learning_rate: float
    sha256: str
    model: str
    preset: str
    seed: int | None
    n_train: int | None

    def describe(self) -> str:
        return (f"{self.model} ({self.preset}, seed {self.seed}, {self.n_train} training "
                "examples)")


def spread_over_training(paths: Sequence[str | os.PathLike[str]],
                         count: int = DEFAULT_CHECKPOINTS) -> list[Path]:
    """``count`` checkpoints spread uniformly over the run, at the centres of ``count`` equal
    slices: of 30 epochs 5, 15 and 25 (the thesis' choice), of 2 epochs both, of 6: 1, 3, 5.

    >>> [p.name for p in spread_over_training([f"e{i}" for i in range(1, 31)])]
    ['e5', 'e15', 'e25']
    """
    if count < 1:
        raise HepxaiError(f"asked for {count} checkpoints; use at least 1")
    m = len(paths)
    picked = sorted({-(-((2 * i + 1) * m) // (2 * count)) - 1 for i in range(count)})
    return [Path(paths[i]) for i in picked]


def _epoch_checkpoints(run: Path, use_case: str) -> list[Path]:
    if not run.is_dir():
        raise HepxaiError(f"{run}: no such run directory; train one with 'hepxai train "
                          f"{use_case} --out {run}'")
    paths = sorted((run / "checkpoints").glob("epoch_*.pt"))
    if not paths:
        raise HepxaiError(f"{run}: no epoch checkpoints in {run / 'checkpoints'}; train the "
                          f"model with 'hepxai train {use_case} --out RUN' (it keeps one per "
                          "epoch)")
    return paths


def select_checkpoints(run_dir: str | os.PathLike[str], spec: str | None = None,
                       count: int = DEFAULT_CHECKPOINTS, use_case: str = "muon") -> list[Path]:
    """Checkpoints of the run ``run_dir`` (``RUN/checkpoints/epoch_NNN.pt``): ``spec`` =
    comma-separated epochs (``"5,15,25"``) or paths; ``None`` = :func:`spread_over_training`
    of all epoch checkpoints. ``use_case`` names the training command in error messages."""
    run = Path(run_dir)
    items = [s.strip() for s in (spec or "").split(",") if s.strip()]
    if not items:
        return spread_over_training(_epoch_checkpoints(run, use_case), count)
    chosen: list[Path] = []
    for item in items:
        if not item.isdigit():
            chosen.append(Path(item))
            continue
        path = run / "checkpoints" / f"epoch_{int(item):03d}.pt"
        if not path.is_file():
            have = ", ".join(str(int(p.stem.split("_")[1]))
                             for p in _epoch_checkpoints(run, use_case))
            raise HepxaiError(f"{path}: no checkpoint of epoch {item} in {run}; the run has "
                              f"epochs {have}")
        chosen.append(path)
    return chosen


def sha256(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe_checkpoints(paths: Sequence[str | os.PathLike[str]], use_case: str | None = "muon",
                         check: Callable[[Path, dict[str, Any]], None] | None = None,
                         read: Reader | None = None) -> list[CheckpointRef]:
    """Read and check the checkpoints TracIn will use: models of one training run, each with
    its learning rate. ``read`` reads one (default: a hepxai checkpoint of ``use_case``),
    ``check(path, state)`` may refuse a model kind. One-line :class:`HepxaiError` otherwise."""
    if not paths:
        raise HepxaiError("no checkpoints given; pass a run directory or --checkpoints")
    if read is None:
        from hepxai.io.checkpoint import read_checkpoint

        def read(path: Path) -> dict[str, Any]:
            return read_checkpoint(path, use_case=use_case)

    written_by = (f"the epoch checkpoints written by 'hepxai train {use_case}' "
                  "(RUN/checkpoints/epoch_NNN.pt)" if use_case else
                  "checkpoints that store their epoch's step size as 'learning_rate'")
    refs = []
    for path in map(Path, paths):
        state = read(path)
        if check is not None:
            check(path, state)
        rate = state.get("learning_rate")
        if rate is None:
            raise HepxaiError(f"{path}: the checkpoint stores no learning rate; TracIn weights "
                              f"each checkpoint by its step size, so use {written_by}")
        if not (isinstance(rate, int | float) and math.isfinite(rate) and rate > 0):
            raise HepxaiError(f"{path}: learning rate {rate!r} is not a positive number; use "
                              f"{written_by}")
        identity = state.get("identity") or {}
        refs.append(CheckpointRef(path=str(path.resolve()), epoch=int(state.get("epoch", -1)),
                                  learning_rate=float(rate), sha256=sha256(path),
                                  model=str(state.get("model", "model")),
                                  preset=str(state.get("preset", "")),
                                  seed=identity.get("seed"), n_train=identity.get("n_train")))
    first = refs[0]
    for ref in refs[1:]:
        if (ref.model, ref.preset, ref.seed, ref.n_train) != \
                (first.model, first.preset, first.seed, first.n_train):
            raise HepxaiError(f"{ref.path} is a checkpoint of another run ({ref.describe()}) "
                              f"than {first.path} ({first.describe()}); give checkpoints of one "
                              "training run")
    hashes = [r.sha256 for r in refs]
    if len(set(hashes)) != len(hashes):
        raise HepxaiError("the same checkpoint is given twice; give each checkpoint once")
    return refs
