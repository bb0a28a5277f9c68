"""Integrated Gradients (Sundararajan et al. 2017) on the straight line from a baseline, one
class for images, tables and graphs.

``IG_i = (x_i - b_i) * integral_0^1 dF/dx_i(b + a (x - b)) da``, the integral by an
``n_steps``-point Gauss-Legendre rule on [0, 1] (Captum's default), all steps of all examples of
a chunk through the model in one pass. Completeness: ``sum_i IG_i = F(x) - F(b)`` up to the
quadrature error; the outputs at both ends are recorded. Baselines: zeros by default (an empty
image; for tables pass a data-like reference such as the training mean, where an all-zero event
is unphysical). On graphs the node features go from the baseline with the edges kept, and the
edges get their own path on PyG's edge mask from 0 (no messages) to 1, with its own outputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hepxai.explain.base import Explainer, Parts, Targets, gauss_legendre
from hepxai.explain.modality import Batch, Modality


class IntegratedGradients(Explainer):
    """Straight-line IG with ``n_steps`` Gauss-Legendre points.

    >>> model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    >>> a = IntegratedGradients(model, n_steps=32).attribute(torch.rand(5, 3))
    >>> float(a.completeness_error().max()) < 1e-4
    True
    """

    name = "ig"
    complete = True
    default_batch_size = 16  # examples per pass: 16 x n_steps path points

    def __init__(self, model: Any, *, n_steps: int = 50, edges: bool = True, **options: Any):
        super().__init__(model, **options)
        self.alphas, self.weights = gauss_legendre(n_steps)
        self.n_steps, self.edges = n_steps, edges
        self.params = {"n_steps": n_steps}

    def _path(self, modality: Modality, batch: Batch, targets: Targets, start: torch.Tensor,
              end: torch.Tensor, edge: bool) -> torch.Tensor:
        """The Gauss-Legendre average of the gradients along ``start -> end`` (node features,
        or the edge mask with ``edge``), times ``end - start``: ``(rows, T, *shape)``."""
        m = len(self.alphas)
        shape = (m,) + (1,) * start.ndim
        points = (start + self.alphas.view(shape) * (end - start)).flatten(0, 1)
        if edge:
            grads, _ = self._gradients(modality, batch, targets.columns,
                                       x=modality.stack(batch.x, m), copies=m,
                                       edge_mask=points)
        else:
            grads, _ = self._gradients(modality, batch, targets.columns, x=points, copies=m)
        grads = grads.view(m, len(start), *grads.shape[1:])
        average = (self.weights.view((m,) + (1,) * (grads.ndim - 1)) * grads).sum(0)
        return average * (end - start).unsqueeze(1)

    def _attribute(self, modality: Modality, batch: Batch, targets: Targets, baselines: Any,
                   ids: np.ndarray) -> Parts:
        base = modality.baseline(batch, baselines)
        values = self._path(modality, batch, targets, base, batch.x, edge=False)
        with torch.no_grad():
            out = self._outputs(modality, batch)[:, targets.columns]
            base_out = self._outputs(modality, batch, base)[:, targets.columns]
        parts = Parts(values, out, base_out)
        if self.edges and modality.name == "graph":
            ones = torch.ones(batch.graph["edge_index"].shape[1])
            parts.edges = self._path(modality, batch, targets, torch.zeros_like(ones), ones,
                                     edge=True)
            with torch.no_grad():
                parts.edge_baseline_outputs = self._outputs(
                    modality, batch, edge_mask=torch.zeros_like(ones))[:, targets.columns]
            parts.edge_outputs = out
        return parts
