"""A corpus of bad inputs through every entry point that reads data, checkpoints or runs.

Each case damages one file a command reads (missing, empty, random bytes, truncated, plain
text, a directory in its place, or a file of another use case), runs the command in-process
and checks the contract of a user error: exit 2, exactly one line on stderr, no traceback, and
no file under the case's directory created, changed or left partial (earlier outputs
untouched). The corpus is the product of :data:`ENTRY_POINTS` and :data:`DAMAGES`.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import susy_samples

from hepxai.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _missing(path: Path, foreign: Path) -> None:
    shutil.rmtree(path) if path.is_dir() else path.unlink()


def _replace(path: Path, content: bytes) -> None:
    shutil.rmtree(path) if path.is_dir() else path.unlink()
    path.write_bytes(content)


def _truncated(path: Path, foreign: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _directory(path: Path, foreign: Path) -> None:
    path.unlink()
    path.mkdir()
    (path / "inside.txt").write_text("a directory where a file belongs\n")


def _foreign(path: Path, foreign: Path) -> None:
    shutil.copyfile(foreign, path)


#: damage name -> damage(path, a file of the same role from another use case)
DAMAGES: dict[str, Callable[[Path, Path], None]] = {
    "missing": _missing,
    "empty": lambda path, foreign: _replace(path, b""),
    "random bytes": lambda path, foreign: _replace(
        path, np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes()),
    "truncated": _truncated,
    "plain text": lambda path, foreign: _replace(path, b"not a hepxai file\n"),
    "directory": _directory,
    "another use case's file": _foreign,
}

#: (use case, command line with DATA / CKPT / RUN / OUT, the files it reads, relative to the case)
ENTRY_POINTS = [
    ("muon", ["baselines", "muon", "--data", "BASELINE_DATA", "--max-events", "50"],
     ["baseline-data/train.h5", "baseline-data/val.h5"]),
    ("muon", ["train", "muon", "--model", "tracin-cnn", "--data", "DATA", "--epochs", "1",
              "--max-events", "50", "--val-events", "20"], ["data/train.h5", "data/val.h5"]),
    ("muon", ["evaluate", "muon", "--checkpoint", "CKPT", "--data", "DATA", "--max-events",
              "50"], ["ckpt/best.pt", "data/val.h5"]),
    ("muon", ["explain", "muon", "--checkpoint", "CKPT", "--data", "DATA", "--methods",
              "saliency", "--events-per-category", "1", "--pool", "50"],
     ["ckpt/best.pt", "data/val.h5"]),
    ("muon", ["export", "muon", "--data", "DATA"], ["data/train.h5", "data/val.h5"]),
    ("muon", ["import", "muon", "PUBLISHED"],
     ["published/train_images_with_noise.npy", "published/train_labels.npy",
      "published/test_images_with_noise.npy"]),
    ("muon", ["import", "muon", "ROOT"], ["root/train.root", "root/val.root"]),
    ("darkjet", ["import", "darkjet", "ROOT"], ["root/train.root", "root/test.root"]),
    ("susy", ["import", "susy", "ROOT"], ["root/train.root"]),
    ("muon", ["influence", "muon", "query", "--run", "CKPT_RUN", "--data", "DATA", "--store",
              "STORE_DONE", "--events", "0,1", "--figures", "0"],
     ["store-done/manifest.json", "store-done/rows.npy", "data/val.h5"]),
    ("muon", ["influence", "muon", "precompute", "--run", "CKPT_RUN", "--data", "DATA",
              "--store", "STORE", "--max-train", "40", "--n-checkpoints", "1"],
     ["ckpt/checkpoints/epoch_001.pt", "data/train.h5"]),
    ("darkjet", ["train", "darkjet", "--model", "resgnn", "--preset", "quick", "--data", "DATA",
                 "--epochs", "1", "--max-jets", "40", "--val-jets", "20", "--threads", "1"],
     ["data/train.h5", "data/val.h5"]),
    ("darkjet", ["evaluate", "darkjet", "--checkpoint", "CKPT", "--data", "DATA", "--threads",
                 "1"], ["ckpt/best.pt", "data/test.h5"]),
    ("darkjet", ["explain", "darkjet", "--checkpoint", "CKPT", "--data", "DATA", "--n-jets", "2",
                 "--gnnexplainer-jets", "1", "--gnnexplainer-epochs", "2", "--threads", "1"],
     ["ckpt/best.pt", "data/test.h5"]),
    ("susy", ["train", "susy", "--model", "bdt", "--preset", "quick", "--data", "DATA",
              "--rounds", "3", "--jobs", "1", "--max-events", "500"], ["data/train.h5"]),
    ("susy", ["evaluate", "susy", "--run", "RUN", "--data", "DATA"],
     ["data/test.h5", "run/model.json"]),
    ("susy", ["explain", "susy", "--run", "RUN", "--data", "DATA", "--max-events", "50",
              "--jobs", "1", "--no-figures"], ["data/test.h5", "run/model.json"]),
    ("muon", ["sanity", "muon", "--checkpoint", "CKPT", "--data", "DATA", "--methods",
              "saliency", "--orders", "cascading", "--events-per-category", "1", "--pool", "50",
              "--seeds", "0"], ["ckpt/best.pt", "data/val.h5"]),
    ("darkjet", ["sanity", "darkjet", "--checkpoint", "CKPT", "--data", "DATA", "--methods",
                 "saliency-graph", "--orders", "cascading", "--jets", "2", "--seeds", "0",
                 "--threads", "1"], ["ckpt/best.pt", "data/test.h5"]),
    ("susy", ["sanity", "susy", "--run", "RUN", "--shuffled", "SHUFFLED_RUN", "--data", "DATA",
              "--events", "20", "--jobs", "1"],
     ["data/test.h5", "run/model.json", "run-shuffled/model.json"]),
]



def foreign_of(assets: dict[str, Path], use_case: str, role: str) -> Path:
    """The same role's file from another use case: what a mixed-up path gives."""
    if role.startswith("ckpt/"):  # torch checkpoints: muon's for darkjet, darkjet's for muon
        return assets["darkjet" if use_case == "muon" else "muon"] / "ckpt" / "best.pt"
    if role.startswith("baseline-data/"):
        return assets["darkjet"] / "data" / "train.h5"
    if role.startswith("root/"):  # another use case's ntuple: other tree, other branches
        return assets["darkjet" if use_case != "darkjet" else "susy"] / "root" / "train.root"
    if role == "run/model.json":  # a JSON file of another command
        return assets["muon"] / "ckpt" / "history.json"
    other = {"muon": "darkjet", "darkjet": "susy", "susy": "muon"}[use_case]
    return assets[other] / "data" / "train.h5"


CASES = [pytest.param(use_case, argv, role, damage,
                      id=f"{argv[0]} {use_case}: {role} {damage}")
         for use_case, argv, roles in ENTRY_POINTS for role in roles for damage in DAMAGES]


def _run(argv: list) -> int:
    try:
        return main([str(a) for a in argv])
    except SystemExit as exc:
        return int(exc.code or 0)


@pytest.fixture(scope="module")
def assets(muon_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Per use case, a folder with good inputs: data/ and a trained ckpt/ (muon, darkjet) or
    run/ (SUSY)."""
    from hepxai.usecases.darkjet.store import simulate_dataset
    from hepxai.usecases.muon.published import export_published

    root = tmp_path_factory.mktemp("bad-inputs")
    made = {}
    muon = root / "muon"
    shutil.copytree(muon_dir, muon / "data")
    assert _run(["train", "muon", "--model", "tracin-cnn", "--data", muon / "data", "--out",
                 muon / "ckpt", "--epochs", "1", "--max-events", "60", "--val-events",
                 "30"]) == 0
    export_published(muon / "data", muon / "published")
    # the coincidence baseline sizes its windows on >= 50 training muons near 15 GeV
    assert _run(["simulate", "muon", "--n", "6000", "--workers", "1", "--out",
                 muon / "baseline-data"]) == 0
    # a finished TracIn store, for the queries
    assert _run(["influence", "muon", "precompute", "--run", muon / "ckpt", "--data",
                 muon / "data", "--store", muon / "store-done", "--max-train", "40",
                 "--n-checkpoints", "1"]) == 0
    made["muon"] = muon
    darkjet = root / "darkjet"
    simulate_dataset(darkjet / "data", 120, seed=3)
    assert _run(["train", "darkjet", "--model", "resgnn", "--preset", "quick", "--data",
                 darkjet / "data", "--out", darkjet / "ckpt", "--epochs", "1", "--max-jets",
                 "60", "--val-jets", "30", "--threads", "1"]) == 0
    made["darkjet"] = darkjet
    susy = root / "susy"
    shutil.copytree(susy_samples.data_dir(), susy / "data")
    for run, extra in (("run", []), ("run-shuffled", ["--shuffle-labels"])):
        assert _run(["train", "susy", "--model", "bdt", "--preset", "quick", "--data",
                     susy / "data", "--out", susy / run, "--rounds", "3", "--jobs", "1",
                     "--max-events", "500", *extra]) == 0
    made["susy"] = susy
    for use_case, folder in made.items():  # the ntuples 'hepxai import' reads
        assert _run(["export", use_case, "--data", folder / "data", "--out", folder / "root",
                     "--format", "root"]) == 0
    return made


def _snapshot(folder: Path) -> dict[Path, tuple[int, int]]:
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")
            if p.is_file()}


def test_the_corpus_is_large():
    assert len(CASES) >= 100, len(CASES)


def _command_line(argv: list[str], case: Path) -> list:
    places = {"DATA": case / "data", "CKPT": case / "ckpt" / "best.pt", "RUN": case / "run",
              "CKPT_RUN": case / "ckpt", "PUBLISHED": case / "published",
              "STORE": case / "store", "BASELINE_DATA": case / "baseline-data",
              "STORE_DONE": case / "store-done", "SHUFFLED_RUN": case / "run-shuffled",
              "ROOT": case / "root"}
    return [places.get(a, a) for a in argv] + ["--out", case / "out"]


@pytest.mark.parametrize("use_case,argv", [pytest.param(u, a, id=f"{a[0]} {u} {a[2]}")
                                           for u, a, _ in ENTRY_POINTS])
def test_every_entry_point_runs_on_the_good_inputs(use_case: str, argv: list[str],
                                                   assets: dict[str, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The control: undamaged, each command line succeeds, so a refusal below is the damage's
    doing and not a typo in the command line (argparse errors are exit 2 and one line too)."""
    case = tmp_path / use_case
    shutil.copytree(assets[use_case], case)
    before = _snapshot(case)
    code = _run(_command_line(argv, case))
    assert code == 0, capsys.readouterr().err[-2000:]
    assert _snapshot(case).keys() - before.keys()  # it wrote its results


@pytest.mark.parametrize("use_case,argv,role,damage", CASES)
def test_a_bad_input_is_one_line_exit_2_and_changes_nothing(
        use_case: str, argv: list[str], role: str, damage: str, assets: dict[str, Path],
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = tmp_path / use_case
    shutil.copytree(assets[use_case], case)
    DAMAGES[damage](case / role, foreign_of(assets, use_case, role))
    before = _snapshot(case)
    out = case / "out"
    code = _run(_command_line(argv, case))
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert code == 2, captured.err[-2000:]
    assert len(lines) == 1 and lines[0].startswith("hepxai") and "error:" in lines[0], lines
    assert "Traceback" not in captured.err + captured.out
    assert _snapshot(case) == before, "files were written or changed"
    assert not out.exists()
