"""One training loop for every torch model of every use case.

The loop (:func:`fit`) knows nothing about muons or jets; a small per-use-case
:class:`Task` tells it how to batch a dataset, the loss, the running metrics of the progress bar,
the validation metrics and which of them picks the best checkpoint. What the loop guarantees:

* the optimiser, batch size, schedule and epochs of the model's recipe (overridable);
* reproducible: the caller seeds the weights, the loop seeds torch before training, and the
  batch order of epoch e is drawn from ``(seed, e)`` alone, so ``resume`` after an interruption
  continues to bit-identical weights of an uninterrupted run;
* a checkpoint every epoch (model, optimiser, scheduler, epoch, learning rate, history) written
  atomically and kept (TracIn reads them), ``best.pt`` by the task's validation metric among
  the epochs the task admits;
* history as JSON and the training-curves figure; a progress bar with live metrics.

Each use case defines its task next to its models (e.g. :mod:`hepxai.usecases.muon.task`:
MAE loss, best by efficiency at 15 GeV, offline distillation).
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hepxai.core.atomic import atomic_path, write_json_atomic
from hepxai.core.errors import HepxaiError
from hepxai.core.progress import progress
from hepxai.io.checkpoint import read_checkpoint, save_checkpoint

EVAL_BATCH = 2048


@dataclass
class TrainResult:
    out_dir: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = -1
    seconds: float = 0.0
    events_per_second: float = 0.0


class Meter:
    """Running metrics of one training epoch (shown in the progress bar, kept as ``train_*``).

    The base meter keeps none; a task returns its own subclass from :meth:`Task.meter`.
    """

    def update(self, model: nn.Module, batch: Any, outputs: torch.Tensor) -> None:
        """Account for one batch; ``outputs`` are the detached network outputs of the loss."""

    def postfix(self) -> dict[str, str]:
        """Formatted values for the progress bar."""
        return {}

    def result(self) -> dict[str, float]:
        """The epoch's values (NaN where undefined)."""
        return {}


class Task:
    """What the loop needs to know about a use case. Subclasses override the methods.

    Attributes:
        use_case: recorded in every checkpoint (``"muon"``, ``"darkjet"``...).
        best_metric: the validation metric that picks ``best.pt``.
        higher_is_better: direction of ``best_metric``.
        curve_panels: ``(key, axis label)`` pairs of the training-curves figure; each key is
            drawn for training (``train_KEY``) and validation (``KEY``).

    :meth:`admissible` may exclude epochs from the choice of ``best.pt`` (an epoch that fails a
    requirement the metric alone does not see); while no epoch is admissible, every epoch is.
    """

    use_case: str = ""
    best_metric: str = "loss"
    higher_is_better: bool = False
    curve_panels: tuple[tuple[str, str], ...] = (("loss", "loss"),)

    def prepare(self, model: nn.Module, train_set: Any, recipe: Any, device: str) -> None:
        """Fit anything that depends on the training data and move the model to ``device``."""
        model.to(device)

    def batches(self, dataset: Any, batch_size: int, shuffle: bool, seed: int) -> Iterable:
        """Batches of ``dataset``; with ``shuffle`` the order must depend on ``seed`` only."""
        raise NotImplementedError

    def to_device(self, batch: Any, device: str, model: nn.Module) -> Any:
        raise NotImplementedError

    def batch_len(self, batch: Any) -> int:
        """Number of events in ``batch`` (the loss is averaged over them)."""
        raise NotImplementedError

    def loss(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mean loss of the batch, network outputs)``."""
        raise NotImplementedError

    def meter(self) -> Meter:
        return Meter()

    def validate(self, model: nn.Module, dataset: Any, device: str) -> dict[str, float]:
        """Validation metrics; must contain ``loss`` and :attr:`best_metric`."""
        raise NotImplementedError

    def admissible(self, record: dict[str, float]) -> bool:
        """Whether an epoch's validation ``record`` may become ``best.pt``."""
        return True

    def rank(self, record: dict[str, float]) -> tuple[bool, float]:
        """Order of epochs for ``best.pt``: admissible first, then by :attr:`best_metric`."""
        value = record[self.best_metric]
        return self.admissible(record), value if self.higher_is_better else -value


def make_optimizer(model: nn.Module, recipe: Any) -> torch.optim.Optimizer:
    """Adam or plain SGD (no momentum: what TracIn's derivation assumes) from ``recipe``."""
    weight_decay = float(getattr(recipe, "weight_decay", 0.0))
    if recipe.optimizer == "adam":
        if weight_decay:
            return torch.optim.Adam(model.parameters(), lr=recipe.learning_rate,
                                    weight_decay=weight_decay)
        return torch.optim.Adam(model.parameters(), lr=recipe.learning_rate)
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=recipe.learning_rate,
                               weight_decay=weight_decay)
    raise HepxaiError(f"unknown optimizer {recipe.optimizer!r}; use adam or sgd")


def make_scheduler(optimizer: torch.optim.Optimizer, recipe: Any,
                   steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler:
    """One-cycle over the whole run, or a constant learning rate.

    One-cycle cycles Adam's beta1 as usual, but never SGD's momentum: torch's default would turn
    plain SGD into SGD with momentum 0.85-0.95, which TracIn's derivation does not allow.
    """
    if recipe.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=recipe.learning_rate, total_steps=recipe.epochs * steps_per_epoch,
            cycle_momentum=recipe.optimizer != "sgd")
    if recipe.schedule != "constant":
        raise HepxaiError(f"unknown schedule {recipe.schedule!r}; use constant or onecycle")
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)


def fit(model: nn.Module, task: Task, train_set: Any, val_set: Any,
        out_dir: str | os.PathLike[str], *, recipe: Any, identity: dict[str, Any],
        seed: int = 1, device: str = "cpu", resume: bool = False,
        on_epoch: Callable[[dict], None] | None = None, title: str | None = None) -> TrainResult:
    """Train ``model`` with ``task`` and write ``out_dir/checkpoints/epoch_NNN.pt``,
    ``best.pt``, ``history.json`` and ``training_curves.png``.

    ``recipe``: optimizer, learning_rate, batch_size, epochs, schedule (and optionally
    weight_decay), with a ``to_dict()``. ``identity``: what makes two runs the same run; resuming
    checks every key but ``recipe`` (so a resumed run may ask for more epochs). ``resume``
    continues from the last epoch checkpoint in ``out_dir``.
    """
    out = Path(out_dir)
    model.recipe = recipe
    checkpoints = out / "checkpoints"

    torch.manual_seed(seed)
    task.prepare(model, train_set, recipe, device)
    optimizer = make_optimizer(model, recipe)
    steps_per_epoch = math.ceil(len(train_set) / recipe.batch_size)
    scheduler = make_scheduler(optimizer, recipe, steps_per_epoch)
    result = TrainResult(out_dir=out)
    start_epoch = 0
    if resume:
        start_epoch, result.history = _resume(checkpoints, model, optimizer, scheduler, identity,
                                              device)
        _restore_outputs(out, checkpoints, result.history, task, identity, device)
    elif checkpoints.exists() and any(checkpoints.glob("epoch_*.pt")):
        raise HepxaiError(f"{checkpoints} already holds checkpoints; pass --resume to continue "
                          "that run or choose another --out")

    best = (False, -math.inf)
    for record in result.history:
        best = max(best, task.rank(record))
    started = time.perf_counter()
    trained_events = 0
    for epoch in range(start_epoch, recipe.epochs):
        stats = _train_epoch(model, task, train_set, optimizer, scheduler, recipe, seed, epoch,
                             device)
        trained_events += stats.pop("events")
        record = {"epoch": epoch + 1, "learning_rate": stats.pop("learning_rate"),
                  **{f"train_{k}": v for k, v in stats.items()},
                  **task.validate(model, val_set, device)}
        result.history.append(record)
        state = {"identity": identity, "epoch": epoch + 1, "history": result.history,
                 "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                 "learning_rate": record["learning_rate"]}
        path = save_checkpoint(checkpoints / f"epoch_{epoch + 1:03d}.pt", model, state,
                               use_case=task.use_case)
        if task.rank(record) > best:
            best = task.rank(record)
            save_checkpoint(out / "best.pt", model, state, use_case=task.use_case)
        write_json_atomic(out / "history.json", {"identity": identity,
                                                 "history": result.history})
        if on_epoch is not None:
            on_epoch({**record, "checkpoint": str(path)})
    result.seconds = time.perf_counter() - started
    result.events_per_second = trained_events / result.seconds if result.seconds > 0 else 0.0
    if result.history:
        result.best_epoch = max(result.history, key=task.rank)["epoch"]
        from hepxai.viz.training import plot_training_curves

        plot_training_curves(result.history, out / "training_curves.png",
                             title=title or f"{model.name} ({model.preset})",
                             panels=task.curve_panels)
    return result


def _train_epoch(model: nn.Module, task: Task, train_set: Any, optimizer: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LRScheduler, recipe: Any, seed: int,
                 epoch: int, device: str) -> dict:
    model.train()
    # the batch order of an epoch depends on (seed, epoch) only: resuming reproduces it
    batches = task.batches(train_set, recipe.batch_size, True, seed * 1_000_003 + epoch)
    meter = task.meter()
    loss_sum, n_seen = 0.0, 0
    # TracIn weighs each epoch checkpoint by the step size of its epoch; under a schedule
    # (one-cycle ends near 0) the epoch's mean step size is that weight, not its last one
    rate_sum, n_steps = 0.0, 0
    bar = progress(batches, desc=f"epoch {epoch + 1}/{recipe.epochs}", unit="batch")
    for batch in bar:
        batch = task.to_device(batch, device, model)
        loss, outputs = task.loss(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        rate_sum += optimizer.param_groups[0]["lr"]
        n_steps += 1
        scheduler.step()
        n = task.batch_len(batch)
        with torch.no_grad():
            meter.update(model, batch, outputs.detach())
        loss_sum += loss.item() * n
        n_seen += n
        bar.set_postfix(loss=f"{loss_sum / n_seen:.4f}", **meter.postfix(), refresh=False)
    return {"loss": loss_sum / max(n_seen, 1), **meter.result(),
            "learning_rate": rate_sum / n_steps if n_steps else optimizer.param_groups[0]["lr"],
            "events": n_seen}


def _resume(checkpoints: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
            scheduler: torch.optim.lr_scheduler.LRScheduler, identity: dict,
            device: str) -> tuple[int, list[dict]]:
    paths = sorted(checkpoints.glob("epoch_*.pt"))
    if not paths:
        return 0, []  # nothing to resume: start from scratch
    state = read_checkpoint(paths[-1], device)  # tensors only: never unpickles code
    saved = state["identity"]
    differs = [k for k in identity if k != "recipe" and saved.get(k) != identity[k]]
    if differs:
        raise HepxaiError(f"{paths[-1]} was made with another {', '.join(differs)} "
                          f"({', '.join(f'{k}={saved.get(k)!r}' for k in differs)}); resume with "
                          "the same settings or choose another --out")
    _check_recipe(paths[-1], saved.get("recipe"), identity.get("recipe"))
    model.load_state_dict(state["model_state"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return int(state["epoch"]), list(state["history"])


def _check_recipe(path: Path, saved: dict | None, asked: dict | None) -> None:
    """A resumed run trains on with the recipe it started with: any change but more epochs is
    refused (a changed batch size or learning rate would silently make another run), and more
    epochs only under a constant schedule (one-cycle spans the epochs it was started with)."""
    if saved is None or asked is None:
        return
    changed = sorted(k for k in set(saved) | set(asked)
                     if saved.get(k) != asked.get(k) and k != "epochs")
    if changed:
        shown = ", ".join(f"{k} {saved.get(k)!r} -> {asked.get(k)!r}" for k in changed)
        raise HepxaiError(f"{path}: the run was started with other training settings ({shown});"
                          " resume with the same settings or choose another --out")
    if saved.get("epochs") != asked.get("epochs") and saved.get("schedule") == "onecycle":
        raise HepxaiError(f"{path}: the run's one-cycle schedule spans {saved.get('epochs')} "
                          f"epochs; resume with --epochs {saved.get('epochs')} (more epochs "
                          "need a new run)")


def _restore_outputs(out: Path, checkpoints: Path, history: list[dict], task: Task,
                     identity: dict, device: str) -> None:
    """After a resume: ``history.json`` and ``best.pt`` derived again from the epoch
    checkpoints, so a run killed between writing ``epoch_NNN.pt`` and either of them ends as
    the uninterrupted run would."""
    if not history:
        return
    write_json_atomic(out / "history.json", {"identity": identity, "history": history})
    epoch = max(history, key=task.rank)["epoch"]
    best = out / "best.pt"
    try:
        current = read_checkpoint(best, device).get("epoch") if best.exists() else None
    except HepxaiError:
        current = None  # damaged: rewritten from its epoch checkpoint
    if current != epoch:
        source = checkpoints / f"epoch_{epoch:03d}.pt"
        with atomic_path(best) as tmp:
            shutil.copyfile(source, tmp)


def save_model_only(model: nn.Module, path: str | os.PathLike[str]) -> int:
    """Write only the weights (what a deployment needs); returns the size in bytes."""
    with atomic_path(path) as tmp:
        torch.save(model.state_dict(), tmp)
    return Path(path).stat().st_size

