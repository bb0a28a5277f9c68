"""Metrics that judge the models of each use case."""

from hepxai.metrics.trigger import (
    MetricInputError,
    Resolution,
    TurnOn,
    classification_report,
    clopper_pearson,
    efficiency,
    fake_rate,
    format_classification_report,
    mae,
    resolution,
    selected_by,
    selection_confusion,
    spread,
    trigger_summary,
    turn_on,
)

__all__ = [
    "MetricInputError",
    "Resolution",
    "TurnOn",
    "classification_report",
    "clopper_pearson",
    "efficiency",
    "fake_rate",
    "format_classification_report",
    "mae",
    "resolution",
    "selected_by",
    "selection_confusion",
    "spread",
    "trigger_summary",
    "turn_on",
]
