"""TracIn of the dark-jet graph taggers (ResGNN, GATv2): the last-layer variant of
:class:`hepxai.explain.influence.TracInStore` with the jets as a gradient source
(:class:`~hepxai.usecases.darkjet.task.JetGradients`), and the category study.

The taggers output one logit ``z = w . h + b`` from their final ``Linear(d, 1)`` (the model's
:attr:`~hepxai.usecases.darkjet.models.DarkJetModel.head`, ``h`` its input, ``d`` the hidden
width) and train with ``BCEWithLogits``. The loss gradient of one jet with respect to ``(w, b)``
is ``(sigmoid(z) - y) [h, 1]``, so with ``e = sigmoid(z) - y`` (the error term, in probability
units)

    TracIn(train i, test j) = sum_c lr_c  e_ci e_cj (h_ci . h_cj + 1)

over the checkpoints ``c`` with the step size ``lr_c`` of their epoch. Scores are in loss units;
positive = proponent (a step on ``i`` lowers the loss of ``j``), negative = opponent. The
self-influence ``sum_c lr_c e_c^2 (|h_c|^2 + 1)`` is the (step-weighted) squared gradient norm,
the score kappa pruning cuts on (:meth:`TracInStore.gradient_norms`).

For these taggers ``h`` is a ReLU output (``h >= 0``), so ``h . h' + 1 > 0`` and the sign of a
score is the sign of ``e_i e_j``: a proponent always has the test jet's class (its error has
the same sign) and an opponent the other class. Within a class the ranking is by
``|e_i| (h_i . h_j + 1)``: hard, uncertain training jets with similar features come first.

The category study (:func:`category_study`) sorts test jets into TP / FP / FN / TN at the
probability threshold 0.5 (signal = dark-photon jet,
:func:`~hepxai.usecases.darkjet.judging.tagging_categories`) and summarises who their
proponents are: same class or not, their share of noise clusters (simulator truth) against the
training set's base rate, their number of clusters.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from hepxai.explain.influence.tracin import TracInStore, head_features
from hepxai.explain.types import NO_ID, Influence
from hepxai.usecases.darkjet.graphs import GraphSet
from hepxai.usecases.darkjet.judging import CATEGORIES, THRESHOLD, tagging_categories
from hepxai.usecases.darkjet.task import JetGradients


def logits_of(model: nn.Module, graphs: GraphSet, rows: np.ndarray | None = None,
              device: str = "cpu") -> np.ndarray:
    """The tagger's logits ``(n,)`` float32 of ``rows`` of ``graphs`` (default all), checked to
    be its final layer's output (what last-layer TracIn needs of the explained model)."""
    _, f = head_features(model, JetGradients(graphs), rows, device=device)
    return f[:, 0].numpy()


def noise_fraction(graphs: GraphSet) -> np.ndarray:
    """Share of noise clusters among each graph's nodes ``(n,)`` (every graph has a node)."""
    counts = np.add.reduceat(graphs.is_noise.astype(np.int64), graphs.node_offsets[:-1])
    return counts / graphs.n_nodes


def summarise_graph_influence(influence: Influence, test_labels: np.ndarray,
                              train: GraphSet, train_rows: np.ndarray) -> dict[str, Any]:
    """Who the proponents and opponents of a set of test jets are, against the training set.

    Returns a JSON-ready dict: mean proponent / opponent score, for both the share in the test
    jet's class, the mean share of noise clusters and the mean number of clusters; the training
    set's base rates (``train_*``, over ``train_rows``).
    """
    noise, size = noise_fraction(train), train.n_nodes.astype(np.float64)
    test_class = (np.asarray(test_labels) > 0.5)[:, None]
    out: dict[str, Any] = {"n_jets": int(influence.n_test)}
    for side in ("proponent", "opponent"):
        ids, scores = getattr(influence, f"{side}_ids"), getattr(influence, f"{side}_scores")
        real = ids != NO_ID  # fewer than k proponents / opponents: the row ends in NO_ID
        out[f"n_{side}s"] = int(real.sum())
        if not real.any():  # none of the set's jets has one: no numbers (NaN -> null)
            out.update({f"{side}_{key}": float("nan") for key in
                        ("mean_score", "same_class", "noise_share", "mean_clusters")})
            continue
        same = (train.y[ids[real]] > 0.5) == np.broadcast_to(test_class, real.shape)[real]
        out[f"{side}_mean_score"] = float(np.mean(scores[real]))
        out[f"{side}_same_class"] = float(same.mean())
        out[f"{side}_noise_share"] = float(noise[ids[real]].mean())
        out[f"{side}_mean_clusters"] = float(size[ids[real]].mean())
    base = train.y[train_rows] > 0.5
    out["train_same_class"] = float((base[None, :] == test_class).mean())
    out["train_noise_share"] = float(noise[train_rows].mean())
    out["train_mean_clusters"] = float(size[train_rows].mean())
    return out


def category_study(store: TracInStore, model: nn.Module, test: GraphSet, train: GraphSet, *,
                   per_category: int = 20, k: int = 10, candidates: int | None = None,
                   seed: int = 0, device: str = "cpu") -> dict[str, Any]:
    """TracIn for up to ``per_category`` test jets of each of TP / FP / FN / TN.

    The first ``candidates`` jets of ``test`` (default all) are predicted by ``model`` (the
    explained model, e.g. ``best.pt``), sorted into categories at probability 0.5 and up to
    ``per_category`` of each drawn at random (``seed``). Returns ``{"summary": ...,
    "influences": {set: Influence}, "categories": (n_candidates,) labels}``.
    """
    rng = np.random.default_rng(seed)
    positions = np.arange(len(test) if candidates is None else min(candidates, len(test)))
    logits = torch.from_numpy(logits_of(model, test, positions, device))
    categories = tagging_categories(test.y[positions], logits.numpy())
    summary: dict[str, Any] = {"threshold": THRESHOLD, "candidates": int(positions.size),
                               "k": k, "category_counts": {c: int((categories == c).sum())
                                                           for c in CATEGORIES}, "sets": {}}
    influences: dict[str, Influence] = {}
    for name in CATEGORIES:
        members = positions[categories == name]
        take = min(per_category, members.size)
        if take == 0:
            summary["sets"][name] = {"n_jets": 0}
            continue
        chosen = np.sort(rng.choice(members, take, replace=False))
        influence = store.influence(JetGradients(test), chosen, k=k, device=device)
        influence.params["set"] = name
        influences[name] = influence
        summary["sets"][name] = {
            **summarise_graph_influence(influence, test.y[chosen], train, store.rows),
            "mean_probability": float(torch.sigmoid(logits[chosen]).mean())}
    return {"summary": summary, "influences": influences, "categories": categories}


def format_categories(summary: dict[str, Any]) -> str:
    """The category study as a markdown table."""
    lines = ["| set | jets | mean p | prop. score | opp. score | prop. same class | "
             "prop. noise share | prop. clusters |", "| --- | ---: | ---: | ---: | ---: | ---: | "
             "---: | ---: |"]
    base = None
    for name, s in summary["sets"].items():
        if not s.get("n_jets"):
            lines.append(f"| {name} | 0 | | | | | | |")
            continue
        base = s
        lines.append(f"| {name} | {s['n_jets']} | {s['mean_probability']:.3f} | "
                     f"{s['proponent_mean_score']:.3g} | {s['opponent_mean_score']:.3g} | "
                     f"{s['proponent_same_class']:.2f} | {s['proponent_noise_share']:.3f} | "
                     f"{s['proponent_mean_clusters']:.1f} |")
    if base is not None:
        lines.append(f"| training set | | | | | | {base['train_noise_share']:.3f} | "
                     f"{base['train_mean_clusters']:.1f} |")
    return "\n".join(lines)
