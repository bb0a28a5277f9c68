"""Model evaluation figures: row-normalised confusion matrices (thesis figure 7.2)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from hepxai.viz.style import save, use_style


def plot_confusion_matrices(matrices: Mapping[str, Sequence[Sequence[float]]],
                            threshold_gev: float, path: str | os.PathLike[str]) -> Path:
    """One panel per model: rows true class (selected, rejected), columns predicted."""
    use_style()
    n = len(matrices)
    fig, axes = plt.subplots(1, n, figsize=(4.3 * n + 1.2, 4.4), squeeze=False,
                             sharey=True)
    names = [f"> {threshold_gev:g} GeV", f"<= {threshold_gev:g} GeV"]
    shown = None
    for k, (ax, (label, matrix)) in enumerate(zip(axes[0], matrices.items(), strict=True)):
        m = np.asarray(matrix, dtype=float)
        shown = ax.imshow(m, cmap="Blues", vmin=0, vmax=1)
        for i in range(2):
            for j in range(2):
                ax.text(j, i, f"{m[i, j]:.1%}", ha="center", va="center", fontsize=14,
                        color="white" if m[i, j] > 0.5 else "black")
        ax.set_xticks([0, 1], names, fontsize=11)
        ax.set_yticks([0, 1], names, fontsize=11)
        ax.minorticks_off()
        ax.set_xlabel(r"predicted $p_T$", fontsize=12)
        if k == 0:  # one label for the shared axis: none running into the neighbour panel
            ax.set_ylabel(r"true $p_T$", fontsize=12)
        ax.set_title(label, fontsize=11)
    fig.tight_layout()
    if shown is not None:
        bar = fig.colorbar(shown, ax=list(axes[0]), fraction=0.02, pad=0.01)
        bar.set_label("fraction of the true class", fontsize=11)
    return save(fig, path)
