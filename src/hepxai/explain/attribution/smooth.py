"""SmoothGrad (Smilkov et al. 2017): an explainer averaged over noisy copies of each input,
composed by instance as Captum's ``NoiseTunnel``:

    SmoothGrad(BinaryPathIG(model, mode="thesis"), noise=salt_and_pepper(0.02), n_samples=100)

Noise functions say how a copy is made. :func:`salt_and_pepper` turns every unlit pixel of a
binary hit map on with probability ``rate``: detector noise in the RPCs only ever *adds* hits,
so the copies are noisy the way the data are (thesis 6.2; Gaussian noise, SmoothGrad's original
choice, would make fractional, even negative, hit maps). :func:`gaussian` adds
``N(0, stdev^2)`` to every value (SmoothGrad's original, Captum's default). The noise of an
example comes from its own generator, seeded by the method's seed and the example's id, so an
explanation does not depend on the other examples of its batch; all copies of a chunk of
examples go to the wrapped explainer in one call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hepxai.core.errors import HepxaiError
from hepxai.explain.base import Explainer, Parts, Targets, event_seeds
from hepxai.explain.modality import Batch, Modality


@dataclass(frozen=True)
class SaltAndPepper:
    """Unlit pixels turn on with probability ``rate``; lit pixels stay lit."""

    rate: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise HepxaiError(f"noise rate must be in [0, 1], got {self.rate}")

    def __call__(self, x: torch.Tensor, copies: int, seeds: np.ndarray,
                 offsets: np.ndarray | None = None) -> torch.Tensor:
        """``copies`` noisy versions of every example: ``(b, *shape)`` -> ``(b * copies,
        *shape)``, example-major; example ``i``'s noise from a generator seeded ``seeds[i]``."""
        if offsets is not None:
            raise HepxaiError("salt-and-pepper noise is for binary images; use gaussian() for "
                              "graphs")
        noise = np.empty((len(x), copies, int(np.prod(x.shape[1:]))), dtype=np.float32)
        for i, seed in enumerate(seeds):  # one vectorised draw per example
            noise[i] = np.random.default_rng(int(seed)).random(noise.shape[1:], dtype=np.float32)
        lit = torch.from_numpy(noise < self.rate).view(len(x), copies, *x.shape[1:])
        return torch.maximum(x.unsqueeze(1), lit.to(x.dtype)).flatten(0, 1)

    def describe(self) -> dict[str, Any]:
        return {"noise": "salt-and-pepper", "rate": self.rate}


@dataclass(frozen=True)
class Gaussian:
    """``x + N(0, stdev^2)`` on every value (node features of graphs included)."""

    stdev: float

    def __post_init__(self) -> None:
        if not self.stdev >= 0:
            raise HepxaiError(f"noise stdev must be >= 0, got {self.stdev}")

    def __call__(self, x: torch.Tensor, copies: int, seeds: np.ndarray,
                 offsets: np.ndarray | None = None) -> torch.Tensor:
        """Dense ``(b, *shape)`` -> ``(b * copies, *shape)``; graphs (``offsets``): node
        features of every graph's copies, graph-major."""
        rows = [slice(i, i + 1) for i in range(len(seeds))] if offsets is None else \
            [slice(int(a), int(b)) for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
        pieces = []
        for part, seed in zip(rows, seeds, strict=True):  # one vectorised draw per example
            block = x[part]
            draw = np.random.default_rng(int(seed)).standard_normal((copies, *block.shape))
            pieces.append((block.unsqueeze(0) + self.stdev * torch.from_numpy(draw).to(x.dtype))
                          .flatten(0, 1))
        return torch.cat(pieces)

    def describe(self) -> dict[str, Any]:
        return {"noise": "gaussian", "stdev": self.stdev}


def salt_and_pepper(rate: float) -> SaltAndPepper:
    """Salt-and-pepper noise for binary hit maps (the thesis: ``rate = 0.02``)."""
    return SaltAndPepper(float(rate))


def gaussian(stdev: float) -> Gaussian:
    """Gaussian noise of standard deviation ``stdev`` (in the inputs' units)."""
    return Gaussian(float(stdev))


class SmoothGrad(Explainer):
    """The mean of ``explainer``'s attributions over ``n_samples`` noisy copies of each input.

    >>> from hepxai.explain import Saliency
    >>> smooth = SmoothGrad(Saliency(torch.nn.Linear(3, 1)), noise=gaussian(0.1), n_samples=8)
    >>> smooth.attribute(torch.rand(2, 3)).values.shape
    (2, 3)
    """

    name = "smoothgrad"
    default_batch_size = 4  # examples per chunk: 4 x n_samples copies go to the explainer

    def __init__(self, explainer: Explainer, *, noise: SaltAndPepper | Gaussian,
                 n_samples: int = 100, seed: int = 0, batch_size: int | None = None):
        if not isinstance(explainer, Explainer):
            raise HepxaiError(f"SmoothGrad wraps an explainer instance (e.g. SmoothGrad("
                              f"Saliency(model), ...)), got a {type(explainer).__name__}")
        if isinstance(explainer, SmoothGrad):
            raise HepxaiError("SmoothGrad cannot wrap itself; wrap the explainer inside once")
        if n_samples < 1:
            raise HepxaiError(f"SmoothGrad needs at least one noisy copy, got {n_samples}")
        super().__init__(explainer.model, modality=explainer.modality,
                         output_names=explainer.output_names, batch_size=batch_size,
                         fused=explainer.fused)
        self.explainer, self.noise = explainer, noise
        self.n_samples, self.seed = n_samples, seed
        self.modalities = explainer.modalities
        self.reduction = explainer.reduction
        self._runner = explainer.runner
        self.params = {"n_samples": n_samples, **noise.describe(), "seed": seed,
                       "base": explainer.name, "base_params": explainer.params}

    @classmethod
    def supports(cls, model: Any) -> str | None:
        return None  # whatever the wrapped explainer supports

    def _attribute(self, modality: Modality, batch: Batch, targets: Targets, baselines: Any,
                   ids: np.ndarray) -> Parts:
        n = self.n_samples
        copies = modality.repeat(batch, n)
        copies.x = self.noise(batch.x, n, event_seeds(self.seed, ids), batch.offsets)
        copy_ids = np.repeat(ids, n) * n + np.tile(np.arange(n), len(ids))
        if baselines is not None and isinstance(baselines, torch.Tensor | np.ndarray) and \
                np.ndim(baselines) == batch.x.ndim and len(baselines) == len(batch.x):
            baselines = torch.as_tensor(baselines).repeat_interleave(n, dim=0)
        parts = self.explainer._attribute(modality, copies, targets, baselines, copy_ids)
        values = _mean_over_copies(torch.as_tensor(parts.values), n, batch)
        with torch.no_grad():
            out = self._outputs(modality, batch)[:, targets.columns]
        edges = None
        if parts.edges is not None:
            edges = _mean_over_copies(torch.as_tensor(parts.edges), n, batch,
                                      offsets=batch.graph["edge_offsets"])
        return Parts(values, out, None, edges)


def _mean_over_copies(values: torch.Tensor, n: int, batch: Batch,
                      offsets: np.ndarray | None = None) -> torch.Tensor:
    """Average the rows of ``n`` consecutive copies of each example back onto the example."""
    offsets = batch.offsets if offsets is None else offsets
    if offsets is None:
        return values.reshape(batch.n, n, *values.shape[1:]).mean(1)
    counts = np.diff(offsets)
    # copy j of graph i holds rows start_i * n + j * count_i + k, k < count_i
    graph = np.repeat(np.repeat(np.arange(batch.n), n), np.repeat(counts, n))
    local = np.arange(len(graph)) - np.repeat(np.repeat(offsets[:-1] * n, n)
                                              + np.tile(np.arange(n), batch.n)
                                              * np.repeat(counts, n), np.repeat(counts, n))
    target = torch.from_numpy(offsets[:-1][graph] + local)
    out = torch.zeros((int(offsets[-1]), *values.shape[1:]), dtype=values.dtype)
    return out.index_add_(0, target, values) / n
