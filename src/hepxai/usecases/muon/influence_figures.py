"""TracIn figures: a test event with its proponents and opponents (thesis figures 7.9-7.11) and
the self-influence distribution with the most self-influential training events.

Every event is drawn as its 9 x 384 hit image (layers x eta strips) on white: muon hits (the
simulator's truth image) in red, noise hits in black, as in the thesis. Panels are wide and thin
(aspect auto) so ten of them stack readably.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.gridspec import GridSpec

from hepxai.core.errors import HepxaiError
from hepxai.explain.types import Influence
from hepxai.usecases.muon.store import MuonFile
from hepxai.viz.style import save, use_style

MUON_RGB = (0.85, 0.05, 0.05)
NOISE_RGB = (0.0, 0.0, 0.0)
PANEL_TITLE_SIZE = 9


def event_rgb(image: np.ndarray, truth: np.ndarray | None) -> np.ndarray:
    """``(9, 384)`` hit image and its muon-only twin -> ``(9, 384, 3)`` RGB: white background,
    muon hits red, noise hits black (every lit pixel black when no truth is known)."""
    rgb = np.ones((*image.shape, 3), dtype=np.float32)
    lit = image.astype(bool)
    muon = truth.astype(bool) & lit if truth is not None else np.zeros_like(lit)
    rgb[lit & ~muon] = NOISE_RGB
    rgb[muon] = MUON_RGB
    return rgb


def _images(data: MuonFile, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    rows = np.asarray(rows, dtype=np.int64)
    images = data.images.to_dense(rows)
    truth = data.truth.to_dense(rows) if data.truth is not None else None
    return images, truth


def _draw(ax: plt.Axes, rgb: np.ndarray, title: str, colour: str = "black") -> None:
    ax.imshow(rgb, aspect="auto", interpolation="nearest", origin="lower")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.minorticks_off()
    ax.set_title(title, fontsize=PANEL_TITLE_SIZE, loc="left", pad=2, color=colour)


def _event_label(data: MuonFile, row: int) -> str:
    label = data.labels[row]
    text = f"#{row}  pT {label['pt']:.1f} GeV  |eta| {label['eta']:.2f}"
    if data.bookkeeping is not None:
        book = data.bookkeeping[row]
        text += f"  noise {int(book['n_noise'])}"
        if int(book["silent_stations"]):
            text += "  silent station"
    return text


def plot_proponents(influence: Influence, index: int, train: MuonFile | str | os.PathLike[str],
                    test: MuonFile | str | os.PathLike[str], path: str | os.PathLike[str], *,
                    prediction: Sequence[float] | None = None, category: str | None = None,
                    n: int = 10) -> Path:
    """Test event ``index`` of ``influence`` (noisy and denoised) above its ``n`` proponents
    (left, highest score first) and ``n`` opponents (right, lowest first).

    Args:
        influence: a top-k :class:`Influence` (ids are training-file rows).
        index: which test event of ``influence`` (0-based position, not its file row).
        train, test: the training file and the test events' file (or their paths).
        path: output image (format from the suffix).
        prediction: the model's (pT [GeV], |eta|) for the test event, shown in its title.
        category: e.g. ``"TP"`` or ``"only-noise"``, shown in the title.
        n: proponents / opponents drawn (at most the k of ``influence``).
    """
    if influence.proponent_ids is None or influence.opponent_ids is None:
        raise HepxaiError("the influence result keeps no top-k proponents; query with k >= 1")
    if not 0 <= index < influence.n_test:
        raise HepxaiError(f"test event {index} out of range: the result has "
                          f"{influence.n_test} events")
    train = train if isinstance(train, MuonFile) else MuonFile(train)
    test = test if isinstance(test, MuonFile) else MuonFile(test)
    n = min(n, influence.proponent_ids.shape[1])
    use_style()
    fig = plt.figure(figsize=(16, 1.0 * (n + 2) + 0.6))
    grid = GridSpec(n + 2, 2, figure=fig, hspace=0.75, wspace=0.04,
                    height_ratios=[1.25, 0.15] + [1.0] * n)
    row = int(influence.test_ids[index])
    image, truth = _images(test, np.array([row]))
    head = f"test event ({test.split}) {_event_label(test, row)}"
    if prediction is not None:
        head += f"  |  predicted pT {prediction[0]:.1f} GeV  |eta| {prediction[1]:.2f}"
    if category:
        head += f"  [{category}]"
    _draw(fig.add_subplot(grid[0, 0]), event_rgb(image[0], truth[0] if truth is not None
                                                  else None), head)
    _draw(fig.add_subplot(grid[0, 1]),
          event_rgb(truth[0], truth[0]) if truth is not None else event_rgb(image[0] * 0, None),
          "denoised twin (muon hits only)")
    for column, name in enumerate(("proponents", "opponents")):
        # only strictly positive / negative scores: a side may hold fewer than n, or none
        ids, scores = (influence.proponents if column == 0 else influence.opponents)(index)
        ids, scores = ids[:n], scores[:n]
        counts = influence.n_proponents if column == 0 else influence.n_opponents
        total = f" of {int(counts[index]):,}" if counts is not None else ""
        images, truths = _images(train, ids) if ids.size else (None, None)
        for j in range(max(ids.size, 1)):
            ax = fig.add_subplot(grid[j + 2, column])
            if ids.size:
                rgb = event_rgb(images[j], truths[j] if truths is not None else None)
                _draw(ax, rgb, f"{j + 1}. {_event_label(train, int(ids[j]))}  "
                               f"TracIn {scores[j]:+.3g}",
                      colour="darkgreen" if column == 0 else "darkred")
            else:
                ax.axis("off")
                ax.text(0.5, 0.5, f"no training event scores {'above' if column == 0 else 'below'}"
                        " 0", transform=ax.transAxes, ha="center", fontsize=11)
            if j == 0:
                ax.text(0.5, 1.9, f"{ids.size}{total} {name} "
                        f"({'highest' if column == 0 else 'lowest'} scores)",
                        transform=ax.transAxes, ha="center", fontsize=12, weight="bold")
    fig.suptitle(f"{influence.method}: muon hits red, noise hits black; layers from the inner "
                 "(bottom) to the outer (top) station, x: eta strips", fontsize=13, y=0.995)
    return save(fig, path)


def plot_self_influence(values: np.ndarray, rows: np.ndarray,
                        train: MuonFile | str | os.PathLike[str], path: str | os.PathLike[str],
                        *, top: int = 8, method: str = "tracin") -> Path:
    """Distribution of the self-influence of every training event (left, log counts) and the
    ``top`` most self-influential events (right), titled with row, labels and value.

    Args:
        values: self-influence ``(n_train,)``, in store order.
        rows: training-file rows of ``values`` ``(n_train,)``.
    """
    values = np.asarray(values, dtype=np.float64)
    rows = np.asarray(rows, dtype=np.int64)
    if values.shape != rows.shape or values.size == 0:
        raise HepxaiError("self-influence values and rows must be non-empty and of equal length")
    train = train if isinstance(train, MuonFile) else MuonFile(train)
    top = min(top, values.size)
    order = np.argsort(-values, kind="stable")[:top]
    use_style()
    fig = plt.figure(figsize=(18, max(6.0, 0.95 * top + 1.0)))
    grid = GridSpec(top, 2, figure=fig, width_ratios=[1.0, 1.6], hspace=0.8, wspace=0.12)
    ax = fig.add_subplot(grid[:, 0])
    positive = values[values > 0]
    if positive.size and positive.max() / positive.min() > 100:
        bins = np.geomspace(positive.min(), positive.max(), 60)
        ax.set_xscale("log")
        ax.hist(positive, bins=bins, color="tab:blue", histtype="stepfilled", alpha=0.7)
    else:
        ax.hist(values, bins=60, color="tab:blue", histtype="stepfilled", alpha=0.7)
    ax.set_yscale("log")
    ax.set_ylim(bottom=0.5)
    for value in values[order]:
        ax.axvline(value, color="tab:red", lw=0.8, alpha=0.7)
    ax.set_xlabel("self-influence TracIn(z, z)")
    ax.set_ylabel("training events")
    ax.set_title(f"{method}: {values.size:,} training events; red: the {top} highest",
                 fontsize=12)
    images, truths = _images(train, rows[order])
    for j, position in enumerate(order):
        panel = fig.add_subplot(grid[j, 1])
        _draw(panel, event_rgb(images[j], truths[j] if truths is not None else None),
              f"{j + 1}. {_event_label(train, int(rows[position]))}  "
              f"self-influence {values[position]:.3g}")
    return save(fig, path)
