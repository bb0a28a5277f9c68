"""``hepxai ... susy`` from the command line: the whole chain on small data, and bad input as one
error line with exit code 2 and no traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from report_checks import CHROMIUM, check_in_browser, check_page
from susy_samples import data_dir

from hepxai.cli import main


def run_cli(argv: list[str]) -> int:
    try:
        return main([str(a) for a in argv])
    except SystemExit as exc:  # argparse errors and --help
        return int(exc.code or 0)


def assert_user_error(capsys: pytest.CaptureFixture[str], argv: list) -> str:
    code = run_cli(argv)
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert code == 2, captured.err
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("hepxai") and "error:" in lines[0]
    assert "Traceback" not in captured.err + captured.out
    return lines[0]


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory made by the commands: data/, runs/*, evaluation/, explain/."""
    run = tmp_path_factory.mktemp("susy-study")
    shutil.copytree(data_dir(), run / "data")
    for kind, size in (("bdt", ["--rounds", "10"]), ("mlp", ["--epochs", "2"])):
        for sample in ("simplified", "full"):
            assert run_cli(["train", "susy", "--model", kind, "--sample", sample, "--preset",
                            "quick", "--data", run / "data", "--out",
                            run / "runs" / f"{kind}-{sample}", "--jobs", "1", *size]) == 0
    runs = [x for p in sorted((run / "runs").iterdir()) for x in ("--run", p)]
    assert run_cli(["evaluate", "susy", *runs, "--data", run / "data", "--out",
                    run / "evaluation"]) == 0
    assert run_cli(["explain", "susy", *runs, "--data", run / "data", "--out", run / "explain",
                    "--max-events", "200", "--jobs", "1", "--no-figures"]) == 0
    return run


def test_simulate_prints_and_writes_both_splits(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "data"
    assert run_cli(["simulate", "susy", "--n-train", "500", "--n-test", "250", "--seed", "2",
                    "--out", out]) == 0
    text = capsys.readouterr().out
    assert "train:" in text and "test:" in text and "expected events at 139 fb^-1" in text
    assert (out / "train.h5").exists() and (out / "test.h5").exists()
    assert run_cli(["simulate", "susy", "--n-train", "500", "--n-test", "250", "--seed", "2",
                    "--out", out]) == 0
    assert "kept (already complete)" in capsys.readouterr().out


def test_the_chain_writes_results_and_the_report(study: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    evaluation = json.loads((study / "evaluation" / "evaluation.json").read_text())
    assert set(evaluation["models"]) == {"bdt-simplified", "bdt-full", "mlp-simplified",
                                         "mlp-full"}
    for result in evaluation["models"].values():
        assert 0.5 < result["auc"]["signal"] <= 1.0
        assert result["significance"]["best"]["z"] > 0
    for name in ("roc.png", "efficiency_rejection.png", "significance.png", "scores.png"):
        assert (study / "evaluation" / name).stat().st_size > 1000
    explanation = json.loads((study / "explain" / "explain.json").read_text())
    assert "comparison" in explanation and len(explanation["convergence"]) == 15
    # re-training the same settings keeps the model
    assert run_cli(["train", "susy", "--model", "bdt", "--sample", "full", "--preset", "quick",
                    "--data", study / "data", "--out", study / "runs" / "bdt-full", "--jobs", "1",
                    "--rounds", "10"]) == 0
    assert "already trained" in capsys.readouterr().out
    assert run_cli(["report", study]) == 0  # the use case read from data/*.h5
    html = (study / "report.html").read_text()
    for text in ("Which variables have the largest impact on the signal class?",
                 "Which variables differ most between the simplified and the full-reconstruction",
                 "Convergence of BDT and MLP explanations", "data:image/png;base64,"):
        assert text in html
    assert check_page(html) == ["susy-data", "susy-models", "susy-performance", "susy-explain",
                                "susy-importance", "susy-comparison", "susy-convergence"]
    if CHROMIUM:
        check_in_browser(study / "report.html")


@pytest.mark.slow
def test_demo_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    shutil.copytree(data_dir(), out / "data")  # other sizes than the preset: re-simulated
    assert run_cli(["demo", "susy", "--preset", "quick", "--out", out, "--jobs", "1",
                    "--explain-events", "200"]) == 0
    text = capsys.readouterr().out
    assert "demo finished" in text and "20,000 events" in text
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") > 40  # data, performance and SHAP figures
    timings = json.loads((out / "timings.json").read_text())
    assert set(timings) >= {"simulate", "evaluate", "explain", "report"}
    assert check_page(html)[-1] == "run" and '<table id="timings">' in html
    assert list(timings) == ["simulate", "train bdt-simplified", "train bdt-full",
                             "train mlp-simplified", "train mlp-full", "evaluate", "explain",
                             "train mlp-full on shuffled labels", "sanity mlp-full",
                             "train bdt-full on shuffled labels", "sanity bdt-full",
                             "report"]  # step order, the report's
    # the sanity section shows each check of sanity.json with its verdict
    assert check_page(html)[-4:] == ["susy-sanity", "sanity-bdt-full", "sanity-mlp-full", "run"]
    from hepxai.report.format import with_interval

    for name, check in (("mlp-full", "cascading"), ("mlp-full", "labels"),
                        ("bdt-full", "labels")):
        sanity = json.loads((out / "sanity" / name / "sanity.json").read_text())
        for method, per in sanity["methods"].items():
            spearman = per[check]["similarity"]["spearman"]
            shown = with_interval(spearman["mean"][-1], spearman["interval"][-1], 2)
            section = html[html.index(f'id="sanity-{name}"'):]
            assert f"<td>{shown}</td><td>{per[check]['verdict']}</td>" in section, (name,
                                                                                   method)
    assert set(json.loads((out / "sanity" / "bdt-full" / "sanity.json").read_text())[
        "methods"]["tree-shap"]) == {"labels"}  # no layers to randomize
    # a re-run runs no step, keeps the seconds, and still prints the results
    assert run_cli(["demo", "susy", "--preset", "quick", "--out", out, "--jobs", "1",
                    "--explain-events", "200"]) == 0
    text = capsys.readouterr().out
    assert "(0 steps run, 12 reused)" in text and "Convergence" in text
    assert json.loads((out / "timings.json").read_text()) == timings


@pytest.mark.parametrize("verb", ["simulate", "train", "evaluate", "explain", "demo", "report"])
def test_help(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli([verb, "susy", "--help"]) == 0
    assert "usage: hepxai" in capsys.readouterr().out


def _nan_data(tmp_path: Path) -> Path:
    data = tmp_path / "nan"
    shutil.copytree(data_dir(), data)
    with h5py.File(data / "train.h5", "r+") as f:
        table = f["full/features"][()]
        table[11, 4] = np.nan
        f["full/features"][...] = table
    return data


def _garbage_data(tmp_path: Path) -> Path:
    data = tmp_path / "garbage"
    data.mkdir()
    (data / "train.h5").write_bytes(b"\x00garbage" * 64)
    return data


def test_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               study: Path) -> None:
    out = tmp_path / "out"
    train = ["train", "susy", "--model", "bdt", "--preset", "quick", "--out", out]
    message = assert_user_error(capsys, [*train, "--data", tmp_path / "missing"])
    assert "no such file" in message and "hepxai simulate susy" in message
    assert "NaN" in assert_user_error(capsys, [*train, "--data", _nan_data(tmp_path)])
    assert "not a readable" in assert_user_error(capsys, [*train, "--data",
                                                          _garbage_data(tmp_path)])
    assert "invalid choice" in assert_user_error(capsys, [*train, "--data", data_dir(),
                                                          "--preset", "paper"])
    assert "--rounds" in assert_user_error(capsys, [*train, "--data", data_dir(), "--epochs",
                                                    "3"])
    assert not out.exists()
    file_out = tmp_path / "a-file"
    file_out.write_text("x")
    assert "is a file" in assert_user_error(capsys, ["train", "susy", "--model", "mlp",
                                                     "--data", data_dir(), "--out", file_out])
    assert "at least 5" in assert_user_error(capsys, ["simulate", "susy", "--n-train", "3",
                                                      "--out", tmp_path / "d"])
    assert "model.json missing" in assert_user_error(
        capsys, ["evaluate", "susy", "--run", tmp_path, "--data", data_dir()])
    assert "(0, 1]" in assert_user_error(
        capsys, ["evaluate", "susy", "--run", study / "runs" / "bdt-full", "--data", data_dir(),
                 "--signal-efficiency", "2", "--out", tmp_path / "ev"])
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    for split in ("train", "test"):
        with h5py.File(foreign / f"{split}.h5", "w") as f:
            f.attrs["format"] = "hepxai-muon"
    assert "not a hepxai SUSY file" in assert_user_error(
        capsys, ["explain", "susy", "--run", study / "runs" / "bdt-full", "--data", foreign,
                 "--out", tmp_path / "ex"])
    assert "no such run directory" in assert_user_error(capsys, ["report", "susy",
                                                                 tmp_path / "d2"])
    empty = tmp_path / "empty-run"
    empty.mkdir()
    assert "no SUSY results" in assert_user_error(capsys, ["report", "susy", empty])


def test_two_runs_with_one_label_are_explained_side_by_side(study: Path, tmp_path: Path
                                                             ) -> None:
    """Both runs are bdt-full: their labels get the end of their path, and the attribution
    files stay in attributions/ (a label's "/" must not become a folder)."""
    for copy in ("a", "b"):
        shutil.copytree(study / "runs" / "bdt-full", tmp_path / copy / "bdt-full")
    out = tmp_path / "explain"
    assert run_cli(["explain", "susy", "--run", tmp_path / "a" / "bdt-full", "--run",
                    tmp_path / "b" / "bdt-full", "--data", study / "data", "--out", out,
                    "--max-events", "100", "--jobs", "1", "--no-figures"]) == 0
    files = sorted(p.relative_to(out / "attributions")
                   for p in (out / "attributions").rglob("*") if p.is_file())
    assert len(files) == 2 and all(p.parent == Path(".") for p in files), files
    summary = json.loads((out / "explain.json").read_text())
    assert set(summary["attributions"]) == {"bdt-full [a/bdt-full] TreeSHAP",
                                            "bdt-full [b/bdt-full] TreeSHAP"}
    assert summary["convergence"][0]["spearman"] == 1.0  # copies of one model agree exactly
