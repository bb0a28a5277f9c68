"""Row-wise rank statistics over a subset of each row (the real items of each example: lit
pixels, nodes), vectorised.

Events have different numbers of lit pixels; rather than loop over events, every row is ranked
whole with the unselected entries pushed below all others, and their ranks are subtracted.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def masked_ranks(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Average ranks (1 = smallest) of ``values`` among the ``mask``-ed entries of each row.

    ``values``, ``mask``: ``(n, m)``. Entries outside the mask get rank 0.
    """
    pushed = np.where(mask, values, -np.inf)
    ranks = rankdata(pushed, axis=1)
    below = (~mask).sum(1, keepdims=True)
    return np.where(mask, ranks - below, 0.0)


def masked_spearman(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Spearman correlation of ``a`` and ``b`` over the masked entries of each row: ``(n,)``.

    NaN where a row has fewer than two masked entries or either side is constant.
    """
    ra, rb = masked_ranks(a, mask), masked_ranks(b, mask)
    n = mask.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ma = ra.sum(1) / n
        mb = rb.sum(1) / n
        da = np.where(mask, ra - ma[:, None], 0.0)
        db = np.where(mask, rb - mb[:, None], 0.0)
        r = (da * db).sum(1) / np.sqrt((da**2).sum(1) * (db**2).sum(1))
    return np.where(n >= 2, r, np.nan)


def top_k_mask(values: np.ndarray, mask: np.ndarray, k: np.ndarray) -> np.ndarray:
    """The ``k[i]`` largest masked entries of each row, ties broken by position: bool ``(n, m)``."""
    order = np.argsort(np.where(mask, -values, np.inf), axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(values.shape[1])[None, :].repeat(len(values), 0),
                      axis=1)
    return (rank < np.minimum(k, mask.sum(1))[:, None]) & mask


def masked_auroc(scores: np.ndarray, positive: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """AUROC of ``scores`` separating positive from negative masked entries, per row.

    Mann-Whitney with average ranks for ties (equal to scikit-learn's ``roc_auc_score``);
    NaN where a row lacks positives or negatives.
    """
    ranks = masked_ranks(scores, mask)
    n_pos = (positive & mask).sum(1)
    n_neg = mask.sum(1) - n_pos
    with np.errstate(invalid="ignore", divide="ignore"):
        u = np.where(positive & mask, ranks, 0.0).sum(1) - n_pos * (n_pos + 1) / 2
        auc = u / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)
