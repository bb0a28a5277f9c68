"""Figures of the muon data: label distributions and example events (thesis chapter 5)."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

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
