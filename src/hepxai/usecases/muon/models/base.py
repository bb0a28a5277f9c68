"""What every muon regression model declares: outputs, target encoding, training recipe, parts.

A model maps images ``(b, 1, 9, 384)`` to ``(b, 2)`` = (pT [GeV], |eta|) in physical units.
Internally it predicts an *encoded* target (z-scored, optionally 1/pT instead of pT); the loss is
taken there, so the training loop, the explainers and last-layer TracIn all see the same linear
head. Explainers ask the model for its parts (:attr:`MuonRegressor.last_conv`,
:attr:`MuonRegressor.head`, :attr:`MuonRegressor.tree`) instead of guessing by layer index.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

OUTPUTS = ("pt", "eta")
PT_CAP_GEV = 200.0  # decoding 1/pT near 0: any "very high pT" is the same trigger decision


@dataclass(frozen=True)
class TrainingRecipe:
    """How a preset is trained (the thesis' settings for ``paper``).

    pt_transform: ``"identity"`` regresses pT; ``"inverse"`` regresses 1/pT, which the bend of
    the track is linear in. Under an absolute-error loss both have the same optimum, the
    median of pT given the image (the median commutes with monotone maps), so the inverse
    target changes how easily the optimum is reached, not what it is.

    eta_weight: the encoded |eta| is multiplied by it, so the MAE in the encoded space weights
    |eta| by it. With an absolute-error loss every event pulls on each output with the same
    force whatever its error; |eta| is measured to a strip long before pT has converged, yet at
    weight 1 it keeps pulling on the shared body as hard as pT (our reading of why a smaller
    weight helps). 0.1 on the fast presets: 50,000 events x 3 epochs (Attribution CNN at lr
    4e-3, 20,000 validation events) give eff@15 0.781 / spread 1.33 GeV, against 0.774 / 1.34
    at 0.25 and 0.759 / 1.45 at 1.0 (``hepxai train muon --eta-weight W``). Because the weight
    lives in the encoding, the loss stays a plain MAE of the encoded targets for everything that
    differentiates it (training, TracIn, retraining studies).
    """

    optimizer: str = "adam"  # "adam" | "sgd"
    learning_rate: float = 1e-3
    batch_size: int = 32
    epochs: int = 30
    normalise_targets: bool = False
    pt_transform: str = "identity"
    schedule: str = "constant"  # "constant" | "onecycle"
    channels_last: bool = False
    eta_weight: float = 1.0

    def to_dict(self) -> dict:
        return asdict(self)


class MuonRegressor(nn.Module):
    """Base class: target encoding buffers, physical-unit forward, declared parts."""

    use_case = "muon"
    outputs = OUTPUTS
    name = "muon-regressor"

    def __init__(self, preset: str, recipe: TrainingRecipe):
        super().__init__()
        self.preset = preset
        self.recipe = recipe
        self.register_buffer("target_mean", torch.zeros(len(OUTPUTS)))
        self.register_buffer("target_std", torch.ones(len(OUTPUTS)))

    # -- target encoding ----------------------------------------------------------------------
    def _transform(self, y: torch.Tensor) -> torch.Tensor:
        if self.recipe.pt_transform == "inverse":
            y = torch.cat([1.0 / y[:, :1].clamp_min(1.0 / PT_CAP_GEV), y[:, 1:]], dim=1)
        return y

    def fit_target_encoding(self, targets: torch.Tensor) -> None:
        """Set the z-score statistics from training targets ``(n, 2)`` (physical units)."""
        if self.recipe.normalise_targets:
            transformed = self._transform(targets.double())
            self.target_mean.copy_(transformed.mean(0).float())
            self.target_std.copy_(transformed.std(0).clamp_min(1e-6).float())

    def _encoded_scale(self) -> torch.Tensor:
        """``(2,)`` encoded units per physical unit (after the pT transform)."""
        weights = torch.tensor((1.0, self.recipe.eta_weight), dtype=self.target_std.dtype,
                               device=self.target_std.device)
        return weights / self.target_std

    def encode_targets(self, y: torch.Tensor) -> torch.Tensor:
        """Physical ``(b, 2)`` -> the space the network predicts and the loss is taken in."""
        return (self._transform(y) - self.target_mean) * self._encoded_scale()

    def decode_outputs(self, encoded: torch.Tensor) -> torch.Tensor:
        """Network outputs -> physical (pT [GeV], |eta|)."""
        y = encoded / self._encoded_scale() + self.target_mean
        if self.recipe.pt_transform == "inverse":
            y = torch.cat([1.0 / y[:, :1].clamp_min(1.0 / PT_CAP_GEV), y[:, 1:]], dim=1)
        return y

    # -- forward ------------------------------------------------------------------------------
    def forward_encoded(self, x: torch.Tensor) -> torch.Tensor:
        """``(b, 1, 9, 384)`` -> ``(b, 2)`` encoded targets (subclasses implement)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(b, 1, 9, 384)`` binary images -> ``(b, 2)`` (pT [GeV], |eta|)."""
        return self.decode_outputs(self.forward_encoded(x))

    # -- parts explainers use -----------------------------------------------------------------
    @property
    def last_conv(self) -> nn.Module | None:
        """The last convolution (RAM / CAM read its feature maps), None without one."""
        return None

    @property
    def head(self) -> nn.Module:
        """The final layer producing the encoded outputs (last-layer TracIn, CAM weights)."""
        raise NotImplementedError

    @property
    def tree(self) -> nn.Module | None:
        """The soft decision tree (decision-flow explanations), None for other models."""
        return None

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
