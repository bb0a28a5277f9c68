"""SUSY one-lepton events as ROOT ntuples (or their open-data HDF5 twin), both ways.

An ntuple holds one entry per event: the high-level variables of
:data:`~hepxai.usecases.susy.simulator.FEATURE_INFO` as flat branches named like hepxai's
features (``met``, ``mt``, ``mbb``...; in the units listed there: GeV, rad), the class index
``label`` into the class names, and the event ``weight`` (expected events at the analysis'
luminosity); optionally an ``event_id`` (else the entry number) and a ``presel`` flag (else
every event counts as preselected: an analysis ntuple usually is). The class names come from the
file (the ``classes`` string the export writes), else from the caller, else hepxai's five
classes; the luminosity likewise.

An ntuple has one reconstruction: the import stores it as ``full`` (the detector-level sample,
``--sample full`` of the other commands) unless told otherwise, and the export writes one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hepxai.core.atomic import output_directory
from hepxai.core.errors import HepxaiError
from hepxai.core.lock import exclusive
from hepxai.io.ntuple import (
    Branch,
    Layout,
    Ntuple,
    Spool,
    check_export_space,
    check_import_space,
    plan_import,
    previous_import,
    read_mapping,
    spool_import,
    write_open_h5,
    write_root,
)
from hepxai.usecases.susy.names import SAMPLES
from hepxai.usecases.susy.simulator import CLASSES, FEATURE_INFO, FEATURES, SPLITS, SusyEvents
from hepxai.usecases.susy.store import SusyFile, split_path, write_events

DEFAULT_FRACTIONS = {"train": 0.8, "test": 0.2}
LAYOUT = Layout("events", (
    *(Branch(name, name, f"{text} [{unit}]" if unit else text)
      for name, (unit, text) in FEATURE_INFO.items()),
    Branch("label", "label", "class index into the class names (0 = signal)"),
    Branch("weight", "weight", "event weight: expected events at the luminosity"),
    Branch("event_id", "event_id", "unique event number (else the entry number)",
           optional=True),
    Branch("presel", "presel", "1 when the event passes the preselection (else all do)",
           optional=True),
))
def _convert(path: Path, first: int, columns: Mapping[str, Any], names: Mapping[str, str],
             n_classes: int) -> dict[str, np.ndarray]:
    """One chunk as spool columns ``features`` ``(n, F)`` float32, ``label``, ``weight``,
    ``event_id``, ``presel``, every value checked."""
    n = len(columns["label"])

    def refuse(field: str, values: np.ndarray, bad: np.ndarray, rule: str) -> None:
        if bad.any():
            raise HepxaiError(f"{path}: entry {first + int(np.argmax(bad))}: branch "
                              f"'{names[field]}' ({field}) is {values[bad][0]}, not {rule}")

    features = np.empty((n, len(FEATURES)), np.float32)
    for column, name in enumerate(FEATURES):
        values = columns[name]
        refuse(name, values, ~np.isfinite(values), "a finite number")
        features[:, column] = values
    label, weight = columns["label"], columns["weight"]
    refuse("label", label, ~np.isin(label, np.arange(n_classes)),
           f"a class index in 0-{n_classes - 1}")
    refuse("weight", weight, ~(np.isfinite(weight) & (weight >= 0)), "a finite weight >= 0")
    if "event_id" in columns:
        event_id = columns["event_id"]
        refuse("event_id", event_id, event_id != np.floor(event_id), "a whole number")
        event_id = event_id.astype(np.int64)
    else:
        event_id = np.full(n, -1, np.int64)  # filled with entry numbers once all are known
    presel = columns["presel"].astype(bool) if "presel" in columns else np.ones(n, bool)
    return {"features": features, "label": label.astype(np.int8),
            "weight": weight.astype(np.float64), "event_id": event_id, "presel": presel}


def import_ntuples(sources: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str],
                   *, tree: str | None = None, mapping: str | os.PathLike[str] | None = None,
                   fractions: Mapping[str, float] | None = None, seed: int = 1,
                   sample: str = "full", classes: Sequence[str] | None = None,
                   luminosity_fb: float | None = None, overwrite: bool = False
                   ) -> dict[str, dict]:
    """Convert SUSY ntuples into hepxai ``train.h5`` and ``test.h5`` holding one
    reconstruction, ``sample``.

    ``sources``: ROOT or open-data HDF5 files whose entries are split by a seeded hash of the
    entry number (``fractions``, default 80/20), or one directory holding ``train.root`` and
    ``test.root`` (what :func:`export_ntuples` writes). ``classes``: the names the labels
    index (default: the file's, else hepxai's signal, ttbar, single_top, wjets, ttv).
    ``luminosity_fb``: the integrated luminosity the weights are normalised to, for the
    reports. Split files already imported from the same inputs with the same settings are
    kept; any other existing one is refused unless ``overwrite``. Returns per split
    ``{"path", "events", "reused"}``.

    Example::

        import_ntuples(["ntuple.root"], "data/susy-run2", luminosity_fb=139)
    """
    if sample not in SAMPLES:
        raise HepxaiError(f"unknown sample {sample!r}; choose {' or '.join(SAMPLES)}")
    plan = plan_import(sources, SPLITS, fractions or DEFAULT_FRACTIONS)
    layout_map = read_mapping(mapping, LAYOUT)
    names = LAYOUT.branch_names(layout_map["branches"])
    tree = tree or layout_map["tree"]
    sources_of = {group: Ntuple(paths, LAYOUT, names, tree)
                  for group, paths in plan.groups.items()}  # every file checked up front
    first = next(iter(sources_of.values()))
    class_names = tuple(classes or json.loads(first.text("classes") or "null") or CLASSES)
    luminosity = luminosity_fb if luminosity_fb is not None else \
        (float(first.text("luminosity_fb")) if first.text("luminosity_fb") else None)
    out = Path(out_dir)
    wanted = plan.identity("susy", tree, sorted(names.items()), seed, sample, class_names,
                           luminosity)
    found = previous_import(plan.outputs, lambda split: split_path(out, split),
                            lambda path: SusyFile(path).attrs, wanted, overwrite=overwrite)
    if found is not None:
        return {s: {"path": str(split_path(out, s)), "events": found[s]["n_events"],
                    "reused": True} for s in plan.outputs}
    check_import_space(out, sources_of.values())
    with exclusive(out, "import susy"), Spool(out) as spool:
        # without an event_id branch an event's id is its entry number, counted on across the
        # files of a group and across groups (unique in every split)
        next_id = dict(zip(sources_of, np.cumsum([0] + [s.n_entries for s in sources_of.values()]),
                           strict=False))

        def convert(group, path, first_entry, columns, branches):
            converted = _convert(path, first_entry, columns, branches, len(class_names))
            missing = converted["event_id"] < 0
            converted["event_id"][missing] = next_id[group] + np.flatnonzero(missing)
            next_id[group] += len(missing)
            return converted

        spool_import(spool, plan, sources_of.__getitem__, convert, events="label", flat={},
                     seed=seed)
        written = {}
        for split in plan.outputs:
            n = spool.length(split, "label")
            events = SusyEvents(spool.read(split, "event_id"), spool.read(split, "label"),
                                spool.read(split, "weight"),
                                {sample: spool.read(split, "features")},
                                {sample: spool.read(split, "presel")})
            if len(np.unique(events.event_id)) != n:
                raise HepxaiError(f"{', '.join(map(str, plan.inputs))}: event ids repeat in the "
                                  f"{split} split; map a unique event number to event_id, or "
                                  "drop the branch (entry numbers are used)")
            attrs = {"seed": seed, "simulator_config": "", **wanted,
                     "source": plan.source,
                     **({"luminosity_fb": luminosity} if luminosity is not None else {})}
            write_events(split_path(out, split), events, split=split, attrs=attrs,
                         class_names=class_names)
            written[split] = {"path": str(split_path(out, split)), "events": n,
                              "reused": False}
    return written


def export_ntuples(data_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
                   format: str = "root", sample: str = "full") -> dict[str, str]:
    """Write ``train`` and ``test`` of a hepxai SUSY data directory, reconstruction
    ``sample``, as ``SPLIT.root`` (TTree ``events``, the default branches of :data:`LAYOUT`,
    the class names and luminosity as strings beside it) or as open-data HDF5 files of the same
    branches (``format="h5"``); :func:`import_ntuples` of the written directory gives back the
    same arrays.

    Example::

        export_ntuples("data/susy", "open-data/susy", format="root", sample="full")
    """
    inputs = {split: SusyFile(split_path(data_dir, split)) for split in SPLITS}
    for data in inputs.values():
        data._level(sample)  # one line when the file lacks the reconstruction
    check_export_space(out_dir, [data.path for data in inputs.values()])
    out = output_directory(out_dir)
    written = {}
    for split, data in inputs.items():
        columns: dict[str, Any] = {name: data.features[sample][:, k]
                                   for k, name in enumerate(data.feature_names)}
        columns |= {"label": data.label, "weight": data.weight, "event_id": data.event_id,
                    "presel": data.presel[sample].astype(np.uint8)}
        strings = {"classes": json.dumps(list(data.class_names))}
        if data.attrs.get("luminosity_fb") is not None:
            strings["luminosity_fb"] = str(data.attrs["luminosity_fb"])
        target = out / f"{split}.{format}"
        if format == "root":
            write_root(target, {LAYOUT.tree: columns}, strings)
        else:
            write_open_h5(target, {LAYOUT.tree: columns}, attrs={"use_case": "susy", **strings})
        written[split] = str(target)
    return written
