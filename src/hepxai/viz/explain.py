"""Figures of any judging study: agreement heat maps, deletion curves, maps of attributions."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import TwoSlopeNorm

from hepxai.viz.style import save, use_style


def plot_agreement(summary: dict[str, Any], path: str | os.PathLike[str],
                   kind: str = "spearman") -> Path:
    """Pairwise agreement matrices (Spearman on lit pixels), one panel per event category."""
    use_style()
    matrices = summary["agreement"][kind]
    names = list(summary["scores"])
    n = len(matrices)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n + 1.5, 3.8), squeeze=False)
    image = None
    for ax, (category, matrix) in zip(axes[0], matrices.items(), strict=True):
        m = np.array(matrix, dtype=float)
        image = ax.imshow(m, cmap="RdBu_r", vmin=-1, vmax=1)
        for (i, j), value in np.ndenumerate(m):
            if np.isfinite(value):
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7)
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=8)
        ax.set_yticks(range(len(names)), names if ax is axes[0][0] else [], fontsize=8)
        ax.set_title(f"{category} ({summary['categories'].get(category, '')})"
                     if category != "all" else "all events", fontsize=10)
        ax.minorticks_off()
        ax.tick_params(length=0)
        ax.grid(False)
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8,
                 label="Spearman" if kind == "spearman" else "top-k overlap")
    return save(fig, path)


def plot_deletion_curves(summary: dict[str, Any], path: str | os.PathLike[str],
                         target: str = "pt", unit: str | None = None,
                         items: str = "hits") -> Path:
    """Mean prediction change while the items (lit pixels, nodes, features) are removed in each
    method's order (and at random), per category; ``unit`` of the output (default: GeV for
    pT)."""
    use_style()
    curves = summary["deletion_curves"]
    categories = list(next(iter(curves.values())))
    fig, axes = plt.subplots(1, len(categories), figsize=(3.6 * len(categories), 3.6),
                             squeeze=False, sharey=False)
    for ax, category in zip(axes[0], categories, strict=True):
        for method, per_category in curves.items():
            values = per_category.get(category)
            if values is None:
                continue
            fractions = summary.get("fractions")  # None: every step, on a 0..1 grid
            grid = np.asarray(fractions) if fractions else np.linspace(0, 1, len(values))
            style = {"color": "black", "ls": "--"} if method == "random" else {}
            ax.plot(grid, values, label=method, lw=1.5, **style)
        ax.set_title(category, fontsize=10)
        ax.set_xlabel(f"fraction of {items} removed", fontsize=9)
    unit = ("GeV" if target == "pt" else "") if unit is None else unit
    label = f"change of predicted {target}" + (f" [{unit}]" if unit else "")
    axes[0][0].set_ylabel(label, fontsize=9)
    axes[0][-1].legend(fontsize=7, loc="best")
    return save(fig, path)




def plot_maps(images: np.ndarray, truth: np.ndarray | None, attributions: dict[str, Any],
              rows: np.ndarray, target: Any, path: str | os.PathLike[str],
              title: str = "") -> Path:
    """Examples (rows of panels) x methods for any images: the input (summed over channels;
    truth items outlined in red) and each method's relevance of ``target`` per pixel
    (:meth:`~hepxai.explain.types.Attribution.items`; red raises, blue lowers the output), each
    panel with its colour bar."""
    use_style()
    methods = list(attributions)
    images = np.asarray(images, np.float64)
    images = images.sum(1) if images.ndim == 4 else images
    n_cols = 1 + len(methods)
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(2.6 * n_cols + 0.5,
                                                         1.9 * len(rows) + 0.6), squeeze=False)
    for r, row in enumerate(rows):
        ax = axes[r][0]
        shown = ax.imshow(images[row], aspect="auto", cmap="Greys", interpolation="nearest")
        if truth is not None:
            ys, xs = np.nonzero(np.asarray(truth)[row])
            ax.scatter(xs, ys, s=14, facecolors="none", edgecolors="red", linewidths=0.8)
        fig.colorbar(shown, ax=ax, fraction=0.05, pad=0.02)
        ax.set_ylabel(f"example {row}", fontsize=8)
        for c, method in enumerate(methods, start=1):
            ax = axes[r][c]
            values = attributions[method].items(target)[row]
            scale = float(np.abs(values).max()) or 1.0
            shown = ax.imshow(values, aspect="auto", cmap="RdBu_r", interpolation="nearest",
                              norm=TwoSlopeNorm(0.0, -scale, scale))
            fig.colorbar(shown, ax=ax, fraction=0.05, pad=0.02)
            if r == 0:
                ax.set_title(method, fontsize=9)
        for c in range(n_cols):
            axes[r][c].tick_params(labelsize=6)
    axes[0][0].set_title("input (truth in red)", fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel("column", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11, x=0.01, ha="left")
    fig.tight_layout()
    return save(fig, path)
