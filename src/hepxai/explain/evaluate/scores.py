"""How good is an attribution? Scores against the simulator's truth and the model itself.

All scores are per event, vectorised over events, on the *lit* pixels (an unlit pixel is not a
hit; attribution on it says nothing about which hits mattered). Relevance is ``|value|`` unless
said otherwise.

* localization: share of relevance on truth-muon hits; precision at k (k = number of muon
  hits); AUROC of relevance separating muon hits from noise hits;
* faithfulness: deletion curves: switch lit pixels off in decreasing attribution order and
  track the prediction, against a random order; the score is the mean gap between the curves
  (in the output's units, GeV for pT): positive when the attribution finds the pixels that
  carry the prediction faster than chance;
* completeness: ``|sum(values) - (F(x) - F(baseline))|`` relative to ``|F(x) - F(baseline)|``;
* stability: Spearman correlation of the map with the map after a few extra noise hits,
  on the original lit pixels;
* agreement (convergence): Spearman correlation and top-k overlap between two methods.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from hepxai.core.errors import HepxaiError
from hepxai.explain.attribution.paths import Paths, evaluate_paths
from hepxai.explain.evaluate.ranks import masked_auroc, masked_spearman, top_k_mask
from hepxai.explain.types import Attribution

N_PIXELS = 9 * 384


def _flat(values: np.ndarray, name: str, n: int | None = None) -> np.ndarray:
    flat = np.asarray(values).reshape(len(values), -1)
    if flat.shape[1] != N_PIXELS or (n is not None and len(flat) != n):
        raise HepxaiError(f"{name} must be ({n or 'n'}, 9, 384) per event, got "
                          f"{np.asarray(values).shape}")
    return flat


def localization(values: np.ndarray, lit: np.ndarray, muon: np.ndarray) -> dict[str, np.ndarray]:
    """Localization scores per event.

    Parameters:
        values: attribution of one target ``(n, 9, 384)`` (or ``(n, 3456)``).
        lit: bool ``(n, 9, 384)``: the event's hits. muon: bool: its truth-muon hits.

    Returns ``muon_share``, ``precision_at_k``, ``auroc`` (each ``(n,)``, NaN where undefined:
    no lit pixel, no muon hit, or no noise hit for the AUROC).
    """
    a = np.abs(_flat(values, "values"))
    lit = _flat(lit, "lit", len(a)).astype(bool)
    muon = _flat(muon, "muon", len(a)).astype(bool) & lit
    total = np.where(lit, a, 0.0).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(muon, a, 0.0).sum(1) / total
    share = np.where((total > 0) & muon.any(1), share, np.nan)
    k = muon.sum(1)
    top = top_k_mask(a, lit, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(k > 0, (top & muon).sum(1) / k, np.nan)
    return {"muon_share": share, "precision_at_k": precision,
            "auroc": masked_auroc(a, muon, lit)}


def deletion_curves(forward: Callable[[torch.Tensor], torch.Tensor], images: np.ndarray,
                    order_scores: np.ndarray, batch_images: int = 512) -> list[np.ndarray]:
    """Prediction while lit pixels are switched off in decreasing ``order_scores``.

    ``forward``: images -> ``(m, 1)`` the explained output. Returns one array per event of
    length ``n_lit + 1``: the output with ``0, 1, ..., n_lit`` pixels removed.
    """
    flat_images = _flat(images, "images").astype(bool)
    scores = _flat(order_scores, "order scores", len(flat_images))
    # deletion in order o_1..o_n == the addition path of the reversed order, read backwards
    order = np.argsort(np.where(flat_images, scores, np.inf), axis=1, kind="stable")
    counts = flat_images.sum(1)
    # the first counts[i] entries of row i (its lit pixels by ascending score = reversed
    # deletion order), rows concatenated
    pixels = order[np.arange(order.shape[1])[None, :] < counts[:, None]].astype(np.int64)
    paths = Paths(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), pixels)
    outputs, _ = evaluate_paths(forward, paths, batch_images)
    starts = np.concatenate([[0], np.cumsum(counts + 1)])
    return [outputs[starts[i]:starts[i + 1], 0][::-1] for i in range(len(counts))]


def deletion_gap(attributed: list[np.ndarray], random: list[np.ndarray]) -> np.ndarray:
    """Mean over deletion steps of (random-order curve - attribution-order curve), per event."""
    return np.array([np.mean(r - a) if len(a) > 1 else np.nan
                     for a, r in zip(attributed, random, strict=True)])


def mean_curve(curves: list[np.ndarray], points: int = 21) -> np.ndarray:
    """Curves resampled on the fraction of removed pixels (0..1) and averaged: ``(points,)``.

    Each curve is taken relative to its own start (output with nothing removed).
    """
    grid = np.linspace(0, 1, points)
    resampled = [np.interp(grid, np.linspace(0, 1, len(c)), c - c[0]) for c in curves
                 if len(c) > 1]
    return np.mean(resampled, axis=0) if resampled else np.full(points, np.nan)


def relative_completeness(attribution: Attribution) -> np.ndarray:
    """``|sum - (F(x) - F(b))| / |F(x) - F(b)|`` per event and target, NaN when not defined."""
    if attribution.baseline_outputs is None:
        return np.full((attribution.n_events, len(attribution.targets)), np.nan)
    delta = np.abs(attribution.outputs - attribution.baseline_outputs)
    with np.errstate(invalid="ignore", divide="ignore"):
        return attribution.completeness_error() / delta


def agreement(a: np.ndarray, b: np.ndarray, lit: np.ndarray, k: np.ndarray | int = 10
              ) -> dict[str, np.ndarray]:
    """Agreement of two maps on the lit pixels, per event: ``spearman`` and ``top_k_overlap``
    (the fraction of the ``k`` most relevant lit pixels the two maps share; relevance ``|value|``).
    """
    a, b = np.abs(_flat(a, "a")), np.abs(_flat(b, "b", len(a)))
    lit = _flat(lit, "lit", len(a)).astype(bool)
    k = np.broadcast_to(np.asarray(k), (len(a),))
    top_a, top_b = top_k_mask(a, lit, k), top_k_mask(b, lit, k)
    size = np.minimum(k, lit.sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        overlap = np.where(size > 0, (top_a & top_b).sum(1) / size, np.nan)
    return {"spearman": masked_spearman(a, b, lit), "top_k_overlap": overlap}


def add_noise_hits(images: np.ndarray, n_hits: int, seeds: np.ndarray) -> np.ndarray:
    """Each image with ``n_hits`` extra hits on distinct unlit pixels (seeded per event)."""
    flat = _flat(images, "images").astype(bool).copy()
    for i, seed in enumerate(seeds):  # one draw per event
        free = np.flatnonzero(~flat[i])
        flat[i, np.random.default_rng(int(seed)).choice(free, n_hits, replace=False)] = True
    return flat.reshape(np.asarray(images).shape)
