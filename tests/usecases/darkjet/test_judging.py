"""Judging the dark-jet graph explanations: hand-computed localization, AUROC and agreement;
deletion equals removing the nodes by hand; voxel aggregation conserves relevance; the CNN's
voxel saliency equals autograd; the cross-model permutation baseline."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hepxai.core.ragged import pad
from hepxai.core.ragged import ranks_within as ranks_in_jet
from hepxai.explain.judging import agreement as row_agreement
from hepxai.explain.judging import deletion_outputs, localization, removed_counts
from hepxai.explain.judging.study import pair_agreement as judged_pair_agreement
from hepxai.explain.types import Attribution
from hepxai.usecases.darkjet.attribution import GRAPHS, explain
from hepxai.usecases.darkjet.graphs import GraphSettings, build_graphs
from hepxai.usecases.darkjet.judging import (
    cnn_voxel_saliency,
    cross_model,
    judge_graphs,
    judging_summary,
    node_voxel_relevance,
    shuffle_within,
    tagging_categories,
)
from hepxai.usecases.darkjet.models import create
from hepxai.usecases.darkjet.simulator import DarkJetSimConfig, Jets, simulate_jets
from hepxai.usecases.darkjet.voxels import voxel_index, voxelise

pytestmark = pytest.mark.usefixtures("one_torch_thread")


ROWS = np.array([0, 2, 5, 21, 24, 30])


@pytest.fixture(scope="module")
def graphs():
    config = DarkJetSimConfig()
    return build_graphs(Jets.concatenate([simulate_jets(config, 5, 0, 0, 16),
                                          simulate_jets(config, 5, 1, 0, 16)]), GraphSettings())


@pytest.fixture(scope="module")
def model():
    return create("resgnn", "quick", seed=2, hidden=8).eval()


# -- hand-made jets ---------------------------------------------------------------------------
OFFSETS = np.array([0, 4, 7, 9])
NOISE = np.array([0, 0, 1, 1, 0, 0, 0, 1, 0], bool)
VALUES = np.array([3.0, 1.0, 1.0, 0.0, 1.0, 2.0, 3.0, -2.0, 2.0])


def _rows(values, offsets=OFFSETS):
    return pad(np.asarray(values, np.float64), offsets)


def agreement(a, b, offsets, k):
    """The one row-wise agreement on ragged jets (padded rows)."""
    rows_a, mask = _rows(a, offsets)
    rows_b, _ = _rows(b, offsets)
    return row_agreement(rows_a, rows_b, mask, k)


def test_localization_by_hand():
    rows, mask = _rows(VALUES)
    scores = localization(rows, mask, _rows(~NOISE)[0] > 0.5, name="signal")
    # jet 0: 4 of 5 on the two signal nodes; AUROC: pairs (3>1, 3>0, 1=1, 1>0) = 3.5 / 4
    # jet 1: no noise (AUROC undefined); jet 2: |-2| on noise, 2 on signal: a tie
    np.testing.assert_allclose(scores["signal_share"], [0.8, 1.0, 0.5])
    np.testing.assert_allclose(scores["base_rate"], [0.5, 1.0, 0.5])
    np.testing.assert_allclose(scores["lift"], [0.3, 0.0, 0.0])  # share - base rate, per jet
    np.testing.assert_allclose(scores["auroc"], [0.875, np.nan, 0.5])


def test_agreement_identical_and_reversed():
    values = np.array([1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 5.0, 7.0])
    reverse = np.concatenate([values[a:b][::-1] for a, b in zip(OFFSETS[:-1], OFFSETS[1:],
                                                                strict=True)])
    same = agreement(values, values, OFFSETS, k=2)
    np.testing.assert_allclose(same["spearman"], 1.0)
    np.testing.assert_allclose(same["top_k_overlap"], 1.0)
    opposite = agreement(values, reverse, OFFSETS, k=1)
    np.testing.assert_allclose(opposite["spearman"], -1.0)
    np.testing.assert_allclose(opposite["top_k_overlap"], 0.0)
    # top-2 of jet 0: {3, 2} vs {0, 1} -> 0; jet 1 (3 nodes): {6, 5} vs {4, 5} -> 1/2;
    # jet 2 has only 2 nodes: both maps pick both
    np.testing.assert_allclose(agreement(values, reverse, OFFSETS, k=2)["top_k_overlap"],
                               [0.0, 0.5, 1.0])


def _attribution(values, offsets, ids, method="m"):
    return Attribution(values=np.asarray(values)[:, None], targets=("dark_photon",),
                       method=method, kind="node", offsets=offsets, event_ids=ids)


def pair_agreement(a, b, universe, k):
    """The judge's pair agreement on the jets ``universe`` (all nodes real)."""
    return judged_pair_agreement(a, b, ids=universe, real=np.ones(OFFSETS[-1], bool),
                                 offsets=OFFSETS, k=k)


def test_pair_agreement_aligns_jets_by_id():
    full = _attribution(VALUES, OFFSETS, np.array([3, 7, 9]))
    # the second method explained only jets 9 and 3 (in that order), with jet 3 reversed
    part = _attribution(np.concatenate([VALUES[7:9], VALUES[0:4][::-1]]),
                        np.array([0, 2, 6]), np.array([9, 3]))
    out = pair_agreement(full, part, np.array([3, 7, 9]), k=1)
    assert out["spearman"][0] == pytest.approx(-1.0)  # ranks (4, 2.5, 2.5, 1) vs reversed
    assert out["top_k_overlap"][0] == 0.0
    assert np.isnan(out["spearman"][1]) and np.isnan(out["top_k_overlap"][1])  # not in part
    assert np.isnan(out["spearman"][2])  # |-2| and |2|: constant, no ranking
    assert out["top_k_overlap"][2] == 1.0


def test_ranks_and_removed_counts():
    np.testing.assert_array_equal(ranks_in_jet(VALUES, OFFSETS), [0, 1, 2, 3, 2, 1, 0, 1, 0])
    np.testing.assert_array_equal(removed_counts(np.array([1, 4, 10]), 0.5), [0, 2, 5])
    np.testing.assert_array_equal(removed_counts(np.array([1, 4, 10]), 0.3), [0, 1, 3])
    np.testing.assert_array_equal(tagging_categories(np.array([1, 1, 0, 0]),
                                                     np.array([1.0, -1.0, 1.0, -1.0])),
                                  ["TP", "FN", "FP", "TN"])


# -- deletion ---------------------------------------------------------------------------------
def _by_hand(model, graphs, row, scores, fraction):
    """One jet: drop its top nodes, keep the edges between the rest, renumber, run."""
    data = graphs.data(int(row))
    n = data.num_nodes
    k = min(int(np.floor(fraction * n + 1e-9)), n - 1)
    drop = np.argsort(-scores, kind="stable")[:k]
    keep = np.setdiff1d(np.arange(n), drop)
    new = -np.ones(n, np.int64)
    new[keep] = np.arange(keep.size)
    src, dst = data.edge_index.numpy()
    alive = (new[src] >= 0) & (new[dst] >= 0)
    edges = torch.from_numpy(np.stack([new[src[alive]], new[dst[alive]]]))
    with torch.no_grad():
        return float(model(data.x[keep], edges, data.edge_weight[alive],
                           torch.zeros(keep.size, dtype=torch.long)))


def test_deletion_equals_removing_nodes_by_hand(graphs, model):
    sub = graphs.subset(ROWS)
    scores = np.random.default_rng(4).random(sub.node_offsets[-1])
    fractions = (0.0, 0.2, 0.5)
    batch = GRAPHS.prepare(graphs.batch(ROWS))

    def forward(part):
        return GRAPHS.forward(model, part)[:, 0]

    batched = deletion_outputs(forward, GRAPHS, batch, scores, np.ones(len(scores), bool),
                               fractions)
    for i, row in enumerate(ROWS):
        a, b = sub.node_offsets[i], sub.node_offsets[i + 1]
        for j, fraction in enumerate(fractions):
            assert batched[i, j] == pytest.approx(
                _by_hand(model, graphs, row, scores[a:b], fraction), rel=1e-4, abs=1e-5)
    with torch.no_grad():
        batch = graphs.batch(ROWS)
        whole = model(batch.x, batch.edge_index, batch.edge_weight, batch.batch).numpy()
    np.testing.assert_allclose(batched[:, 0], whole, rtol=1e-5, atol=1e-6)


def test_judging_study_summary(graphs, model):
    rows = np.arange(len(graphs))
    results = {"saliency-graph": explain("saliency-graph", model, graphs, rows),
               "ig-graph": explain("ig-graph", model, graphs, rows, n_steps=16),
               "subset": explain("saliency-graph", model, graphs, rows[::4])}
    judged = judge_graphs(model, graphs, results, k=3)
    summary = judging_summary(judged, k=3, seconds=1.0)
    json.dumps(summary)  # JSON-ready (NaN is written as null by write_json_atomic)
    assert sum(summary["categories"].values()) == len(graphs)
    assert summary["jets_per_method"] == {"saliency-graph": 32, "ig-graph": 32, "subset": 8}
    all_jets = summary["scores"]["ig-graph"]["all"]
    assert 0 <= all_jets["signal_share"] <= 1 and 0 <= all_jets["auroc"] <= 1
    assert np.isfinite(all_jets["deletion_gap"]) and all_jets["completeness_error"] < 0.5
    assert np.isnan(summary["scores"]["saliency-graph"]["all"]["completeness_error"])
    assert summary["completeness_median"]["saliency-graph"] is None
    assert summary["completeness_median"]["ig-graph"] < 0.1
    spearman = np.array(summary["agreement"]["spearman"]["all"])
    assert spearman.shape == (3, 3)
    assert spearman[0, 2] == pytest.approx(1.0)  # the same method on a subset of the jets
    curves = summary["deletion_curves"]
    assert set(curves) == {"saliency-graph", "ig-graph", "subset", "random"}
    assert len(curves["random"]["all"]) == len(summary["fractions"])
    assert curves["random"]["all"][0] == 0.0


def test_gnnexplainer_seeds_score_as_each_seed_does_alone(graphs, model):
    # replicas on ragged graphs and a subset of the judged jets: every seed's row is what
    # that seed scores when it is the judged run
    rows = np.arange(len(graphs))
    subset = rows[::4]
    saliency = explain("saliency-graph", model, graphs, rows)
    runs = [explain("gnnexplainer", model, graphs, subset, epochs=20, seed=s) for s in (0, 1)]
    seeded = judge_graphs(model, graphs, {"saliency-graph": saliency, "gnnexplainer": runs[0]},
                          k=3, replicas={"gnnexplainer": runs[1:]})
    alone = judge_graphs(model, graphs, {"saliency-graph": saliency, "gnnexplainer": runs[1]},
                         k=3)
    for score in ("signal_share", "auroc", "deletion_gap"):
        np.testing.assert_allclose(seeded.seed_scores["gnnexplainer"][score][1],
                                   alone.scores["gnnexplainer"][score], equal_nan=True)
    np.testing.assert_allclose(seeded.seed_pairs[("saliency-graph", "gnnexplainer")]
                               ["spearman"][1],
                               alone.pairs[("saliency-graph", "gnnexplainer")]["spearman"],
                               equal_nan=True)
    summary = judging_summary(seeded, k=3)
    assert summary["seeds_per_method"] == {"saliency-graph": 1, "gnnexplainer": 2}
    assert summary["jets_per_method"]["gnnexplainer"] == len(subset)
    mean = summary["scores"]["gnnexplainer"]["all"]["signal_share"]
    assert mean == pytest.approx(np.mean([np.nanmean(judged.scores["gnnexplainer"]
                                                     ["signal_share"])
                                          for judged in (seeded, alone)]))


# -- cross-model ------------------------------------------------------------------------------
def test_voxel_aggregation_conserves_in_grid_relevance(graphs):
    sub = graphs.subset(ROWS)
    sub.pos = sub.pos.copy()
    sub.pos[0, 0] = 0.9  # one node pushed outside the (|d_eta| < 0.4) grid
    values = np.random.default_rng(1).normal(size=sub.node_offsets[-1])
    inside = voxel_index(sub.pos, sub.layer) >= 0
    assert not inside.all()
    voxels = node_voxel_relevance(values, sub)
    assert voxels.shape == (len(ROWS), 7 * 16 * 16)
    owner = np.repeat(np.arange(len(ROWS)), sub.n_nodes)
    expected = np.bincount(owner, np.abs(values) * inside, minlength=len(ROWS))
    np.testing.assert_allclose(voxels.sum(1), expected, rtol=1e-5)


def test_cnn_voxel_saliency_equals_autograd(graphs):
    cnn = create("cnn3d", "quick", seed=1).eval()
    voxels = voxelise(graphs, ROWS)
    saliency = cnn_voxel_saliency(cnn, voxels)
    x = voxels.clone().requires_grad_()
    cnn(x).sum().backward()
    np.testing.assert_allclose(saliency, x.grad.abs()[:, 0].numpy(), rtol=1e-5, atol=1e-8)


def test_cross_model_and_permutation_baseline(graphs):
    sub = graphs.subset(ROWS)
    values = sub.x[:, 0].astype(np.float64)  # the node energies
    same = node_voxel_relevance(values, sub).reshape(len(ROWS), 7, 16, 16)
    out = cross_model(values, sub, same, n_permutations=10, seed=3)
    assert out["mean"] == pytest.approx(1.0)  # a CNN map equal to the GNN's voxels
    assert out["permuted"].shape == (10, len(ROWS))
    assert out["permuted_mean"] < 0.5 and out["z"] > 2 and out["p_value"] < 0.1


def test_shuffle_within_permutes_only_the_masked_entries():
    values = np.arange(12.0).reshape(2, 6)
    mask = np.array([[1, 0, 1, 1, 0, 1], [0, 0, 1, 1, 0, 0]], bool)
    out = shuffle_within(values, mask, np.random.default_rng(0))
    np.testing.assert_array_equal(out[~mask], values[~mask])
    for r in range(2):
        np.testing.assert_array_equal(np.sort(out[r, mask[r]]), np.sort(values[r, mask[r]]))


def test_the_report_sentence_states_only_what_the_intervals_support():
    from hepxai.usecases.darkjet.report import _judging_sentence

    def row(name, lift, lift_interval, gap, gap_interval):
        return {"name": name, "lift": lift, "lift_interval": lift_interval, "share": "0.9",
                "base": "0.89", "gap": gap, "gap_interval": gap_interval}

    rows = [row("ig-graph", 0.03, [0.01, 0.05], 0.1, [0.05, 0.15]),
            row("saliency-graph", 0.001, [-0.02, 0.03], 0.02, [-0.01, 0.05]),
            row("gnnexplainer", -0.02, [-0.04, -0.01], 0.08, [0.02, 0.12])]
    summary = {"agreement": {"spearman": {"all": None}}}
    sentence = _judging_sentence(summary, rows)
    # a margin of 0.001 whose interval includes zero is not counted as "more"
    assert "1 of 3 methods put more relevance on non-noise clusters than a blind map " \
           "would (ig-graph), 1 less (gnnexplainer); for saliency-graph the 95 % interval" \
           in sentence
    assert "random order for ig-graph, gnnexplainer (for saliency-graph the interval " \
           "includes no difference)" in sentence
