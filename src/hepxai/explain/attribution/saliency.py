"""Saliency (Simonyan et al. 2014): the absolute gradient of the explained output w.r.t. every
input value, in one backward pass per target, for images, tables and graphs.

An item's relevance (:meth:`Attribution.items`) is the maximum over its channels (or node
features), the paper's definition. On graphs the edges get ``|d output / d mask_e|`` at the
all-ones edge mask (the messages as they are), the same numbers as PyG's
``Explainer(CaptumExplainer("Saliency"))``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hepxai.explain.base import Explainer, Parts, Targets
from hepxai.explain.modality import Batch, Modality


class Saliency(Explainer):
    """``|dF_t/dx|`` (``abs=False``: the signed gradient).

    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 2))
    >>> a = Saliency(model).attribute(torch.rand(4, 1, 2, 4), target=1)
    >>> a.values.shape
    (4, 1, 2, 4)
    """

    name = "saliency"
    reduction = "max_abs"

    def __init__(self, model: Any, *, abs: bool = True, edges: bool = True, **options: Any):
        super().__init__(model, **options)
        self.abs, self.edges = abs, edges
        self.params = {"abs": abs}

    def _attribute(self, modality: Modality, batch: Batch, targets: Targets, baselines: Any,
                   ids: np.ndarray) -> Parts:
        grads, out = self._gradients(modality, batch, targets.columns)
        edges = None
        if self.edges and modality.name == "graph":
            mask = torch.ones(batch.graph["edge_index"].shape[1])
            edges, _ = self._gradients(modality, batch, targets.columns, edge_mask=mask)
            edges = edges.abs() if self.abs else edges
        return Parts(grads.abs() if self.abs else grads, out, None, edges)
