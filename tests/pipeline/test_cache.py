"""Tests of reuse-or-refuse (hepxai.pipeline.cache): an output made with the wanted settings is
kept, a missing one made, one with other settings refused in one line unless --overwrite; and the
simulate driver built on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hepxai.core.errors import HepxaiError
from hepxai.pipeline.cache import make_splits, reuse_or_refuse

WANTED = {"seed": 1, "n_events": 100}


def refusal(path: Path, found: dict | None, **kwargs) -> str:
    with pytest.raises(HepxaiError) as info:
        reuse_or_refuse(path, WANTED, found, overwrite=False, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


# ------------------------------------------------------------------------------ reuse_or_refuse


def test_reuse_on_equal_settings(tmp_path: Path) -> None:
    path = tmp_path / "train.h5"
    path.write_text("x")
    for overwrite in (False, True):  # an identical output is never re-made, even on request
        assert reuse_or_refuse(path, WANTED, dict(WANTED), overwrite=overwrite) is True
        # the output may record more than was asked for
        assert reuse_or_refuse(path, WANTED, {**WANTED, "hepxai_version": "9"},
                               overwrite=overwrite) is True
    assert reuse_or_refuse(path, {}, {"anything": 1}, overwrite=False) is True


def test_make_when_absent(tmp_path: Path) -> None:
    for overwrite in (False, True):
        assert reuse_or_refuse(tmp_path / "absent.h5", WANTED, None,
                               overwrite=overwrite) is False


def test_make_on_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "train.h5"
    path.write_text("x")
    assert reuse_or_refuse(path, WANTED, {"seed": 2, "n_events": 100}, overwrite=True) is False
    assert reuse_or_refuse(path, WANTED, None, overwrite=True) is False  # unreadable


def test_refuse_other_settings(tmp_path: Path) -> None:
    path = tmp_path / "train.h5"
    path.write_text("x")
    for found in ({"seed": 2, "n_events": 100}, {"seed": 1}, {"seed": "1", "n_events": 100}, {}):
        assert refusal(path, found) == (f"{path} exists with other settings (seed, size or "
                                        "simulator config); pass --overwrite to replace it or "
                                        "choose another --out")
    assert refusal(path, {}, settings="model or seed").startswith(
        f"{path} exists with other settings (model or seed); pass --overwrite")


def test_refuse_an_unreadable_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "train.h5"
    path.write_text("made by someone else")
    assert refusal(path, None) == (f"{path} exists but cannot be read back (damaged, or not made "
                                   "by hepxai); pass --overwrite to replace it or choose another "
                                   "--out")


# ------------------------------------------------------------------------------ make_splits


class Toy:
    """A JSON 'data set' per split: records what was written, can be told to break a file."""

    def __init__(self, seed: int = 1):
        self.seed, self.written = seed, []

    def wanted(self, split: str, n: int) -> dict:
        return {"split": split, "seed": self.seed, "n": n}

    @staticmethod
    def read_attrs(path: Path) -> dict:
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            raise HepxaiError(f"{path}: not JSON") from None

    def write(self, path: Path, split: str, n: int, attrs: dict, bar) -> dict:
        assert attrs == self.wanted(split, n)
        bar.update(n)
        path.write_text(json.dumps({**attrs, "extra": f"{split}-made"}))
        self.written.append(split)
        return {"made": True}

    def make(self, out: Path, sizes: dict, overwrite: bool = False) -> dict:
        return make_splits(out, sizes, path=lambda out, split: out / f"{split}.json",
                           wanted=self.wanted, read_attrs=self.read_attrs, write=self.write,
                           overwrite=overwrite, noun="items",
                           reused_extra=lambda attrs: {"extra": attrs["extra"]})


def test_make_splits_makes_then_reuses(tmp_path: Path) -> None:
    out, toy = tmp_path / "deep" / "data", Toy()
    summary = toy.make(out, {"train": 5, "val": 0, "test": 2})
    assert toy.written == ["train", "test"] and list(summary) == ["train", "test"]
    for split, n in (("train", 5), ("test", 2)):
        path = out / f"{split}.json"
        assert summary[split] == {"path": str(path), "items": n, "reused": False,
                                  "seconds": summary[split]["seconds"],
                                  "bytes": path.stat().st_size, "made": True}
        assert summary[split]["seconds"] >= 0
    assert not (out / "val.json").exists()  # a size of 0 skips the split

    again = Toy()
    summary = again.make(out, {"train": 5, "val": 0, "test": 2})
    assert again.written == []
    assert summary["test"] == {"path": str(out / "test.json"), "items": 2, "reused": True,
                               "seconds": 0.0, "bytes": (out / "test.json").stat().st_size,
                               "extra": "test-made"}


def test_make_splits_refuses_then_overwrites(tmp_path: Path) -> None:
    out = tmp_path / "data"
    Toy().make(out, {"train": 5, "test": 2})
    before = (out / "train.json").read_text()
    other = Toy()
    with pytest.raises(HepxaiError, match="test.json exists with other settings") as info:
        other.make(out, {"train": 5, "test": 3})
    assert "\n" not in str(info.value) and other.written == []  # train kept, test refused
    assert (out / "train.json").read_text() == before
    summary = other.make(out, {"train": 5, "test": 3}, overwrite=True)
    assert other.written == ["test"] and summary["train"]["reused"]
    assert not summary["test"]["reused"] and summary["test"]["items"] == 3


def test_make_splits_unreadable_file_needs_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "data"
    out.mkdir()
    (out / "train.json").write_text("{broken")
    toy = Toy()
    with pytest.raises(HepxaiError, match="cannot be read back"):
        toy.make(out, {"train": 5})
    assert (out / "train.json").read_text() == "{broken" and toy.written == []
    assert toy.make(out, {"train": 5}, overwrite=True)["train"]["reused"] is False
    assert Toy().make(out, {"train": 5})["train"]["reused"] is True


def test_make_splits_refuses_a_file_as_out(tmp_path: Path) -> None:
    out = tmp_path / "a-file"
    out.write_text("x")
    with pytest.raises(HepxaiError) as info:
        Toy().make(out, {"train": 5})
    assert str(info.value) == f"{out} is a file, not a directory; choose another --out"
