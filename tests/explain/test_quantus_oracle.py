"""hepxai's judging and sanity metrics against Quantus (an independent implementation) on the
same inputs, maps and model: model-parameter randomisation (MPRT), pixel flipping, relevance
rank accuracy and relevance mass accuracy."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

quantus = pytest.importorskip("quantus")

from hepxai.explain import Saliency  # noqa: E402
from hepxai.explain.judging.deletion import path_deletion_curves  # noqa: E402
from hepxai.explain.judging.localization import localization  # noqa: E402
from hepxai.explain.judging.sanity import parameter_randomization  # noqa: E402
from hepxai.usecases.muon.models import create  # noqa: E402
from hepxai.usecases.muon.study import HIT_MAPS  # noqa: E402

pytestmark = [pytest.mark.usefixtures("one_torch_thread"),
              pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    """A fast Attribution CNN whose BatchNorm layers are not at their initial values (a reset
    of an untouched BatchNorm would change nothing)."""
    net = create("attribution-cnn", "fast", seed=5).eval()
    g = torch.Generator().manual_seed(1)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return net


@pytest.fixture(scope="module")
def events() -> np.ndarray:
    """Four binary hit maps (1, 9, 384) with 30 lit pixels each."""
    rng = np.random.default_rng(3)
    x = np.zeros((4, 9 * 384), np.float32)
    for row in x:
        row[rng.choice(row.size, 30, replace=False)] = 1.0
    return x.reshape(4, 1, 9, 384)


def _saliency(model, inputs, targets, **_):
    """Quantus' explain_func: hepxai's saliency of output 0 on whatever model Quantus hands."""
    values = Saliency(model, modality=HIT_MAPS, fused=False).attribute(
        torch.as_tensor(inputs), target=0).values
    return np.asarray(values, np.float32)


@pytest.mark.parametrize("order", ["cascading", "independent"])
def test_parameter_randomization_equals_quantus_mprt(model, events, order):
    ours = parameter_randomization(lambda m: Saliency(m, modality=HIT_MAPS, fused=False), model,
                                   events, target=0, order=order, seed=42,
                                   kinds=("spearman_all",))
    metric = quantus.MPRT(layer_order="top_down" if order == "cascading" else "independent",
                          seed=41, abs=True, normalise=True, disable_warnings=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = metric(model=model, x_batch=events, y_batch=np.zeros(len(events), int),
                        a_batch=None, explain_func=_saliency, device="cpu")
    layers = [name for name in theirs if name != "original"]
    assert layers == ours.steps  # the same layers, in the same order
    np.testing.assert_allclose(theirs["original"], 1.0, atol=1e-6)
    expected = np.array([theirs[name] for name in layers])
    np.testing.assert_allclose(ours.similarity["spearman_all"], expected, atol=1e-6)
    assert (expected < 0.999).all()  # every randomized layer really changes the maps


@pytest.fixture(scope="module")
def small() -> tuple[torch.nn.Module, np.ndarray]:
    """A small CNN on binary 1 x 6 x 8 images (Quantus' pixel flipping walks every pixel) and
    five images with 12 lit pixels."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Flatten(), torch.nn.Linear(4 * 48, 2)).eval()
    rng = np.random.default_rng(5)
    x = np.zeros((5, 48), np.float32)
    for row in x:
        row[rng.choice(48, 12, replace=False)] = 1.0
    return net, x.reshape(5, 1, 6, 8)


def test_deletion_curve_equals_quantus_pixel_flipping(small):
    net, images = small
    # distinct scores, lit pixels above unlit ones: both walk the lit pixels first
    scores = np.where(images > 0, 1.0 + np.random.default_rng(6).random(images.shape), 0.0)

    def output_0(x: torch.Tensor) -> torch.Tensor:
        return net(x)[:, [0]]

    ours = np.stack(path_deletion_curves(output_0, images, scores))  # (5, 13): 0..12 removed
    metric = quantus.PixelFlipping(features_in_step=1, perturb_baseline="black",
                                   normalise=False, abs=False, disable_warnings=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = np.array(metric(model=net, x_batch=images, y_batch=np.zeros(5, int),
                                 a_batch=scores, device="cpu", softmax=False))  # after each flip
    np.testing.assert_allclose(ours[:, 1:], theirs[:, :12], rtol=1e-5, atol=1e-6)
    # flipping an unlit pixel to black changes nothing: the rest of Quantus' curve is flat
    np.testing.assert_allclose(theirs[:, 12:] - theirs[:, [11]], 0.0, atol=1e-7)


def test_localization_equals_quantus_rank_and_mass_accuracy(small):
    _, images = small
    rng = np.random.default_rng(7)
    maps = rng.normal(size=images.shape).astype(np.float32)
    truth = np.zeros(images.shape, bool)
    truth[:, :, 2:4, 1:6] = True
    ours = localization(maps.reshape(5, -1), np.ones((5, 48), bool), truth.reshape(5, -1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kwargs = dict(model=small[0], x_batch=images, y_batch=np.zeros(5, int), a_batch=maps,
                      s_batch=truth.astype(np.float32), device="cpu")
        rank = quantus.RelevanceRankAccuracy(abs=True, normalise=False,
                                             disable_warnings=True)(**kwargs)
        mass = quantus.RelevanceMassAccuracy(abs=True, normalise=False,
                                             disable_warnings=True)(**kwargs)
    # rank accuracy: the truth's share of the |truth| most relevant pixels; mass accuracy: the
    # truth's share of the relevance (hepxai's truth share), both on |map| over every pixel
    np.testing.assert_allclose(ours["precision_at_k"], rank, atol=1e-9)
    np.testing.assert_allclose(ours["truth_share"], mass, rtol=1e-6)
