"""Training curves (thesis figure 7.1 for muons): training and validation metrics per epoch."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from hepxai.viz.style import save, use_style

MUON_PANELS = (("loss", "MAE loss (encoded targets)"), ("spread", "spread [GeV]"),
               ("efficiency_15", "efficiency at 15 GeV"))


def plot_training_curves(history: Sequence[dict[str, Any]], path: str | os.PathLike[str],
                         title: str = "",
                         panels: Sequence[tuple[str, str]] = MUON_PANELS) -> Path:
    """One panel per ``(key, label)``, training (``train_KEY``) and validation (``KEY``) per
    epoch; by default the muon panels: MAE loss, spread [GeV], efficiency at 15 GeV."""
    use_style()
    epochs = np.array([h["epoch"] for h in history])
    fig, axes = plt.subplots(1, len(panels), figsize=(16 / 3 * len(panels), 4.5),
                             gridspec_kw={"wspace": 0.35}, squeeze=False)
    axes = axes[0]
    for ax, (key, label) in zip(axes, panels, strict=True):
        for prefix, name, style in (("train_", "training", "o--"), ("", "validation", "o-")):
            values = [h.get(prefix + key) for h in history]
            ax.plot(epochs, [np.nan if v is None else v for v in values], style, ms=4,
                    label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        # whole epochs only, and a readable axis for a run of one epoch
        if len(epochs) <= 12:
            ax.set_xticks(epochs)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.xaxis.set_minor_locator(plt.NullLocator())
        ax.set_xlim(epochs.min() - 0.5, epochs.max() + 0.5)
        ax.margins(y=0.1)
        if key.startswith("efficiency"):
            _at_least(ax, 0.1, 0.0, 1.0)  # a constant efficiency is not drawn at 1e-2 scale
    axes[0].legend(fontsize=11)
    if title:
        fig.suptitle(title, fontsize=14, y=1.03)
    return save(fig, path)


def _at_least(ax, span: float, lowest: float, highest: float) -> None:
    """Widen the y axis to at least ``span`` around its data, within ``[lowest, highest]``
    (a fraction: never below 0 or above 1)."""
    lo, hi = ax.get_ylim()
    lo, hi = max(lo, lowest), min(hi, highest)
    if hi - lo >= span:
        ax.set_ylim(lo - 0.02 * span, hi + 0.02 * span)
        return
    middle = 0.5 * (lo + hi)
    lo, hi = max(lowest, middle - span / 2), min(highest, middle + span / 2)
    if hi - lo < span:  # against a bound: extend the other way
        lo, hi = (lowest, lowest + span) if lo == lowest else (highest - span, highest)
    ax.set_ylim(lo - 0.02 * span, hi + 0.02 * span)
