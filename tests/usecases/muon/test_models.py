"""Muon models: thesis parameter counts, the soft tree's probability algebra, declared parts."""

from __future__ import annotations

import itertools

import pytest
import torch

from hepxai.core.errors import HepxaiError
from hepxai.usecases.muon.models import MODELS, create
from hepxai.usecases.muon.models.soft_tree import SoftDecisionTree


def _images(n: int = 6, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 9, 384, generator=generator) < 0.01).float()


@pytest.mark.parametrize("name, count", [("attribution-cnn", 927_362), ("convsdt", 47_855),
                                         ("tracin-cnn", 269_698)])
def test_paper_presets_match_the_thesis_parameter_counts(name, count):
    # thesis tables 6.1 and 6.2; the TracIn CNN = the same body + Dense(128 -> 2)
    assert create(name, "paper").n_parameters() == count


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("preset", ["fast", "paper"])
def test_every_model_maps_images_to_pt_and_eta(name, preset):
    if preset == "paper" and name.startswith("sdt-"):
        pytest.skip("ensembles of flat trees are identical in both presets but for the recipe")
    model = create(name, preset).eval()
    out = model(_images(3))
    assert out.shape == (3, 2) and torch.isfinite(out).all()
    assert model.outputs == ("pt", "eta")


def test_paper_convsdt_body_is_the_thesis_layer_order():
    # the body pools before its ReLUs (cheaper); the thesis' order is conv-BN-ReLU-pool. Same
    # weights (the same state-dict keys) must give the same maps and the same gradients.
    from torch import nn
    body = create("convsdt", "paper", seed=5).body.train()
    thesis = nn.Sequential(nn.Conv2d(1, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
                           nn.MaxPool2d(2), nn.Conv2d(64, 32, 3, padding=1), nn.BatchNorm2d(32),
                           nn.ReLU(), nn.MaxPool2d(2)).train()
    thesis.load_state_dict(body.early.state_dict())
    x = torch.randn(4, 1, 9, 384)  # real-valued: ties between pooled values have measure zero
    ours, reference = body.early(x), thesis(x)
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-6)
    (ours * reference.detach()).sum().backward()
    (reference * reference.detach()).sum().backward()
    for (name, p), q in zip(body.early.named_parameters(), thesis.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-6, msg=name)


def test_same_seed_same_weights():
    a, b, c = create("convsdt", seed=3), create("convsdt", seed=3), create("convsdt", seed=4)
    for (ka, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), ka
    assert any(not torch.equal(va, vc) for va, vc in zip(a.state_dict().values(),
                                                         c.state_dict().values(), strict=True)
               if va.is_floating_point())


def test_unknown_model_or_preset_is_a_user_error():
    with pytest.raises(HepxaiError, match="unknown model"):
        create("resnet")
    with pytest.raises(HepxaiError, match="unknown preset"):
        create("convsdt", "huge")


def _leaf_probabilities_by_paths(branch: torch.Tensor, depth: int) -> torch.Tensor:
    """Reference: product over the root-to-leaf path, node by node (slow, obviously right)."""
    leaves = []
    for bits in itertools.product((0, 1), repeat=depth):  # 0 = left, leaves left to right
        node, prob = 0, torch.ones(branch.shape[0])
        for bit in bits:
            p_left = branch[:, node]
            prob = prob * (p_left if bit == 0 else 1 - p_left)
            node = 2 * node + 1 + bit
        leaves.append(prob)
    return torch.stack(leaves, dim=1)


def test_soft_tree_leaf_probabilities_and_prediction():
    torch.manual_seed(0)
    tree = SoftDecisionTree(in_features=7, depth=5)
    x = torch.randn(20, 7)
    branch = tree.branch_probabilities(x)
    leaves = tree.leaf_probabilities(branch)
    assert leaves.shape == (20, 32)
    torch.testing.assert_close(leaves.sum(1), torch.ones(20))
    torch.testing.assert_close(leaves, _leaf_probabilities_by_paths(branch, 5))
    expected = leaves @ tree.leaves.weight.T  # sum over leaves of P_leaf * value_leaf
    torch.testing.assert_close(tree(x), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("preset", ["fast", "paper"])
def test_soft_tree_leaves_start_in_z_scored_units_of_each_target(preset):
    # the thesis starts every leaf at N(0, 1) in z-scored targets; with |eta| weighted in the
    # encoding, leaves started at N(0, 1) there would spread 1/weight times wider in |eta|
    torch.manual_seed(0)
    model = create("convsdt", preset)
    y = torch.stack([torch.rand(5000) * 17 + 3, torch.rand(5000) * 1.05], dim=1)
    model.fit_target_encoding(y)
    leaves = model.decode_outputs(model.tree.leaves.weight.detach().T)  # (32, 2) physical
    z = (leaves - y.mean(0)) / y.std(0)
    # 32 draws of N(0, 1): the sample standard deviation is 1 within +-0.4 (> 3 sigma)
    assert ((z.std(0) > 0.6) & (z.std(0) < 1.4)).all(), z.std(0)


def test_hard_routing_reaches_exactly_one_leaf_with_gradients():
    torch.manual_seed(1)
    tree = SoftDecisionTree(in_features=5, depth=4, hard=True)
    x = torch.randn(16, 5)
    leaves = tree.leaf_probabilities(tree.branch_probabilities(x))
    assert torch.equal(leaves.sum(1), torch.ones(16))
    assert torch.equal((leaves == 1).sum(1), torch.ones(16, dtype=torch.long))
    tree(x).sum().backward()  # straight-through estimator: the inner layer still learns
    assert tree.inner.weight.grad is not None and tree.inner.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["attribution-cnn", "tracin-cnn", "convsdt"])
@pytest.mark.parametrize("preset", ["fast", "paper"])
def test_declared_parts_are_the_ones_the_forward_pass_uses(name, preset):
    model = create(name, preset).eval()
    x = _images(4)
    maps = {}
    handle = model.last_conv.register_forward_hook(lambda m, i, o: maps.setdefault("a", o))
    encoded = model.forward_encoded(x)
    handle.remove()
    assert maps["a"].dim() == 4  # (b, channels, rows, strips) for RAM
    if name == "tracin-cnn":  # conv maps -> GAP -> linear head, exactly
        gap = maps["a"].mean(dim=(2, 3))
        torch.testing.assert_close(model.head(gap), encoded)
        assert isinstance(model.head, torch.nn.Linear)
    if name == "convsdt":
        assert model.tree is not None and model.tree.depth == 5
        leaves = model.tree.leaf_probabilities(model.tree.branch_probabilities(model.features(x)))
        torch.testing.assert_close(model.head(leaves), encoded)


def test_target_encoding_round_trip():
    model = create("convsdt", "fast")
    y = torch.stack([torch.linspace(3, 20, 50), torch.linspace(0, 1.05, 50)], dim=1)
    model.fit_target_encoding(y)
    encoded = model.encode_targets(y)
    torch.testing.assert_close(encoded.mean(0), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(model.decode_outputs(encoded), y, rtol=1e-5, atol=1e-5)


def test_eta_weight_scales_eta_in_the_encoded_mae():
    from dataclasses import replace

    model = create("attribution-cnn", "fast")
    assert model.recipe.eta_weight == 0.1
    y = torch.stack([torch.linspace(3, 20, 50), torch.linspace(0, 1.05, 50)], dim=1)
    model.fit_target_encoding(y)
    y_hat = y + torch.tensor([1.5, -0.02])
    mae = (model.encode_targets(y_hat) - model.encode_targets(y)).abs().sum(1)
    expected = 1.5 / y[:, 0].std() + 0.1 * 0.02 / y[:, 1].std()
    torch.testing.assert_close(mae, expected.expand(50), rtol=1e-4, atol=0)
    torch.testing.assert_close(model.decode_outputs(model.encode_targets(y)), y, rtol=1e-5,
                               atol=1e-5)
    model.recipe = replace(model.recipe, eta_weight=1.0)  # plain z-scores
    torch.testing.assert_close(model.encode_targets(y).std(0), torch.ones(2), rtol=1e-5, atol=0)


def test_decision_tree_on_sparse_images_equals_sklearn_on_dense(tmp_path):
    import numpy as np
    from sklearn.tree import DecisionTreeRegressor

    from hepxai.io.checkpoint import load_model
    from hepxai.usecases.muon.geometry import MuonSimConfig
    from hepxai.usecases.muon.models.decision_tree import DecisionTreeModel, to_csr
    from hepxai.usecases.muon.simulator import simulate

    events = simulate(MuonSimConfig(), 4, "train", 0, 3000)
    dense = events.images.to_dense().reshape(len(events), -1).astype(np.float32)
    np.testing.assert_array_equal(to_csr(events.images).toarray(), dense)
    targets = np.stack([events.labels["pt"], events.labels["eta"]], axis=1)
    model = DecisionTreeModel(min_samples_leaf=10, seed=0).fit(events.images, targets)
    reference = DecisionTreeRegressor(min_samples_leaf=10, random_state=0).fit(dense, targets)
    np.testing.assert_allclose(model.predict_images(events.images), reference.predict(dense),
                               rtol=1e-6)
    model.save(tmp_path / "tree.pt", {"model": model.name})
    loaded = load_model(tmp_path / "tree.pt")
    np.testing.assert_array_equal(loaded.predict_images(events.images),
                                  model.predict_images(events.images))
