"""The thesis' interpolation-set figure (6.1) shows what binary IG evaluates: its path, nested
images gaining the event's lit pixels in the path's order."""

from __future__ import annotations

import numpy as np
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

