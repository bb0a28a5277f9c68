"""Vectorised relativistic kinematics for the SUSY event generator.

Four-vectors are float64 arrays whose last axis is ``(E, px, py, pz)`` in GeV, so a batch of
``n`` particles is ``(n, 4)`` and ``n`` events with up to ``k`` jets is ``(n, k, 4)``. Every
function works on whole batches: the generator never loops over events in Python.
"""

from __future__ import annotations

import numpy as np

TWO_PI = 2.0 * np.pi


def four_vector(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray,
                mass: np.ndarray | float = 0.0) -> np.ndarray:
    """``(..., 4)`` from transverse momentum [GeV], pseudorapidity, azimuth [rad], mass [GeV]."""
    pt, eta, phi = np.broadcast_arrays(np.asarray(pt, float), np.asarray(eta, float),
                                       np.asarray(phi, float))
    pz = pt * np.sinh(eta)
    energy = np.sqrt(pt**2 + pz**2 + np.asarray(mass, float) ** 2)
    return np.stack([energy, pt * np.cos(phi), pt * np.sin(phi), pz], axis=-1)


def from_mt_rapidity(pt: np.ndarray, phi: np.ndarray, rapidity: np.ndarray,
                     mass: np.ndarray) -> np.ndarray:
    """``(..., 4)`` of a system with transverse momentum, azimuth, rapidity and mass [GeV]."""
    mt = np.sqrt(mass**2 + pt**2)
    return np.stack([mt * np.cosh(rapidity), pt * np.cos(phi), pt * np.sin(phi),
                     mt * np.sinh(rapidity)], axis=-1)


def pt(p: np.ndarray) -> np.ndarray:
    """Transverse momentum [GeV], shape ``p.shape[:-1]``."""
    return np.hypot(p[..., 1], p[..., 2])


def phi(p: np.ndarray) -> np.ndarray:
    """Azimuth in (-pi, pi] [rad]."""
    return np.arctan2(p[..., 2], p[..., 1])


def eta(p: np.ndarray) -> np.ndarray:
    """Pseudorapidity; +-inf is avoided by flooring pT at 1e-9 GeV."""
    return np.arcsinh(p[..., 3] / np.maximum(pt(p), 1e-9))


def mass(p: np.ndarray) -> np.ndarray:
    """Invariant mass [GeV]; tiny negative m^2 from rounding gives 0."""
    m2 = p[..., 0] ** 2 - p[..., 1] ** 2 - p[..., 2] ** 2 - p[..., 3] ** 2
    return np.sqrt(np.maximum(m2, 0.0))


def delta_phi(phi_a: np.ndarray, phi_b: np.ndarray) -> np.ndarray:
    """|phi_a - phi_b| folded into [0, pi] [rad]."""
    d = np.abs(phi_a - phi_b) % TWO_PI
    return np.minimum(d, TWO_PI - d)


def boost(p: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Lorentz-boost ``p`` ``(..., 4)`` by velocity ``beta`` ``(..., 3)`` (|beta| < 1)."""
    bx, by, bz = beta[..., 0], beta[..., 1], beta[..., 2]
    b2 = bx * bx + by * by + bz * bz
    gamma = 1.0 / np.sqrt(1.0 - b2)
    bp = bx * p[..., 1] + by * p[..., 2] + bz * p[..., 3]
    # (gamma - 1) / b2 -> 0 for a vanishing boost: avoid 0/0
    g2 = np.where(b2 > 0, (gamma - 1.0) / np.where(b2 > 0, b2, 1.0), 0.0)
    along = g2 * bp + gamma * p[..., 0]
    out = np.empty(np.broadcast_shapes(p.shape, beta.shape[:-1] + (4,)))
    out[..., 0] = gamma * (p[..., 0] + bp)
    out[..., 1] = p[..., 1] + along * bx
    out[..., 2] = p[..., 2] + along * by
    out[..., 3] = p[..., 3] + along * bz
    return out


def two_body_decay(parent: np.ndarray, m1: np.ndarray | float, m2: np.ndarray | float,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic two-body decay of ``parent`` ``(n, 4)`` into daughters of masses m1, m2 [GeV].

    The direction is uniform on the sphere in the parent rest frame (spin correlations and
    polarisation are neglected). Requires ``mass(parent) >= m1 + m2``; callers draw off-shell
    masses inside the allowed range.
    """
    n = len(parent)
    big_m = mass(parent)
    m1 = np.broadcast_to(np.asarray(m1, float), (n,))
    m2 = np.broadcast_to(np.asarray(m2, float), (n,))
    lam = (big_m**2 - (m1 + m2) ** 2) * (big_m**2 - (m1 - m2) ** 2)
    p_star = np.sqrt(np.maximum(lam, 0.0)) / (2.0 * np.maximum(big_m, 1e-9))
    cos_t = rng.uniform(-1.0, 1.0, n)
    sin_t = np.sqrt(1.0 - cos_t**2)
    azimuth = rng.uniform(0.0, TWO_PI, n)
    d1 = np.empty((n, 4))
    d1[:, 1] = p_star * sin_t * np.cos(azimuth)
    d1[:, 2] = p_star * sin_t * np.sin(azimuth)
    d1[:, 3] = p_star * cos_t
    d2 = -d1
    d1[:, 0] = np.sqrt(p_star**2 + m1**2)
    d2[:, 0] = np.sqrt(p_star**2 + m2**2)
    beta = parent[:, 1:] / parent[:, :1]
    return boost(d1, beta), boost(d2, beta)


def breit_wigner(rng: np.random.Generator, m0: float, width: float, n: int,
                 low: float | np.ndarray, high: float | np.ndarray) -> np.ndarray:
    """Off-shell masses [GeV]: a Cauchy (non-relativistic Breit-Wigner) truncated to [low, high].

    Drawn by inverting the CDF between the bounds, so no event is rejected and ``low`` may be
    an array (e.g. a kinematic limit per event).
    """
    half = 0.5 * width
    a = np.arctan((np.asarray(low, float) - m0) / half)
    b = np.arctan((np.asarray(high, float) - m0) / half)
    return m0 + half * np.tan(a + (b - a) * rng.random(n))


def lomax(rng: np.random.Generator, scale: float, alpha: float, n: int,
          minimum: float = 0.0) -> np.ndarray:
    """Power-law spectrum with P(x > t) = (1 + t / scale)**-alpha, truncated below at ``minimum``.

    Used for transverse momenta of recoiling systems [GeV]: exponential-like near 0, a power-law
    tail like QCD radiation spectra.
    """
    u = rng.random(n)
    return scale * ((1.0 + minimum / scale) * (1.0 - u) ** (-1.0 / alpha) - 1.0)


def lomax_tail(scale: float, alpha: float, minimum: float) -> float:
    """P(x > minimum) of :func:`lomax`: the fraction of the spectrum a generator slice keeps."""
    return float((1.0 + minimum / scale) ** (-alpha))
