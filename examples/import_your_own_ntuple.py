"""Bring your own ROOT ntuple: convert it into hepxai files with a branch mapping, and back.

Your analysis writes a TTree with its own branch names (here ``rpc_layer`` / ``rpc_strip``
vectors per event and ``mu_pt`` / ``mu_eta`` / ``mu_phi``, as an ATLAS ntuple might). This
script makes such a file (from hepxai's simulator, standing in for your data), writes the
mapping file that tells hepxai which branch is which, imports it (split 90/10 into train/val by
a seeded hash of the entry number), checks that every hit arrived, and exports the imported
files again as open-data ROOT files with hepxai's default branch names. Every hepxai command
then runs on ``OUT/data`` unchanged, e.g. ``hepxai train muon --data OUT/data``.

    .venv/bin/python examples/import_your_own_ntuple.py --out runs/example-ntuple [--events N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from hepxai.usecases.muon.generate import SplitSizes, simulate_dataset
from hepxai.usecases.muon.ntuple import export_ntuples, import_ntuples
from hepxai.usecases.muon.store import MuonFile

MAPPING = """# which branch of my ntuple is which hepxai field
tree = "CollectionTree"
[branches]
hit_layer = "rpc_layer"
hit_strip = "rpc_strip"
truth_layer = ""        # my ntuple has no truth hits
truth_strip = ""
pt = "mu_pt"            # GeV
eta = "mu_eta"          # signed: hepxai keeps |eta| and the sign
phi = "mu_phi"
charge = ""
"""


def write_my_ntuple(path: Path, n_events: int) -> dict[str, np.ndarray]:
    """A stand-in for the user's file: simulated events under the user's names."""
    simulate_dataset(path.parent / "sim", SplitSizes(train=n_events, val=0, noise=0), seed=4,
                     workers=1)
    events = MuonFile(path.parent / "sim" / "train.h5")
    indices = np.asarray(events.images.indices)
    counts = np.diff(np.asarray(events.images.offsets))
    sign = np.where(np.random.default_rng(0).random(len(events)) < 0.5, -1.0, 1.0)
    columns = {"rpc_layer": ak.unflatten((indices // 384).astype(np.int32), counts),
               "rpc_strip": ak.unflatten((indices % 384).astype(np.int32), counts),
               "mu_pt": events.labels["pt"], "mu_eta": events.labels["eta"] * sign,
               "mu_phi": events.labels["phi"]}
    with uproot.recreate(path) as f:
        f.mktree("CollectionTree", {k: v.type.content if isinstance(v, ak.Array) else v.dtype
                                    for k, v in columns.items()})
        f["CollectionTree"].extend(columns)
    return {"hits": counts, "pt": events.labels["pt"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/example-ntuple"))
    parser.add_argument("--events", type=int, default=5_000)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    source = write_my_ntuple(args.out / "my_ntuple.root", args.events)
    mapping = args.out / "branches.toml"
    mapping.write_text(MAPPING)
    summary = import_ntuples([args.out / "my_ntuple.root"], args.out / "data",
                             mapping=mapping, overwrite=True)
    for split, info in summary.items():
        print(f"{split}: {info['events']:,} events -> {info['path']}")
    imported = [MuonFile(args.out / "data" / f"{s}.h5") for s in ("train", "val")]
    total_hits = sum(int(np.asarray(f.images.counts).sum()) for f in imported)
    assert total_hits == int(source["hits"].sum()), "hits lost on the way"
    print(f"all {total_hits:,} hits of {len(source['pt']):,} events arrived; "
          f"{int((imported[0].eta_sign < 0).sum()):,} training muons have eta < 0")
    written = export_ntuples(args.out / "data", args.out / "open-data", format="root")
    print("exported with hepxai's branch names:", ", ".join(written.values()))


if __name__ == "__main__":
    main()
