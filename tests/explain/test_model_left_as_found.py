"""Every explainer leaves the model as it found it: the same weights and buffers, the same
train/eval mode, no hooks and no PyG edge masks left behind, so every method gives the same
values whatever ran before it on the same model object (issue: GNNExplainer left its masks)."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
import torch

from hepxai.explain import (
    BinaryPathIG,
    GNNExplainer,
    IntegratedGradients,
    RegressionActivationMap,
    Saliency,
    SmoothGrad,
    gaussian,
    salt_and_pepper,
)
from hepxai.usecases.darkjet.attribution import GRAPHS
from hepxai.usecases.muon.study import HIT_MAPS

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _state(model: torch.nn.Module) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _untouched(model: torch.nn.Module, state: dict, training: bool) -> None:
    assert model.training == training
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key
    for module in model.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks
        assert not getattr(module, "explain", False)  # PyG: no edge mask registered
        assert getattr(module, "_edge_mask", None) is None


def _image_methods(model):
    return {
        "saliency": lambda: Saliency(model, modality=HIT_MAPS),
        "ig": lambda: IntegratedGradients(model, n_steps=8, modality=HIT_MAPS),
        "ig-binary": lambda: BinaryPathIG(model, mode="exact", modality=HIT_MAPS),
        "ram": lambda: RegressionActivationMap(model, modality=HIT_MAPS),
        "smoothgrad": lambda: SmoothGrad(BinaryPathIG(model, modality=HIT_MAPS),
                                         noise=salt_and_pepper(0.02), n_samples=2)}


def test_muon_methods_in_every_order():
    from hepxai.usecases.muon.models import create

    model = create("tracin-cnn", "fast", seed=3).train()  # found in train mode
    state = _state(model)
    x = (torch.rand(2, 1, 9, 384, generator=torch.Generator().manual_seed(1)) < 0.02).float()
    methods = _image_methods(model)
    fresh = {name: make().attribute(x, target=["pt", "eta"]).values
             for name, make in _image_methods(copy.deepcopy(model)).items()}
    for first, second in itertools.permutations(methods, 2):
        methods[first]().attribute(x, target=["pt", "eta"])
        _untouched(model, state, training=True)
        again = methods[second]().attribute(x, target=["pt", "eta"]).values
        np.testing.assert_allclose(again, fresh[second], rtol=1e-6, atol=1e-9,
                                   err_msg=f"{second} after {first}")


def test_darkjet_methods_in_every_order():
    from hepxai.usecases.darkjet.graphs import GraphSettings, build_graphs
    from hepxai.usecases.darkjet.models import create
    from hepxai.usecases.darkjet.simulator import DarkJetSimConfig, Jets, simulate_jets

    config = DarkJetSimConfig()
    graphs = build_graphs(Jets.concatenate([simulate_jets(config, 4, 0, 0, 3),
                                            simulate_jets(config, 4, 1, 0, 3)]), GraphSettings())
    batch = graphs.batch(np.arange(len(graphs)))
    model = create("resgnn", "quick", seed=3)
    state = _state(model)

    def methods(m):
        return {"saliency": lambda: Saliency(m, modality=GRAPHS),
                "ig": lambda: IntegratedGradients(m, n_steps=4, modality=GRAPHS),
                "gnnexplainer": lambda: GNNExplainer(m, epochs=3, modality=GRAPHS),
                "smoothgrad": lambda: SmoothGrad(Saliency(m, modality=GRAPHS),
                                                 noise=gaussian(0.01), n_samples=2)}

    fresh = {name: make().attribute(batch) for name, make in methods(copy.deepcopy(model)).items()}
    made = methods(model)
    for first, second in itertools.permutations(made, 2):
        made[first]().attribute(batch)
        _untouched(model, state, training=True)
        again = made[second]().attribute(batch)
        np.testing.assert_allclose(again.values, fresh[second].values, rtol=1e-5, atol=1e-8,
                                   err_msg=f"{second} after {first}")
        np.testing.assert_allclose(again.edges.values, fresh[second].edges.values, rtol=1e-5,
                                   atol=1e-8, err_msg=f"{second} edges after {first}")
