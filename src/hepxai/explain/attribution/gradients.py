"""Gradient methods: vanilla saliency and straight-line Integrated Gradients."""

from __future__ import annotations

import numpy as np
import torch

from hepxai.core.errors import HepxaiError
from hepxai.explain.attribution.base import ImageAttributionMethod
from hepxai.explain.registry import register


@register("saliency", "muon")
class Saliency(ImageAttributionMethod):
    """Vanilla saliency ``|dF_t/dx|`` (Simonyan et al.); one input channel, so no channel max."""

    def _attribute(self, x: torch.Tensor, ids: np.ndarray):
        grads, out = self.input_gradients(x)
        return grads.abs(), out, None


@register("ig", "muon")
class IntegratedGradients(ImageAttributionMethod):
    """Integrated Gradients on the straight line from the empty image (Sundararajan et al.).

    ``IG_i = x_i * integral_0^1 dF/dx_i(a x) da``, the integral by an ``steps``-point
    Gauss-Legendre rule on [0, 1] (Captum's default), all steps of all events of a batch through
    the model at once. Completeness: ``sum_i IG_i = F(x) - F(0)`` up to the quadrature error.
    """

    batch_size = 16  # events per pass: 16 x steps images

    def __init__(self, model, targets=None, steps: int = 50, batch_size: int | None = None,
                 fused: bool = True):
        if steps < 1:
            raise HepxaiError(f"IG needs at least 1 step, got {steps}")
        super().__init__(model, targets, batch_size, fused, steps=steps)
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        self.alphas = torch.tensor((nodes + 1) / 2, dtype=torch.float32)
        self.weights = torch.tensor(weights / 2, dtype=torch.float32)

    def _attribute(self, x: torch.Tensor, ids: np.ndarray):
        b, m = len(x), len(self.alphas)
        scaled = (self.alphas.view(1, m, 1, 1, 1) * x.unsqueeze(1)).flatten(0, 1)
        grads, _ = self.input_gradients(scaled)  # (b*m, T, 9, 384)
        grads = grads.view(b, m, *grads.shape[1:])
        avg = (self.weights.view(1, m, 1, 1, 1) * grads).sum(1)
        with torch.no_grad():
            out = self.outputs(x)
            base = self.outputs(torch.zeros_like(x[:1])).expand_as(out)
        return avg * x, out, base
