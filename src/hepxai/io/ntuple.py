"""Columnar event files in and out: ROOT ntuples through uproot, and their open-data HDF5 twin.

An analyser's data are ntuples: one tree entry per event (or jet), flat branches for its
quantities and jagged branches (``std::vector<float>``, or a counter branch plus arrays) for its
hits or clusters. A use case declares the branches it reads as a :class:`Layout` of
:class:`Branch` es, each with a default name a user may override with a mapping file
(:func:`read_mapping`). This module does the parts every use case shares:

- :class:`Ntuple` opens ROOT files (TTree or RNTuple, no ROOT installation) or open-data HDF5
  files, checks that the tree and every branch exist before any event is read, and streams the
  entries in chunks (:meth:`Ntuple.chunks`), so a file larger than memory converts; jagged
  branches arrive as :class:`Jagged` (flat values plus counts), plain numpy from there on.
- :func:`assign_splits` sends every entry to train / val / test by a seeded hash of its entry
  number: the same entry lands in the same split whatever the chunk size or the number of files
  before it in the same order.
- :class:`Spool` collects the converted columns of each split in raw files beside the output,
  so only one chunk is ever in memory; the split files are written from it once every entry has
  passed its checks (nothing is written for an input that fails half-way).
- :func:`write_root` and :func:`write_open_h5` write the same columns as a TTree or as HDF5
  datasets named like the branches, for publication; :class:`Ntuple` reads both back.

Example::

    layout = Layout("events", (Branch("pt", "mu_pt", "muon pT [GeV]"),
                               Branch("layer", "hit_layer", "RPC layer", jagged=True)))
    source = Ntuple(["run1.root"], layout, layout.branch_names(read_mapping(None, layout)))
    for entry_start, columns in source.chunks():
        pt, layers = columns["pt"], columns["layer"]        # ndarray, Jagged
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hepxai.core.atomic import atomic_path, check_free_space
from hepxai.core.errors import HepxaiError
from hepxai.core.progress import progress

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover  (Python 3.10: the same parser, from PyPI)
    import tomli as tomllib

#: how much of a file one chunk reads (uproot's step size): bounded memory for any file size
#: (a converted chunk needs ~10x this in temporaries: int64 keys, masks, sorts)
CHUNK = "16 MB"
#: entries per basket of a written TTree (a reader loads a basket whole)
BASKET_ENTRIES = 100_000
#: entries per chunk of an open-data HDF5 file (its columns are read by slicing)
H5_CHUNK_ENTRIES = 262_144
#: the ``format`` attribute of an open-data HDF5 file (its layout is the ROOT file's branches)
OPEN_H5_FORMAT = "hepxai-open-data"
SUFFIXES = (".root", ".h5", ".hdf5")


@dataclass(frozen=True)
class Branch:
    """One quantity a use case reads: ``field`` is hepxai's name for it, ``default`` the
    branch name looked for unless a mapping file renames it, ``help`` what it is (with units).
    ``jagged``: one value per hit / cluster, a variable number per entry. ``optional``: read
    when the file has it, else the use case does without."""

    field: str
    default: str
    help: str
    jagged: bool = False
    optional: bool = False


@dataclass(frozen=True)
class Layout:
    """The default tree name and the branches of one use case's ntuple."""

    tree: str
    branches: tuple[Branch, ...]

    def branch(self, field: str) -> Branch:
        return next(b for b in self.branches if b.field == field)

    def branch_names(self, mapping: Mapping[str, str]) -> dict[str, str]:
        """hepxai field -> branch name: the defaults, overridden by ``mapping`` (an empty name
        drops an optional branch)."""
        names = {b.field: mapping.get(b.field, b.default) for b in self.branches}
        return {field: name for field, name in names.items() if name}


def read_mapping(path: str | os.PathLike[str] | None, layout: Layout) -> dict[str, Any]:
    """The ``--branches`` file: TOML or JSON with an optional ``tree`` and a ``branches`` table
    of hepxai field -> branch name (an empty name drops an optional branch). Returns
    ``{"tree": ..., "branches": {...}}``; ``{}`` entries when ``path`` is None.

    A mapping file::

        tree = "CollectionTree"
        [branches]
        pt = "mu_pt"
        truth_layer = ""      # no truth hits in this file
    """
    if path is None:
        return {"tree": layout.tree, "branches": {}}
    path = Path(path)
    if not path.is_file():
        raise HepxaiError(f"{path}: no such branch-mapping file; write a TOML or JSON file "
                          "with a [branches] table (see the README)")
    text = path.read_bytes()
    try:
        if path.suffix.lower() == ".json":
            content = json.loads(text)
        else:
            content = tomllib.loads(text.decode())
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError, TOMLDecodeError
        reason = str(exc).splitlines()[0]
        raise HepxaiError(f"{path}: not a readable TOML/JSON branch mapping ({reason})") from None
    if not isinstance(content, dict):
        raise HepxaiError(f"{path}: a branch mapping is a table with 'tree' and 'branches'")
    unknown = set(content) - {"tree", "branches"}
    branches = content.get("branches", {})
    if unknown or not isinstance(branches, dict):
        raise HepxaiError(f"{path}: a branch mapping holds 'tree' and a 'branches' table only"
                          f"{f', not {sorted(unknown)}' if unknown else ''}")
    known = {b.field for b in layout.branches}
    wrong = sorted(set(branches) - known)
    if wrong:
        raise HepxaiError(f"{path}: unknown field(s) {', '.join(wrong)} in [branches]; the "
                          f"fields are {', '.join(sorted(known))}")
    for field, name in branches.items():
        if not isinstance(name, str):
            raise HepxaiError(f"{path}: branches.{field} must be a branch name (a string)")
        if not name and not layout.branch(field).optional:
            raise HepxaiError(f"{path}: branches.{field} cannot be empty: the field is required")
    tree = content.get("tree", layout.tree)
    if not isinstance(tree, str) or not tree:
        raise HepxaiError(f"{path}: 'tree' must be a tree name (a string)")
    return {"tree": tree, "branches": dict(branches)}


@dataclass(frozen=True)
class Jagged:
    """A jagged column of one chunk: entry ``i`` owns ``values[offsets[i]:offsets[i + 1]]``."""

    values: np.ndarray
    counts: np.ndarray

    def __len__(self) -> int:
        return len(self.counts)

    @property
    def offsets(self) -> np.ndarray:
        offsets = np.zeros(len(self.counts) + 1, np.int64)
        np.cumsum(self.counts, out=offsets[1:])
        return offsets


def input_files(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The input files, each checked to exist and to be ROOT or HDF5 by its name."""
    files = [Path(p) for p in paths]
    if not files:
        raise HepxaiError("no input file; give one or more .root (or open-data .h5) files")
    for path in files:
        if not path.is_file():
            raise HepxaiError(f"{path}: no such file; give a .root (or open-data .h5) file")
        if path.suffix.lower() not in SUFFIXES:
            raise HepxaiError(f"{path}: not a .root or .h5 file; hepxai imports ROOT ntuples and "
                              "the open-data HDF5 files 'hepxai export --format h5' writes")
    return files


class Ntuple:
    """The entries of one tree across one or more files, streamed in chunks.

    Opening checks, for every file, that it is readable, that it has the tree, and that every
    required branch (``branches``: field -> branch name) exists; optional branches missing from
    the first file are dropped (and must then be missing from all). Every problem is one
    :class:`HepxaiError` line naming the file and listing what it does have.

    Example::

        source = Ntuple(["a.root", "b.root"], layout, {"pt": "mu_pt", "layer": "hit_layer"})
        source.n_entries, source.fields          # 120000, ('pt', 'layer')
    """

    def __init__(self, paths: Sequence[str | os.PathLike[str]], layout: Layout,
                 branches: Mapping[str, str], tree: str | None = None):
        self.files = input_files(paths)
        self.layout = layout
        self.tree = tree or layout.tree
        self.branches: dict[str, str] = {}
        self.n_entries_of: list[int] = []
        self.bytes_of: list[int] = []  # uncompressed bytes of the branches read, per file
        for index, path in enumerate(self.files):
            reader = self._open(path)
            available = reader.available
            if index == 0:
                missing = [f for f, name in branches.items()
                           if name not in available and not layout.branch(f).optional]
                self.branches = {f: name for f, name in branches.items() if name in available}
            else:
                missing = [f for f in self.branches if self.branches[f] not in available]
            if missing:
                names = ", ".join(f"'{branches[f]}' ({f})" for f in missing)
                raise HepxaiError(f"{path}: tree '{self.tree}' has no branch {names}; it has "
                                  f"{_listing(available)}. Name the branches with --branches "
                                  "MAP.toml")
            self.n_entries_of.append(reader.n_entries)
            self.bytes_of.append(reader.data_bytes(list(self.branches.values())))
        if sum(self.n_entries_of) == 0:
            raise HepxaiError(f"{', '.join(map(str, self.files))}: tree '{self.tree}' holds no "
                              "entries; nothing to import")

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self.branches)

    @property
    def n_entries(self) -> int:
        return sum(self.n_entries_of)

    @property
    def data_bytes(self) -> int:
        """The uncompressed bytes of the branches read, over every file (for the space an
        import needs, known before it reads any entry)."""
        return sum(self.bytes_of)

    def text(self, key: str) -> str | None:
        """A string stored beside the tree in the first file (a ROOT TObjString, an HDF5
        attribute), or None: what an export writes for metadata such as class names."""
        return self._open(self.files[0]).text(key)

    def _open(self, path: Path) -> _Reader:
        if path.suffix.lower() == ".root":
            return _RootReader(path, self.tree)
        return _OpenH5Reader(path, self.tree)

    def chunks(self, desc: str = "import") -> Iterator[tuple[Path, int, int, dict[str, Any]]]:
        """``(file, first entry in that file, first entry overall, columns)`` per chunk, under
        a progress bar; columns map each field to an ndarray (flat branches) or a
        :class:`Jagged` (a value per hit or cluster). A branch that is jagged where the layout
        wants it flat, or the other way round, is refused in one line."""
        done = 0
        with progress(desc=desc, total=self.n_entries, unit="entry") as bar:
            for path, n_file in zip(self.files, self.n_entries_of, strict=True):
                reader = self._open(path)
                start = 0
                for raw in reader.iterate(self.branches):
                    columns = {}
                    for field, value in raw.items():
                        columns[field] = self._checked(path, field, value)
                    n = len(next(iter(raw.values())))
                    yield path, start, done, columns
                    start += n
                    done += n
                    bar.update(n)
                if start != n_file:
                    raise HepxaiError(f"{path}: read {start} entries of the {n_file} the tree "
                                      "declares; the file is truncated, copy it again")

    def _checked(self, path: Path, field: str, value: Any) -> np.ndarray | Jagged:
        jagged = self.layout.branch(field).jagged
        name = self.branches[field]
        if isinstance(value, Jagged) != jagged:
            shape = "one value per hit/cluster (a jagged branch)" if jagged else \
                "one value per entry (a flat branch)"
            raise HepxaiError(f"{path}: branch '{name}' ({field}) must hold {shape}")
        values = value.values if jagged else value
        if values.dtype.kind not in "biuf":
            raise HepxaiError(f"{path}: branch '{name}' ({field}) holds {values.dtype} values, "
                              "not numbers")
        return value


class _Reader:
    available: set[str]
    n_entries: int
    path: Path

    def iterate(self, branches: Mapping[str, str]) -> Iterator[dict[str, Any]]:
        raise NotImplementedError

    def data_bytes(self, names: Sequence[str]) -> int:
        """The uncompressed bytes of the branches ``names`` (what an import spools and writes
        again); the file's size where the format does not say."""
        return self.path.stat().st_size

    def text(self, key: str) -> str | None:
        raise NotImplementedError


def _listing(names: set[str] | Sequence[str], limit: int = 12) -> str:
    names = sorted(names)
    shown = ", ".join(names[:limit]) or "nothing"
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


class _RootReader(_Reader):
    """A TTree or RNTuple of one ROOT file, through uproot."""

    def __init__(self, path: Path, tree: str):
        import uproot

        self.path, self.tree_name = path, tree
        try:
            self.file = uproot.open(path)
        except (OSError, ValueError, KeyError, uproot.DeserializationError) as exc:
            raise HepxaiError(f"{path}: not a readable ROOT file ({_first_line(exc)})") from None
        with self._reading():
            self.classes = self.file.classnames()
            trees = [key.split(";")[0] for key, kind in self.classes.items()
                     if kind in ("TTree", "ROOT::RNTuple")]
            if tree not in trees:
                raise HepxaiError(f"{path}: no tree '{tree}'; the file has "
                                  f"{_listing(trees) if trees else 'no tree'}. Pass --tree "
                                  "NAME")
            self.tree = self.file[tree]
            self.available = set(self.tree.keys())
            self.n_entries = int(self.tree.num_entries)

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """uproot's errors on a damaged or truncated file, as one line."""
        import uproot

        try:
            yield
        except HepxaiError:
            raise
        except (OSError, ValueError, TypeError, KeyError, uproot.DeserializationError) as exc:
            raise HepxaiError(f"{self.path}: cannot be read ({_first_line(exc)}); the file is "
                              "damaged or truncated, copy it again") from None

    def data_bytes(self, names: Sequence[str]) -> int:
        try:  # a TTree's branches know their uncompressed size; an RNTuple's fields do not
            return int(sum(self.tree[name].uncompressed_bytes for name in set(names)))
        except (AttributeError, KeyError, TypeError, ValueError):
            return super().data_bytes(names)

    def text(self, key: str) -> str | None:
        if self.classes.get(f"{key};1") != "TObjString":
            return None
        with self._reading():
            return str(self.file[key])

    def iterate(self, branches: Mapping[str, str]) -> Iterator[dict[str, Any]]:
        import awkward as ak

        unique = sorted(set(branches.values()))  # two fields may read the same branch
        with self._reading():
            for arrays in self.tree.iterate(unique, step_size=CHUNK, library="ak"):
                out = {}
                for field, name in branches.items():
                    array = arrays[name]
                    if array.ndim > 2:
                        raise HepxaiError(f"{self.path}: branch '{name}' ({field}) is nested "
                                          f"{array.ndim - 1} levels deep; hepxai reads flat "
                                          "branches and one level of vectors")
                    if array.ndim == 2:
                        out[field] = Jagged(ak.to_numpy(ak.flatten(array, axis=1)),
                                            ak.to_numpy(ak.num(array, axis=1)).astype(np.int64))
                    else:
                        out[field] = ak.to_numpy(array)
                yield out


class _OpenH5Reader(_Reader):
    """An open-data HDF5 file of :func:`write_open_h5`: a group per tree, a dataset per branch;
    a jagged branch is flat with a ``counts`` attribute naming its counter dataset."""

    def __init__(self, path: Path, tree: str):
        import h5py

        self.path, self.tree_name = path, tree
        try:
            with h5py.File(path, "r") as f:
                if f.attrs.get("format") != OPEN_H5_FORMAT:
                    raise HepxaiError(f"{path}: not an open-data HDF5 file (its format "
                                      f"attribute is {f.attrs.get('format')!r}); a hepxai data "
                                      "file is used as it is, with --data")
                if tree not in f:
                    raise HepxaiError(f"{path}: no tree '{tree}'; the file has "
                                      f"{_listing(list(f))}. Pass --tree NAME")
                group = f[tree]
                self.available = set(group)
                self.n_entries = int(group.attrs["n_entries"])
                self.nbytes = {name: int(group[name].nbytes) for name in group
                               if isinstance(group[name], h5py.Dataset)}
                self.attrs = {k: v.decode() if isinstance(v, bytes) else v
                              for k, v in f.attrs.items()}
        except HepxaiError:
            raise
        except (OSError, KeyError, ValueError) as exc:
            raise HepxaiError(f"{path}: not a readable HDF5 file ({_first_line(exc)})") from None

    def data_bytes(self, names: Sequence[str]) -> int:
        return sum(self.nbytes.get(name, 0) for name in set(names))

    def text(self, key: str) -> str | None:
        value = self.attrs.get(key)
        return None if value is None else str(value)

    def iterate(self, branches: Mapping[str, str]) -> Iterator[dict[str, Any]]:
        import h5py

        try:
            with h5py.File(self.path, "r") as f:
                group = f[self.tree_name]
                offsets = {}
                for name in branches.values():
                    counter = group[name].attrs.get("counts")
                    if counter is not None and counter not in offsets:
                        offsets[counter] = np.concatenate(
                            [[0], np.cumsum(group[counter][()], dtype=np.int64)])
                for start in range(0, self.n_entries, H5_CHUNK_ENTRIES):
                    stop = min(start + H5_CHUNK_ENTRIES, self.n_entries)
                    out = {}
                    for field, name in branches.items():
                        counter = group[name].attrs.get("counts")
                        if counter is None:
                            out[field] = group[name][start:stop]
                        else:
                            edges = offsets[counter]
                            out[field] = Jagged(group[name][edges[start]:edges[stop]],
                                                np.diff(edges[start:stop + 1]))
                    yield out
        except (OSError, KeyError, ValueError) as exc:
            raise HepxaiError(f"{self.path}: cannot be read ({_first_line(exc)}); the file is "
                              "damaged or truncated, copy it again") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def assign_splits(entries: np.ndarray, fractions: Mapping[str, float], seed: int) -> np.ndarray:
    """The split index (into ``fractions``' order) of every global entry number: a splitmix64
    hash of ``(entry, seed)`` mapped to [0, 1) and cut at the cumulative fractions. The same
    entry always lands in the same split, however the file is chunked.

    >>> assign_splits(np.arange(6), {"train": 0.5, "val": 0.5}, seed=1).tolist()
    [1, 1, 1, 0, 0, 0]
    """
    with np.errstate(over="ignore"):  # the hash works modulo 2**64 on purpose
        z = np.asarray(entries, np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    uniform = (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    edges = np.cumsum(list(fractions.values()))
    return np.minimum(np.searchsorted(edges / edges[-1], uniform, side="right"),
                      len(fractions) - 1)


def parse_fractions(text: str, splits: Sequence[str]) -> dict[str, float]:
    """``--fractions 0.8,0.1,0.1`` -> ``{"train": 0.8, "val": 0.1, "test": 0.1}``; each must be
    positive and they must add up to 1."""
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        values = []
    if len(values) != len(splits) or any(not 0 < v < 1 for v in values) \
            or abs(sum(values) - 1) > 1e-6:
        raise HepxaiError(f"--fractions {text!r}: give {len(splits)} numbers in (0, 1) adding up "
                          f"to 1, for {', '.join(splits)} (e.g. "
                          f"{','.join(['0.5'] * 2) if len(splits) == 2 else '0.8,0.1,0.1'})")
    return dict(zip(splits, values, strict=True))


@dataclass(frozen=True)
class ImportPlan:
    """Which input files feed which split: ``groups`` maps ``"hashed"`` (entries split by a
    hash of their number, :func:`assign_splits` with ``fractions``) or a split name (every entry
    of the files goes there) to files; ``outputs`` are the splits the import writes."""

    groups: dict[str, list[Path]]
    outputs: list[str]
    fractions: dict[str, float] | None

    @property
    def inputs(self) -> list[Path]:
        """Every input file, resolved, sorted."""
        return sorted({p.resolve() for paths in self.groups.values() for p in paths})

    def identity(self, use_case: str, *settings: Any) -> dict[str, str]:
        """The ``import_identity`` attribute of the split files: a digest of the inputs' paths,
        sizes and modification times, of the split and of ``settings`` (tree, branch names,
        seed...). An import with the same identity is skipped."""
        from hepxai.pipeline.cache import fingerprint

        argv = ["import", use_case, repr(self.fractions), *map(repr, settings)]
        return {"import_identity": fingerprint(argv, self.inputs)}

    @property
    def source(self) -> str:
        """The ``source`` attribute of the split files."""
        return f"imported from {', '.join(map(str, self.inputs))}"


def plan_import(sources: Sequence[str | os.PathLike[str]], splits: Sequence[str],
                fractions: Mapping[str, float] | None, *,
                extra: Mapping[str, Sequence[str | os.PathLike[str]]] | None = None
                ) -> ImportPlan:
    """The :class:`ImportPlan` of ``sources``: one directory holding ``SPLIT.root`` (or
    ``.h5``) for every split (and for every ``extra`` split, optionally), as an export writes
    it, or files whose entries are split by ``fractions`` (keys: ``splits``). ``extra``: files
    of further splits given on their own (the muon only-noise events).

    >>> plan_import(["a.root"], ("train", "val"), {"train": 0.9, "val": 0.1}).outputs
    ['train', 'val']
    """
    paths = [Path(s) for s in sources]
    groups: dict[str, list[Path]] = {}
    if len(paths) == 1 and paths[0].is_dir():
        for split in (*splits, *(extra or {})):
            found = [paths[0] / f"{split}{suffix}" for suffix in (".root", ".h5")
                     if (paths[0] / f"{split}{suffix}").is_file()]
            groups.update({split: found[:1]} if found else {})
        if not all(split in groups for split in splits):
            names = " and ".join(f"{s}.root" for s in splits)
            raise HepxaiError(f"{paths[0]}: a directory to import holds {names} (what 'hepxai "
                              "export' writes); give ROOT files instead to split their entries "
                              "by --fractions")
        fractions = None
    else:
        groups["hashed"] = paths
        fractions = dict(fractions or {})
    for split, files in (extra or {}).items():
        if files:
            groups[split] = [Path(p) for p in files]
    return ImportPlan(groups, [*splits, *(s for s in (extra or {}) if s in groups)], fractions)


def previous_import(outputs: Sequence[str], path_of, read_attrs, wanted: Mapping[str, Any], *,
                    overwrite: bool, stale: Sequence[str] = ()) -> dict[str, dict] | None:
    """The attributes of every output split when all were already imported with ``wanted``
    (the import is then skipped), else None. An existing split file of anything else is
    refused in one line, before any work, unless ``overwrite``; so is a file of a ``stale``
    split (one this import does not make, left beside data it would not belong to).
    ``path_of(split)`` is a split's file, ``read_attrs(path)`` its attributes (raising
    :class:`HepxaiError` for an unreadable file)."""
    from hepxai.pipeline.cache import reuse_or_refuse

    found = {}
    for split in outputs:
        path = path_of(split)
        try:
            found[split] = read_attrs(path) if path.exists() else None
        except HepxaiError:
            found[split] = None
    kept = [reuse_or_refuse(path_of(split), wanted, found[split], overwrite=overwrite,
                            settings="data set: not imported from these files with these "
                                     "settings") for split in outputs]
    for split in stale:
        if path_of(split).exists() and not overwrite:
            raise HepxaiError(f"{path_of(split)} exists and is not part of this import; pass "
                              "--overwrite to remove it with the data it belongs to, or choose "
                              "another --out")
    return found if all(kept) else None


def spool_import(spool: Spool, plan: ImportPlan, open_group, convert, *, events: str,
                 flat: Mapping[str, str], seed: int) -> None:
    """Stream every group of ``plan`` into ``spool``: ``open_group(group)`` gives its
    :class:`Ntuple`, ``convert(group, path, first_entry, columns, branches)`` one chunk's
    spool columns (checked; raising :class:`HepxaiError` for a bad value): per-event columns,
    of which ``events`` names one, and per-hit / per-cluster ones, ``flat`` mapping each to the
    per-event column of its counts. Entries of the ``hashed`` group go to the split
    :func:`assign_splits` gives them; every output split must receive at least one."""
    for group in plan.groups:
        source = open_group(group)
        for path, first, done, columns in source.chunks(desc=f"import {group}"):
            converted = convert(group, path, first, columns, source.branches)
            if group != "hashed":
                spool.append(group, converted)
                continue
            where = assign_splits(done + np.arange(len(converted[events])), plan.fractions,
                                  seed)
            for index, split in enumerate(plan.fractions):
                mask = where == index
                part = {k: v[mask] for k, v in converted.items() if k not in flat}
                for column, counts in flat.items():
                    if column in converted:
                        part[column] = converted[column][np.repeat(mask, converted[counts])]
                spool.append(split, part)
    for split in plan.outputs:
        if not spool.length(split, events):
            raise HepxaiError(f"no entry of the input went to the {split} split; give more "
                              "entries or other --fractions")


def check_import_space(out_dir: str | os.PathLike[str], sources: Iterable[Ntuple]) -> None:
    """Refuse an import in one line, before it creates anything, when the file system of
    ``out_dir`` lacks twice the uncompressed bytes of the branches it reads: the spool
    (:class:`Spool`), then the split files."""
    check_free_space(out_dir, 2 * sum(source.data_bytes for source in sources),
                     "the import's spool and split files (twice the uncompressed branches "
                     "read)")


def import_summary(summary: Mapping[str, Mapping[str, Any]], noun: str) -> str:
    """The lines a ``hepxai import`` prints: per split its size, file and whether it was kept.

    >>> print(import_summary({"train": {"events": 900, "path": "t.h5", "reused": False}},
    ...                      "events"))
     train:       900 events  t.h5  [written]
    """
    return "\n".join(f"{split:>6}: {info[noun]:>9,} {noun}  {info['path']}  "
                     f"[{'kept (already imported)' if info['reused'] else 'written'}]"
                     for split, info in summary.items())


class Spool:
    """The converted columns of each split, appended chunk by chunk to raw files in a temporary
    folder beside the output (same file system, removed on exit): an import holds one chunk in
    memory, whatever the size of its input.

    Example::

        with Spool(out_dir) as spool:
            spool.append("train", {"pt": pt, "hits": hit_index})
            spool.length("train", "pt"), spool.read("train", "hits")     # 1000, ndarray
    """

    def __init__(self, directory: str | os.PathLike[str]):
        self.directory = Path(directory)
        self._sizes: dict[tuple[str, str], int] = {}
        self._dtypes: dict[tuple[str, str], np.dtype] = {}
        self._rows: dict[tuple[str, str], tuple[int, ...]] = {}  # the shape of one element

    def __enter__(self) -> Spool:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._tmp = Path(tempfile.mkdtemp(prefix=".import-", dir=self.directory))
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)

    def _file(self, split: str, name: str) -> Path:
        return self._tmp / f"{split}.{name}.bin"

    def append(self, split: str, columns: Mapping[str, np.ndarray]) -> None:
        for name, values in columns.items():
            key = (split, name)
            values = np.ascontiguousarray(values)
            if (self._dtypes.setdefault(key, values.dtype) != values.dtype
                    or self._rows.setdefault(key, values.shape[1:]) != values.shape[1:]):
                raise TypeError(f"{name}: {values.dtype} {values.shape[1:]} after "
                                f"{self._dtypes[key]} {self._rows[key]}")
            with open(self._file(split, name), "ab") as fh:
                values.tofile(fh)
            self._sizes[key] = self._sizes.get(key, 0) + len(values)

    def length(self, split: str, name: str) -> int:
        return self._sizes.get((split, name), 0)

    def has(self, split: str, name: str) -> bool:
        return (split, name) in self._sizes

    def read(self, split: str, name: str, start: int = 0, stop: int | None = None
             ) -> np.ndarray:
        """Elements ``start:stop`` of a column (read from disk: nothing else is loaded)."""
        dtype, row = self._dtypes[(split, name)], self._rows[(split, name)]
        stop = min(self.length(split, name) if stop is None else stop, self.length(split, name))
        per_row = int(np.prod(row, dtype=np.int64))
        with open(self._file(split, name), "rb") as fh:
            fh.seek(start * per_row * dtype.itemsize)
            flat = np.fromfile(fh, dtype, count=max(stop - start, 0) * per_row)
        return flat.reshape(-1, *row)

    def write_dataset(self, group: Any, name: str, split: str, column: str | None = None,
                      *, chunk: int = 1 << 22) -> None:
        """Copy a spooled column into a new contiguous dataset ``group[name]``, ``chunk``
        elements at a time (an h5py group; contiguous so it can be memory-mapped)."""
        column = column or name
        n = self.length(split, column)
        dataset = group.create_dataset(name, shape=(n, *self._rows[(split, column)]),
                                       dtype=self._dtypes[(split, column)])
        for start in range(0, n, chunk):
            dataset[start:start + chunk] = self.read(split, column, start, start + chunk)


# -- writing --------------------------------------------------------------------------------
def check_export_space(out_dir: str | os.PathLike[str],
                       inputs: Iterable[str | os.PathLike[str]]) -> None:
    """Refuse an export in one line, before it writes a file, when the file system of
    ``out_dir`` lacks 1.25 times the size of the hepxai data files it converts: the ROOT and
    open-data files hold the same arrays and measure within 5 % of their size (2,000 muon
    events, 500 dark-jet jets, both formats); a SUSY export writes one of the two
    reconstructions, 35-40 % of the size."""
    total = sum(Path(path).stat().st_size for path in inputs)
    check_free_space(out_dir, 1.25 * total, "the exported files (at most about the size of "
                     "the data files they convert)")


def write_root(path: str | os.PathLike[str], trees: Mapping[str, Mapping[str, Any]],
               strings: Mapping[str, str] | None = None) -> Path:
    """Write TTrees (name -> branch -> ndarray or :class:`Jagged`) to one ROOT file, atomically.

    Jagged branches that share their counts (the clusters of a jet) are written as one group
    with one counter branch ``n<group>``: a branch ``cluster_eta`` of group ``cluster``.
    ``strings`` are stored as TObjStrings (the class names of a SUSY file).
    """
    import awkward as ak
    import uproot

    path = Path(path)
    with atomic_path(path) as tmp:
        with uproot.recreate(tmp) as f:
            for tree, columns in trees.items():
                data: dict[str, Any] = {}
                groups: dict[str, dict[str, Any]] = {}
                for name, value in columns.items():
                    if isinstance(value, Jagged):
                        group, _, inner = name.partition("_")
                        groups.setdefault(group, {})[inner] = ak.unflatten(value.values,
                                                                           value.counts)
                    else:
                        data[name] = np.asarray(value)
                for group, inner in groups.items():
                    data[group] = ak.zip(inner)
                types = {name: (value.type.content if isinstance(value, ak.Array)
                                else value.dtype) for name, value in data.items()}
                f.mktree(tree, types, field_name=lambda outer, inner: f"{outer}_{inner}",
                         counter_name=lambda group: f"n{group}")
                n = len(next(iter(data.values())))
                for start in range(0, n, BASKET_ENTRIES):  # one basket per slice: readers
                    f[tree].extend({name: value[start:start + BASKET_ENTRIES]  # stream them
                                    for name, value in data.items()})
            for key, text in (strings or {}).items():
                f[key] = text
    return path


def write_open_h5(path: str | os.PathLike[str], trees: Mapping[str, Mapping[str, Any]],
                  attrs: Mapping[str, Any] | None = None) -> Path:
    """The HDF5 twin of :func:`write_root`: a group per tree, a dataset per branch (named like
    the ROOT branch), a jagged branch flat with its counter dataset ``n<group>`` named by its
    ``counts`` attribute; readable with h5py alone, and by :class:`Ntuple`."""
    import h5py

    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = OPEN_H5_FORMAT
        f.attrs.update(attrs or {})
        for tree, columns in trees.items():
            group = f.create_group(tree)
            n_entries = None
            for name, value in columns.items():
                if isinstance(value, Jagged):
                    counter = f"n{name.partition('_')[0]}"
                    if counter not in group:
                        group.create_dataset(counter, data=np.asarray(value.counts, np.int32))
                    group.create_dataset(name, data=value.values).attrs["counts"] = counter
                    n_entries = len(value.counts)
                else:
                    group.create_dataset(name, data=np.asarray(value))
                    n_entries = len(value)
            group.attrs["n_entries"] = n_entries or 0
    return path
