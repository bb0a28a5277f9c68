"""Decision-flow figures of the soft decision tree (thesis figure 7.6) and its leaf usage."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import TwoSlopeNorm
from matplotlib.lines import Line2D

from hepxai.explain.types import TreePath
from hepxai.viz.style import save, use_style

ON_PATH, OFF_PATH = "#1a9641", "#d7191c"


def _hits(ax, image: np.ndarray, truth: np.ndarray | None, title: str) -> None:
    display = np.ones((*image.shape, 3))
    display[image.astype(bool)] = (0, 0, 0)
    if truth is not None:
        display[image.astype(bool) & truth.astype(bool)] = (0.85, 0.1, 0.1)
    ax.imshow(display, aspect="auto", interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.minorticks_off()


def plot_decision_flow(path: TreePath, i: int, image: np.ndarray, truth: np.ndarray | None,
                       feature_maps: list[np.ndarray], labels: tuple[float, float] | None,
                       out: str | os.PathLike[str]) -> Path:
    """Thesis figure 7.6 for event ``i`` of ``path`` (which must hold node relevance).

    ``image``/``truth``: ``(9, 384)`` hits and truth-muon hits (denoised image);
    ``feature_maps``: the three convolution blocks' channel-averaged maps (2-D each).
    """
    use_style()
    depth = path.depth
    fig = plt.figure(figsize=(26, 15))
    back = fig.add_axes((0, 0, 1, 1), zorder=-1)
    back.set_xlim(0, 1)
    back.set_ylim(0, 1)
    back.axis("off")
    pt_hat, eta_hat = path.outputs[i]
    title = f"predicted pT {pt_hat:.1f} GeV, |eta| {eta_hat:.2f}"
    if labels is not None:
        title = f"true pT {labels[0]:.1f} GeV, |eta| {labels[1]:.2f};  " + title
    fig.suptitle(title, fontsize=16, y=0.995)

    # top band: input, denoised input, the three convolution feature maps
    panels = [("input (muon hits red)", None), ("denoised (truth muon hits)", None)] + \
        [(f"conv block {k + 1} (channel mean)", fmap) for k, fmap in enumerate(feature_maps[:3])]
    width = 0.94 / len(panels)
    for k, (name, fmap) in enumerate(panels):
        ax = fig.add_axes((0.03 + k * width, 0.905, width - 0.015, 0.05))
        if k == 0:
            _hits(ax, image, truth, name)
        elif k == 1:
            _hits(ax, truth if truth is not None else np.zeros_like(image), None, name)
        else:
            ax.imshow(fmap, aspect="auto", cmap="viridis", interpolation="nearest")
            ax.set_title(name, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.minorticks_off()

    # the tree: inner nodes level by level, relevance image + colour bar each
    on_path = set(path.max_probability_path[i].tolist())
    best_leaf = int(path.best_leaf[i])
    top, bottom = 0.83, 0.17
    level_y = np.linspace(top, bottom + 0.07, depth)
    centres: dict[int, tuple[float, float, float]] = {}
    relevance = path.node_relevance[i] if path.node_relevance is not None else None
    for level in range(depth):
        count = 2**level
        w = min(0.8 / count, 0.2)
        h = 0.055
        for j in range(count):
            node = count - 1 + j
            cx = 0.975 * (j + 0.5) / count  # room for the last colour bar's labels
            ax = fig.add_axes((cx - w / 2, level_y[level] - h / 2, w * 0.9, h))
            if relevance is not None:
                scale = float(np.abs(relevance[node]).max()) or 1.0
                im = ax.imshow(relevance[node], aspect="auto", cmap="RdBu_r",
                               interpolation="nearest", norm=TwoSlopeNorm(0, -scale, scale))
                cax = fig.add_axes((cx - w / 2 + w * 0.91, level_y[level] - h / 2, 0.003, h))
                bar = fig.colorbar(im, cax=cax, ticks=[-scale, 0, scale])
                bar.ax.minorticks_off()  # the HEP style's minor ticks cost most of the drawing
                bar.ax.tick_params(labelsize=5, length=1)
                bar.ax.yaxis.get_offset_text().set_fontsize(5)
            p_left = path.branch_probabilities[i, node]
            colour = ON_PATH if node in on_path else OFF_PATH
            ax.set_title(f"node {node}: left {p_left:.0%}", fontsize=7 if level > 2 else 9,
                         color=colour, pad=2)
            for spine in ax.spines.values():
                spine.set_edgecolor(colour)
                spine.set_linewidth(2.5 if node in on_path else 0.8)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.minorticks_off()
            centres[node] = (cx, level_y[level] + h / 2 + 0.012, level_y[level] - h / 2)

    # leaves: probability, pT and eta
    n_leaves = 2**depth
    leaf_y = bottom - 0.02
    for leaf in range(n_leaves):
        cx = 0.975 * (leaf + 0.5) / n_leaves
        p = path.leaf_probabilities[i, leaf]
        pt, eta = path.leaf_values[leaf][:2]
        colour = ON_PATH if leaf == best_leaf else "#444444"
        back.text(cx, leaf_y, f"leaf {leaf}\n{p:.1%}\n{pt:.1f} GeV\neta {eta:.2f}",
                  ha="center", va="top", fontsize=7.5, color=colour,
                  fontweight="bold" if leaf == best_leaf else "normal",
                  bbox={"boxstyle": "round,pad=0.2", "fc": "white",
                        "ec": colour, "lw": 1.5 if leaf == best_leaf else 0.5})
        centres[n_leaves - 1 + leaf] = (cx, leaf_y + 0.005, leaf_y)

    # edges: green along the maximum-probability path, red elsewhere
    for node in range(n_leaves - 1):
        x0, _, y0 = centres[node]
        for child in (2 * node + 1, 2 * node + 2):
            x1, y1, _ = centres[child]
            on = node in on_path and (child in on_path or child - (n_leaves - 1) == best_leaf)
            back.add_line(Line2D([x0, x1], [y0, y1], color=ON_PATH if on else OFF_PATH,
                                 lw=3 if on else 0.6, alpha=1 if on else 0.5))
    back.text(0.01, 0.01, "node images: gradient x input of the node's decision (red pushes "
              "left); green: maximum-probability path", fontsize=9)
    return save(fig, out, tight=False)  # every axes is placed by hand inside the figure


def plot_leaf_usage(path: TreePath, true_pt: np.ndarray, out: str | os.PathLike[str]) -> Path:
    """What each leaf learned: how many events pick it (most probable leaf), their mean true
    pT against the leaf's own pT value, and the mean reach probability."""
    use_style()
    n_leaves = path.leaf_probabilities.shape[1]
    best = path.best_leaf
    usage = np.bincount(best, minlength=n_leaves)
    with np.errstate(invalid="ignore"):
        mean_true = np.bincount(best, weights=true_pt, minlength=n_leaves) / usage
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(12, 7), sharex=True)
    leaves = np.arange(n_leaves)
    ax1.bar(leaves, usage / max(len(best), 1), color="#4a7ab5", label="most probable leaf")
    ax1.plot(leaves, path.leaf_probabilities.mean(0), "o", color="black", ms=4,
             label="mean reach probability")
    ax1.set_ylabel("fraction of events")
    ax1.legend(fontsize=10)
    ax2.plot(leaves, path.leaf_values[:, 0], "s", color=ON_PATH, label="leaf value pT")
    ax2.plot(leaves, mean_true, "o", color="black", label="mean true pT of its events")
    ax2.set_ylabel("pT [GeV]")
    ax2.set_xlabel("leaf")
    ax2.legend(fontsize=10)
    return save(fig, out)
