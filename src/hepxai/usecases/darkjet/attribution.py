"""The dark-jet study's graph explanations: hepxai's explainers (:mod:`hepxai.explain`) on the
taggers' graphs, with the simulator's truth kept beside them.

The taggers are called ``model(x, edge_index, edge_weight, batch)`` and output one logit for
``dark_photon``: the :data:`GRAPHS` modality. Every method gives node values (saliency and IG
per node feature, GNNExplainer one mask value per node) and edge values (PyG's edge masks):

* ``saliency-graph``: :class:`~hepxai.explain.Saliency`; a node's relevance is the maximum over
  its 4 features of ``|d logit / d x|`` (the slides' definition), an edge's ``|d logit / d
  mask_e|``;
* ``ig-graph``: :class:`~hepxai.explain.IntegratedGradients` from all-zero node features (edges
  kept); a node's relevance is the sum over its features, so the nodes add up to
  ``logit(x) - logit(0)``; the edges' own path goes from no messages to all;
* ``gnnexplainer``: :class:`~hepxai.explain.GNNExplainer` (PyG), one node and one edge mask
  learned per jet.

A :class:`GraphAttributions` adds each node's truth noise flag and each jet's label, so judging
(relevance share on non-noise clusters, deletion curves) is one call on the saved files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from hepxai.core.errors import HepxaiError
from hepxai.explain.base import Explainer
from hepxai.explain.modality import Graph
from hepxai.explain.types import Attribution
from hepxai.usecases.darkjet.graphs import GraphSet
from hepxai.usecases.darkjet.names import GNNEXPLAINER_EPOCHS, GNNEXPLAINER_LR

#: how the taggers read a batch of jets
GRAPHS = Graph(keys=("edge_weight", "batch"))
#: study label -> (explainer, default parameters, jets per pass)
METHODS = {"saliency-graph": ("saliency", {}, 256), "ig-graph": ("ig", {"n_steps": 50}, 128),
           "gnnexplainer": ("gnnexplainer", {"epochs": GNNEXPLAINER_EPOCHS, "lr": GNNEXPLAINER_LR,
                                             "seed": 0}, 1)}


@dataclass
class GraphAttributions:
    """Node attributions of some jets (with their edge attributions), and the truth needed to
    judge them: ``node_is_noise`` bool ``(n_nodes_total,)`` aligned with the nodes, ``labels``
    ``(n_jets,)`` (1 = dark photon); ``event_ids`` are the jets' rows in their graph set."""

    node: Attribution
    node_is_noise: np.ndarray
    labels: np.ndarray

    @property
    def edge(self) -> Attribution:
        return self.node.edges

    def save(self, folder: str | os.PathLike[str], stem: str | None = None) -> dict[str, Path]:
        """``<stem>.npz`` (nodes and edges) and ``<stem>-truth.npz`` in ``folder``."""
        from hepxai.core.atomic import atomic_path

        folder = Path(folder)
        stem = stem or self.node.method
        paths = {"attribution": self.node.save(folder / f"{stem}.npz")}
        truth = folder / f"{stem}-truth.npz"
        with atomic_path(truth) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, is_noise=self.node_is_noise, offsets=self.node.offsets,
                     labels=self.labels, event_ids=self.node.event_ids)
        paths["truth"] = truth
        return paths


def explainer(name: str, model: nn.Module, **params: Any) -> Explainer:
    """The study method ``name`` on a tagger."""
    from hepxai.explain.registry import get

    if name not in METHODS:
        raise HepxaiError(f"unknown explanation method {name!r}; choose from "
                          f"{', '.join(METHODS)}")
    if getattr(model, "representation", None) != "graph":
        raise HepxaiError(f"graph explainers need a graph model (resgnn, gatv2), got "
                          f"{getattr(model, 'name', type(model).__name__)}")
    method, defaults, batch_size = METHODS[name]
    options = {**defaults, **params}
    options.setdefault("batch_size", batch_size)
    return get(method)(model, modality=GRAPHS, **options)


def explain(name: str, model: nn.Module, graphs: GraphSet, rows: np.ndarray | None = None,
            **params: Any) -> GraphAttributions:
    """The study method ``name`` on the jets ``rows`` of ``graphs`` (default all)."""
    method = explainer(name, model, **params)
    rows = np.arange(len(graphs)) if rows is None else np.asarray(rows, np.int64)
    if rows.size == 0:
        raise HepxaiError("no jets to explain; select at least one jet")
    if rows.min() < 0 or rows.max() >= len(graphs):
        raise HepxaiError(f"jet rows must be in [0, {len(graphs)}), got {rows.min()}.."
                          f"{rows.max()}")
    node = method.attribute(graphs.batch(rows), ids=rows)
    sub = graphs.subset(rows)
    return GraphAttributions(node=node, node_is_noise=sub.is_noise.copy(), labels=sub.y.copy())


def top_k(values: np.ndarray, offsets: np.ndarray, k: int) -> list[np.ndarray]:
    """Per jet, the local indices of its ``k`` highest ``values`` (fewer for small jets),
    highest first; ``values`` ragged ``(n_items_total,)`` with ``offsets``."""
    if k < 1:
        raise HepxaiError(f"k must be at least 1, got {k}")
    return [np.argsort(-values[a:b], kind="stable")[:k]
            for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
