"""Regression (or class) activation maps: which pixels the feature maps of a convolution that
drive an output sit on (thesis 6.2; Zhou et al. 2016, Selvaraju et al. 2017).

``M_t(u) = sum_k alpha_tk f_k(u) / (h w)`` with ``f_k`` the feature maps of ``layer`` and
``alpha_tk = sum_u dF_t/df_k(u)``. For a model whose head after global average pooling is
linear, ``dF_t/df_k(u) = w_tk / (h w)`` everywhere and this is exactly the class-activation map
(CAM); for other heads it is Grad-CAM, signed (no ReLU: in a regression a pixel can pull pT
down). One implementation covers both; which one a model got is found, not assumed: the map is
CAM when it adds up to ``F(x) - F(f = 0)`` (the output with the layer's maps zeroed) for every
example, recorded as ``params["form"] = "cam"`` with those outputs, else ``"grad-cam"`` with no
baseline.

Values are one per input pixel, ``(n, 1, H, W)`` (like Captum's ``LayerGradCam`` brought to the
input by ``LayerAttribution.interpolate``): the map is repeated to ``H x W`` (nearest neighbour)
and divided by the input pixels each map pixel covers, so the sum over pixels is the sum over
the map.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from hepxai.core.errors import HepxaiError
from hepxai.explain.base import Explainer, Parts, Targets
from hepxai.explain.modality import Batch, Modality

# |sum(map) - (F - F0)| below this share of |F| + |F0| (float32 rounding) makes the map exact CAM
CAM_TOLERANCE = 1e-4


class RegressionActivationMap(Explainer):
    """RAM of ``layer`` (default: the model's declared ``last_conv``).

    >>> cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
    ...                           torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
    ...                           torch.nn.Linear(4, 1))
    >>> RegressionActivationMap(cnn, layer=cnn[1]).attribute(torch.rand(2, 1, 8, 8)).params["form"]
    'cam'
    """

    name = "ram"
    complete = True
    modalities = ("image",)

    def __init__(self, model: Any, *, layer: nn.Module | None = None, **options: Any):
        self.layer = layer
        options.setdefault("fused", False)  # the hook reads the model's own layer
        super().__init__(model, **options)
        self.layer = layer if layer is not None else model.last_conv

    def _support_reason(self, model: Any) -> str | None:
        return self.supports(model, self.layer)

    @classmethod
    def supports(cls, model: Any, layer: nn.Module | None = None) -> str | None:
        if not isinstance(model, nn.Module):
            return f"reads a layer of a torch model, got a {type(model).__name__}"
        if layer is None and getattr(model, "last_conv", None) is None:
            name = getattr(model, "name", type(model).__name__)
            return (f"needs a model with a convolution layer to read: {name} declares no "
                    "last_conv (pass layer=..., or use saliency or ig)")
        return None

    def _attribute(self, modality: Modality, batch: Batch, targets: Targets, baselines: Any,
                   ids: np.ndarray) -> Parts:
        maps: list[torch.Tensor] = []
        hook = self.layer.register_forward_hook(lambda m, i, o: maps.append(o))
        try:
            with torch.enable_grad():
                x = batch.x.detach()
                out = self._outputs(modality, batch, x)[:, targets.columns]
                features = maps[-1]
                if features.ndim != 4:
                    raise HepxaiError(f"{self.name}: the layer's output is "
                                      f"{tuple(features.shape)}, not (n, channels, h, w) "
                                      "feature maps; give a convolution layer")
                ram = []
                for t in range(out.shape[1]):
                    grad = torch.autograd.grad(out[:, t].sum(), features,
                                               retain_graph=t + 1 < out.shape[1])[0]
                    alpha = grad.sum(dim=(2, 3), keepdim=True)  # = h*w * spatial mean
                    ram.append((alpha * features).sum(1, keepdim=True)
                               / (features.shape[2] * features.shape[3]))
        finally:
            hook.remove()
        ram_maps = torch.cat(ram, dim=1).detach()  # (n, T, h, w)
        height, width = x.shape[2:]
        h, w = ram_maps.shape[2:]
        values = functional.interpolate(ram_maps, size=(height, width), mode="nearest")
        values = (values * (h * w) / (height * width)).unsqueeze(2)  # (n, T, 1, H, W)
        out = out.detach()
        zeroed = self._zeroed_outputs(modality, batch)[:, targets.columns]
        sums = values.double().flatten(2).sum(-1)
        error = (sums - (out.double() - zeroed.double())).abs()
        exact = bool((error <= CAM_TOLERANCE * (out.double().abs() + zeroed.double().abs())
                      + 1e-6).all())
        return Parts(values, out, zeroed if exact else None,
                     params={"form": "cam" if exact else "grad-cam"})

    def _zeroed_outputs(self, modality: Modality, batch: Batch) -> torch.Tensor:
        """The outputs with the layer's feature maps replaced by zeros."""
        hook = self.layer.register_forward_hook(lambda m, i, o: torch.zeros_like(o))
        try:
            with torch.no_grad():
                return self._outputs(modality, batch)
        finally:
            hook.remove()
