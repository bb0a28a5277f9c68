"""The command-line contract: a user error is one line on stderr, exit code 2, no traceback
and no partial output; plus the help texts and one simulate -> baselines run."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from cli_checks import small_filesystem

from hepxai.cli import main
from hepxai.usecases.muon.store import MuonFile

# ------------------------------------------------------------------------------ helpers


def make_published(folder: Path, n_train: int = 30, n_test: int = 12, seed: int = 0) -> Path:
    """A small, valid folder in the published numpy layout (straight tracks plus noise)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("test", n_test)):
        clean = np.zeros((n, 9, 384), np.uint8)
        strips = rng.integers(0, 384, n)
        for layer in range(9):
            on = rng.random(n) < 0.9
            clean[np.flatnonzero(on), layer, strips[on]] = 1
        noisy = clean | (rng.random(clean.shape) < 0.003).astype(np.uint8)
        labels = np.zeros((n, 5), np.float32)
        labels[:, 0] = rng.uniform(3, 20, n)
        labels[:, 1] = rng.uniform(0, 1.05, n)
        labels[:, 2] = rng.uniform(-np.pi, np.pi, n)
        labels[:, 4] = clean.reshape(n, -1).sum(axis=1)
        np.save(folder / f"{prefix}_images_with_noise.npy", noisy)
        np.save(folder / f"{prefix}_images_without_noise.npy", clean)
        np.save(folder / f"{prefix}_labels.npy", labels)
    return folder


def files_under(*folders: Path) -> set[Path]:
    return {p for folder in folders if folder.exists() for p in folder.rglob("*") if p.is_file()}


def run_cli(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse errors and --help
        return int(exc.code or 0)


def assert_user_error(capsys: pytest.CaptureFixture[str], argv: list[str],
                      watch: list[Path]) -> str:
    """Run ``hepxai argv`` in-process and check the user-error contract; return the message."""
    before = files_under(*watch)
    code = run_cli([str(a) for a in argv])
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert code == 2, captured.err
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("hepxai") and "error:" in lines[0]
    assert "Traceback" not in captured.err + captured.out
    after = files_under(*watch)
    assert after == before, f"new files: {sorted(map(str, after - before))}"
    assert not [p for p in after if p.name.endswith(".partial")]
    return lines[0]


# ------------------------------------------------------------------------------ bad input


def test_baselines_missing_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    message = assert_user_error(capsys, ["baselines", "muon", "--data", "/nonexistent/muon",
                                         "--out", out], [tmp_path])
    assert "/nonexistent/muon" in message and "no such file" in message
    assert not out.exists()


def test_import_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = assert_user_error(capsys, ["import", "muon", "/nonexistent", "--out",
                                         tmp_path / "out"], [tmp_path])
    assert "/nonexistent" in message


def test_import_missing_labels_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make_published(tmp_path / "src")
    (src / "test_labels.npy").unlink()
    message = assert_user_error(capsys, ["import", "muon", src, "--out", tmp_path / "out"],
                                [tmp_path])
    assert "test_labels.npy" in message


def _wrong_shape(src: Path) -> str:
    np.save(src / "train_images_with_noise.npy", np.zeros((30, 8, 384), np.uint8))
    return "(30, 8, 384)"


def _wrong_truth_shape(src: Path) -> str:
    np.save(src / "test_images_without_noise.npy", np.zeros((12, 9, 383), np.uint8))
    return "test_images_without_noise.npy"


def _non_binary(src: Path) -> str:
    # the train split is valid (and is converted first): the test split still stops everything
    images = np.load(src / "test_images_with_noise.npy")
    images[7, 3, 100] = 2
    np.save(src / "test_images_with_noise.npy", images)
    return "event 7"


def _non_binary_float(src: Path) -> str:
    images = np.load(src / "train_images_with_noise.npy").astype(np.float32)
    images[5, 0, 0] = 0.5
    np.save(src / "train_images_with_noise.npy", images)
    return "0 or 1"


def _non_numeric(src: Path) -> str:
    np.save(src / "train_images_with_noise.npy", np.full((30, 9, 384), "1"))
    return "numeric"


def _nan_label(src: Path) -> str:
    labels = np.load(src / "test_labels.npy")
    labels[3, 0] = np.nan
    np.save(src / "test_labels.npy", labels)
    return "pt"


def _inf_eta_label(src: Path) -> str:
    labels = np.load(src / "train_labels.npy")
    labels[[1, 2], 1] = np.inf
    np.save(src / "train_labels.npy", labels)
    return "eta"


def _empty_file(src: Path) -> str:
    (src / "train_images_with_noise.npy").write_bytes(b"")
    return "train_images_with_noise.npy"


def _zero_events(src: Path) -> str:
    np.save(src / "train_images_with_noise.npy", np.zeros((0, 9, 384), np.uint8))
    np.save(src / "train_images_without_noise.npy", np.zeros((0, 9, 384), np.uint8))
    np.save(src / "train_labels.npy", np.zeros((0, 5), np.float32))
    return "no events"


def _label_count(src: Path) -> str:
    np.save(src / "test_labels.npy", np.load(src / "test_labels.npy")[:-1])
    return "11 labels for 12 images"


def _label_columns(src: Path) -> str:
    np.save(src / "train_labels.npy", np.load(src / "train_labels.npy")[:, :4])
    return "(N, 5)"


def _pickled_labels(src: Path) -> str:
    np.save(src / "train_labels.npy", np.array([{"pt": 1}] * 30, dtype=object),
            allow_pickle=True)
    return "train_labels.npy"


def _truth_not_subset(src: Path) -> str:
    clean = np.load(src / "test_images_without_noise.npy")
    noisy = np.load(src / "test_images_with_noise.npy")
    clean[0, 0, np.flatnonzero(noisy[0, 0] == 0)[0]] = 1
    np.save(src / "test_images_without_noise.npy", clean)
    return "denoised"


BAD_INPUTS: dict[str, Callable[[Path], str]] = {
    "wrong-shape": _wrong_shape,
    "wrong-truth-shape": _wrong_truth_shape,
    "non-binary-in-test-split": _non_binary,
    "non-binary-float": _non_binary_float,
    "non-numeric": _non_numeric,
    "nan-label": _nan_label,
    "inf-label": _inf_eta_label,
    "empty-file": _empty_file,
    "zero-events": _zero_events,
    "label-count": _label_count,
    "label-columns": _label_columns,
    "pickled-labels": _pickled_labels,
    "truth-not-subset": _truth_not_subset,
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_import_bad_input(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make_published(tmp_path / "src")
    expected = BAD_INPUTS[case](src)
    out = tmp_path / "out"
    message = assert_user_error(capsys, ["import", "muon", src, "--out", out], [tmp_path])
    assert expected in message
    assert str(src) in message


def test_import_bad_input_keeps_existing_output(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A failed import into a folder of earlier results leaves those files as they were."""
    src = make_published(tmp_path / "src")
    out = tmp_path / "out"
    assert run_cli(["import", "muon", str(src), "--out", str(out)]) == 0
    capsys.readouterr()
    before = {p: p.read_bytes() for p in files_under(out)}
    assert sorted(p.name for p in before) == ["train.h5", "val.h5"]
    make_published(src, seed=1)  # new, valid train files ...
    _non_binary(src)  # ... but a bad test split
    assert_user_error(capsys, ["import", "muon", src, "--out", out], [tmp_path])
    assert {p: p.read_bytes() for p in files_under(out)} == before


def test_import_bad_noise_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make_published(tmp_path / "src")
    noise = tmp_path / "noise.npy"
    np.save(noise, np.zeros((5, 384, 9), np.uint8))
    message = assert_user_error(capsys, ["import", "muon", src, "--out", tmp_path / "out",
                                         "--noise-file", noise], [tmp_path])
    assert "noise.npy" in message
    missing = tmp_path / "missing.npy"
    message = assert_user_error(capsys, ["import", "muon", src, "--out", tmp_path / "out",
                                         "--noise-file", missing], [tmp_path])
    assert "missing.npy" in message


@pytest.mark.parametrize("argv", [
    ["--preset", "bogus"],
    ["--n", "-5"],
    ["--n", "ten"],
    ["--n-val", "-1"],
    ["--n", "1"],
    ["--n", "0"],
    ["--bogus-option"],
    ["--n-train", "0", "--n-val", "0", "--n-noise", "0"],
], ids=["preset", "negative-n", "text-n", "negative-n-val", "n-1", "n-0", "unknown-option",
        "all-splits-0"])
def test_simulate_bad_options(argv: list[str], tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert_user_error(capsys, ["simulate", "muon", "--out", out, "--workers", "1", *argv],
                      [tmp_path])
    assert not out.exists() or not any(out.iterdir())


def test_unknown_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "bogus" in assert_user_error(capsys, ["bogus"], [tmp_path])
    assert "higgs" in assert_user_error(capsys, ["simulate", "higgs"], [tmp_path])
    assert_user_error(capsys, [], [tmp_path])


@pytest.mark.parametrize("fmt,use_case", [("hepxai-muon", "muon"),
                                           ("hepxai-darkjet", "darkjet"),
                                           ("hepxai-susy", "susy")])
def test_report_reads_the_use_case_from_the_data_format(fmt: str, use_case: str,
                                                        tmp_path: Path) -> None:
    import h5py

    from hepxai.usecases import of_run_dir as use_case_of

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "broken.h5").write_bytes(b"not hdf5")  # skipped, not fatal
    with h5py.File(tmp_path / "data" / "val.h5", "w") as f:
        f.attrs["format"] = fmt
    assert use_case_of(tmp_path) == use_case


def test_report_of_a_directory_without_a_use_case(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert "cannot tell which use case" in assert_user_error(capsys, ["report", tmp_path],
                                                             [tmp_path])
    missing = tmp_path / "nothing"
    assert "no such run directory" in assert_user_error(capsys, ["report", missing], [tmp_path])


def test_simulate_refuses_other_settings(muon_dir: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    shutil.copytree(muon_dir, data)
    before = {p: p.read_bytes() for p in files_under(data)}
    message = assert_user_error(capsys, ["simulate", "muon", "--out", data, "--n-train", "500",
                                         "--n-val", "160", "--n-noise", "200", "--seed", "8",
                                         "--workers", "1"], [tmp_path])
    assert "--overwrite" in message
    assert {p: p.read_bytes() for p in files_under(data)} == before


def test_baselines_max_events_zero(muon_dir: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert_user_error(capsys, ["baselines", "muon", "--data", muon_dir, "--out",
                               tmp_path / "out", "--max-events", "0"], [tmp_path, muon_dir])


def test_baselines_without_truth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make_published(tmp_path / "src")
    for name in ("train_images_without_noise.npy", "test_images_without_noise.npy"):
        (src / name).unlink()
    assert run_cli(["import", "muon", str(src), "--out", str(tmp_path / "data")]) == 0
    capsys.readouterr()
    message = assert_user_error(capsys, ["baselines", "muon", "--data", tmp_path / "data",
                                         "--out", tmp_path / "out"], [tmp_path])
    assert "truth" in message


def test_subprocess_exit_code_and_no_traceback(tmp_path: Path) -> None:
    """The real process: exit status 2, one line on stderr, nothing on stdout, no files."""
    src = make_published(tmp_path / "src")
    _non_binary(src)
    out = tmp_path / "out"
    before = files_under(tmp_path)
    script = Path(sys.executable).parent / "hepxai"
    if not script.exists():
        script = Path(shutil.which("hepxai") or "")
    command = [str(script)] if script.is_file() else \
        [sys.executable, "-c", "import sys; from hepxai.cli import main; sys.exit(main())"]
    result = subprocess.run([*command, "import", "muon", str(src), "--out", str(out)],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "HEPXAI_PROGRESS": "0"})
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("hepxai: error:") and "pixels must be 0 or 1" in lines[0]
    assert "Traceback" not in result.stderr
    assert files_under(tmp_path) == before


# ------------------------------------------------------------------------------ edge cases


@pytest.mark.parametrize("option", [["--seed", "-1"], ["--seed", str(2**64)],
                                    ["--workers", "0"], ["--workers", "-2"]])
def test_simulate_bad_seed_or_workers(option: list[str], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert_user_error(capsys, ["simulate", "muon", "--out", tmp_path / "out", "--n", "10",
                               *option], [tmp_path])


def test_simulate_out_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "taken"
    target.write_text("not a folder")
    assert_user_error(capsys, ["simulate", "muon", "--out", target, "--n", "10",
                               "--workers", "1"], [tmp_path])


def test_export_missing_val_leaves_nothing(muon_dir: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(muon_dir / "train.h5", data / "train.h5")
    assert_user_error(capsys, ["export", "muon", "--data", data, "--out", tmp_path / "npy"],
                      [tmp_path])


def test_baselines_too_few_training_events(muon_dir: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert_user_error(capsys, ["baselines", "muon", "--data", muon_dir, "--out",
                               tmp_path / "out"], [tmp_path, muon_dir])


def test_python_dash_m_entry_point(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "hepxai", "simulate", "muon",
                             "--help"], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "HEPXAI_PROGRESS": "0"})
    assert result.returncode == 0, result.stderr
    assert "--preset" in result.stdout


# ------------------------------------------------------------------------------ positive


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["--help"]) == 0
    text = capsys.readouterr().out
    for verb in ("simulate", "import", "export", "baselines"):
        assert verb in text
    assert run_cli(["simulate", "muon", "--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--out", "--preset", "--n ", "--n-train", "--n-val", "--n-noise", "--seed",
                   "--workers", "--overwrite", "paper", "fast", "quick"):
        assert option in text, option
    assert run_cli(["import", "muon", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--noise-file" in text and "SOURCE" in text
    assert run_cli(["--version"]) == 0
    assert "hepxai" in capsys.readouterr().out


def test_simulate_then_baselines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, out = tmp_path / "data", tmp_path / "baselines"
    argv = ["simulate", "muon", "--n", "4000", "--out", str(data), "--workers", "1"]
    assert run_cli(argv) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert sorted(p.name for p in data.iterdir()) == ["noise.h5", "train.h5", "val.h5"]
    assert [len(MuonFile(data / f"{s}.h5")) for s in ("train", "val", "noise")] == \
        [3600, 400, 4000]
    assert run_cli(argv) == 0  # second run: everything kept
    assert captured.out.count("kept") == 0 and capsys.readouterr().out.count("kept") == 3

    assert run_cli(["baselines", "muon", "--data", str(data), "--out", str(out),
                    "--max-events", "300"]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    results = json.loads((out / "baselines.json").read_text())
    assert results["n_val"] == 300 and results["n_noise"] == 300
    names = [row["baseline"] for row in results["table"]]
    assert names == ["truth-hit fit", "noisy-image fit", "coincidence"]
    for row in results["table"]:
        for key in ("efficiency_15", "efficiency_10"):
            assert 0.0 <= row[key] <= 1.0
    assert results["table"][2]["spread_gev"] is None
    assert results["table"][0]["spread_gev"] > 0
    for name in names:
        assert name in captured.out
    assert {"turn_on_15.png", "turn_on_10.png", "resolution.png"} <= \
        {p.name for p in out.iterdir()}
    assert not [p for p in out.iterdir() if p.name.endswith(".partial")]


@contextlib.contextmanager
def held_by_another_process(out: Path, what: str) -> Iterator[int]:
    """``out``'s output lock held by a child process (as a run still writing holds it) for
    the block; yields the child's pid."""
    code = ("import sys; from hepxai.core.lock import exclusive\n"
            f"with exclusive({str(out)!r}, {what!r}):\n"
            "    print('held', flush=True); sys.stdin.read()")
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        yield child.pid
    finally:
        child.communicate("", timeout=30)


def test_a_second_simulate_into_the_same_place_is_refused(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    """While one run holds ``--out`` (here: this test, as a run still writing would), another
    ``simulate`` into it is refused in one line naming the holder, and writes nothing; the
    kernel drops the lock with its holder, so the same command then runs."""
    out = tmp_path / "data"
    argv = ["simulate", "muon", "--out", out, "--n", "40", "--workers", "1", "--seed", "6"]
    with held_by_another_process(out, "simulate muon --seed 5") as pid:
        message = assert_user_error(capsys, argv, [tmp_path])
    assert "is being written by another hepxai run" in message
    assert f"pid {pid}: simulate muon --seed 5" in message
    assert run_cli([str(a) for a in argv]) == 0
    assert MuonFile(out / "train.h5").attrs["seed"] == 6


def test_ctrl_c_inside_a_demo_step_is_one_line_and_exit_130(tmp_path, capsys, monkeypatch):
    """Ctrl-C in a step's work: the step's command says it once, the demo exits 130 without
    a second line or a traceback, and no step is recorded as finished."""
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("hepxai.usecases.muon.generate.simulate_dataset", interrupted)
    out = tmp_path / "demo"
    assert run_cli(["demo", "muon", "--out", str(out), "--quick"]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["hepxai: interrupted; finished files are kept, run the same command again "
                   "to resume"]
    assert not (out / "demo_state.json").exists()


def test_ctrl_c_during_training_says_how_to_resume(muon_dir, tmp_path, capsys, monkeypatch):
    """A training resumes only with --resume: the interruption line says so (and a run that
    already has it, a demo's step say, is told to run the same command again)."""
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("hepxai.usecases.muon.task.train", interrupted)
    argv = ["train", "muon", "--model", "tracin-cnn", "--data", str(muon_dir), "--out",
            str(tmp_path / "run"), "--epochs", "1", "--max-events", "60", "--val-events", "30"]
    assert run_cli(argv) == 130
    assert capsys.readouterr().err.strip().splitlines() == [
        "hepxai: interrupted; finished files are kept, add --resume to the same command to "
        "resume"]
    assert run_cli([*argv, "--resume"]) == 130
    assert "run the same command again" in capsys.readouterr().err


def test_trees_refuses_missing_data_before_any_training(muon_dir, tmp_path, capsys):
    from hepxai.io.checkpoint import save_checkpoint
    from hepxai.usecases.muon.models import create

    teacher = save_checkpoint(tmp_path / "ckpt" / "best.pt", create("attribution-cnn", "fast"))
    line = assert_user_error(capsys, ["trees", "muon", "--data", tmp_path / "none", "--teacher",
                                      teacher, "--out", tmp_path / "trees"], [tmp_path])
    assert "none/train.h5: no such file" in line
    line = assert_user_error(capsys, ["trees", "muon", "--data", muon_dir, "--teacher",
                                      tmp_path / "missing.pt", "--out", tmp_path / "trees"],
                             [tmp_path])
    assert "--teacher" in line and "no such checkpoint" in line


def _running_pids() -> dict[int, int]:
    """pid -> parent pid of every process still running (zombies excluded), from /proc."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):  # gone while listing
            continue
        if fields[0] not in ("Z", "X"):
            found[int(stat.parent.name)] = int(fields[1])
    return found


def _children(pid: int) -> list[int]:
    return [child for child, parent in _running_pids().items() if parent == pid]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_two_ctrl_c_stop_a_simulate_with_workers_within_seconds(tmp_path: Path) -> None:
    """A terminal's Ctrl-C reaches the whole process group, workers included: pressed twice
    while two workers simulate, the run exits 130 within 10 s with one line, no worker is
    left running and no half-written split is left behind."""
    import signal
    import time

    out = tmp_path / "sim"
    process = subprocess.Popen(
        [sys.executable, "-m", "hepxai", "simulate", "muon", "--out", str(out),
         "--n", "3000000", "--workers", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "HEPXAI_PROGRESS": "0"}, start_new_session=True,
        # a shell running the tests in the background may have Ctrl-C ignored: restore it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60
        while len(_children(process.pid)) < 2 and time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read()
            time.sleep(0.05)
        workers = _children(process.pid)
        assert len(workers) >= 2, "the workers never started"
        time.sleep(0.5)  # the workers are simulating
        pressed = time.monotonic()
        for _ in range(2):
            os.killpg(process.pid, signal.SIGINT)
            time.sleep(0.2)
        code = process.wait(timeout=10)
        assert time.monotonic() - pressed < 10
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    err = process.stderr.read().strip().splitlines()
    assert code == 130, err
    assert err == ["hepxai: interrupted; finished files are kept, run the same command again "
                   "to resume"]
    settled = time.monotonic() + 1  # a worker may be in the kernel's exit path for a moment
    while set(workers) & set(_running_pids()) and time.monotonic() < settled:
        time.sleep(0.01)
    assert not set(workers) & set(_running_pids()), "a worker outlived the run"
    assert not (out / "train.h5").exists()


@pytest.mark.parametrize("argv", [
    ["simulate", "muon", "--n", "10"],
    ["train", "muon", "--model", "attribution-cnn", "--data", "{missing}"],
    ["evaluate", "muon", "--data", "{missing}", "--checkpoint", "{missing}/best.pt"],
    ["train", "susy", "--model", "bdt", "--data", "{missing}"],
    ["demo", "darkjet", "--preset", "quick"],
], ids=lambda argv: " ".join(argv[:2]))
def test_an_out_that_cannot_be_written_is_refused_before_any_work(
        argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--out`` below a file: refused in one line naming --out, before the command reads
    its (here missing) inputs - not after the work is done."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    argv = [a.format(missing=tmp_path / "missing") for a in argv]
    message = assert_user_error(capsys, [*argv, "--out", blocker / "run"], [tmp_path])
    assert "--out" in message and "is a file, not a directory" in message


DAMAGED_JSON = {"truncated": '{"baselines": {"coincidence": {"turn_on": ',
                "not an object": "[1, 2, 3]", "no key": '{"something": 1}',
                "entry without curves": '{"baselines": {"coincidence": {"mae": 1.0}}}'}


@pytest.mark.parametrize("damage", list(DAMAGED_JSON))
def test_evaluate_refuses_a_damaged_baselines_file_before_evaluating(
        damage: str, muon_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hepxai.io.checkpoint import save_checkpoint
    from hepxai.usecases.muon.models import create

    checkpoint = save_checkpoint(tmp_path / "best.pt", create("attribution-cnn", "fast"))
    baselines = tmp_path / "baselines.json"
    baselines.write_text(DAMAGED_JSON[damage])
    line = assert_user_error(capsys, ["evaluate", "muon", "--checkpoint", checkpoint, "--data",
                                      muon_dir, "--out", tmp_path / "out", "--baselines",
                                      baselines], [tmp_path])
    assert str(baselines) in line and "'hepxai baselines muon'" in line
    assert not (tmp_path / "out" / "evaluation.json").exists()


@pytest.mark.parametrize("use_case", ["muon", "darkjet", "susy"])
def test_report_refuses_a_damaged_evaluation_json_in_one_line(
        use_case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    evaluation = tmp_path / "evaluation" / "evaluation.json"
    evaluation.parent.mkdir()
    evaluation.write_text('{"models": [{"label": "cnn", "mae"')  # cut off mid-write
    line = assert_user_error(capsys, ["report", use_case, tmp_path], [tmp_path])
    assert str(evaluation) in line and "not readable JSON" in line
    assert f"'hepxai evaluate {use_case}'" in line


def test_two_models_with_one_label_keep_their_own_predictions(
        muon_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two runs' untrained CNNs of one kind share 'attribution-cnn (fast)': each gets its own
    row and predictions file, and their predictions are their own."""
    from hepxai.io.checkpoint import save_checkpoint
    from hepxai.usecases.muon import evaluation
    from hepxai.usecases.muon.evaluation import evaluate_models
    from hepxai.usecases.muon.models import create

    # the timing of 1,024-event batches is not what this test is about (and takes 15 s)
    monkeypatch.setattr(evaluation, "measure_throughput", lambda model, device="cpu": {
        "events_per_second": 1.0, "latency_ms": 1.0, "batch_size": 1})

    paths = [save_checkpoint(tmp_path / run / "best.pt", create("attribution-cnn", "fast", seed))
             for run, seed in (("a", 1), ("b", 2))]
    results = evaluate_models(paths, muon_dir, tmp_path / "eval", max_events=50)
    labels = [m["label"] for m in results["models"]]
    assert labels == ["attribution-cnn (fast) [a/best.pt]", "attribution-cnn (fast) [b/best.pt]"]
    first, second = (np.load(m["predictions"])["val"] for m in results["models"])
    assert len({m["predictions"] for m in results["models"]}) == 2
    assert not np.allclose(first, second)  # the second did not overwrite the first
    line = assert_user_error(capsys, ["evaluate", "muon", "--checkpoint", paths[0],
                                      "--checkpoint", paths[0], "--data", muon_dir, "--out",
                                      tmp_path / "again"], [tmp_path])
    assert "given twice" in line


def test_explain_refuses_what_it_cannot_explain_before_any_work(
        muon_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hepxai.io.checkpoint import save_checkpoint
    from hepxai.usecases.muon.models import create

    assert run_cli(["train", "muon", "--model", "decision-tree", "--data", str(muon_dir),
                    "--out", str(tmp_path / "tree")]) == 0
    capsys.readouterr()
    line = assert_user_error(capsys, ["explain", "muon", "--checkpoint",
                                      tmp_path / "tree" / "best.pt", "--data", muon_dir,
                                      "--out", tmp_path / "ex"], [tmp_path])
    assert "decision-tree" in line and "not differentiable" in line
    cnn = save_checkpoint(tmp_path / "cnn.pt", create("attribution-cnn", "fast"))
    line = assert_user_error(capsys, ["explain", "muon", "--checkpoint", cnn, "--data",
                                      muon_dir, "--methods", "saliency,tree", "--out",
                                      tmp_path / "ex"], [tmp_path])
    assert "needs a single soft decision tree" in line


@pytest.mark.parametrize("argv", [
    ["train", "muon", "--model", "tracin-cnn", "--data", "DATA", "--epochs", "1"],
    ["evaluate", "muon", "--checkpoint", "CKPT", "--data", "DATA"],
    ["explain", "muon", "--checkpoint", "CKPT", "--data", "DATA"],
    ["baselines", "muon", "--data", "DATA"],
    ["demo", "darkjet", "--preset", "quick"],
    ["train", "susy", "--model", "bdt", "--data", "DATA"]])
def test_every_command_refuses_an_out_another_run_is_writing(
        argv: list[str], muon_dir: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    from hepxai.io.checkpoint import save_checkpoint
    from hepxai.usecases.muon.models import create

    checkpoint = save_checkpoint(tmp_path / "ckpt" / "best.pt", create("attribution-cnn", "fast"))
    out = tmp_path / "out"
    argv = [{"DATA": str(muon_dir), "CKPT": str(checkpoint)}.get(a, a) for a in argv]
    with held_by_another_process(out, "hepxai train muon") as pid:
        line = assert_user_error(capsys, [*argv, "--out", out], [tmp_path])
    assert f"{out} is being written by another hepxai run (pid {pid}: hepxai train muon)" in line
    assert not out.exists()  # the holder made it and removed it again; nothing was written


def test_a_default_out_or_store_is_locked_like_a_given_one(
        muon_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert run_cli(["train", "muon", "--model", "tracin-cnn", "--data", str(muon_dir), "--out",
                    str(run), "--epochs", "1", "--max-events", "60", "--val-events",
                    "30"]) == 0
    capsys.readouterr()
    # explain's --out defaults to explain/ next to the checkpoint
    place = run / "explain"
    with held_by_another_process(place, "hepxai explain muon") as pid:
        line = assert_user_error(capsys, ["explain", "muon", "--checkpoint", run / "best.pt",
                                          "--data", muon_dir, "--methods", "saliency"], [run])
    assert f"{place} is being written by another hepxai run (pid {pid}" in line
    # the precompute's --store defaults to RUN/influence/VARIANT
    store = run / "influence" / "last-layer"
    with held_by_another_process(store, "hepxai influence muon precompute") as pid:
        line = assert_user_error(capsys, ["influence", "muon", "precompute", "--run", run,
                                          "--data", muon_dir, "--max-train", "40",
                                          "--n-checkpoints", "1"], [run])
    assert f"{store} is being written by another hepxai run (pid {pid}" in line


@pytest.mark.parametrize("use_case,size", [("muon", ["--n", "20000"]),
                                           ("darkjet", ["--n", "4000"]),
                                           ("susy", ["--n-train", "8000", "--n-test", "100"])])
def test_simulate_without_the_disk_space_is_refused_before_any_work(
        use_case: str, size: list[str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    with small_filesystem(tmp_path / "disk", "512k") as disk:
        line = assert_user_error(capsys, ["simulate", use_case, *size, "--out",
                                          disk / "data"], [disk])
        assert "need about" in line and "free space or choose another --out" in line
        assert not any(disk.rglob("*"))


def test_a_disk_that_fills_during_simulate_is_one_line_and_leaves_nothing_partial(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from hepxai.usecases.muon import generate

    # an estimate far too low (another noise level, say): the write itself runs out of space
    monkeypatch.setattr(generate, "FILE_BYTES_PER_EVENT", {"train": 1, "val": 1, "noise": 1})
    with small_filesystem(tmp_path / "disk", "512k") as disk:
        line = assert_user_error(capsys, ["simulate", "muon", "--n", "20000", "--workers", "1",
                                          "--out", disk / "data"], [disk])
        assert line == (f"hepxai: error: {disk / 'data' / 'train.h5'}: no space left on the "
                        "device; free space or choose another --out")
        assert not any(disk.rglob("*"))  # no .partial file, no empty directory


def test_a_read_only_out_is_one_line(tmp_path: Path, muon_dir: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    with small_filesystem(tmp_path / "ro", "1m", read_only=True) as place:
        line = assert_user_error(capsys, ["baselines", "muon", "--data", muon_dir, "--out",
                                          place / "baselines"], [place])
        assert "read-only" in line and "choose a writable --out" in line


def test_operating_system_errors_map_to_one_line_and_the_right_exit_code() -> None:
    import errno

    from hepxai.core.errors import os_error_line

    # HDF5's own text: the errno and the file name sit in the message, not in the exception
    hdf5 = OSError("[Errno 28] Can't close file (file write failed: time = Fri Dec  4 2026\n, "
                   "filename = '/d/.train.h5.iywpgiap.partial', file descriptor = 4, errno = "
                   "28, error message = 'No space left on device')")
    assert os_error_line(hdf5) == ("/d/train.h5: no space left on the device; free space or "
                                   "choose another --out", 2)
    assert os_error_line(OSError(errno.EMFILE, "Too many open files"))[1] == 1
    assert os_error_line(OSError(errno.EROFS, "Read-only", "/x"))[0].startswith(
        "/x: the file system is read-only")
    message, code = os_error_line(OSError(errno.ECONNRESET, "Connection reset"))
    assert code == 1 and "\n" not in message and "report it" in message


def test_export_without_the_disk_space_is_refused_before_writing(
        muon_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The dense images go through memory maps, where a full disk is a SIGBUS, not an error."""
    with small_filesystem(tmp_path / "disk", "512k") as disk:
        line = assert_user_error(capsys, ["export", "muon", "--data", muon_dir, "--out",
                                          disk / "published"], [disk])
        assert "the exported images and labels need about" in line


@pytest.mark.parametrize("use_case,size", [("muon", ["--n", "400"]),
                                           ("darkjet", ["--n", "200"]),
                                           ("susy", ["--n-train", "400", "--n-test", "100"])])
def test_import_and_export_without_the_disk_space_are_refused_before_writing(
        use_case: str, size: list[str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    data, ntuples = tmp_path / "data", tmp_path / "ntuples"
    assert run_cli(["simulate", use_case, *size, "--out", str(data)]) == 0
    assert run_cli(["export", use_case, "--data", str(data), "--out", str(ntuples),
                    *(["--format", "root"] if use_case == "muon" else [])]) == 0
    capsys.readouterr()
    with small_filesystem(tmp_path / "disk", "64k") as disk:
        # the import: twice the uncompressed branches (spool, split files), nothing created
        line = assert_user_error(capsys, ["import", use_case, ntuples, "--out",
                                          disk / "imported"], [disk])
        assert "the import's spool and split files" in line and "need about" in line
        assert not any(disk.rglob("*"))
        # the export: each file's branches, before the file is begun
        line = assert_user_error(capsys, ["export", use_case, "--data", data, "--out",
                                          disk / "exported",
                                          *(["--format", "root"] if use_case == "muon" else [])],
                                 [disk])
        assert "need about" in line and "free space or choose another --out" in line


def test_an_evaluation_without_the_disk_space_is_refused_before_any_work(
        muon_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hepxai.io.checkpoint import save_checkpoint
    from hepxai.usecases.muon.models import create

    checkpoint = save_checkpoint(tmp_path / "ckpt" / "best.pt", create("attribution-cnn", "fast"))
    with small_filesystem(tmp_path / "disk", "512k") as disk:
        line = assert_user_error(capsys, ["evaluate", "muon", "--checkpoint", checkpoint,
                                          "--data", muon_dir, "--out", disk / "evaluation"],
                                 [disk])
        assert "the predictions of 1 model(s) and the figures need about" in line
        assert not list(disk.rglob("*.npz"))


def test_a_precompute_into_a_store_another_run_is_filling_is_refused(
        muon_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert run_cli(["train", "muon", "--model", "tracin-cnn", "--data", str(muon_dir), "--out",
                    str(run), "--epochs", "1", "--max-events", "60", "--val-events",
                    "30"]) == 0
    capsys.readouterr()
    store = tmp_path / "store"
    argv = ["influence", "muon", "precompute", "--run", run, "--data", muon_dir, "--store",
            store, "--max-train", "40", "--n-checkpoints", "1"]
    with held_by_another_process(store, "hepxai influence muon --store") as pid:
        line = assert_user_error(capsys, argv, [tmp_path])
    assert f"{store} is being written by another hepxai run (pid {pid}" in line
    assert run_cli([str(a) for a in argv]) == 0  # free again: the precompute runs
    assert (store / "manifest.json").exists() and not (store / ".hepxai.lock").exists()
