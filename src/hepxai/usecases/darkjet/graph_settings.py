"""How jets become graphs (:class:`GraphSettings`), in a module that imports nothing heavy.

The graph building itself is :mod:`hepxai.usecases.darkjet.graphs` (its docstring explains
each setting); the command line reads the variants, metrics and defaults from here, so
``hepxai train darkjet --help`` imports no torch.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from hepxai.core.errors import HepxaiError

VARIANTS = ("gnn-0", "gnn-1", "gnn-2")
METRICS = {"euclidean": 2, "taxicab": 1}
CACHE_VERSION = 1  # of the graph cache files; part of every settings key


@dataclass(frozen=True)
class GraphSettings:
    """How jets become graphs (see :mod:`hepxai.usecases.darkjet.graphs`)."""

    variant: str = "gnn-1"
    metric: str = "taxicab"
    radius_factor: float = 2.5
    layer_spacing: float = 0.05   # graph-space length of one sampling-layer step
    cone: float = 0.25            # gnn-1: Delta R of the cone around the jet axis
    min_extent: float = 0.05      # floor of each side of the box that sets the density

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise HepxaiError(f"unknown graph variant {self.variant!r}; choose one of "
                              f"{', '.join(VARIANTS)}")
        if self.metric not in METRICS:
            raise HepxaiError(f"unknown metric {self.metric!r}; choose one of "
                              f"{', '.join(METRICS)}")
        for name in ("radius_factor", "layer_spacing", "cone", "min_extent"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise HepxaiError(f"graph setting {name} must be a positive number, got {value}")

    @property
    def p(self) -> int:
        return METRICS[self.metric]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def key(self) -> str:
        text = json.dumps({**self.to_dict(), "cache_version": CACHE_VERSION}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]
