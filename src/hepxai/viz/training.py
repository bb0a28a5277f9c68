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
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.xaxis.set_minor_locator(MaxNLocator(integer=True))
        ax.margins(x=0.08, y=0.1)
    axes[0].legend(fontsize=11)
    if title:
        fig.suptitle(title, fontsize=14, y=1.03)
    return save(fig, path)
