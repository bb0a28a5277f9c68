"""SmoothGrad over noisy copies x noise rate on one event (thesis figure 6.3): how the map of
binary-path IG averaged over salt-and-pepper copies changes with the number of copies and the
noise level, and how far each cell is from the most-averaged map of its noise level.

Each cell is :class:`~hepxai.explain.SmoothGrad` over the thesis-mode
:class:`~hepxai.explain.BinaryPathIG` (the study's ``smoothgrad`` method), with the study's
seed; its agreement is the Spearman correlation, over the event's lit pixels, with the cell of
the most copies at the same rate (1 there by construction). At rate 0 every copy is the event
itself, so every cell is binary IG and agrees perfectly: the test of this module.

Example::

    grid = smoothgrad_grid(model, events.images[0], copies=(10, 50, 100),
                           rates=(0.01, 0.02, 0.05), target="pt")
    plot_smoothgrad_grid(events.images[0], grid, "grid.png")
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hepxai.core.errors import HepxaiError


@dataclass
class SmoothGradGrid:
    """``maps[(copies, rate)]`` ``(H, W)`` and ``agreement[(copies, rate)]`` (Spearman over the
    lit pixels with the map of the most copies at that rate)."""

    copies: tuple[int, ...]
    rates: tuple[float, ...]
    maps: dict[tuple[int, float], np.ndarray]
    agreement: dict[tuple[int, float], float]
    target: str

    def to_json(self) -> dict:
        return {"copies": list(self.copies), "rates": list(self.rates), "target": self.target,
                "agreement": [{"copies": n, "rate": r, "spearman": self.agreement[(n, r)]}
                              for n in self.copies for r in self.rates]}


def smoothgrad_grid(model, image: np.ndarray, *, copies: tuple[int, ...],
                    rates: tuple[float, ...], target: str = "pt", seed: int = 0,
                    event_id: int = 0) -> SmoothGradGrid:
    """SmoothGrad maps of ``image`` ``(H, W)`` (bool) for every ``copies`` x ``rates`` cell,
    seeded as the study seeds the event ``event_id``."""
    from hepxai.explain.judging.ranks import masked_spearman
    from hepxai.usecases.muon.study import build_method

    copies = tuple(sorted(set(int(n) for n in copies)))
    rates = tuple(sorted(set(float(r) for r in rates)))
    if not copies or min(copies) < 1:
        raise HepxaiError(f"the grid's copies must be at least 1, got {copies}")
    if not rates or not all(0 <= r <= 1 for r in rates):
        raise HepxaiError(f"the grid's noise rates must lie in [0, 1], got {rates}")
    image = np.asarray(image, bool)
    x = torch.from_numpy(image[None, None].astype(np.float32))
    maps = {}
    for n in copies:
        for r in rates:
            method = build_method(model, "smoothgrad", {"n_samples": n, "rate": r}, seed)
            maps[(n, r)] = method.attribute(x, target=[target], ids=[event_id]) \
                .items(target)[0].astype(np.float64)
    lit = image.reshape(1, -1)
    agreement = {(n, r): float(masked_spearman(np.abs(maps[(n, r)]).reshape(1, -1),
                                               np.abs(maps[(copies[-1], r)]).reshape(1, -1),
                                               lit)[0])
                 for n in copies for r in rates}
    return SmoothGradGrid(copies, rates, maps, agreement, target)


def plot_smoothgrad_grid(image: np.ndarray, grid: SmoothGradGrid,
                         path: str | os.PathLike[str], title: str = "") -> Path:
    """Rows: noisy copies; columns: noise rates; each map on its own symmetric colour scale
    with a colour bar, titled with its agreement with the most-copies map of its rate."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    from hepxai.viz.style import save, use_style

    use_style()
    n_rows, n_cols = len(grid.copies), len(grid.rates)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(6.2 * n_cols, 1.5 * n_rows + 1.0),
                             squeeze=False)
    for i, n in enumerate(grid.copies):
        for j, r in enumerate(grid.rates):
            values = grid.maps[(n, r)]
            scale = float(np.abs(values).max()) or 1.0
            ax = axes[i, j]
            shown = ax.imshow(values, aspect="auto", cmap="RdBu_r", interpolation="nearest",
                              origin="lower", norm=TwoSlopeNorm(0.0, -scale, scale))
            bar = fig.colorbar(shown, ax=ax, pad=0.01, fraction=0.03)
            bar.ax.tick_params(labelsize=6)
            bar.ax.yaxis.get_offset_text().set_fontsize(6)
            ax.set_title(f"{n} copies, rate {r:g}: Spearman {grid.agreement[(n, r)]:.2f} with "
                         f"{grid.copies[-1]} copies", fontsize=8, loc="left")
            ax.set_yticks([0, image.shape[0] - 1])
            ax.tick_params(labelsize=7)
            ax.set_xticks(np.arange(0, image.shape[1] + 1, 128) if i == n_rows - 1 else [])
            if j == 0:
                ax.set_ylabel("layer", fontsize=8)
            if i == n_rows - 1:
                ax.set_xlabel("strip", fontsize=8)
    fig.suptitle(title or f"SmoothGrad of binary IG ({grid.target}) over copies x noise rate",
                 fontsize=11, x=0.01, ha="left")
    fig.tight_layout()
    return save(fig, path)
