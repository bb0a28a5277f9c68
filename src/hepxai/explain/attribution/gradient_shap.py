"""GradientSHAP (expected gradients; Lundberg & Lee 2017, Erion et al. 2021), the estimator of
``captum.attr.GradientShap`` without input noise.

For each example and each of ``n_samples`` draws: a baseline ``b`` from the reference sample
(``baselines``: e.g. training events; at most ``n_baselines`` of them, drawn once) and
``a ~ U(0, 1)``; the attribution is the mean over draws of ``dF/dx(b + a (x - b)) * (x - b)``,
every target from one pass (Captum needs one call per target). Complete in expectation:
``sum(values) ~ F(x) - mean F(reference)``, which ``baseline_outputs`` records; with the same
background distribution as TreeSHAP (the training data) the two are comparable. The draws of an
example come from ``SeedSequence(seed, spawn_key=(id,))``, so they do not depend on the batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hepxai.core.errors import HepxaiError
from hepxai.explain.base import Explainer, Parts, Targets
from hepxai.explain.modality import Batch, Modality


class GradientShap(Explainer):
    """Expected gradients over a reference sample (``attribute(..., baselines=REFERENCE)``).

    >>> mlp = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    >>> a = GradientShap(mlp, n_samples=16).attribute(torch.rand(5, 4), target=[0, 1, 2],
    ...                                                baselines=torch.rand(100, 4))
    """

    name = "gradient-shap"
    modalities = ("image", "table")
    default_batch_size = 256

    def __init__(self, model: Any, *, n_samples: int = 32, n_baselines: int = 200, seed: int = 0,
                 **options: Any):
        if n_samples < 1 or n_baselines < 1:
            raise HepxaiError("n_samples and n_baselines must be >= 1")
        super().__init__(model, **options)
        self.n_samples, self.n_baselines, self.seed = n_samples, n_baselines, seed
        self.params = {"n_samples": n_samples, "seed": seed}
        self._reference: tuple[int, torch.Tensor] | None = None

    def reference(self, baselines: Any, example_shape: tuple[int, ...] | None = None
                  ) -> torch.Tensor:
        """The reference sample: ``n_baselines`` rows of ``baselines`` drawn once (seeded)."""
        if baselines is None:
            raise HepxaiError(f"{self.name} needs reference examples (e.g. training events) as "
                              "baselines=")
        key = id(baselines)
        if self._reference is None or self._reference[0] != key:
            reference = torch.as_tensor(np.asarray(baselines), dtype=torch.float32)
            if example_shape is not None and tuple(reference.shape[1:]) != tuple(example_shape):
                shape = ", ".join(map(str, example_shape))
                raise HepxaiError(f"reference examples must be (n, {shape}), got "
                                  f"{tuple(reference.shape)}")
            if not torch.isfinite(reference).all():
                raise HepxaiError("reference examples contain NaN or infinite values")
            rng = np.random.default_rng(self.seed)
            rows = rng.choice(len(reference), size=min(self.n_baselines, len(reference)),
                              replace=False)
            self._reference = (key, reference[np.sort(rows)])
            self.params["n_baselines"] = len(rows)
        return self._reference[1]

    def draws(self, ids: np.ndarray, n_reference: int) -> tuple[np.ndarray, np.ndarray]:
        """Reference indices and path fractions ``(n, n_samples)`` of the examples ``ids``."""
        index = np.empty((len(ids), self.n_samples), np.int64)
        alpha = np.empty((len(ids), self.n_samples))
        for i, example in enumerate(ids):  # one generator per example: batch-independent
            rng = np.random.default_rng(np.random.SeedSequence(self.seed,
                                                               spawn_key=(int(example),)))
            index[i] = rng.integers(0, n_reference, self.n_samples)
            alpha[i] = rng.random(self.n_samples)
        return index, alpha

    def _attribute(self, modality: Modality, batch: Batch, targets: Targets, baselines: Any,
                   ids: np.ndarray) -> Parts:
        reference = self.reference(baselines, tuple(batch.x.shape[1:]))
        index, alpha = self.draws(ids, len(reference))
        x = batch.x
        base = reference[torch.as_tensor(index)]  # (b, S, *shape)
        delta = x.unsqueeze(1) - base
        a = torch.as_tensor(alpha, dtype=torch.float32).view(*alpha.shape,
                                                            *([1] * (x.ndim - 1)))
        points = (base + a * delta).transpose(0, 1).flatten(0, 1)  # copy-major (S * b, ...)
        grads, _ = self._gradients(modality, batch, targets.columns, x=points,
                                   copies=self.n_samples)
        grads = grads.view(self.n_samples, len(x), *grads.shape[1:]).transpose(0, 1)
        values = (grads * delta.unsqueeze(2)).mean(1)  # (b, T, *shape)
        with torch.no_grad():
            out = self._outputs(modality, batch)[:, targets.columns]
            reference_out = modality.forward(self.runner, modality.prepare(reference))
            expected = reference_out.double().mean(0)[targets.columns]
        return Parts(values, out, expected.expand(len(x), -1))
