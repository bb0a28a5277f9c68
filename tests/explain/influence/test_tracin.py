"""TracIn: equal to Captum's TracInCPFast / TracInCP, projection accuracy, top-k against brute
force, self-influence, reuse and resume of the precompute, one-line errors, the CLI."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from hepxai.cli import main as cli
from hepxai.core.errors import HepxaiError
from hepxai.explain.influence import TracInStore, select_checkpoints, spread_over_training
from hepxai.explain.influence import tracin as tracin_module
from hepxai.explain.types import Influence
from hepxai.io.checkpoint import read_checkpoint, save_checkpoint
from hepxai.usecases.muon.influence import trigger_categories
from hepxai.usecases.muon.loader import MuonDataset
from hepxai.usecases.muon.models import create
from hepxai.usecases.muon.task import MuonGradients, ThesisCodeGradients, train, training_events

TEST_EVENTS = np.arange(6)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread: on a shared 2-core machine a second thread mostly waits (per-example
    gradients ran 6x slower with two); the results do not depend on it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def run(muon_dir, tmp_path_factory) -> Path:
    """A TracIn CNN (fast) trained 2 epochs on the 500 training events: 2 epoch checkpoints."""
    out = tmp_path_factory.mktemp("tracin") / "run"
    train(create("tracin-cnn", "fast", seed=3), MuonDataset(muon_dir / "train.h5"),
          MuonDataset(muon_dir / "val.h5"), out, seed=3, epochs=2)
    return out


@pytest.fixture(scope="module")
def tiny_run(muon_dir, tmp_path_factory) -> Path:
    """The 7k-parameter TracIn CNN, 2 epochs: the full-gradient tests' small model."""
    out = tmp_path_factory.mktemp("tiny") / "run"
    train(create("tracin-cnn-tiny", "fast", seed=2), MuonDataset(muon_dir / "train.h5"),
          MuonDataset(muon_dir / "val.h5"), out, seed=2, epochs=2)
    return out


@pytest.fixture(scope="module")
def last_layer(run, muon_dir, tmp_path_factory) -> TracInStore:
    return TracInStore.build(select_checkpoints(run), training_events(muon_dir / "train.h5"),
                             tmp_path_factory.mktemp("stores") / "last-layer")


def _tensors(dataset: MuonDataset, positions: np.ndarray, model) -> tuple[torch.Tensor, ...]:
    x, y = dataset.__getitems__(positions)
    return x, model.encode_targets(y)


class _AugmentedHead(nn.Module):
    """The model with its head as Linear(d + 1, 2, bias=False) on [h, 1]: Captum's TracInCPFast
    takes the weight gradient g [h, 1]^T only, so folding the bias in makes it the whole
    last-layer gradient (weight and bias)."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.fc = nn.Linear(model.head.in_features + 1, 2, bias=False)

    def forward(self, x):
        h = self.model.features(x)
        return self.fc(torch.cat([h, torch.ones(len(h), 1)], dim=1))


def _load_augmented(net: _AugmentedHead, path: str) -> float:
    state = read_checkpoint(path)
    net.model.load_state_dict(state["model_state"])
    net.eval()
    head = net.model.head
    with torch.no_grad():
        net.fc.weight.copy_(torch.cat([head.weight, head.bias[:, None]], dim=1))
    return state["learning_rate"]


class _Encoded(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.forward_encoded(x)


def _load_encoded(net: _Encoded, path: str) -> float:
    state = read_checkpoint(path)
    net.model.load_state_dict(state["model_state"])
    net.eval()  # batch norm with running statistics, as our per-example gradients
    return state["learning_rate"]


def _per_example_loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (out - target).abs().sum(1)


def test_checkpoints_spread_over_training_like_the_thesis(run):
    assert [p.name for p in spread_over_training([Path(f"e{i}") for i in range(1, 31)])] \
        == ["e5", "e15", "e25"]
    assert [p.name for p in spread_over_training([Path("e1"), Path("e2")])] == ["e1", "e2"]
    assert [p.name for p in spread_over_training([Path(f"e{i}") for i in range(1, 7)])] \
        == ["e1", "e3", "e5"]
    assert [p.name for p in select_checkpoints(run)] == ["epoch_001.pt", "epoch_002.pt"]
    assert [p.name for p in select_checkpoints(run, "2")] == ["epoch_002.pt"]
    with pytest.raises(HepxaiError, match="no checkpoint of epoch 7.*has epochs 1, 2"):
        select_checkpoints(run, "1,7")


def test_last_layer_equals_captum_tracincpfast(run, muon_dir, last_layer):
    from captum.influence import TracInCP, TracInCPFast

    val = MuonDataset(muon_dir / "val.h5")
    ours = last_layer.scores(MuonGradients(val), TEST_EVENTS)
    checkpoints = [str(p) for p in select_checkpoints(run)]
    model = create("tracin-cnn", "fast")
    _load_encoded(_Encoded(model), checkpoints[0])  # target encoding buffers
    train_set = MuonDataset(muon_dir / "train.h5")
    x, t = _tensors(train_set, np.arange(len(train_set)), model)
    x_test, t_test = _tensors(val, TEST_EVENTS, model)
    augmented = _AugmentedHead(model)
    fast = TracInCPFast(augmented, augmented.fc, TensorDataset(x, t), checkpoints,
                        _load_augmented, loss_fn=nn.L1Loss(reduction="sum"), batch_size=128)
    reference = fast.influence((x_test, t_test)).numpy()
    assert np.abs(ours - reference).max() <= 1e-4 * np.abs(reference).max()
    assert np.abs(reference).max() > 0
    # and the plain TracInCP on the head's parameters (weight and bias), on 60 events
    encoded = _Encoded(model)
    exact = TracInCP(encoded, TensorDataset(x[:60], t[:60]), checkpoints, _load_encoded,
                     layers=["model.final"], loss_fn=_per_example_loss, batch_size=60,
                     sample_wise_grads_per_batch=False)
    head_only = exact.influence((x_test, t_test)).numpy()
    assert np.abs(ours[:, :60] - head_only).max() <= 1e-4 * np.abs(head_only).max()


def test_full_variant_equals_captum_tracincp_and_projection_keeps_it(tiny_run, muon_dir,
                                                                     tmp_path):
    from captum.influence import TracInCP

    checkpoints = select_checkpoints(tiny_run)
    rows = np.arange(40)
    exact = TracInStore.build(checkpoints, training_events(muon_dir / "train.h5", rows=rows),
                              tmp_path / "exact", variant="full", projection_dim=0)
    val = MuonDataset(muon_dir / "val.h5")
    ours = exact.scores(MuonGradients(val), TEST_EVENTS[:3])
    model = create("tracin-cnn-tiny", "fast")
    encoded = _Encoded(model)
    _load_encoded(encoded, str(checkpoints[0]))
    x, t = _tensors(MuonDataset(muon_dir / "train.h5", rows=rows), np.arange(rows.size), model)
    x_test, t_test = _tensors(val, TEST_EVENTS[:3], model)
    reference = TracInCP(encoded, TensorDataset(x, t), [str(p) for p in checkpoints],
                         _load_encoded, loss_fn=_per_example_loss, batch_size=40,
                         sample_wise_grads_per_batch=False).influence((x_test, t_test)).numpy()
    assert np.abs(ours - reference).max() <= 1e-4 * np.abs(reference).max()
    # self-influence (exact squared norms) is the diagonal TracIn(z, z)
    train_set = MuonDataset(muon_dir / "train.h5", rows=rows)
    np.testing.assert_allclose(exact.self_influence()[:10],
                               np.diag(exact.scores(MuonGradients(train_set), np.arange(10))),
                               rtol=1e-4)

    wide_rows = np.arange(150)
    wide_train = training_events(muon_dir / "train.h5", rows=wide_rows)
    projected = TracInStore.build(checkpoints, wide_train, tmp_path / "projected",
                                  variant="full", projection_dim=1024, projection_seed=5)
    assert projected.manifest["n_parameters"] == model.n_parameters() > 1024
    wide = TracInStore.build(checkpoints, wide_train, tmp_path / "exact150", variant="full",
                             projection_dim=0)
    approx = projected.scores(MuonGradients(val), TEST_EVENTS)
    truth = wide.scores(MuonGradients(val), TEST_EVENTS)
    for a, b in zip(approx, truth, strict=True):
        assert np.corrcoef(a, b)[0, 1] > 0.95
    # the stored norms are the exact ones, not the projected
    np.testing.assert_allclose(projected.self_influence(), wide.self_influence(), rtol=1e-6)


def test_projection_stability_of_projected_tracin(tiny_run, muon_dir, tmp_path):
    """Seeds of the random projection: agreement between seeds, the measured agreement of
    averaged seeds against Spearman-Brown (independent projections: the formula holds), and the
    projection dimension it asks for."""
    from hepxai.explain.influence.validation import projection_stability

    checkpoints = select_checkpoints(tiny_run)
    train = training_events(muon_dir / "train.h5", rows=np.arange(60))

    def stores(dim, seeds):
        return [TracInStore.build(checkpoints, train, tmp_path / f"full-d{dim}-seed{s}",
                                  variant="full", projection_dim=dim, projection_seed=s)
                for s in seeds]

    val = MuonGradients(MuonDataset(muon_dir / "val.h5"))
    small = projection_stability(stores(16, range(1, 5)), val, TEST_EVENTS)
    r = small["pairwise"]
    assert 0 < r < 1 and small["projection_dim"] == 16 and small["samples"] == 16
    lo, hi = small["pairwise_interval"]
    assert lo <= r <= hi
    two = small["split_half"][1]  # the mean of 2 seeds against the mean of 2 others
    assert two["seeds"] == 2 and two["predicted"] == pytest.approx(2 * r / (1 + r))
    assert two["agreement"] == pytest.approx(two["predicted"], abs=0.1)
    assert small["dims_needed"] == small["seeds_needed"] * 16
    large = projection_stability(stores(512, (1, 2)), val, TEST_EVENTS)
    assert large["pairwise"] > r  # a larger projection varies less with its seed
    with pytest.raises(HepxaiError, match="differ only in --projection-seed"):
        projection_stability([*stores(16, (1,)), *stores(512, (2,))], val, TEST_EVENTS)
    with pytest.raises(HepxaiError, match="share projection seeds"):
        projection_stability(stores(16, (1, 1)), val, TEST_EVENTS)
    # the command: the stores it precomputes are those above (reused), the numbers the same
    out = tmp_path / "cli"
    assert cli(["influence", "muon", "projection-stability", "--run", str(tiny_run), "--data",
                str(muon_dir), "--store", str(tmp_path), "--projection-dim", "16",
                "--projection-seeds", "1,2,3,4", "--max-train", "60", "--n-test",
                str(TEST_EVENTS.size), "--out", str(out)]) == 0
    import json

    written = json.loads((out / "projection_stability.json").read_text())
    assert written["pairwise"] == pytest.approx(r) and written["seeds"] == [1, 2, 3, 4]
    assert written["stores"] == [str(tmp_path / f"full-d16-seed{s}") for s in range(1, 5)]


def test_the_thesis_code_kernel_is_its_formula(run, muon_dir, tmp_path):
    """tracin/tracin.py of the thesis: score = sum_c ((t - f_c) . (t' - f_c')) (h_c . h_c'),
    no bias term, no step size; computed here from the checkpoints' features by hand."""
    train = training_events(muon_dir / "train.h5", conventions="thesis")
    store = TracInStore.build(select_checkpoints(run), train, tmp_path / "thesis")
    val = MuonDataset(muon_dir / "val.h5")
    with pytest.raises(HepxaiError, match="query with the conventions"):
        store.scores(MuonGradients(val), TEST_EVENTS)  # the standard gradient: refused
    ours = store.scores(ThesisCodeGradients(val), TEST_EVENTS)
    expected = 0.0
    for path in select_checkpoints(run):
        model = create("tracin-cnn", "fast")
        _load_encoded(_Encoded(model), str(path))
        with torch.no_grad():
            x, t = _tensors(train.dataset, np.arange(len(train)), model)
            h, lg = model.features(x), t - model.forward_encoded(x)
            x_q, t_q = _tensors(val, TEST_EVENTS, model)
            h_q, lg_q = model.features(x_q), t_q - model.forward_encoded(x_q)
        expected = expected + ((lg_q @ lg.T) * (h_q @ h.T)).numpy()
    np.testing.assert_allclose(ours, expected, rtol=2e-4, atol=1e-4 * np.abs(expected).max())
    # and it is not the standard kernel: bias, step sizes and the absolute-error gradient
    standard = TracInStore.build(select_checkpoints(run), training_events(
        muon_dir / "train.h5"), tmp_path / "standard").scores(MuonGradients(val), TEST_EVENTS)
    assert np.abs(standard - ours).max() > 0.1 * np.abs(ours).max()


def test_self_influence_is_the_diagonal(muon_dir, last_layer):
    train_set = MuonDataset(muon_dir / "train.h5")
    diagonal = np.diag(last_layer.scores(MuonGradients(train_set), np.arange(25)))
    np.testing.assert_allclose(last_layer.self_influence()[:25], diagonal, rtol=1e-5)


def _assert_ranking(ids, values, scores, rows, descending: bool) -> None:
    """Top-k values equal the brute-force ranking's; ids too wherever the score is not tied
    (within float rounding) with another training event's."""
    tolerance = 1e-5 * np.abs(scores).max()
    order = np.lexsort((np.arange(scores.size), -scores if descending else scores))[:len(ids)]
    np.testing.assert_allclose(values, scores[order], rtol=1e-5, atol=tolerance)
    for j, position in enumerate(order):
        if np.abs(np.delete(scores, position) - scores[position]).min() > tolerance:
            assert ids[j] == rows[position]


@pytest.mark.parametrize("fused", [False, True], ids=["per-checkpoint", "one-product"])
def test_top_k_equals_brute_force_ranking(muon_dir, last_layer, monkeypatch, fused):
    val = MuonDataset(muon_dir / "val.h5")
    positions = np.arange(0, 40, 3)
    # (14 events: the per-checkpoint path)
    matrix = last_layer.scores(MuonGradients(val), positions)
    # small chunks: the running top-k is merged across 8 chunks of the 500 training events
    monkeypatch.setattr(tracin_module, "CHUNK_ELEMENTS", 64 * len(positions))
    monkeypatch.setattr(tracin_module, "MIN_CHUNK_ROWS", 64)
    assert tracin_module._chunk_rows(len(positions)) == 64
    if fused:  # the path of large batches: one matrix product, inference-copy features
        monkeypatch.setattr(tracin_module, "FUSED_MIN_QUERIES", 2)
    result = last_layer.influence(MuonGradients(val), positions, k=10)
    for i, scores in enumerate(matrix):
        _assert_ranking(result.proponent_ids[i], result.proponent_scores[i], scores,
                        last_layer.rows, descending=True)
        _assert_ranking(result.opponent_ids[i], result.opponent_scores[i], scores,
                        last_layer.rows, descending=False)
        if not fused:  # the same arithmetic: exactly equal
            order = np.lexsort((np.arange(scores.size), -scores))[:10]
            np.testing.assert_array_equal(result.proponent_scores[i], scores[order])
    assert (np.diff(result.proponent_scores, axis=1) <= 0).all()
    assert (np.diff(result.opponent_scores, axis=1) >= 0).all()
    # the published code's way: a Python loop over training events, one dot product each
    x, y = val.__getitems__(positions[:1])
    features = last_layer.query_features(MuonGradients(val), x, y)
    loop = []
    for j in range(last_layer.n_train):
        total = 0.0
        for i, (g, h) in enumerate(features):
            gj = last_layer._array(i, "g")[j]
            hj = last_layer._array(i, "h")[j]
            total += float(g[0] @ torch.from_numpy(gj)) * (float(h[0] @ torch.from_numpy(hj))
                                                           + 1.0)
        loop.append(total)
    np.testing.assert_allclose(matrix[0], loop, rtol=1e-5, atol=1e-6)
    # saved and loaded as the shared Influence type
    loaded = Influence.load(result.save(Path(last_layer.directory) / "q.npz"))
    np.testing.assert_array_equal(loaded.proponent_ids, result.proponent_ids)
    assert loaded.method == "tracin-last-layer" and loaded.params["k"] == 10


def test_precompute_is_reused_and_resumes(run, muon_dir, tmp_path, monkeypatch):
    checkpoints = select_checkpoints(run)
    rows = np.arange(100)
    events = training_events(muon_dir / "train.h5", rows=rows)
    first = TracInStore.build(checkpoints, events, tmp_path / "s")
    assert not first.reused
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "s").glob("*.npy")}

    def no_recompute(*args, **kwargs):
        raise AssertionError("the precompute ran again")

    monkeypatch.setattr(tracin_module, "_precompute_checkpoint", no_recompute)
    again = TracInStore.build(checkpoints, events, tmp_path / "s")
    assert again.reused
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "s").glob("*.npy")} == stamps
    monkeypatch.undo()

    # interrupted after the first checkpoint: the rerun computes only the second
    original = tracin_module._precompute_checkpoint
    calls: list[int] = []

    def interrupted(out, manifest, i, *args):
        calls.append(i)
        if i == 1 and len(calls) == 2:
            raise KeyboardInterrupt
        return original(out, manifest, i, *args)

    monkeypatch.setattr(tracin_module, "_precompute_checkpoint", interrupted)
    with pytest.raises(KeyboardInterrupt):
        TracInStore.build(checkpoints, events, tmp_path / "r")
    with pytest.raises(HepxaiError, match="unfinished"):
        TracInStore.open(tmp_path / "r")
    assert not list((tmp_path / "r").glob("*.partial"))
    resumed = TracInStore.build(checkpoints, events, tmp_path / "r")
    assert calls == [0, 1, 1]
    val = MuonDataset(muon_dir / "val.h5")
    np.testing.assert_array_equal(resumed.scores(MuonGradients(val), [0, 1]),
                                  first.scores(MuonGradients(val), [0, 1]))


def _one_line(excinfo: pytest.ExceptionInfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message and len(message) < 400
    return message


def test_bad_inputs_give_one_clear_line(run, muon_dir, tmp_path):
    checkpoints = select_checkpoints(run)
    # checkpoints of another model
    other = create("convsdt", "fast")
    save_checkpoint(tmp_path / "other.pt", other, {"learning_rate": 0.01, "epoch": 1,
                                                   "identity": {"seed": 3, "n_train": 500}})
    with pytest.raises(HepxaiError) as excinfo:
        TracInStore.build([checkpoints[0], tmp_path / "other.pt"],
                          training_events(muon_dir / "train.h5"), tmp_path / "a")
    assert "another run" in _one_line(excinfo)
    # no learning rate stored
    state = read_checkpoint(checkpoints[0])
    del state["learning_rate"]
    torch.save(state, tmp_path / "no_rate.pt")
    with pytest.raises(HepxaiError) as excinfo:
        TracInStore.build([tmp_path / "no_rate.pt"], training_events(muon_dir / "train.h5"),
                          tmp_path / "b")
    assert "no learning rate" in _one_line(excinfo)
    # a head that is not the model's output: last-layer TracIn does not apply
    ensemble = create("sdt-ensemble", "fast")
    save_checkpoint(tmp_path / "ensemble.pt", ensemble, {"learning_rate": 0.01, "epoch": 1})
    with pytest.raises(HepxaiError) as excinfo:
        TracInStore.build([tmp_path / "ensemble.pt"], training_events(muon_dir / "train.h5"),
                          tmp_path / "c")
    assert "--variant full" in _one_line(excinfo)
    # the training file changed since the precompute
    data = tmp_path / "data"
    shutil.copytree(muon_dir, data)
    rows = np.arange(50)
    store = TracInStore.build(checkpoints, training_events(data / "train.h5", rows=rows),
                              tmp_path / "d")
    os.utime(data / "train.h5", ns=(0, store.train["mtime_ns"] + 10**9))
    with pytest.raises(HepxaiError) as excinfo:
        TracInStore.open(tmp_path / "d")
    assert "changed since the TracIn precompute" in _one_line(excinfo)
    # ... and a checkpoint that changed
    copies = [shutil.copy(p, tmp_path / p.name) for p in checkpoints]
    store = TracInStore.build(copies, training_events(muon_dir / "train.h5", rows=rows),
                              tmp_path / "e")
    save_checkpoint(copies[1], create("tracin-cnn", "fast"), {"learning_rate": 0.05})
    with pytest.raises(HepxaiError) as excinfo:
        TracInStore.open(tmp_path / "e")
    assert "changed since" in _one_line(excinfo)
    # other settings in an existing store directory
    with pytest.raises(HepxaiError) as excinfo:
        TracInStore.build(checkpoints[:1], training_events(data / "train.h5", rows=rows),
                          tmp_path / "d")
    assert "--overwrite" in _one_line(excinfo)
    with pytest.raises(HepxaiError) as excinfo:
        TracInStore.build(checkpoints, training_events(muon_dir / "train.h5"), tmp_path / "f",
                          variant="exact")
    assert "unknown TracIn variant" in _one_line(excinfo)


@pytest.mark.parametrize("damage", ["truncated", "one value changed", "filled with NaN"])
def test_a_damaged_store_array_is_refused_not_read(run, muon_dir, tmp_path, damage):
    rows = np.arange(40)
    store = TracInStore.build(select_checkpoints(run)[:1],
                              training_events(muon_dir / "train.h5", rows=rows), tmp_path / "s")
    array = tmp_path / "s" / "ckpt0.h.npy"
    values = np.load(array)
    original = values.copy()
    if damage == "truncated":
        array.write_bytes(array.read_bytes()[:-values.shape[1] * 4])  # the last row cut off
    else:
        values[7, 3] = values[7, 3] + 1.0 if damage == "one value changed" else np.nan
        if damage == "filled with NaN":
            values[:] = np.nan
        np.save(array, values)  # a well-formed .npy file, other bytes
    with pytest.raises(HepxaiError, match="differ from those the precompute wrote") as excinfo:
        TracInStore.open(tmp_path / "s")
    _one_line(excinfo)
    assert store.n_train == 40
    # the precompute again: refused without --overwrite, rebuilt with it
    source = training_events(muon_dir / "train.h5", rows=rows)
    with pytest.raises(HepxaiError, match="differ from those"):
        TracInStore.build(select_checkpoints(run)[:1], source, tmp_path / "s")
    rebuilt = TracInStore.build(select_checkpoints(run)[:1], source, tmp_path / "s",
                                overwrite=True)
    np.testing.assert_array_equal(np.load(array), original)  # the same arrays, made again
    assert not rebuilt.reused


def test_a_precompute_without_the_disk_space_is_refused_before_writing(run, muon_dir,
                                                                        tmp_path):
    from cli_checks import small_filesystem

    with small_filesystem(tmp_path / "disk", "64k") as disk:
        with pytest.raises(HepxaiError, match="the TracIn arrays of 2 checkpoint") as excinfo:
            TracInStore.build(select_checkpoints(run), training_events(muon_dir / "train.h5"),
                              disk / "store")
        _one_line(excinfo)
        assert not list(disk.rglob("ckpt*"))  # no gradient array begun


def test_a_store_of_an_older_format_is_made_again(run, muon_dir, tmp_path, capsys):
    import json

    source = training_events(muon_dir / "train.h5", rows=np.arange(30))
    TracInStore.build(select_checkpoints(run)[:1], source, tmp_path / "s")
    manifest = tmp_path / "s" / "manifest.json"
    old = json.loads(manifest.read_text())
    old["format_version"] = tracin_module.FORMAT_VERSION - 1
    manifest.write_text(json.dumps(old))
    store = TracInStore.build(select_checkpoints(run)[:1], source, tmp_path / "s")
    assert not store.reused and "older hepxai" in capsys.readouterr().err
    assert TracInStore.open(tmp_path / "s").n_train == 30


def test_a_checkpoint_with_non_finite_gradients_is_refused_at_the_precompute(run, muon_dir,
                                                                             tmp_path):
    state = read_checkpoint(select_checkpoints(run)[0])
    model = create("tracin-cnn", "fast")
    model.load_state_dict(state["model_state"])
    with torch.no_grad():  # diverged: NaN in the first layer's weights reaches every feature
        next(model.parameters()).view(-1)[0] = float("nan")
    path = save_checkpoint(tmp_path / "diverged.pt", model,
                           {k: state[k] for k in ("learning_rate", "epoch", "identity")})
    with pytest.raises(HepxaiError, match="not finite") as excinfo:
        TracInStore.build([path], training_events(muon_dir / "train.h5", rows=np.arange(20)),
                          tmp_path / "s")
    _one_line(excinfo)
    assert not list((tmp_path / "s").glob("ckpt0.*.npy"))  # nothing half-made is kept


def test_trigger_categories_use_strict_thresholds():
    got = trigger_categories(np.array([16.0, 16.0, 15.0, 15.0, 3.0]),
                             np.array([15.5, 15.0, 15.01, 14.0, 0.0]))
    assert got.tolist() == ["TP", "FN", "FP", "TN", "TN"]


def test_cli_precompute_query_self_influence_categories(run, muon_dir, tmp_path, capsys):
    base = ["influence", "muon"]
    common = ["--run", str(run), "--data", str(muon_dir), "--store", str(tmp_path / "store"),
              "--out", str(tmp_path / "out"), "--max-train", "120"]
    assert cli([*base, "query", *common]) == 2
    assert "no TracIn precompute yet" in capsys.readouterr().err
    assert cli([*base, "precompute", *common]) == 0
    assert "[computed]" in capsys.readouterr().out
    assert cli([*base, "precompute", *common]) == 0
    assert "[reused" in capsys.readouterr().out
    assert cli([*base, "query", *common, "--events", "3,4", "--figures", "1"]) == 0
    out = capsys.readouterr().out
    assert "val #3" in out and "proponents: #" in out
    result = Influence.load(tmp_path / "out" / "query_val_last-layer.npz")
    assert result.test_ids.tolist() == [3, 4] and result.proponent_ids.shape == (2, 10)
    assert (tmp_path / "out" / "proponents_val_3_last-layer.png").stat().st_size > 20_000
    assert not (tmp_path / "out" / "proponents_val_4_last-layer.png").exists()
    assert cli([*base, "self-influence", *common, "--top", "4"]) == 0
    assert (tmp_path / "out" / "self_influence_last-layer.png").stat().st_size > 20_000
    assert cli([*base, "categories", *common, "--events-per-category", "3", "--pool",
                "160"]) == 0
    out = capsys.readouterr().out
    assert "only-noise" in out and "training set: high noise" in out
    assert (tmp_path / "out" / "category_only-noise_last-layer.png").exists()
    assert cli([*base, "query", *common, "--events", "500"]) == 2
    assert "test events must be within 0..159" in capsys.readouterr().err
    # a store of the thesis' conventions: its queries take its gradient, the same events
    thesis = [*common[:4], "--store", str(tmp_path / "thesis"), *common[6:]]
    assert cli([*base, "precompute", *thesis, "--conventions", "thesis"]) == 0
    assert cli([*base, "query", *thesis, "--events", "3", "--figures", "0"]) == 0
    capsys.readouterr()
    ours = Influence.load(tmp_path / "out" / "query_val_last-layer.npz")
    store = TracInStore.open(tmp_path / "thesis")
    assert store.manifest["config"]["kernel"]["source"] == "ThesisCodeGradients"
    top = store.influence(ThesisCodeGradients(MuonDataset(muon_dir / "val.h5")), [3], k=10)
    assert ours.proponent_ids.tolist() == top.proponent_ids.tolist()
