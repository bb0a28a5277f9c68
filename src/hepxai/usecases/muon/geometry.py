"""Simplified ATLAS Phase-2 barrel RPC geometry and field: the numbers of the muon simulator.

All defaults live in one frozen config object that is written into every data file, so a file
always says how it was made. The same geometry functions serve the simulator and the classical
baselines (track fit, coincidence windows), so the two cannot drift apart.

Units: metres, GeV, tesla, radians.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

STATION_NAMES = ("BI", "BM1", "BM2", "BO")

# p [GeV] = 0.3 * B [T] * rho [m] for a unit charge
GEV_PER_TESLA_METRE = 0.3


@dataclass(frozen=True)
class MuonSimConfig:
    """Every number of the muon simulator (see ``shared/design/muon-data.md``)."""

    # geometry: image row k is layer k, row 0 innermost
    layer_radii_m: tuple[float, ...] = (4.80, 4.85, 4.90, 6.80, 6.85, 7.30, 7.35, 9.80, 9.85)
    layer_station: tuple[int, ...] = (0, 0, 0, 1, 1, 2, 2, 3, 3)
    n_strips: int = 384
    eta_max: float = 1.05  # strips are uniform in |eta| on [0, eta_max]
    # kinematics
    pt_min_gev: float = 3.0
    pt_max_gev: float = 20.0
    z0_sigma_m: float = 0.05
    # toroidal field between two radii, bending in the r-z plane
    field_t: float = 0.5
    field_r_in_m: float = 5.0
    field_r_out_m: float = 9.5
    # multiple scattering: one Gaussian kink at the calorimeter exit
    scatter_radius_m: float = 4.0
    scatter_radiation_lengths: float = 10.0
    # detector response
    layer_efficiency: float = 0.95
    station_dropout: float = 0.02
    cluster_size_probs: tuple[float, ...] = (0.6, 0.3, 0.1)  # sizes 1, 2, 3 strips
    noise_probability: float = 0.002  # per strip and event
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.layer_radii_m) != len(self.layer_station):
            raise ValueError("layer_radii_m and layer_station must have the same length")
        if not np.isclose(sum(self.cluster_size_probs), 1.0):
            raise ValueError("cluster_size_probs must sum to 1")

    # -- image layout -------------------------------------------------------------------------
    @property
    def n_layers(self) -> int:
        return len(self.layer_radii_m)

    @property
    def image_shape(self) -> tuple[int, int]:
        return (self.n_layers, self.n_strips)

    @property
    def radii(self) -> np.ndarray:
        return np.asarray(self.layer_radii_m, dtype=np.float64)

    @property
    def stations(self) -> np.ndarray:
        return np.asarray(self.layer_station, dtype=np.int64)

    @property
    def n_stations(self) -> int:
        return int(self.stations.max()) + 1

    def strip_of_eta(self, abs_eta: np.ndarray) -> np.ndarray:
        """Strip index ``floor(n_strips * |eta| / eta_max)`` (may fall outside the layer)."""
        return np.floor(self.n_strips * np.asarray(abs_eta) / self.eta_max).astype(np.int64)

    def eta_of_strip(self, strip: np.ndarray) -> np.ndarray:
        """|eta| at the centre of a (possibly fractional) strip index."""
        return (np.asarray(strip, dtype=np.float64) + 0.5) * self.eta_max / self.n_strips

    # -- field and bending --------------------------------------------------------------------
    def bend_lever_arm(self, r: np.ndarray) -> np.ndarray:
        """G(r) [m^2]: the r-dependence of the magnetic deflection along z.

        For a muon of charge q, transverse momentum pT and pseudorapidity eta the spec's track
        model (path length s = clip(r - r_in) / sin(theta), deflection s^2 / (2 rho) inside the
        field and a straight continuation outside, rho = p / (0.3 B), p = pT cosh(eta)) gives a
        z displacement

            z_bend(r) = q * (0.3 B cosh(eta)^2 / pT) * G(r),
            G(r) = clip(r - r_in, 0, L)^2 / 2               for r <= r_out,
                   L^2 / 2 + L (r - r_out)                   for r >  r_out,   L = r_out - r_in.

        The curvature ``kappa = 0.3 B cosh(eta)^2 / pT`` [1/m] is what a track fit measures.
        """
        r = np.asarray(r, dtype=np.float64)
        length = self.field_r_out_m - self.field_r_in_m
        inside = np.clip(r - self.field_r_in_m, 0.0, length)
        return np.where(r <= self.field_r_out_m, 0.5 * inside**2,
                        0.5 * length**2 + length * (r - self.field_r_out_m))

    def curvature(self, pt_gev: np.ndarray, eta: np.ndarray) -> np.ndarray:
        """kappa = 0.3 B cosh(eta)^2 / pT [1/m] (see :meth:`bend_lever_arm`)."""
        return GEV_PER_TESLA_METRE * self.field_t * np.cosh(eta) ** 2 / np.asarray(pt_gev)

    def pt_of_curvature(self, kappa: np.ndarray, eta: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`curvature`: pT [GeV] from |kappa| [1/m] and eta."""
        with np.errstate(divide="ignore"):
            return GEV_PER_TESLA_METRE * self.field_t * np.cosh(eta) ** 2 / np.abs(kappa)

    def scattering_angle(self, p_gev: np.ndarray) -> np.ndarray:
        """Highland width theta0 [rad] of the multiple-scattering kink for momentum p [GeV]."""
        x = self.scatter_radiation_lengths
        return 0.0136 / np.asarray(p_gev) * np.sqrt(x) * (1.0 + 0.038 * np.log(x))

    # -- serialisation ------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> MuonSimConfig:
        raw = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in known}
        return cls(**values)
