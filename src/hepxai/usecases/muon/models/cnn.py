"""Convolutional regressors of the thesis: Attribution CNN and TracIn CNN (chapter 6.1.1).

Both are a convolutional body -> global average pooling (GAP) -> head; they differ in the head:
an MLP (1024, 512, 2) for the Attribution CNN, a single linear layer for the TracIn CNN (what
last-layer TracIn needs). ``paper`` presets are the thesis' layers exactly (927,362 and 269,698
parameters); ``fast`` presets share one CPU-friendly body (:class:`FastConvBody`).
"""

from __future__ import annotations

import torch
from torch import nn

from hepxai.usecases.muon.models.base import MuonRegressor, TrainingRecipe

IMAGE_SHAPE = (9, 384)


def eta_coordinate(n_strips: int = IMAGE_SHAPE[1]) -> torch.Tensor:
    """(1, 1, 1, n_strips) strip centre in units of the eta range, in [0, 1]."""
    return ((torch.arange(n_strips, dtype=torch.float32) + 0.5) / n_strips).view(1, 1, 1, -1)


class PaperConvBody(nn.Module):
    """Thesis body: Conv2d 16, 32, 64, 128 filters, 5x5, 'same' padding, ReLU after each."""

    out_channels = 128

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = (1, 16, 32, 64)
        for c_in, c_out in zip(channels, channels[1:], strict=False):
            layers += [nn.Conv2d(c_in, c_out, 5, padding=2), nn.ReLU()]
        self.early = nn.Sequential(*layers)
        self.last = nn.Sequential(nn.Conv2d(64, 128, 5, padding=2), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last(self.early(x))


def conv_bn_relu(c_in: int, c_out: int, kernel: int | tuple[int, int],
                 pool: int | tuple[int, int] | None = None, bias: bool = False) -> list[nn.Module]:
    """Conv ('same' padding) -> BatchNorm -> [MaxPool] -> ReLU.

    With ``pool`` the ReLU comes after the pooling: max-pooling and ReLU commute exactly (ReLU
    is monotone, so relu(max(a, b)) = max(relu(a), relu(b))), and the ReLU and its backward then
    touch 1/k of the full-resolution values. This is the thesis' conv-BN-ReLU-pool block,
    computed in the cheaper order (1.2x faster training of the paper ConvSDT). ``bias=False``
    where the BatchNorm's shift makes the convolution's bias redundant.
    """
    kernel = (kernel, kernel) if isinstance(kernel, int) else kernel
    padding = (kernel[0] // 2, kernel[1] // 2)
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel, padding=padding, bias=bias),
                               nn.BatchNorm2d(c_out)]
    if pool is not None:
        layers.append(nn.MaxPool2d(pool))
    return [*layers, nn.ReLU()]


class FastConvBody(nn.Module):
    """CPU-friendly body keeping 2-D feature maps for RAM (~40k parameters, ~17M MACs/event).

    * A second input channel ``x * eta`` gives the (translation-invariant, GAP-pooled) network
      the strip position, i.e. |eta|, which a plain conv + GAP cannot see.
    * The first 3x5 convolution runs at full resolution (cheap: two input channels), so the
      one-strip precision of the bend is encoded before the width is pooled 384 -> 96 -> 48.
    * Four conv-BN-ReLU blocks; pooling along eta first, then 3 across layers (9 -> 3, roughly
      the stations) before the last block.
    """

    out_channels = 64

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("eta", eta_coordinate(), persistent=False)
        self.early = nn.Sequential(
            *conv_bn_relu(2, 16, (3, 5), pool=(1, 4)),
            *conv_bn_relu(16, 32, (3, 5), pool=(1, 2)),
            *conv_bn_relu(32, 48, (3, 3), pool=(3, 1)),
        )
        self.last = nn.Sequential(*conv_bn_relu(48, 64, (3, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([x, x * self.eta], dim=1)
        return self.last(self.early(x))


BODIES = {"paper": PaperConvBody, "fast": FastConvBody}


class ConvRegressor(MuonRegressor):
    """Body -> GAP -> head. ``last_conv`` is the block whose maps GAP averages."""

    def __init__(self, preset: str, recipe: TrainingRecipe, head: nn.Module):
        super().__init__(preset, recipe)
        self.body = BODIES[preset]()
        self.final = head

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """GAP of the last feature maps: ``(b, out_channels)``."""
        return self.body(x).mean(dim=(2, 3))

    def forward_encoded(self, x: torch.Tensor) -> torch.Tensor:
        return self.final(self.features(x))

    @property
    def last_conv(self) -> nn.Module:
        return self.body.last


class AttributionCNN(ConvRegressor):
    """Conv body -> GAP -> Dense(1024) ReLU -> Dense(512) ReLU -> Dense(2)."""

    name = "attribution-cnn"
    # fast: batch 64 gives 4x the optimiser steps of batch 256 at the same events/s on 2 cores
    # (the smaller activations stay in cache). Measured on 50,000 events x 2 epochs (10,000
    # validation events): eff@15 0.76 / spread 1.57 GeV at batch 64, lr 2e-3, against 0.73 / 1.74
    # at batch 128 and 0.68 / 1.75 at batch 256 (lr 3e-3); lr 1e-2 at batch 256 diverged.
    # 50,000 events x 3 epochs, eff@15 / spread [GeV]: |eta| weighted 0.25 (see TrainingRecipe)
    # 0.774 / 1.34 at lr 4e-3 against 0.771 / 1.36 at 2e-3 (0.759 / 1.45 and 0.753 / 1.46 at
    # weight 1); weight 0.1 at lr 4e-3: 0.781 / 1.33.
    RECIPES = {
        "paper": TrainingRecipe(optimizer="adam", learning_rate=1e-3, batch_size=32, epochs=30),
        "fast": TrainingRecipe(optimizer="adam", learning_rate=4e-3, batch_size=64, epochs=3,
                               normalise_targets=True, schedule="onecycle", channels_last=True,
                               eta_weight=0.1),
    }

    def __init__(self, preset: str = "fast"):
        width = {"paper": (1024, 512), "fast": (128, 64)}[preset]
        c = BODIES[preset].out_channels
        head = nn.Sequential(nn.Linear(c, width[0]), nn.ReLU(), nn.Linear(width[0], width[1]),
                             nn.ReLU(), nn.Linear(width[1], 2))
        super().__init__(preset, self.RECIPES[preset], head)

    @property
    def head(self) -> nn.Module:
        return self.final[-1]


class TracInCNN(ConvRegressor):
    """Conv body -> GAP -> Dense(2): a linear head, trained with plain SGD (TracIn's setting)."""

    name = "tracin-cnn"
    RECIPES = {
        "paper": TrainingRecipe(optimizer="sgd", learning_rate=1e-2, batch_size=32, epochs=30),
        # fast: plain SGD (no momentum) on a one-cycle schedule, batch 64: eff@15 0.74 / spread
        # 1.40 GeV after 3 epochs on 50,000 events (0.72 / 1.77 at its best epoch with a constant
        # 5e-2 at batch 64; 0.57 / 1.75 after 2 epochs of a constant 5e-2 at
        # batch 256). TracIn weights each checkpoint by its epoch's mean step size.
        "fast": TrainingRecipe(optimizer="sgd", learning_rate=0.3, batch_size=64, epochs=3,
                               normalise_targets=True, schedule="onecycle", channels_last=True,
                               eta_weight=0.1),
    }

    def __init__(self, preset: str = "fast"):
        super().__init__(preset, self.RECIPES[preset],
                         nn.Linear(BODIES[preset].out_channels, 2))

    @property
    def head(self) -> nn.Module:
        return self.final
