"""Soft-tree decision flow: probabilities, leaf mixture, paths, node relevance, confidence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hepxai.core.errors import HepxaiError
from hepxai.metrics.trigger import efficiency
from hepxai.usecases.muon.decision_flow import confidence_study, flow_of_dataset
from hepxai.usecases.muon.flow import DecisionFlow, plain_language
from hepxai.usecases.muon.models import create


@pytest.fixture(scope="module")
def convsdt() -> torch.nn.Module:
    model = create("convsdt", "fast", seed=5).eval()
    model.target_mean.copy_(torch.tensor([15.0, 0.5]))
    model.target_std.copy_(torch.tensor([9.0, 0.3]))
    with torch.no_grad():  # sharper decisions than at initialisation
        model.soft_tree.inner.weight.mul_(30.0)
    return model


def _images(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 9, 384, generator=g) < 0.01).float()


def test_leaf_probabilities_and_mixture(convsdt):
    x = _images(64, 1)
    path = DecisionFlow(convsdt).explain(x)
    np.testing.assert_allclose(path.leaf_probabilities.sum(1), 1.0, atol=1e-6)
    with torch.no_grad():
        out = convsdt(x).double().numpy()
    np.testing.assert_allclose(path.contributions.sum(1), out, atol=1e-6 * np.abs(out).max())
    np.testing.assert_allclose(path.outputs, out, rtol=1e-6)
    # the plain model gives the same flow (the default reads the features from the BN-folded copy)
    plain = DecisionFlow(convsdt, fused=False).explain(x)
    np.testing.assert_allclose(plain.leaf_probabilities, path.leaf_probabilities, atol=1e-5)
    np.testing.assert_allclose(plain.outputs, out, rtol=1e-6)


def test_max_probability_path_is_the_root_path_of_the_best_leaf(convsdt):
    path = DecisionFlow(convsdt).explain(_images(32, 2))
    depth = path.depth
    for i, leaf in enumerate(path.best_leaf):
        node, walk = 0, []
        for level in range(depth):  # the leaf number's bits, most significant first: 1 = right
            walk.append(node)
            node = 2 * node + 1 + (leaf >> (depth - 1 - level) & 1)
        assert path.max_probability_path[i].tolist() == walk
        # and its reach probability is the product of the branch probabilities on the way
        p, node = 1.0, 0
        for level in range(depth):
            right = leaf >> (depth - 1 - level) & 1
            left = path.branch_probabilities[i, node]
            p *= (1 - left) if right else left
            node = 2 * node + 1 + right
        assert path.leaf_probabilities[i, leaf] == pytest.approx(p, rel=1e-5)


def test_node_relevance_of_a_flat_tree_is_weight_times_input():
    model = create("sdt", "fast", seed=3).eval()
    x = _images(3, 3)
    relevance = DecisionFlow(model).explain(x, relevance=True).node_relevance
    weights = model.tree.inner.weight.detach().numpy().reshape(-1, 9, 384)  # by hand
    np.testing.assert_allclose(relevance, weights[None] * x.numpy(), rtol=1e-5, atol=1e-8)


def test_node_relevance_matches_autograd_node_by_node(convsdt):
    x = _images(2, 4)
    relevance = DecisionFlow(convsdt).explain(x, relevance=True).node_relevance
    for node in (0, 7, 30):
        xr = x.clone().requires_grad_(True)
        logit = convsdt.soft_tree.inner(convsdt.features(xr))[:, node].sum()
        grad = torch.autograd.grad(logit, xr)[0]
        np.testing.assert_allclose(relevance[:, node], (grad * x)[:, 0].numpy(), rtol=1e-4,
                                   atol=1e-7)


def test_confidence_cut_uses_the_evaluation_predictions(convsdt, muon_dir):
    from hepxai.usecases.muon.loader import MuonDataset
    from hepxai.usecases.muon.task import predict

    flow = DecisionFlow(convsdt, fused=False)  # as tree_study: the evaluation's predictions
    val, noise = MuonDataset(muon_dir / "val.h5"), MuonDataset(muon_dir / "noise.h5")
    muon_path = flow_of_dataset(flow, val, "val")
    noise_path = flow_of_dataset(flow, noise, "noise")
    true_pt = val.targets[:, 0].numpy().astype(np.float64)
    study = confidence_study(muon_path, noise_path, true_pt)
    predicted = predict(convsdt, val)[:, 0]
    noise_pred = predict(convsdt, noise)[:, 0]
    assert study["cuts"][0]["efficiency_15"] == pytest.approx(
        efficiency(true_pt, predicted > 15, 15.0))
    assert study["cuts"][0]["fake_rate"] == pytest.approx(float((noise_pred > 15).mean()))
    # a stricter cut can only lower both
    rates = [row["fake_rate"] for row in study["cuts"]]
    assert all(b <= a + 1e-12 for a, b in zip(rates, rates[1:], strict=False))
    assert 0.0 <= study["auroc_max_leaf_probability"] <= 1.0


def test_plain_language_and_bad_input(convsdt):
    path = DecisionFlow(convsdt).explain(_images(1, 5))
    text = plain_language(path, 0, (18.0, 0.4))
    leaf = int(path.best_leaf[0])
    nodes = "-".join(str(n) for n in path.max_probability_path[0])
    assert f"path {nodes} to leaf {leaf}" in text and "true pT 18.0 GeV" in text
    with pytest.raises(HepxaiError, match="soft decision tree"):
        DecisionFlow(create("attribution-cnn", "fast"))
