"""Tests of the published numpy layout: export, import, and the round trip between them."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from hepxai.cli import main
from hepxai.core.errors import HepxaiError
from hepxai.usecases.muon.published import export_published, import_published
from hepxai.usecases.muon.simulator import LABEL_DTYPE
from hepxai.usecases.muon.store import MuonFile, split_path

PREFIXES = {"train": "train", "val": "test"}
PUBLISHED_FILES = sorted(f"{prefix}_{name}.npy" for prefix in PREFIXES.values()
                         for name in ("images_with_noise", "images_without_noise", "labels"))


@pytest.fixture(scope="module")
def published(muon_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``muon_dir`` data exported in the published layout (read-only)."""
    out = tmp_path_factory.mktemp("published") / "npy"
    written = export_published(muon_dir, out)
    assert sorted(written) == PUBLISHED_FILES
    return out


def assert_sparse_equal(a, b) -> None:
    assert a.shape == b.shape
    np.testing.assert_array_equal(np.asarray(a.offsets), np.asarray(b.offsets))
    np.testing.assert_array_equal(np.asarray(a.indices), np.asarray(b.indices))


def test_export_layout(muon_dir: Path, published: Path) -> None:
    assert sorted(p.name for p in published.iterdir()) == PUBLISHED_FILES
    for split, prefix in PREFIXES.items():
        original = MuonFile(split_path(muon_dir, split))
        n = len(original)
        noisy = np.load(published / f"{prefix}_images_with_noise.npy")
        clean = np.load(published / f"{prefix}_images_without_noise.npy")
        table = np.load(published / f"{prefix}_labels.npy")
        assert noisy.shape == clean.shape == (n, 9, 384)
        assert noisy.dtype == clean.dtype == np.uint8
        assert set(np.unique(noisy)) == {0, 1}
        assert table.shape == (n, 5) and table.dtype == np.float32
        np.testing.assert_array_equal(noisy, original.images.to_dense())
        np.testing.assert_array_equal(clean, original.truth.to_dense())
        assert (clean <= noisy).all()
        np.testing.assert_array_equal(noisy.reshape(n, -1).sum(axis=1), original.images.counts)
        np.testing.assert_array_equal(table[:, 0], original.labels["pt"])
        np.testing.assert_array_equal(table[:, 1], original.labels["eta"])
        np.testing.assert_array_equal(table[:, 2], original.labels["phi"])
        assert (table[:, 3] == 0).all()
        np.testing.assert_array_equal(table[:, 4], original.labels["nhits"])
        assert (table[:, 4] == clean.reshape(n, -1).sum(axis=1)).all()


def test_import_round_trip(muon_dir: Path, published: Path, tmp_path: Path) -> None:
    out = tmp_path / "imported"
    written = import_published(published, out)
    assert written == {"train": str(out / "train.h5"), "val": str(out / "val.h5")}
    assert sorted(p.name for p in out.iterdir()) == ["train.h5", "val.h5"]
    for split in PREFIXES:
        original = MuonFile(split_path(muon_dir, split))
        imported = MuonFile(split_path(out, split))
        assert imported.split == split and len(imported) == len(original)
        assert imported.attrs["has_truth"] is True
        assert imported.config is None and imported.attrs["seed"] == -1
        assert str(published.resolve()) in imported.attrs["source"]
        assert_sparse_equal(imported.images, original.images)
        assert imported.truth is not None
        assert_sparse_equal(imported.truth, original.truth)
        assert imported.labels.dtype == LABEL_DTYPE
        for name in ("pt", "eta", "phi", "nhits"):
            np.testing.assert_array_equal(imported.labels[name], original.labels[name])
        assert (imported.labels["charge"] == 0).all()
        assert (original.labels["charge"] != 0).all()
        # noise hits = image hits - muon hits (overlaps merged, so <= the drawn noise strips)
        n_noise = imported.bookkeeping["n_noise"]
        np.testing.assert_array_equal(n_noise, original.images.counts - original.truth.counts)
        assert (n_noise <= original.bookkeeping["n_noise"]).all()


def test_import_without_denoised_images(muon_dir: Path, published: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in PUBLISHED_FILES:
        if "without_noise" not in name:
            shutil.copy(published / name, src / name)
    out = tmp_path / "imported"
    import_published(src, out)
    for split in PREFIXES:
        original = MuonFile(split_path(muon_dir, split))
        imported = MuonFile(split_path(out, split))
        assert imported.truth is None
        assert imported.attrs["has_truth"] is False
        assert_sparse_equal(imported.images, original.images)
        np.testing.assert_array_equal(imported.labels["pt"], original.labels["pt"])
        assert (imported.bookkeeping["n_noise"] == 0).all()
        events = imported.events(np.array([2, 0]))
        assert len(events) == 2 and len(events.truth) == 2 and events.truth.indices.size == 0
    # exporting it again writes no denoised files
    again = tmp_path / "again"
    assert sorted(export_published(out, again)) == sorted(
        f"{p}_{n}.npy" for p in PREFIXES.values() for n in ("images_with_noise", "labels"))
    np.testing.assert_array_equal(np.load(again / "test_images_with_noise.npy"),
                                  np.load(published / "test_images_with_noise.npy"))


def test_import_noise_file(muon_dir: Path, published: Path, tmp_path: Path) -> None:
    noise = MuonFile(split_path(muon_dir, "noise"))
    noise_npy = tmp_path / "only_noise.npy"
    np.save(noise_npy, noise.images.to_dense().astype(bool))  # any binary dtype is fine
    out = tmp_path / "imported"
    written = import_published(published, out, noise_file=noise_npy)
    assert written["noise"] == str(out / "noise.h5")
    imported = MuonFile(out / "noise.h5")
    assert imported.split == "noise" and len(imported) == len(noise)
    assert_sparse_equal(imported.images, noise.images)
    for name in LABEL_DTYPE.names:
        assert (imported.labels[name] == 0).all(), name
    assert imported.truth is not None and imported.truth.indices.size == 0
    assert len(imported.truth) == len(noise)
    assert imported.attrs["has_truth"] is True  # "no muon hits" is known for only-noise events


def test_import_never_replaces_or_mixes_another_data_set_without_overwrite(
        muon_dir: Path, published: Path, tmp_path: Path) -> None:
    """Into a folder of simulated data (with its noise.h5), an import is refused before any
    work; with --overwrite it replaces train/val and removes the noise.h5 that belonged to the
    simulated data. The same import again keeps its files (nothing re-converted)."""
    out = tmp_path / "data"
    shutil.copytree(muon_dir, out)
    before = {p.name: p.read_bytes() for p in out.glob("*.h5")}
    with pytest.raises(HepxaiError, match="--overwrite") as error:
        import_published(published, out)
    assert "\n" not in str(error.value)
    assert {p.name: p.read_bytes() for p in out.glob("*.h5")} == before  # untouched
    written = import_published(published, out, overwrite=True)
    assert sorted(written) == ["train", "val"] and not (out / "noise.h5").exists()
    assert MuonFile(out / "train.h5").attrs["seed"] == -1  # imported, not simulated
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.h5")}
    import_published(published, out)  # same inputs: kept as they are
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.h5")} == stamps
    # an input that changed since is another data set
    other = tmp_path / "other"
    shutil.copytree(published, other)
    import_published(other, tmp_path / "fresh")
    with pytest.raises(HepxaiError, match="not imported from these files"):
        import_published(other, out)


def test_import_float_images(published: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(published, src)
    for prefix in PREFIXES.values():
        path = src / f"{prefix}_images_with_noise.npy"
        np.save(path, np.load(path).astype(np.float64))
    import_published(src, tmp_path / "a")
    import_published(published, tmp_path / "b")
    for split in PREFIXES:
        assert_sparse_equal(MuonFile(split_path(tmp_path / "a", split)).images,
                            MuonFile(split_path(tmp_path / "b", split)).images)


def test_import_rejects_truth_not_in_images(published: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(published, src)
    clean = np.load(src / "test_images_without_noise.npy")
    noisy = np.load(src / "test_images_with_noise.npy")
    clean[4] = 0
    clean[4, 0, np.flatnonzero(noisy[4, 0] == 0)[0]] = 1  # a muon hit the image lacks
    np.save(src / "test_images_without_noise.npy", clean)
    with pytest.raises(HepxaiError, match="not in the noisy") as exc:
        import_published(src, tmp_path / "out")
    assert "\n" not in str(exc.value)
    assert not (tmp_path / "out").exists()


def test_cli_export_then_import(muon_dir: Path, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "muon", "--data", str(muon_dir), "--out", str(tmp_path / "npy")]) == 0
    assert sorted(p.name for p in (tmp_path / "npy").iterdir()) == PUBLISHED_FILES
    assert main(["import", "muon", str(tmp_path / "npy"), "--out", str(tmp_path / "h5")]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert str(tmp_path / "h5" / "val.h5") in captured.out
    assert_sparse_equal(MuonFile(tmp_path / "h5" / "val.h5").truth,
                        MuonFile(split_path(muon_dir, "val")).truth)
