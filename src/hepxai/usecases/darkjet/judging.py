"""Judging the dark-jet graph explanations (:class:`GraphAttributions`), and comparing them
with the legacy 3D-CNN's voxel saliency.

Every score is per jet and vectorised over jets: the ragged node arrays (values with node
offsets) are padded into ``(n_jets, max_nodes)`` rows with a mask, so the row-wise rank
statistics of :mod:`hepxai.explain.evaluate.ranks` (written for the muon images' lit pixels)
serve the graphs unchanged. Relevance is ``|value|`` unless said otherwise.

* localization: share of relevance on non-noise clusters (with its *base rate*, the share of
  non-noise clusters, i.e. what a blind, uniform map scores), and the AUROC of relevance
  separating non-noise from noise clusters;
* deletion faithfulness: remove the top fraction ``f`` of each jet's nodes (with their edges:
  the induced subgraph) in the method's order and in a random order, re-run the tagger in
  batches, track the probability of the class it predicted on the whole jet; the gap is the
  mean over ``f`` of (random-order curve - method-order curve), positive = faithful;
* completeness (ig-graph): ``|sum(node values) - (logit(x) - logit(0))|`` relative to
  ``|logit(x) - logit(0)|`` (:func:`~hepxai.explain.evaluate.scores.relative_completeness`);
* agreement: per jet Spearman correlation over nodes and top-k overlap, for every pair of
  methods, on the jets both explained;
* cross-model: the GNN node relevance summed into the 3D-CNN's voxels
  (:func:`~hepxai.usecases.darkjet.voxels.voxel_index`) against the CNN's voxel saliency
  ``|d logit / d voxel|``, Spearman per jet over the voxels the jet's nodes occupy, and the
  same with the GNN relevance shuffled among those voxels (the permutation baseline).

The result is the muon study's :class:`~hepxai.explain.evaluate.study.JudgingResult` (per-jet
scores NaN where a method did not explain a jet, e.g. GNNExplainer's subset), so its
``summary()`` and the agreement heat map serve both use cases.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch
from torch import nn

from hepxai.core.errors import HepxaiError
from hepxai.explain.evaluate.ranks import masked_auroc, masked_spearman, top_k_mask
from hepxai.explain.evaluate.scores import relative_completeness
from hepxai.explain.evaluate.study import JudgingResult
from hepxai.usecases.darkjet.attribution import GraphAttributions
from hepxai.usecases.darkjet.graphs import GraphSet
from hepxai.usecases.darkjet.store import ragged_arange

CATEGORIES = ("TP", "FP", "FN", "TN")
FRACTIONS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)


# -- ragged helpers ---------------------------------------------------------------------------
def owners(offsets: np.ndarray) -> np.ndarray:
    """The jet of every node ``(n_nodes_total,)`` from ``offsets`` ``(n_jets + 1,)``."""
    return np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))


def pad(values: np.ndarray, offsets: np.ndarray, fill: float = 0.0
        ) -> tuple[np.ndarray, np.ndarray]:
    """Ragged ``(n_nodes_total,)`` -> dense ``(n_jets, max_nodes)`` and its bool mask."""
    counts = np.diff(offsets)
    owner = owners(offsets)
    slot = np.arange(len(owner)) - np.repeat(offsets[:-1], counts)
    dense = np.full((len(counts), max(int(counts.max(initial=0)), 1)), fill, np.float64)
    mask = np.zeros(dense.shape, bool)
    dense[owner, slot] = values
    mask[owner, slot] = True
    return dense, mask


def segment_sum(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per-jet sums ``(n_jets,)`` of a ragged ``(n_nodes_total,)`` array (float64)."""
    return np.bincount(owners(offsets), np.asarray(values, np.float64),
                       minlength=len(offsets) - 1)


def ranks_in_jet(scores: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Rank of every node inside its jet by decreasing ``scores`` (0 = highest; ties by
    position): ``(n_nodes_total,)`` int64."""
    owner = owners(offsets)
    order = np.lexsort((-np.asarray(scores, np.float64), owner))  # by jet, then score
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order)) - offsets[owner[order]]
    return rank


# -- localization -----------------------------------------------------------------------------
def localization(values: np.ndarray, offsets: np.ndarray, is_noise: np.ndarray
                 ) -> dict[str, np.ndarray]:
    """Per jet ``(n_jets,)``: ``signal_share`` (share of ``|values|`` on non-noise clusters),
    ``base_rate`` (share of non-noise clusters: a uniform map's share) and ``auroc`` (of
    ``|values|`` separating non-noise from noise clusters). NaN where undefined (no
    relevance at all; no noise or no non-noise cluster for the AUROC)."""
    relevance = np.abs(np.asarray(values, np.float64))
    signal = ~np.asarray(is_noise, bool)
    total = segment_sum(relevance, offsets)
    counts = np.diff(offsets)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, segment_sum(relevance * signal, offsets) / total, np.nan)
        base = segment_sum(signal, offsets) / counts
    dense, mask = pad(relevance, offsets)
    positive, _ = pad(signal, offsets)
    return {"signal_share": share, "base_rate": base,
            "auroc": masked_auroc(dense, positive.astype(bool), mask)}


# -- deletion ---------------------------------------------------------------------------------
def removed_counts(n_nodes: np.ndarray, fraction: float) -> np.ndarray:
    """Nodes removed per jet at ``fraction``: ``floor(f n)``, at most ``n - 1`` (a jet keeps
    one node, so every jet still has an output)."""
    return np.minimum(np.floor(fraction * n_nodes + 1e-9).astype(np.int64), n_nodes - 1)


def deletion_logits(model: nn.Module, graphs: GraphSet, rows: np.ndarray,
                    order_scores: np.ndarray, fractions=FRACTIONS, batch_size: int = 256
                    ) -> np.ndarray:
    """The tagger's logits ``(n_jets, n_fractions)`` after removing, from each jet ``rows``,
    its :func:`removed_counts` highest-``order_scores`` nodes with their edges (the induced
    subgraph of the rest; edge weights kept).

    ``order_scores`` ``(n_nodes_total,)`` is aligned with ``graphs.subset(rows)``.
    """
    from torch_geometric.utils import subgraph

    rows = np.asarray(rows, np.int64)
    sub_offsets = graphs.subset(rows).node_offsets
    if len(order_scores) != sub_offsets[-1]:
        raise HepxaiError(f"{len(order_scores)} order scores for {sub_offsets[-1]} nodes")
    if (graphs.n_nodes[rows] < 1).any():
        raise HepxaiError("a jet without nodes cannot be judged; drop it first")
    rank = ranks_in_jet(order_scores, sub_offsets)
    counts = np.diff(sub_offsets)
    out = np.empty((rows.size, len(fractions)), np.float64)
    model.eval()
    with torch.no_grad():
        for start in range(0, rows.size, batch_size):
            stop = min(start + batch_size, rows.size)
            batch = graphs.batch(rows[start:stop])
            local_rank = rank[sub_offsets[start]:sub_offsets[stop]]
            local_counts = counts[start:stop]
            for j, fraction in enumerate(fractions):
                # a node stays when its rank is past the jet's removed count
                keep = local_rank >= np.repeat(removed_counts(local_counts, fraction),
                                               local_counts)
                keep_t = torch.from_numpy(keep)
                edge_index, weight = subgraph(keep_t, batch.edge_index, batch.edge_weight,
                                              relabel_nodes=True, num_nodes=len(keep))
                logits = model(batch.x[keep_t], edge_index, weight, batch.batch[keep_t])
                out[start:stop, j] = logits.double().numpy()
    return out


def predicted_probability(logits: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Probability of the class predicted on the whole jet, for every column of ``logits``
    ``(n_jets, n_fractions)``; ``predicted`` bool ``(n_jets,)`` (True = dark photon)."""
    p = 1.0 / (1.0 + np.exp(-np.asarray(logits, np.float64)))
    return np.where(np.asarray(predicted, bool)[:, None], p, 1.0 - p)


def order_scores(values: np.ndarray, offsets: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Which nodes a method says matter most, per node ``(n_nodes_total,)``.

    Unsigned maps (saliency, GNNExplainer masks): the value. Signed maps (IG: > 0 raises the
    dark-photon logit): the value times the predicted class's sign, so the first nodes removed
    are those that support the prediction, which deletion should hurt most.
    """
    values = np.asarray(values, np.float64)
    if (values >= 0).all():
        return values
    sign = np.where(np.asarray(predicted, bool), 1.0, -1.0)
    return values * np.repeat(sign, np.diff(offsets))


def deletion_gap(method: np.ndarray, random: np.ndarray) -> np.ndarray:
    """Mean over the fractions > 0 of (random-order curve - method-order curve) per jet
    ``(n_jets,)``, curves ``(n_jets, n_fractions)`` of the predicted-class probability."""
    return (random[:, 1:] - method[:, 1:]).mean(1)


def mean_curves(curves: np.ndarray, categories: np.ndarray) -> dict[str, list[float]]:
    """Mean change of the curve from its start, per category and ``all``: lists over
    fractions."""
    relative = curves - curves[:, :1]
    out = {"all": np.nanmean(relative, 0).tolist()}
    for category in CATEGORIES:
        rows = categories == category
        if rows.any():
            out[category] = np.nanmean(relative[rows], 0).tolist()
    return out


# -- agreement --------------------------------------------------------------------------------
def agreement(a: np.ndarray, b: np.ndarray, offsets: np.ndarray, k: int = 5
              ) -> dict[str, np.ndarray]:
    """Per jet ``(n_jets,)``: Spearman correlation over the jet's nodes of ``|a|`` and ``|b|``
    (ragged, same nodes) and the overlap of their top-``k`` nodes (fraction of
    ``min(k, n_nodes)``)."""
    da, mask = pad(np.abs(np.asarray(a, np.float64)), offsets)
    db, _ = pad(np.abs(np.asarray(b, np.float64)), offsets)
    size = np.minimum(k, mask.sum(1))
    ks = np.full(len(da), k)
    with np.errstate(invalid="ignore", divide="ignore"):  # a jet without nodes: NaN
        overlap = (top_k_mask(da, mask, ks) & top_k_mask(db, mask, ks)).sum(1) / size
    return {"spearman": masked_spearman(da, db, mask), "top_k_overlap": overlap}


def _nodes_of(attribution: GraphAttributions, jets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Node values of the attribution's jets at positions ``jets``, and their offsets."""
    offsets = attribution.node.offsets
    counts = np.diff(offsets)[jets]
    nodes = ragged_arange(offsets[jets], counts)
    sub_offsets = np.zeros(jets.size + 1, np.int64)
    np.cumsum(counts, out=sub_offsets[1:])
    return attribution.node.values[nodes, 0], sub_offsets


def pair_agreement(a: GraphAttributions, b: GraphAttributions, universe: np.ndarray,
                   k: int = 5) -> dict[str, np.ndarray]:
    """:func:`agreement` on the jets both explained, placed at their positions in
    ``universe`` (sorted jet rows); NaN for the others."""
    ids_a, ids_b = a.node.event_ids, b.node.event_ids
    common, in_a, in_b = np.intersect1d(ids_a, ids_b, return_indices=True)
    out = {kind: np.full(universe.size, np.nan) for kind in ("spearman", "top_k_overlap")}
    if common.size == 0:
        return out
    values_a, offsets_a = _nodes_of(a, in_a)
    values_b, offsets_b = _nodes_of(b, in_b)
    if not np.array_equal(offsets_a, offsets_b):
        raise HepxaiError(f"{a.node.method} and {b.node.method} explain different graphs of "
                          "the same jets (other graph settings?); judge them separately")
    where = np.searchsorted(universe, common)
    for kind, values in agreement(values_a, values_b, offsets_a, k).items():
        out[kind][where] = values
    return out


# -- the study --------------------------------------------------------------------------------
def tagging_categories(labels: np.ndarray, logits: np.ndarray, threshold: float = 0.5
                       ) -> np.ndarray:
    """TP / FP / FN / TN per jet (positive = dark photon; selected when the output
    probability >= ``threshold``): object ``(n_jets,)``."""
    selected = 1.0 / (1.0 + np.exp(-np.asarray(logits, np.float64))) >= threshold
    truth = np.asarray(labels) > 0.5
    return np.where(truth, np.where(selected, "TP", "FN"),
                    np.where(selected, "FP", "TN")).astype(object)


def _finite_mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def _spread(values: np.ndarray, where: np.ndarray, size: int) -> np.ndarray:
    full = np.full(size, np.nan)
    full[where] = values
    return full


def judge_graphs(model: nn.Module, graphs: GraphSet, results: dict[str, GraphAttributions],
                 fractions=FRACTIONS, k: int = 5, seed: int = 0, batch_size: int = 256
                 ) -> JudgingResult:
    """Score every method's :class:`GraphAttributions` of jets of ``graphs`` and compare them.

    The jets judged are the union of the methods' jets (``event_ids``, rows of ``graphs``);
    per-jet scores are NaN where a method did not explain a jet. Scores: ``signal_share``,
    ``base_rate``, ``auroc``, ``deletion_gap``, ``completeness_error`` (relative, NaN for
    methods without recorded baselines). Curves: mean change of the predicted-class
    probability per fraction removed (method order, and ``random``).
    """
    if not results:
        raise HepxaiError("no graph attributions to judge; explain some jets first")
    universe = np.unique(np.concatenate([r.node.event_ids for r in results.values()]))
    sub = graphs.subset(universe)
    logits = deletion_logits(model, graphs, universe, np.zeros(sub.node_offsets[-1]), (0.0,),
                             batch_size)[:, 0]
    predicted = logits > 0
    categories = tagging_categories(sub.y, logits)
    rng = np.random.default_rng(seed)
    random_logits = deletion_logits(model, graphs, universe, rng.random(sub.node_offsets[-1]),
                                    fractions, batch_size)
    random_curves = predicted_probability(random_logits, predicted)
    judged = JudgingResult(categories=categories)
    for name, result in results.items():
        where = np.searchsorted(universe, result.node.event_ids)
        node = result.node
        values = node.values[:, 0]
        scores = localization(values, node.offsets, result.node_is_noise)
        order = order_scores(values, node.offsets, predicted[where])
        curves = predicted_probability(
            deletion_logits(model, graphs, node.event_ids, order, fractions, batch_size),
            predicted[where])
        scores["deletion_gap"] = deletion_gap(curves, random_curves[where])
        scores["completeness_error"] = relative_completeness(node)[:, 0]
        judged.scores[name] = {key: _spread(v, where, universe.size) for key, v in scores.items()}
        judged.curves[name] = mean_curves(curves, categories[where])
        judged.attributions[name] = node
    judged.curves["random"] = mean_curves(random_curves, categories)
    for a, b in itertools.combinations(results, 2):
        judged.pairs[(a, b)] = pair_agreement(results[a], results[b], universe, k)
    return judged


def judging_summary(judged: JudgingResult, fractions=FRACTIONS, k: int = 5,
                    seconds: float | None = None) -> dict[str, Any]:
    """``judged.summary()`` (means per method, category and score; agreement matrices; curves)
    plus the fractions, ``k``, the jets each method explained, the median relative
    completeness error per method, and the judging time."""
    out = judged.summary()
    out["categories"] = {c: int((judged.categories == c).sum()) for c in CATEGORIES}
    out["fractions"] = list(map(float, fractions))
    out["top_k"] = int(k)
    out["n_jets"] = int(len(judged.categories))
    out["jets_per_method"] = {name: int(np.isfinite(s["base_rate"]).sum())
                              for name, s in judged.scores.items()}
    # the relative completeness error explodes where logit(x) ~ logit(0): the median is the
    # typical jet's number, the mean (in "scores") is dominated by those few
    out["completeness_median"] = {
        name: float(np.nanmedian(s["completeness_error"]))
        if np.isfinite(s["completeness_error"]).any() else None
        for name, s in judged.scores.items()}
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
