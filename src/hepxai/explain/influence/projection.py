"""Seeded Gaussian random projection (Johnson-Lindenstrauss) of per-example gradients.

``R`` has shape ``(n_in, dim)`` with iid ``N(0, 1/dim)`` entries, so ``E[(xR) . (yR)] = x . y``
and the relative error of a dot product falls like ``1/sqrt(dim)``. ``R`` is defined block by
block (rows ``[j * block_rows, (j + 1) * block_rows)`` drawn from a generator seeded with
``(seed, j)``): the same seed gives the same matrix whatever the caching, and a projection of
hundreds of millions of entries never has to exist at once. Blocks are kept in memory while they
fit ``cache_bytes`` (the usual case: a 50k-parameter model at dim 2,048 is 0.4 GB), otherwise
regenerated at every call.
"""

from __future__ import annotations

import math

import torch

from hepxai.core.errors import HepxaiError

BLOCK_ROWS = 4096
CACHE_BYTES = 768 * 2**20


class GaussianProjection:
    """``x (b, n_in) -> x @ R (b, dim)`` with a seeded, block-generated Gaussian ``R``.

    Args:
        n_in: input dimension (number of model parameters).
        dim: output dimension ``k``.
        seed: the matrix is a function of (seed, n_in, dim, block_rows) only.
        block_rows: rows of ``R`` generated at once.
        cache_bytes: keep the blocks in memory when ``R`` is at most this large.
    """

    def __init__(self, n_in: int, dim: int, seed: int = 0, block_rows: int = BLOCK_ROWS,
                 cache_bytes: int = CACHE_BYTES):
        if dim < 1 or n_in < 1:
            raise HepxaiError(f"projection dimension {dim} and input size {n_in} must be >= 1; "
                              "give --projection-dim of at least 1")
        self.n_in, self.dim, self.seed, self.block_rows = int(n_in), int(dim), int(seed), block_rows
        self.scale = 1.0 / math.sqrt(self.dim)
        self.cached = self.n_in * self.dim * 4 <= cache_bytes
        self._blocks: dict[tuple[int, torch.device], torch.Tensor] = {}

    @property
    def n_blocks(self) -> int:
        return -(-self.n_in // self.block_rows)

    def block(self, j: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """Rows ``[j * block_rows, ...)`` of ``R``: float32 ``(rows, dim)``, already scaled."""
        device = torch.device(device)
        key = (j, device)
        if key in self._blocks:
            return self._blocks[key]
        rows = min(self.block_rows, self.n_in - j * self.block_rows)
        # distinct (seed, block) pairs give distinct generator seeds while j < 2**31 - 1
        generator = torch.Generator().manual_seed((self.seed * 2_147_483_647 + j) % 2**63)
        block = torch.randn(rows, self.dim, generator=generator).mul_(self.scale).to(device)
        if self.cached:
            self._blocks[key] = block
        return block

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise HepxaiError(f"projection expects (b, {self.n_in}) inputs, got "
                              f"{tuple(x.shape)}")
        out = torch.zeros(x.shape[0], self.dim, dtype=torch.float32, device=x.device)
        for j in range(self.n_blocks):
            start = j * self.block_rows
            rows = x[:, start:start + self.block_rows].float()
            out.addmm_(rows, self.block(j, x.device))
        return out

    def matrix(self) -> torch.Tensor:
        """The whole ``R`` ``(n_in, dim)`` (tests and small models only)."""
        return torch.cat([self.block(j) for j in range(self.n_blocks)])
