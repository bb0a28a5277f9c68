"""The one place that sets the figure style (mplhep's ATLAS-like look) and saves figures."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: works headless, in CI and on batch nodes

import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402

from hepxai.core.atomic import atomic_path  # noqa: E402

_STYLE_SET = False


def use_style() -> None:
    """Apply the HEP style once per process."""
    global _STYLE_SET
    if not _STYLE_SET:
        plt.style.use(mplhep.style.ATLAS)
        plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 120, "font.size": 14})
        _STYLE_SET = True


def save(fig: plt.Figure, path: str | os.PathLike[str], tight: bool = True) -> Path:
    """Save ``fig`` to ``path`` atomically (format from the suffix) and close it.

    ``tight=False`` keeps the figure's own extent: for figures laid out by hand in figure
    coordinates, where the tight bounding box would only cost a second full draw.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png",
                    bbox_inches="tight" if tight else None)
    plt.close(fig)
    return path
