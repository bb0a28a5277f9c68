"""Does an attribution sit on the truth? Scores per example, vectorised over examples, on the
*real* items only (lit pixels, nodes; an unlit pixel is not a hit, relevance on it says
nothing about which hits mattered). Relevance is ``|value|``.

Rows are ``(n, m)`` arrays: one example per row, its items in the columns (dense images
flattened, ragged graphs padded by :func:`hepxai.core.ragged.pad`), with a bool mask of the
real items.
"""

from __future__ import annotations

import numpy as np

from hepxai.core.errors import HepxaiError
from hepxai.explain.judging.ranks import masked_auroc, top_k_mask


def localization(values: np.ndarray, real: np.ndarray, truth: np.ndarray,
                 name: str = "truth") -> dict[str, np.ndarray]:
    """Per example ``(n,)``:

    * ``{name}_share``: the share of relevance on truth items (NaN without relevance or
      without a truth item);
    * ``base_rate``: the share of truth items among the real items, what a blind, uniform map
      scores;
    * ``lift``: ``{name}_share - base_rate``, the example's own gain over a blind map (its mean
      and interval say whether a method beats a blind map: a paired difference, which the two
      means' separate intervals cannot);
    * ``precision_at_k``: the share of truth items among the ``k`` most relevant real items,
      ``k`` the number of truth items;
    * ``auroc``: of relevance separating truth from other real items (NaN without both).
    """
    a = np.abs(np.asarray(values, np.float64))
    real = np.asarray(real, bool)
    truth = np.asarray(truth, bool)
    if not a.shape == real.shape == truth.shape or a.ndim != 2:
        raise HepxaiError(f"values {a.shape}, real items {real.shape} and truth {truth.shape} "
                          "must be the same (n_examples, n_items) rows")
    truth = truth & real
    total = np.where(real, a, 0.0).sum(1)
    n_truth, n_real = truth.sum(1), real.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(truth, a, 0.0).sum(1) / total
        base = n_truth / n_real
        top = top_k_mask(a, real, n_truth)
        precision = (top & truth).sum(1) / n_truth
    share = np.where((total > 0) & (n_truth > 0), share, np.nan)
    base = np.where(n_real > 0, base, np.nan)
    return {f"{name}_share": share, "base_rate": base, "lift": share - base,
            "precision_at_k": np.where(n_truth > 0, precision, np.nan),
            "auroc": masked_auroc(a, truth, real)}
