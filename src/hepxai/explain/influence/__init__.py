"""Data influence for any model: which training examples made a prediction (TracIn), and its
validation by retraining.

* :mod:`~hepxai.explain.influence.tracin`: :class:`TracInStore`, TracIn over a run's
  checkpoints, last-layer (exact) and full (random projection) variants, precompute-then-query
  store, top-k, full matrices, self-influence;
* :mod:`~hepxai.explain.influence.source`: :class:`GradientSource`, what a use case (or a
  physicist's own model) says about its examples and loss;
* :mod:`~hepxai.explain.influence.checkpoints`: which checkpoints, and what each is;
* :mod:`~hepxai.explain.influence.validation`: leave-some-out retraining (LSOR), datamodels
  (linear datamodeling score) and kappa pruning over a retraining callback.

Names are imported on first use (``import hepxai.explain.influence`` imports no torch), so a
command's ``--help`` can read :data:`VARIANTS` and :data:`DEFAULT_PROJECTION_DIM` at once.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from hepxai.explain.influence.constants import (
    DEFAULT_CHECKPOINTS,
    DEFAULT_PROJECTION_DIM,
    VARIANTS,
)

#: public name -> module that defines it
_PUBLIC = {
    "CheckpointRef": "hepxai.explain.influence.checkpoints",
    "describe_checkpoints": "hepxai.explain.influence.checkpoints",
    "select_checkpoints": "hepxai.explain.influence.checkpoints",
    "spread_over_training": "hepxai.explain.influence.checkpoints",
    "run_checkpoints": "hepxai.io.checkpoint",
    "GradientSource": "hepxai.explain.influence.source",
    "file_identity": "hepxai.explain.influence.source",
    "tensor_identity": "hepxai.explain.influence.source",
    "GaussianProjection": "hepxai.explain.influence.projection",
    "TopK": "hepxai.explain.influence.tracin",
    "TracInStore": "hepxai.explain.influence.tracin",
    "head_features": "hepxai.explain.influence.tracin",
}

__all__ = ["DEFAULT_CHECKPOINTS", "DEFAULT_PROJECTION_DIM", "VARIANTS", "CheckpointRef",
           "GaussianProjection", "GradientSource", "TopK", "TracInStore",
           "describe_checkpoints", "file_identity", "head_features", "run_checkpoints",
           "select_checkpoints", "spread_over_training", "tensor_identity"]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'hepxai.explain.influence' has no attribute {name!r}")
