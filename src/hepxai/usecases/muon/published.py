"""The published numpy layout of the thesis' muon data, both ways.

The re-split of the CERN GitLab ``muontriggerdata`` set is a folder of ``.npy`` files::

    train_images_with_noise.npy     (N, 9, 384) binary      what the models see
    train_images_without_noise.npy  (N, 9, 384) binary      the denoised twin (optional)
    train_labels.npy                (N, 5) float            pt, eta, phi, 0, nhits
    test_...                        the same for the 94,445-event test (= validation) split

``import_published`` converts such a folder into hepxai files (the ``test_`` files become the
``val`` split; an only-noise ``.npy`` can be added), so users with the real files run every
command unchanged. ``export_published`` writes hepxai files back in that layout. Both stream
in chunks through memory maps: the paper-scale dense images are 6.5 GB.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hepxai.core.atomic import atomic_path, check_free_space, output_directory
from hepxai.core.errors import HepxaiError
from hepxai.core.lock import exclusive
from hepxai.core.progress import progress
from hepxai.core.sparse import SparseImages
from hepxai.pipeline.cache import fingerprint, reuse_or_refuse
from hepxai.usecases.muon.simulator import BOOKKEEPING_DTYPE, LABEL_DTYPE, MuonEvents
from hepxai.usecases.muon.store import MuonFile, check_labels, split_path, write_events

IMAGE_SHAPE = (9, 384)
PREFIX_OF_SPLIT = {"train": "train", "val": "test"}
CHUNK_EVENTS = 65_536


def _load_npy(path: Path, what: str) -> np.ndarray:
    if not path.exists():
        raise HepxaiError(f"{path}: no such file; the folder needs {what}")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise HepxaiError(f"{path}: not a readable .npy file ({exc})") from None


def _check_images(images: np.ndarray, path: Path) -> None:
    if images.ndim != 3 or tuple(images.shape[1:]) != IMAGE_SHAPE:
        raise HepxaiError(f"{path}: images must have shape (N, 9, 384), got "
                          f"{tuple(images.shape)}")
    if images.shape[0] == 0:
        raise HepxaiError(f"{path}: holds no events")
    if images.dtype.kind not in "biuf":
        raise HepxaiError(f"{path}: images must be numeric, got dtype {images.dtype}")


def _sparse_chunks(images: np.ndarray, path: Path, desc: str):
    """Dense (N, 9, 384) -> lit-pixel lists, chunk by chunk, refusing non-binary pixels."""
    with progress(desc=desc, total=images.shape[0], unit="ev") as bar:
        for start in range(0, images.shape[0], CHUNK_EVENTS):
            chunk = np.asarray(images[start:start + CHUNK_EVENTS])
            bad = (chunk != 0) & (chunk != 1)
            if bad.any():
                event = start + int(np.argwhere(bad)[0][0])
                raise HepxaiError(f"{path}: pixels must be 0 or 1, event {event} has "
                                  f"{np.unique(chunk[bad])[:3].tolist()}; these are not binary "
                                  "hit images")
            bar.update(chunk.shape[0])
            yield SparseImages.from_dense(chunk)


def _labels_from_table(table: np.ndarray, path: Path, n_events: int) -> np.ndarray:
    if table.ndim != 2 or table.shape[1] != 5:
        raise HepxaiError(f"{path}: labels must have shape (N, 5) with columns pt, eta, phi, 0, "
                          f"nhits, got {tuple(table.shape)}")
    if table.shape[0] != n_events:
        raise HepxaiError(f"{path}: {table.shape[0]} labels for {n_events} images; the files "
                          "do not belong together")
    labels = np.zeros(n_events, LABEL_DTYPE)
    labels["pt"], labels["eta"], labels["phi"] = table[:, 0], table[:, 1], table[:, 2]
    labels["nhits"] = np.nan_to_num(table[:, 4]).clip(0, np.iinfo(np.uint16).max)
    check_labels(labels, str(path))
    return labels  # charge stays 0: the published labels do not carry it


def is_published_folder(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a folder in the published numpy layout (what ``import_published``
    converts), rather than ROOT files or a folder of exported ntuples."""
    path = Path(path)
    return path.is_dir() and any(path.glob("*_images_with_noise.npy"))


def import_published(src_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                     noise_file: str | os.PathLike[str] | None = None, *,
                     overwrite: bool = False) -> dict[str, str]:
    """Convert a folder in the published numpy layout into hepxai ``train/val/noise.h5``.

    Everything is validated before anything is written; each output file is atomic. A split
    file already in ``out_dir`` that was imported from the same input files (same paths, sizes
    and modification times) is kept; any other (simulated data, another import, a
    ``noise.h5`` this import does not make) is refused before any work unless ``overwrite``,
    which replaces them and removes a ``noise.h5`` that would not belong to the new data.
    """
    src = Path(src_dir)
    if not src.is_dir():
        raise HepxaiError(f"{src}: no such folder; give the folder holding "
                          "train_images_with_noise.npy and friends")
    out = Path(out_dir)
    inputs = {split: [src / f"{prefix}_{name}.npy" for name in
                      ("images_with_noise", "images_without_noise", "labels")]
              for split, prefix in PREFIX_OF_SPLIT.items()}
    if noise_file is not None:
        inputs["noise"] = [Path(noise_file)]
    # what makes two imports the same: each input's resolved path, size and mtime
    wanted = {split: {"import_identity": fingerprint([], [p.resolve() for p in paths])}
              for split, paths in inputs.items()}
    keep = _kept_or_refused(out, wanted, overwrite)
    converted = _convert(src, noise_file, keep, wanted)  # every input checked: now write
    with exclusive(out, f"import muon {src}"):
        written = {split: str(write_events(split_path(out, split), [events], split=split,
                                           attrs=attrs))
                   for split, events, attrs in converted}
        if overwrite and noise_file is None:  # the old only-noise set is not of this data
            split_path(out, "noise").unlink(missing_ok=True)
    return {split: str(split_path(out, split)) for split in inputs} | written


def _kept_or_refused(out: Path, wanted: dict[str, dict[str, str]], overwrite: bool) -> set[str]:
    """The splits already imported from these inputs (kept); refuses, before any work, an
    existing split file of anything else (and a ``noise.h5`` this import would leave beside
    data it does not belong to) unless ``overwrite``."""
    keep = set()
    for split in (*PREFIX_OF_SPLIT, "noise"):
        path = split_path(out, split)
        if not path.exists():
            continue
        try:
            found = MuonFile(path).attrs
        except HepxaiError:
            found = None
        if split not in wanted:  # a noise.h5 this import does not make
            if not overwrite:
                raise HepxaiError(f"{path} exists and is not part of this import (no "
                                  "--noise-file); pass --overwrite to remove it with the data "
                                  "it belongs to, or choose another --out")
            continue
        if reuse_or_refuse(path, wanted[split], found, overwrite=overwrite,
                           settings="data set: not imported from these files, or imported "
                                    "by an older hepxai"):
            keep.add(split)
    return keep
def _convert(src: Path, noise_file: str | os.PathLike[str] | None, keep: set[str],
             wanted: dict[str, dict[str, str]]) -> list[tuple[str, MuonEvents, dict]]:
    """Validate and convert every split not in ``keep``: ``(split, events, attrs)``."""
    plans = []
    for split, prefix in PREFIX_OF_SPLIT.items():
        if split in keep:
            continue
        noisy_path = src / f"{prefix}_images_with_noise.npy"
        labels_path = src / f"{prefix}_labels.npy"
        noisy = _load_npy(noisy_path, f"{noisy_path.name} (N, 9, 384)")
        _check_images(noisy, noisy_path)
        labels = _labels_from_table(_load_npy(labels_path, f"{labels_path.name} (N, 5)"),
                                    labels_path, noisy.shape[0])
        clean_path = src / f"{prefix}_images_without_noise.npy"
        clean = None
        if clean_path.exists():
            clean = _load_npy(clean_path, clean_path.name)
            _check_images(clean, clean_path)
            if clean.shape != noisy.shape:
                raise HepxaiError(f"{clean_path}: shape {clean.shape} differs from "
                                  f"{noisy_path.name} {noisy.shape}")
        plans.append((split, noisy_path, noisy, clean_path, clean, labels))
    if noise_file is not None and "noise" not in keep:
        noise_path = Path(noise_file)
        noise = _load_npy(noise_path, "only-noise images (N, 9, 384)")
        _check_images(noise, noise_path)
        plans.append(("noise", noise_path, noise, None, None,
                      np.zeros(noise.shape[0], LABEL_DTYPE)))

    # convert everything first (lit-pixel lists are small), write only when all inputs passed
    converted = []
    for split, noisy_path, noisy, clean_path, clean, labels in plans:
        images = SparseImages.concatenate(list(_sparse_chunks(noisy, noisy_path,
                                                              f"import {split}")))
        bookkeeping = np.zeros(len(images), BOOKKEEPING_DTYPE)
        if clean is not None:
            truth = SparseImages.concatenate(list(_sparse_chunks(clean, clean_path,
                                                                 f"import {split} truth")))
            if not truth.is_subset_of(images):
                raise HepxaiError(f"{clean_path}: some denoised hits are not in the noisy "
                                  "images; the files do not belong together")
        else:  # no denoised twin: an empty truth list, flagged by has_truth = False
            truth = SparseImages(np.zeros(len(images) + 1, np.int64), np.zeros(0, np.uint16),
                                 IMAGE_SHAPE)
        if clean is not None or split == "noise":  # the truth is known: the rest is noise
            bookkeeping["n_noise"] = images.counts - truth.counts
        attrs = {"source": f"imported from {noisy_path.resolve()}", "seed": -1,
                 "simulator_config": "", "has_truth": clean is not None or split == "noise",
                 **wanted[split]}
        converted.append((split, MuonEvents(images, truth, labels, bookkeeping), attrs))
    return converted


def export_published(data_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str]
                     ) -> dict[str, str]:
    """Write the ``train`` and ``val`` files of a hepxai data folder in the published layout.

    Images are written as uint8, labels as float32 ``(N, 5)`` = pt, eta, phi, 0, nhits.
    """
    out = Path(out_dir)
    # open every input before writing anything: a bad val.h5 must not leave train_*.npy behind
    inputs = {split: MuonFile(split_path(data_dir, split)) for split in PREFIX_OF_SPLIT}
    output_directory(out)
    # the dense images are written through memory maps, where a full disk is a SIGBUS crash,
    # not an error: their exact size is checked first
    check_free_space(out, sum(len(d) * (d.shape[0] * d.shape[1] * (1 + (d.truth is not None))
                                        + 5 * 4) for d in inputs.values()),
                     "the exported images and labels")
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, prefix in PREFIX_OF_SPLIT.items():
        data = inputs[split]
        n = len(data)
        outputs = [("images_with_noise", data.images)]
        if data.truth is not None:
            outputs.append(("images_without_noise", data.truth))
        for name, images in outputs:
            target = out / f"{prefix}_{name}.npy"
            with atomic_path(target) as tmp:
                array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8,
                                                  shape=(n, *data.shape))
                for start in progress(range(0, n, CHUNK_EVENTS), desc=f"export {target.name}",
                                      unit="chunk"):
                    rows = np.arange(start, min(start + CHUNK_EVENTS, n))
                    array[start:start + rows.size] = images.to_dense(rows)
                array.flush()
                del array
            written[target.name] = str(target)
        table = np.zeros((n, 5), np.float32)
        for column, name in enumerate(("pt", "eta", "phi")):
            table[:, column] = data.labels[name]
        table[:, 4] = data.labels["nhits"]
        target = out / f"{prefix}_labels.npy"
        with atomic_path(target) as tmp, open(tmp, "wb") as fh:
            np.save(fh, table)
        written[target.name] = str(target)
    return written
