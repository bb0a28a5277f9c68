"""A tiny TracIn CNN for the studies that retrain many models (LSOR, datamodels).

Leave-some-out retraining and datamodels train tens to hundreds of models on small subsets of
the training set; with the fast TracIn CNN (50k parameters, ~17M MACs an event) that does not
fit a CPU budget of minutes. This model keeps the TracIn CNN's design (a ``x * eta`` input
channel, conv-BN-ReLU blocks, global average pooling, one linear head, plain SGD) with three
narrow blocks: ~7k parameters and ~1M MACs an event, 4-5x faster to train on a CPU.

Both presets have the same layers (like the flat-tree ensembles); ``fast`` is the recipe of the
validation studies (few epochs on a few thousand events), ``paper`` the thesis' TracIn recipe.
"""

from __future__ import annotations

import torch
from torch import nn

from hepxai.usecases.muon.models.base import MuonRegressor, TrainingRecipe
from hepxai.usecases.muon.models.cnn import conv_bn_relu, eta_coordinate

NAME = "tracin-cnn-tiny"


class TinyConvBody(nn.Module):
    """Conv 3x5 (8) at full resolution -> pool 1x4 -> conv 3x5 (16) -> pool 3x2 (9 layers -> 3
    stations, 96 -> 48 strips) -> conv 3x3 (32). Output ``(b, 32, 3, 48)``."""

    out_channels = 32

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("eta", eta_coordinate(), persistent=False)
        self.early = nn.Sequential(
            *conv_bn_relu(2, 8, (3, 5), pool=(1, 4)),
            *conv_bn_relu(8, 16, (3, 5), pool=(3, 2)),
        )
        self.last = nn.Sequential(*conv_bn_relu(16, self.out_channels, (3, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([x, x * self.eta], dim=1)
        return self.last(self.early(x))


class TinyTracInCNN(MuonRegressor):
    """Tiny conv body -> GAP -> Linear(32, 2), trained with plain SGD."""

    name = NAME
    RECIPES = {
        "paper": TrainingRecipe(optimizer="sgd", learning_rate=1e-2, batch_size=32, epochs=30),
        # one-cycle plain SGD: validation loss 0.55 (encoded MAE) after 6 epochs on 4,000
        # events at peak lr 1.0 (0.58 at 0.3, 0.66 at 0.1), and a small final step size, so
        # retrained models differ by their data more than by the last steps
        "fast": TrainingRecipe(optimizer="sgd", learning_rate=1.0, batch_size=32, epochs=6,
                               normalise_targets=True, schedule="onecycle"),
    }

    def __init__(self, preset: str = "fast"):
        super().__init__(preset, self.RECIPES[preset])
        self.body = TinyConvBody()
        self.final = nn.Linear(TinyConvBody.out_channels, 2)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """GAP of the last feature maps: ``(b, 32)``."""
        return self.body(x).mean(dim=(2, 3))

    def forward_encoded(self, x: torch.Tensor) -> torch.Tensor:
        return self.final(self.features(x))

    @property
    def last_conv(self) -> nn.Module:
        return self.body.last

    @property
    def head(self) -> nn.Module:
        return self.final
