"""Fast, seeded single-muon simulator of the barrel RPC trigger images (9 x 384, binary).

Reproducibility design: events are generated in fixed blocks of :data:`BLOCK_EVENTS`; block ``b``
of split ``s`` draws from its own stream ``SeedSequence(seed, spawn_key=(s, b))``. Any event range
is therefore the same bytes whatever chunk size or number of worker processes produced it, and a
larger sample starts with the events of a smaller one.

Per event (defaults of :class:`MuonSimConfig`): pT ~ U(3, 20) GeV, |eta| ~ U(0, 1.05),
phi ~ U(-pi, pi), q = +-1, z0 ~ N(0, 5 cm); deflection in a 0.5 T toroid between 5.0 and 9.5 m;
one multiple-scattering kink at 4 m; per-layer efficiency 95 %, whole stations silent with 2 %;
clusters of 1/2/3 strips (60/30/10 %) grown to random sides; every strip fires as noise with
probability 0.002. The label ``eta`` is |eta|: the image only sees |eta_hit|, and a negative eta
is the mirror image of a positive one with the opposite charge.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from hepxai.core.sparse import SparseImages
from hepxai.core.workers import worker_pool
from hepxai.usecases.muon.geometry import MuonSimConfig

BLOCK_EVENTS = 16_384
SPLITS = ("train", "val", "noise")  # "noise": only-noise events (no muon), labels all zero

LABEL_DTYPE = np.dtype([("pt", "<f4"), ("eta", "<f4"), ("phi", "<f4"), ("charge", "i1"),
                        ("nhits", "<u2")])
BOOKKEEPING_DTYPE = np.dtype([("n_noise", "<u2"), ("silent_stations", "u1"), ("z0", "<f4")])


@dataclass(frozen=True)
class MuonEvents:
    """A batch of simulated (or imported) events.

    images : noisy images, what a model sees.
    truth : muon-only images (the denoised twin); a subset of ``images`` event by event.
    labels : (n,) structured array ``pt`` [GeV], ``eta`` (|eta|), ``phi`` [rad], ``charge``
        (+-1, 0 for no muon or unknown), ``nhits`` (lit muon pixels).
    bookkeeping : (n,) structured array ``n_noise`` (noise strips drawn), ``silent_stations``
        (bit k set when station k was switched off), ``z0`` [m].
    """

    images: SparseImages
    truth: SparseImages
    labels: np.ndarray
    bookkeeping: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def concatenate(cls, parts: list[MuonEvents]) -> MuonEvents:
        return cls(SparseImages.concatenate([p.images for p in parts]),
                   SparseImages.concatenate([p.truth for p in parts]),
                   np.concatenate([p.labels for p in parts]),
                   np.concatenate([p.bookkeeping for p in parts]))

    def slice(self, start: int, stop: int) -> MuonEvents:
        return MuonEvents(self.images.slice(start, stop), self.truth.slice(start, stop),
                          self.labels[start:stop].copy(), self.bookkeeping[start:stop].copy())


def block_rng(seed: int, split: str, block: int) -> np.random.Generator:
    """The independent random stream of one block of one split."""
    sequence = np.random.SeedSequence(seed, spawn_key=(SPLITS.index(split), block))
    return np.random.Generator(np.random.PCG64(sequence))


def simulate_block(config: MuonSimConfig, seed: int, split: str, block: int) -> MuonEvents:
    """All :data:`BLOCK_EVENTS` events of one block (the unit of randomness)."""
    rng = block_rng(seed, split, block)
    n = BLOCK_EVENTS
    labels = np.zeros(n, LABEL_DTYPE)
    bookkeeping = np.zeros(n, BOOKKEEPING_DTYPE)
    if split == "noise":
        muon_event = muon_pixel = np.zeros(0, np.int64)
    else:
        muon_event, muon_pixel = _draw_muons(config, rng, labels, bookkeeping)
    noise_event, noise_pixel = _draw_noise(config, rng, n)
    bookkeeping["n_noise"] = np.bincount(noise_event, minlength=n)
    shape = config.image_shape
    truth = SparseImages.from_event_pixels(muon_event, muon_pixel, n, shape)
    images = SparseImages.from_event_pixels(np.concatenate([muon_event, noise_event]),
                                            np.concatenate([muon_pixel, noise_pixel]), n, shape)
    labels["nhits"] = truth.counts
    return MuonEvents(images, truth, labels, bookkeeping)


def muon_z(config: MuonSimConfig, pt: np.ndarray, eta: np.ndarray, charge: np.ndarray,
           z0: np.ndarray, kink: np.ndarray, r: np.ndarray) -> np.ndarray:
    """z [m] of the track at radii ``r`` (broadcast ``(n, 1)`` event arrays against ``(layers,)``).

    z = z0 + r sinh(eta) + q (d_field(r) + d_scatter(r)) / sin(theta), with the field deflection
    written through :meth:`MuonSimConfig.bend_lever_arm` and the scattering deflection
    (r - r_ms) / sin(theta) * kink.
    """
    cosh = np.cosh(eta)
    field = config.curvature(pt, eta) * config.bend_lever_arm(r)
    scatter = np.clip(r - config.scatter_radius_m, 0.0, None) * cosh**2 * kink
    return z0 + r * np.sinh(eta) + charge * (field + scatter)


def _draw_muons(config: MuonSimConfig, rng: np.random.Generator, labels: np.ndarray,
                bookkeeping: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kinematics, track and detector response; fills labels, returns (event, pixel) hits."""
    n = len(labels)
    pt = rng.uniform(config.pt_min_gev, config.pt_max_gev, n)
    eta = rng.uniform(0.0, config.eta_max, n)
    phi = rng.uniform(-np.pi, np.pi, n)
    charge = rng.choice(np.array([-1, 1], np.int8), n)
    z0 = rng.normal(0.0, config.z0_sigma_m, n)
    kink = rng.normal(0.0, 1.0, n) * config.scattering_angle(pt * np.cosh(eta))

    z = muon_z(config, pt[:, None], eta[:, None], charge[:, None], z0[:, None], kink[:, None],
               config.radii[None, :])
    strip = config.strip_of_eta(np.abs(np.arcsinh(z / config.radii[None, :])))  # (n, layers)

    n_layers = config.n_layers
    layer_on = rng.random((n, n_layers)) < config.layer_efficiency
    silent = rng.random((n, config.n_stations)) < config.station_dropout
    layer_on &= ~silent[:, config.stations]
    n_extra = rng.choice(len(config.cluster_size_probs), (n, n_layers),
                         p=config.cluster_size_probs)
    n_left = rng.binomial(n_extra, 0.5)  # each extra strip grows the cluster to a random side

    offset = np.arange(len(config.cluster_size_probs))  # strip j of the cluster
    cluster = strip[..., None] - n_left[..., None] + offset  # (n, layers, max size)
    valid = (layer_on[..., None] & (offset <= n_extra[..., None])
             & (cluster >= 0) & (cluster < config.n_strips))
    pixel = np.arange(n_layers)[None, :, None] * config.n_strips + cluster
    event = np.broadcast_to(np.arange(n)[:, None, None], pixel.shape)

    labels["pt"], labels["eta"], labels["phi"], labels["charge"] = pt, eta, phi, charge
    bookkeeping["z0"] = z0
    bookkeeping["silent_stations"] = (silent * (1 << np.arange(config.n_stations))).sum(axis=1)
    return event[valid], pixel[valid]


def _draw_noise(config: MuonSimConfig, rng: np.random.Generator,
                n: int) -> tuple[np.ndarray, np.ndarray]:
    """Independent per-strip noise: draw each event's count, then distinct uniform positions.

    Binomial count + positions without replacement is exactly "every strip fires with
    probability p", at ~7 random numbers an event instead of 3,456.
    """
    n_pixels = config.n_layers * config.n_strips
    count = rng.binomial(n_pixels, config.noise_probability, n)
    event = np.repeat(np.arange(n, dtype=np.int64), count)
    pixel = rng.integers(0, n_pixels, event.size)
    while True:  # redraw repeated positions within an event (rare: ~0.7 % of events, 1-2 rounds)
        key = event * n_pixels + pixel
        order = np.argsort(key, kind="stable")
        repeated = order[1:][key[order][1:] == key[order][:-1]]
        if repeated.size == 0:
            return event, pixel
        pixel[repeated] = rng.integers(0, n_pixels, repeated.size)


def simulate(config: MuonSimConfig, seed: int, split: str, start: int, stop: int) -> MuonEvents:
    """Events ``start:stop`` of a split; identical whatever range or order they are asked in."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if not 0 <= start <= stop:
        raise ValueError(f"invalid event range {start}:{stop}")
    first, last = start // BLOCK_EVENTS, -(-stop // BLOCK_EVENTS)
    blocks = [simulate_block(config, seed, split, b) for b in range(first, last)]
    if not blocks:
        return MuonEvents.concatenate([simulate_block(config, seed, split, 0)]).slice(0, 0)
    events = MuonEvents.concatenate(blocks)
    offset = first * BLOCK_EVENTS
    return events.slice(start - offset, stop - offset)


def _simulate_task(args: tuple[MuonSimConfig, int, str, int, int]) -> MuonEvents:
    return simulate(*args)


def simulate_chunks(config: MuonSimConfig, seed: int, split: str, n_events: int,
                    chunk_events: int = 4 * BLOCK_EVENTS,
                    workers: int | None = None) -> Iterator[MuonEvents]:
    """Yield the ``n_events`` events of a split in order, in chunks, using worker processes.

    ``workers``: processes (default: all cores; 1 runs in this process). The output does not
    depend on ``chunk_events`` or ``workers``.
    """
    if chunk_events <= 0:
        raise ValueError("chunk_events must be positive")
    tasks = [(config, seed, split, a, min(a + chunk_events, n_events))
             for a in range(0, n_events, chunk_events)]
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(tasks) <= 1:
        yield from map(_simulate_task, tasks)
        return
    with worker_pool(workers) as pool:
        yield from pool.map(_simulate_task, tasks)
