"""One training loop for every torch muon model.

* MAE loss in the model's encoded target space (see :class:`MuonRegressor`);
* the optimiser, batch size, schedule and epochs of the model's preset (overridable);
* reproducible: the weights are seeded, and the batch order of epoch e is drawn from
  ``(seed, e)`` alone, so ``resume`` after an interruption continues to the same weights as an
  uninterrupted run;
* a checkpoint every epoch (model, optimiser, scheduler, epoch, learning rate, history) written
  atomically and kept (TracIn reads them), ``best.pt`` by validation efficiency at 15 GeV;
* offline distillation: with a teacher, the targets are the teacher's predictions, computed
  once before training;
* history as JSON and the training-curves figure.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hepxai.core.atomic import atomic_path, write_json_atomic
from hepxai.core.errors import HepxaiError
from hepxai.core.progress import progress
from hepxai.data.muon.loader import MuonDataset, muon_loader
from hepxai.metrics import trigger
from hepxai.models.base import MuonRegressor, TrainingRecipe
from hepxai.train.checkpoint import load_model, save_checkpoint

EVAL_BATCH = 2048


@dataclass
class TrainResult:
    out_dir: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = -1
    seconds: float = 0.0
    events_per_second: float = 0.0


def predict(model: MuonRegressor, dataset: MuonDataset, device: str = "cpu",
            batch_size: int = EVAL_BATCH, desc: str | None = None) -> np.ndarray:
    """Physical predictions ``(n, 2)`` (pT [GeV], |eta|) of ``model`` on every event."""
    model.eval()
    outputs = []
    loader = muon_loader(dataset, batch_size=batch_size)
    with torch.no_grad():
        for x, _ in progress(loader, desc=desc or "predict", unit="batch"):
            outputs.append(model(_to_device(x, device, model)).float().cpu())
    return torch.cat(outputs).numpy()


def _to_device(x: torch.Tensor, device: str, model: MuonRegressor) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    if model.recipe.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def _optimizer(model: nn.Module, recipe: TrainingRecipe) -> torch.optim.Optimizer:
    if recipe.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=recipe.learning_rate)
    if recipe.optimizer == "sgd":  # plain SGD, no momentum: what TracIn's derivation assumes
        return torch.optim.SGD(model.parameters(), lr=recipe.learning_rate)
    raise HepxaiError(f"unknown optimizer {recipe.optimizer!r}; use adam or sgd")


def _scheduler(optimizer: torch.optim.Optimizer, recipe: TrainingRecipe,
               steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler:
    if recipe.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=recipe.learning_rate, total_steps=recipe.epochs * steps_per_epoch)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)


def validation_metrics(model: MuonRegressor, dataset: MuonDataset, device: str) -> dict:
    """Loss (encoded MAE, what training minimises), physical MAE, spread, efficiencies."""
    predictions = predict(model, dataset, device, desc="validate")
    targets = dataset.targets.numpy()
    encoded_p = model.encode_targets(torch.from_numpy(predictions).to(model.target_mean))
    encoded_t = model.encode_targets(dataset.targets.to(model.target_mean))
    summary = trigger.trigger_summary(targets[:, 0], predictions[:, 0], targets[:, 1],
                                      predictions[:, 1])
    return {"loss": float((encoded_p - encoded_t).abs().sum(1).mean()),
            "mae": summary["mae"]["total"], "spread": summary["spread"],
            "efficiency_15": summary["efficiency_15"],
            "efficiency_10": summary["efficiency_10"]}


def teacher_targets(teacher_checkpoint: str | os.PathLike[str], dataset: MuonDataset,
                    device: str) -> torch.Tensor:
    """Offline distillation targets: the teacher's physical predictions ``(n, 2)``."""
    teacher = load_model(teacher_checkpoint, device=device)
    return torch.from_numpy(predict(teacher, dataset, device, desc="teacher predictions"))


def train(model: MuonRegressor, train_set: MuonDataset, val_set: MuonDataset,
          out_dir: str | os.PathLike[str], *, seed: int = 1, epochs: int | None = None,
          device: str = "cpu", resume: bool = False, teacher: str | None = None,
          recipe: TrainingRecipe | None = None,
          on_epoch: Callable[[dict], None] | None = None) -> TrainResult:
    """Train ``model`` and write ``out_dir/checkpoints/epoch_NNN.pt``, ``best.pt``,
    ``history.json`` and ``training_curves.png``.

    ``resume`` continues from the last epoch checkpoint in ``out_dir`` (an error if it belongs
    to another model, preset or seed). ``teacher``: checkpoint of a model whose predictions
    replace the labels (distillation).
    """
    out = Path(out_dir)
    recipe = recipe or model.recipe
    if epochs is not None:
        recipe = replace(recipe, epochs=epochs)
    model.recipe = recipe
    checkpoints = out / "checkpoints"
    if teacher is not None:
        train_set.targets = teacher_targets(teacher, train_set, device)

    torch.manual_seed(seed)
    model.fit_target_encoding(train_set.targets)
    model.to(device)
    if recipe.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = _optimizer(model, recipe)
    steps_per_epoch = math.ceil(len(train_set) / recipe.batch_size)
    scheduler = _scheduler(optimizer, recipe, steps_per_epoch)
    result = TrainResult(out_dir=out)
    start_epoch = 0
    identity = {"model": model.name, "preset": model.preset, "seed": seed,
                "recipe": recipe.to_dict(), "teacher": str(teacher) if teacher else None,
                "n_train": len(train_set)}
    if resume:
        start_epoch, result.history = _resume(checkpoints, model, optimizer, scheduler, identity,
                                              device)
    elif checkpoints.exists() and any(checkpoints.glob("epoch_*.pt")):
        raise HepxaiError(f"{checkpoints} already holds checkpoints; pass --resume to continue "
                          "that run or choose another --out")

    best = max((h["efficiency_15"] for h in result.history), default=-1.0)
    started = time.perf_counter()
    trained_events = 0
    for epoch in range(start_epoch, recipe.epochs):
        stats = _train_epoch(model, train_set, optimizer, scheduler, recipe, seed, epoch, device)
        trained_events += stats.pop("events")
        record = {"epoch": epoch + 1, "learning_rate": stats.pop("learning_rate"),
                  **{f"train_{k}": v for k, v in stats.items()},
                  **validation_metrics(model, val_set, device)}
        result.history.append(record)
        state = {"identity": identity, "epoch": epoch + 1, "history": result.history,
                 "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                 "learning_rate": record["learning_rate"]}
        path = save_checkpoint(checkpoints / f"epoch_{epoch + 1:03d}.pt", model, state)
        if record["efficiency_15"] > best:
            best = record["efficiency_15"]
            save_checkpoint(out / "best.pt", model, state)
        write_json_atomic(out / "history.json", {"identity": identity,
                                                 "history": result.history})
        if on_epoch is not None:
            on_epoch({**record, "checkpoint": str(path)})
    result.seconds = time.perf_counter() - started
    result.events_per_second = trained_events / result.seconds if result.seconds > 0 else 0.0
    result.best_epoch = max(result.history, key=lambda h: h["efficiency_15"])["epoch"]
    if result.history:
        from hepxai.viz.training import plot_training_curves

        plot_training_curves(result.history, out / "training_curves.png",
                             title=f"{model.name} ({model.preset})")
    return result


def _train_epoch(model: MuonRegressor, train_set: MuonDataset,
                 optimizer: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LRScheduler, recipe: TrainingRecipe,
                 seed: int, epoch: int, device: str) -> dict:
    model.train()
    # the batch order of an epoch depends on (seed, epoch) only: resuming reproduces it
    loader = muon_loader(train_set, batch_size=recipe.batch_size, shuffle=True,
                         seed=seed * 1_000_003 + epoch)
    loss_sum, n_seen = 0.0, 0
    spread_sum, spread_n, above, selected_above = 0.0, 0, 0, 0
    learning_rate = optimizer.param_groups[0]["lr"]
    bar = progress(loader, desc=f"epoch {epoch + 1}/{recipe.epochs}", unit="batch")
    for x, y in bar:
        x, y = _to_device(x, device, model), y.to(device)
        encoded = model.forward_encoded(x)
        loss = (encoded - model.encode_targets(y)).abs().sum(1).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        learning_rate = optimizer.param_groups[0]["lr"]
        scheduler.step()
        with torch.no_grad():  # running trigger metrics of the epoch, for the progress bar
            pt, pt_hat = y[:, 0], model.decode_outputs(encoded.detach())[:, 0]
            window = (pt >= 7) & (pt <= 13)
            spread_sum += float((pt - pt_hat).abs()[window].sum())
            spread_n += int(window.sum())
            above += int((pt > 15).sum())
            selected_above += int(((pt > 15) & (pt_hat > 15)).sum())
        loss_sum += loss.item() * len(y)
        n_seen += len(y)
        bar.set_postfix(loss=f"{loss_sum / n_seen:.4f}",
                        spread=f"{spread_sum / max(spread_n, 1):.3f}",
                        eff15=f"{selected_above / max(above, 1):.3f}", refresh=False)
    return {"loss": loss_sum / max(n_seen, 1),
            "spread": spread_sum / spread_n if spread_n else float("nan"),
            "efficiency_15": selected_above / above if above else float("nan"),
            "learning_rate": learning_rate, "events": n_seen}


def _resume(checkpoints: Path, model: MuonRegressor, optimizer: torch.optim.Optimizer,
            scheduler: torch.optim.lr_scheduler.LRScheduler, identity: dict,
            device: str) -> tuple[int, list[dict]]:
    paths = sorted(checkpoints.glob("epoch_*.pt"))
    if not paths:
        return 0, []  # nothing to resume: start from scratch
    state = torch.load(paths[-1], map_location=device, weights_only=False)
    saved = state["identity"]
    differs = [k for k in ("model", "preset", "seed", "teacher", "n_train")
               if saved.get(k) != identity[k]]
    if differs:
        raise HepxaiError(f"{paths[-1]} was made with another {', '.join(differs)} "
                          f"({', '.join(f'{k}={saved.get(k)!r}' for k in differs)}); resume with "
                          "the same settings or choose another --out")
    model.load_state_dict(state["model_state"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return int(state["epoch"]), list(state["history"])


def save_model_only(model: MuonRegressor, path: str | os.PathLike[str]) -> int:
    """Write only the weights (what a deployment needs); returns the size in bytes."""
    with atomic_path(path) as tmp:
        torch.save(model.state_dict(), tmp)
    return Path(path).stat().st_size
