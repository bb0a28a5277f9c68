"""Judging explanations, as free functions in their own package (in the spirit of PyG's
``torch_geometric.explain.metric``): localization against a truth mask, deletion
faithfulness, completeness, stability, the agreement (convergence) between methods, and the
confusion categories the studies group examples by. :func:`judge` runs all of it for any
modality."""

from hepxai.explain.judging.agreement import agreement
from hepxai.explain.judging.categories import CATEGORIES, confusion_categories, selected
from hepxai.explain.judging.deletion import (
    FRACTIONS,
    deletion_gap,
    deletion_outputs,
    mean_curve,
    path_deletion_curves,
    removed_counts,
)
from hepxai.explain.judging.localization import localization
from hepxai.explain.judging.study import JudgingResult, judge, relative_completeness

__all__ = ["CATEGORIES", "FRACTIONS", "JudgingResult", "agreement", "confusion_categories",
           "deletion_gap", "deletion_outputs", "judge", "localization", "mean_curve",
           "path_deletion_curves", "relative_completeness", "removed_counts", "selected"]
