"""SmoothGrad with salt-and-pepper noise (thesis 6.2): average an explanation over noisy copies.

Detector noise in the RPCs only ever *adds* hits, so the copies are made the way the data are
noisy: every unlit pixel turns on with probability ``sigma`` (Gaussian noise, SmoothGrad's
original choice, would make fractional, even negative, hit maps). Each copy is explained by a
base method (binary-path IG in thesis mode by default) and the maps are averaged, all copies of
many events in one batch. Thesis choice ``n = 100``, ``sigma = 2%``.
"""

from __future__ import annotations

import numpy as np
import torch

from hepxai.core.errors import HepxaiError
from hepxai.explain.attribution.base import ImageAttributionMethod
from hepxai.explain.attribution.binary_path import event_seeds
from hepxai.explain.registry import get, register


def salt_and_pepper(x: torch.Tensor, copies: int, sigma: float, seeds: np.ndarray) -> torch.Tensor:
    """``copies`` noisy versions of every image: ``(b, 1, H, W)`` -> ``(b * copies, 1, H, W)``.

    Every unlit pixel turns on with probability ``sigma``; lit pixels stay lit. Event ``i``'s
    noise comes from its own generator seeded by ``seeds[i]``.
    """
    if not 0.0 <= sigma <= 1.0:
        raise HepxaiError(f"noise rate sigma must be in [0, 1], got {sigma}")
    noise = np.empty((len(x), copies, int(np.prod(x.shape[1:]))), dtype=np.float32)
    for i, seed in enumerate(seeds):  # one vectorised draw per event
        noise[i] = np.random.default_rng(int(seed)).random(noise.shape[1:], dtype=np.float32)
    lit = torch.from_numpy(noise < sigma).view(len(x), copies, *x.shape[1:])
    return torch.maximum(x.unsqueeze(1), lit.to(x.dtype)).flatten(0, 1)


@register("smoothgrad", "muon")
class SmoothGrad(ImageAttributionMethod):
    """Average of ``base`` over ``copies`` salt-and-pepper copies with pixel rate ``sigma``.

    ``base`` is a registered muon method name; ``base_params`` its parameters (default: binary
    IG in thesis mode).
    """

    batch_size = 4  # events per call: 4 x copies noisy images, each a path of ~100 images

    def __init__(self, model, targets=None, copies: int = 100, sigma: float = 0.02,
                 base: str = "ig-binary", base_params: dict | None = None, seed: int = 0,
                 batch_size: int | None = None, fused: bool = True):
        if copies < 1:
            raise HepxaiError(f"SmoothGrad needs at least one noisy copy, got {copies}")
        if base == "smoothgrad":
            raise HepxaiError("SmoothGrad cannot wrap itself; choose another base method")
        base_params = {"mode": "thesis"} if base_params is None and base == "ig-binary" \
            else dict(base_params or {})
        super().__init__(model, targets, batch_size, fused, copies=copies, sigma=sigma,
                         base=base, base_params=base_params, seed=seed)
        self.copies, self.sigma, self.seed = copies, sigma, seed
        self.base = get(base, "muon")(model, targets, fused=fused, **base_params)

    def _attribute(self, x: torch.Tensor, ids: np.ndarray):
        noisy = salt_and_pepper(x, self.copies, self.sigma, event_seeds(self.seed, ids))
        copy_ids = np.repeat(ids, self.copies) * self.copies + np.tile(np.arange(self.copies),
                                                                       len(ids))
        explained = self.base.explain(noisy, copy_ids)
        values = explained.values.reshape(len(x), self.copies, *explained.values.shape[1:])
        with torch.no_grad():
            out = self.outputs(x)
        return torch.from_numpy(values.mean(1)), out, None
