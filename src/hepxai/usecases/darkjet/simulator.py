"""Dark-photon jets and QCD jets as sets of calorimeter clusters (eta, phi, sampling layer, E).

The ATLAS search for light long-lived dark photons (JHEP 06 (2023) 153) separates hadronic
dark-photon jets (DPJ, signal) from QCD jets (background) with a 3D-CNN on calorimeter images;
the MUCCA slides and poster turn the same clusters into graphs. The published 500k-jet sample is
not reachable here, so this module simulates the same kind of objects. It is a *physics-motivated
toy*, not a detector simulation: every choice below is a documented knob of
:class:`DarkJetSimConfig`, set so that the classes overlap (no single variable separates them).

Geometry (ATLAS barrel, |eta| < 1.4). Seven sampling layers, innermost first, with the radial
extent [m] used for the dark-photon decay:

======  ==========  ===========
layer   name        r [m]
======  ==========  ===========
0       presampler  1.42 - 1.47
1       EM1         1.47 - 1.60
2       EM2         1.60 - 1.85
3       EM3         1.85 - 2.00
4       Tile0       2.28 - 2.58
5       Tile1       2.58 - 3.42
6       Tile2       3.42 - 3.86
======  ==========  ===========

QCD jet (label 0): jet pT from a falling power law ``pT^-qcd_pt_power`` on
[pt_min, pt_max] GeV; the number of jet clusters negative-binomial around a mean that grows
with log pT; Delta R of a cluster from the jet axis exponential with a per-jet width
``qcd_width * (40 GeV / pT)^0.3 * lognormal(width_spread)`` (harder jets are narrower),
truncated at the cone ``cone`` = 0.4 (with the energy sharing below, the energy-weighted width
is about half the scale: ~0.08 at 40 GeV, the "characteristic width ~0.1" of the design); the
jet's EM fraction ``f_EM ~ Beta`` (mean ~0.5, broad);
a cluster is electromagnetic with probability f_EM (layer drawn from ``em_layer_probs``),
hadronic otherwise (``had_layer_probs``).

Dark-photon jet (label 1): a boosted light neutral particle (mass ``dp_mass`` GeV) decaying at
a displaced radius into two collimated prongs. The decay radius is exponential with the lab
decay length ``decay_length`` [m] and starts at the inner face of the calorimeter side of the
inner detector (``decay_r_min``), truncated inside the calorimeter (<= 3.6 m); the shower starts
in the first layer whose outer radius is beyond the decay point and develops over the next
layers (``shower_depth_p``: geometric number of extra layers), so a decay beyond the EM
calorimeter leaves a low EM fraction. The prongs are separated by Delta R ~ 2 m / pT around the
axis; clusters spread around their prong as a 2D Gaussian of width ``dp_width`` (lognormal
spread; energy-weighted width ~0.045); fewer clusters (``dp_clusters_mean``).

Cluster energies: the jet energy ``E = pT cosh(eta)`` shared among clusters with Gamma(1)
weights damped by ``exp(-Delta R / width)`` (the core carries most energy). Pile-up / noise
clusters (both classes): Poisson(``noise_mean``) clusters uniform in the cone area, any layer,
energy exponential with mean ``noise_energy`` GeV, flagged ``is_noise`` in the truth so node
explanations can be judged against it (like the muon denoised image).

Vectorised: one call draws a whole block of jets with numpy (no per-jet Python), seeded per
(seed, class, block), so a file does not depend on how it is chunked.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from hepxai.core.errors import HepxaiError

LAYER_NAMES = ("presampler", "EM1", "EM2", "EM3", "Tile0", "Tile1", "Tile2")
N_LAYERS = len(LAYER_NAMES)
EM_LAYERS = (0, 1, 2, 3)
# radial extent [m] of the barrel sampling layers (inner, outer)
LAYER_RADII = ((1.42, 1.47), (1.47, 1.60), (1.60, 1.85), (1.85, 2.00), (2.28, 2.58),
               (2.58, 3.42), (3.42, 3.86))
CLASSES = ("qcd", "dark_photon")
BLOCK_JETS = 8192

CLUSTER_DTYPE = np.dtype([("eta", np.float32), ("phi", np.float32), ("layer", np.uint8),
                          ("energy", np.float32), ("is_noise", np.bool_)])
JET_DTYPE = np.dtype([("label", np.uint8), ("pt", np.float32), ("eta", np.float32),
                      ("phi", np.float32), ("n_clusters", np.int32), ("n_noise", np.int32),
                      ("em_fraction", np.float32), ("width", np.float32),
                      ("decay_radius", np.float32)])


@dataclass(frozen=True)
class DarkJetSimConfig:
    """The knobs that set the physics and the difficulty (units: GeV, metres, Delta R)."""

    pt_min: float = 20.0
    pt_max: float = 200.0
    qcd_pt_power: float = 3.0           # dN/dpT ~ pT^-power: steeply falling QCD spectrum
    dp_pt_power: float = 2.0            # signal: harder (boosted dark photons from a heavy decay)
    eta_max: float = 1.4                # barrel
    cone: float = 0.4                   # anti-kt R = 0.4 jet cone
    qcd_clusters_mean: float = 16.0     # at pT = 20 GeV; grows with log pT
    qcd_clusters_log_slope: float = 5.0  # extra clusters per e-fold of pT / 20 GeV
    qcd_clusters_dispersion: float = 6.0  # negative-binomial shape: a broad multiplicity
    qcd_clusters_max: int = 40
    dp_clusters_mean: float = 8.0
    dp_clusters_max: int = 20
    min_clusters: int = 3
    qcd_width: float = 0.16             # Delta R scale of the QCD cluster profile at 40 GeV
    dp_width: float = 0.05              # spread of the dark-photon clusters around a prong
    width_spread: float = 0.45          # lognormal sigma of the per-jet width
    qcd_em_beta: tuple[float, float] = (4.0, 4.0)  # Beta(a, b) of the QCD EM fraction
    em_layer_probs: tuple[float, ...] = (0.08, 0.32, 0.45, 0.15)
    had_layer_probs: tuple[float, ...] = (0.50, 0.35, 0.15)
    dp_mass: float = 0.4                # GeV: hadronic dark photon (above the 2-pion threshold)
    decay_length: float = 1.5           # lab decay length beta*gamma*c*tau [m]
    decay_r_min: float = 1.5            # decays before this radius leave the jet selection
    decay_r_max: float = 3.6
    shower_depth_p: float = 0.55        # P(stop) per layer of the geometric shower depth
    noise_mean: float = 4.0             # pile-up / noise clusters per jet (Poisson mean)
    noise_energy: float = 0.6           # GeV, exponential mean of a noise cluster
    min_cluster_energy: float = 0.1     # GeV: topo-cluster threshold

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DarkJetSimConfig:
        values = json.loads(text)
        for key in ("qcd_em_beta", "em_layer_probs", "had_layer_probs"):
            values[key] = tuple(values[key])
        return cls(**values)


@dataclass
class Jets:
    """A block of jets: ``clusters`` flat ``(n_clusters_total,)`` of :data:`CLUSTER_DTYPE`,
    jet ``i`` owning ``clusters[offsets[i]:offsets[i + 1]]``; ``jets`` ``(n,)`` of
    :data:`JET_DTYPE` (label 1 = dark photon)."""

    clusters: np.ndarray
    offsets: np.ndarray
    jets: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return len(self.jets)

    @staticmethod
    def concatenate(parts: list[Jets]) -> Jets:
        sizes = [np.diff(p.offsets) for p in parts]
        offsets = np.zeros(sum(len(p) for p in parts) + 1, np.int64)
        np.cumsum(np.concatenate(sizes) if sizes else [], out=offsets[1:])
        return Jets(np.concatenate([p.clusters for p in parts]), offsets,
                    np.concatenate([p.jets for p in parts]))


def _ragged_owner(counts: np.ndarray) -> np.ndarray:
    """Owner index of every element of ragged groups of sizes ``counts``."""
    return np.repeat(np.arange(len(counts)), counts)


def _power_law(rng: np.random.Generator, n: int, lo: float, hi: float,
               power: float) -> np.ndarray:
    """Inverse-CDF draw from dN/dx ~ x^-power on [lo, hi]."""
    u = rng.random(n)
    if abs(power - 1.0) < 1e-9:
        return lo * (hi / lo) ** u
    a = 1.0 - power
    return (lo ** a + u * (hi ** a - lo ** a)) ** (1.0 / a)


def _categorical(rng: np.random.Generator, n: int, probs: tuple[float, ...]) -> np.ndarray:
    cdf = np.cumsum(np.asarray(probs, np.float64))
    return np.searchsorted(cdf / cdf[-1], rng.random(n), side="right").astype(np.int64)


def _shower_start(radius: np.ndarray) -> np.ndarray:
    """First sampling layer whose outer radius lies beyond the decay radius."""
    outer = np.array([r[1] for r in LAYER_RADII])
    return np.minimum(np.searchsorted(outer, radius, side="right"), N_LAYERS - 1)


def simulate_jets(config: DarkJetSimConfig, seed: int, label: int, block: int,
                  n: int) -> Jets:
    """``n`` jets of class ``label`` (0 QCD, 1 dark photon), deterministic in
    ``(seed, label, block)``."""
    if label not in (0, 1):
        raise HepxaiError(f"jet label must be 0 (QCD) or 1 (dark photon), got {label}")
    rng = np.random.default_rng([seed, label, block, 0xDA4C])
    c = config
    signal = label == 1
    pt = _power_law(rng, n, c.pt_min, c.pt_max, c.dp_pt_power if signal else c.qcd_pt_power)
    eta = rng.uniform(-c.eta_max, c.eta_max, n)
    phi = rng.uniform(-np.pi, np.pi, n)
    scale = np.exp(rng.normal(0.0, c.width_spread, n))

    # -- jet clusters: multiplicity, shape, layers --------------------------------------------
    if signal:
        lam = c.dp_clusters_mean + 1.0 * np.log(pt / c.pt_min)
        n_core = np.clip(rng.poisson(lam), c.min_clusters, c.dp_clusters_max)
        width = c.dp_width * scale
        # decay radius: exponential from the inner detector, truncated inside the calorimeter
        span = c.decay_r_max - c.decay_r_min
        u = rng.random(n) * (1.0 - np.exp(-span / c.decay_length))
        radius = c.decay_r_min - c.decay_length * np.log1p(-u)
        start = _shower_start(radius)
        em_fraction_prior = np.full(n, np.nan)
    else:
        mean = c.qcd_clusters_mean + c.qcd_clusters_log_slope * np.log(pt / c.pt_min)
        k = c.qcd_clusters_dispersion  # negative binomial = Poisson with a Gamma-mixed mean
        lam = rng.gamma(k, mean / k)
        n_core = np.clip(rng.poisson(lam), c.min_clusters, c.qcd_clusters_max)
        width = c.qcd_width * (40.0 / pt) ** 0.3 * scale
        radius = np.full(n, np.nan)
        start = np.zeros(n, np.int64)
        em_fraction_prior = rng.beta(*c.qcd_em_beta, n)

    owner = _ragged_owner(n_core)
    m = owner.size
    w = width[owner]
    if signal:
        # two prongs at +-Delta R / 2 from the axis along a random direction
        separation = np.minimum(2.0 * c.dp_mass / pt, c.cone / 2)
        direction = rng.uniform(0.0, 2 * np.pi, n)
        prong = np.where(rng.random(m) < 0.5, 0.5, -0.5)
        centre_eta = prong * separation[owner] * np.cos(direction[owner])
        centre_phi = prong * separation[owner] * np.sin(direction[owner])
        # a 2D Gaussian around the prong: Rayleigh radius
        dr = w * np.sqrt(-2.0 * np.log1p(-rng.random(m)))
        angle = rng.uniform(0.0, 2 * np.pi, m)
        d_eta = centre_eta + dr * np.cos(angle)
        d_phi = centre_phi + dr * np.sin(angle)
        depth = rng.geometric(c.shower_depth_p, m) - 1
        layer = np.minimum(start[owner] + depth, N_LAYERS - 1)
    else:
        # exponential profile in Delta R, truncated at the cone (inverse CDF)
        u = rng.random(m) * (1.0 - np.exp(-c.cone / w))
        dr = -w * np.log1p(-u)
        angle = rng.uniform(0.0, 2 * np.pi, m)
        d_eta, d_phi = dr * np.cos(angle), dr * np.sin(angle)
        is_em = rng.random(m) < em_fraction_prior[owner]
        layer = np.where(is_em, _categorical(rng, m, c.em_layer_probs),
                         len(c.em_layer_probs) + _categorical(rng, m, c.had_layer_probs))
    r_core = np.hypot(d_eta, d_phi)
    weight = rng.gamma(1.0, 1.0, m) * np.exp(-r_core / w)
    weight_sum = np.bincount(owner, weight, minlength=n)
    energy_jet = pt * np.cosh(eta)
    energy = np.maximum(energy_jet[owner] * weight / weight_sum[owner], c.min_cluster_energy)

    # -- pile-up / noise clusters -------------------------------------------------------------
    n_noise = rng.poisson(c.noise_mean, n)
    noise_owner = _ragged_owner(n_noise)
    k = noise_owner.size
    noise_r = c.cone * np.sqrt(rng.random(k))  # uniform in the cone's area
    noise_angle = rng.uniform(0.0, 2 * np.pi, k)
    noise_energy = c.min_cluster_energy + rng.exponential(c.noise_energy, k)
    noise_layer = rng.integers(0, N_LAYERS, k)

    # -- merge per jet: jet clusters first, then noise ----------------------------------------
    counts = n_core + n_noise
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    clusters = np.empty(offsets[-1], CLUSTER_DTYPE)
    core_pos = offsets[owner] + (np.arange(m) - np.repeat(np.cumsum(n_core) - n_core, n_core))
    noise_pos = (offsets[noise_owner] + n_core[noise_owner]
                 + (np.arange(k) - np.repeat(np.cumsum(n_noise) - n_noise, n_noise)))
    all_eta = np.empty(offsets[-1])
    all_phi = np.empty(offsets[-1])
    all_eta[core_pos], all_phi[core_pos] = eta[owner] + d_eta, phi[owner] + d_phi
    all_eta[noise_pos] = eta[noise_owner] + noise_r * np.cos(noise_angle)
    all_phi[noise_pos] = phi[noise_owner] + noise_r * np.sin(noise_angle)
    clusters["eta"] = all_eta
    clusters["phi"] = np.mod(all_phi + np.pi, 2 * np.pi) - np.pi  # wrap into [-pi, pi)
    clusters["layer"][core_pos] = layer
    clusters["layer"][noise_pos] = noise_layer
    clusters["energy"][core_pos] = energy
    clusters["energy"][noise_pos] = noise_energy
    clusters["is_noise"][core_pos] = False
    clusters["is_noise"][noise_pos] = True

    total = np.bincount(_ragged_owner(counts), clusters["energy"].astype(np.float64),
                        minlength=n)
    em = np.bincount(_ragged_owner(counts),
                     np.where(clusters["layer"] < len(EM_LAYERS), clusters["energy"], 0.0),
                     minlength=n)
    jets = np.empty(n, JET_DTYPE)
    jets["label"] = label
    jets["pt"], jets["eta"], jets["phi"] = pt, eta, phi
    jets["n_clusters"], jets["n_noise"] = counts, n_noise
    jets["em_fraction"] = em / total
    jets["width"] = width
    jets["decay_radius"] = radius
    return Jets(clusters, offsets, jets)


def simulate_blocks(config: DarkJetSimConfig, seed: int, label: int, n: int,
                    first_block: int = 0):
    """Yield :class:`Jets` blocks of :data:`BLOCK_JETS` adding up to ``n`` jets of ``label``."""
    block = first_block
    done = 0
    while done < n:
        size = min(BLOCK_JETS, n - done)
        yield simulate_jets(config, seed, label, block, size)
        done += size
        block += 1
