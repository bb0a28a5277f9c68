"""Do two methods agree? Per example, on the real items both explained: the Spearman
correlation of ``|a|`` and ``|b|`` and the overlap of their top-``k`` items. This is what makes
the study *convergent*: the thesis compared methods by eye, hepxai measures their agreement."""

from __future__ import annotations

import numpy as np

from hepxai.explain.judging.ranks import masked_spearman, top_k_mask


def agreement(a: np.ndarray, b: np.ndarray, real: np.ndarray, k: np.ndarray | int = 10
              ) -> dict[str, np.ndarray]:
    """Rows ``(n, m)`` of two maps and the real-item mask: ``spearman`` and ``top_k_overlap``
    (the fraction of the ``k`` most relevant real items the two maps share, of
    ``min(k, n_real)``), each ``(n,)``, NaN where undefined."""
    a, b = np.abs(np.asarray(a, np.float64)), np.abs(np.asarray(b, np.float64))
    real = np.asarray(real, bool)
    k = np.broadcast_to(np.asarray(k), (len(a),))
    top_a, top_b = top_k_mask(a, real, k), top_k_mask(b, real, k)
    size = np.minimum(k, real.sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        overlap = np.where(size > 0, (top_a & top_b).sum(1) / size, np.nan)
    return {"spearman": masked_spearman(a, b, real), "top_k_overlap": overlap}
