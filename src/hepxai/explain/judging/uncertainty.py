"""How sure is a mean? Percentile bootstrap intervals of per-example scores, over examples and,
for a stochastic method, over its seeds too.

A judging table of 40 muon events or 20 jets quotes means whose spread between samples is
often as large as the differences between methods; every mean hepxai reports carries the
interval this module computes, and the reports only call a difference real when the intervals
say so.

The bootstrap is vectorised: each replicate is a vector of multinomial counts over the
examples, and the replicate means are one matrix product ``counts @ values`` (NaN entries,
examples a method did not explain, weigh zero), in blocks that bound the memory.

>>> import numpy as np
>>> lo, hi = bootstrap_interval(np.r_[np.zeros(50), np.ones(50)], seed=1)
>>> bool(0.38 < lo < 0.5 < hi < 0.62)
True
"""

from __future__ import annotations

import numpy as np

from hepxai.core.errors import HepxaiError

N_BOOT = 1000
LEVEL = 0.95
#: entries of one block of multinomial counts (replicates x examples): ~160 MB of float64
_BLOCK = 10_000_000


def _counts(rng: np.random.Generator, n: int, n_boot: int) -> np.ndarray:
    """``(n_boot, n)`` resampling counts: how often each example is drawn in each replicate."""
    draws = rng.integers(0, n, size=(n_boot, n)) + (np.arange(n_boot) * n)[:, None]
    return np.bincount(draws.ravel(), minlength=n_boot * n).reshape(n_boot, n) \
        .astype(np.float64)


def _weighted_means(counts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Means of ``values`` ``(n, k)`` under each replicate's counts ``(B, n)``, NaN-aware:
    ``(B, k)`` (NaN where a replicate drew no finite value of a column)."""
    finite = np.isfinite(values)
    filled = np.where(finite, values, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (counts @ filled) / (counts @ finite.astype(np.float64))


def bootstrap_means(values: np.ndarray, *, n_boot: int = N_BOOT, seed: int = 0) -> np.ndarray:
    """Bootstrap replicates of the NaN-aware mean of ``values`` over its examples.

    ``values``: ``(n,)``, or ``(n, k)`` for k scores of the same examples (resampled together,
    so differences between columns keep their correlation), or ``(n_seeds, n, k)`` for a
    stochastic method: each replicate then draws seeds and examples with replacement and
    averages over both. Returns ``(n_boot,)`` for ``(n,)`` input, else ``(n_boot, k)``.
    """
    values = np.asarray(values, np.float64)
    if values.ndim not in (1, 2, 3):
        raise HepxaiError(f"bootstrap values must be (n,), (n, k) or (n_seeds, n, k), got "
                          f"shape {values.shape}")
    vector, seeded = values.ndim == 1, values.ndim == 3
    stacked = values.reshape(1, -1, 1) if vector else values[None] if not seeded else values
    n_seeds, n, k = stacked.shape
    if n == 0 or n_seeds == 0:
        raise HepxaiError("no examples to bootstrap; the selection is empty")
    rng = np.random.default_rng(seed)
    out = np.empty((n_boot, k))
    step = max(1, _BLOCK // n)
    for start in range(0, n_boot, step):
        size = min(step, n_boot - start)
        counts = _counts(rng, n, size)
        per_seed = np.stack([_weighted_means(counts, stacked[s]) for s in range(n_seeds)], 1)
        if seeded:  # (size, n_seeds, k): each replicate averages the seeds it drew
            seed_counts = _counts(rng, n_seeds, size)
            present = np.isfinite(per_seed)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[start:start + size] = \
                    np.einsum("rs,rsk->rk", seed_counts, np.where(present, per_seed, 0.0)) / \
                    np.einsum("rs,rsk->rk", seed_counts, present.astype(np.float64))
        else:
            out[start:start + size] = per_seed[:, 0]
    return out[:, 0] if vector else out


def bootstrap_interval(values: np.ndarray, *, n_boot: int = N_BOOT, level: float = LEVEL,
                       seed: int = 0) -> np.ndarray:
    """The central ``level`` percentile interval of the mean of ``values`` (shapes as
    :func:`bootstrap_means`): ``[lo, hi]`` ``(2,)`` for ``(n,)`` input, else ``(k, 2)``; NaN
    where a column has no finite value.

    >>> import numpy as np
    >>> bootstrap_interval(np.full(10, 3.0)).tolist()
    [3.0, 3.0]
    """
    if not 0 < level < 1:
        raise HepxaiError(f"the interval's level must be between 0 and 1, got {level}")
    means = bootstrap_means(values, n_boot=n_boot, seed=seed)
    tail = 100 * (1 - level) / 2
    columns = means[:, None] if means.ndim == 1 else means
    out = np.full((columns.shape[1], 2), np.nan)
    for j in range(columns.shape[1]):
        finite = columns[:, j][np.isfinite(columns[:, j])]
        if finite.size:
            out[j] = np.percentile(finite, [tail, 100 - tail])
    return out[0] if means.ndim == 1 else out


def interval_or_none(values: np.ndarray, *, over_seeds: bool = False, **kwargs
                     ) -> list[float] | None:
    """:func:`bootstrap_interval` of one score as a JSON-ready ``[lo, hi]``, ``None`` without
    a finite value. ``over_seeds``: ``values`` is ``(n_seeds, n)``, one row per seed of a
    stochastic method, and seeds are resampled with the examples (one row: examples only).

    >>> import numpy as np
    >>> interval_or_none(np.stack([np.zeros(30), np.ones(30)]), over_seeds=True)
    [0.0, 1.0]
    """
    values = np.asarray(values, np.float64)
    if not np.isfinite(values).any():
        return None
    if over_seeds:
        if values.ndim != 2:
            raise HepxaiError(f"per-seed values must be (n_seeds, n), got shape {values.shape}")
        values = values[0] if len(values) == 1 else values[..., None]
    bounds = bootstrap_interval(values, **kwargs)
    lo, hi = bounds if bounds.ndim == 1 else bounds[0]
    return [float(lo), float(hi)]


def verdict(interval: list[float] | None, threshold: float, below: str = "pass",
            above: str = "fail") -> str:
    """``below`` when the whole interval lies under ``threshold``, ``above`` when it lies at
    or over it, ``"undecided"`` when it straddles it (more examples would decide), ``"no
    data"`` without an interval."""
    if interval is None:
        return "no data"
    if interval[1] < threshold:
        return below
    if interval[0] >= threshold:
        return above
    return "undecided"
