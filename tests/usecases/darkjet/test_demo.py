"""``hepxai demo darkjet`` as steps: the options reach the commands that use them, kappa
pruning only on request, and the graph views drawn by ``hepxai report darkjet --views``."""

from __future__ import annotations

import json
from pathlib import Path

from cli_checks import user_error

from hepxai.usecases.darkjet.demo import DemoSettings, darkjet_steps


def _argv(steps, name: str) -> list[str]:
    return next(s.argv for s in steps if s.name == name)


def _value(argv: list[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv else None


def test_the_options_reach_their_commands(tmp_path: Path):
    default = darkjet_steps(tmp_path, DemoSettings())
    assert [s.name for s in default] == [
        "simulate", *(f"train {m}-{v}" for v in ("gnn-0", "gnn-1", "gnn-2")
                      for m in ("resgnn", "gatv2", "cnn3d")),
        "evaluate", "train resgnn-gnn-1 on shuffled labels", "sanity resgnn-gnn-1",
        "explain resgnn-gnn-1", "tracin precompute", "tracin categories", "report"]
    train = _argv(default, "train gatv2-gnn-2")
    assert _value(train, "--variant") == "gnn-2" and _value(train, "--preset") == "quick"
    assert "--epochs" not in train and "--max-jets" not in train and "--threads" not in train
    assert _value(_argv(default, "simulate"), "--n") == "20000"
    assert _value(_argv(default, "evaluate"), "--checkpoint") == str(
        tmp_path / "runs" / "resgnn-gnn-0" / "best.pt")
    settings = DemoSettings(n=150, preset="fast", epochs=3, max_jets=500, n_explain=6, views=1,
                            influence_jets=4, seed=5, threads=1)
    steps = darkjet_steps(tmp_path, settings)
    train = _argv(steps, "train cnn3d-gnn-1")
    assert (_value(train, "--epochs"), _value(train, "--max-jets"), _value(train, "--seed"),
            _value(train, "--threads")) == ("3", "500", "5", "1")
    explain = _argv(steps, "explain resgnn-gnn-1")
    assert (_value(explain, "--n-jets"), _value(explain, "--gnnexplainer-jets"),
            _value(explain, "--views")) == ("6", "6", "1")
    assert _value(explain, "--cnn-checkpoint") == str(tmp_path / "runs" / "cnn3d-gnn-1"
                                                      / "best.pt")
    assert _value(_argv(steps, "tracin categories"), "--per-category") == "4"
    assert _argv(steps, "report")[-2:] == ["--views", "1"]
    assert all("--threads" in s.argv for s in steps if s.argv[0] in ("train", "evaluate",
                                                                     "explain", "influence"))


def test_kappa_pruning_only_with_influence_validation(tmp_path: Path):
    assert not any("kappa" in s.name for s in darkjet_steps(tmp_path, DemoSettings()))
    steps = darkjet_steps(tmp_path, DemoSettings(influence_validation=True))
    assert [s.name for s in steps][-2:] == ["tracin kappa", "report"]
    kappa = _argv(steps, "tracin kappa")
    assert _value(kappa, "--epochs") == "2" and _value(kappa, "--n-train") == "2000"
    assert tmp_path / "influence" / "kappa" / "kappa.json" in steps[-1].inputs
    kappa = _argv(darkjet_steps(tmp_path, DemoSettings(influence_validation=True, epochs=1)),
                  "tracin kappa")
    assert _value(kappa, "--epochs") == "1"


def test_report_views_are_drawn_into_the_run_directory(tmp_path: Path, capsys):
    from hepxai.cli import main as cli

    run = tmp_path / "run"
    assert cli(["simulate", "darkjet", "--out", str(run / "data"), "--n", "40"]) == 0
    assert cli(["report", "darkjet", str(run), "--views", "1"]) == 0
    index = json.loads((run / "graphs" / "graphs.json").read_text())
    assert [v["name"].split("-")[0] for v in index["views"]] == ["qcd", "dp"]
    for view in index["views"]:
        assert Path(view["png"]).parent == run / "graphs" and Path(view["html"]).exists()
    assert f'alt="{index["views"][0]["name"]}"' in (run / "report.html").read_text()
    assert cli(["report", "darkjet", str(run), "--views", "0"]) == 0  # an empty index
    assert json.loads((run / "graphs" / "graphs.json").read_text())["views"] == []
    user_error(capsys, ["report", "darkjet", tmp_path / "none", "--views", "1"])
