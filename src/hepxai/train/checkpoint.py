"""Checkpoint files: the weights plus what is needed to rebuild and resume the model.

A checkpoint is a ``torch.save`` dict with ``format = "hepxai-checkpoint"``, the model's name,
preset and training recipe, its ``model_state`` and whatever the training loop adds (optimiser
and scheduler state, epoch, learning rate, history). Written atomically.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from hepxai import __version__
from hepxai.core.atomic import atomic_path
from hepxai.core.errors import HepxaiError
from hepxai.models import create
from hepxai.models.base import MuonRegressor, TrainingRecipe
from hepxai.models.decision_tree import NAME as DECISION_TREE
from hepxai.models.decision_tree import DecisionTreeModel

FORMAT = "hepxai-checkpoint"


def save_checkpoint(path: str | os.PathLike[str], model: MuonRegressor,
                    extra: dict[str, Any] | None = None) -> Path:
    payload = {"format": FORMAT, "hepxai_version": __version__, "use_case": "muon",
               "model": model.name, "preset": model.preset, "recipe": asdict(model.recipe),
               "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
               **(extra or {})}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def read_checkpoint(path: str | os.PathLike[str], device: str = "cpu") -> dict[str, Any]:
    """The checkpoint dict; one-line :class:`HepxaiError` for a missing or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise HepxaiError(f"{path}: no such checkpoint; train one with 'hepxai train muon'")
    try:
        state = torch.load(path, map_location=device, weights_only=False)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, OSError,
            ValueError) as exc:
        raise HepxaiError(f"{path}: not a readable checkpoint ({type(exc).__name__}); "
                          "re-create it with 'hepxai train muon'") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise HepxaiError(f"{path}: not a hepxai checkpoint; give a file written by "
                          "'hepxai train muon'")
    if state.get("use_case") != "muon":
        raise HepxaiError(f"{path}: a checkpoint of the {state.get('use_case')!r} use case, "
                          "not muon")
    return state


def load_model(path: str | os.PathLike[str], device: str = "cpu",
               expect: str | None = None) -> MuonRegressor | DecisionTreeModel:
    """Rebuild the model of a checkpoint, weights loaded, in eval mode."""
    state = read_checkpoint(path, device)
    if expect is not None and state["model"] != expect:
        raise HepxaiError(f"{path}: a {state['model']} checkpoint, not {expect}")
    if state["model"] == DECISION_TREE:
        return pickle.loads(state["estimator"])
    model = create(state["model"], state["preset"])
    model.recipe = TrainingRecipe(**state["recipe"])
    try:
        model.load_state_dict(state["model_state"])
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise HepxaiError(f"{path}: weights do not fit a {state['model']} ({first})") from None
    return model.to(device).eval()
