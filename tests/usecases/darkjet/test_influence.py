"""Graph TracIn of the dark-jet taggers, its category study, LSOR, kappa pruning and CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_checks import user_error

from hepxai.cli import main as cli
from hepxai.core.errors import HepxaiError
from hepxai.explain.influence import TracInStore, select_checkpoints
from hepxai.explain.influence import tracin as tracin_module
from hepxai.explain.types import Influence
from hepxai.io.checkpoint import load_model
from hepxai.usecases.darkjet.graphs import GraphSettings, load_graphs
from hepxai.usecases.darkjet.influence import category_study, noise_fraction
from hepxai.usecases.darkjet.influence_validation import (
    GraphLSORConfig,
    KappaConfig,
    Retrain,
    StudyGraphs,
    kappa_pruning,
    lsor_graphs,
    prune_rows,
    random_like,
    retrain,
)
from hepxai.usecases.darkjet.judging import tagging_categories
from hepxai.usecases.darkjet.store import split_path
from hepxai.usecases.darkjet.task import JetGradients

SETTINGS = GraphSettings(variant="gnn-2")
TINY = Retrain(epochs=2, n_checkpoints=2)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    """A tiny data set (240 training jets) and a 3-epoch quick ResGNN run on it."""
    root = tmp_path_factory.mktemp("darkjet-influence")
    data, run_dir = root / "data", root / "run"
    assert cli(["simulate", "darkjet", "--out", str(data), "--n", "150", "--seed", "5"]) == 0
    assert cli(["train", "darkjet", "--preset", "quick", "--data", str(data), "--out",
                str(run_dir), "--epochs", "3", "--variant", "gnn-2", "--val-jets", "30"]) == 0
    train = load_graphs(split_path(data, "train"), SETTINGS)
    test = load_graphs(split_path(data, "test"), SETTINGS)
    checkpoints = select_checkpoints(run_dir, "1,2,3", use_case="darkjet")
    return {"data": data, "run": run_dir, "train": train, "test": test,
            "checkpoints": checkpoints,
            "tracin": TracInStore.build(checkpoints, JetGradients(train, rows=np.arange(20, 100)),
                                        root / "store")}


def _autograd_gradients(model, graphs, rows) -> torch.Tensor:
    """Reference: per-jet autograd gradient of the BCE loss wrt the head's (weight, bias),
    one backward pass per jet ``(len(rows), d + 1)`` float64."""
    out = []
    for row in rows:
        batch = graphs.batch(np.array([row]))
        logit = model(batch.x, batch.edge_index, batch.edge_weight, batch.batch)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logit, batch.y)
        weight, bias = torch.autograd.grad(loss, [model.head.weight, model.head.bias])
        out.append(torch.cat([weight.flatten(), bias]).double())
    return torch.stack(out)


def test_scores_equal_autograd_tracin(run):
    tracin, train, test = run["tracin"], run["train"], run["test"]
    test_rows = np.array([0, 3, 17, 29])
    reference = np.zeros((test_rows.size, tracin.n_train))
    self_reference = np.zeros(tracin.n_train)
    assert len(tracin.checkpoints) == 3 and all(c.learning_rate > 0 for c in tracin.checkpoints)
    for ref in tracin.checkpoints:
        model = load_model(ref.path, use_case="darkjet")
        g_train = _autograd_gradients(model, train, tracin.rows)
        g_test = _autograd_gradients(model, test, test_rows)
        reference += ref.learning_rate * (g_test @ g_train.T).numpy()
        self_reference += ref.learning_rate * (g_train ** 2).sum(1).numpy()
    scores = tracin.scores(JetGradients(test), test_rows)
    assert scores.shape == (4, 80)
    assert np.abs(scores - reference).max() / np.abs(reference).max() < 1e-5
    assert np.allclose(tracin.self_influence(), self_reference, rtol=1e-5, atol=0)
    assert np.allclose(tracin.gradient_norms() ** 2, self_reference, rtol=1e-5)


def test_top_k_is_the_sorted_score_matrix(run, monkeypatch):
    tracin, test = run["tracin"], run["test"]
    rows = np.arange(len(test))
    # the running top-k merges 12 chunks of 7 training jets
    monkeypatch.setattr(tracin_module, "CHUNK_ELEMENTS", 7 * rows.size)
    monkeypatch.setattr(tracin_module, "MIN_CHUNK_ROWS", 7)
    assert tracin_module._chunk_rows(rows.size) == 7
    influence = tracin.influence(JetGradients(test), rows, k=6)
    scores = tracin.scores(JetGradients(test), rows)
    for i in range(rows.size):
        best = np.lexsort((np.arange(tracin.n_train), -scores[i]))[:6]
        worst = np.lexsort((np.arange(tracin.n_train), scores[i]))[:6]
        assert np.array_equal(influence.proponent_ids[i], tracin.rows[best])
        assert np.array_equal(influence.opponent_ids[i], tracin.rows[worst])
        assert np.allclose(influence.proponent_scores[i], scores[i, best])
        assert np.allclose(influence.opponent_scores[i], scores[i, worst])
    assert (influence.proponent_scores[:, 0] > 0).all() and (influence.opponent_scores < 0).all()
    # the shared result type round-trips
    path = influence.save(Path(run["run"]) / "influence-test.npz")
    assert np.array_equal(Influence.load(path).proponent_ids, influence.proponent_ids)


def test_precompute_round_trip_and_change_detection(run, tmp_path):
    import shutil

    tracin = run["tracin"]
    loaded = TracInStore.open(tracin.directory, source=JetGradients(run["train"],
                                                                    rows=np.arange(20, 100)))
    for i in range(len(tracin.checkpoints)):
        for key in ("g", "h"):
            assert np.array_equal(loaded._array(i, key), tracin._array(i, key))
    assert np.array_equal(loaded.rows, tracin.rows)
    test = JetGradients(run["test"])
    assert np.allclose(loaded.scores(test, [1, 2]), tracin.scores(test, [1, 2]))
    # a store whose checkpoint changed since the precompute refuses to answer
    copies = [shutil.copy(c, tmp_path / Path(c).name) for c in run["checkpoints"]]
    train = JetGradients(run["train"], rows=np.arange(20, 40))
    TracInStore.build(copies, train, tmp_path / "stale")
    state = torch.load(copies[0], weights_only=False)
    state["learning_rate"] *= 2
    torch.save(state, copies[0])
    with pytest.raises(HepxaiError, match="changed since the precompute"):
        TracInStore.open(tmp_path / "stale")
    # ... and one of other training jets is not reused
    with pytest.raises(HepxaiError, match="--overwrite"):
        TracInStore.build(run["checkpoints"], train, tracin.directory)


def test_category_split_matches_predictions(run):
    tracin, train, test = run["tracin"], run["train"], run["test"]
    model = load_model(run["run"] / "best.pt", use_case="darkjet")
    result = category_study(tracin, model, test, train, per_category=3, k=4, seed=1)
    with torch.no_grad():
        batch = test.batch(np.arange(len(test)))
        logits = model(batch.x, batch.edge_index, batch.edge_weight, batch.batch).numpy()
    probability = 1 / (1 + np.exp(-logits))
    expected = np.where(test.y > 0.5, np.where(probability > 0.5, "TP", "FN"),
                        np.where(probability > 0.5, "FP", "TN"))
    assert np.array_equal(result["categories"], expected)
    assert np.array_equal(tagging_categories(test.y, logits), expected)
    counts = result["summary"]["category_counts"]
    assert sum(counts.values()) == len(test)
    for name, influence in result["influences"].items():
        assert (expected[influence.test_ids] == name).all()
        s = result["summary"]["sets"][name]
        assert s["n_jets"] == min(3, counts[name]) == influence.n_test
        assert 0 <= s["proponent_noise_share"] <= 1
        # h >= 0 (ReLU), so h.h' + 1 > 0: a proponent's error has the test jet's sign, i.e.
        # last-layer proponents are always of the test jet's class, opponents of the other
        assert s["proponent_same_class"] == 1.0 and s["opponent_same_class"] == 0.0
        assert s["train_noise_share"] == pytest.approx(noise_fraction(train)[tracin.rows].mean())


def _study(run) -> StudyGraphs:
    train = run["train"]
    pool = train.subset(np.arange(160))
    return StudyGraphs(pool=pool, monitor=train.subset(np.arange(160, 200)), test=run["test"],
                       identity={"graphs": SETTINGS.to_dict()})


def test_lsor_table_and_class_removal(run, tmp_path):
    study = _study(run)
    summary = lsor_graphs(study, tmp_path / "lsor", GraphLSORConfig(
        n_test=6, k=5, seeds=(1, 2), n_random=1, retrain=TINY))
    assert set(summary["proponents"]) >= {"delta_mean", "delta_se", "ratio", "ratio_se",
                                          "difference_mean"}
    assert [p["seed"] for p in summary["per_seed"]] == [1, 2]
    assert all(5 <= p["removed"] <= 30 for p in summary["per_seed"])
    assert json.loads((tmp_path / "lsor" / "lsor.json").read_text())["n_pool"] == 160
    # a property that can fail: without any dark-photon jet the retrained tagger scores every
    # test jet lower than the same-seed model on the whole pool
    base = retrain(study, np.arange(160), tmp_path / "lsor" / "seed1" / "base", 1, TINY)
    qcd_only = retrain(study, np.flatnonzero(study.pool.y < 0.5), tmp_path / "qcd-only", 1, TINY)
    assert (qcd_only["logits"] < base["logits"]).mean() > 0.9
    assert qcd_only["logits"].mean() < base["logits"].mean() - 0.2


def test_prune_rows_removes_the_extreme_scores():
    scores = np.array([0.5, 3.0, 0.1, 2.0, 2.0, 0.7, 9.0, 0.2, 0.3, 1.0])
    assert prune_rows(scores, 0.3, "high").tolist() == [1, 3, 6]  # tie 3/4: lower first
    assert prune_rows(scores, 0.2, "low").tolist() == [2, 7]
    labels = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    per_class = prune_rows(scores, 0.2, "high", labels=labels)
    assert per_class.tolist() == [1, 6]  # the top of each class
    drawn = prune_rows(scores, 0.4, "random", seed=3, labels=labels)
    assert drawn.size == 4 and (labels[drawn] == 1).sum() == 2
    assert np.array_equal(drawn, prune_rows(scores, 0.4, "random", seed=3, labels=labels))
    # LSOR's random control: the removed jets' class composition, drawn without repeats
    removed = np.array([0, 1, 2, 5])
    like = random_like(labels.size, removed, np.random.default_rng(0), labels)
    assert np.unique(like).size == 4 and (labels[like] == 1).sum() == 1


def test_kappa_table(run, tmp_path):
    study = _study(run)
    summary = kappa_pruning(study, tmp_path / "kappa", KappaConfig(
        fractions=(0.25,), seed=1, n_random=1, retrain=TINY))
    rows = summary["rows"]
    assert [(r["kappa"], r["mode"]) for r in rows] == [(0.0, "none"), (0.25, "high"),
                                                       (0.25, "low"), (0.25, "random")]
    assert all(r["removed"] == 40 for r in rows[1:])
    assert all(0 <= r["auc"] <= 1 and r["loss"] > 0 for r in rows)
    # pruning keeps the class balance and removes exactly the top-scored ids of each class
    tracin = TracInStore.build(select_checkpoints(tmp_path / "kappa" / "base", None, 2,
                                                  use_case="darkjet"),
                               JetGradients(study.pool), tmp_path / "kappa-store")
    top = prune_rows(tracin.gradient_norms(), 0.25, "high", labels=study.pool.y)
    for label in (0.0, 1.0):
        members = np.flatnonzero(study.pool.y == label)
        cut = np.sort(tracin.gradient_norms()[members])[::-1][round(0.25 * members.size) - 1]
        assert (tracin.gradient_norms()[np.intersect1d(top, members)] >= cut).all()
    assert rows[1]["removed_signal_share"] == pytest.approx(study.pool.y.mean(), abs=0.02)


def test_cli_precompute_query(run, tmp_path, capsys):
    store, out = tmp_path / "tracin.npz", tmp_path / "out"
    common = ["--run", run["run"], "--data", run["data"], "--store", store, "--out", out]
    assert cli(["influence", "darkjet", "precompute", *map(str, common),
                "--n-checkpoints", "2"]) == 0
    assert cli(["influence", "darkjet", "query", *map(str, common), "--jets", "0,4",
                "--top-k", "3", "--figures", "1"]) == 0
    printed = capsys.readouterr().out
    assert "proponents: #" in printed and "test #4" in printed
    assert (out / "proponents_test_0.png").stat().st_size > 5_000
    assert Influence.load(out / "query_test.npz").proponent_ids.shape == (2, 3)


def test_cli_bad_input(run, tmp_path, capsys):
    from hepxai.io.checkpoint import save_checkpoint
    from hepxai.usecases.muon.models import create

    message = user_error(capsys, ["influence", "darkjet", "precompute", "--run",
                                   tmp_path / "missing", "--data", run["data"]])
    assert "no such run directory" in message
    (tmp_path / "empty" / "checkpoints").mkdir(parents=True)
    message = user_error(capsys, ["influence", "darkjet", "precompute", "--run",
                                   tmp_path / "empty", "--data", run["data"]])
    assert "no epoch checkpoints" in message
    muon = tmp_path / "muon" / "checkpoints" / "epoch_001.pt"
    save_checkpoint(muon, create("tracin-cnn-tiny", "fast"), {"learning_rate": 0.01})
    message = user_error(capsys, ["influence", "darkjet", "precompute", "--run",
                                   tmp_path / "muon", "--data", run["data"]])
    assert "muon" in message and "darkjet" in message
    message = user_error(capsys, ["influence", "darkjet", "query", "--run", run["run"],
                                   "--store", tmp_path / "none.npz"])
    assert "precompute" in message
    user_error(capsys, ["influence", "darkjet", "kappa", "--fractions", "0.5,1.2"])


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as exc:
        cli(["influence", "darkjet", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert all(step in text for step in ("precompute", "query", "categories", "lsor", "kappa"))
