"""Dark-jet simulator and store: physics properties of the two classes, noise flags, seeding,
files (split sizes, reuse, corrupt input)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from hepxai.core.errors import HepxaiError
from hepxai.usecases.darkjet.simulator import (
    EM_LAYERS,
    DarkJetSimConfig,
    Jets,
    simulate_jets,
)
from hepxai.usecases.darkjet.store import (
    DarkJetFile,
    ragged_arange,
    simulate_dataset,
    split_sizes,
    take,
)

CONFIG = DarkJetSimConfig()


@pytest.fixture(scope="module")
def samples() -> dict[str, Jets]:
    return {"qcd": simulate_jets(CONFIG, 5, 0, 0, 4000),
            "dp": simulate_jets(CONFIG, 5, 1, 0, 4000)}


def _per_jet(jets: Jets):
    counts = np.diff(jets.offsets)
    owner = np.repeat(np.arange(len(jets)), counts)
    c = jets.clusters
    d_eta = c["eta"] - jets.jets["eta"][owner]
    d_phi = np.mod(c["phi"] - jets.jets["phi"][owner] + np.pi, 2 * np.pi) - np.pi
    return owner, np.hypot(d_eta, d_phi), c["energy"].astype(np.float64)


def _width(jets: Jets) -> np.ndarray:
    """Energy-weighted Delta R of the non-noise clusters from the jet axis."""
    owner, dr, energy = _per_jet(jets)
    core = ~jets.clusters["is_noise"]
    return (np.bincount(owner[core], (energy * dr)[core], minlength=len(jets))
            / np.bincount(owner[core], energy[core], minlength=len(jets)))


def test_signal_is_narrower_with_less_em_energy_and_fewer_clusters(samples):
    qcd, dp = samples["qcd"], samples["dp"]
    assert np.median(_width(dp)) < 0.7 * np.median(_width(qcd))
    assert np.median(dp.jets["em_fraction"]) < np.median(qcd.jets["em_fraction"]) - 0.2
    assert dp.jets["n_clusters"].mean() < 0.75 * qcd.jets["n_clusters"].mean()
    # overlapping on purpose: no single variable separates the classes well
    y = np.r_[np.zeros(len(qcd)), np.ones(len(dp))]
    for values in (np.r_[qcd.jets["n_clusters"], dp.jets["n_clusters"]],
                   np.r_[qcd.jets["em_fraction"], dp.jets["em_fraction"]],
                   np.r_[_width(qcd), _width(dp)], np.r_[qcd.jets["pt"], dp.jets["pt"]]):
        auc = roc_auc_score(y, values)
        assert max(auc, 1 - auc) < 0.9
    # the dark photon decays inside the calorimeter; QCD jets have no decay radius
    assert np.all((dp.jets["decay_radius"] >= CONFIG.decay_r_min)
                  & (dp.jets["decay_radius"] <= CONFIG.decay_r_max))
    assert np.all(np.isnan(qcd.jets["decay_radius"]))


def test_em_fraction_in_the_table_is_the_clusters_em_energy_share(samples):
    jets = samples["dp"]
    owner, _, energy = _per_jet(jets)
    em = np.isin(jets.clusters["layer"], EM_LAYERS)
    expected = np.bincount(owner, energy * em) / np.bincount(owner, energy)
    np.testing.assert_allclose(jets.jets["em_fraction"], expected, rtol=1e-5)


def test_noise_flags(samples):
    for jets in samples.values():
        owner, dr, energy = _per_jet(jets)
        noise = jets.clusters["is_noise"]
        assert noise.dtype == bool
        np.testing.assert_array_equal(np.bincount(owner[noise], minlength=len(jets)),
                                      jets.jets["n_noise"])
        assert abs(jets.jets["n_noise"].mean() - CONFIG.noise_mean) < 0.15
        # pile-up: soft, uniform over the cone area (so its mean Delta R is 2/3 of the cone)
        assert np.all(dr[noise] <= CONFIG.cone + 1e-4)
        assert abs(dr[noise].mean() - 2 / 3 * CONFIG.cone) < 0.01
        expected_mean = CONFIG.min_cluster_energy + CONFIG.noise_energy  # shifted exponential
        assert abs(energy[noise].mean() - expected_mean) < 0.05
        assert np.median(energy[noise]) < 0.5 * np.median(energy[~noise])
        assert np.all(energy > 0) and np.all(jets.clusters["layer"] < 7)


def test_seeded_and_independent_of_other_blocks():
    a = simulate_jets(CONFIG, 9, 1, 3, 50)
    b = simulate_jets(CONFIG, 9, 1, 3, 50)
    c = simulate_jets(CONFIG, 9, 1, 4, 50)
    np.testing.assert_array_equal(a.clusters, b.clusters)
    np.testing.assert_array_equal(a.offsets, b.offsets)
    assert not np.array_equal(a.jets["pt"], c.jets["pt"])


def test_ragged_arange_and_take_equal_python_loops(samples):
    starts, counts = np.array([5, 0, 9, 2]), np.array([3, 0, 2, 4])
    expected = np.concatenate([np.arange(s, s + c) for s, c in zip(starts, counts,
                                                                    strict=True)])
    np.testing.assert_array_equal(ragged_arange(starts, counts), expected)
    jets = samples["qcd"]
    rows = np.array([7, 2, 2, 40])
    sub = take(jets, rows)
    for k, r in enumerate(rows):
        np.testing.assert_array_equal(sub.clusters[sub.offsets[k]:sub.offsets[k + 1]],
                                      jets.clusters[jets.offsets[r]:jets.offsets[r + 1]])


def test_dataset_files_sizes_reuse_and_errors(tmp_path):
    out = tmp_path / "data"
    summary = simulate_dataset(out, 100, seed=3)
    sizes = split_sizes(100)
    assert sizes == {"train": 80, "val": 10, "test": 10}
    for split, n in sizes.items():
        f = DarkJetFile(out / f"{split}.h5")
        assert len(f) == 2 * n and f.labels.sum() == n  # both classes, balanced
        assert f.offsets[-1] == len(f.clusters) and f.config == CONFIG
        assert not summary[split]["reused"]
    # the splits never share jets
    assert not np.intersect1d(DarkJetFile(out / "train.h5").jets["pt"],
                              DarkJetFile(out / "test.h5").jets["pt"]).size
    again = simulate_dataset(out, 100, seed=3)
    assert all(info["reused"] for info in again.values())
    with pytest.raises(HepxaiError, match="exists with other settings"):
        simulate_dataset(out, 100, seed=4)
    with pytest.raises(HepxaiError, match="at least 3"):
        simulate_dataset(tmp_path / "tiny", 2)


def test_bad_files_are_one_line_errors(tmp_path):
    with pytest.raises(HepxaiError, match="no such file"):
        DarkJetFile(tmp_path / "missing.h5")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(HepxaiError, match="not a readable hepxai darkjet file"):
        DarkJetFile(junk)
    muon = tmp_path / "muon.h5"
    with h5py.File(muon, "w") as f:
        f.attrs["format"] = "hepxai-muon"
    with pytest.raises(HepxaiError, match="not a hepxai darkjet file") as info:
        DarkJetFile(muon)
    assert "\n" not in str(info.value)
    simulate_dataset(tmp_path / "d", 10, seed=1)
    path = tmp_path / "d" / "val.h5"
    with h5py.File(path, "r+") as f:
        energy = f["clusters"]["energy"]
        energy[0] = np.nan
        clusters = f["clusters"][()]
        clusters["energy"][0] = np.nan
        f["clusters"][...] = clusters
    with pytest.raises(HepxaiError, match="NaN"):
        DarkJetFile(path)
