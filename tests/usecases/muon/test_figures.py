"""The thesis' interpolation-set figure (6.1) shows what binary IG evaluates: its path, nested
images gaining the event's lit pixels in the path's order."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hepxai.explain.attribution.paths import lit_pixels
from hepxai.usecases.muon.figures import interpolation_images


def _event() -> np.ndarray:
    image = np.zeros((9, 384), bool)
    image[np.random.default_rng(3).integers(0, 9, 40), np.random.default_rng(4).integers(0, 384,
                                                                                         40)] = True
    return image


def test_the_interpolation_set_is_the_binary_path() -> None:
    image = _event()
    n = int(image.sum())
    steps = tuple(np.linspace(0, 1, 11))
    images = interpolation_images(image, steps)
    assert [k for k, _ in images] == [int(round(f * n)) for f in steps]
    assert not images[0][1].any() and np.array_equal(images[-1][1], image)
    order = lit_pixels(torch.from_numpy(image[None, None].astype(np.float32))).pixels
    for (k, x), (_, x_next) in zip(images, images[1:], strict=False):
        assert x.sum() == k and not (x & ~image).any()  # k of the event's own pixels
        assert not (x & ~x_next).any()  # nested: a path only switches pixels on
        assert np.array_equal(np.flatnonzero(x), np.sort(order[:k]))  # in the path's order



def test_the_smoothgrad_grid_is_binary_ig_without_noise_and_agrees_with_itself() -> None:
    from scipy.stats import spearmanr

    from hepxai.explain import BinaryPathIG
    from hepxai.usecases.muon.models import create
    from hepxai.usecases.muon.smoothgrad_grid import smoothgrad_grid

    torch.manual_seed(0)
    model = create("attribution-cnn", "fast").eval()
    image = _event()
    grid = smoothgrad_grid(model, image, copies=(1, 3), rates=(0.0, 0.02), target="pt",
                           seed=5, event_id=7)
    x = torch.from_numpy(image[None, None].astype(np.float32))
    binary_ig = BinaryPathIG(model, mode="thesis").attribute(x, target=["pt"]).items("pt")[0]
    for n in (1, 3):  # rate 0: every copy is the event, so every cell is binary IG
        np.testing.assert_allclose(grid.maps[(n, 0.0)], binary_ig, rtol=1e-5, atol=1e-7)
        assert grid.agreement[(n, 0.0)] == 1.0
    assert grid.agreement[(3, 0.02)] == 1.0  # the most copies of a rate is the reference
    lit = image.ravel()
    expected = spearmanr(np.abs(grid.maps[(1, 0.02)]).ravel()[lit],
                         np.abs(grid.maps[(3, 0.02)]).ravel()[lit]).statistic
    assert grid.agreement[(1, 0.02)] == pytest.approx(expected)
    assert not np.allclose(grid.maps[(1, 0.02)], grid.maps[(3, 0.02)])  # the noise acts


def test_the_thesis_panels_show_the_highest_and_lowest_predicted_noise_events() -> None:
    from types import SimpleNamespace

    from hepxai.usecases.muon.figures import noise_extremes

    categories = np.array(["TP", "only-noise", "FN", "only-noise", "only-noise"], dtype=object)
    predictions = np.array([[30.0, 0.1], [4.0, 0.2], [50.0, 0.3], [17.0, 0.4], [2.5, 0.5]])
    events = SimpleNamespace(categories=categories, predictions=predictions)
    assert noise_extremes(events) == (3, 4)  # rows, among the only-noise events alone
    events.categories = np.array(["TP"] * 5, dtype=object)
    assert noise_extremes(events) is None
