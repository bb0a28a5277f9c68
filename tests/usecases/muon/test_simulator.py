"""Physics of the muon simulator against its specification (shared/design/muon-data.md)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from hepxai.usecases.muon.baselines.track_fit import layer_extents, station_positions
from hepxai.usecases.muon.geometry import MuonSimConfig
from hepxai.usecases.muon.simulator import BLOCK_EVENTS, MuonEvents, muon_z, simulate

CONFIG = MuonSimConfig()
N = 2 * BLOCK_EVENTS


@pytest.fixture(scope="module")
def muons():
    return simulate(CONFIG, 7, "train", 0, N)


@pytest.fixture(scope="module")
def noise_only():
    return simulate(CONFIG, 7, "noise", 0, N)


def test_label_distributions_follow_the_spec(muons):
    labels = muons.labels
    for name, lo, hi in (("pt", 3.0, 20.0), ("eta", 0.0, 1.05), ("phi", -np.pi, np.pi)):
        values = labels[name].astype(np.float64)
        assert values.min() >= lo and values.max() <= hi
        assert stats.kstest(values, stats.uniform(lo, hi - lo).cdf).pvalue > 1e-3, name
    charge = labels["charge"]
    assert set(np.unique(charge)) == {-1, 1}
    assert abs(charge.mean()) < 5 / np.sqrt(N)


def test_noise_is_independent_per_strip(noise_only):
    counts = noise_only.images.counts
    expected = 9 * 384 * CONFIG.noise_probability  # 6.912
    assert abs(counts.mean() - expected) < 5 * np.sqrt(expected / N)
    # binomial variance n p (1 - p), not Poisson-with-duplicates or a fixed count
    assert counts.var() == pytest.approx(expected * (1 - CONFIG.noise_probability), rel=0.05)
    assert np.array_equal(noise_only.bookkeeping["n_noise"], counts)
    # evenly spread: every layer and every strip region gets its share
    _, pixel = noise_only.images.event_pixels()
    per_layer = np.bincount(pixel // 384, minlength=9)
    assert stats.chisquare(per_layer).pvalue > 1e-3
    per_strip_block = np.bincount((pixel % 384) // 48, minlength=8)
    assert stats.chisquare(per_strip_block).pvalue > 1e-3


def test_only_noise_events_have_zero_labels_and_no_truth(noise_only):
    for name in ("pt", "eta", "phi", "charge", "nhits"):
        assert not noise_only.labels[name].any()
    assert noise_only.truth.counts.sum() == 0


def test_truth_is_a_subset_of_the_noisy_image(muons):
    assert muons.truth.is_subset_of(muons.images)
    assert np.array_equal(muons.labels["nhits"], muons.truth.counts)
    extra = muons.images.counts - muons.truth.counts
    # the noisy image adds the noise hits that did not land on a muon pixel
    assert np.all(extra <= muons.bookkeeping["n_noise"])
    assert abs(muons.bookkeeping["n_noise"].mean() - 6.912) < 0.1


def _signed_offset(events):
    """Outer (BO) minus inner (BI) station strip of the muon hits."""
    positions = station_positions(events.truth, CONFIG)
    return positions[:, 3] - positions[:, 0]


def test_bending_falls_like_one_over_pt_and_follows_the_charge(muons):
    offset = _signed_offset(muons)
    labels = muons.labels
    pt, eta, q = labels["pt"], labels["eta"], labels["charge"]
    good = np.isfinite(offset) & (eta > 0.2) & (eta < 0.4)
    # sign follows the charge
    assert np.mean(np.sign(offset[good]) == q[good]) > 0.97
    # |offset| * pT is constant (1/pT law), within the strip quantisation
    products = []
    for lo in (4.0, 8.0, 12.0, 16.0):
        sel = good & (pt > lo) & (pt < lo + 1.0)
        products.append(np.median(np.abs(offset[sel]) * pt[sel]))
    assert max(products) / min(products) < 1.15
    # magnitude of the spec's calibration points: ~16-19 strips at 4 GeV, ~4-5 at 15 GeV
    at4 = np.median(np.abs(offset[good & (np.abs(pt - 4.0) < 0.3)]))
    at15 = np.median(np.abs(offset[good & (np.abs(pt - 15.0) < 0.3)]))
    assert 14 <= at4 <= 21 and 3.5 <= at15 <= 6


def test_cluster_sizes_and_layer_efficiency(muons):
    first, last = layer_extents(muons.truth, CONFIG.n_strips)
    size = last - first + 1
    inside = np.isfinite(size) & (first >= 2) & (last <= 381)  # clusters not cut by an edge
    frequencies = np.bincount(size[inside].astype(int), minlength=4)[1:4] / inside.sum()
    assert frequencies == pytest.approx(CONFIG.cluster_size_probs, abs=0.01)
    # a cluster is contiguous: as many hits as its extent
    event, pixel = muons.truth.event_pixels()
    hits = np.bincount(event * 9 + pixel // 384, minlength=len(muons) * 9).reshape(-1, 9)
    assert np.array_equal(hits[np.isfinite(size)], size[np.isfinite(size)].astype(int))
    # layer efficiency: among stations that were on, in the central region away from edges
    silent = muons.bookkeeping["silent_stations"]
    on = ~((silent[:, None] >> CONFIG.stations[None, :]) & 1).astype(bool)
    central = (muons.labels["eta"] > 0.2) & (muons.labels["eta"] < 0.8)
    efficiency = np.isfinite(size)[on & central[:, None]].mean()
    assert efficiency == pytest.approx(CONFIG.layer_efficiency, abs=0.005)


def test_station_dropout(muons):
    silent = muons.bookkeeping["silent_stations"]
    first, _ = layer_extents(muons.truth, CONFIG.n_strips)
    for station in range(4):
        off = ((silent >> station) & 1).astype(bool)
        assert off.mean() == pytest.approx(CONFIG.station_dropout, abs=4 * np.sqrt(0.02 / N))
        layers = CONFIG.stations == station
        assert not np.isfinite(first[off][:, layers]).any()  # a silent station has no hits


def test_track_model_matches_the_spec_formulas():
    """muon_z (written through the lever arm G) equals the spec's s(r), d(r), L formulas."""
    rng = np.random.default_rng(0)
    n = 500
    pt, eta = rng.uniform(3, 20, n), rng.uniform(0, 1.05, n)
    q, z0, kink = rng.choice([-1, 1], n), rng.normal(0, 0.05, n), rng.normal(0, 1e-3, n)
    r = np.linspace(4.0, 10.5, 27)
    sin_t = 1 / np.cosh(eta)[:, None]
    rho = (pt * np.cosh(eta) / (0.3 * 0.5))[:, None]
    s = np.clip(r - 5.0, 0, 4.5) / sin_t
    length = 4.5 / sin_t
    d = np.where(r <= 9.5, s**2 / (2 * rho),
                 length**2 / (2 * rho) + (r - 9.5) / sin_t * (length / rho))
    d = d + (r - 4.0) / sin_t * kink[:, None]
    expected = z0[:, None] + r * np.sinh(eta)[:, None] + q[:, None] * d / sin_t
    got = muon_z(CONFIG, pt[:, None], eta[:, None], q[:, None], z0[:, None], kink[:, None], r)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_hits_beyond_the_last_strip_are_lost(muons):
    """At the edge of the acceptance, muons bent outwards (q = +1) leave the outer layers."""
    first, _ = layer_extents(muons.truth, CONFIG.n_strips)
    has_outer = np.isfinite(first[:, 7:]).any(axis=1)
    labels = muons.labels
    edge = (labels["eta"] > 1.03) & (labels["pt"] < 6)
    assert has_outer[edge & (labels["charge"] == 1)].mean() < 0.1
    assert has_outer[edge & (labels["charge"] == -1)].mean() > 0.8
    _, pixel = muons.truth.event_pixels()
    assert pixel.max() < 9 * 384


def test_same_seed_same_events_whatever_the_range():
    whole = simulate(CONFIG, 11, "val", 0, BLOCK_EVENTS + 500)
    bounds = (0, 123, BLOCK_EVENTS + 1, BLOCK_EVENTS + 500)
    joined = MuonEvents.concatenate([simulate(CONFIG, 11, "val", a, b)
                                     for a, b in zip(bounds[:-1], bounds[1:], strict=True)])
    for images in ("images", "truth"):
        for field in ("offsets", "indices"):
            assert np.array_equal(getattr(getattr(joined, images), field),
                                  getattr(getattr(whole, images), field))
    assert np.array_equal(joined.labels, whole.labels)
    assert np.array_equal(joined.bookkeeping, whole.bookkeeping)
    other = simulate(CONFIG, 12, "val", 0, 500)
    assert not np.array_equal(other.labels, whole.labels[:500])
