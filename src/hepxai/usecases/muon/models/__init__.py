"""Muon regression models by name: ``create(name, preset, seed)`` builds one, seeded.

| name | model |
| --- | --- |
| attribution-cnn | conv body -> GAP -> MLP head (RAM, IG, SmoothGrad) |
| tracin-cnn | conv body -> GAP -> linear head, plain SGD (TracIn) |
| tracin-cnn-tiny | a 7k-parameter TracIn CNN for studies that retrain many models |
| convsdt | conv stack -> soft decision tree of depth 5 (decision flow) |
| sdt, ndt | one soft tree on the flattened image; ndt routes hard (thesis table 7.1) |
| sdt-ensemble, sdt-big-ensemble | averages of 6 and 15 soft trees (thesis table 7.1) |

Distilled variants are the same models trained with ``--teacher CHECKPOINT``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from hepxai.core.errors import HepxaiError
from hepxai.usecases.muon.models.base import OUTPUTS, MuonRegressor, TrainingRecipe
from hepxai.usecases.muon.models.cnn import AttributionCNN, TracInCNN
from hepxai.usecases.muon.models.soft_tree import ConvSDT, FlatSDT, SoftDecisionTree
from hepxai.usecases.muon.models.tiny import TinyTracInCNN
from hepxai.usecases.muon.names import PRESETS

#: name -> constructor; the names are :data:`hepxai.usecases.muon.names.MODELS`
MODELS: dict[str, Callable[[str], MuonRegressor]] = {
    "attribution-cnn": AttributionCNN,
    "tracin-cnn": TracInCNN,
    "tracin-cnn-tiny": TinyTracInCNN,
    "convsdt": ConvSDT,
    "sdt": lambda preset: FlatSDT(preset, n_trees=1),
    "ndt": lambda preset: FlatSDT(preset, n_trees=1, hard=True),
    "sdt-ensemble": lambda preset: FlatSDT(preset, n_trees=6),
    "sdt-big-ensemble": lambda preset: FlatSDT(preset, n_trees=15),
}


def create(name: str, preset: str = "fast", seed: int = 1) -> MuonRegressor:
    """A freshly initialised model; the same (name, preset, seed) gives the same weights."""
    if name not in MODELS:
        raise HepxaiError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    if preset not in PRESETS:
        raise HepxaiError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    torch.manual_seed(seed)
    model = MODELS[name](preset)
    model.name = name
    return model


__all__ = ["MODELS", "OUTPUTS", "PRESETS", "MuonRegressor", "SoftDecisionTree",
           "TrainingRecipe", "create"]
