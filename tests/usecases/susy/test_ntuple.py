"""Tests of SUSY ROOT / open-data ntuples: export then import gives the same arrays of the
exported reconstruction, an imported file (one reconstruction) trains a BDT, and every malformed
file is refused in one line before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import susy_samples
import uproot

from hepxai.cli import main
from hepxai.core.errors import HepxaiError
from hepxai.usecases.susy.ntuple import export_ntuples, import_ntuples
from hepxai.usecases.susy.simulator import CLASSES, FEATURES
from hepxai.usecases.susy.store import SusyFile, split_path


@pytest.mark.parametrize("fmt,sample", [("root", "full"), ("h5", "simplified")])
def test_export_then_import_gives_the_same_arrays(tmp_path: Path, fmt: str, sample: str
                                                  ) -> None:
    data = susy_samples.data_dir()
    export_ntuples(data, tmp_path / fmt, format=fmt, sample=sample)
    import_ntuples([tmp_path / fmt], tmp_path / "back", sample=sample)
    for split in ("train", "test"):
        a, b = SusyFile(split_path(data, split)), SusyFile(split_path(tmp_path / "back", split))
        assert list(b.features) == [sample]  # an ntuple holds one reconstruction
        np.testing.assert_array_equal(a.features[sample], b.features[sample])
        np.testing.assert_array_equal(a.presel[sample], b.presel[sample])
        for name in ("label", "weight", "event_id"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        assert b.class_names == a.class_names == CLASSES
        assert b.attrs["luminosity_fb"] == a.attrs["luminosity_fb"]
        assert b.feature_names == FEATURES


def _ntuple(path: Path, n: int = 40, **overrides) -> Path:
    """Flat branches written with uproot directly (default names), no event_id, no presel."""
    rng = np.random.default_rng(0)
    columns = {name: rng.uniform(1, 100, n).astype(np.float32) for name in FEATURES}
    columns |= {"label": np.arange(n) % 5, "weight": np.full(n, 0.5)} | overrides
    with uproot.recreate(path) as f:
        f.mktree("events", {k: np.asarray(v).dtype for k, v in columns.items()})
        f["events"].extend(columns)
    return path


def test_without_event_id_and_presel_every_entry_counts_once(tmp_path: Path) -> None:
    path = _ntuple(tmp_path / "a.root", 200)
    import_ntuples([path], tmp_path / "out", classes=["signal", "b1", "b2", "b3", "b4"],
                   luminosity_fb=140)
    files = [SusyFile(split_path(tmp_path / "out", s)) for s in ("train", "test")]
    ids = np.concatenate([f.event_id for f in files])
    assert sorted(ids.tolist()) == list(range(200))  # the entry numbers
    assert all(f.presel["full"].all() for f in files)
    assert files[0].class_names == ("signal", "b1", "b2", "b3", "b4")
    assert files[0].attrs["luminosity_fb"] == 140
    with pytest.raises(HepxaiError, match="no 'simplified' reconstruction in the file \\(it "
                                          "holds full\\); choose --sample full"):
        files[0].table("simplified")


@pytest.mark.parametrize("overrides,message", [
    ({"met": np.r_[np.ones(5), np.nan, np.ones(34)].astype(np.float32)},
     "entry 5: branch 'met' \\(met\\) is nan, not a finite number"),
    ({"label": np.r_[np.zeros(3), 5, np.zeros(36)].astype(np.int32)},
     "entry 3: branch 'label' .* is 5, not a class index in 0-4"),
    ({"weight": np.r_[np.ones(7), -1.0, np.ones(32)]}, "entry 7: branch 'weight' .* >= 0"),
    ({"event_id": np.zeros(40, np.int64)}, "event ids repeat"),
    ({"event_id": np.full(40, 0.5)}, "entry 0: branch 'event_id' .* not a whole number"),
])
def test_a_malformed_file_is_one_line_and_writes_nothing(tmp_path: Path, overrides,
                                                         message: str) -> None:
    path = _ntuple(tmp_path / "bad.root", **overrides)
    with pytest.raises(HepxaiError, match=message):
        import_ntuples([path], tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_missing_feature_is_named_with_the_way_out(tmp_path: Path) -> None:
    path = tmp_path / "a.root"
    columns = {name: np.ones(10, np.float32) for name in FEATURES if name != "mbb"}
    columns |= {"label": np.zeros(10, np.int32), "weight": np.ones(10)}
    with uproot.recreate(path) as f:
        f["events"] = columns
    with pytest.raises(HepxaiError, match="no branch 'mbb' \\(mbb\\).*--branches MAP.toml"):
        import_ntuples([path], tmp_path / "out")
    (tmp_path / "map.json").write_text(json.dumps({"branches": {"mbb": "ht"}}))
    import_ntuples([path], tmp_path / "out", mapping=tmp_path / "map.json",
                   fractions={"train": 0.5, "test": 0.5})
    data = SusyFile(split_path(tmp_path / "out", "train"))
    column = FEATURES.index
    np.testing.assert_array_equal(data.features["full"][:, column("mbb")],
                                  data.features["full"][:, column("ht")])


def test_an_imported_ntuple_trains_a_bdt_through_the_cli(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    export_ntuples(susy_samples.data_dir(), tmp_path / "root")
    assert main(["import", "susy", str(tmp_path / "root"), "--out", str(tmp_path / "data")]) == 0
    assert main(["train", "susy", "--model", "bdt", "--preset", "quick", "--data",
                 str(tmp_path / "data"), "--out", str(tmp_path / "run"), "--rounds", "3",
                 "--jobs", "1", "--max-events", "500"]) == 0
    assert (tmp_path / "run" / "model.json").is_file()
    capsys.readouterr()
    assert main(["train", "susy", "--model", "bdt", "--sample", "simplified", "--data",
                 str(tmp_path / "data"), "--out", str(tmp_path / "run2")]) == 2
    assert "choose --sample full" in capsys.readouterr().err
