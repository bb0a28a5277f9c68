"""ATLAS-style coincidence-window trigger: the non-ML L0 logic the ML selection must beat.

For every lit strip ``c`` of the pivot station (BM2 by default, the analogue of the RPC2 pivot
plane), the straight "infinite-momentum" line from the interaction point through it crosses the
other stations at the same |eta|, i.e. the same strip ``c``. A station is in coincidence when it
has a hit within ``c +- W_station``; the trigger fires when at least ``min_other_stations`` other
stations are in coincidence (3 of 4 stations by default). Lower-pT muons bend more and fall out
of the windows, so the window sizes set the pT threshold. The bend in strips grows like
cosh(eta) (the deflection in z grows like cosh^2 and a strip spans cosh(eta) more z), so a window
is ``W_station(c) = round(w_station * cosh(eta_c))``, the analogue of ATLAS' eta-dependent
coincidence matrices. The ``w`` are sized on simulation, from muons with true pT within
+-0.25 GeV of the threshold and the distance between the station's and the pivot's muon hits
divided by cosh(eta): the outer station (largest lever arm, the pT measurement, as RPC3 in the
ATLAS high-pT trigger) gets the ``p``-quantile of that distance, with ``p`` chosen by bisection
so that the trigger (on the noisy images) fires for ``target_efficiency`` of them; the other
stations only confirm the track and get a wide window, the ``confirm_quantile``. The default
target 0.5 puts the 50 % point of the turn-on at the threshold, the same convention as an ML
selection ``pT_hat > T``, so the efficiencies can be compared.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from hepxai.core.errors import HepxaiError
from hepxai.core.sparse import SparseImages
from hepxai.usecases.muon.baselines.track_fit import station_positions
from hepxai.usecases.muon.geometry import STATION_NAMES, MuonSimConfig

CHUNK_EVENTS = 8192


@dataclass(frozen=True)
class CoincidenceWindows:
    """Window half-widths at eta = 0 [strips] of every station (the pivot's entry is unused)."""

    threshold_gev: float
    half_widths: tuple[float, ...]
    pivot: int
    min_other_stations: int
    quantile: float
    calibration_efficiency: float
    calibration_events: int

    def to_dict(self) -> dict:
        out = asdict(self)
        out["stations"] = {STATION_NAMES[s]: round(w, 3) for s, w in
                           enumerate(self.half_widths) if s != self.pivot}
        out["pivot"] = STATION_NAMES[self.pivot]
        return out


def station_images(images: SparseImages, rows: np.ndarray, config: MuonSimConfig) -> np.ndarray:
    """OR of each station's layers: ``(len(rows), n_stations, n_strips)`` bool."""
    dense = images.to_dense(rows, dtype=np.uint8).astype(bool)
    out = np.zeros((rows.size, config.n_stations, config.n_strips), bool)
    for station in range(config.n_stations):
        out[:, station] = dense[:, config.stations == station].any(axis=1)
    return out


def window_strips(config: MuonSimConfig, half_width: float) -> np.ndarray:
    """(n_strips,) integer half-width around every pivot strip for a width ``half_width`` at 0."""
    eta = config.eta_of_strip(np.arange(config.n_strips))
    return np.rint(half_width * np.cosh(eta)).astype(np.int64)


def fires(images: SparseImages, config: MuonSimConfig, half_widths: tuple[float, ...],
          pivot: int = 2, min_other_stations: int = 2) -> np.ndarray:
    """(n_events,) bool: does the coincidence logic fire for each event?

    The outer station must be in coincidence (it measures the bend); ``min_other_stations``
    counts it together with the confirming stations.
    """
    n = len(images)
    result = np.zeros(n, bool)
    for start in range(0, n, CHUNK_EVENTS):
        rows = np.arange(start, min(start + CHUNK_EVENTS, n))
        stations = station_images(images, rows, config)
        # cumulative hit counts give "any hit in [c - w, c + w]" for every c at once
        cumulative = np.zeros((rows.size, config.n_stations, config.n_strips + 1), np.int32)
        np.cumsum(stations, axis=2, out=cumulative[:, :, 1:])
        strips = np.arange(config.n_strips)
        in_coincidence = np.zeros((rows.size, config.n_strips), np.int8)
        outer_ok = np.ones((rows.size, config.n_strips), bool)
        for station in range(config.n_stations):
            if station == pivot:
                continue
            w = window_strips(config, half_widths[station])
            hi = np.minimum(strips + w + 1, config.n_strips)
            lo = np.maximum(strips - w, 0)
            hit = (cumulative[:, station, hi] - cumulative[:, station, lo]) > 0
            in_coincidence += hit
            if station == config.n_stations - 1:
                outer_ok = hit
        result[rows] = (stations[:, pivot] & outer_ok
                        & (in_coincidence >= min_other_stations)).any(axis=1)
    return result


def size_windows(images: SparseImages, truth: SparseImages, pt: np.ndarray,
                 config: MuonSimConfig, threshold_gev: float, target_efficiency: float = 0.5,
                 pivot: int = 2, min_other_stations: int = 2, confirm_quantile: float = 0.99,
                 bin_half_width_gev: float = 0.25) -> CoincidenceWindows:
    """Windows for ``threshold_gev`` sized on simulated muons (see the module docstring)."""
    near = np.flatnonzero(np.abs(pt - threshold_gev) <= bin_half_width_gev)
    if near.size < 50:
        raise HepxaiError(f"only {near.size} training muons within {bin_half_width_gev} GeV of "
                          f"{threshold_gev:g} GeV to size the coincidence windows (50 needed); "
                          "simulate more training events (e.g. --n 20000)")
    noisy, clean = images.take(near), truth.take(near)
    positions = station_positions(clean, config)
    scale = np.cosh(config.eta_of_strip(positions[:, [pivot]]))
    distance = np.abs(positions - positions[:, [pivot]]) / scale

    outer = config.n_stations - 1
    confirm = {s: float(np.nanquantile(distance[:, s], confirm_quantile))
               for s in range(config.n_stations) if s not in (pivot, outer)}

    def windows_at(quantile: float) -> tuple[float, ...]:
        measured = float(np.nanquantile(distance[:, outer], quantile))
        return tuple(0.0 if s == pivot else measured if s == outer else confirm[s]
                     for s in range(config.n_stations))

    def efficiency_at(quantile: float) -> float:
        return float(fires(noisy, config, windows_at(quantile), pivot,
                           min_other_stations).mean())

    lo, hi = 0.0, 1.0
    for _ in range(20):  # efficiency is monotone in the quantile; bisection to ~1e-6
        mid = 0.5 * (lo + hi)
        if efficiency_at(mid) < target_efficiency:
            lo = mid
        else:
            hi = mid
    return CoincidenceWindows(threshold_gev=threshold_gev, half_widths=windows_at(hi),
                              pivot=pivot, min_other_stations=min_other_stations, quantile=hi,
                              calibration_efficiency=efficiency_at(hi),
                              calibration_events=int(near.size))
