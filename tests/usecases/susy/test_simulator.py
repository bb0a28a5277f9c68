"""The SUSY simulator: kinematic features of the processes, the documented correlations and class
differences, the same events in every reconstruction, reproducibility, weights, and the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy import stats
from susy_samples import data_dir, physics_events

from hepxai.core.errors import HepxaiError
from hepxai.usecases.susy import kinematics as kin
from hepxai.usecases.susy.simulator import (
    CLASSES,
    DOCUMENTED_CORRELATIONS,
    FEATURES,
    PROCESSES,
    SusySimConfig,
    simulate_block,
    simulate_process,
    simulate_split,
)
from hepxai.usecases.susy.store import SusyFile, split_path

F = {name: i for i, name in enumerate(FEATURES)}
ROOT = Path(__file__).resolve().parents[3]


def column(level: str, name: str, process: str, presel: bool = True) -> np.ndarray:
    events, _ = physics_events()
    rows = events.label == CLASSES.index(process)
    if presel:
        rows &= events.presel[level]
    return events.features[level][rows, F[name]].astype(np.float64)


# ----------------------------------------------------------------------------- kinematics
def test_two_body_decay_conserves_four_momentum_and_masses() -> None:
    rng = np.random.default_rng(0)
    parent = kin.from_mt_rapidity(rng.uniform(0, 500, 1000), rng.uniform(-3, 3, 1000),
                                  rng.normal(0, 1, 1000), np.full(1000, 500.0))
    a, b = kin.two_body_decay(parent, 80.4, 50.0, rng)
    np.testing.assert_allclose(a + b, parent, atol=1e-8)
    np.testing.assert_allclose(kin.mass(a), 80.4, atol=1e-6)
    np.testing.assert_allclose(kin.mass(b), 50.0, atol=1e-6)
    # the daughters' momentum in the parent frame is the two-body value
    back = kin.boost(a, -parent[:, 1:] / parent[:, :1])
    p_star = np.sqrt((500**2 - (130.4) ** 2) * (500**2 - 30.4**2)) / 1000
    np.testing.assert_allclose(np.linalg.norm(back[:, 1:], axis=1), p_star, rtol=1e-9)


# ----------------------------------------------------------------------------- physics
def test_wjets_transverse_mass_stops_at_the_w_jacobian_edge() -> None:
    mt = column("truth", "mt", "wjets")
    assert np.mean(mt > 100) < 0.02  # only the off-shell tail and extra b-decay neutrinos
    below = np.sum((mt > 60) & (mt < 85))
    above = np.sum((mt > 95) & (mt < 120))
    assert below > 10 * max(above, 1)
    # the signal's MET holds two LSPs besides the neutrino: its mT runs far past m_W
    assert np.mean(column("truth", "mt", "signal") > 100) > 0.7
    # dileptonic ttbar with a lost lepton leaks past the edge, semileptonic ttbar does not
    assert 0.03 < np.mean(column("truth", "mt", "ttbar") > 100) < 0.3


def test_signal_mbb_peaks_at_the_higgs_mass_and_the_detector_widens_it() -> None:
    simplified = column("simplified", "mbb", "signal")
    counts, edges = np.histogram(simplified, bins=np.arange(0, 300, 5))
    assert 110 <= edges[np.argmax(counts)] <= 130
    window = {level: np.mean(np.abs(column(level, "mbb", "signal") - 120) < 20)
              for level in ("simplified", "full")}
    assert window["simplified"] > 0.75
    assert window["full"] < window["simplified"] - 0.03
    assert np.mean(np.abs(column("simplified", "mbb", "ttbar") - 120) < 20) < 0.35


def test_ttbar_mct_endpoint_near_135_gev() -> None:
    events, _ = physics_events()
    truth = events.features["truth"]
    two_b = events.presel["truth"] & (truth[:, F["n_bjets"]] == 2)
    ttbar = two_b & (events.label == CLASSES.index("ttbar"))
    signal = two_b & (events.label == CLASSES.index("signal"))
    # (m_t^2 - m_W^2) / m_t = 135 GeV; only the ISR boost of the pair smears it
    assert np.mean(truth[ttbar, F["mct"]] > 150) < 0.03
    assert np.mean(truth[ttbar, F["mct"]] < 135) > 0.95
    assert np.mean(truth[signal, F["mct"]] > 150) > 0.6


@pytest.mark.parametrize("level", ["simplified", "full"])
def test_documented_correlations(level: str) -> None:
    events, _ = physics_events()
    for (a, b), documented in DOCUMENTED_CORRELATIONS[level].items():
        for k, process in enumerate(CLASSES):
            rows = events.presel[level] & (events.label == k)
            x = events.features[level][rows]
            measured = stats.spearmanr(x[:, F[a]], x[:, F[b]]).statistic
            assert abs(measured - documented[k]) < 0.07, (level, a, b, process, measured)


def test_docs_state_the_documented_correlations() -> None:
    text = (ROOT / "docs" / "susy.md").read_text()
    for (a, b), values in DOCUMENTED_CORRELATIONS["simplified"].items():
        assert f"{a} / {b}" in text
        for value in values:
            assert f"{value:+.2f}" in text


def test_class_differences() -> None:
    # W+jets has no b-jets at truth flavour, the detector's mistags give it some
    assert np.mean(column("simplified", "n_bjets", "wjets") == 0) > 0.95
    assert np.mean(column("full", "n_bjets", "wjets") >= 1) > \
        np.mean(column("simplified", "n_bjets", "wjets") >= 1) + 0.01
    # h -> bb: two b-jets in the signal; 77 % tagging loses one of them often in full
    assert np.mean(column("simplified", "n_bjets", "signal") == 2) > 0.8
    assert np.mean(column("full", "n_bjets", "signal") == 2) < 0.65
    # more invisible momentum in the signal, more jets in ttbar and ttZ
    assert column("simplified", "met", "signal").mean() > \
        column("simplified", "met", "ttbar").mean() + 30
    assert column("simplified", "n_jets", "ttbar").mean() > \
        column("simplified", "n_jets", "signal").mean() + 0.5
    # single top has one b quark
    assert np.mean(column("simplified", "n_bjets", "single_top") == 1) > 0.7


def test_full_reconstruction_is_worse_than_simplified_on_the_same_events() -> None:
    events, _ = physics_events()
    rows = events.presel["truth"] & events.presel["simplified"] & events.presel["full"]
    truth = events.features["truth"][rows].astype(np.float64)
    # high-pT jets are measured to ~6 % in full vs 5 % simplified: a smaller gap there
    ratios = {"met": 1.4, "mt": 1.8, "mbb": 1.8, "lep_pt": 2.0, "ht": 1.2, "jet1_pt": 1.15}
    for name, ratio in ratios.items():
        j = F[name]
        rms = {level: np.sqrt(np.mean((events.features[level][rows, j] - truth[:, j]) ** 2))
               for level in ("simplified", "full")}
        assert rms["full"] > ratio * rms["simplified"], (name, rms)
        assert rms["simplified"] > 0  # light smearing, not truth


# ----------------------------------------------------------------------------- reproducibility
def test_same_seed_same_events_and_prefix_property() -> None:
    config = SusySimConfig()
    small = list(simulate_process(config, 9, "train", "ttv", 150))
    large = list(simulate_process(config, 9, "train", "ttv", 400))
    a = np.concatenate([e.features["full"] for e, _ in small])
    b = np.concatenate([e.features["full"] for e, _ in large])
    np.testing.assert_array_equal(a, b[:150])
    # a block computed on its own equals the same block inside the sequence (chunking-free)
    block1, _ = simulate_block(config, 9, "train", "ttv", 1)
    ids = np.concatenate([e.event_id for e, _ in large])
    inside = np.isin(ids, block1.event_id)
    np.testing.assert_array_equal(
        np.concatenate([e.features["simplified"] for e, _ in large])[inside],
        block1.features["simplified"][:inside.sum()])
    other = list(simulate_process(config, 10, "train", "ttv", 150))
    assert not np.array_equal(a, np.concatenate([e.features["full"] for e, _ in other]))


def test_weights_are_cross_section_times_luminosity_over_candidates() -> None:
    events, info = physics_events()
    for k, spec in enumerate(PROCESSES):
        rows = events.label == k
        record = info[spec.name]
        assert record["candidates"] >= record["events"]
        expected = spec.sigma_fb * 139.0 * record["events"] / record["candidates"]
        assert events.weight[rows].sum() == pytest.approx(expected, rel=1e-9)
        assert np.all(events.weight[rows] == events.weight[rows][0])
    # the signal's cross-section: 46.4 fb x BR(W -> l nu, 3 flavours) x BR(h -> bb)
    assert PROCESSES[0].sigma_fb == pytest.approx(46.4 * 3 * 0.1086 * 0.582)


def test_event_ids_unique_and_name_their_process() -> None:
    events, _ = physics_events()
    assert len(np.unique(events.event_id)) == len(events)
    np.testing.assert_array_equal(events.event_id // 10**10, events.label)


# ----------------------------------------------------------------------------- the file
def test_file_holds_the_same_events_in_both_reconstructions() -> None:
    data = SusyFile(split_path(data_dir(), "train"))
    assert len(data) == 5_000
    rows = data.selection(("simplified", "full"))
    simplified = data.table("simplified", rows=rows)
    full = data.table("full", rows=rows)
    np.testing.assert_array_equal(simplified.event_id, full.event_id)
    np.testing.assert_array_equal(simplified.y, full.y)
    assert not np.array_equal(simplified.x, full.x)  # same events, different reconstruction
    assert data.processes["signal"]["events"] == 1_000
    assert json.loads(data.attrs["features"]) == list(FEATURES)


def test_simulate_dataset_skips_a_finished_split(tmp_path: Path) -> None:
    from hepxai.usecases.susy.generate import SplitSizes, simulate_dataset

    out = tmp_path / "data"
    shutil.copytree(data_dir(), out)
    summary = simulate_dataset(out, SplitSizes(train=5_000, test=2_500), seed=3)
    assert all(info["reused"] for info in summary.values())
    with pytest.raises(HepxaiError, match="--overwrite"):
        simulate_dataset(out, SplitSizes(train=5_000, test=2_500), seed=4)


def _copy(tmp_path: Path) -> Path:
    path = tmp_path / "train.h5"
    shutil.copy(split_path(data_dir(), "train"), path)
    return path


@pytest.mark.parametrize("damage, message", [
    ("nan", "NaN"), ("columns", "shape"), ("format", "not a hepxai SUSY file"),
    ("garbage", "not a readable hepxai SUSY file"), ("labels", "labels outside"),
    ("missing", "no such file"), ("float labels", "/label must be one integer value"),
    ("2d ids", "/event_id must be one integer value"),
    ("no weight", "not a readable hepxai SUSY file"),
    ("names", "'classes' attribute is not a JSON list")])
def test_bad_files_give_one_line_errors(tmp_path: Path, damage: str, message: str) -> None:
    path = _copy(tmp_path)
    if damage == "nan":
        with h5py.File(path, "r+") as f:
            table = f["full/features"][()]
            table[3, F["mbb"]] = np.nan
            f["full/features"][...] = table
    elif damage == "columns":
        with h5py.File(path, "r+") as f:
            table = f["simplified/features"][()]
            del f["simplified/features"]
            f["simplified/features"] = table[:, :-1]
    elif damage == "format":
        with h5py.File(path, "r+") as f:
            f.attrs["format"] = "hepxai-muon"
    elif damage == "garbage":
        path.write_bytes(b"not an hdf5 file at all" * 100)
    elif damage == "labels":
        with h5py.File(path, "r+") as f:
            f["label"][0] = 7
    elif damage == "missing":
        path.unlink()
    elif damage == "float labels":  # 0.5 passes a range check; an integer check refuses it
        with h5py.File(path, "r+") as f:
            labels = f["label"][()].astype(np.float32) + 0.5
            del f["label"]
            f["label"] = labels
    elif damage == "2d ids":
        with h5py.File(path, "r+") as f:
            ids = f["event_id"][()]
            del f["event_id"]
            f["event_id"] = ids[:, None]
    elif damage == "no weight":
        with h5py.File(path, "r+") as f:
            del f["weight"]
    elif damage == "names":
        with h5py.File(path, "r+") as f:
            f.attrs["classes"] = "signal, ttbar"
    with pytest.raises(HepxaiError, match=message) as info:
        SusyFile(path)
    assert "\n" not in str(info.value)


def test_split_needs_one_event_per_class() -> None:
    with pytest.raises(HepxaiError, match="at least 5"):
        simulate_split(SusySimConfig(), 1, "train", 3)
