"""The parser: lazy (help answers without importing torch), each shared option declared once,
and the light name modules in step with the registries they name."""

from __future__ import annotations

import argparse
import doctest
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_checks import user_error

from hepxai.cli import app, options
from hepxai.core.errors import HepxaiError

HEAVY = ("torch", "torch_geometric", "xgboost", "shap", "matplotlib", "h5py", "sklearn", "numba")
#: its add_arguments (usecases/muon/cli_influence.py) imports hepxai.explain.influence, torch
NOT_YET_LIGHT = {("influence", "muon")}


def _commands() -> list[tuple[str, str]]:
    app._load_commands()
    return [(verb, use_case) for verb, use_case, *_ in app._COMMANDS]


def _help_in_a_fresh_process(argvs: list[list[str]]) -> dict:
    """Run ``hepxai ARGV --help`` for each argv in one new interpreter; the exit codes, the
    help texts and the heavy modules imported at the end."""
    code = f"""
import contextlib, io, json, sys
from hepxai.cli.app import main
found = {{"codes": [], "texts": []}}
for argv in {argvs!r}:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            main(argv)
            found["codes"].append(None)
        except SystemExit as exc:
            found["codes"].append(exc.code)
    found["texts"].append(out.getvalue())
found["heavy"] = [m for m in {HEAVY!r} if m in sys.modules]
print(json.dumps(found))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "HEPXAI_PROGRESS": "0"})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_help_imports_nothing_heavy() -> None:
    argvs = [["--help"], ["train", "--help"]]
    argvs += [[verb, use_case, "--help"] for verb, use_case in _commands()
              if (verb, use_case) not in NOT_YET_LIGHT]
    found = _help_in_a_fresh_process(argvs)
    assert found["codes"] == [0] * len(argvs)
    assert found["heavy"] == []
    top = found["texts"][0]
    for word in ("simulate", "train", "explain", "influence", "report", "muon", "darkjet",
                 "susy", "VERB USE_CASE --help"):
        assert word in top, word
    for argv, text in zip(argvs[2:], found["texts"][2:], strict=True):
        assert text.startswith(f"usage: hepxai {argv[0]} {argv[1]}"), argv


def test_influence_muon_help_imports_nothing_heavy() -> None:
    found = _help_in_a_fresh_process([["influence", "muon", "--help"]])
    assert found["codes"] == [0] and found["heavy"] == []


def test_the_command_answers_help() -> None:
    """``python -m hepxai`` (the allocator re-exec included) answers ``--help``."""
    for argv in (["--help"], ["explain", "darkjet", "--help"]):
        result = subprocess.run([sys.executable, "-m", "hepxai", *argv], capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0 and result.stdout.startswith("usage: hepxai"), \
            result.stderr


def test_one_parser_parses_every_command() -> None:
    """Options are declared on first use, once: the same parser parses command after
    command, and again."""
    parser = app.build_parser()
    for _ in range(2):
        args = parser.parse_args(["train", "darkjet", "--threads", "2", "--max-jets", "10"])
        assert (args.verb, args.use_case, args.threads, args.max_jets) == \
            ("train", "darkjet", 2, 10)
        args = parser.parse_args(["explain", "susy", "--run", "r", "--jobs", "1"])
        assert (args.max_events, args.seed, args.jobs) == (5000, 0, 1)
        args = parser.parse_args(["evaluate", "muon", "--checkpoint", "a", "--checkpoint", "b"])
        assert args.checkpoint == [Path("a"), Path("b")] and args.device == "cpu"


def test_shared_options_have_one_help_text() -> None:
    """``--seed``, ``--threads``, ``--device``... read the same in every command."""
    parser = app.build_parser()
    helps: dict[str, set[str]] = {}
    for verb, use_case in _commands():
        if verb == "influence":
            continue  # its commands are rewritten elsewhere
        for action in app.command_parser(parser, verb, use_case)._actions:
            for flag in action.option_strings:
                helps.setdefault(flag, set()).add(action.help)
    for flag in ("--threads", "--jobs", "--device", "--overwrite", "--resume"):
        assert len(helps[flag]) == 1, (flag, helps[flag])
    assert {h for h in helps["--seed"] if h.startswith("random seed")} == \
        {"random seed (0 <= seed < 2**63)"}


def test_options_examples_run() -> None:
    result = doctest.testmod(options)
    assert result.attempted > 0 and result.failed == 0


def test_prepare_sets_threads_and_checks_the_device() -> None:
    import torch

    before = torch.get_num_threads()
    try:
        options.prepare(argparse.Namespace(threads=1, device="cpu"))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    if not torch.cuda.is_available():
        with pytest.raises(HepxaiError, match="no CUDA device"):
            options.prepare(argparse.Namespace(device="cuda:0"))
    with pytest.raises(HepxaiError, match="CUDA device"):
        options.prepare(argparse.Namespace(device=f"cuda:{torch.cuda.device_count() + 3}"))


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "cuda:"])
def test_a_misspelt_device_is_one_line(device: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert "cpu, cuda or cuda:N" in user_error(capsys, ["train", "muon", "--model", "convsdt",
                                                        "--device", device])


def test_hepxai_error_is_a_value_error() -> None:
    assert issubclass(HepxaiError, ValueError)


def _darkjet_checkpoint(path: Path) -> Path:
    import torch

    torch.save({"format": "hepxai-checkpoint", "use_case": "darkjet", "model": "resgnn",
                "preset": "quick", "recipe": {}, "model_state": {}}, path)
    return path


def test_muon_commands_refuse_a_darkjet_checkpoint(muon_dir: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    foreign = _darkjet_checkpoint(tmp_path / "darkjet.pt")
    for argv in (["evaluate", "muon", "--checkpoint", foreign, "--data", muon_dir, "--out",
                  tmp_path / "evaluation"],
                 ["explain", "muon", "--checkpoint", foreign, "--data", muon_dir, "--out",
                  tmp_path / "explain"],
                 ["train", "muon", "--model", "convsdt", "--teacher", foreign, "--data",
                  muon_dir, "--out", tmp_path / "run", "--epochs", "1", "--max-events", "50"],
                 ["train", "muon", "--model", "decision-tree", "--teacher", foreign, "--data",
                  muon_dir, "--out", tmp_path / "tree", "--max-events", "50"]):
        assert "a checkpoint of the 'darkjet' use case, not muon" in user_error(capsys, argv)
    assert not (tmp_path / "run" / "best.pt").exists()
    assert not (tmp_path / "tree" / "best.pt").exists()


def test_explain_muon_refuses_an_empty_method_list(muon_dir: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from hepxai.io.checkpoint import save_checkpoint
    from hepxai.usecases.muon.models import create

    checkpoint = save_checkpoint(tmp_path / "cnn.pt", create("tracin-cnn", "fast"))
    line = user_error(capsys, ["explain", "muon", "--checkpoint", checkpoint, "--data", muon_dir,
                               "--out", tmp_path / "explain", "--methods", " , "])
    assert "names no method" in line
    assert not (tmp_path / "explain").exists() or not any((tmp_path / "explain").iterdir())


def test_the_light_names_are_the_registries_names() -> None:
    from hepxai.usecases.darkjet import graph_settings
    from hepxai.usecases.darkjet import models as darkjet_models
    from hepxai.usecases.darkjet import names as darkjet
    from hepxai.usecases.darkjet import study as darkjet_study
    from hepxai.usecases.darkjet.graphs import GraphSettings
    from hepxai.usecases.muon import generate as muon_generate
    from hepxai.usecases.muon import models as muon_models
    from hepxai.usecases.muon import names as muon
    from hepxai.usecases.muon import study as muon_study
    from hepxai.usecases.muon.models import decision_tree
    from hepxai.usecases.susy import generate as susy_generate
    from hepxai.usecases.susy import models as susy_models
    from hepxai.usecases.susy import names as susy
    from hepxai.usecases.susy import store as susy_store

    assert tuple(muon_models.MODELS) == muon.MODELS and muon_models.PRESETS == muon.PRESETS
    assert decision_tree.NAME == muon.DECISION_TREE
    assert tuple(muon_study.DEFAULT_METHODS) == muon.METHODS
    assert {name: tuple(vars(s).values()) for name, s in muon_generate.PRESETS.items()} == \
        muon.SIMULATION_PRESETS
    assert tuple(darkjet_models.MODELS) == darkjet.MODELS
    assert darkjet_models.PRESETS == darkjet.PRESETS and darkjet_study.METHODS == darkjet.METHODS
    assert GraphSettings is graph_settings.GraphSettings
    assert susy_models.PRESETS == susy.PRESETS and susy_store.SAMPLES == susy.SAMPLES
    assert {name: tuple(vars(s).values()) for name, s in susy_generate.PRESETS.items()} == \
        susy.SIMULATION_PRESETS
