"""Dark-photon and QCD jets as ROOT ntuples (or their open-data HDF5 twin), both ways.

An ntuple holds one entry per jet: its calorimeter clusters as jagged branches (eta, phi,
sampling layer 0-6, energy [GeV], optionally a per-cluster noise / pile-up truth flag), the
label (1 = dark photon, 0 = QCD) and the jet kinematics (pT [GeV], eta, phi). The jet's
EM fraction and energy-weighted width are read when the file has them (what the export writes),
else computed from its clusters; the dark photon's decay radius [m] is optional. The default
branch names (:data:`LAYOUT`) are what :func:`export_ntuples` writes; a mapping file renames
them.

:func:`import_ntuples` streams the entries, checks every value (a jet needs at least one
cluster, energies above 0, layers 0-6, finite coordinates, labels 0 or 1, cluster branches of
equal lengths) and writes ``train.h5`` / ``val.h5`` / ``test.h5`` only when every entry passed.
Splits come from a directory of ``train.root`` / ``val.root`` / ``test.root`` (what the export
writes) or from a seeded hash of the entry number (80/10/10 by default).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hepxai.core.atomic import output_directory
from hepxai.core.errors import HepxaiError
from hepxai.core.lock import exclusive
from hepxai.core.ragged import offsets_of, owners
from hepxai.io.ntuple import (
    Branch,
    Jagged,
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
from hepxai.usecases.darkjet.simulator import CLUSTER_DTYPE, EM_LAYERS, JET_DTYPE, Jets
from hepxai.usecases.darkjet.store import (
    SPLIT_FRACTIONS,
    SPLITS,
    DarkJetFile,
    split_path,
    write_jets,
)

N_LAYERS = 7
LAYOUT = Layout("jets", (
    Branch("cluster_eta", "cluster_eta", "cluster pseudorapidity", jagged=True),
    Branch("cluster_phi", "cluster_phi", "cluster azimuth [rad]", jagged=True),
    Branch("cluster_layer", "cluster_layer", "calorimeter sampling layer, 0-6 (0-3 EM)",
           jagged=True),
    Branch("cluster_energy", "cluster_energy", "cluster energy [GeV]", jagged=True),
    Branch("cluster_is_noise", "cluster_is_noise", "1 for a noise / pile-up cluster (truth)",
           jagged=True, optional=True),
    Branch("label", "label", "1 = dark-photon jet, 0 = QCD jet"),
    Branch("pt", "jet_pt", "jet transverse momentum [GeV]"),
    Branch("eta", "jet_eta", "jet pseudorapidity"),
    Branch("phi", "jet_phi", "jet azimuth [rad]"),
    Branch("em_fraction", "jet_em_fraction", "EM energy fraction (else from the clusters)",
           optional=True),
    Branch("width", "jet_width", "energy-weighted Delta R of the clusters (else computed)",
           optional=True),
    Branch("decay_radius", "decay_radius", "dark-photon decay radius [m], NaN for QCD",
           optional=True),
))
CLUSTERS = ("eta", "phi", "layer", "energy", "is_noise")
#: the per-cluster spool column and the per-jet column of its counts
FLAT = {"clusters": "n_clusters"}


def _convert(path: Path, first: int, columns: Mapping[str, Any], names: Mapping[str, str]
             ) -> dict[str, np.ndarray]:
    """One chunk as spool columns: ``clusters`` (flat :data:`CLUSTER_DTYPE`), ``jets``
    (:data:`JET_DTYPE`) and their ``n_clusters``, every value checked."""
    jagged = {name: columns[f"cluster_{name}"] for name in CLUSTERS
              if f"cluster_{name}" in columns}
    counts = jagged["eta"].counts
    for name, values in jagged.items():
        if not np.array_equal(values.counts, counts):
            entry = first + int(np.argmax(values.counts != counts))
            raise HepxaiError(f"{path}: entry {entry}: branch '{names[f'cluster_{name}']}' "
                              f"and '{names['cluster_eta']}' hold different numbers of "
                              "clusters; the cluster branches must pair up")
    n = len(counts)
    if (counts == 0).any():
        raise HepxaiError(f"{path}: entry {first + int(np.argmax(counts == 0))}: a jet without "
                          "clusters; remove such jets (every graph needs a node)")
    offsets = offsets_of(counts)
    owner = owners(offsets)

    def check(field: str, values: np.ndarray, bad: np.ndarray, rule: str, flat: bool) -> None:
        if bad.any():
            at = int(np.argmax(bad))
            entry = first + (int(owner[at]) if flat else at)
            raise HepxaiError(f"{path}: entry {entry}: branch '{names[field]}' ({field}) is "
                              f"{values[bad][0]}, not {rule}")

    for name in ("eta", "phi"):
        values = jagged[name].values
        check(f"cluster_{name}", values, ~np.isfinite(values), "a finite number", True)
    energy, layer = jagged["energy"].values, jagged["layer"].values
    check("cluster_energy", energy, ~(np.isfinite(energy) & (energy > 0)),
          "a positive number of GeV", True)
    check("cluster_layer", layer, (layer < 0) | (layer >= N_LAYERS) | (layer != np.floor(layer)),
          f"a layer in 0-{N_LAYERS - 1}", True)
    clusters = np.zeros(counts.sum(), CLUSTER_DTYPE)
    for name, values in jagged.items():
        clusters[name] = values.values
    if "is_noise" in jagged:
        flag = jagged["is_noise"].values
        check("cluster_is_noise", flag, ~np.isin(flag, (0, 1)), "0 or 1", True)

    check("label", columns["label"], ~np.isin(columns["label"], (0, 1)), "0 (QCD) or 1 "
          "(dark photon)", False)
    for field in ("pt", "eta", "phi"):
        values = columns[field]
        bad = ~np.isfinite(values) | ((values <= 0) if field == "pt" else False)
        check(field, values, bad, "a positive number of GeV" if field == "pt" else
              "a finite number", False)
    jets = np.zeros(n, JET_DTYPE)
    for field in ("label", "pt", "eta", "phi"):
        jets[field] = columns[field]
    jets["n_clusters"] = counts
    jets["n_noise"] = np.bincount(owner, clusters["is_noise"], minlength=n)
    total = np.bincount(owner, clusters["energy"].astype(np.float64), minlength=n)
    if "em_fraction" in columns:
        jets["em_fraction"] = columns["em_fraction"]
    else:  # the simulator's definition: energy in the EM layers over the jet's energy
        em = np.where(clusters["layer"] < len(EM_LAYERS), clusters["energy"], 0.0)
        jets["em_fraction"] = np.bincount(owner, em, minlength=n) / total
    if "width" in columns:
        jets["width"] = columns["width"]
    else:  # energy-weighted Delta R of the clusters from the jet axis
        dphi = np.mod(clusters["phi"] - jets["phi"][owner] + np.pi, 2 * np.pi) - np.pi
        dr = np.hypot(clusters["eta"] - jets["eta"][owner], dphi)
        jets["width"] = np.bincount(owner, clusters["energy"] * dr, minlength=n) / total
    jets["decay_radius"] = columns.get("decay_radius", np.nan)
    return {"clusters": clusters, "jets": jets, "n_clusters": counts}


def import_ntuples(sources: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str],
                   *, tree: str | None = None, mapping: str | os.PathLike[str] | None = None,
                   fractions: Mapping[str, float] | None = None, seed: int = 1,
                   overwrite: bool = False) -> dict[str, dict]:
    """Convert dark-jet ntuples into hepxai ``train.h5``, ``val.h5`` and ``test.h5``.

    ``sources``: ROOT or open-data HDF5 files whose entries are split by a seeded hash of the
    entry number (``fractions``, default 80/10/10), or one directory holding ``train.root``,
    ``val.root`` and ``test.root`` (what :func:`export_ntuples` writes). ``mapping``: a
    TOML/JSON branch mapping (see :func:`hepxai.io.ntuple.read_mapping`). Split files already
    imported from the same inputs with the same settings are kept; any other existing one is
    refused unless ``overwrite``. Returns per split ``{"path", "jets", "reused"}``.

    Example::

        import_ntuples(["jets.root"], "data/darkjet-run2", mapping="atlas-branches.toml")
    """
    plan = plan_import(sources, SPLITS, fractions or SPLIT_FRACTIONS)
    layout_map = read_mapping(mapping, LAYOUT)
    names = LAYOUT.branch_names(layout_map["branches"])
    tree = tree or layout_map["tree"]
    out = Path(out_dir)
    wanted = plan.identity("darkjet", tree, sorted(names.items()), seed)
    found = previous_import(plan.outputs, lambda split: split_path(out, split),
                            lambda path: DarkJetFile(path, load=False).attrs, wanted,
                            overwrite=overwrite)
    if found is not None:
        return {s: {"path": str(split_path(out, s)), "jets": found[s]["n_events"],
                    "reused": True} for s in plan.outputs}
    sources = {group: Ntuple(plan.groups[group], LAYOUT, names, tree) for group in plan.groups}
    check_import_space(out, sources.values())
    with exclusive(out, "import darkjet"), Spool(out) as spool:
        spool_import(spool, plan, sources.__getitem__,
                     lambda group, path, first, columns, branches:
                     _convert(path, first, columns, branches), events="n_clusters",
                     flat=FLAT, seed=seed)
        written = {}
        for split in plan.outputs:
            jets = Jets(spool.read(split, "clusters"), offsets_of(spool.read(split, "n_clusters")),
                        spool.read(split, "jets"))
            n_per_class = int(np.bincount(jets.jets["label"], minlength=2).min())
            attrs = {"split": split, "seed": seed, "n_per_class": n_per_class,
                     "simulator_config": "", **wanted,
                     "source": plan.source}
            write_jets(split_path(out, split), jets, attrs)
            written[split] = {"path": str(split_path(out, split)), "jets": len(jets),
                              "reused": False}
    return written


def export_ntuples(data_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
                   format: str = "root") -> dict[str, str]:
    """Write ``train``, ``val`` and ``test`` of a hepxai dark-jet data directory as
    ``SPLIT.root`` (TTree ``jets``, the default branches of :data:`LAYOUT`) or as open-data
    HDF5 files of the same branches (``format="h5"``); :func:`import_ntuples` of the written
    directory gives back the same arrays.

    Example::

        export_ntuples("data/darkjet", "open-data/darkjet", format="h5")
    """
    inputs = {split: DarkJetFile(split_path(data_dir, split)) for split in SPLITS}
    check_export_space(out_dir, [data.path for data in inputs.values()])
    out = output_directory(out_dir)
    written = {}
    for split, data in inputs.items():
        counts = np.diff(data.offsets)
        columns: dict[str, Any] = {
            f"cluster_{name}": Jagged(data.clusters[name], counts) for name in CLUSTERS}
        for branch in LAYOUT.branches:
            if not branch.jagged:
                columns[branch.default] = data.jets[branch.field]
        target = out / f"{split}.{format}"
        if format == "root":
            write_root(target, {LAYOUT.tree: columns})
        else:
            write_open_h5(target, {LAYOUT.tree: columns}, attrs={"use_case": "darkjet"})
        written[split] = str(target)
    return written
