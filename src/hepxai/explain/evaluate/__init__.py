"""Judging explanations: localization against the simulator's truth, deletion faithfulness,
completeness, stability, and the agreement (convergence) between methods."""

from hepxai.explain.evaluate.scores import (
    agreement,
    deletion_curves,
    deletion_gap,
    localization,
    relative_completeness,
)
from hepxai.explain.evaluate.study import CATEGORIES, JudgingResult, judge, trigger_categories

__all__ = ["CATEGORIES", "JudgingResult", "agreement", "deletion_curves", "deletion_gap", "judge",
           "localization", "relative_completeness", "trigger_categories"]
