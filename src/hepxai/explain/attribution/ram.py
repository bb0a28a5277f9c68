"""Regression activation maps (RAM): which pixels the last convolution's features that drive
pT (or eta) sit on.

For a model whose head after global average pooling (GAP) is linear, the class-activation-map
form is exact: ``M_t(u) = sum_k w_tk f_k(u)`` with ``f_k`` the last convolution's maps. With
``alpha_tk = mean_u dF_t/df_k(u)`` this is the same as the gradient-weighted form (for a linear
head ``dF_t/df_k(u) = w_tk / (h w)`` everywhere), so one implementation covers both: exact CAM
for linear heads (TracIn CNN), Grad-CAM for regression (signed, no ReLU: a pixel can pull pT
down) for the non-linear heads (the Attribution CNN's MLP, the soft tree).

Values are returned per input pixel: the map is brought to 9 x 384 by nearest-neighbour
repetition and divided by the number of input pixels each map pixel covers, so for a linear head
``sum(values) = F(x) - F(f = 0)`` exactly (recorded as outputs / baseline outputs).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from hepxai.core.errors import HepxaiError
from hepxai.explain.attribution.base import IMAGE_SHAPE, ImageAttributionMethod
from hepxai.explain.registry import register


def linear_after_pooling(model: nn.Module) -> nn.Linear | None:
    """The model's GAP head if it is a single linear layer (CAM is exact), else None."""
    head = getattr(model, "final", None)
    return head if isinstance(head, nn.Linear) and getattr(model, "last_conv", None) is not None \
        else None


@register("ram", "muon")
class RegressionActivationMap(ImageAttributionMethod):
    """RAM per target; ``form`` is ``"cam"`` (linear head, exact) or ``"grad-cam"``."""

    def __init__(self, model, targets=None, batch_size: int | None = None, fused: bool = True):
        if getattr(model, "last_conv", None) is None:
            raise HepxaiError(f"RAM needs a model with a convolution layer; "
                              f"{getattr(model, 'name', type(model).__name__)} has none "
                              "(use saliency or ig)")
        form = "cam" if linear_after_pooling(model) is not None else "grad-cam"
        super().__init__(model, targets, batch_size, fused, form=form)
        self.form = form

    def _attribute(self, x: torch.Tensor, ids: np.ndarray):
        maps: list[torch.Tensor] = []
        hook = self.model.last_conv.register_forward_hook(lambda m, i, o: maps.append(o))
        try:
            with torch.enable_grad():
                out = self.model(x)[:, self.columns]
                features = maps[-1]
                ram = []
                for t in range(out.shape[1]):
                    grad = torch.autograd.grad(out[:, t].sum(), features,
                                               retain_graph=t + 1 < out.shape[1])[0]
                    alpha = grad.sum(dim=(2, 3), keepdim=True)  # = h*w * spatial mean
                    # per map pixel: sum_k alpha_k f_k / (h w); summed over the map = alpha . GAP
                    ram.append((alpha * features).sum(1, keepdim=True)
                               / (features.shape[2] * features.shape[3]))
        finally:
            hook.remove()
        ram_maps = torch.cat(ram, dim=1).detach()
        h, w = ram_maps.shape[2:]
        values = functional.interpolate(ram_maps, size=IMAGE_SHAPE, mode="nearest")
        values = values * (h * w) / (IMAGE_SHAPE[0] * IMAGE_SHAPE[1])
        baseline = None
        if self.form == "cam":
            head = linear_after_pooling(self.model)
            with torch.no_grad():  # the output with every feature map zero: the decoded bias
                bias = self.model.decode_outputs(head.bias.view(1, -1))[:, self.columns]
            baseline = bias.expand_as(out)
        return values, out.detach(), baseline
