"""The dark-jet task of the training loop: binary tagging with ``BCEWithLogitsLoss``.

Batches are assembled straight from the concatenated graph arrays (:meth:`GraphSet.batch`, or
voxelised for the 3D-CNN) in an order drawn from ``(seed, epoch)``; the progress bar shows the
running accuracy; validation reports the BCE loss, AUC, accuracy, TNR at the 90% signal
efficiency working point and the rejection at 50% signal efficiency; ``best.pt`` is chosen by
the validation AUC. :class:`JetGradients` is the same loss as TracIn sees it (the gradient
source of :mod:`hepxai.explain.influence`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hepxai.core.errors import HepxaiError
from hepxai.core.progress import progress
from hepxai.explain.influence.source import GradientSource
from hepxai.metrics import classification
from hepxai.train.loop import EVAL_BATCH, Meter, Task, TrainResult, fit
from hepxai.usecases.darkjet.graphs import GraphSet
from hepxai.usecases.darkjet.models import MODELS, DarkJetModel, DarkJetRecipe


class JetSet:
    """Graphs (or their voxel images) and labels of some jets, batched for a model.

    ``labels``: one label per selected jet replacing the graphs' own (e.g. shuffled ones,
    :meth:`shuffled`); default the truth ``graphs.y[rows]``."""

    def __init__(self, graphs: GraphSet, representation: str = "graph",
                 rows: np.ndarray | None = None, labels: np.ndarray | None = None):
        if representation not in ("graph", "voxel"):
            raise HepxaiError(f"unknown representation {representation!r}; use graph or voxel")
        self.graphs = graphs
        self.representation = representation
        self.rows = np.arange(len(graphs)) if rows is None else np.asarray(rows, np.int64)
        if self.rows.size == 0:
            raise HepxaiError("the jet selection is empty; select at least one jet")
        self._labels = None
        if labels is not None:
            self._labels = np.asarray(labels, self.graphs.y.dtype)
            if self._labels.shape != self.rows.shape:
                raise HepxaiError(f"{self._labels.size} labels for {self.rows.size} jets; give "
                                  "one label per jet")

    def __len__(self) -> int:
        return self.rows.size

    @property
    def labels(self) -> np.ndarray:
        return self.graphs.y[self.rows] if self._labels is None else self._labels

    def shuffled(self, seed: int) -> JetSet:
        """The same jets with their labels permuted over them (the class balance kept), by
        :func:`~hepxai.explain.judging.sanity.label_permutation`: the training set of the
        data-randomization sanity check."""
        from hepxai.explain.judging.sanity import label_permutation

        order = label_permutation(len(self), seed)
        return JetSet(self.graphs, self.representation, self.rows, self.labels[order])

    def batch(self, positions: np.ndarray) -> tuple[Any, torch.Tensor]:
        """``(inputs, labels)`` of the jets at ``positions`` (indices into this set)."""
        positions = np.asarray(positions, np.int64)
        rows = self.rows[positions]
        y = torch.from_numpy(self.graphs.y[rows] if self._labels is None
                             else self._labels[positions])
        if self.representation == "voxel":
            from hepxai.usecases.darkjet.voxels import voxelise

            return voxelise(self.graphs, rows), y
        return self.graphs.batch(rows), y

    def batches(self, batch_size: int, shuffle: bool = False,
                seed: int = 0) -> Iterator[tuple[Any, torch.Tensor]]:
        if shuffle:
            order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
            order = order.numpy()
        else:
            order = np.arange(len(self))
        for start in range(0, len(self), batch_size):
            yield self.batch(order[start:start + batch_size])


class _Batches:
    """A sized iterable (so the progress bar knows the total)."""

    def __init__(self, dataset: JetSet, batch_size: int, shuffle: bool, seed: int):
        self.dataset, self.batch_size, self.shuffle, self.seed = (dataset, batch_size, shuffle,
                                                                  seed)

    def __len__(self) -> int:
        return -(-len(self.dataset) // self.batch_size)

    def __iter__(self):
        return self.dataset.batches(self.batch_size, self.shuffle, self.seed)


def forward(model: DarkJetModel, inputs: Any) -> torch.Tensor:
    """Logits ``(b,)`` of a graph batch or a voxel tensor."""
    if model.representation == "voxel":
        return model(inputs)
    return model(inputs.x, inputs.edge_index, inputs.edge_weight, inputs.batch)


def predict(model: DarkJetModel, dataset: JetSet, device: str = "cpu",
            batch_size: int = EVAL_BATCH, desc: str | None = None) -> np.ndarray:
    """Logits ``(n,)`` float32 of ``model`` for every jet of ``dataset``."""
    _check_representation(model, dataset)
    model.eval()
    outputs = []
    with torch.no_grad():
        for inputs, _ in progress(_Batches(dataset, batch_size, False, 0),
                                  desc=desc or "predict", unit="batch"):
            outputs.append(forward(model, inputs.to(device)).float().cpu())
    return torch.cat(outputs).numpy()


def _check_representation(model: DarkJetModel, dataset: JetSet) -> None:
    if model.representation != dataset.representation:
        raise HepxaiError(f"{model.name} reads {model.representation}s but the data set gives "
                          f"{dataset.representation}s")


def validation_metrics(model: DarkJetModel, dataset: JetSet, device: str) -> dict[str, float]:
    logits = predict(model, dataset, device, desc="validate")
    y = dataset.labels
    loss = float(nn.functional.binary_cross_entropy_with_logits(
        torch.from_numpy(logits), torch.from_numpy(y)))
    if np.all(y == y[0]):  # one class only: the ranking metrics are undefined
        return {"loss": loss, "accuracy": float(np.mean((logits > 0) == (y > 0.5))),
                "auc": float("nan"), "tnr_90": float("nan"), "rejection_50": float("nan")}
    metrics = classification.binary_tagger_metrics(y, logits, efficiencies=(0.5,))
    return {"loss": loss, "accuracy": metrics["accuracy"], "auc": metrics["auc"],
            "tnr_90": metrics["tnr_90"], "rejection_50": metrics["rejection"]["0.5"]}


class _AccuracyMeter(Meter):
    def __init__(self) -> None:
        self.correct, self.seen = 0, 0

    def update(self, model: nn.Module, batch: Any, outputs: torch.Tensor) -> None:
        y = batch[1]
        self.correct += int(((outputs > 0) == (y > 0.5)).sum())
        self.seen += len(y)

    def postfix(self) -> dict[str, str]:
        return {"acc": f"{self.correct / max(self.seen, 1):.3f}"}

    def result(self) -> dict[str, float]:
        return {"accuracy": self.correct / self.seen if self.seen else float("nan")}


class DarkJetTask(Task):
    use_case = "darkjet"
    best_metric = "auc"
    higher_is_better = True
    curve_panels = (("loss", "BCE loss"), ("accuracy", "accuracy"), ("auc", "AUC"))

    def batches(self, dataset: JetSet, batch_size: int, shuffle: bool, seed: int) -> _Batches:
        return _Batches(dataset, batch_size, shuffle, seed)

    def to_device(self, batch, device: str, model: nn.Module):
        inputs, y = batch
        return inputs.to(device), y.to(device)

    def batch_len(self, batch) -> int:
        return len(batch[1])

    def loss(self, model: DarkJetModel, batch) -> tuple[torch.Tensor, torch.Tensor]:
        inputs, y = batch
        logits = forward(model, inputs)
        return nn.functional.binary_cross_entropy_with_logits(logits, y), logits

    def meter(self) -> Meter:
        return _AccuracyMeter()

    def validate(self, model: DarkJetModel, dataset: JetSet, device: str) -> dict:
        return validation_metrics(model, dataset, device)


def train(model: DarkJetModel, train_set: JetSet, val_set: JetSet,
          out_dir: str | os.PathLike[str], *, seed: int = 1, epochs: int | None = None,
          device: str = "cpu", resume: bool = False, recipe: DarkJetRecipe | None = None,
          on_epoch: Callable[[dict], None] | None = None,
          data_identity: dict[str, Any] | None = None,
          shuffle_labels: bool = False) -> TrainResult:
    """Train a dark-jet tagger; writes what :func:`hepxai.train.loop.fit` writes.

    ``data_identity`` (graph settings, data file) joins the run identity, so a resumed run must
    read the same graphs. ``shuffle_labels``: train on the training labels permuted over the
    jets (:meth:`JetSet.shuffled`, seeded by ``seed``): the model of the data-randomization
    sanity check (``hepxai sanity darkjet --shuffled``); the validation labels stay true, so
    its history shows what it did not learn.
    """
    _check_representation(model, train_set)
    _check_representation(model, val_set)
    recipe = recipe or model.recipe
    if epochs is not None:
        recipe = replace(recipe, epochs=epochs)
    if shuffle_labels:
        train_set = train_set.shuffled(seed)
    identity = {"model": model.name, "preset": model.preset, "config": model.config,
                "seed": seed, "recipe": recipe.to_dict(), "n_train": len(train_set),
                # only when set, so that runs from before the option still resume
                **({"shuffled_labels": True} if shuffle_labels else {}),
                **(data_identity or {})}
    return fit(model, DarkJetTask(), train_set, val_set, out_dir, recipe=recipe,
               identity=identity, seed=seed, device=device, resume=resume, on_epoch=on_epoch,
               title=f"{model.name} ({model.preset})")


# -- TracIn -------------------------------------------------------------------------------------
def jet_bce(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The training loss per jet ``(n,)``: ``BCEWithLogits(z, y)`` (nats)."""
    return nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")


class JetGradients(GradientSource):
    """Jets as graphs, as TracIn sees a graph tagger: batches ``(x, edge_index, edge_weight,
    batch)`` (the signature of :class:`~hepxai.explain.modality.Graph` with ``keys=
    ("edge_weight", "batch")``), one logit ``z`` per jet, loss :func:`jet_bce`, whose gradient
    with respect to the logit is ``sigmoid(z) - y``.

    Args:
        graphs: the jets.
        rows: the jets used (positions in ``graphs``; default all); they are the result's ids.
        identity: what else identifies them (e.g. the data file's
            :func:`~hepxai.explain.influence.source.file_identity`), joined to the graph
            settings and a hash of the graphs' arrays.
    """

    use_case = "darkjet"
    fixed_shape = False  # graphs of different sizes: the full variant does not apply
    what = "jets"
    loss_name = "BCEWithLogits(z, y) per jet"

    def __init__(self, graphs: GraphSet, rows: np.ndarray | None = None,
                 identity: dict[str, Any] | None = None):
        self.graphs = graphs
        self.rows = np.arange(len(graphs)) if rows is None else np.asarray(rows, np.int64)
        self.extra = dict(identity or {})

    def __len__(self) -> int:
        return self.rows.size

    @property
    def ids(self) -> np.ndarray:
        return self.rows

    def batch(self, positions: np.ndarray) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        rows = self.rows[np.asarray(positions, np.int64)]
        b = self.graphs.batch(rows)
        return (b.x, b.edge_index, b.edge_weight, b.batch), \
            torch.from_numpy(self.graphs.y[rows].astype(np.float32))

    def loss(self, model: nn.Module, outputs: torch.Tensor,
             targets: torch.Tensor) -> torch.Tensor:
        return jet_bce(outputs, targets)

    def output_gradient(self, model: nn.Module, outputs: torch.Tensor,
                        targets: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(outputs) - targets

    def identity(self) -> dict[str, Any]:
        digest = hashlib.sha256()
        for name in ("x", "edge_index", "edge_attr", "node_offsets", "edge_offsets", "y",
                     "jet_rows"):
            digest.update(np.ascontiguousarray(getattr(self.graphs, name)).tobytes())
        return {**self.extra, "graphs": self.graphs.settings, "n_jets": len(self.graphs),
                "graphs_sha256": digest.hexdigest()}

    def check_checkpoint(self, path: Path, state: dict[str, Any]) -> None:
        check_graph_checkpoint(path, state)


def check_graph_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """One-line refusal of a checkpoint that is not a graph tagger (graph TracIn needs one)."""
    model = state.get("model")
    if model not in MODELS or MODELS[model].representation != "graph":
        graph = ", ".join(n for n, m in MODELS.items() if m.representation == "graph")
        raise HepxaiError(f"{path}: a {model} checkpoint; graph TracIn needs one of {graph}")
