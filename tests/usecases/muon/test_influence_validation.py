"""Validation of TracIn by retraining: the datamodel fit and LDS on a known linear truth, the
LSOR ratio arithmetic, and both studies end to end on a tiny pool (with resume)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hepxai.cli import main as cli
from hepxai.core.errors import HepxaiError
from hepxai.explain.influence import TracInStore
from hepxai.explain.influence.validation import (
    fit_datamodels,
    linear_datamodeling_score,
    subset_masks,
)
from hepxai.explain.influence.validation import ratio as _ratio
from hepxai.usecases.muon import influence_validation as validation_module
from hepxai.usecases.muon.influence_validation import (
    DatamodelConfig,
    LSORConfig,
    datamodels,
    lsor,
)
from hepxai.usecases.muon.loader import MuonDataset
from hepxai.usecases.muon.task import MuonGradients


@pytest.fixture(autouse=True)
def _fast_training(monkeypatch):
    """Tens of models are trained here: skip their training-curve figures (seconds each) and
    use one thread (the machine is shared). Neither changes a number."""
    monkeypatch.setattr("hepxai.viz.training.plot_training_curves", lambda *a, **k: None)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_datamodels_recover_a_known_linear_truth():
    rng = np.random.default_rng(0)
    n, m, held = 60, 220, 60
    masks = subset_masks(n, 0.5, m, seed=1)
    assert masks.shape == (m, n) and (masks.sum(1) == 30).all()
    assert len({row.tobytes() for row in masks}) == m
    weights = np.zeros((3, n))
    for e in range(3):
        weights[e, rng.choice(n, 5, replace=False)] = rng.normal(0, 1, 5)
    outputs = masks @ weights.T + 0.05 * rng.normal(size=(m, 3))
    fitted, intercepts, _ = fit_datamodels(masks[:-held], outputs[:-held])
    for e in range(3):  # the support is found
        assert set(np.argsort(-np.abs(fitted[e]))[:5]) == set(np.flatnonzero(weights[e]))
    lds = linear_datamodeling_score(masks[-held:] @ fitted.T + intercepts, outputs[-held:])
    assert (lds > 0.9).all()
    # an attribution equal to minus the true effect (TracIn's sign: proponents lower the loss)
    perfect = linear_datamodeling_score(-(masks[-held:] @ (-weights).T), outputs[-held:])
    noise = linear_datamodeling_score(masks[-held:] @ rng.normal(size=(3, n)).T, outputs[-held:])
    assert (perfect > 0.9).all() and np.abs(noise).mean() < 0.4
    constant = linear_datamodeling_score(np.zeros((held, 3)), outputs[-held:])
    assert np.isnan(constant).all()


def test_lsor_ratio_and_uncertainty():
    result = _ratio([0.2, 0.4], [0.1, 0.1])
    assert result["delta_mean"] == pytest.approx(0.3)
    assert result["delta_se"] == pytest.approx(0.1)
    assert result["ratio"] == pytest.approx(3.0)
    assert result["ratio_se"] == pytest.approx(1.0)  # all from the proponent side here
    assert result["difference_mean"] == pytest.approx(0.2)
    assert result["difference_se"] == pytest.approx(0.1)
    assert np.isnan(_ratio([0.2, 0.4], [0.1, -0.1])["ratio"])


def test_lsor_and_datamodels_end_to_end(muon_dir, tmp_path, monkeypatch):
    config = LSORConfig(n_train=60, n_test=5, k=10, seeds=(1, 2), n_random=1, epochs=1,
                        variants=("last-layer",), workers=1)
    summary = lsor(muon_dir, tmp_path / "lsor", config)
    assert set(summary["variants"]) == {"last-layer"}
    ll = summary["variants"]["last-layer"]
    assert len(ll["delta_per_seed"]) == 2 and np.isfinite(ll["delta_per_seed"]).all()
    assert len(summary["random"]["delta_per_seed"]) == 2
    # the removed events are the top-10 of TracIn summed over the test events
    store = TracInStore.open(tmp_path / "lsor" / "seed1" / "base" / "tracin-last-layer")
    test = MuonDataset(muon_dir / "val.h5", rows=np.array(summary["data"]["test_rows"]["1"]))
    group = store.scores(MuonGradients(test)).astype(np.float64).sum(0)
    top = set(store.rows[np.argsort(-group, kind="stable")[:10]].tolist())
    assert top == set(summary["removed_first_rows"]["seed1/last-layer"])
    trained = torch.load(tmp_path / "lsor" / "seed1" / "minus-last-layer" / "best.pt",
                         weights_only=False)
    assert trained["identity"]["n_train"] == 50
    # a rerun reuses every finished model: nothing is trained again, same numbers
    monkeypatch.setattr("hepxai.usecases.muon.task.train",
                        lambda *a, **k: (_ for _ in ()).throw(AssertionError("retrained")))
    again = lsor(muon_dir, tmp_path / "lsor", config)
    assert again["variants"] == summary["variants"] and again["random"] == summary["random"]
    with pytest.raises(HepxaiError, match="other settings"):  # never reused for another study
        lsor(muon_dir, tmp_path / "lsor", LSORConfig(n_train=70, n_test=5, k=10, seeds=(1,),
                                                     n_random=1, epochs=1, workers=1,
                                                     variants=("last-layer",)))
    monkeypatch.undo()
    monkeypatch.setattr("hepxai.viz.training.plot_training_curves", lambda *a, **k: None)

    dm = datamodels(muon_dir, tmp_path / "dm", DatamodelConfig(
        n_train=40, n_models=14, n_heldout=4, n_test=3, epochs=1, variants=("last-layer",),
        workers=1))
    assert dm["subset_size"] == 20 and set(dm["lds"]) == {"datamodel", "last-layer"}
    saved = np.load(tmp_path / "dm" / "datamodels.npz")
    assert saved["masks"].shape == (14, 40) and saved["outputs"].shape == (14, 3)
    assert saved["tracin_last_layer"].shape == (3, 40)
    assert (tmp_path / "dm" / "datamodels.json").is_file()


def test_cli_validation_errors(muon_dir, tmp_path, capsys):
    assert cli(["influence", "muon", "lsor", "--data", str(muon_dir), "--n-train", "60",
                "--remove", "60", "--out", str(tmp_path)]) == 2
    assert "--k 60" in capsys.readouterr().err
    assert cli(["influence", "muon", "datamodels", "--data", str(muon_dir), "--models", "12",
                "--heldout", "4", "--out", str(tmp_path)]) == 2
    assert "held-out" in capsys.readouterr().err
    with pytest.raises(SystemExit) as excinfo:
        cli(["influence", "muon", "lsor", "--variants", "exact"])
    assert excinfo.value.code == 2
    assert validation_module.STUDY_MODEL == "tracin-cnn-tiny"
