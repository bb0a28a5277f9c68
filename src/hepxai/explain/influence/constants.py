"""TracIn's settings and defaults, importable without torch (the CLI's ``--help`` reads them).

>>> VARIANTS
('last-layer', 'full')
"""

from __future__ import annotations

#: ``last-layer``: exact, the gradient of the model's final linear layer; ``full``: every
#: trainable parameter, per-example gradients compressed by a seeded random projection
VARIANTS = ("last-layer", "full")
DEFAULT_PROJECTION_DIM = 2048
#: checkpoints spread over a run when none are named (of 30 epochs: 5, 15 and 25)
DEFAULT_CHECKPOINTS = 3
#: examples per pass of the precompute (the full variant keeps every example's activations)
PRECOMPUTE_BATCH = {"last-layer": 1024, "full": 64}
#: test examples per pass of a query
QUERY_BATCH = 1024
