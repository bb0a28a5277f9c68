"""Tests of the shared ntuple machinery: branch mappings, reading ROOT (TTree and RNTuple) and
open-data HDF5 through uproot / h5py, the hash split, the spool and the one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from hepxai.core.errors import HepxaiError
from hepxai.io import ntuple
from hepxai.io.ntuple import (
    Branch,
    Jagged,
    Layout,
    Ntuple,
    Spool,
    assign_splits,
    parse_fractions,
    plan_import,
    read_mapping,
    write_open_h5,
    write_root,
)

LAYOUT = Layout("events", (Branch("pt", "pt", "pT [GeV]"),
                           Branch("hit_layer", "hit_layer", "layer", jagged=True),
                           Branch("hit_strip", "hit_strip", "strip", jagged=True),
                           Branch("charge", "charge", "charge", optional=True)))


def _columns(n: int = 500, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    counts = rng.poisson(20, n)
    return {"pt": rng.uniform(3, 30, n).astype(np.float32),
            "hit_layer": Jagged(rng.integers(0, 9, counts.sum()).astype(np.uint8), counts),
            "hit_strip": Jagged(rng.integers(0, 384, counts.sum()).astype(np.uint16), counts)}


def _read_all(source: Ntuple) -> dict:
    parts: dict[str, list] = {}
    for _path, _first, _done, columns in source.chunks():
        for field, value in columns.items():
            parts.setdefault(field, []).append(value)
    out = {}
    for field, values in parts.items():
        if isinstance(values[0], Jagged):
            out[field] = Jagged(np.concatenate([v.values for v in values]),
                                np.concatenate([v.counts for v in values]))
        else:
            out[field] = np.concatenate(values)
    return out


def _assert_same(read: dict, written: dict) -> None:
    for field, value in written.items():
        if isinstance(value, Jagged):
            np.testing.assert_array_equal(read[field].values, value.values)
            np.testing.assert_array_equal(read[field].counts, value.counts)
        else:
            np.testing.assert_array_equal(read[field], value)


@pytest.mark.parametrize("writer", ["ttree", "open-h5", "rntuple"])
def test_every_file_kind_reads_back_the_written_arrays_in_several_chunks(
        tmp_path: Path, writer: str, monkeypatch: pytest.MonkeyPatch) -> None:
    columns = _columns()
    monkeypatch.setattr(ntuple, "BASKET_ENTRIES", 100)
    if writer == "ttree":
        path = write_root(tmp_path / "a.root", {"events": columns})
        assert uproot.open(path).classnames()["events;1"] == "TTree"  # what ATLAS tools read
    elif writer == "open-h5":
        path = write_open_h5(tmp_path / "a.h5", {"events": columns})
    else:  # uproot's own RNTuple writer: a jagged branch is a list column
        path = tmp_path / "a.root"
        with uproot.recreate(path) as f:
            f["events"] = {name: ak.unflatten(v.values, v.counts) if isinstance(v, Jagged)
                           else v for name, v in columns.items()}
        assert uproot.open(path).classnames()["events;1"] == "ROOT::RNTuple"
    monkeypatch.setattr(ntuple, "CHUNK", "5 kB")  # many chunks: the stream must not lose any
    monkeypatch.setattr(ntuple, "H5_CHUNK_ENTRIES", 64)
    source = Ntuple([path], LAYOUT, LAYOUT.branch_names({}))
    assert source.fields == ("pt", "hit_layer", "hit_strip")  # the optional charge is absent
    assert len(list(source.chunks())) >= 3
    _assert_same(_read_all(source), columns)


def test_entries_run_on_across_files(tmp_path: Path) -> None:
    a, b = _columns(100, 1), _columns(50, 2)
    paths = [write_root(tmp_path / "a.root", {"events": a}),
             write_root(tmp_path / "b.root", {"events": b})]
    seen = [(path.name, first, done) for path, first, done, _ in
            Ntuple(paths, LAYOUT, LAYOUT.branch_names({})).chunks()]
    assert seen == [("a.root", 0, 0), ("b.root", 0, 100)]


def test_the_hash_split_does_not_depend_on_chunking_and_has_the_asked_shares() -> None:
    fractions = {"train": 0.8, "val": 0.1, "test": 0.1}
    whole = assign_splits(np.arange(200_000), fractions, seed=3)
    pieces = np.concatenate([assign_splits(np.arange(s, min(s + 7_777, 200_000)), fractions, 3)
                             for s in range(0, 200_000, 7_777)])
    np.testing.assert_array_equal(whole, pieces)
    shares = np.bincount(whole, minlength=3) / whole.size
    # binomial: sigma = sqrt(0.1 * 0.9 / 2e5) = 6.7e-4; 5 sigma
    np.testing.assert_allclose(shares, [0.8, 0.1, 0.1], atol=3.4e-3)
    other_seed = assign_splits(np.arange(200_000), fractions, seed=4)
    assert 0.2 < np.mean(whole != other_seed) < 0.5  # another seed, another split


@pytest.mark.parametrize("text", ["0.8,0.1", "0.5,0.5,0.5", "a,b,c", "1,0,0"])
def test_bad_fractions_are_refused(text: str) -> None:
    with pytest.raises(HepxaiError, match="--fractions"):
        parse_fractions(text, ("train", "val", "test"))


def test_a_mapping_file_renames_and_drops_branches(tmp_path: Path) -> None:
    toml = tmp_path / "map.toml"
    toml.write_text('tree = "CollectionTree"\n[branches]\npt = "mu_pt"\ncharge = ""\n')
    mapping = read_mapping(toml, LAYOUT)
    assert mapping["tree"] == "CollectionTree"
    assert LAYOUT.branch_names(mapping["branches"]) == {
        "pt": "mu_pt", "hit_layer": "hit_layer", "hit_strip": "hit_strip"}
    as_json = tmp_path / "map.json"
    as_json.write_text(json.dumps({"branches": {"pt": "mu_pt"}}))
    assert read_mapping(as_json, LAYOUT) == {"tree": "events", "branches": {"pt": "mu_pt"}}


@pytest.mark.parametrize("content,message", [
    ('[branches]\nptt = "x"\n', "unknown field"),
    ('[branches]\npt = ""\n', "cannot be empty"),
    ('[branches]\npt = 3\n', "must be a branch name"),
    ('tree = "t"\n[other]\n', "'tree' and a 'branches' table only"),
    ("this is not toml = = =", "not a readable TOML/JSON"),
])
def test_a_bad_mapping_file_is_one_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "map.toml"
    path.write_text(content)
    with pytest.raises(HepxaiError, match=message):
        read_mapping(path, LAYOUT)


def test_missing_tree_and_branch_name_what_the_file_has(tmp_path: Path) -> None:
    path = write_root(tmp_path / "a.root", {"events": _columns(10)})
    with pytest.raises(HepxaiError, match="no tree 'muons'; the file has events"):
        Ntuple([path], LAYOUT, LAYOUT.branch_names({}), tree="muons")
    with pytest.raises(HepxaiError, match="no branch 'mu_pt' \\(pt\\); it has hit_layer"):
        Ntuple([path], LAYOUT, LAYOUT.branch_names({"pt": "mu_pt"}))


def test_a_flat_branch_where_a_jagged_one_belongs_is_refused(tmp_path: Path) -> None:
    columns = _columns(10)
    columns["hit_strip"] = np.arange(10, dtype=np.uint16)
    path = write_root(tmp_path / "a.root", {"events": columns})
    with pytest.raises(HepxaiError, match="'hit_strip' \\(hit_strip\\) must hold one value per "
                                          "hit/cluster"):
        _read_all(Ntuple([path], LAYOUT, LAYOUT.branch_names({})))


@pytest.mark.parametrize("content", [b"", b"not a ROOT file\n", b"root" * 1000])
def test_files_that_are_not_root_are_one_line(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.root"
    path.write_bytes(content)
    with pytest.raises(HepxaiError, match="bad.root: "):
        Ntuple([path], LAYOUT, LAYOUT.branch_names({}))


def test_a_truncated_root_file_is_one_line(tmp_path: Path) -> None:
    path = write_root(tmp_path / "a.root", {"events": _columns(5000)})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 3 // 4])
    with pytest.raises(HepxaiError, match="a.root: "):
        _read_all(Ntuple([path], LAYOUT, LAYOUT.branch_names({})))


def test_a_directory_of_split_files_feeds_each_split(tmp_path: Path) -> None:
    for split in ("train", "val"):
        write_root(tmp_path / f"{split}.root", {"events": _columns(5)})
    plan = plan_import([tmp_path], ("train", "val"), {"train": 0.9, "val": 0.1})
    assert plan.groups == {"train": [tmp_path / "train.root"], "val": [tmp_path / "val.root"]}
    assert plan.fractions is None
    (tmp_path / "val.root").unlink()
    with pytest.raises(HepxaiError, match="holds train.root and val.root"):
        plan_import([tmp_path], ("train", "val"), None)


def test_the_spool_reads_back_what_was_appended_in_pieces(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    table = rng.normal(size=(1000, 3)).astype(np.float32)
    with Spool(tmp_path) as spool:
        for start in range(0, 1000, 300):
            spool.append("train", {"x": table[start:start + 300],
                                   "id": np.arange(start, min(start + 300, 1000))})
        assert spool.length("train", "x") == 1000
        np.testing.assert_array_equal(spool.read("train", "x"), table)
        np.testing.assert_array_equal(spool.read("train", "x", 250, 260), table[250:260])
        np.testing.assert_array_equal(spool.read("train", "id", 990), np.arange(990, 1000))
        folder = next(tmp_path.glob(".import-*"))
    assert not folder.exists()  # the raw files go with the spool


def test_the_readme_mapping_example_is_a_valid_muon_mapping(tmp_path: Path) -> None:
    from hepxai.usecases.muon.ntuple import LAYOUT as MUON

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    example = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "map.toml"
    path.write_text("\n".join(line.strip() for line in example.splitlines()))
    names = MUON.branch_names(read_mapping(path, MUON)["branches"])
    assert names["hit_layer"] == "rpc_layer" and "truth_layer" not in names
