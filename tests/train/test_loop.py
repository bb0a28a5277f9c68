"""The training loop: learning, checkpoints, resume equivalence, distillation, evaluation."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_checks import user_error

from hepxai.cli import main as cli
from hepxai.core.errors import HepxaiError
from hepxai.io.checkpoint import load_model, save_checkpoint
from hepxai.metrics import trigger
from hepxai.train.loop import fit
from hepxai.usecases.muon.evaluation import evaluate_models
from hepxai.usecases.muon.generate import SplitSizes, simulate_dataset
from hepxai.usecases.muon.loader import MuonDataset
from hepxai.usecases.muon.models import create
from hepxai.usecases.muon.task import MuonTask, predict, train


@pytest.fixture(scope="module")
def learn_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("learn") / "data"
    simulate_dataset(out, SplitSizes(train=4000, val=1000, noise=500), seed=3, workers=1)
    return out


def _datasets(data: Path, n_train: int | None = None):
    train_set = MuonDataset(data / "train.h5")
    if n_train is not None:
        train_set = MuonDataset(train_set.file, rows=np.arange(n_train))
    return train_set, MuonDataset(data / "val.h5")


def _median_loss(model, val_set, train_set) -> float:
    """Validation loss of the best constant: the training median of each encoded target."""
    encoded_train = model.encode_targets(train_set.targets)
    constant = encoded_train.median(0).values
    return float((model.encode_targets(val_set.targets) - constant).abs().sum(1).mean())


def test_short_training_learns_and_beats_the_constant(learn_dir, tmp_path):
    train_set, val_set = _datasets(learn_dir)
    model = create("tracin-cnn", "fast", seed=1)
    # (3 epochs of 4,000 events: enough to beat a constant, far from converged; |eta| at full
    # weight, since the preset's 0.1 lets it converge only after longer training than this)
    result = train(model, train_set, val_set, tmp_path / "run", seed=1, epochs=3, eta_weight=1.0)
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < losses[0]
    assert losses[-1] < 0.9 * _median_loss(model, val_set, train_set)
    # where the muon is: better than the best constant for |eta| ~ U(0, 1.05), 1.05 / 4
    pred = predict(model, val_set)
    assert np.abs(pred[:, 1] - val_set.targets[:, 1].numpy()).mean() < 0.2
    # files of the run: a checkpoint per epoch, best.pt, history and curves
    checkpoints = sorted((tmp_path / "run" / "checkpoints").glob("epoch_*.pt"))
    assert [p.name for p in checkpoints] == ["epoch_001.pt", "epoch_002.pt", "epoch_003.pt"]
    state = torch.load(checkpoints[1], weights_only=False)
    assert state["epoch"] == 2 and state["learning_rate"] > 0 and "optimizer" in state
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=False)
    efficiencies = np.array([h["efficiency_15"] for h in result.history])
    resolved = np.array([h["spread"] <= 1.5 for h in result.history])
    eligible = resolved if resolved.any() else np.ones_like(resolved)
    assert best["epoch"] == 1 + int(np.argmax(np.where(eligible, efficiencies, -1)))
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert len(history["history"]) == 3
    assert (tmp_path / "run" / "training_curves.png").stat().st_size > 10_000


class _ScriptedValidation(MuonTask):
    """The muon task with validation records given in advance, one per epoch."""

    def __init__(self, records: list[dict[str, float]]) -> None:
        self.records = iter(records)

    def validate(self, model, dataset, device) -> dict[str, float]:
        return {"loss": 1.0, "mae": 1.0, "efficiency_10": 0.9, **next(self.records)}


def test_best_checkpoint_is_the_most_efficient_epoch_that_meets_the_spread_requirement(
        learn_dir, tmp_path):
    # a biased early epoch (high efficiency because it overestimates pT) must not stay best.pt
    # once an epoch meets the 1.5 GeV resolution requirement; before that it is the best there is
    records = [{"spread": 2.4, "efficiency_15": 0.88}, {"spread": 1.6, "efficiency_15": 0.85},
               {"spread": 1.4, "efficiency_15": 0.79}, {"spread": 1.3, "efficiency_15": 0.78},
               {"spread": 1.5, "efficiency_15": 0.80}]
    train_set, val_set = _datasets(learn_dir, n_train=64)
    model = create("tracin-cnn", "fast", seed=1)
    recipe = replace(model.recipe, epochs=len(records), batch_size=32)
    best_after_epoch = []
    result = fit(model, _ScriptedValidation(records), train_set, val_set, tmp_path / "run",
                 recipe=recipe, identity={"model": "test"},
                 on_epoch=lambda r: best_after_epoch.append(torch.load(
                     tmp_path / "run" / "best.pt", weights_only=False)["epoch"]))
    assert best_after_epoch == [1, 1, 3, 3, 5]
    assert result.best_epoch == 5


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(muon_dir, tmp_path):
    train_set, val_set = _datasets(muon_dir)
    straight = create("convsdt", "fast", seed=5)
    train(straight, train_set, val_set, tmp_path / "straight", seed=5, epochs=3)

    interrupted = create("convsdt", "fast", seed=5)
    with pytest.raises(_Interrupt):  # stopped after the checkpoint of epoch 2 is written
        train(interrupted, train_set, val_set, tmp_path / "resumed", seed=5, epochs=3,
              on_epoch=_stop_after(2))
    resumed = create("convsdt", "fast", seed=5)
    result = train(resumed, train_set, val_set, tmp_path / "resumed", seed=5, epochs=3,
                   resume=True)
    assert [h["epoch"] for h in result.history] == [1, 2, 3]
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(),
                            strict=True):
        assert torch.equal(a, b), name
    # every checkpoint records its epoch's mean step size (TracIn's weight under a one-cycle
    # schedule), computed here from torch's OneCycleLR independently of the loop
    recipe = straight.recipe
    steps = -(-len(train_set) // recipe.batch_size)
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=recipe.learning_rate)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.learning_rate,
                                                   total_steps=3 * steps)
    rates = []
    for _ in range(3 * steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    for epoch in (1, 2, 3):
        state = torch.load(tmp_path / "straight" / "checkpoints" / f"epoch_{epoch:03d}.pt",
                           weights_only=False)
        expected = np.mean(rates[(epoch - 1) * steps:epoch * steps])
        assert state["learning_rate"] == pytest.approx(expected, rel=1e-9)


class _Interrupt(Exception):
    pass


def _stop_after(epochs: int):
    def callback(record):
        if record["epoch"] == epochs:
            raise _Interrupt
    return callback


def test_a_kill_at_every_write_resumes_to_the_uninterrupted_run(muon_dir, tmp_path,
                                                                 monkeypatch):
    """The run is stopped right after its k-th file write (epoch checkpoint, best.pt,
    history.json: each atomic, so a kill lands between two of them), for every k; resuming
    must end with the files of the uninterrupted run: the same best.pt (epoch and weights),
    last checkpoint and history."""
    import hepxai.train.loop as loop

    train_set, val_set = _datasets(muon_dir, n_train=256)

    def run(out, **kwargs):
        return train(create("tracin-cnn", "fast", seed=2), train_set, val_set, out, seed=2,
                     epochs=2, batch_size=64, **kwargs)

    writes = []
    for name in ("save_checkpoint", "write_json_atomic"):
        original = getattr(loop, name)

        def counted(*args, _original=original, **kwargs):
            result = _original(*args, **kwargs)
            writes.append(Path(args[0]).name)
            if len(writes) == stop_at[0]:
                raise _Interrupt
            return result
        monkeypatch.setattr(loop, name, counted)
    stop_at = [None]
    run(tmp_path / "straight")
    sequence = list(writes)
    assert sequence.count("history.json") == 2 and "best.pt" in sequence
    reference = _files(tmp_path / "straight")
    for k in range(1, len(sequence)):
        out = tmp_path / f"killed-{k}"
        writes.clear()
        stop_at[0] = k
        with pytest.raises(_Interrupt):
            run(out)
        stop_at[0] = None
        run(out, resume=True)
        assert _files(out) == reference, f"killed after write {k} ({sequence[k - 1]})"


def _files(out: Path) -> dict:
    """What a finished run is: best.pt's epoch and weights, the last checkpoint's weights,
    the history."""
    best = torch.load(out / "best.pt", weights_only=True)
    last = torch.load(sorted((out / "checkpoints").glob("epoch_*.pt"))[-1], weights_only=True)
    history = json.loads((out / "history.json").read_text())["history"]
    return {"best_epoch": best["epoch"],
            "best": {k: v.numpy().tobytes() for k, v in best["model_state"].items()},
            "last": {k: v.numpy().tobytes() for k, v in last["model_state"].items()},
            "history": [{k: v for k, v in h.items() if "seconds" not in k} for h in history]}


def test_resume_refuses_changed_training_settings(muon_dir, tmp_path):
    train_set, val_set = _datasets(muon_dir, n_train=128)
    val_set = MuonDataset(val_set.file, rows=np.arange(128))
    out = tmp_path / "run"
    train(create("tracin-cnn", "fast"), train_set, val_set, out, epochs=1, batch_size=64)
    for change, message in (({"batch_size": 32}, "batch_size 64 -> 32"),
                            ({"learning_rate": 1e-2}, "learning_rate"),
                            ({"epochs": 3}, "one-cycle schedule spans 1 epochs")):
        settings = {"epochs": 1, "batch_size": 64, **change}
        with pytest.raises(HepxaiError, match=message) as error:
            train(create("tracin-cnn", "fast"), train_set, val_set, out, resume=True,
                  **settings)
        assert "\n" not in str(error.value)
    other = MuonDataset(_datasets(muon_dir)[1].file, rows=np.arange(128))  # val.h5, same size
    with pytest.raises(HepxaiError, match="another data"):
        train(create("tracin-cnn", "fast"), other, val_set, out, epochs=1, batch_size=64,
              resume=True)


def test_resume_refuses_another_model(muon_dir, tmp_path):
    train_set, val_set = _datasets(muon_dir)
    train(create("tracin-cnn", "fast"), train_set, val_set, tmp_path / "run", epochs=1)
    with pytest.raises(HepxaiError, match="another model"):
        train(create("convsdt", "fast"), train_set, val_set, tmp_path / "run", epochs=2,
              resume=True)
    with pytest.raises(HepxaiError, match="already holds checkpoints"):
        train(create("tracin-cnn", "fast"), train_set, val_set, tmp_path / "run", epochs=2)


def test_distillation_trains_on_the_teacher_outputs(muon_dir, tmp_path):
    """A teacher that predicts a constant: its student must predict that constant, although
    the labels vary."""
    teacher = create("sdt", "fast", seed=0)
    with torch.no_grad():
        teacher.trees[0].leaves.weight.zero_()  # every leaf predicts 0 -> decoded: the mean
        teacher.target_mean.copy_(torch.tensor([12.5, 0.4]))
    assert teacher.recipe.pt_transform == "identity"
    save_checkpoint(tmp_path / "teacher.pt", teacher)
    train_set, val_set = _datasets(muon_dir)
    student = create("convsdt", "fast", seed=0)
    train(student, train_set, val_set, tmp_path / "student", epochs=2,
          teacher=str(tmp_path / "teacher.pt"))
    torch.testing.assert_close(train_set.targets,
                               torch.tensor([[12.5, 0.4]]).expand(len(train_set), 2))
    pred = predict(student, val_set)
    np.testing.assert_allclose(pred[:, 0], 12.5, rtol=1e-4)
    np.testing.assert_allclose(pred[:, 1], 0.4, rtol=1e-4)
    assert val_set.targets[:, 0].std() > 3  # while the labels are spread over 3-20 GeV
    state = torch.load(tmp_path / "student" / "best.pt", weights_only=False)
    assert state["identity"]["teacher"] == str(tmp_path / "teacher.pt")


def test_evaluation_numbers_equal_the_metric_functions(muon_dir, tmp_path):
    train_set, val_set = _datasets(muon_dir)
    train(create("tracin-cnn", "fast"), train_set, val_set, tmp_path / "run", epochs=1)
    results = evaluate_models([tmp_path / "run" / "best.pt"], muon_dir, tmp_path / "eval")
    (m,) = results["models"]
    saved = np.load(next((tmp_path / "eval" / "predictions").glob("*.npz")))
    pt, eta = saved["targets"][:, 0], saved["targets"][:, 1]
    assert m["spread"] == pytest.approx(trigger.spread(pt, saved["val"][:, 0]))
    assert m["efficiency_15"] == pytest.approx(
        trigger.efficiency(pt, saved["val"][:, 0] > 15, 15.0))
    assert m["mae"]["total"] == pytest.approx(
        trigger.mae(pt, saved["val"][:, 0], eta, saved["val"][:, 1])["total"])
    assert m["only_noise"]["selected"] == int((saved["noise"][:, 0] > 15).sum())
    model = load_model(tmp_path / "run" / "best.pt")
    np.testing.assert_allclose(saved["val"], predict(model, MuonDataset(muon_dir / "val.h5")),
                               rtol=1e-6)
    assert m["parameters"] == model.n_parameters() and m["size_bytes"] > 0
    assert m["throughput"]["events_per_second"] > 0


def _as_the_thesis_code(pt, pt_pred, eta, eta_pred, batch=32):
    """The thesis' Keras evaluation, literally: per batch of 32, its metric functions
    (utils/metrics.py: >= 15 GeV, 1.0 without such events; the mean of the [7, 13] window);
    the reported metric the mean over batches, the loss Keras' 'mae' over both outputs."""
    eff15, eff10, spreads = [], [], []
    for start in range(0, len(pt), batch):
        t, p = pt[start:start + batch], pt_pred[start:start + batch]
        for threshold, out in ((15, eff15), (10, eff10)):
            den = np.count_nonzero(t >= threshold)
            out.append(1.0 if den == 0 else np.count_nonzero((t >= threshold)
                                                             & (p >= threshold)) / den)
        window = (t >= 7) & (t <= 13)
        spreads.append(np.abs(t[window] - p[window]).mean() if window.any() else np.nan)
    loss = np.mean((np.abs(pt - pt_pred) + np.abs(eta - eta_pred)) / 2)
    return loss, np.mean(spreads), np.mean(eff15), np.mean(eff10)


def test_evaluate_with_the_thesis_conventions_gives_the_thesis_code_numbers(muon_dir, tmp_path,
                                                                            capsys):
    train_set, val_set = _datasets(muon_dir)
    train(create("tracin-cnn", "fast"), train_set, val_set, tmp_path / "run", epochs=1)
    assert cli(["evaluate", "muon", "--checkpoint", str(tmp_path / "run" / "best.pt"),
                "--data", str(muon_dir), "--out", str(tmp_path / "eval"), "--conventions",
                "thesis", "--baselines", str(tmp_path / "none.json")]) == 0
    printed = capsys.readouterr().out
    (m,) = json.loads((tmp_path / "eval" / "evaluation.json").read_text())["models"]
    saved = np.load(next((tmp_path / "eval" / "predictions").glob("*.npz")))
    pt, eta = saved["targets"][:, 0], saved["targets"][:, 1]
    loss, spread, eff15, eff10 = _as_the_thesis_code(pt, saved["val"][:, 0], eta,
                                                     saved["val"][:, 1])
    theirs = m["thesis_code"]
    assert theirs["mae"] == pytest.approx(loss) and theirs["spread"] == pytest.approx(spread)
    assert theirs["efficiency_15"] == pytest.approx(eff15)
    assert theirs["efficiency_10"] == pytest.approx(eff10)
    assert theirs["mae"] == pytest.approx(m["mae"]["total"] / 2)  # hepxai keeps its own
    assert "thesis' code conventions" in printed
    row = next(line for line in printed.splitlines() if line.startswith("tracin-cnn"))
    assert f"{loss:.4f}" in row and f"{eff15:.4f}" in row  # table 7.2 shows the thesis' numbers
    assert "hepxai's conventions vs the thesis' code" in printed


def test_train_and_evaluate_bad_input(muon_dir, tmp_path, capsys):
    user_error(capsys, ["train", "muon", "--model", "resnet", "--data", muon_dir])
    user_error(capsys, ["train", "muon", "--model", "convsdt", "--preset", "huge"])
    user_error(capsys, ["train", "muon", "--model", "convsdt", "--data", tmp_path / "none"])
    # a data file of another use case / format
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    import h5py

    with h5py.File(wrong / "train.h5", "w") as f:
        f.attrs["format"] = "hepxai-darkjet"
    line = user_error(capsys, ["train", "muon", "--model", "convsdt", "--data", wrong])
    assert "not a hepxai muon file" in line
    # a file that is not a checkpoint, as teacher and for evaluation
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint")
    user_error(capsys, ["evaluate", "muon", "--checkpoint", junk, "--data", muon_dir,
                         "--out", tmp_path / "eval"])
    user_error(capsys, ["train", "muon", "--model", "convsdt", "--data", muon_dir,
                         "--teacher", junk, "--out", tmp_path / "t", "--epochs", "1"])
    user_error(capsys, ["train", "muon", "--model", "convsdt", "--device", "cuda:7",
                         "--data", muon_dir])
    assert not (tmp_path / "eval").exists() and not (tmp_path / "t" / "best.pt").exists()


def test_train_and_evaluate_through_the_command_line(muon_dir, tmp_path, capsys):
    run = tmp_path / "run"
    assert cli(["train", "muon", "--model", "tracin-cnn", "--data", str(muon_dir), "--out",
                str(run), "--epochs", "1", "--val-events", "100", "--batch-size", "48",
                "--learning-rate", "0.02", "--eta-weight", "0.5"]) == 0
    assert (run / "best.pt").exists() and (run / "training_curves.png").exists()
    history = json.loads((run / "history.json").read_text())
    assert history["identity"]["model"] == "tracin-cnn"
    recipe = history["identity"]["recipe"]
    assert (recipe["batch_size"], recipe["learning_rate"], recipe["epochs"],
            recipe["eta_weight"]) == (48, 0.02, 1, 0.5)
    # one-cycle with a peak of 0.02: the epoch's mean step size lies below the peak
    assert 0 < torch.load(run / "best.pt", weights_only=False)["learning_rate"] < 0.02
    tree = tmp_path / "tree"
    assert cli(["train", "muon", "--model", "decision-tree", "--data", str(muon_dir), "--out",
                str(tree)]) == 0
    capsys.readouterr()
    assert cli(["evaluate", "muon", "--checkpoint", str(run / "best.pt"), "--checkpoint",
                str(tree / "best.pt"), "--data", str(muon_dir), "--out", str(tmp_path / "eval"),
                "--baselines", str(tmp_path / "none.json")]) == 0
    out = capsys.readouterr().out
    assert "Table 7.3" in out and "tracin-cnn (fast, epoch 1)" in out and "decision-tree" in out
    results = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    assert [m["model"] for m in results["models"]] == ["tracin-cnn", "decision-tree"]
    for figure in ("turn_on_15.png", "turn_on_10.png", "resolution.png", "confusion_15.png"):
        assert (tmp_path / "eval" / figure).stat().st_size > 5_000


def test_one_cycle_keeps_sgd_plain_and_cycles_adam():
    # TracIn assumes plain SGD: a one-cycle schedule must not switch momentum on
    from hepxai.train.loop import make_optimizer, make_scheduler
    from hepxai.usecases.muon.models.base import TrainingRecipe

    model = torch.nn.Linear(3, 2)
    for optimizer_name, key in (("sgd", "momentum"), ("adam", "betas")):
        recipe = TrainingRecipe(optimizer=optimizer_name, learning_rate=0.1, epochs=2,
                                schedule="onecycle")
        optimizer = make_optimizer(model, recipe)
        scheduler = make_scheduler(optimizer, recipe, steps_per_epoch=5)
        seen = set()
        for _ in range(10):
            model(torch.ones(1, 3)).sum().backward()
            optimizer.step()
            scheduler.step()
            value = optimizer.param_groups[0][key]
            seen.add(value if optimizer_name == "sgd" else value[0])
        if optimizer_name == "sgd":
            assert seen == {0}
        else:
            assert len(seen) > 5  # beta1 follows the cycle
