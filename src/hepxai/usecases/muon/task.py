"""The muon task of the training loop: MAE regression of (pT, |eta|), best by efficiency at 15 GeV.

* MAE loss in the model's encoded target space (see :class:`MuonRegressor`), :func:`encoded_mae`;
* running spread and efficiency at 15 GeV in the progress bar;
* validation: encoded loss, physical MAE, spread, efficiencies at 15 and 10 GeV; ``best.pt`` by
  the validation efficiency at 15 GeV (the thesis' criterion) among the epochs whose spread meets
  the trigger's resolution requirement (<= 1.5 GeV), or among all epochs while none does;
* offline distillation: with a teacher, the targets are the teacher's predictions, computed
  once before training;
* TracIn's view of the same loss: :class:`MuonGradients`, the gradient source of
  :mod:`hepxai.explain.influence` (images in, encoded (pT, |eta|) out, this MAE).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hepxai.core.errors import HepxaiError
from hepxai.core.progress import progress
from hepxai.explain.influence.source import GradientSource, file_identity
from hepxai.io.checkpoint import load_model, read_checkpoint
from hepxai.metrics import trigger
from hepxai.train.loop import EVAL_BATCH, Meter, Task, TrainResult, fit
from hepxai.usecases.muon.loader import MuonDataset, muon_loader
from hepxai.usecases.muon.models.base import MuonRegressor, TrainingRecipe
from hepxai.usecases.muon.names import DECISION_TREE
from hepxai.usecases.muon.store import MuonFile


def _to_device(x: torch.Tensor, device: str, model: MuonRegressor) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    if model.recipe.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def encoded_mae(model: MuonRegressor, encoded: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The training loss per event ``(b,)``: ``sum_j |f_j - t_j|`` of the encoded outputs
    ``f`` and the encoded physical targets ``t = model.encode_targets(y)``."""
    return (encoded - model.encode_targets(y)).abs().sum(1)


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


def validation_metrics(model: MuonRegressor, dataset: MuonDataset, device: str) -> dict:
    """Loss (encoded MAE, what training minimises), physical MAE, spread, efficiencies."""
    predictions = predict(model, dataset, device, desc="validate")
    targets = dataset.targets.numpy()
    encoded_p = model.encode_targets(torch.from_numpy(predictions).to(model.target_mean))
    encoded_t = model.encode_targets(dataset.targets.to(model.target_mean))
    summary = trigger.trigger_summary(targets[:, 0], predictions[:, 0], targets[:, 1],
                                      predictions[:, 1])
    return {"loss": float((encoded_p - encoded_t).abs().sum(1).mean()),  # encoded_mae of both
            "mae": summary["mae"]["total"], "spread": summary["spread"],
            "efficiency_15": summary["efficiency_15"],
            "efficiency_10": summary["efficiency_10"]}


def teacher_targets(teacher_checkpoint: str | os.PathLike[str], dataset: MuonDataset,
                    device: str) -> torch.Tensor:
    """Offline distillation targets: the teacher's physical predictions ``(n, 2)``."""
    teacher = load_model(teacher_checkpoint, device=device, use_case="muon")
    return torch.from_numpy(predict(teacher, dataset, device, desc="teacher predictions"))


class _TriggerMeter(Meter):
    """Running spread (7-13 GeV window) and efficiency above 15 GeV of a training epoch."""

    def __init__(self) -> None:
        self.spread_sum, self.spread_n, self.above, self.selected_above = 0.0, 0, 0, 0

    def update(self, model: MuonRegressor, batch: tuple[torch.Tensor, torch.Tensor],
               outputs: torch.Tensor) -> None:
        y = batch[1]
        pt, pt_hat = y[:, 0], model.decode_outputs(outputs)[:, 0]
        window = (pt >= 7) & (pt <= 13)
        self.spread_sum += float((pt - pt_hat).abs()[window].sum())
        self.spread_n += int(window.sum())
        self.above += int((pt > 15).sum())
        self.selected_above += int(((pt > 15) & (pt_hat > 15)).sum())

    def postfix(self) -> dict[str, str]:
        return {"spread": f"{self.spread_sum / max(self.spread_n, 1):.3f}",
                "eff15": f"{self.selected_above / max(self.above, 1):.3f}"}

    def result(self) -> dict[str, float]:
        return {"spread": self.spread_sum / self.spread_n if self.spread_n else float("nan"),
                "efficiency_15": self.selected_above / self.above if self.above
                else float("nan")}


class MuonTask(Task):
    """Images ``(b, 1, 9, 384)`` -> encoded (pT, |eta|); MAE loss in the encoded space.

    Efficiency alone would reward a model that overestimates pT: under a one-cycle schedule the
    early, high-learning-rate epochs do, and reach the best efficiency at twice the spread (the
    fast Attribution CNN: 0.88 at 2.4 GeV after its first epoch, 0.80 at 1.3 GeV after its
    last). So ``best.pt`` is the most efficient epoch among those with spread <= ``max_spread``.
    """

    use_case = "muon"
    best_metric = "efficiency_15"
    higher_is_better = True
    max_spread = 1.5  # GeV, the resolution requirement the trigger's efficiency is quoted at
    curve_panels = (("loss", "MAE loss (encoded targets)"), ("spread", "spread [GeV]"),
                    ("efficiency_15", "efficiency at 15 GeV"))

    def prepare(self, model: MuonRegressor, train_set: MuonDataset, recipe: TrainingRecipe,
                device: str) -> None:
        model.fit_target_encoding(train_set.targets)
        model.to(device)
        if recipe.channels_last:
            model.to(memory_format=torch.channels_last)

    def batches(self, dataset: MuonDataset, batch_size: int, shuffle: bool,
                seed: int) -> Iterable:
        return muon_loader(dataset, batch_size=batch_size, shuffle=shuffle, seed=seed)

    def to_device(self, batch, device: str, model: MuonRegressor):
        x, y = batch
        return _to_device(x, device, model), y.to(device)

    def batch_len(self, batch) -> int:
        return len(batch[1])

    def loss(self, model: MuonRegressor, batch) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = batch
        encoded = model.forward_encoded(x)
        return encoded_mae(model, encoded, y).mean(), encoded

    def meter(self) -> Meter:
        return _TriggerMeter()

    def validate(self, model: MuonRegressor, dataset: MuonDataset, device: str) -> dict:
        return validation_metrics(model, dataset, device)

    def admissible(self, record: dict[str, float]) -> bool:
        return record["spread"] <= self.max_spread


def train(model: MuonRegressor, train_set: MuonDataset, val_set: MuonDataset,
          out_dir: str | os.PathLike[str], *, seed: int = 1, epochs: int | None = None,
          batch_size: int | None = None, learning_rate: float | None = None,
          eta_weight: float | None = None, device: str = "cpu", resume: bool = False,
          teacher: str | None = None, shuffle_labels: bool = False,
          recipe: TrainingRecipe | None = None,
          on_epoch: Callable[[dict], None] | None = None) -> TrainResult:
    """Train a muon model and write ``out_dir/checkpoints/epoch_NNN.pt``, ``best.pt``,
    ``history.json`` and ``training_curves.png``.

    ``epochs``, ``batch_size``, ``learning_rate``, ``eta_weight``: override the preset's recipe.
    ``resume`` continues from the last epoch checkpoint in ``out_dir`` (an error if it belongs
    to another model, preset, seed or recipe). ``teacher``: checkpoint of a model whose
    predictions replace the labels (distillation). ``shuffle_labels``: train on the labels
    (or teacher targets) permuted over the events, seeded by ``seed``: the model of the
    data-randomization sanity check (:mod:`hepxai.explain.judging.sanity`); the validation
    labels stay true, so its history shows what it did not learn.
    """
    recipe = recipe or model.recipe
    overrides = {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate,
                 "eta_weight": eta_weight}
    recipe = replace(recipe, **{k: v for k, v in overrides.items() if v is not None})
    model.recipe = recipe
    if teacher is not None:
        train_set.targets = teacher_targets(teacher, train_set, device)
    if shuffle_labels:  # (pT, |eta|) pairs move together: each event gets another's labels
        from hepxai.explain.judging.sanity import label_permutation

        order = label_permutation(len(train_set), seed)
        train_set.targets = train_set.targets[torch.from_numpy(order)]
    data = train_set.file
    identity = {"model": model.name, "preset": model.preset, "seed": seed,
                "recipe": recipe.to_dict(), "teacher": str(teacher) if teacher else None,
                # only when set, so that runs from before the option still resume
                **({"shuffled_labels": True} if shuffle_labels else {}),
                "n_train": len(train_set),
                # the same file (a re-simulation with the same seed is the same data)
                "data": {"path": str(Path(data.path).resolve()),
                         "bytes": Path(data.path).stat().st_size,
                         "seed": _plain(data.attrs.get("seed"))}}
    return fit(model, MuonTask(), train_set, val_set, out_dir, recipe=recipe,
               identity=identity, seed=seed, device=device, resume=resume, on_epoch=on_epoch)


def _plain(value: Any) -> Any:
    """A numpy scalar of an HDF5 attribute as a Python value (checkpoints hold plain types)."""
    return value.item() if isinstance(value, np.generic) else value


def training_sets(data_dir: str | os.PathLike[str], *, max_events: int | None = None,
                  val_events: int | None = None) -> tuple[MuonDataset, MuonDataset]:
    """The training set (``train.h5``, its first ``max_events``) and the per-epoch validation
    set (``val.h5``, its first ``val_events``) of a data directory."""
    from hepxai.usecases.muon.store import split_path

    train_set = MuonDataset(split_path(data_dir, "train"))
    if max_events is not None and max_events < len(train_set):
        train_set = MuonDataset(train_set.file, rows=np.arange(max_events))
    val_set = MuonDataset(split_path(data_dir, "val"))
    if val_events is not None and val_events < len(val_set):
        val_set = MuonDataset(val_set.file, rows=np.arange(val_events))
    return train_set, val_set


def train_decision_tree(train_set: MuonDataset, val_set: MuonDataset,
                        out_dir: str | os.PathLike[str], *, seed: int = 1,
                        teacher: str | os.PathLike[str] | None = None,
                        device: str = "cpu") -> dict:
    """Fit the scikit-learn tree on the flattened images (targets: the labels, or a teacher's
    predictions), save ``out_dir/best.pt``; returns its nodes, fit seconds, validation spread
    and efficiency at 15 GeV and the checkpoint's path."""
    import time
    from pathlib import Path

    from hepxai.usecases.muon.models.decision_tree import DecisionTreeModel

    targets = train_set.targets if teacher is None else teacher_targets(teacher, train_set,
                                                                        device)
    start = time.perf_counter()
    model = DecisionTreeModel(seed=seed).fit(train_set.images.take(train_set.rows),
                                             targets.numpy())
    seconds = time.perf_counter() - start
    pred = model.predict_images(val_set.images.take(val_set.rows))
    pt = val_set.targets[:, 0].numpy()
    identity = {"model": model.name, "seed": seed, "n_train": len(train_set),
                "teacher": str(teacher) if teacher else None}
    path = model.save(Path(out_dir) / "best.pt", identity)
    return {"nodes": model.n_parameters(), "seconds": seconds,
            "spread": trigger.spread(pt, pred[:, 0]),
            "efficiency_15": trigger.efficiency(pt, pred[:, 0] > 15, 15.0), "path": path}


# -- TracIn -------------------------------------------------------------------------------------
class MuonGradients(GradientSource):
    """Muon events as TracIn sees them: images ``(b, 1, 9, 384)`` -> the encoded (pT, |eta|)
    of ``model.forward_encoded``, loss :func:`encoded_mae` (what training minimises), whose
    gradient with respect to the outputs is ``sign(f - t)``. Ids are rows of the file."""

    use_case = "muon"
    what = "events"
    loss_name = "sum_j |f_j(x) - t_j| in the encoded target space"

    def __init__(self, dataset: MuonDataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def ids(self) -> np.ndarray:
        return self.dataset.rows

    def batch(self, positions: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return self.dataset.__getitems__(positions)

    def forward(self, model: MuonRegressor, inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return model.forward_encoded(*inputs)

    def loss(self, model: MuonRegressor, outputs: torch.Tensor,
             targets: torch.Tensor) -> torch.Tensor:
        return encoded_mae(model, outputs, targets)

    def output_gradient(self, model: MuonRegressor, outputs: torch.Tensor,
                        targets: torch.Tensor) -> torch.Tensor:
        return torch.sign(outputs - model.encode_targets(targets))

    def identity(self) -> dict[str, Any]:
        """The file (path, size, mtime), its seed, split and simulator configuration."""
        data = self.dataset.file
        config = data.attrs.get("simulator_config")
        return {**file_identity(data.path), "n_events": len(data), "split": data.split,
                "seed": data.attrs.get("seed"),
                "simulator_config_sha256": hashlib.sha256(str(config).encode()).hexdigest()
                if config else None}

    def describe(self) -> dict[str, Any]:
        return {"file": str(self.dataset.file.path), "split": self.dataset.file.split}

    def check_checkpoint(self, path: Path, state: dict[str, Any]) -> None:
        if state.get("model") == DECISION_TREE:
            raise HepxaiError(f"{path}: a scikit-learn decision tree has no gradients; TracIn "
                              "needs a torch model such as tracin-cnn")


class ThesisCodeGradients(MuonGradients):
    """TracIn as the thesis' code computes it (``tracin/tracin.py`` of lorin98/xAI-HEP): the
    output gradient is ``labels - predictions`` (here in the space the network predicts),
    the gradient of a squared error up to its sign and factor, while the model was trained with
    the absolute error (:class:`MuonGradients`: ``sign(f - t)``); the kernel has no bias term
    (``h . h'``, not ``h . h' + 1``) and the checkpoints are summed without their step sizes.
    The sign does not matter: both sides of every product carry it."""

    loss_name = "thesis code: 0.5 sum_j (f_j(x) - t_j)^2, output gradient t - f, no bias, no eta_c"
    kernel_bias = False
    step_sizes = False

    def loss(self, model: MuonRegressor, outputs: torch.Tensor,
             targets: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((outputs - model.encode_targets(targets)) ** 2).sum(1)

    def output_gradient(self, model: MuonRegressor, outputs: torch.Tensor,
                        targets: torch.Tensor) -> torch.Tensor:
        return model.encode_targets(targets) - outputs


#: ``--conventions`` -> the gradient source of the muon events
GRADIENTS = {"hepxai": MuonGradients, "thesis": ThesisCodeGradients}


def gradients_like(store: Any, dataset: MuonDataset) -> MuonGradients:
    """``dataset`` as the gradient source ``store`` was precomputed with (a thesis-code store
    is queried with :class:`ThesisCodeGradients`)."""
    kernel = store.manifest["config"].get("kernel") or {}
    return ThesisCodeGradients(dataset) if kernel.get("source") == \
        ThesisCodeGradients.__qualname__ else MuonGradients(dataset)


def training_events(train_file: str | os.PathLike[str],
                    checkpoints: Sequence[str | os.PathLike[str]] = (),
                    rows: np.ndarray | None = None,
                    conventions: str = "hepxai") -> MuonGradients:
    """The training events of a TracIn store: ``rows`` of ``train_file``, by default the first
    ``n_train`` (what ``hepxai train muon --max-events`` trains on, read from the first
    checkpoint), else all. ``conventions="thesis"``: as the thesis' code
    (:class:`ThesisCodeGradients`)."""
    n_file = len(MuonFile(train_file))
    if rows is None:
        n_train = (read_checkpoint(checkpoints[0]).get("identity") or {}).get("n_train") \
            if checkpoints else None
        rows = np.arange(n_file if n_train is None or n_train > n_file else n_train)
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size == 0 or rows.min() < 0 or rows.max() >= n_file:
        raise HepxaiError(f"training rows must be within 0..{n_file - 1} of {train_file}")
    if conventions not in GRADIENTS:
        raise HepxaiError(f"unknown conventions {conventions!r}; choose "
                          f"{' or '.join(GRADIENTS)}")
    return GRADIENTS[conventions](MuonDataset(train_file, rows=rows))
