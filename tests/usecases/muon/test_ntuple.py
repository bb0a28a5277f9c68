"""Tests of muon ROOT / open-data ntuples: export then import gives the same arrays, a
hand-made ATLAS-style file with renamed branches imports as its hits say, and every malformed
file is refused in one line before anything is written."""

from __future__ import annotations

import shutil
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from hepxai.cli import main
from hepxai.core.errors import HepxaiError
from hepxai.io import ntuple as io_ntuple
from hepxai.usecases.muon.ntuple import export_ntuples, import_ntuples
from hepxai.usecases.muon.store import MuonFile, split_path

MAPPING = """tree = "CollectionTree"
[branches]
hit_layer = "rpc_layer"
hit_strip = "rpc_strip"
truth_layer = ""
truth_strip = ""
pt = "mu_pt"
eta = "mu_eta"
phi = "mu_phi"
charge = "mu_q"
"""


def _atlas_file(path: Path, hits: list[list[tuple[int, int]]], **labels) -> Path:
    """An ntuple written with uproot directly (not with hepxai's writer): vector branches of
    hits under ATLAS-style names."""
    n = len(hits)
    columns = {"rpc_layer": ak.Array([[h[0] for h in event] for event in hits]),
               "rpc_strip": ak.Array([[h[1] for h in event] for event in hits]),
               "mu_pt": np.asarray(labels.get("pt", np.linspace(5, 25, n)), np.float32),
               "mu_eta": np.asarray(labels.get("eta", np.linspace(-0.9, 0.9, n)), np.float32),
               "mu_phi": np.asarray(labels.get("phi", np.zeros(n)), np.float32),
               "mu_q": np.asarray(labels.get("charge", np.ones(n)), np.int32)}
    with uproot.recreate(path) as f:
        f.mktree("CollectionTree", {k: v.type.content if isinstance(v, ak.Array) else v.dtype
                                    for k, v in columns.items()})
        f["CollectionTree"].extend(columns)
    return path


@pytest.fixture(scope="module")
def exported(muon_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("ntuples")
    return {fmt: Path(export_ntuples(muon_dir, out / fmt, format=fmt)["train"]).parent
            for fmt in ("root", "h5")}


@pytest.mark.parametrize("fmt", ["root", "h5"])
def test_export_then_import_gives_the_same_arrays(muon_dir: Path, exported: dict[str, Path],
                                                  tmp_path: Path, fmt: str) -> None:
    summary = import_ntuples([exported[fmt]], tmp_path / "back")
    assert set(summary) == {"train", "val", "noise"}
    for split in summary:
        a, b = MuonFile(split_path(muon_dir, split)), MuonFile(split_path(tmp_path / "back", split))
        for name in ("images", "truth"):
            np.testing.assert_array_equal(np.asarray(getattr(a, name).offsets),
                                          np.asarray(getattr(b, name).offsets))
            np.testing.assert_array_equal(np.asarray(getattr(a, name).indices),
                                          np.asarray(getattr(b, name).indices))
        for field in a.labels.dtype.names:
            np.testing.assert_array_equal(a.labels[field], b.labels[field])
    # the same inputs and settings again: kept; another seed is another data set
    assert all(info["reused"] for info in import_ntuples([exported[fmt]],
                                                         tmp_path / "back").values())
    with pytest.raises(HepxaiError, match="exists with other settings"):
        import_ntuples([exported[fmt] / f"train.{fmt}"], tmp_path / "back", seed=5)


def test_files_are_split_by_the_hash_and_no_event_is_lost(muon_dir: Path,
                                                          exported: dict[str, Path],
                                                          tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.setattr(io_ntuple, "CHUNK", "4 kB")  # many chunks
    root = exported["root"]
    summary = import_ntuples([root / "train.root", root / "val.root"], tmp_path / "hashed",
                             fractions={"train": 0.7, "val": 0.3})
    assert set(summary) == {"train", "val"}  # no only-noise file given: no noise.h5
    source = [MuonFile(split_path(muon_dir, s)) for s in ("train", "val")]
    pt = np.concatenate([f.labels["pt"] for f in source])
    parts = [MuonFile(split_path(tmp_path / "hashed", s)) for s in ("train", "val")]
    assert sum(len(p) for p in parts) == len(pt)
    where = io_ntuple.assign_splits(np.arange(len(pt)), {"train": 0.7, "val": 0.3}, seed=1)
    for index, part in enumerate(parts):  # each split: its entries, in the input's order
        np.testing.assert_array_equal(part.labels["pt"], pt[where == index])


def test_an_atlas_style_file_with_a_mapping(tmp_path: Path) -> None:
    hits = [[(0, 10), (1, 11), (1, 11), (8, 383)],  # a strip hit twice is one lit pixel
            [(4, 200)], [(2, 0), (3, 1)], [(5, 5), (6, 6)]]
    path = _atlas_file(tmp_path / "atlas.root", hits, eta=[-0.5, 0.25, -0.75, 1.0],
                       charge=[1, -1, -1, 1])
    (tmp_path / "map.toml").write_text(MAPPING)
    import_ntuples([path], tmp_path / "out", mapping=tmp_path / "map.toml",
                   fractions={"train": 0.5, "val": 0.5}, seed=2)
    where = io_ntuple.assign_splits(np.arange(4), {"train": 0.5, "val": 0.5}, seed=2)
    for index, split in enumerate(("train", "val")):
        rows = np.flatnonzero(where == index)
        data = MuonFile(split_path(tmp_path / "out", split))
        dense = data.images.to_dense()
        for event, row in enumerate(rows):
            expected = np.zeros((9, 384), np.uint8)
            for layer, strip in hits[row]:
                expected[layer, strip] = 1
            np.testing.assert_array_equal(dense[event], expected)
        np.testing.assert_allclose(data.labels["eta"], np.abs([-0.5, 0.25, -0.75, 1.0])[rows])
        np.testing.assert_array_equal(data.eta_sign, np.sign([-0.5, 0.25, -0.75, 1.0])[rows])
        np.testing.assert_array_equal(data.labels["charge"], np.array([1, -1, -1, 1])[rows])
        assert not data.attrs["has_truth"]
    # the export gives the signed eta back
    written = export_ntuples(tmp_path / "out", tmp_path / "again", format="root")
    eta = uproot.open(written["train"])["events"]["eta"].array(library="np")
    np.testing.assert_allclose(eta, np.array([-0.5, 0.25, -0.75, 1.0])[where == 0])


@pytest.mark.parametrize("hits,labels,message", [
    ([[(0, 384)]], {}, "entry 0: hit strip 384 is not a whole number in 0-383"),
    ([[(0, 1)], [(9, 1)]], {}, "entry 1: hit layer 9 is not a whole number in 0-8"),
    ([[(0, 1)], [(-1, 1)]], {}, "entry 1: hit layer -1"),
    ([[(0, 1)], [(1, 1)]], {"pt": [5.0, np.nan]}, "entry 1: branch 'mu_pt' \\(pt\\) is nan"),
    ([[(0, 1)]], {"pt": [-3.0]}, "not a positive number of GeV"),
    ([[(0, 1)]], {"phi": [np.inf]}, "branch 'mu_phi' \\(phi\\) is inf"),
    ([[(0, 1)]], {"charge": [2]}, "branch 'mu_q' \\(charge\\) is 2, not -1, 0 or \\+1"),
])
def test_a_malformed_file_is_one_line_and_writes_nothing(tmp_path: Path, hits, labels,
                                                         message: str) -> None:
    n = len(hits)
    labels = {"pt": np.full(n, 10.0), **labels}
    path = _atlas_file(tmp_path / "bad.root", hits, **labels)
    (tmp_path / "map.toml").write_text(MAPPING)
    with pytest.raises(HepxaiError, match=message):
        import_ntuples([path], tmp_path / "out", mapping=tmp_path / "map.toml")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_layer_and_strip_branches_of_different_lengths_are_refused(tmp_path: Path) -> None:
    columns = {"rpc_layer": ak.Array([[0, 1], [2]]), "rpc_strip": ak.Array([[5, 6], [7, 8]]),
               "mu_pt": np.array([5, 6], np.float32), "mu_eta": np.zeros(2, np.float32),
               "mu_phi": np.zeros(2, np.float32), "mu_q": np.ones(2, np.int32)}
    with uproot.recreate(tmp_path / "bad.root") as f:
        f.mktree("CollectionTree", {k: v.type.content if isinstance(v, ak.Array) else v.dtype
                                    for k, v in columns.items()})
        f["CollectionTree"].extend(columns)
    (tmp_path / "map.toml").write_text(MAPPING)
    with pytest.raises(HepxaiError, match="entry 1: the hit layer and strip branches hold "
                                          "different numbers"):
        import_ntuples([tmp_path / "bad.root"], tmp_path / "out", mapping=tmp_path / "map.toml")


def test_truth_hits_that_are_not_hits_are_refused(muon_dir: Path, exported: dict[str, Path],
                                                  tmp_path: Path) -> None:
    tree = uproot.open(exported["root"] / "val.root")["events"]
    columns = {name: tree[name].array() for name in ("hit_layer", "hit_strip", "truth_layer",
                                                     "truth_strip", "pt", "eta", "phi")}
    columns["truth_strip"] = (columns["truth_strip"] + 1) % 384  # moved off the hits
    with uproot.recreate(tmp_path / "val.root") as f:
        f.mktree("events", {k: v.type.content for k, v in columns.items()})
        f["events"].extend(columns)
    with pytest.raises(HepxaiError, match="a muon \\(truth\\) hit is not among the hits"):
        import_ntuples([tmp_path / "val.root"], tmp_path / "out")


def test_imported_ntuples_train_a_model_through_the_cli(exported: dict[str, Path],
                                                        tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    data = tmp_path / "data"
    assert main(["import", "muon", str(exported["root"] / "train.root"),
                 str(exported["root"] / "val.root"), "--noise-file",
                 str(exported["root"] / "noise.root"), "--out", str(data)]) == 0
    printed = capsys.readouterr().out
    assert "train:" in printed and "noise:" in printed and "[written]" in printed
    assert main(["train", "muon", "--model", "tracin-cnn", "--data", str(data), "--out",
                 str(tmp_path / "run"), "--epochs", "1", "--max-events", "60",
                 "--val-events", "30"]) == 0
    assert (tmp_path / "run" / "best.pt").is_file()
    shutil.rmtree(tmp_path / "run")
