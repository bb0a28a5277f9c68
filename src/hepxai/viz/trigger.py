"""Trigger figures: turn-on curves and resolution versus true pT."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from hepxai.viz.style import save, use_style


def _array(values: list[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def plot_turn_on(curves: Mapping[str, Mapping[str, Any]], threshold_gev: float,
                 path: str | os.PathLike[str], title: str | None = None) -> Path:
    """Efficiency vs true pT with Clopper-Pearson bands, one curve per entry of ``curves``.

    ``curves`` maps a label to ``TurnOn.to_dict()`` output (bin_centers, efficiency, lower,
    upper); the threshold is drawn as a dashed line.
    """
    use_style()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for label, curve in curves.items():
        x = _array(curve["bin_centers"])
        eff, lo, hi = _array(curve["efficiency"]), _array(curve["lower"]), _array(curve["upper"])
        ax.errorbar(x, eff, yerr=[eff - lo, hi - eff], fmt="o", ms=3.5, capsize=0,
                    label=label)
    ax.axvline(threshold_gev, color="grey", ls="--", lw=1)
    ax.set_xlabel(r"true $p_T$ [GeV]")
    ax.set_ylabel(f"efficiency ($p_T$ > {threshold_gev:g} GeV)")
    ax.set_ylim(-0.02, 1.08)
    ax.legend(loc="lower right", fontsize=11)
    ax.set_title(title or f"Turn-on at {threshold_gev:g} GeV (68% Clopper-Pearson)", fontsize=13)
    return save(fig, path)


def plot_resolution(resolutions: Mapping[str, Mapping[str, Any]],
                    path: str | os.PathLike[str]) -> Path:
    """Bias (median) and width of (pT_hat - pT)/pT in bins of true pT, one line per estimator.

    The median, not the mean: fits have non-Gaussian tails that would hide the core's bias.
    """
    use_style()
    fig, (ax_mean, ax_width) = plt.subplots(1, 2, figsize=(13, 4.8),
                                            gridspec_kw={"wspace": 0.35})
    for label, res in resolutions.items():
        x = _array(res["bin_centers"])
        ax_mean.plot(x, _array(res.get("pt_median", res["pt_mean"])), "o-", ms=3.5, label=label)
        ax_width.plot(x, _array(res["pt_width"]), "o-", ms=3.5, label=label)
    ax_mean.axhline(0.0, color="grey", lw=1)
    ax_mean.set_ylabel(r"median $(\hat p_T - p_T)/p_T$")
    ax_width.set_ylabel(r"$p_T$ resolution $(q_{84} - q_{16})/2$")
    for ax in (ax_mean, ax_width):
        ax.set_xlabel(r"true $p_T$ [GeV]")
    ax_width.legend(fontsize=11)
    return save(fig, path)
