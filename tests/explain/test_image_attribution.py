"""Muon attribution methods against Captum, brute force, autograd and their own definitions."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients as CaptumIG
from captum.attr import Saliency as CaptumSaliency
from captum.attr import ShapleyValueSampling

from hepxai.core.errors import HepxaiError
from hepxai.explain import (
    BinaryPathIG,
    IntegratedGradients,
    RegressionActivationMap,
    Saliency,
    SmoothGrad,
    get,
    salt_and_pepper,
)
from hepxai.usecases.muon.models import create
from hepxai.usecases.muon.study import HIT_MAPS

BOTH = ["pt", "eta"]  # explained together, as the study does: values (n, 2, 1, 9, 384)


def _randomise_batchnorm(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Non-trivial running statistics, so folding BN into the convolutions is really tested."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model.eval()


@pytest.fixture(scope="module")
def tracin_cnn() -> torch.nn.Module:
    model = _randomise_batchnorm(create("tracin-cnn", "fast", seed=3), 1)
    model.target_mean.copy_(torch.tensor([20.0, 0.6]))
    model.target_std.copy_(torch.tensor([8.0, 0.3]))
    return model


@pytest.fixture(scope="module")
def attribution_cnn() -> torch.nn.Module:
    return _randomise_batchnorm(create("attribution-cnn", "fast", seed=4), 2)


def _events(n: int, lit: int, seed: int) -> torch.Tensor:
    """``n`` binary images with exactly ``lit`` hits each."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 9 * 384)
    for i in range(n):
        x[i, torch.randperm(9 * 384, generator=g)[:lit]] = 1.0
    return x.view(n, 1, 9, 384)


def test_integrated_gradients_equal_captum(attribution_cnn):
    x = _events(3, 25, seed=1)
    ours = IntegratedGradients(attribution_cnn, n_steps=16, fused=False).attribute(x,
                                                                                   target=BOTH)
    for t in range(2):
        ref = CaptumIG(attribution_cnn).attribute(x, baselines=torch.zeros_like(x), target=t,
                                                  n_steps=16, method="gausslegendre")
        ref = ref.detach().numpy()[:, 0]
        assert np.abs(ours.items(t) - ref).max() <= 1e-5 * np.abs(ref).max()


def test_the_fused_inference_copy_is_the_same_function(tracin_cnn):
    x = _events(4, 40, seed=11)
    with torch.no_grad():
        original = tracin_cnn(x)
    fused = IntegratedGradients(tracin_cnn, n_steps=8)
    plain = IntegratedGradients(tracin_cnn, n_steps=8, fused=False)
    with torch.no_grad():
        torch.testing.assert_close(fused.runner(x), original, rtol=1e-5, atol=1e-5)
    a = fused.attribute(x, target=BOTH).values
    b = plain.attribute(x, target=BOTH).values
    # float32 rounding of the folded weights, relative to the attributions' scale
    assert np.abs(a - b).max() <= 1e-3 * np.abs(b).max()


def test_saliency_is_the_absolute_input_gradient(attribution_cnn):
    x = _events(2, 30, seed=2).requires_grad_(True)
    ours = Saliency(attribution_cnn).attribute(x.detach(), target=["eta"])
    grad = torch.autograd.grad(attribution_cnn(x)[:, 1].sum(), x)[0]
    np.testing.assert_allclose(ours.values[:, 0], grad.abs().numpy(), rtol=1e-4,
                               atol=1e-7)


def test_exact_binary_ig_is_complete(tracin_cnn):
    x = _events(4, 40, seed=3)
    a = BinaryPathIG(tracin_cnn, mode="exact").attribute(x, target=BOTH)
    with torch.no_grad():  # the original (unfused) model: an independent F
        delta = (tracin_cnn(x) - tracin_cnn(torch.zeros_like(x[:1]))).double().numpy()
    sums = a.values.reshape(4, 2, -1).sum(-1, dtype=np.float64)
    assert np.abs(sums - delta).max() <= 1e-4 * np.abs(delta).max()
    unlit = (x[:, 0] == 0).numpy()
    assert (a.values[:, :, 0].transpose(1, 0, 2, 3)[:, unlit] == 0).all()  # only lit pixels


def _brute_force_shapley(model, x: torch.Tensor) -> np.ndarray:
    """Shapley values of the lit pixels by the subset formula: (n_lit, 2)."""
    lit = torch.nonzero(x.view(-1)).ravel().tolist()
    n = len(lit)
    value = {}
    for size in range(n + 1):
        for subset in itertools.combinations(range(n), size):
            image = torch.zeros(9 * 384)
            image[[lit[i] for i in subset]] = 1.0
            with torch.no_grad():
                value[subset] = model(image.view(1, 1, 9, 384))[0].double().numpy()
    phi = np.zeros((n, 2))
    for i in range(n):
        for subset, v in value.items():
            if i in subset:
                continue
            weight = math.factorial(len(subset)) * math.factorial(n - len(subset) - 1) \
                / math.factorial(n)
            phi[i] += weight * (value[tuple(sorted(subset + (i,)))] - v)
    return phi


def test_shapley_mode_equals_brute_force_over_all_orders(tracin_cnn):
    x = _events(2, 4, seed=4)
    a = BinaryPathIG(tracin_cnn, mode="shapley", orders="all", fused=False).attribute(
        x, target=BOTH)
    for e in range(2):
        lit = torch.nonzero(x[e].view(-1)).ravel().numpy()
        phi = _brute_force_shapley(tracin_cnn, x[e])
        ours = a.values[e].reshape(2, -1)[:, lit].T
        # float32 outputs of ~20 GeV: differences carry ~1e-6 GeV of rounding
        np.testing.assert_allclose(ours, phi, rtol=1e-4, atol=2e-6)


def test_sampled_shapley_agrees_with_captum_within_sampling_error(tracin_cnn):
    x = _events(1, 5, seed=5)
    lit = torch.nonzero(x.view(-1)).ravel()
    phi = _brute_force_shapley(tracin_cnn, x[0])[:, 0]
    ours = BinaryPathIG(tracin_cnn, mode="shapley", orders=200, seed=1).attribute(
        x, target="pt")
    ours = ours.values[0].ravel()[lit.numpy()]
    mask = torch.zeros(9 * 384, dtype=torch.long)  # unlit pixels: one dummy feature 0
    mask[lit] = torch.arange(1, len(lit) + 1)
    torch.manual_seed(0)
    captum = ShapleyValueSampling(lambda z: tracin_cnn(z)[:, 0]).attribute(
        x, baselines=0.0, feature_mask=mask.view(1, 1, 9, 384), n_samples=200,
        perturbations_per_eval=32)
    captum = captum.view(-1)[lit].double().numpy()
    # per-order marginal contributions of a pixel spread over at most the range of F
    scale = np.abs(phi).max()
    assert np.abs(ours - phi).max() < 0.15 * scale
    assert np.abs(captum - phi).max() < 0.15 * scale
    assert np.abs(ours - captum).max() < 0.2 * scale
    assert np.abs(ours - phi).max() > 0  # really sampled, not enumerated


def test_thesis_mode_is_the_trapezoid_average_of_path_gradients(attribution_cnn):
    x = _events(1, 6, seed=6)
    a = BinaryPathIG(attribution_cnn, mode="thesis", fused=False).attribute(x, target=["pt"])
    lit = torch.nonzero(x.view(-1)).ravel()  # top-down order
    grads = []
    for k in range(len(lit) + 1):  # the reference: one image at a time, plain model
        image = torch.zeros(1, 9 * 384)
        image[0, lit[:k]] = 1.0
        image = image.view(1, 1, 9, 384).requires_grad_(True)
        grads.append(torch.autograd.grad(attribution_cnn(image)[0, 0], image)[0])
    n = len(lit)
    expected = sum(g * (0.5 if k in (0, n) else 1.0) for k, g in enumerate(grads)) / n
    np.testing.assert_allclose(a.items("pt")[0], expected[0, 0].numpy(), rtol=1e-4, atol=1e-8)


def test_cam_on_a_linear_head_sums_back_to_the_output(tracin_cnn):
    x = _events(3, 30, seed=7)
    a = RegressionActivationMap(tracin_cnn).attribute(x, target=BOTH)
    assert a.params["form"] == "cam"
    with torch.no_grad():
        out = tracin_cnn(x).double().numpy()
        bias = tracin_cnn.decode_outputs(tracin_cnn.final.bias.view(1, -1)).double().numpy()
    sums = a.values.reshape(3, 2, -1).sum(-1, dtype=np.float64)
    np.testing.assert_allclose(sums + bias, out, rtol=1e-5)


def test_ram_on_a_nonlinear_head_is_gradient_weighted(attribution_cnn):
    a = RegressionActivationMap(attribution_cnn).attribute(_events(2, 20, seed=8), target=BOTH)
    assert a.params["form"] == "grad-cam" and a.baseline_outputs is None
    assert np.isfinite(a.values).all() and np.abs(a.values).max() > 0


def test_salt_and_pepper_only_adds_hits_at_the_requested_rate():
    x = _events(5, 30, seed=9)
    noisy = salt_and_pepper(0.02)(x, copies=200, seeds=np.arange(5))
    original = x.repeat_interleave(200, dim=0)
    assert (noisy >= original).all()  # lit pixels stay lit
    added = (noisy - original).sum() / ((1 - original).sum())
    n = float((1 - original).sum())
    assert abs(float(added) - 0.02) < 5 * math.sqrt(0.02 * 0.98 / n)
    again = salt_and_pepper(0.02)(x[2:3], copies=200, seeds=np.array([2]))
    assert torch.equal(again, noisy[400:600])  # an event's noise does not depend on its batch


def test_smoothgrad_without_noise_is_its_base_method(tracin_cnn):
    x = _events(2, 15, seed=10)
    base = BinaryPathIG(tracin_cnn, mode="exact").attribute(x, target=BOTH)
    smooth = SmoothGrad(BinaryPathIG(tracin_cnn, mode="exact"), noise=salt_and_pepper(0.0),
                        n_samples=3).attribute(x, target=BOTH)
    np.testing.assert_allclose(smooth.values, base.values, rtol=1e-6, atol=1e-9)


def test_registry_and_bad_input(tracin_cnn):
    assert get("smoothgrad") is SmoothGrad
    with pytest.raises(HepxaiError, match="unknown explanation method"):
        get("lime")
    with pytest.raises(HepxaiError, match="convolution layer"):
        RegressionActivationMap(create("sdt", "fast"))
    with pytest.raises(HepxaiError, match=r"\(n, 1, 9, 384\)"):
        Saliency(tracin_cnn, modality=HIT_MAPS).attribute(torch.zeros(2, 9, 380), target=0)
    with pytest.raises(HepxaiError, match="binary"):
        Saliency(tracin_cnn, modality=HIT_MAPS).attribute(torch.full((1, 9, 384), 0.5),
                                                          target=0)
    with pytest.raises(HepxaiError, match="NaN"):
        Saliency(tracin_cnn, modality=HIT_MAPS).attribute(
            torch.full((1, 9, 384), float("nan")), target=0)
    with pytest.raises(HepxaiError, match="unknown target"):
        Saliency(tracin_cnn).attribute(_events(1, 3, seed=1), target="phi")
    with pytest.raises(HepxaiError, match="mode"):
        BinaryPathIG(tracin_cnn, mode="fast")


@pytest.mark.parametrize("which", ["attribution_cnn", "tracin_cnn"])
def test_both_forward_paths_against_captum(which, request):
    """The README's numbers. On the model itself (``fused=False``) IG and saliency equal
    Captum's to float32 rounding (measured: identical). The default inference copy folds
    BatchNorm into the convolutions: float32 rounding of the folded weights moves a few units
    across a ReLU kink somewhere on IG's path, so IG differs by up to a relative 4e-4 (on these
    models with randomised BatchNorm statistics), saliency by 4e-7."""
    model = request.getfixturevalue(which)
    x = _events(3, 30, seed=12)
    limits = {False: {"ig": 1e-6, "saliency": 1e-6}, True: {"ig": 1e-3, "saliency": 1e-6}}
    for fused, limit in limits.items():
        ig = IntegratedGradients(model, n_steps=16, fused=fused).attribute(x, target=BOTH)
        saliency = Saliency(model, fused=fused).attribute(x, target=BOTH)
        for t in range(2):
            ref = CaptumIG(model).attribute(x, baselines=torch.zeros_like(x), target=t,
                                            n_steps=16, method="gausslegendre")
            ref = ref.detach().numpy()[:, 0]
            assert np.abs(ig.items(t) - ref).max() <= limit["ig"] * np.abs(ref).max()
            ref = CaptumSaliency(model).attribute(x, target=t).detach().numpy()[:, 0]
            assert np.abs(saliency.items(t) - ref).max() <= limit["saliency"] * np.abs(ref).max()
