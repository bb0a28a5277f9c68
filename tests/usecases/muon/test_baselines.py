"""Classical muon baselines: each checked against an independent reference."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hepxai.core.sparse import SparseImages
from hepxai.metrics import trigger
from hepxai.usecases.muon.baselines.coincidence import fires, size_windows, window_strips
from hepxai.usecases.muon.baselines.hit_selection import select_hits
from hepxai.usecases.muon.baselines.track_fit import fit_tracks, station_positions
from hepxai.usecases.muon.geometry import MuonSimConfig
from hepxai.usecases.muon.simulator import simulate

CONFIG = MuonSimConfig()


@pytest.fixture(scope="module")
def events():
    return simulate(CONFIG, 5, "val", 0, 20_000)


def test_fit_inverts_the_track_model_at_fine_granularity():
    """With 7,000 strips and no scattering the fit must give back pT, eta and q."""
    fine = dataclasses.replace(CONFIG, n_strips=7000, noise_probability=0.0,
                               scatter_radiation_lengths=1e-12,
                               station_dropout=0.0, layer_efficiency=1.0,
                               cluster_size_probs=(1.0, 0.0, 0.0))
    ev = simulate(fine, 2, "val", 0, 3000)
    fit = fit_tracks(ev.truth, fine)
    pt, eta = ev.labels["pt"], ev.labels["eta"]
    central = (eta > 0.1) & (eta < 0.95)
    assert fit.ok[central].all()
    relative = (fit.pt - pt)[central] / pt[central]
    assert np.median(np.abs(relative)) < 0.005
    assert np.median(np.abs(fit.eta - eta)[central]) < 1e-3
    assert np.mean(fit.charge[central] == ev.labels["charge"][central]) > 0.999


def test_station_position_is_the_cluster_overlap():
    # layer 0: strips 10-11, layer 1: strip 11, layer 2: strips 11-12 -> BI at 11
    # BM1 layers: 20 and 22 (no overlap) -> mean of centroids 21; BM2 empty; BO: 30-32 -> 31
    pixels = [0 * 384 + 10, 0 * 384 + 11, 1 * 384 + 11, 2 * 384 + 11, 2 * 384 + 12,
              3 * 384 + 20, 4 * 384 + 22, 7 * 384 + 30, 7 * 384 + 31, 7 * 384 + 32]
    images = SparseImages.from_event_pixels(np.zeros(len(pixels), int), np.array(pixels), 1,
                                            (9, 384))
    positions = station_positions(images, CONFIG)[0]
    assert positions[0] == 11 and positions[1] == 21 and np.isnan(positions[2])
    assert positions[3] == 31


def test_truth_fit_quality_on_default_geometry(events):
    fit = fit_tracks(events.truth, CONFIG)
    pt = events.labels["pt"]
    assert fit.ok.mean() > 0.98
    # ideal per-station quantisation alone gives ~0.93 GeV; the fit stays within 70 % of it
    assert trigger.spread(pt, fit.pt) < 1.6
    assert trigger.efficiency(pt, trigger.selected_by(fit.pt, 10.0), 10.0) > 0.92


def test_hough_selection_keeps_the_muon_and_drops_the_noise(events):
    selected, roads = select_hits(events.images, CONFIG)
    n = 9 * 384
    e_sel, p_sel = selected.event_pixels()
    e_tru, p_tru = events.truth.event_pixels()
    e_all, p_all = events.images.event_pixels()
    chosen, truth, every = e_sel * n + p_sel, e_tru * n + p_tru, e_all * n + p_all
    assert np.isin(chosen, truth).mean() > 0.98            # purity
    assert np.isin(truth, chosen).mean() > 0.95            # efficiency
    noise = every[~np.isin(every, truth)]
    assert np.isin(noise, chosen).mean() < 0.05            # noise rejection
    assert selected.is_subset_of(events.images)


def test_hough_finds_nothing_in_pure_noise():
    noise = simulate(CONFIG, 5, "noise", 0, 5000)
    selected, roads = select_hits(noise.images, CONFIG)
    assert np.mean(selected.counts > 0) < 0.01
    assert np.all(roads.n_layers <= 9)


def _fires_reference(images: SparseImages, half_widths, pivot=2, need=2) -> np.ndarray:
    """Plain loops over events and pivot strips: the definition, written the slow way."""
    dense = images.to_dense()
    station_of = CONFIG.stations
    out = np.zeros(len(images), bool)
    for i in range(len(images)):
        stations = np.array([dense[i, station_of == s].any(axis=0) for s in range(4)])
        for c in np.flatnonzero(stations[pivot]):
            count, outer_ok = 0, False
            for s in range(4):
                if s == pivot:
                    continue
                w = window_strips(CONFIG, half_widths[s])[c]
                hit = stations[s, max(c - w, 0):c + w + 1].any()
                count += hit
                outer_ok = hit if s == 3 else outer_ok
            if outer_ok and count >= need:
                out[i] = True
                break
    return out


def test_coincidence_logic_equals_a_loop_reference(events):
    subset = events.images.take(np.arange(400))
    for widths in ((3.0, 1.5, 0.0, 2.0), (5.0, 4.0, 0.0, 8.0), (0.0, 0.0, 0.0, 0.0)):
        assert np.array_equal(fires(subset, CONFIG, widths), _fires_reference(subset, widths))


def test_coincidence_windows_meet_their_calibration_target(events):
    calibration = simulate(CONFIG, 6, "train", 0, 40_000)
    windows = size_windows(calibration.images, calibration.truth, calibration.labels["pt"],
                           CONFIG, 15.0, target_efficiency=0.5)
    assert windows.calibration_efficiency == pytest.approx(0.5, abs=0.03)
    fired = fires(events.images, CONFIG, windows.half_widths)
    pt = events.labels["pt"]
    near = np.abs(pt - 15.0) < 0.5
    assert fired[near].mean() == pytest.approx(0.5, abs=0.08)  # independent sample
    # a turn-on: rises with pT
    low, mid, high = fired[pt < 8].mean(), fired[(pt > 12) & (pt < 14)].mean(), \
        fired[pt > 18].mean()
    assert low < mid < high
