"""The classical baselines of the muon trigger, evaluated with the ML metrics.

* ``truth-hit fit``: least-squares fit of the muon-only hits (unavailable in real data; shows
  what the strip granularity allows with a simple fit);
* ``noisy-image fit``: the same fit after the Hough road search on the noisy image;
* ``coincidence``: the ATLAS-style window logic, sized on the training split at each threshold.

Every number comes from :mod:`hepxai.metrics.trigger`, the same functions that judge the models.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from hepxai.core.atomic import write_json_atomic
from hepxai.core.errors import HepxaiError
from hepxai.core.progress import progress
from hepxai.metrics import trigger
from hepxai.usecases.muon.baselines.coincidence import fires, size_windows
from hepxai.usecases.muon.baselines.hit_selection import select_hits
from hepxai.usecases.muon.baselines.track_fit import fit_tracks
from hepxai.usecases.muon.geometry import MuonSimConfig
from hepxai.usecases.muon.store import MuonFile, split_path

THRESHOLDS = (15.0, 10.0)
CALIBRATION_EVENTS = 200_000


def _rows(n: int, max_events: int | None) -> np.ndarray:
    return np.arange(n if max_events is None else min(n, max_events))


def run_muon_baselines(data_dir: str | os.PathLike[str], *, max_events: int | None = None,
                       thresholds: tuple[float, ...] = THRESHOLDS) -> dict[str, Any]:
    """Evaluate every baseline on ``val`` (and ``noise`` for fake rates) of a data directory.

    ``max_events`` caps the events used from each split (default: all). Returns a
    JSON-serialisable dict: per baseline the trigger summary, turn-on curves per threshold and,
    for the coincidence trigger, its windows.
    """
    val = MuonFile(split_path(data_dir, "val"))
    if val.truth is None:
        raise HepxaiError(f"{val.path}: has no truth images; the truth-hit fit needs them")
    config = val.config or MuonSimConfig()
    noise_path = split_path(data_dir, "noise")
    noise = MuonFile(noise_path) if noise_path.exists() else None
    train = MuonFile(split_path(data_dir, "train"))
    if train.truth is None:
        raise HepxaiError(f"{train.path}: has no truth images; the coincidence windows are "
                          "sized on the muon hits of the training split")

    events = val.events(_rows(len(val), max_events))
    noise_events = noise.events(_rows(len(noise), max_events)) if noise is not None else None
    pt, eta = events.labels["pt"].astype(np.float64), events.labels["eta"].astype(np.float64)
    results: dict[str, Any] = {"data": str(Path(data_dir)), "n_val": len(events),
                               "n_noise": len(noise_events) if noise_events is not None else 0,
                               "thresholds": list(thresholds), "baselines": {}}

    steps = progress(total=3, desc="baselines", unit="baseline")
    fit = fit_tracks(events.truth, config)
    results["baselines"]["truth-hit fit"] = _fit_result(pt, eta, fit.pt, fit.eta, None,
                                                        thresholds, fit.ok)
    steps.update()

    selected, _ = select_hits(events.images, config)
    fit = fit_tracks(selected, config)
    noise_pt = None
    if noise_events is not None:
        noise_pt = fit_tracks(select_hits(noise_events.images, config)[0], config).pt
    results["baselines"]["noisy-image fit"] = _fit_result(pt, eta, fit.pt, fit.eta, noise_pt,
                                                          thresholds, fit.ok)
    steps.update()

    calibration = train.events(_rows(len(train), CALIBRATION_EVENTS))
    coincidence: dict[str, Any] = {"windows": {}, "turn_on": {}}
    for threshold in thresholds:
        windows = size_windows(calibration.images, calibration.truth,
                               calibration.labels["pt"].astype(np.float64), config, threshold)
        fired = fires(events.images, config, windows.half_widths)
        key = f"{threshold:g}"
        coincidence["windows"][key] = windows.to_dict()
        coincidence[f"efficiency_{key}"] = trigger.efficiency(pt, fired, threshold)
        coincidence["turn_on"][key] = trigger.turn_on(pt, fired).to_dict()
        coincidence["confusion_" + key] = trigger.selection_confusion(pt, fired,
                                                                      threshold).tolist()
        if noise_events is not None:
            noise_fired = fires(noise_events.images, config, windows.half_widths)
            coincidence[f"only_noise_{key}"] = _fake_rate_of_selection(noise_fired)
    coincidence["spread"] = None  # a window trigger gives a decision, not a pT estimate
    results["baselines"]["coincidence"] = coincidence
    steps.update()
    steps.close()
    return results


def _fake_rate_of_selection(fired: np.ndarray) -> dict[str, Any]:
    # fake_rate() takes pT estimates; a fired trigger is "pT above any threshold"
    return trigger.fake_rate(np.where(fired, np.inf, 0.0), threshold=0.0)


def _fit_result(pt: np.ndarray, eta: np.ndarray, pt_hat: np.ndarray, eta_hat: np.ndarray,
                noise_pt_hat: np.ndarray | None, thresholds: tuple[float, ...],
                ok: np.ndarray) -> dict[str, Any]:
    summary = trigger.trigger_summary(pt, pt_hat, eta, eta_hat, noise_pt_hat,
                                      thresholds=thresholds)
    summary["fit_failed_fraction"] = float(1.0 - ok.mean())
    summary["turn_on"] = {f"{t:g}": trigger.turn_on(pt, trigger.selected_by(pt_hat, t)).to_dict()
                          for t in thresholds}
    summary["confusion_15"] = trigger.selection_confusion(
        pt, trigger.selected_by(pt_hat, 15.0), 15.0).tolist()
    if noise_pt_hat is not None:
        summary["only_noise_10"] = trigger.fake_rate(noise_pt_hat, threshold=10.0)
    summary["resolution"] = trigger.resolution(pt, pt_hat, eta, eta_hat).to_dict()
    return summary


def baseline_table(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per baseline: spread, efficiencies, only-noise fake rate at 15 GeV."""
    rows = []
    for name, res in results["baselines"].items():
        noise = res.get("only_noise") or res.get("only_noise_15")
        rows.append({
            "baseline": name,
            "spread_gev": res.get("spread"),
            "efficiency_15": res.get("efficiency_15"),
            "efficiency_10": res.get("efficiency_10"),
            "only_noise_selected": None if noise is None else noise["selected"],
            "only_noise_percent": None if noise is None else noise["percent"],
        })
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """The baseline table as aligned text (what ``hepxai baselines muon`` prints)."""
    def cell(value: Any, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    lines = [f"{'baseline':<18}{'spread [GeV]':>14}{'eff@15':>9}{'eff@10':>9}"
             f"{'only-noise > 15 GeV':>24}"]
    for row in rows:
        noise = "-" if row["only_noise_selected"] is None else \
            f"{row['only_noise_selected']} ({row['only_noise_percent']:.4f}%)"
        lines.append(f"{row['baseline']:<18}{cell(row['spread_gev'], '.4f'):>14}"
                     f"{cell(row['efficiency_15'], '.4f'):>9}"
                     f"{cell(row['efficiency_10'], '.4f'):>9}{noise:>24}")
    return "\n".join(lines)


def baselines_to(data_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
                 max_events: int | None = None) -> dict[str, Any]:
    """``hepxai baselines muon``: every baseline evaluated (:func:`run_muon_baselines`), written
    to ``out_dir/baselines.json`` with its table, plus the turn-on curve at each threshold
    (``turn_on_T.png``) and the resolution (``resolution.png``); returns the results."""
    from hepxai.viz.trigger import plot_resolution, plot_turn_on

    out = Path(out_dir)
    results = run_muon_baselines(data_dir, max_events=max_events)
    results["table"] = baseline_table(results)
    for threshold in results["thresholds"]:
        key = f"{threshold:g}"
        curves = {name: res["turn_on"][key] for name, res in results["baselines"].items()}
        plot_turn_on(curves, threshold, out / f"turn_on_{key}.png")
    plot_resolution({name: res["resolution"] for name, res in results["baselines"].items()
                     if "resolution" in res}, out / "resolution.png")
    # last: baselines.json is the mark of a finished run (the demo and evaluate trust it)
    write_json_atomic(out / "baselines.json", results)
    return results
