"""Tests of the HDF5 file base (hepxai.io.h5): the one-line errors of every bad input, plain
attributes, memory mapping and the writer preamble, on real h5py files in tmp_path."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

import hepxai
from hepxai.core.errors import HepxaiError
from hepxai.io.h5 import H5File
from hepxai.usecases.darkjet.store import DarkJetFile
from hepxai.usecases.muon.store import MuonFile
from hepxai.usecases.susy.store import SusyFile


class ToyFile(H5File):
    """A reader of a made-up format: one ``values`` dataset, whose length must be n_events."""

    FORMAT, FORMAT_VERSION = "hepxai-toy", 2
    KIND, MAKE = "toy", "hepxai simulate toy"

    def _read(self, f: h5py.File) -> None:
        self.values = self.memmap_or_read(f["values"])
        if len(self.values) != self.attrs["n_events"]:
            raise HepxaiError(f"{self.path}: values and n_events disagree; re-create it")


def write_toy(path: Path, values: np.ndarray | None = None, **attrs) -> Path:
    values = np.arange(6, dtype=np.float32) if values is None else values
    with ToyFile.create(path, n_events=len(values), split="train", attrs=attrs) as f:
        f.create_dataset("values", data=values)
    return path


def error_of(path: Path, reader: type[H5File] = ToyFile) -> str:
    """The message of the HepxaiError that opening ``path`` raises; it must be one line."""
    with pytest.raises(HepxaiError) as info:
        reader(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


# ------------------------------------------------------------------------------ reading


def test_reads_attrs_as_plain_python_and_the_split(tmp_path: Path) -> None:
    path = write_toy(tmp_path / "toy.h5", seed=np.int64(3), shape=np.array([9, 384]),
                     name=b"bytes", ratio=np.float32(0.5))
    data = ToyFile(path)
    assert data.path == path and data.split == "train"
    assert data.attrs == {"format": "hepxai-toy", "format_version": 2, "split": "train",
                          "n_events": 6, "hepxai_version": hepxai.__version__, "seed": 3,
                          "shape": [9, 384], "name": "bytes", "ratio": 0.5}
    for key, kind in (("seed", int), ("format_version", int), ("shape", list), ("name", str),
                      ("ratio", float)):
        assert type(data.attrs[key]) is kind, key
    np.testing.assert_array_equal(data.values, np.arange(6))


def test_older_version_is_read_and_missing_split_is_a_question_mark(tmp_path: Path) -> None:
    path = write_toy(tmp_path / "toy.h5")
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = 1
        del f.attrs["split"]
    data = ToyFile(path)
    assert data.attrs["format_version"] == 1 and data.split == "?"


def test_plain() -> None:
    assert H5File.plain(b"val") == "val"
    assert H5File.plain(np.int64(3)) == 3 and type(H5File.plain(np.int64(3))) is int
    assert H5File.plain(np.array([[1, 2], [3, 4]])) == [[1, 2], [3, 4]]
    assert H5File.plain(np.bool_(True)) is True
    assert H5File.plain("text") == "text" and H5File.plain(None) is None


def test_memmap_for_contiguous_data_else_in_memory(tmp_path: Path) -> None:
    path = tmp_path / "toy.h5"
    values = np.arange(1000, dtype=np.int64)
    with h5py.File(path, "w") as f:
        f.create_dataset("contiguous", data=values)
        f.create_dataset("chunked", data=values, chunks=(100,))
        f.create_dataset("compressed", data=values, compression="gzip")
        f.create_dataset("empty", data=np.zeros(0, np.int64))
    reader = ToyFile.__new__(ToyFile)  # only the helper: no format checks wanted here
    reader.path = path
    with h5py.File(path, "r") as f:
        mapped = reader.memmap_or_read(f["contiguous"])
        read = {name: reader.memmap_or_read(f[name])
                for name in ("chunked", "compressed", "empty")}
    assert isinstance(mapped, np.memmap) and not mapped.flags.writeable
    np.testing.assert_array_equal(mapped, values)
    for name, array in read.items():
        assert not isinstance(array, np.memmap), name
        np.testing.assert_array_equal(array, values if name != "empty" else [])


# ------------------------------------------------------------------------------ one-line errors


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.h5"
    assert error_of(path) == (f"{path}: no such file; create it first with "
                              "'hepxai simulate toy --out DIR'")


def test_directory(tmp_path: Path) -> None:
    assert error_of(tmp_path) == (f"{tmp_path} is a directory, not a toy file; pass the data "
                                  "directory with --data")


@pytest.mark.parametrize("content", [b"", b"not an hdf5 file at all\n" * 50, b"\x89HDF\r\n"],
                         ids=["empty", "text", "bad-signature"])
def test_garbage_bytes(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "garbage.h5"
    path.write_bytes(content)
    message = error_of(path)
    assert message.startswith(f"{path}: not a readable hepxai toy file (")
    assert message.endswith("); re-create it with 'hepxai simulate toy'")


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_truncated_file(tmp_path: Path, fraction: float) -> None:
    data = write_toy(tmp_path / "whole.h5", np.arange(10_000, dtype=np.float64)).read_bytes()
    path = tmp_path / "cut.h5"
    path.write_bytes(data[:int(len(data) * fraction)])
    assert "not a readable hepxai toy file" in error_of(path)


def test_foreign_format(tmp_path: Path) -> None:
    path = tmp_path / "muon.h5"
    with h5py.File(path, "w") as f:
        f.attrs["format"] = np.bytes_(b"hepxai-muon")  # a bytes attribute shows as text
    assert error_of(path) == (f"{path}: not a hepxai toy file (format attribute is "
                              "'hepxai-muon'); create it with 'hepxai simulate toy'")
    bare = tmp_path / "bare.h5"
    with h5py.File(bare, "w") as f:
        f.create_dataset("values", data=np.zeros(3))
    assert error_of(bare) == (f"{bare}: not a hepxai toy file (format attribute is None); "
                              "create it with 'hepxai simulate toy'")


def test_newer_version(tmp_path: Path) -> None:
    path = write_toy(tmp_path / "toy.h5")
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = 3
    assert error_of(path) == (f"{path}: format version 3 is newer than this hepxai reads (2); "
                              "upgrade hepxai")


def test_subclass_errors_are_wrapped_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "toy.h5"
    with ToyFile.create(path, n_events=3):
        pass  # no /values: the subclass's f["values"] raises KeyError
    message = error_of(path)
    assert message.startswith(f"{path}: not a readable hepxai toy file (")
    assert "values" in message and message.endswith("re-create it with 'hepxai simulate toy'")

    class Picky(ToyFile):
        def _read(self, f: h5py.File) -> None:
            raise self.error

    good = write_toy(tmp_path / "good.h5")
    for error, reason in ((ValueError("first line\nsecond line\nthird"), "first line"),
                          (TypeError(), "TypeError"), (KeyError("labels"), "'labels'")):
        Picky.error = error
        assert error_of(good, Picky) == (f"{good}: not a readable hepxai toy file ({reason}); "
                                         "re-create it with 'hepxai simulate toy'")
    Picky.error = HepxaiError(f"{good}: the subclass's own words")
    assert error_of(good, Picky) == f"{good}: the subclass's own words"  # passed on unchanged
    Picky.error = RuntimeError("a bug")
    with pytest.raises(RuntimeError, match="a bug"):  # bugs are not dressed up as bad input
        Picky(good)


def test_subclass_check_sees_attrs(tmp_path: Path) -> None:
    path = write_toy(tmp_path / "toy.h5")
    with h5py.File(path, "r+") as f:
        f.attrs["n_events"] = 7
    assert error_of(path) == f"{path}: values and n_events disagree; re-create it"


def test_hints_can_be_overridden(tmp_path: Path) -> None:
    class Imported(ToyFile):
        MISSING_HINT = "import it with 'hepxai import toy'"
        FOREIGN_HINT = "convert it with 'hepxai import toy'"

    path = tmp_path / "absent.h5"
    assert error_of(path, Imported) == f"{path}: no such file; import it with 'hepxai import toy'"
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "other"
    assert error_of(path, Imported).endswith("; convert it with 'hepxai import toy'")


@pytest.mark.parametrize("reader, kind, make", [
    (MuonFile, "muon", "hepxai simulate muon"), (DarkJetFile, "darkjet", "hepxai simulate darkjet"),
    (SusyFile, "SUSY", "hepxai simulate susy")])
def test_use_case_readers_share_the_errors(tmp_path: Path, reader: type[H5File], kind: str,
                                           make: str) -> None:
    assert issubclass(reader, H5File) and reader.KIND == kind and reader.MAKE == make
    assert "no such file" in error_of(tmp_path / "absent.h5", reader)
    assert error_of(tmp_path, reader).startswith(f"{tmp_path} is a directory, not a {kind} file")
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"\x00garbage" * 64)
    assert f"not a readable hepxai {kind} file" in error_of(garbage, reader)
    toy = write_toy(tmp_path / "toy.h5")
    assert f"not a hepxai {kind} file (format attribute is 'hepxai-toy')" in error_of(toy, reader)
    with h5py.File(toy, "r+") as f:
        f.attrs["format"] = reader.FORMAT
        f.attrs["format_version"] = reader.FORMAT_VERSION + 1
    assert "is newer than this hepxai reads" in error_of(toy, reader)
    with h5py.File(toy, "r+") as f:
        f.attrs["format_version"] = reader.FORMAT_VERSION
    assert f"not a readable hepxai {kind} file" in error_of(toy, reader)  # none of its datasets


# ------------------------------------------------------------------------------ writing


def test_create_writes_the_standard_attributes_first(tmp_path: Path) -> None:
    path = tmp_path / "toy.h5"
    with ToyFile.create(path, n_events=4, split="val", header={"shape": (2, 2)},
                        attrs={"seed": 5, "n_events": 4}) as f:
        f.create_dataset("values", data=np.arange(4, dtype=np.float32))
    by_hand = tmp_path / "by_hand.h5"  # what the use cases wrote before the helper existed
    with h5py.File(by_hand, "w") as f:
        f.attrs.update({"format": "hepxai-toy", "format_version": 2, "split": "val",
                        "n_events": 4, "shape": (2, 2), "hepxai_version": hepxai.__version__})
        f.attrs.update({"seed": 5, "n_events": 4})
        f.create_dataset("values", data=np.arange(4, dtype=np.float32))
    assert path.read_bytes() == by_hand.read_bytes()
    assert ToyFile(path).attrs["shape"] == [2, 2]
    without_split = ToyFile.create(tmp_path / "no_split.h5", n_events=4)
    with without_split as f:
        f.create_dataset("values", data=np.arange(4))
    assert "split" not in ToyFile(tmp_path / "no_split.h5").attrs


def test_create_is_atomic(tmp_path: Path) -> None:
    path = write_toy(tmp_path / "toy.h5", np.arange(3, dtype=np.float32))
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="interrupted"):
        with ToyFile.create(path, n_events=5) as f:
            f.create_dataset("values", data=np.arange(5))
            raise RuntimeError("interrupted")
    assert path.read_bytes() == before  # the finished file survives an interrupted rewrite
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy.h5"]  # and no .partial is left
