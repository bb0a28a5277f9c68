"""Figures of the muon data (label distributions and example events, thesis chapter 5) and of
the attribution study (galleries of hit maps and their attributions)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import TwoSlopeNorm

from hepxai.viz.style import save, use_style


def plot_label_distributions(file, path: str | os.PathLike[str]) -> Path:
    """pT, |eta| and number of hits of a split (``MuonFile``)."""
    use_style()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    hits = np.diff(np.asarray(file.images.offsets))
    for ax, values, label, bins in ((axes[0], file.labels["pt"], "true pT [GeV]", 60),
                                    (axes[1], file.labels["eta"], "true |eta|", 50),
                                    (axes[2], hits, "lit pixels per event", 50)):
        ax.hist(values, bins=bins, histtype="stepfilled", alpha=0.7, color="#4a7ab5")
        ax.set_xlabel(label)
        ax.set_ylabel("events")
    axes[0].axvline(15, ls="--", color="black", lw=1)
    return save(fig, path)


def plot_example_events(file, path: str | os.PathLike[str], n: int = 3) -> Path:
    """``n`` events with noise (muon hits red, noise black) and their denoised truth image."""
    use_style()
    rows = np.arange(min(n, len(file)))
    images = file.images.to_dense(rows).astype(bool)
    truth = file.truth.to_dense(rows).astype(bool) if file.truth is not None \
        else np.zeros_like(images)
    fig, axes = plt.subplots(2 * len(rows), 1, figsize=(13, 1.3 * 2 * len(rows) + 0.4))
    for k, row in enumerate(rows):
        for j, (image, name) in enumerate(((images[k], "with noise"),
                                           (truth[k], "denoised"))):
            display = np.ones((*image.shape, 3))
            display[image] = (0, 0, 0)
            display[image & truth[k]] = (0.85, 0.1, 0.1)
            ax = axes[2 * k + j]
            ax.imshow(display, aspect="auto", interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_title(f"event {row}: pT {file.labels['pt'][row]:.1f} GeV, "
                             f"|eta| {file.labels['eta'][row]:.2f}", fontsize=10, loc="left")
            ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    fig.subplots_adjust(hspace=0.4, left=0.1)
    return save(fig, path)


def plot_gallery(events: Any, attributions: dict[str, Any], rows: np.ndarray, target: str,
                 path: str | os.PathLike[str], title: str = "") -> Path:
    """Events (rows of panels) x methods: the hit map (muon hits red, noise black) and each
    method's map of ``target`` (red raises, blue lowers the prediction)."""
    use_style()
    methods = list(attributions)
    n_rows, n_cols = len(rows), 1 + len(methods)
    fig, axes = plt.subplots(n_rows * n_cols, 1, figsize=(13, 0.95 * n_rows * n_cols + 0.6),
                             squeeze=False)
    for r, row in enumerate(rows):
        image, truth = events.images[row], events.truth[row]
        ax = axes[r * n_cols][0]
        display = np.zeros((*image.shape, 3)) + 1.0
        display[image & ~truth] = (0, 0, 0)
        display[image & truth] = (0.85, 0.1, 0.1)
        ax.imshow(display, aspect="auto", interpolation="nearest")
        pt, eta = events.labels[row]
        ax.set_title(f"event {events.split[row]}:{events.ids[row]}  true pT {pt:.1f} GeV, "
                     f"|eta| {eta:.2f}; predicted {events.predictions[row][0]:.1f} GeV, "
                     f"{events.predictions[row][1]:.2f}", fontsize=9, loc="left")
        for c, method in enumerate(methods, start=1):
            ax = axes[r * n_cols + c][0]
            values = attributions[method].items(target)[row]
            scale = float(np.abs(values).max()) or 1.0
            ax.imshow(values, aspect="auto", cmap="RdBu_r", interpolation="nearest",
                      norm=TwoSlopeNorm(0.0, -scale, scale))
            ax.set_ylabel(method, rotation=0, ha="right", va="center", fontsize=8)
        for c in range(n_cols):
            axes[r * n_cols + c][0].set_xticks([])
            axes[r * n_cols + c][0].set_yticks([])
    axes[0][0].figure.suptitle(title, fontsize=11, x=0.01, ha="left")
    fig.subplots_adjust(hspace=0.35, left=0.12)
    return save(fig, path)
