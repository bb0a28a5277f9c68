"""The judging study: every method on the same events, scored and compared, per event category.

Categories follow the trigger decision at 15 GeV on the validation events (TP: true and
predicted pT above threshold; FN: true above, predicted not; FP; TN) plus ``only-noise`` events
(no muon at all). The result is a JSON-ready summary (means per method, category and score;
the pairwise agreement matrices) and the per-event arrays for figures.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hepxai.core.errors import HepxaiError
from hepxai.core.progress import progress
from hepxai.explain.attribution.base import ImageAttributionMethod
from hepxai.explain.attribution.binary_path import event_seeds
from hepxai.explain.evaluate.scores import (
    add_noise_hits,
    agreement,
    deletion_curves,
    deletion_gap,
    localization,
    masked_spearman,
    mean_curve,
    relative_completeness,
)
from hepxai.explain.types import Attribution

CATEGORIES = ("TP", "FN", "FP", "TN", "only-noise")
SCORES = ("muon_share", "precision_at_k", "auroc", "deletion_gap", "completeness_error",
          "stability")


def trigger_categories(pt_true: np.ndarray, pt_pred: np.ndarray, threshold: float = 15.0,
                       only_noise: np.ndarray | None = None) -> np.ndarray:
    """TP / FN / FP / TN at ``threshold`` (strictly above selects), ``only-noise`` where flagged."""
    above, selected = np.asarray(pt_true) > threshold, np.asarray(pt_pred) > threshold
    category = np.where(above, np.where(selected, "TP", "FN"), np.where(selected, "FP", "TN"))
    if only_noise is not None:
        category = np.where(only_noise, "only-noise", category)
    return category.astype(object)


@dataclass
class JudgingResult:
    """Per-event scores ``scores[method][score]`` ``(n,)``, agreement ``pairs[(m1, m2)][kind]``,
    mean deletion curves per method and category, and the attributions themselves."""

    categories: np.ndarray
    scores: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    pairs: dict[tuple[str, str], dict[str, np.ndarray]] = field(default_factory=dict)
    curves: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    attributions: dict[str, Attribution] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Means (NaN-aware) per method, category and score, and the agreement matrices."""
        methods = list(self.scores)
        out: dict[str, Any] = {"categories": {c: int((self.categories == c).sum())
                                              for c in CATEGORIES},
                               "methods": methods, "scores": {}, "agreement": {},
                               "deletion_curves": self.curves}
        for method, per_score in self.scores.items():
            out["scores"][method] = {
                category: {name: _nanmean(values[self.categories == category])
                           for name, values in per_score.items()}
                for category in ("all", *CATEGORIES)
                if category == "all" or (self.categories == category).any()}
            for name, values in per_score.items():
                out["scores"][method]["all"][name] = _nanmean(values)
        for kind in ("spearman", "top_k_overlap"):
            out["agreement"][kind] = {}
            for category in ("all", *CATEGORIES):
                rows = np.ones(len(self.categories), bool) if category == "all" \
                    else self.categories == category
                if not rows.any():
                    continue
                matrix = np.eye(len(methods))
                for (a, b), values in self.pairs.items():
                    i, j = methods.index(a), methods.index(b)
                    matrix[i, j] = matrix[j, i] = _nanmean(values[kind][rows])
                out["agreement"][kind][category] = matrix.tolist()
        return out


def _nanmean(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def _curves_by_category(curves: list[np.ndarray], categories: np.ndarray
                        ) -> dict[str, list[float]]:
    return {c: mean_curve([curves[i] for i in np.flatnonzero(categories == c)]).tolist()
            for c in CATEGORIES if (categories == c).any()}


def judge(methods: dict[str, ImageAttributionMethod], images: np.ndarray, muon: np.ndarray,
          categories: np.ndarray, event_ids: np.ndarray, target: str = "pt",
          stability_hits: int = 3, seed: int = 0) -> JudgingResult:
    """Explain ``images`` with every method and score everything.

    Parameters:
        methods: name -> a constructed method (all on the same model).
        images: bool ``(n, 9, 384)`` hit maps; muon: bool ``(n, 9, 384)`` truth-muon hits.
        categories: ``(n,)`` labels from :func:`trigger_categories`.
        event_ids: ``(n,)`` ids (seed the random orders and noise per event).
        target: the output the scores refer to (``pt`` or ``eta``).
        stability_hits: extra noise hits for the stability score (0 skips it).
    """
    if len(images) == 0:
        raise HepxaiError("no events to judge; the selection is empty")
    if not methods:
        raise HepxaiError("no explanation methods given; name at least one")
    images = np.asarray(images).astype(bool)
    lit = images.reshape(len(images), -1)
    result = JudgingResult(categories=np.asarray(categories, dtype=object))
    first = next(iter(methods.values()))
    column = first.targets.index(target) if target in first.targets else None
    if column is None:
        raise HepxaiError(f"the methods do not explain {target!r}; explain it or judge "
                          f"{first.targets[0]!r}")

    def forward(x):
        return first.outputs(x)[:, [column]]

    rng_scores = np.stack([np.random.default_rng(int(s)).random(lit.shape[1])
                           for s in event_seeds(seed + 17, event_ids)])
    random_curves = deletion_curves(forward, images, rng_scores)
    noisy = add_noise_hits(images, stability_hits, event_seeds(seed + 29, event_ids)) \
        if stability_hits else None
    for name, method in progress(methods.items(), desc="judging methods", unit="method"):
        attribution = method.explain(images[:, None].astype(np.float32), event_ids)
        result.attributions[name] = attribution
        values = attribution.for_target(target).reshape(len(images), -1)
        scores = localization(values, lit, muon)
        curves = deletion_curves(forward, images, values)
        scores["deletion_gap"] = deletion_gap(curves, random_curves)
        scores["completeness_error"] = relative_completeness(attribution)[
            :, attribution.target_index(target)]
        if noisy is not None:
            again = method.explain(noisy[:, None].astype(np.float32), event_ids)
            scores["stability"] = masked_spearman(
                np.abs(values), np.abs(again.for_target(target).reshape(len(images), -1)), lit)
        result.scores[name] = scores
        result.curves[name] = _curves_by_category(curves, result.categories)
    result.curves["random"] = _curves_by_category(random_curves, result.categories)
    k = np.maximum(muon.reshape(len(images), -1).sum(1), 1)
    for a, b in itertools.combinations(methods, 2):
        result.pairs[(a, b)] = agreement(result.attributions[a].for_target(target),
                                         result.attributions[b].for_target(target), lit, k)
    return result
