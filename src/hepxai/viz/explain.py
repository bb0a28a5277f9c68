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
    """Pairwise agreement matrices (Spearman on lit pixels), one panel per event category;
    each off-diagonal cell shows the mean and, when the summary has them, +- half the width of
    its 95 % bootstrap interval."""
    use_style()
    matrices = summary["agreement"][kind]
    intervals = summary.get("intervals", {}).get("agreement", {}).get(kind, {})
    names = list(summary["scores"])
    n = len(matrices)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n + 1.5, 3.8), squeeze=False)
    image = None
    for ax, (category, matrix) in zip(axes[0], matrices.items(), strict=True):
        m = np.array(matrix, dtype=float)
        image = ax.imshow(m, cmap="RdBu_r", vmin=-1, vmax=1)
        bounds = intervals.get(category)
        for (i, j), value in np.ndenumerate(m):
            if not np.isfinite(value):
                continue
            bound = bounds[i][j] if bounds is not None and i != j else None
            text = f"{value:.2f}" if bound is None else \
                f"{value:.2f}\n±{(bound[1] - bound[0]) / 2:.2f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7 if bound is None else 6)
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=8)
        ax.set_yticks(range(len(names)), names if ax is axes[0][0] else [], fontsize=8)
        ax.set_title(f"{category} ({summary['categories'].get(category, '')})"
                     if category != "all" else "all events", fontsize=10)
        ax.minorticks_off()
        ax.tick_params(length=0)
        ax.grid(False)
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8,
                 label="Spearman" if kind == "spearman" else "top-k overlap")
    if intervals:
        fig.text(0.01, 0.01, "± half the width of the 95 % bootstrap interval over the events",
                 fontsize=7)
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


def plot_sanity(summary: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """The sanity checks of :func:`hepxai.explain.judging.sanity.sanity_checks`: the mean
    Spearman similarity (band: its 95 % bootstrap interval) of each method's maps to the
    trained model's as layers are randomized, one panel per order (cascading: the top layer
    first, the randomized layers accumulating; independent: one layer at a time), the pass
    threshold dashed; and, when the summary has it, the shuffled-label model's similarity per
    method."""
    use_style()
    methods = summary["methods"]
    orders = [o for o in ("cascading", "independent")
              if any(o in per for per in methods.values())]
    labels = any("labels" in per for per in methods.values())
    panels = len(orders) + int(labels)
    fig, axes = plt.subplots(1, panels, figsize=(5.6 * panels, 5.0), squeeze=False,
                             constrained_layout=True)
    threshold = summary["threshold"]
    total = summary.get("n_examples")
    for ax, order in zip(axes[0], orders, strict=False):
        steps: list[str] = []
        for name, per in methods.items():
            if order not in per:
                continue
            result = per[order]
            steps = result["steps"]
            mean = np.array([np.nan if v is None else v
                             for v in result["similarity"]["spearman"]["mean"]], float)
            bounds = np.array([[np.nan, np.nan] if b is None else b
                               for b in result["similarity"]["spearman"]["interval"]], float)
            x = np.arange(1, len(steps) + 1)
            # a method run on a subset (GNNExplainer: one optimisation per example) says so
            subset = result.get("n_examples", total) != total
            line, = ax.plot(np.r_[0, x], np.r_[1.0, mean], marker="o", ms=3,
                            label=f"{name} ({result['verdict']}"
                                  + (f", {result['n_examples']} examples)" if subset else ")"))
            ax.fill_between(x, bounds[:, 0], bounds[:, 1], color=line.get_color(), alpha=0.2)
        ax.axhline(threshold, color="black", ls="--", lw=1, label=f"threshold {threshold}")
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_xticks(range(len(steps) + 1), ["trained", *steps], rotation=90, fontsize=7)
        ax.set_xlabel("randomized layer" + (" (cumulative, from the output down)"
                                            if order == "cascading" else " (one at a time)"),
                      fontsize=9)
        ax.set_ylabel("Spearman similarity to the trained map", fontsize=9)
        ax.tick_params(axis="y", labelsize=8)
        ax.set_ylim(-1.05, 1.05)
        ax.set_title(f"{order} randomization", fontsize=10)
        ax.legend(fontsize=7, loc="lower left")
    if labels:
        ax = axes[0][-1]
        names = [n for n, per in methods.items() if "labels" in per]
        result = [methods[n]["labels"]["similarity"]["spearman"] for n in names]
        mean = np.array([np.nan if r["mean"][0] is None else r["mean"][0] for r in result])
        bounds = np.array([[np.nan, np.nan] if r["interval"][0] is None else r["interval"][0]
                           for r in result], float)
        error = np.abs(np.stack([mean - bounds[:, 0], bounds[:, 1] - mean]))
        ax.bar(range(len(names)), mean, yerr=np.nan_to_num(error), capsize=3, color="#4477aa")
        ax.axhline(threshold, color="black", ls="--", lw=1)
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_xticks(range(len(names)),
                      [f"{n}\n({methods[n]['labels']['verdict']})" for n in names],
                      rotation=90, fontsize=7)
        ax.set_ylim(-1.05, 1.05)
        ax.set_ylabel("Spearman similarity to the trained map", fontsize=9)
        ax.tick_params(axis="y", labelsize=8)
        ax.set_title("model trained on shuffled labels", fontsize=10)
    fig.suptitle(f"Sanity checks ({summary.get('n_examples', '')} examples; mean, 95 % "
                 "bootstrap interval; threshold dashed)", fontsize=10)
    return save(fig, path)
