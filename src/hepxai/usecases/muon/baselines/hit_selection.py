"""Classical hit selection on a noisy RPC image: a Hough search over straight-plus-bend roads.

A muon crosses the 9 layers along a road ``strip_k = s0 + u * a_k`` where ``s0`` is the strip in
the inner (field-free) station, ``u`` the bend in strips at the outermost layer and ``a_k`` the
bend profile of layer k, ``G(r_k) / r_k`` normalised to the outer layer (the deflection in z is
proportional to the lever arm G, and a strip measures eta ~ z / r). Every (s0, u) road is scored
by the number of layers with a hit within +-``tolerance`` strips; the best road's hits are kept
and noise elsewhere is dropped. Vectorised over events: one shifted add per (u, layer) on the
dense batch, never a loop over events or pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hepxai.core.progress import progress
from hepxai.core.sparse import SparseImages
from hepxai.usecases.muon.geometry import MuonSimConfig

CHUNK_EVENTS = 4096


@dataclass(frozen=True)
class RoadSearch:
    """The best road of every event: ``s0`` (strip), ``u`` (bend), ``n_layers`` (its score)."""

    s0: np.ndarray
    u: np.ndarray
    n_layers: np.ndarray


def bend_profile(config: MuonSimConfig) -> np.ndarray:
    """(n_layers,) bend of each layer relative to the outermost one (0 in the inner station)."""
    per_radius = config.bend_lever_arm(config.radii) / config.radii
    return per_radius / per_radius[-1]


def max_bend_strips(config: MuonSimConfig) -> int:
    """Largest outer-layer bend [strips] in the simulated range (lowest pT, largest eta)."""
    eta = config.eta_max
    kappa = config.curvature(config.pt_min_gev, eta)
    r_out = config.radii[-1]
    deta = kappa * config.bend_lever_arm(r_out) / (r_out * np.cosh(eta))
    return int(np.ceil(1.15 * deta * config.n_strips / config.eta_max)) + 2  # + scattering margin


def search_roads(images: SparseImages, config: MuonSimConfig, tolerance: int = 1) -> RoadSearch:
    """The best (s0, u) road of every event; ties go to the straighter road."""
    profile = bend_profile(config)
    u_max = max_bend_strips(config)
    # 0, 1, -1, 2, -2, ...: with a strict '>' update the straightest of equal roads wins
    bends = [0] + [sign * b for b in range(1, u_max + 1) for sign in (1, -1)]
    n = len(images)
    s0 = np.zeros(n, np.int64)
    best_u = np.zeros(n, np.int64)
    best = np.zeros(n, np.int64)
    n_layers, n_strips = images.shape
    pad = u_max + tolerance + 1
    shifts = np.rint(np.outer(bends, profile)).astype(np.int64)  # (n_bends, n_layers)
    for start in progress(range(0, n, CHUNK_EVENTS), desc="Hough road search", unit="chunk"):
        rows = np.arange(start, min(start + CHUNK_EVENTS, n))
        # layer-major so that each shifted layer slice is a block of contiguous rows
        dense = images.to_dense(rows, dtype=np.uint8).transpose(1, 0, 2)
        padded = np.zeros((n_layers, rows.size, n_strips + 2 * pad), np.uint8)
        for shift in range(-tolerance, tolerance + 1):  # dilate: a hit counts within +-tolerance
            window = padded[:, :, pad + shift:pad + shift + n_strips]
            np.bitwise_or(window, dense, out=window)
        straight = [k for k in range(n_layers) if not shifts[:, k].any()]
        bent = [k for k in range(n_layers) if shifts[:, k].any()]
        base = padded[straight, :, pad:pad + n_strips].sum(axis=0, dtype=np.int8)
        chunk_best = np.full(rows.size, -1, np.int8)
        chunk_u = np.zeros(rows.size, np.int64)
        score = np.empty_like(base)
        for i, u in enumerate(bends):
            np.copyto(score, base)
            for layer in bent:
                shift = shifts[i, layer]
                score += padded[layer, :, pad + shift:pad + shift + n_strips]
            value = score.max(axis=1)
            better = value > chunk_best
            chunk_best[better], chunk_u[better] = value[better], u
        # s0 of the winning road, recomputed only for the events that chose each bend
        chunk_s0 = np.zeros(rows.size, np.int64)
        for u in np.unique(chunk_u):
            events = np.flatnonzero(chunk_u == u)
            shift_u = shifts[bends.index(int(u))]
            road = base[events].copy()
            for layer in bent:
                road += padded[layer, events, pad + shift_u[layer]:pad + shift_u[layer] + n_strips]
            chunk_s0[events] = road.argmax(axis=1)
        best[rows], s0[rows], best_u[rows] = chunk_best, chunk_s0, chunk_u
    return RoadSearch(s0=s0, u=best_u, n_layers=best)


def select_hits(images: SparseImages, config: MuonSimConfig, tolerance: int = 1,
                min_layers: int = 5) -> tuple[SparseImages, RoadSearch]:
    """Hits within ``tolerance`` (+1 for the cluster edge) strips of each event's best road.

    Events whose best road has fewer than ``min_layers`` layers get no hits (no candidate).
    """
    roads = search_roads(images, config, tolerance)
    event, pixel = images.event_pixels()
    layer, strip = pixel // config.n_strips, pixel % config.n_strips
    expected = roads.s0[event] + np.rint(roads.u[event] * bend_profile(config)[layer])
    keep = (np.abs(strip - expected) <= tolerance + 1) & (roads.n_layers[event] >= min_layers)
    selected = SparseImages.from_event_pixels(event[keep], pixel[keep], len(images),
                                              images.shape)
    return selected, roads
