"""Judging the dark-jet graph explanations (:class:`GraphAttributions`) with hepxai's one judge
(:func:`hepxai.explain.judging.judge`), and comparing them with the legacy 3D-CNN's voxel
saliency.

* the truth items are the non-noise clusters: ``signal_share`` (share of ``|relevance|`` on
  them), its ``base_rate`` (what a blind, uniform map scores), ``precision_at_k``, ``auroc``;
* deletion at fractions ``f`` of each jet's nodes (with their edges: the induced subgraph) in
  the method's order and in a random order, the tagger re-run in batches, the curve the
  probability of the class it predicted on the whole jet; the gap is the mean over the curve
  of (random-order curve - method-order curve), positive = faithful;
* completeness (ig-graph) relative to ``|logit(x) - logit(0)|``; agreement per jet for every
  pair of methods on the jets both explained (GNNExplainer explains a subset);
* cross-model: the GNN node relevance summed into the 3D-CNN's voxels
  (:func:`~hepxai.usecases.darkjet.voxels.voxel_index`) against the CNN's voxel saliency
  ``|d logit / d voxel|``, Spearman per jet over the voxels the jet's nodes occupy, and the
  same with the GNN relevance shuffled among those voxels (the permutation baseline).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from hepxai.core.errors import HepxaiError
from hepxai.explain.judging import FRACTIONS, JudgingResult, confusion_categories, judge, selected
from hepxai.explain.judging.ranks import masked_spearman
from hepxai.usecases.darkjet.attribution import GRAPHS, GraphAttributions
from hepxai.usecases.darkjet.graphs import GraphSet

CATEGORIES = ("TP", "FP", "FN", "TN")
THRESHOLD = 0.5


def tagging_categories(labels: np.ndarray, logits: np.ndarray, threshold: float = THRESHOLD
                       ) -> np.ndarray:
    """TP / FP / FN / TN per jet (positive = dark photon; selected when the output
    probability is above ``threshold``, :func:`hepxai.explain.judging.selected`)."""
    probability = 1.0 / (1.0 + np.exp(-np.asarray(logits, np.float64)))
    return confusion_categories(np.asarray(labels) > 0.5, selected(probability, threshold))


def _finite_mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def judge_graphs(model: nn.Module, graphs: GraphSet, results: dict[str, GraphAttributions],
                 fractions=FRACTIONS, k: int = 5, seed: int = 0,
                 replicas: dict[str, list[GraphAttributions]] | None = None) -> JudgingResult:
    """Score every method's :class:`GraphAttributions` of jets of ``graphs`` and compare them.

    The jets judged are the union of the methods' jets (``event_ids``, rows of ``graphs``);
    per-jet scores are NaN where a method did not explain a jet. ``replicas``: a stochastic
    method's runs with other seeds (GNNExplainer's), which its means average and its
    intervals resample (``judge(replicas=)``).
    """
    if not results:
        raise HepxaiError("no graph attributions to judge; explain some jets first")
    universe = np.unique(np.concatenate([r.node.event_ids for r in results.values()]))
    sub = graphs.subset(universe)
    batch = graphs.batch(universe)
    model.eval()
    with torch.no_grad():
        logits = model(batch.x, batch.edge_index, batch.edge_weight, batch.batch).numpy()
    return judge({name: r.node for name, r in results.items()}, batch, truth=~sub.is_noise,
                 categories=tagging_categories(sub.y, logits), model=model, modality=GRAPHS,
                 ids=universe, fractions=fractions, k=k, classifier=True, truth_name="signal",
                 category_order=CATEGORIES, seed=seed,
                 replicas={name: [r.node for r in runs]
                           for name, runs in (replicas or {}).items()})


def judging_summary(judged: JudgingResult, fractions=FRACTIONS, k: int = 5,
                    seconds: float | None = None) -> dict[str, Any]:
    """``judged.summary()`` (means per method, category and score; agreement matrices; curves)
    plus the fractions, ``k``, the jets each method explained, the median relative
    completeness error per method, and the judging time."""
    out = judged.summary()
    out["fractions"] = list(map(float, fractions))
    out["top_k"] = int(k)
    out["n_jets"] = out["n_examples"]  # the dark-jet names the report reads
    out["jets_per_method"] = out["examples_per_method"]
    if seconds is not None:
        out["seconds"] = float(seconds)
        out["seconds_per_jet"] = float(seconds / max(1, len(judged.categories)))
    return out


# -- cross-model: GNN nodes vs CNN voxels ------------------------------------------------------
def cnn_voxel_saliency(cnn: nn.Module, voxels: torch.Tensor) -> np.ndarray:
    """Captum ``Saliency`` of the 3D-CNN: ``|d logit / d voxel|`` ``(n, 7, 16, 16)`` for voxel
    images ``(n, 1, 7, 16, 16)`` (each jet's own logit: jets are independent)."""
    from captum.attr import Saliency

    cnn.eval()
    inputs = voxels.detach().clone().requires_grad_()
    return Saliency(cnn).attribute(inputs, abs=True).detach()[:, 0].numpy()


def node_voxel_relevance(values: np.ndarray, graphs: GraphSet) -> np.ndarray:
    """GNN node relevance ``|values|`` (``(n_nodes_total,)`` aligned with ``graphs``) summed
    into the CNN's voxels: ``(n_jets, 7 * 16 * 16)``; nodes outside the grid are dropped."""
    from hepxai.usecases.darkjet.voxels import voxelise

    summed = voxelise(graphs, np.arange(len(graphs)), np.abs(np.asarray(values, np.float64)))
    return summed.reshape(len(graphs), -1).double().numpy()


def occupied_voxels(graphs: GraphSet) -> np.ndarray:
    """bool ``(n_jets, 7 * 16 * 16)``: the voxels holding at least one of the jet's nodes."""
    return node_voxel_relevance(np.ones(len(graphs.x)), graphs) > 0


def shuffle_within(values: np.ndarray, mask: np.ndarray, rng: np.random.Generator
                   ) -> np.ndarray:
    """``values`` ``(n, m)`` with each row's masked entries randomly permuted among the masked
    positions (the other entries kept)."""
    n, m = values.shape
    natural = np.argsort(~mask, axis=1, kind="stable")           # masked positions first
    random = np.argsort(np.where(mask, rng.random((n, m)), 2.0), axis=1)  # same, shuffled
    taken = np.take_along_axis(values, natural, axis=1)
    out = values.copy()
    live = np.arange(m)[None, :] < mask.sum(1)[:, None]
    rows = np.broadcast_to(np.arange(n)[:, None], (n, m))
    out[rows[live], random[live]] = taken[live]
    return out


def cross_model(gnn_values: np.ndarray, graphs: GraphSet, cnn_saliency: np.ndarray,
                n_permutations: int = 20, seed: int = 0) -> dict[str, Any]:
    """Per jet Spearman correlation of the GNN relevance summed into voxels with the CNN's
    voxel saliency, over the voxels the jet's nodes occupy; and the same after shuffling the
    GNN voxel values among those voxels, ``n_permutations`` times.

    ``gnn_values`` ``(n_nodes_total,)`` aligned with ``graphs`` (the explained jets);
    ``cnn_saliency`` ``(n_jets, 7, 16, 16)``. Returns per-jet ``spearman`` ``(n_jets,)``,
    ``permuted`` ``(n_permutations, n_jets)`` and their summary numbers.
    """
    gnn = node_voxel_relevance(gnn_values, graphs)
    cnn = np.asarray(cnn_saliency, np.float64).reshape(len(graphs), -1)
    mask = occupied_voxels(graphs)
    rho = masked_spearman(gnn, cnn, mask)
    rng = np.random.default_rng(seed)
    permuted = np.stack([masked_spearman(shuffle_within(gnn, mask, rng), cnn, mask)
                         for _ in range(n_permutations)])  # one pass per permutation
    means = np.array([_finite_mean(p) for p in permuted])
    real = _finite_mean(rho)
    return {"spearman": rho, "permuted": permuted, "n_jets": int(len(graphs)),
            "n_valid": int(np.isfinite(rho).sum()),
            "voxels_per_jet": float(mask.sum(1).mean()),
            "mean": real, "median": float(np.nanmedian(rho)) if np.isfinite(rho).any()
            else float("nan"),
            "permuted_mean": float(means.mean()), "permuted_std": float(means.std()),
            "z": float((real - means.mean()) / means.std()) if means.std() > 0
            else float("nan"),
            "p_value": float((1 + (means >= real).sum()) / (1 + len(means))),
            "n_permutations": int(n_permutations)}
