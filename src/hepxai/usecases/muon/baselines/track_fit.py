"""Least-squares track fit of RPC hits: the classical pT and eta estimate.

Each station with hits contributes one point, the strip the muon crossed (see
:func:`station_positions`) converted to z = r sinh(eta_strip). The track model of the
simulator is linear in three parameters,

    z(r) = a + b r + c G(r),

where a absorbs the vertex z0, b = sinh(eta) (plus the multiple-scattering kink at 4 m, which
lies before every layer and so only tilts the line), and c = q * 0.3 B cosh(eta)^2 / pT is the
signed curvature measured through the bending lever arm G(r)
(:meth:`MuonSimConfig.bend_lever_arm`). One batched 3x3 solve per event, no Python loop.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from hepxai.core.sparse import SparseImages
from hepxai.usecases.muon.geometry import MuonSimConfig

PT_MAX_GEV = 200.0  # cap for nearly straight fits: "very high pT" is all a trigger needs


@dataclass(frozen=True)
class TrackFit:
    """Per-event fit results, all shaped ``(n_events,)``.

    pt : estimated pT [GeV]; 0 where the fit failed (no trigger candidate).
    eta : estimated |eta|; from the mean hit strip where the fit failed, 0 without hits.
    charge : sign of the fitted bending (+-1, 0 where the fit failed).
    n_stations : stations with at least one hit used by the fit.
    ok : the fit had hits in at least ``min_stations`` stations.
    """

    pt: np.ndarray
    eta: np.ndarray
    charge: np.ndarray
    n_stations: np.ndarray
    ok: np.ndarray


def layer_extents(images: SparseImages, n_strips: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last lit strip of every (event, layer): two ``(n_events, n_layers)`` arrays.

    NaN for a layer without hits. Relies on the pixel lists being sorted within each event, so
    the hits of one (event, layer) cell are contiguous and sorted by strip.
    """
    event, pixel = images.event_pixels()
    n_events, n_layers = len(images), images.shape[0]
    first = np.full(n_events * n_layers, np.nan)
    last = np.full(n_events * n_layers, np.nan)
    if pixel.size:
        cell = event * n_layers + pixel // n_strips
        strip = (pixel % n_strips).astype(np.float64)
        starts = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]])
        ends = np.r_[starts[1:], cell.size] - 1
        first[cell[starts]] = strip[starts]
        last[cell[starts]] = strip[ends]
    return first.reshape(n_events, n_layers), last.reshape(n_events, n_layers)


def station_positions(images: SparseImages, config: MuonSimConfig) -> np.ndarray:
    """Best strip position of the muon in every station: ``(n_events, n_stations)``, NaN if none.

    A cluster grows from the crossed strip to random sides, so the crossed strip lies in every
    cluster of the station's layers (they are 5 cm apart, the track hardly moves between them):
    the overlap of the clusters pins it down, where a plain centroid would add the random growth
    as noise (+-0.5 strip for a 2-strip cluster). Without an overlap (noise, or a layer of
    another station pattern) the mean of the layer centroids is used.
    """
    first, last = layer_extents(images, config.n_strips)
    positions = np.full((len(images), config.n_stations), np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN stations give NaN on purpose
        for station in range(config.n_stations):
            layers = config.stations == station
            lo = np.nanmax(first[:, layers], axis=1)
            hi = np.nanmin(last[:, layers], axis=1)
            centroid = np.nanmean(0.5 * (first[:, layers] + last[:, layers]), axis=1)
            positions[:, station] = np.where(lo <= hi, 0.5 * (lo + hi), centroid)
    return positions


def fit_tracks(images: SparseImages, config: MuonSimConfig, min_stations: int = 3,
               intercept_sigma_m: float | None = None) -> TrackFit:
    """Fit every event of ``images`` (typically truth hits or hits selected from a noisy image).

    One measurement per station (:func:`station_positions`) at the station's mean radius.
    """
    if intercept_sigma_m is None:
        intercept_sigma_m = config.z0_sigma_m
    strip = station_positions(images, config)
    used = np.isfinite(strip)
    stations = config.stations
    radius = np.array([config.radii[stations == s].mean() for s in range(config.n_stations)])
    lever = np.array([config.bend_lever_arm(config.radii[stations == s]).mean()
                      for s in range(config.n_stations)])
    eta_strip = config.eta_of_strip(np.where(used, strip, 0.0))
    z = radius * np.sinh(eta_strip)
    basis = np.stack([np.ones_like(radius), radius, lever], axis=1)  # (stations, 3)
    # a strip is eta_max / n_strips wide: sigma_z = r cosh(eta) * width / sqrt(12)
    sigma_z = radius * np.cosh(eta_strip) * config.eta_max / config.n_strips / np.sqrt(12.0)
    weight = used / sigma_z**2
    normal = np.einsum("es,si,sj->eij", weight, basis, basis)
    rhs = np.einsum("es,es,si->ei", weight, z, basis)
    # Gaussian prior on the intercept a (vertex spread): keeps 3-station fits from wild
    # curvatures; with 4 stations its pull is small
    normal[:, 0, 0] += 1.0 / intercept_sigma_m**2

    n_stations = used.sum(axis=1)
    ok = n_stations >= max(min_stations, 3)
    # three stations at three radii with G(r) not linear in r make the 3x3 system regular;
    # failed events get the identity so the batched solve stays well defined
    normal[~ok] = np.eye(3)
    rhs[~ok] = 0.0
    a, slope, curv = np.linalg.solve(normal, rhs[..., None])[..., 0].T

    eta_fit = np.abs(np.arcsinh(slope))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean_strip = np.nanmean(strip, axis=1)
    eta_fallback = np.where(n_stations > 0, config.eta_of_strip(np.nan_to_num(mean_strip)), 0.0)
    eta = np.where(ok, eta_fit, eta_fallback)
    pt = np.where(ok, np.minimum(config.pt_of_curvature(curv, eta_fit), PT_MAX_GEV), 0.0)
    charge = np.where(ok, np.sign(curv), 0).astype(np.int8)
    return TrackFit(pt=pt, eta=eta, charge=charge, n_stations=n_stations, ok=ok)
