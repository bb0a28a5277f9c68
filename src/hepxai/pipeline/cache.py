"""Reuse a finished output, or refuse to replace one made with other settings.

Every command that writes something expensive (a simulated split, a trained model) keeps the
settings it was made with next to it (HDF5 attributes, ``model.json``). Running the command
again with the same settings keeps the output, so an interrupted run resumes where it stopped
and never loses a finished piece; with other settings it refuses, in one line, unless the user
passes ``--overwrite``, so nothing a user made is silently replaced. :func:`reuse_or_refuse` is
that decision; :func:`make_splits` is the simulate driver built on it (one file per split).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hepxai.core.atomic import check_free_space, output_directory
from hepxai.core.errors import HepxaiError
from hepxai.core.lock import exclusive
from hepxai.core.progress import progress

__all__ = ["make_splits", "reuse_or_refuse"]


def reuse_or_refuse(path: str | os.PathLike[str], wanted: Mapping[str, Any],
                    found: Mapping[str, Any] | None, *, overwrite: bool,
                    settings: str = "seed, size or simulator config") -> bool:
    """Decide what to do with the output at ``path``: True = reuse it, False = (re)make it.

    ``wanted`` holds the settings the output must have been made with, ``found`` the settings
    read back from the existing output (it may hold more keys), or None when there is nothing
    readable at ``path``. Returns True when every wanted key has the wanted value (even with
    ``overwrite``: an identical output is never re-made), False when ``path`` does not exist or
    ``overwrite`` is set. Otherwise raises a one-line :class:`HepxaiError` naming ``settings``
    (what may differ, for the message), or saying that the existing file could not be read:
    an existing file is replaced only on request.

    Example::

        wanted = {"seed": 1, "n_events": 1000}
        found = SusyFile(path).attrs if path.exists() else None
        if not reuse_or_refuse(path, wanted, found, overwrite=args.overwrite):
            write_events(path, simulate(...), attrs=wanted)
    """
    if found is not None and all(found.get(key) == value for key, value in wanted.items()):
        return True
    if overwrite or not Path(path).exists():
        return False
    if found is None:
        raise HepxaiError(f"{path} exists but cannot be read back (damaged, or not made by "
                          "hepxai); pass --overwrite to replace it or choose another --out")
    raise HepxaiError(f"{path} exists with other settings ({settings}); pass --overwrite to "
                      "replace it or choose another --out")


def make_splits(out_dir: str | os.PathLike[str], sizes: Mapping[str, int], *,
                path: Callable[[Path, str], Path], wanted: Callable[[str, int], dict],
                read_attrs: Callable[[Path], Mapping[str, Any]],
                write: Callable[[Path, str, int, dict, Any], Mapping[str, Any] | None],
                overwrite: bool, unit: str = "ev", noun: str = "events",
                settings: str = "seed, size or simulator config",
                reused_extra: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
                bytes_per_event: Callable[[str], float] | None = None,
                ) -> dict[str, dict]:
    """Make one file per split in ``out_dir``, keeping those already made with these settings.

    For every split of ``sizes`` with a size above 0, in order: the file ``path(out, split)``
    is kept when :func:`reuse_or_refuse` says so (its settings read by ``read_attrs(file)``,
    which raises :class:`HepxaiError` for an unreadable file), else made by
    ``write(file, split, n, attrs, bar)`` under a progress bar of ``n`` ``unit``. ``write`` must
    write the file atomically (an interrupted run then leaves only finished splits) and stamp it
    with ``attrs`` (= ``wanted(split, n)``); it returns extra summary entries, or None. A file
    with other settings is refused before anything of its split is made, an ``out_dir`` that is
    a file before anything at all.

    Returns per split ``{"path", noun, "reused", "seconds", "bytes", ...extra}``, the extra
    entries from ``write`` or, for a kept file, from ``reused_extra(attrs)``.

    ``bytes_per_event(split)``: an upper estimate of a split's file size per event; the splits
    to be made are then refused in one line, before any is simulated, when the file system
    lacks the space (:func:`hepxai.core.atomic.check_free_space`).

    Example::

        summary = make_splits("data/pion", {"train": 900, "val": 100},
                              path=lambda out, split: out / f"{split}.h5",
                              wanted=lambda split, n: {"seed": 1, "n_events": n},
                              read_attrs=lambda p: PionFile(p).attrs,
                              write=lambda p, split, n, attrs, bar: write_pions(...),
                              overwrite=False)
        summary["train"]["reused"]   # True on the second run
    """
    out = Path(out_dir)
    output_directory(out)
    summary: dict[str, dict] = {}
    # one writer per directory: two runs with other settings must not each fill a missing split
    with exclusive(out, f"making the {', '.join(s for s, n in sizes.items() if n)} {noun}"):
        plan = []  # every split decided (and any refusal made) before anything is simulated
        for split, n in sizes.items():
            if n == 0:
                continue
            target = path(out, split)
            attrs = wanted(split, n)
            found = _read_or_none(read_attrs, target)
            reuse = reuse_or_refuse(target, attrs, found, overwrite=overwrite, settings=settings)
            plan.append((split, n, target, attrs, found, reuse))
        if bytes_per_event is not None:
            check_free_space(out, sum(n * bytes_per_event(split)
                                      for split, n, *_, reuse in plan if not reuse),
                             f"the {noun} to simulate")
        for split, n, target, attrs, found, reuse in plan:
            if reuse:
                extra = {} if reused_extra is None or found is None else reused_extra(found)
                summary[split] = {"path": str(target), noun: n, "reused": True, "seconds": 0.0,
                                  "bytes": target.stat().st_size, **(extra or {})}
                continue
            start = time.perf_counter()
            with progress(desc=f"simulate {split}", total=n, unit=unit) as bar:
                extra = write(target, split, n, attrs, bar)
            summary[split] = {"path": str(target), noun: n, "reused": False,
                              "seconds": round(time.perf_counter() - start, 3),
                              "bytes": target.stat().st_size, **(extra or {})}
    return summary


def _read_or_none(read: Callable[[Path], Mapping[str, Any]],
                  path: Path) -> Mapping[str, Any] | None:
    """``read(path)``, or None when there is no file or it is not readable."""
    if not path.exists():
        return None
    try:
        return read(path)
    except HepxaiError:
        return None


def fingerprint(argv: Sequence[str], inputs: Sequence[str | os.PathLike[str]]) -> str:
    """A digest of a command line and of the size and modification time of every input file
    (directories: every file below them): what decides that a finished step is still up to
    date. Missing inputs are left out (a step that creates them is fingerprinted after it ran).

    >>> fingerprint(["simulate", "muon"], []) == fingerprint(["simulate", "muon"], [])
    True
    """
    parts = [" ".join(map(str, argv))]
    for path in map(Path, inputs):
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            if f.exists():
                stat = f.stat()
                parts.append(f"{f}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()
