"""A model with one more output: the sum of its outputs, as an explainable target.

The thesis' code explains ``pT + |eta|``: its integrated gradients and SmoothGrad take the
gradient of the whole prediction, which TensorFlow sums over the two outputs. Explaining that sum
with any hepxai explainer needs no change to the explainers: :class:`WithOutputSum` appends the
sum as an output column named ``"pt+eta"`` (the names joined by ``+``), which becomes a target
like the others. The wrapped model's parts (``last_conv``, ``head``, ``name``...) stay
reachable through the wrapper.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class WithOutputSum(nn.Module):
    """``model``'s outputs ``(n, T)`` followed by their sum ``(n, 1)``.

    >>> model = WithOutputSum(torch.nn.Linear(3, 2), ("pt", "eta"))
    >>> model.outputs, tuple(model(torch.ones(4, 3)).shape)
    (('pt', 'eta', 'pt+eta'), (4, 3))
    """

    def __init__(self, model: nn.Module, names: tuple[str, ...] | None = None):
        super().__init__()
        self.model = model
        names = tuple(names or model.outputs)
        self.outputs = (*names, "+".join(names))
        # the wrapped model's mode, not nn.Module's default (training): whoever restores the
        # wrapper's mode after a call must not switch an eval model's BatchNorm to batch stats
        self.train(model.training)

    def forward(self, *inputs: Any, **kwargs: Any) -> torch.Tensor:
        out = self.model(*inputs, **kwargs)
        return torch.cat([out, out.sum(dim=1, keepdim=True)], dim=1)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)  # parameters, buffers, submodules, own attributes
        except AttributeError:
            return getattr(super().__getattr__("model"), name)
