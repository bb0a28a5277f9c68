"""Graph explainers on our ResGNN: saliency equals autograd and PyG's per-graph
Explainer(CaptumExplainer), IG completeness, GNNExplainer masks and top-k, saved files, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.explain import Explainer
from torch_geometric.explain import GNNExplainer as PygGNNExplainer
from torch_geometric.explain.algorithm import CaptumExplainer
from torch_geometric.explain.algorithm.utils import clear_masks, set_masks

from hepxai.core.errors import HepxaiError
from hepxai.explain.types import Attribution
from hepxai.usecases.darkjet.attribution import METHODS, GraphAttributions, explain, top_k
from hepxai.usecases.darkjet.graphs import GraphSettings, build_graphs
from hepxai.usecases.darkjet.models import create
from hepxai.usecases.darkjet.simulator import DarkJetSimConfig, Jets, simulate_jets

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROWS = np.array([0, 3, 5, 20, 22, 39])


@pytest.fixture(scope="module")
def graphs():
    config = DarkJetSimConfig()
    return build_graphs(Jets.concatenate([simulate_jets(config, 8, 0, 0, 20),
                                          simulate_jets(config, 8, 1, 0, 20)]), GraphSettings())


@pytest.fixture(scope="module")
def model():
    return create("resgnn", "quick", seed=3).eval()


def test_methods_are_registered_for_darkjet():
    assert {"saliency-graph", "ig-graph", "gnnexplainer"} <= set(METHODS)


def test_saliency_equals_autograd(graphs, model):
    result = explain("saliency-graph", model, graphs, ROWS, batch_size=4)
    assert isinstance(result.node, Attribution) and result.node.kind == "node"
    assert result.edge.kind == "edge" and result.node.targets == ("dark_photon",)
    batch = graphs.batch(ROWS)
    x = batch.x.clone().requires_grad_()
    model(x, batch.edge_index, batch.edge_weight, batch.batch).sum().backward()
    np.testing.assert_allclose(result.node.items(), x.grad.abs().amax(1).numpy(),
                               rtol=1e-5, atol=1e-7)
    mask = torch.ones(batch.edge_index.shape[1], requires_grad=True)
    set_masks(model, mask, batch.edge_index, apply_sigmoid=False)
    try:
        model(batch.x, batch.edge_index, batch.edge_weight, batch.batch).sum().backward()
    finally:
        clear_masks(model)
    np.testing.assert_allclose(result.edge.items(), mask.grad.abs().numpy(), rtol=1e-5,
                               atol=1e-7)
    # ragged layout and truth alongside
    sub = graphs.subset(ROWS)
    np.testing.assert_array_equal(result.node.offsets, sub.node_offsets)
    np.testing.assert_array_equal(result.edge.offsets, sub.edge_offsets)
    np.testing.assert_array_equal(result.node_is_noise, sub.is_noise)
    np.testing.assert_array_equal(result.node.event_ids, ROWS)


def test_batched_saliency_equals_pyg_per_graph_explainer(graphs, model):
    result = explain("saliency-graph", model, graphs, ROWS)
    explainer = Explainer(model=model, algorithm=CaptumExplainer("Saliency"),
                          explanation_type="model", node_mask_type="attributes",
                          edge_mask_type="object",
                          model_config={"mode": "regression", "task_level": "graph",
                                        "return_type": "raw"})
    for k, row in enumerate(ROWS):
        data = graphs.data(int(row))
        explanation = explainer(data.x, data.edge_index, edge_weight=data.edge_weight,
                                batch=torch.zeros(data.num_nodes, dtype=torch.long))
        a, b = result.node.offsets[k], result.node.offsets[k + 1]
        np.testing.assert_allclose(result.node.items()[a:b],
                                   explanation.node_mask.abs().amax(1).numpy(), rtol=1e-5,
                                   atol=1e-7)
        a, b = result.edge.offsets[k], result.edge.offsets[k + 1]
        np.testing.assert_allclose(result.edge.items()[a:b],
                                   explanation.edge_mask.abs().numpy(), rtol=1e-5, atol=1e-7)


def test_integrated_gradients_is_complete(graphs, model):
    """Node (or edge) values add up to logit(x) - logit(baseline), better with more steps
    (Gauss-Legendre quadrature of the path integral; max pooling makes the path piecewise)."""
    coarse = explain("ig-graph", model, graphs, ROWS, n_steps=4)
    result = explain("ig-graph", model, graphs, ROWS, n_steps=96)
    for fine, rough in ((result.node, coarse.node), (result.edge, coarse.edge)):
        change = np.abs(fine.outputs - fine.baseline_outputs)
        assert change.min() > 1e-3  # a non-trivial check
        assert np.median(fine.completeness_error() / change) < 0.03
        assert fine.completeness_error().sum() < rough.completeness_error().sum()
    # node baseline = all-zero features through the same model
    batch = graphs.batch(ROWS)
    with torch.no_grad():
        zero = model(torch.zeros_like(batch.x), batch.edge_index, batch.edge_weight, batch.batch)
    np.testing.assert_allclose(result.node.baseline_outputs[:, 0], zero.numpy(), rtol=1e-5,
                               atol=1e-6)


def test_gnnexplainer_masks_top_k_and_files(graphs, model, tmp_path):
    result = explain("gnnexplainer", model, graphs, ROWS[:3], epochs=20, seed=1)
    assert np.all((result.node.values >= 0) & (result.node.values <= 1))
    assert np.all((result.edge.values >= 0) & (result.edge.values <= 1))
    again = explain("gnnexplainer", model, graphs, ROWS[:3], epochs=20, seed=1)
    np.testing.assert_array_equal(result.node.values, again.node.values)  # seeded
    tops = top_k(result.node.items(), result.node.offsets, 3)
    for k, picks in enumerate(tops):
        values = result.node.event(k)[:, 0]
        assert len(picks) == min(3, len(values))
        assert values[picks[0]] == values.max()
        assert np.all(np.diff(values[picks]) <= 0)
    paths = result.save(tmp_path, "gnnexplainer")
    loaded = Attribution.load(paths["attribution"])
    np.testing.assert_array_equal(loaded.values, result.node.values)
    np.testing.assert_array_equal(loaded.offsets, result.node.offsets)
    with np.load(paths["truth"]) as truth:
        np.testing.assert_array_equal(truth["is_noise"], result.node_is_noise)
    assert isinstance(result, GraphAttributions)


def test_gnnexplainer_restarts_average_masks_from_distinct_starts(graphs, model):
    from hepxai.explain.attribution.gnnexplainer import GNNExplainer, restart_seed

    rows = ROWS[:2]
    single = explain("gnnexplainer", model, graphs, rows, epochs=8, lr=1.0, seed=4)
    averaged = explain("gnnexplainer", model, graphs, rows, epochs=8, lr=1.0, seed=4,
                       restarts=3)
    starts = [restart_seed(4, r) for r in range(3)]
    assert starts[0] == 4 and len(set(starts)) == 3
    assert not set(starts) & {restart_seed(5, r) for r in range(3)}  # seeds share no start
    # the average of one-start runs, each through PyG with its own torch seed
    runs = []
    for start in starts:
        pyg = Explainer(model=GNNExplainer(model).runner,
                        algorithm=PygGNNExplainer(epochs=8, lr=1.0), explanation_type="model",
                        node_mask_type="object", edge_mask_type="object",
                        model_config={"mode": "binary_classification", "task_level": "graph",
                                      "return_type": "raw"})
        masks = []
        for i in range(len(rows)):  # one graph per call, as hepxai explains them
            one = graphs.batch(rows[i:i + 1])
            torch.manual_seed(start)
            masks.append(pyg(one.x, one.edge_index, edge_weight=one.edge_weight,
                             batch=one.batch).node_mask.detach().reshape(-1).numpy())
        runs.append(np.concatenate(masks))
    np.testing.assert_allclose(single.node.values[:, 0], runs[0], atol=1e-6)
    np.testing.assert_allclose(averaged.node.values[:, 0], np.mean(runs, 0), atol=1e-6)
    assert averaged.node.params["restarts"] == 3 and "restarts" not in single.node.params


def test_bad_input_is_one_line(graphs, model):
    with pytest.raises(HepxaiError, match="graph model"):
        explain("saliency-graph", create("cnn3d", "quick"), graphs, ROWS)
    with pytest.raises(HepxaiError, match="no jets"):
        explain("saliency-graph", model, graphs, np.array([], int))
    with pytest.raises(HepxaiError, match="rows must be in"):
        explain("ig-graph", model, graphs, np.array([10_000]))
    with pytest.raises(HepxaiError, match="unknown explanation method"):
        explain("lime", model, graphs, ROWS)
