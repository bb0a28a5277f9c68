"""Data influence: which training events made a prediction (TracIn), and its validation.

* :mod:`~hepxai.explain.influence.tracin`: TracIn over a run's checkpoints, last-layer (exact)
  and full (random projection) variants, precompute-then-query store, top-k, self-influence;
* :mod:`~hepxai.usecases.muon.influence`: TP / FP / FN / TN / only-noise study and
  self-influence summaries;
* :mod:`~hepxai.usecases.muon.influence_validation`: leave-some-out retraining (LSOR) and datamodels
  (linear datamodeling score).
"""

from hepxai.explain.influence.projection import GaussianProjection
from hepxai.explain.influence.tracin import (
    DEFAULT_PROJECTION_DIM,
    VARIANTS,
    CheckpointRef,
    TopK,
    TracInStore,
    describe_checkpoints,
    run_checkpoints,
    select_checkpoints,
    spread_over_training,
)

__all__ = ["DEFAULT_PROJECTION_DIM", "VARIANTS", "CheckpointRef", "GaussianProjection", "TopK",
           "TracInStore", "describe_checkpoints", "run_checkpoints", "select_checkpoints",
           "spread_over_training"]
