"""Node and edge attributions of the dark-jet graph taggers: saliency, integrated gradients
(Captum through PyTorch Geometric's explain bridge) and GNNExplainer (PyG).

Every method explains the tagger's logit for ``dark_photon`` and returns a
:class:`GraphAttributions`: a node :class:`~hepxai.explain.types.Attribution` (``kind="node"``,
ragged ``(n_nodes_total, 1)`` with the graphs' node offsets) and an edge one (``kind="edge"``,
``(n_edges_total, 1)``, both directions of an undirected edge scored separately), plus each
node's truth noise flag and each jet's label, so judging (relevance share on non-noise clusters,
deletion curves) is one call on the saved files.

* ``saliency-graph``: Captum ``Saliency`` on the node features and on an all-ones edge mask
  (PyG's ``to_captum_model`` injects it into every message-passing layer); node value = the
  maximum over the 4 features of ``|d logit / d x|`` (the slides' definition), edge value =
  ``|d logit / d mask_e|``.
* ``ig-graph``: Captum ``IntegratedGradients``; nodes: baseline all features 0 (edges kept),
  value = sum over features (so the node values add up to ``logit(x) - logit(0)``, recorded as
  outputs / baseline outputs for the completeness check); edges: the mask path from 0 (no
  messages) to 1.
* ``gnnexplainer``: PyG's ``GNNExplainer`` (one soft mask per node and per edge, learned per jet
  for ``epochs`` steps against the model's own prediction); the masks are the values, and
  :func:`top_k` picks the top-k nodes and edges per jet.

Graphs are independent, so saliency and IG of a whole batch of jets are computed in one pass
(the gradient of the summed logits w.r.t. a node only involves its own jet): the same numbers
as PyG's per-graph ``Explainer(CaptumExplainer(...))``, which the tests check.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hepxai.core.errors import HepxaiError
from hepxai.core.progress import progress
from hepxai.explain.registry import register
from hepxai.explain.types import Attribution
from hepxai.usecases.darkjet.graphs import GraphSet

TARGETS = ("dark_photon",)


@dataclass
class GraphAttributions:
    """Node and edge attributions of some jets, with the truth needed to judge them.

    ``node_is_noise`` bool ``(n_nodes_total,)`` aligned with ``node.values``; ``labels``
    ``(n_jets,)`` (1 = dark photon); ``event_ids`` (in both attributions) are the jets' rows in
    their graph set.
    """

    node: Attribution
    edge: Attribution
    node_is_noise: np.ndarray
    labels: np.ndarray

    def save(self, folder: str | os.PathLike[str], stem: str | None = None) -> dict[str, Path]:
        """``<stem>-node.npz``, ``<stem>-edge.npz`` and ``<stem>-truth.npz`` in ``folder``."""
        from hepxai.core.atomic import atomic_path

        folder = Path(folder)
        stem = stem or self.node.method
        paths = {"node": self.node.save(folder / f"{stem}-node.npz"),
                 "edge": self.edge.save(folder / f"{stem}-edge.npz")}
        truth = folder / f"{stem}-truth.npz"
        with atomic_path(truth) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, is_noise=self.node_is_noise, offsets=self.node.offsets,
                     labels=self.labels, event_ids=self.node.event_ids)
        paths["truth"] = truth
        return paths


def _check_model(model: nn.Module) -> None:
    if getattr(model, "representation", None) != "graph":
        raise HepxaiError(f"graph explainers need a graph model (resgnn, gatv2), got "
                          f"{getattr(model, 'name', type(model).__name__)}")


def _rows(graphs: GraphSet, rows: np.ndarray | None) -> np.ndarray:
    rows = np.arange(len(graphs)) if rows is None else np.asarray(rows, np.int64)
    if rows.size == 0:
        raise HepxaiError("no jets to explain; select at least one jet")
    if rows.min() < 0 or rows.max() >= len(graphs):
        raise HepxaiError(f"jet rows must be in [0, {len(graphs)}), got {rows.min()}.."
                          f"{rows.max()}")
    return rows


class _SummedLogits(nn.Module):
    """The sum over graphs of the model's logits: one Captum "example" per batch of graphs."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x, edge_index, edge_weight, batch):
        return self.model(x, edge_index, edge_weight, batch).sum().view(1)


class GraphAttributionMethod:
    """Base: ``Method(model, batch_size=..., **params).explain(graphs, rows)``."""

    method_name = "?"

    def __init__(self, model: nn.Module, batch_size: int = 256, **params: Any):
        _check_model(model)
        if batch_size < 1:
            raise HepxaiError(f"batch_size must be at least 1, got {batch_size}")
        self.model = model.eval()
        self.batch_size = batch_size
        self.params = params

    def explain(self, graphs: GraphSet, rows: np.ndarray | None = None) -> GraphAttributions:
        rows = _rows(graphs, rows)
        node_parts, edge_parts, outputs, baselines = [], [], [], []
        for start in progress(range(0, rows.size, self.batch_size), desc=self.method_name,
                              unit="batch", total=-(-rows.size // self.batch_size)):
            batch = graphs.batch(rows[start:start + self.batch_size])
            node, edge, out, base = self._attribute(batch)
            node_parts.append(node)
            edge_parts.append(edge)
            outputs.append(out)
            baselines.append(base)
        sub = graphs.subset(rows)
        params = {**self.params, "batch_size": self.batch_size}
        common = {"targets": TARGETS, "method": self.method_name, "params": params,
                  "event_ids": rows}
        node_out = None if outputs[0] is None else np.concatenate(outputs)
        node_base = None if baselines[0] is None else np.concatenate(baselines)
        node = Attribution(values=np.concatenate(node_parts)[:, None], kind="node",
                           offsets=sub.node_offsets, outputs=node_out,
                           baseline_outputs=node_base, **common)
        edge_out, edge_base = self._edge_outputs()
        edge = Attribution(values=np.concatenate(edge_parts)[:, None], kind="edge",
                           offsets=sub.edge_offsets, outputs=edge_out,
                           baseline_outputs=edge_base, **common)
        return GraphAttributions(node=node, edge=edge, node_is_noise=sub.is_noise.copy(),
                                 labels=sub.y.copy())

    def _edge_outputs(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        return None, None

    def _attribute(self, batch) -> tuple[np.ndarray, np.ndarray, Any, Any]:
        raise NotImplementedError

    def _captum(self, method_class: type, batch, mask_type: str, **kwargs: Any) -> torch.Tensor:
        """Captum ``method_class`` through PyG's bridge; attributions of the node features
        ``(n_nodes, 4)`` (``mask_type="node"``) or of the edge mask ``(n_edges,)``."""
        from torch_geometric.explain.algorithm.captum import to_captum_input
        from torch_geometric.nn import to_captum_model

        captum_model = to_captum_model(_SummedLogits(self.model), mask_type=mask_type)
        inputs, extra = to_captum_input(batch.x, batch.edge_index, mask_type,
                                        batch.edge_weight, batch.batch)
        inputs = tuple(t.detach().requires_grad_() for t in inputs)
        attribution = method_class(captum_model).attribute(
            inputs, additional_forward_args=extra, **kwargs)
        return attribution[0].squeeze(0).detach()


@register("saliency-graph", "darkjet")
class GraphSaliency(GraphAttributionMethod):
    """|gradient| of the logit w.r.t. node features (max over features) and edge masks."""

    def _attribute(self, batch):
        from captum.attr import Saliency

        node = self._captum(Saliency, batch, "node", abs=True).amax(dim=1)
        edge = self._captum(Saliency, batch, "edge", abs=True)
        return node.numpy(), edge.numpy(), None, None


@register("ig-graph", "darkjet")
class GraphIntegratedGradients(GraphAttributionMethod):
    """Straight-line IG from all-zero node features (nodes) / an all-zero edge mask (edges)."""

    def __init__(self, model: nn.Module, batch_size: int = 128, n_steps: int = 50,
                 **params: Any):
        if n_steps < 1:
            raise HepxaiError(f"n_steps must be at least 1, got {n_steps}")
        super().__init__(model, batch_size=batch_size, n_steps=n_steps, **params)
        self.n_steps = n_steps
        self._edge_out: list[np.ndarray] = []
        self._edge_base: list[np.ndarray] = []

    def explain(self, graphs: GraphSet, rows: np.ndarray | None = None) -> GraphAttributions:
        self._edge_out, self._edge_base = [], []
        return super().explain(graphs, rows)

    def _edge_outputs(self):
        return np.concatenate(self._edge_out), np.concatenate(self._edge_base)

    def _attribute(self, batch):
        from captum.attr import IntegratedGradients

        kwargs = {"n_steps": self.n_steps, "internal_batch_size": 1, "method": "gausslegendre"}
        node = self._captum(IntegratedGradients, batch, "node", **kwargs).sum(dim=1)
        edge = self._captum(IntegratedGradients, batch, "edge", **kwargs)
        with torch.no_grad():
            m = self.model
            out = m(batch.x, batch.edge_index, batch.edge_weight, batch.batch)
            node_base = m(torch.zeros_like(batch.x), batch.edge_index, batch.edge_weight,
                          batch.batch)
            edge_base = _without_edges(m, batch)
        self._edge_out.append(out.numpy())
        self._edge_base.append(edge_base.numpy())
        return node.numpy(), edge.numpy(), out.numpy(), node_base.numpy()


def _without_edges(model: nn.Module, batch) -> torch.Tensor:
    """The logits with every message masked to 0 (the edge-IG baseline), through the same PyG
    edge-mask mechanism Captum's path uses."""
    from torch_geometric.explain.algorithm.utils import clear_masks, set_masks

    set_masks(model, torch.zeros(batch.edge_index.shape[1]), batch.edge_index,
              apply_sigmoid=False)
    try:
        return model(batch.x, batch.edge_index, batch.edge_weight, batch.batch)
    finally:
        clear_masks(model)


@register("gnnexplainer", "darkjet")
class GraphGNNExplainer(GraphAttributionMethod):
    """PyG's GNNExplainer, one node mask and one edge mask learned per jet."""

    def __init__(self, model: nn.Module, epochs: int = 100, lr: float = 0.01, seed: int = 0,
                 **params: Any):
        if epochs < 1:
            raise HepxaiError(f"epochs must be at least 1, got {epochs}")
        super().__init__(model, batch_size=1, epochs=epochs, lr=lr, seed=seed, **params)
        self.epochs, self.lr, self.seed = epochs, lr, seed

    def _attribute(self, batch):
        from torch_geometric.explain import Explainer, GNNExplainer

        explainer = Explainer(
            model=self.model, algorithm=GNNExplainer(epochs=self.epochs, lr=self.lr),
            explanation_type="model", node_mask_type="object", edge_mask_type="object",
            model_config={"mode": "binary_classification", "task_level": "graph",
                          "return_type": "raw"})
        torch.manual_seed(self.seed)  # the masks start random: seeded, reproducible
        explanation = explainer(batch.x, batch.edge_index, edge_weight=batch.edge_weight,
                                batch=batch.batch)
        node = explanation.node_mask.detach().reshape(-1)
        edge = explanation.edge_mask.detach().reshape(-1)
        return node.numpy(), edge.numpy(), None, None


def top_k(attribution: Attribution, k: int) -> list[np.ndarray]:
    """Per jet, the local indices of its ``k`` highest-valued items (fewer for small jets),
    highest first."""
    if k < 1:
        raise HepxaiError(f"k must be at least 1, got {k}")
    if not attribution.is_ragged:
        raise HepxaiError("top_k needs a ragged node or edge attribution")
    values = attribution.values[:, 0]
    return [np.argsort(-values[a:b], kind="stable")[:k]
            for a, b in zip(attribution.offsets[:-1], attribution.offsets[1:], strict=True)]


def explain(name: str, model: nn.Module, graphs: GraphSet, rows: np.ndarray | None = None,
            **params: Any) -> GraphAttributions:
    """Run the registered graph method ``name`` on the jets ``rows`` of ``graphs``."""
    from hepxai.explain.registry import get

    return get(name, "darkjet")(model, **params).explain(graphs, rows)
