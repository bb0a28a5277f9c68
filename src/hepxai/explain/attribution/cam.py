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

import contextlib
from collections.abc import Iterator
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


@contextlib.contextmanager
def recorded_outputs(layer: nn.Module) -> Iterator[list[torch.Tensor]]:
    """The outputs of ``layer`` during the block, appended to the yielded list (a forward
    hook, removed on exit)."""
    outputs: list[torch.Tensor] = []
    hook = layer.register_forward_hook(lambda module, inputs, output: outputs.append(output))
    try:
        yield outputs
    finally:
        hook.remove()


def to_input_resolution(maps: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Maps ``(n, T, h, w)`` -> one value per input pixel ``(n, T, 1, H, W)``: repeated
    (nearest neighbour) and divided by the input pixels each map pixel covers, so a map's sum
    is kept."""
    height, width = x.shape[2:]
    h, w = maps.shape[2:]
    values = functional.interpolate(maps, size=(height, width), mode="nearest")
    return (values * (h * w) / (height * width)).unsqueeze(2)


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
        with recorded_outputs(self.layer) as maps:
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
        values = to_input_resolution(torch.cat(ram, dim=1).detach(), x)
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


class ThesisCodeRAM(RegressionActivationMap):
    """The "RAM" of the thesis' published code (``ram_per_feature`` of lorin98/xAI-HEP), kept
    to reproduce its figures: the feature maps of ``layer`` weighted by the weights of the
    *first* dense layer after the pooling, hidden unit 0 for pT and 1 for |eta|
    (``model.layers[-3].get_weights()[0][:, ft_index]`` in Keras), with no bias and no 1/(h w).
    Those hidden units are not the outputs: unless the head is a single linear layer this map
    is not a class-activation map of any output, and it does not add up to one (``complete``
    is False; constructing it warns). A summed target (``pt+eta`` of
    :class:`~hepxai.models.outputs.WithOutputSum`) adds the two units' maps.

    >>> cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
    ...                           torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
    ...                           torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     a = ThesisCodeRAM(cnn, layer=cnn[1]).attribute(torch.rand(2, 1, 8, 8), target=0)
    >>> a.params["form"], tuple(a.values.shape)
    ('thesis-code', (2, 1, 8, 8))
    """

    name = "ram-thesis-code"
    complete = False

    def _dense(self) -> nn.Linear:
        """The first linear layer that reads the pooled maps (Keras' ``layers[-3]``)."""
        head = getattr(self.model, "final", self.model)
        linear = next((m for m in head.modules() if isinstance(m, nn.Linear)), None)
        if linear is None:
            raise HepxaiError(f"{self.name}: the model has no dense layer after its "
                              "convolutions to take weights from; use ram")
        return linear

    def __init__(self, model: Any, **options: Any):
        import warnings

        super().__init__(model, **options)
        warnings.warn("ram-thesis-code weights the maps by hidden units of the first dense "
                      "layer, as the thesis' code does: not a class-activation map of the "
                      "outputs (use ram for that)", stacklevel=2)

    def _attribute(self, modality: Modality, batch: Batch, targets: Targets, baselines: Any,
                   ids: np.ndarray) -> Parts:
        with recorded_outputs(self.layer) as maps, torch.no_grad():
            out = self._outputs(modality, batch, batch.x)[:, targets.columns]
        features = maps[-1]
        weight = self._dense().weight.detach().to(features)  # (units, channels)
        names = list(getattr(self.model, "outputs", None) or ())
        rows = []
        for column, name in zip(targets.columns, targets.names, strict=True):
            # output t -> hidden unit t ("pt" -> 0, "eta" -> 1); "pt+eta" -> the sum of both
            units = [names.index(part) for part in str(name).split("+")] \
                if "+" in str(name) and names else [column]
            rows.append(weight[units].sum(0))
        unit_weights = torch.stack(rows)  # (T, channels)
        values = to_input_resolution(torch.einsum("nkhw,tk->nthw", features, unit_weights),
                                     batch.x)
        return Parts(values, out.detach(), None, params={"form": "thesis-code"})
