"""hepxai's HDF5 files: one reader skeleton and one writer preamble for every use case.

Every use case stores a split as one HDF5 file stamped with a ``format`` name and an integer
``format_version``. Reading one is always the same skeleton: refuse a missing path or a
directory, open it with h5py, refuse a foreign ``format`` or a newer ``format_version``, turn the
attributes into plain Python values, then let the use case read its own datasets. Every problem
a user can cause (a wrong path, a truncated copy, a file of another use case, a table without a
column) becomes one :class:`~hepxai.core.errors.HepxaiError` line that says what to do, never an
h5py traceback. :class:`H5File` is that skeleton; a use case's reader subclasses it and writes
only :meth:`H5File._read`. :meth:`H5File.create` is the matching writer preamble (a temporary
file renamed into place, the standard attributes first).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import h5py
import numpy as np

from hepxai import __version__
from hepxai.core.atomic import atomic_path
from hepxai.core.errors import HepxaiError

__all__ = ["H5File"]


class H5File:
    """Base class of the readers of hepxai HDF5 files: open, check, read, one-line errors.

    A subclass sets the class attributes and implements :meth:`_read`, which receives the open
    file after the checks, with :attr:`attrs` and :attr:`split` already set. Opening raises
    :class:`HepxaiError` with one line for a missing path, a directory, a file that is not
    HDF5 (or is truncated), a foreign ``format`` attribute and a newer ``format_version``; a
    ``KeyError``, ``ValueError``, ``TypeError`` or ``OSError`` from ``_read`` (a missing
    dataset, an unexpected dtype) becomes "not a readable hepxai KIND file (...); re-create it
    with 'MAKE'". ``_read`` raises :class:`HepxaiError` itself for the checks it knows better.

    Class attributes:

    - ``FORMAT``, ``FORMAT_VERSION``: the ``format`` attribute files must carry and the newest
      ``format_version`` this reader understands (older versions are read).
    - ``KIND``: what the file is called in messages ("muon", "SUSY").
    - ``MAKE``: the command that re-creates such a file ("hepxai simulate muon").
    - ``MISSING_HINT``: what to do when the file does not exist (default: run ``MAKE``).
    - ``FOREIGN_HINT``: what to do with a file of another format (default: run ``MAKE``).

    Example::

        class PionFile(H5File):
            FORMAT, FORMAT_VERSION = "hepxai-pion", 1
            KIND, MAKE = "pion", "hepxai simulate pion"

            def _read(self, f):
                self.energy = self.memmap_or_read(f["energy"])

        PionFile("data/pion/train.h5").energy[:8]
    """

    FORMAT: ClassVar[str]
    FORMAT_VERSION: ClassVar[int]
    KIND: ClassVar[str]
    MAKE: ClassVar[str]
    MISSING_HINT: ClassVar[str | None] = None
    FOREIGN_HINT: ClassVar[str | None] = None

    path: Path
    attrs: dict[str, Any]
    """The file's attributes as plain Python values (str, int, float, list)."""
    split: str
    """The ``split`` attribute ("train", "val"...), "?" when the file has none."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        if not self.path.exists():
            hint = self.MISSING_HINT or f"create it first with '{self.MAKE} --out DIR'"
            raise HepxaiError(f"{self.path}: no such file; {hint}")
        if self.path.is_dir():
            raise HepxaiError(f"{self.path} is a directory, not a {self.KIND} file; pass the "
                              "data directory with --data")
        try:
            with h5py.File(self.path, "r") as f:
                self._check_format(f)
                self.attrs = {key: self.plain(value) for key, value in f.attrs.items()}
                self.split = str(self.attrs.get("split", "?"))
                self._read(f)
        except HepxaiError:
            raise
        except (OSError, KeyError, ValueError, TypeError) as exc:
            reason = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise HepxaiError(f"{self.path}: not a readable hepxai {self.KIND} file ({reason}); "
                              f"re-create it with '{self.MAKE}'") from None

    def _check_format(self, f: h5py.File) -> None:
        found = f.attrs.get("format")
        if found != self.FORMAT:
            hint = self.FOREIGN_HINT or f"create it with '{self.MAKE}'"
            raise HepxaiError(f"{self.path}: not a hepxai {self.KIND} file (format attribute is "
                              f"{self.plain(found)!r}); {hint}")
        version = int(f.attrs.get("format_version", -1))
        if version > self.FORMAT_VERSION:
            raise HepxaiError(f"{self.path}: format version {version} is newer than this hepxai "
                              f"reads ({self.FORMAT_VERSION}); upgrade hepxai")

    def _read(self, f: h5py.File) -> None:
        """Read the use case's datasets from the open, checked file ``f`` (nothing here)."""

    def memmap_or_read(self, dataset: h5py.Dataset) -> np.ndarray:
        """A read-only memory map of a contiguous unfiltered ``dataset``, else its data.

        A memory map makes a shuffled batch a gather from the page cache instead of one HDF5
        read per event; chunked, compressed or empty datasets are read into memory.
        """
        offset = dataset.id.get_offset()
        if offset is None or dataset.chunks is not None or dataset.size == 0:
            return dataset[()]
        return np.memmap(self.path, dtype=dataset.dtype, mode="r", offset=offset,
                         shape=dataset.shape)

    @staticmethod
    def plain(value: Any) -> Any:
        """An HDF5 attribute value as plain Python: bytes -> str, numpy -> int/float/list.

        >>> H5File.plain(np.int64(3)), H5File.plain(np.array([9, 384])), H5File.plain(b"val")
        (3, [9, 384], 'val')
        """
        if isinstance(value, bytes):
            return value.decode()
        if isinstance(value, np.ndarray):
            return value.tolist()
        if isinstance(value, np.generic):
            return value.item()
        return value

    @classmethod
    @contextlib.contextmanager
    def create(cls, path: str | os.PathLike[str], *, n_events: int, split: str | None = None,
               header: Mapping[str, Any] | None = None,
               attrs: Mapping[str, Any] | None = None) -> Iterator[h5py.File]:
        """Write a file of this format atomically: yield it open, with its attributes set.

        The attributes are written in this order: ``format``, ``format_version``, ``split``
        (when given), ``n_events``, ``header``, ``hepxai_version``, then ``attrs`` (which may
        repeat a key). The file is written under a temporary name and renamed on success, so a
        reader never sees half a file and an interrupted write leaves none.

        Example::

            with PionFile.create("data/pion/train.h5", n_events=len(energy), split="train",
                                 attrs={"seed": 1}) as f:
                f.create_dataset("energy", data=energy)
        """
        first: dict[str, Any] = {"format": cls.FORMAT, "format_version": cls.FORMAT_VERSION}
        if split is not None:
            first["split"] = split
        first["n_events"] = n_events
        first.update(header or {})
        first["hepxai_version"] = __version__
        with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
            f.attrs.update(first)
            f.attrs.update(attrs or {})
            yield f
