"""Checkpoint files: the weights plus what is needed to rebuild and resume the model.

A checkpoint is a ``torch.save`` dict with ``format = "hepxai-checkpoint"``, the use case, the
model's name, preset and training recipe, its ``model_state`` and whatever the training loop
adds (optimiser and scheduler state, epoch, learning rate, history). Models whose architecture
has settings beyond the preset (the dark-jet GNN sweep) also store them as ``config``.
Written atomically.

Rebuilding a model goes through its use case (:attr:`hepxai.usecases.base.UseCase.rebuild`): a
function that takes the checkpoint dict and returns the freshly built model (weights not yet
loaded).
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import zipfile
import zlib
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hepxai import __version__, usecases
from hepxai.core.atomic import atomic_path
from hepxai.core.errors import HepxaiError

FORMAT = "hepxai-checkpoint"


def run_checkpoints(run_dir: str | os.PathLike[str]) -> list[Path]:
    """The epoch checkpoints ``RUN/checkpoints/epoch_NNN.pt`` of a training run, by epoch."""
    run = Path(run_dir)
    paths = sorted((run / "checkpoints").glob("epoch_*.pt"))
    if not paths:
        raise HepxaiError(f"{run}: no epoch checkpoints in {run / 'checkpoints'}; train the model "
                          "first with 'hepxai train USE_CASE --out RUN' (it keeps one per "
                          "epoch)")
    return paths


def save_checkpoint(path: str | os.PathLike[str], model: nn.Module,
                    extra: dict[str, Any] | None = None, *, use_case: str | None = None) -> Path:
    """Write ``model`` (and ``extra``) to ``path`` atomically. ``use_case`` defaults to the
    model's ``use_case`` attribute; a model of no use case needs it named."""
    use_case = use_case or getattr(model, "use_case", None)
    if use_case is None:
        raise HepxaiError(f"{type(model).__name__} declares no use case; name it: "
                          "save_checkpoint(..., use_case=NAME)")
    payload = {"format": FORMAT, "hepxai_version": __version__, "use_case": use_case,
               "model": model.name, "preset": model.preset,
               "recipe": dataclasses.asdict(model.recipe),
               "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    config = getattr(model, "config", None)
    if config is not None:
        payload["config"] = dict(config)
    payload.update(extra or {})
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def read_checkpoint(path: str | os.PathLike[str], device: str = "cpu",
                    use_case: str | None = None) -> dict[str, Any]:
    """The checkpoint dict; one-line :class:`HepxaiError` for a missing or foreign file.

    ``use_case``: the use case the checkpoint must belong to (``None``, the default, accepts any
    known one; a use case's own readers pass their name, so a foreign checkpoint is refused in
    one line).
    """
    path = Path(path)
    hint = f"'hepxai train {use_case or 'USE_CASE'}'"
    if not path.is_file():
        raise HepxaiError(f"{path}: no such checkpoint; train one with {hint}")
    damaged = _damaged_member(path)
    if damaged is not None:
        raise HepxaiError(f"{path}: damaged ({damaged}); re-create it with {hint}")
    try:
        # weights_only: tensors and plain containers only; a pickled object (code) is refused
        state = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError:
        raise HepxaiError(f"{path}: holds pickled Python objects besides tensors; hepxai "
                          "never unpickles them (loading could run code from the file): use "
                          f"a checkpoint written by {hint}") from None
    except (zipfile.BadZipFile, RuntimeError, EOFError, OSError, ValueError) as exc:
        raise HepxaiError(f"{path}: not a readable checkpoint ({type(exc).__name__}); "
                          f"re-create it with {hint}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise HepxaiError(f"{path}: not a hepxai checkpoint; give a file written by {hint}")
    found = state.get("use_case")
    if use_case is not None and found != use_case:
        raise HepxaiError(f"{path}: a checkpoint of the {found!r} use case, not {use_case}")
    if found not in usecases.names():
        raise HepxaiError(f"{path}: a checkpoint of the unknown use case {found!r}; this "
                          f"hepxai knows {', '.join(usecases.names())}")
    _check_schema(path, state, hint)
    return state


#: what every checkpoint holds, and the type of each
SCHEMA = {"model": str, "preset": str}
#: what a checkpoint may hold (a torch model's weights and recipe; a tree stores its own)
OPTIONAL = {"recipe": dict, "model_state": dict}


def _check_schema(path: Path, state: dict[str, Any], hint: str) -> None:
    """One line naming the first thing a checkpoint lacks or holds in the wrong type (and,
    when a newer hepxai wrote it, saying so: that is the likely reason)."""
    newer = _newer_note(state)
    for key, kind in {**SCHEMA, **OPTIONAL}.items():
        if key not in state:
            if key in OPTIONAL:
                continue
            raise HepxaiError(f"{path}: a hepxai checkpoint without its {key!r} entry{newer}; "
                              f"re-create it with {hint}")
        if not isinstance(state[key], kind):
            raise HepxaiError(f"{path}: its {key!r} entry is a {type(state[key]).__name__}, "
                              f"not a {kind.__name__}{newer}; re-create it with {hint}")
    bad = next((k for k, v in state.get("model_state", {}).items()
                if not isinstance(k, str) or not isinstance(v, torch.Tensor)), None)
    if bad is not None:
        raise HepxaiError(f"{path}: its model_state entry {bad!r} is not a tensor{newer}; "
                          f"re-create it with {hint}")


def _newer_note(state: dict[str, Any]) -> str:
    """`` (written by hepxai X, newer than this Y: upgrade)`` for a checkpoint of a newer
    hepxai (whose fields this one may not know), else the empty string."""
    from packaging.version import InvalidVersion, Version

    written_by = state.get("hepxai_version")
    try:
        newer = isinstance(written_by, str) and Version(written_by) > Version(__version__)
    except InvalidVersion:
        newer = False
    return f" (written by hepxai {written_by}, newer than this {__version__}: upgrade)" \
        if newer else ""


def recipe_of(state: dict[str, Any], recipe_class: type) -> Any:
    """The checkpoint's training recipe as ``recipe_class`` (a dataclass): a field this hepxai
    does not know, or one it needs and the checkpoint lacks, is a one-line
    :class:`HepxaiError` (:func:`load_model` adds the file's name)."""
    known = {f.name: f for f in dataclasses.fields(recipe_class)}
    if "recipe" not in state:
        raise HepxaiError(f"a {state['model']} checkpoint without its training recipe; "
                          "re-create it with 'hepxai train'")
    given = state["recipe"]
    unknown = sorted(set(given) - set(known))
    required = [name for name, f in known.items() if f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING and name not in given]
    if unknown or required:
        what = (f"unknown training-recipe fields {', '.join(unknown)}" if unknown
                else f"no training-recipe field {', '.join(required)}")
        raise HepxaiError(f"{what} (a checkpoint of another hepxai version"
                          f"{_newer_note(state)}); re-create it with this one")
    return recipe_class(**given)


def _damaged_member(path: Path) -> str | None:
    """What is wrong with the checkpoint's zip archive, or None when every member's bytes match
    the CRC-32 the archive records for them. ``torch.save`` writes those checksums but
    ``torch.load`` never checks them: a flipped bit in the weights would load silently."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
        return f"not a complete checkpoint archive: {type(exc).__name__}"
    return None if bad is None else f"the bytes of {bad} fail their checksum"


def load_model(path: str | os.PathLike[str], device: str = "cpu",
               expect: str | None = None, use_case: str | None = None) -> Any:
    """Rebuild the model of a checkpoint, weights loaded, in eval mode (``use_case`` as in
    :func:`read_checkpoint`)."""
    state = read_checkpoint(path, device, use_case=use_case)
    if expect is not None and state["model"] != expect:
        raise HepxaiError(f"{path}: a {state['model']} checkpoint, not {expect}")
    try:
        model = usecases.get(state["use_case"]).rebuild(state)
    except HepxaiError as exc:  # an unknown model or recipe field: name the file
        raise HepxaiError(f"{path}: {exc}") from None
    if not isinstance(model, nn.Module):
        return model  # a scikit-learn model, rebuilt from its tensors
    if "model_state" not in state:
        raise HepxaiError(f"{path}: a {state['model']} checkpoint without its weights "
                          "('model_state'); re-create it with 'hepxai train'")
    try:
        model.load_state_dict(state["model_state"])
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise HepxaiError(f"{path}: weights do not fit a {state['model']} ({first})") from None
    return model.to(device).eval()
