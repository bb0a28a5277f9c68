"""Inference copies of the muon networks: the same function, faster on CPU.

Explanations push thousands of path and noise images through a model per event, so the forward
pass is their hot path. An eval-mode copy with every BatchNorm folded into the convolution
before it (BN with running statistics is an affine map) and channels-last memory runs the fast
presets' forward about 3x faster on CPU; outputs agree with the original to float rounding and
input gradients are the same function's gradients.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.fx.experimental import optimization


class InferenceCopy(nn.Module):
    """Wraps the fused module; feeds it channels-last images."""

    def __init__(self, fused: nn.Module):
        super().__init__()
        self.fused = fused

    def forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        if x.ndim == 4:  # images; other inputs (tables, node features) go in as they are
            x = x.contiguous(memory_format=torch.channels_last)
        return self.fused(x, *args, **kwargs)


def inference_copy(model: nn.Module) -> nn.Module:
    """An eval-mode, BN-folded, channels-last copy of ``model`` (``model`` is not modified).

    Falls back to a plain eval copy for a model torch.fx cannot trace.
    """
    clone = copy.deepcopy(model).eval()
    try:
        fused = optimization.fuse(clone)
    except Exception:  # noqa: BLE001  (a model fx cannot trace still works, just slower)
        fused = clone
    for p in fused.parameters():
        p.requires_grad_(False)  # explanations need input gradients only
    return InferenceCopy(fused.to(memory_format=torch.channels_last)).eval()
