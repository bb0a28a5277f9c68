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


def plot_label_distributions(files: Any, path: str | os.PathLike[str]) -> Path:
    """pT, |eta| and lit pixels per event of each split (``{split: MuonFile}``, or one
    ``MuonFile``), overlaid as normalised histograms on common bins (thesis table 5.1: the
    training and validation samples follow the same distributions)."""
    use_style()
    files = files if isinstance(files, dict) else {"": files}
    labelled = {split: f for split, f in files.items() if split != "noise"}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    columns = (("pt", "true pT [GeV]", "density [1/GeV]"), ("eta", "true |eta|", "density"),
               ("hits", "lit pixels per event", "density [1/pixel]"))
    for ax, (key, label, unit) in zip(axes, columns, strict=True):
        chosen = files if key == "hits" else labelled
        values = {split: np.diff(np.asarray(f.images.offsets)) if key == "hits"
                  else np.asarray(f.labels[key]) for split, f in chosen.items()}
        everything = np.concatenate(list(values.values()))
        bins = np.histogram_bin_edges(everything, bins=50)
        for split, v in values.items():
            ax.hist(v, bins=bins, density=True, histtype="step", lw=1.6,
                    label=f"{split} ({len(v):,})" if split else None)
        ax.set_xlabel(label)
        ax.set_ylabel(f"normalised {unit}")
        if "" not in values:
            ax.legend(fontsize=8)
    axes[0].axvline(15, ls="--", color="black", lw=1)
    fig.tight_layout()
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
            ax.imshow(display, aspect="auto", interpolation="nearest", origin="lower")
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
    method's map of ``target`` (red raises, blue lowers the prediction), each map on its own
    symmetric colour scale with its colour bar; layers up, strips across."""
    use_style()
    methods = list(attributions)
    n_rows, n_cols = len(rows), 1 + len(methods)
    fig, axes = plt.subplots(n_rows * n_cols, 2, figsize=(13.5, 1.05 * n_rows * n_cols + 0.8),
                             squeeze=False, gridspec_kw={"width_ratios": [80, 1]})
    for r, row in enumerate(rows):
        image, truth = events.images[row], events.truth[row]
        ax = axes[r * n_cols][0]
        display = np.zeros((*image.shape, 3)) + 1.0
        display[image & ~truth] = (0, 0, 0)
        display[image & truth] = (0.85, 0.1, 0.1)
        ax.imshow(display, aspect="auto", interpolation="nearest", origin="lower")
        ax.set_ylabel("hits", rotation=0, ha="right", va="center", fontsize=8)
        axes[r * n_cols][1].axis("off")
        pt, eta = events.labels[row]
        ax.set_title(f"event {events.split[row]}:{events.ids[row]}  true pT {pt:.1f} GeV, "
                     f"|eta| {eta:.2f}; predicted {events.predictions[row][0]:.1f} GeV, "
                     f"{events.predictions[row][1]:.2f}", fontsize=9, loc="left")
        for c, method in enumerate(methods, start=1):
            ax = axes[r * n_cols + c][0]
            values = attributions[method].items(target)[row]
            scale = float(np.abs(values).max()) or 1.0
            shown = ax.imshow(values, aspect="auto", cmap="RdBu_r", interpolation="nearest",
                              origin="lower", norm=TwoSlopeNorm(0.0, -scale, scale))
            ax.set_ylabel(method, rotation=0, ha="right", va="center", fontsize=8)
            bar = fig.colorbar(shown, cax=axes[r * n_cols + c][1])
            bar.ax.tick_params(labelsize=6)
            bar.set_ticks([-scale, 0.0, scale])
            bar.ax.set_yticklabels([f"{-scale:.2g}", "0", f"{scale:.2g}"])
        for c in range(n_cols):
            ax = axes[r * n_cols + c][0]
            ax.set_yticks([0, image.shape[0] - 1])
            ax.tick_params(axis="y", labelsize=6)
            last = r == n_rows - 1 and c == n_cols - 1
            ax.set_xticks(np.arange(0, image.shape[1] + 1, 64) if last else [])
    axes[-1][0].set_xlabel("strip (layers 0 to 8 bottom to top; colour bars: relevance of "
                           f"{target} per pixel)", fontsize=9)
    fig.suptitle(title, fontsize=11, x=0.01, ha="left")
    fig.subplots_adjust(hspace=0.4, left=0.12, right=0.95, wspace=0.01)
    return save(fig, path)


def interpolation_images(image: np.ndarray, steps: tuple[float, ...]
                         ) -> list[tuple[int, np.ndarray]]:
    """``(k, x_k)`` at each fraction of the binary path of ``image`` ``(H, W)``: ``x_k`` holds
    the first ``k`` of its lit pixels in the order binary-path IG switches them on
    (:func:`hepxai.explain.attribution.paths.lit_pixels`, top-down)."""
    import torch

    from hepxai.explain.attribution.paths import lit_pixels

    image = np.asarray(image, bool)
    order = lit_pixels(torch.from_numpy(image[None, None].astype(np.float32))).pixels
    out = []
    for fraction in steps:
        k = int(round(fraction * len(order)))
        shown = np.zeros(image.size, bool)
        shown[order[:k]] = True
        out.append((k, shown.reshape(image.shape)))
    return out


def plot_interpolation_set(image: np.ndarray, path: str | os.PathLike[str],
                           steps: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0),
                           title: str = "") -> Path:
    """The thesis' binary interpolation set (figure 6.1): the images of binary-path IG from
    the empty image to the event, its lit pixels switched on one at a time in top-down order
    (:func:`hepxai.explain.attribution.paths.lit_pixels`), shown at fractions ``steps``."""
    use_style()
    image = np.asarray(image, bool)
    fig, axes = plt.subplots(len(steps), 1, figsize=(13, 0.95 * len(steps) + 0.8), squeeze=False)
    for ax, fraction, (k, shown) in zip(axes[:, 0], steps, interpolation_images(image, steps),
                                        strict=True):
        ax.imshow(shown, aspect="auto", cmap="Greys", vmin=0, vmax=1,
                  interpolation="nearest", origin="lower")
        ax.set_ylabel(f"x_{k}", rotation=0, ha="right", va="center", fontsize=9)
        ax.set_yticks([0, image.shape[0] - 1])
        ax.set_xticks([])
        ax.set_title(f"{k} of {int(image.sum())} lit pixels ({fraction:.0%} of the path)",
                     fontsize=8, loc="left")
    return _finish_stack(fig, axes[:, 0], image.shape, title or "binary interpolation set: "
                         "the images binary-path IG evaluates", path, left=0.08)


def plot_noise_examples(image: np.ndarray, path: str | os.PathLike[str],
                        rates: tuple[float, ...] = (0.01, 0.02, 0.05), seed: int = 0,
                        title: str = "") -> Path:
    """Salt-and-pepper copies of one event at each noise ``rate`` (thesis figure 6.2): the
    noisy inputs SmoothGrad averages over, drawn by the same
    :class:`~hepxai.explain.attribution.smooth.SaltAndPepper` (added pixels in blue)."""
    import torch

    from hepxai.explain.attribution.smooth import SaltAndPepper

    use_style()
    image = np.asarray(image, bool)
    x = torch.from_numpy(image[None, None].astype(np.float32))
    fig, axes = plt.subplots(1 + len(rates), 1, figsize=(13, 0.95 * (1 + len(rates)) + 0.8),
                             squeeze=False)
    panels = [("event", image)] + [
        (f"rate {rate:g}", SaltAndPepper(rate)(x, 1, np.array([seed]))[0, 0].numpy() > 0.5)
        for rate in rates]
    for ax, (name, noisy) in zip(axes[:, 0], panels, strict=True):
        display = np.ones((*image.shape, 3))
        display[noisy & ~image] = (0.2, 0.45, 0.85)
        display[image] = (0, 0, 0)
        ax.imshow(display, aspect="auto", interpolation="nearest", origin="lower")
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
        ax.set_yticks([0, image.shape[0] - 1])
        ax.set_xticks([])
        ax.set_title(f"{int((noisy & ~image).sum())} pixels added" if name != "event" else
                     f"{int(image.sum())} lit pixels", fontsize=8, loc="left")
    return _finish_stack(fig, axes[:, 0], image.shape, title or "salt-and-pepper noise: "
                         "SmoothGrad's noisy copies of one event", path, left=0.1)


def _finish_stack(fig, column, shape: tuple[int, ...], title: str,
                  path: str | os.PathLike[str], left: float) -> Path:
    """A column of hit-map panels: strip ticks and the axis label on the bottom one, the
    title, the spacing; saved to ``path``."""
    column[-1].set_xticks(np.arange(0, shape[1] + 1, 64))
    column[-1].set_xlabel("strip (layers 0 to 8 bottom to top)")
    fig.suptitle(title, fontsize=11, x=0.01, ha="left")
    # room under the title for the first panel's own title
    fig.subplots_adjust(hspace=0.6, left=left, top=1 - 0.75 / fig.get_figheight())
    return save(fig, path)


#: the panels of the thesis' attribution figures 7.3-7.5, in order: (method, target, title)
THESIS_PANEL = (("ram", "eta", "RAM, |eta|"), ("ram", "pt", "RAM, pT"), ("ig", "pt", "IG, pT"),
                ("smoothgrad", "pt", "SmoothGrad, pT"))


def noise_extremes(events: Any) -> tuple[int, int] | None:
    """The rows of the only-noise events with the highest and the lowest predicted pT (the
    thesis shows one of each: what makes noise look like a muon, and what does not), or
    ``None`` without only-noise events."""
    rows = np.flatnonzero(events.categories == "only-noise")
    if not rows.size:
        return None
    predicted = np.asarray(events.predictions)[rows, 0]
    return int(rows[np.argmax(predicted)]), int(rows[np.argmin(predicted)])


def plot_thesis_panel(events: Any, attributions: dict[str, Any], row: int,
                      path: str | os.PathLike[str], title: str = "") -> Path:
    """One event as the thesis' figures 7.3-7.5 show it: the noisy and the denoised input,
    RAM of |eta| and of pT, IG and SmoothGrad of pT (whichever of them were run; RAM of the
    thesis' code stands in for RAM), each with its colour bar, and IG overlaid on the hits
    (relevance drawn on lit pixels only: unlit pixels are NaN, which the colour map leaves
    blank)."""
    use_style()
    image, truth = np.asarray(events.images[row], bool), np.asarray(events.truth[row], bool)
    chosen = []
    for method, target, name in THESIS_PANEL:
        label = method if method in attributions else \
            "ram-thesis-code" if method == "ram" and "ram-thesis-code" in attributions else None
        if label is not None and target in attributions[label].targets:
            chosen.append((name if label == method else f"{name} (thesis code)",
                           attributions[label].items(target)[row]))
    overlay = next((values for name, values in chosen if name.startswith("IG")), None)
    n = 2 + len(chosen) + (overlay is not None)
    fig, axes = plt.subplots(n, 2, figsize=(13.5, 1.05 * n + 0.9), squeeze=False,
                             gridspec_kw={"width_ratios": [80, 1]})
    panels = [("noisy input", image, None), ("denoised input", truth, None)] + \
        [(name, values, "map") for name, values in chosen] + \
        ([("IG on the hits", np.where(image, overlay, np.nan), "overlay")]
         if overlay is not None else [])
    for k, (name, values, kind) in enumerate(panels):
        ax, cax = axes[k]
        if kind is None:
            display = np.ones((*image.shape, 3))
            display[values & ~truth] = (0, 0, 0)
            display[values & truth] = (0.85, 0.1, 0.1)
            ax.imshow(display, aspect="auto", interpolation="nearest", origin="lower")
            cax.axis("off")
        else:
            scale = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
            scale = scale or 1.0
            shown = ax.imshow(values, aspect="auto", cmap="RdBu_r", interpolation="nearest",
                              origin="lower", norm=TwoSlopeNorm(0.0, -scale, scale))
            bar = fig.colorbar(shown, cax=cax)
            bar.ax.tick_params(labelsize=6)
            bar.set_ticks([-scale, 0.0, scale])
            bar.ax.set_yticklabels([f"{-scale:.2g}", "0", f"{scale:.2g}"])
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
        ax.set_yticks([0, image.shape[0] - 1])
        ax.tick_params(axis="y", labelsize=6)
        ax.set_xticks(np.arange(0, image.shape[1] + 1, 64) if k == n - 1 else [])
    pt, eta = events.labels[row]
    predicted = events.predictions[row]
    truth_text = "only noise" if events.categories[row] == "only-noise" else \
        f"true pT {pt:.1f} GeV, |eta| {eta:.2f}"
    axes[0][0].set_title(f"{events.categories[row]} event {events.split[row]}:{events.ids[row]}"
                         f": {truth_text}; predicted pT {predicted[0]:.1f} GeV, |eta| "
                         f"{predicted[1]:.2f}", fontsize=9, loc="left")
    axes[-1][0].set_xlabel("strip (layers 0 to 8 bottom to top; muon hits red, noise black; "
                           "red raises, blue lowers the output)", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=11, x=0.01, ha="left")
    fig.subplots_adjust(hspace=0.45, left=0.14, right=0.95, wspace=0.01)
    return save(fig, path)
