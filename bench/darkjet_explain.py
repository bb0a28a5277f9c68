"""Benchmark: judging the dark-jet graph explanations and comparing them across model types.

On a few thousand simulated jets (gnn-1 graphs) a ResGNN and the legacy 3D-CNN are trained
(fast recipe, 1 thread); ``hepxai explain darkjet`` (:func:`explain_run`) then explains 400
balanced test jets with saliency-graph and ig-graph, and 20 of them with GNNExplainer (slow),
judges them (localization against the noise truth, deletion faithfulness, completeness,
agreement) and correlates the GNN node relevance, summed into voxels, with the 3D-CNN's voxel
saliency against a shuffled-voxel baseline.

Run with ``.venv/bin/python bench/darkjet_explain.py`` (about 5 minutes on 1 shared core);
writes ``bench/sections/darkjet_explain.md``. Finished training runs in ``--work`` are reused.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("HEPXAI_PROGRESS", "0")

import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
METHODS = ("saliency-graph", "ig-graph", "gnnexplainer")


def train(data: Path, out: Path, model: str, epochs: int, max_jets: int, seed: int) -> dict:
    """Train ``model`` on gnn-1 graphs unless ``out`` holds the finished run; best val AUC."""
    from hepxai.usecases.darkjet.graphs import GraphSettings
    from hepxai.usecases.darkjet.study import train_run

    seconds = None
    if not (out / "best.pt").exists():
        start = time.perf_counter()
        train_run(data, out, model, "fast", GraphSettings(variant="gnn-1"), seed=seed,
                  epochs=epochs, max_jets=max_jets, val_jets=1000, quiet=True)
        seconds = time.perf_counter() - start
    history = json.loads((out / "history.json").read_text())["history"]
    return {"best_auc": max(h["auc"] for h in history), "epochs": len(history),
            "seconds": seconds}


def _f(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def judging_tables(judging: dict) -> list[str]:
    methods = judging["methods"]
    lines = ["| method | jets | non-noise share | base rate | AUROC non-noise vs noise | "
             "deletion gap | completeness error (median) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name in methods:
        s = judging["scores"][name]["all"]
        lines.append(f"| {name} | {judging['jets_per_method'][name]} | "
                     f"{_f(s['signal_share'])} | {_f(s['base_rate'])} | {_f(s['auroc'])} | "
                     f"{_f(s['deletion_gap'], 4)} | "
                     f"{_f(judging['completeness_median'][name], 4)} |")
    categories = [c for c, n in judging["categories"].items() if n]
    lines += ["", "Per tagging category (at score 0.5; "
              + ", ".join(f"{c}: {judging['categories'][c]} jets" for c in categories)
              + "): non-noise share minus base rate / deletion gap.", "",
              "| method | " + " | ".join(categories) + " |",
              "| --- |" + " ---: |" * len(categories)]
    for name in methods:
        cells = []
        for c in categories:
            s = judging["scores"][name].get(c)
            if s is None or s["signal_share"] is None:
                cells.append("n/a")
                continue
            cells.append(f"{s['signal_share'] - s['base_rate']:+.3f} / "
                         f"{_f(s['deletion_gap'], 4)}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def agreement_tables(judging: dict) -> list[str]:
    methods = judging["methods"]
    lines = []
    for kind, label in (("spearman", "Spearman correlation over nodes"),
                        ("top_k_overlap", f"top-{judging['top_k']} node overlap")):
        matrix = judging["agreement"][kind]["all"]
        lines += [f"{label} (mean over the jets both methods explained):", "",
                  "| | " + " | ".join(methods) + " |", "| --- |" + " ---: |" * len(methods)]
        lines += [f"| {a} | " + " | ".join(_f(v, 2) for v in row) + " |"
                  for a, row in zip(methods, matrix, strict=True)]
        lines.append("")
    return lines


def deletion_table(judging: dict) -> list[str]:
    fractions = judging["fractions"]
    lines = ["Mean change of the probability of the predicted class (all jets of each method):",
             "", "| order | " + " | ".join(f"f = {f:.1f}" for f in fractions) + " |",
             "| --- |" + " ---: |" * len(fractions)]
    for name, curves in judging["deletion_curves"].items():
        lines.append(f"| {name} | " + " | ".join(f"{v:+.4f}" for v in curves["all"]) + " |")
    return lines


def cross_table(cross: dict) -> list[str]:
    lines = ["| GNN method | jets | occupied voxels / jet | mean Spearman | median | "
             "shuffled voxels (mean ± sd of means) | z | p |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, c in cross["methods"].items():
        lines.append(f"| {name} | {c['n_valid']} | {c['voxels_per_jet']:.1f} | {_f(c['mean'])} | "
                     f"{_f(c['median'])} | {_f(c['permuted_mean'])} ± "
                     f"{_f(c['permuted_std'])} | {_f(c['z'], 1)} | {_f(c['p_value'])} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench-darkjet-explain")
    parser.add_argument("--n", type=int, default=5000, help="jets per class to simulate")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--cnn-epochs", type=int, default=5)
    parser.add_argument("--n-explain", type=int, default=400)
    parser.add_argument("--permutations", type=int, default=100)
    parser.add_argument("--gnnexplainer-jets", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=HERE / "sections" / "darkjet_explain.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from hepxai.usecases.darkjet.attribution import explain
    from hepxai.usecases.darkjet.graphs import GraphSettings, load_graphs
    from hepxai.usecases.darkjet.names import GNNEXPLAINER_EPOCHS, GNNEXPLAINER_LR
    from hepxai.usecases.darkjet.store import simulate_dataset, split_path
    from hepxai.usecases.darkjet.study import cross_model_run, explain_run

    work, data = args.work, args.work / "data"
    simulate_dataset(data, args.n, seed=2)
    max_jets = 2 * args.n
    resgnn = train(data, work / "resgnn", "resgnn", args.epochs, max_jets, seed=1)
    cnn = train(data, work / "cnn3d", "cnn3d", args.cnn_epochs, max_jets, seed=1)
    gnn_ckpt, cnn_ckpt = work / "resgnn" / "best.pt", work / "cnn3d" / "best.pt"

    out = work / "explain"
    start = time.perf_counter()
    explain_run(gnn_ckpt, data, out, methods=METHODS, n_jets=args.n_explain, steps=50,
                gnnexplainer_jets=args.gnnexplainer_jets, views=0,
                seed=1, cnn_checkpoint=cnn_ckpt, n_permutations=args.permutations)
    explain_seconds = time.perf_counter() - start
    judging = json.loads((out / "judging.json").read_text())
    cross = json.loads((out / "cross_model.json").read_text())

    # the explanation and cross-model costs per jet, for scale (the judging time is recorded)
    from hepxai.io.checkpoint import load_model

    model = load_model(gnn_ckpt, use_case="darkjet")
    graphs = load_graphs(split_path(data, "test"), GraphSettings(variant="gnn-1"))
    rows = np.arange(args.n_explain)
    start = time.perf_counter()
    results = {"saliency-graph": explain("saliency-graph", model, graphs, rows)}
    saliency_per_jet = (time.perf_counter() - start) / rows.size
    start = time.perf_counter()
    (work / "cross-timing").mkdir(parents=True, exist_ok=True)
    cross_model_run(cnn_ckpt, data, graphs, results, work / "cross-timing",
                    n_permutations=args.permutations)
    cross_per_jet = (time.perf_counter() - start) / rows.size

    n_train = len(load_graphs(split_path(data, "train"), GraphSettings(variant="gnn-1")))
    lines = [
        "## Judging the dark-jet explanations, and GNN vs 3D-CNN", "",
        f"Made by `.venv/bin/python bench/darkjet_explain.py` on "
        f"{platform.node() or 'this machine'}: {os.cpu_count()} cores shared with other jobs, "
        f"torch {torch.__version__} with {args.threads} thread(s), numpy {np.__version__}.", "",
        f"Data: `simulate darkjet --n {args.n}` (seed 2), gnn-1 graphs. Models (fast recipe, "
        f"{n_train:,} training jets): ResGNN {resgnn['epochs']} epochs, best validation AUC "
        f"{resgnn['best_auc']:.4f}; 3D-CNN {cnn['epochs']} epochs, best validation AUC "
        f"{cnn['best_auc']:.4f}"
        + (f" (training {resgnn['seconds'] / 60:.1f} + {cnn['seconds'] / 60:.1f} min)"
           if resgnn["seconds"] and cnn["seconds"] else "") + ".", "",
        f"`explain_run` (= `hepxai explain darkjet --n-jets {args.n_explain} "
        f"--gnnexplainer-jets {args.gnnexplainer_jets} --permutations {args.permutations} "
        f"--cnn-checkpoint CNN`): "
        f"{judging['n_jets']} balanced test jets, ig-graph with 50 steps, GNNExplainer "
        f"({GNNEXPLAINER_EPOCHS} epochs at lr {GNNEXPLAINER_LR:g}, the study's default from "
        "`bench/gnnexplainer.py`) on "
        f"{judging['jets_per_method'].get('gnnexplainer', 0)} of them; "
        f"deletion fractions {', '.join(f'{f:.1f}' for f in judging['fractions'])}; "
        f"whole command {explain_seconds:.0f} s.", "",
        "### Judging table (means over each method's jets)", "",
        *judging_tables(judging), "",
        "Non-noise share: share of |relevance| on non-noise clusters; base rate: share of "
        "non-noise clusters (a blind map's score). Deletion gap: mean over f > 0 of "
        "(random-order - method-order) probability of the predicted class, positive = "
        "faithful. Completeness: relative error |sum(IG) - (logit(x) - logit(0))| / "
        "|logit(x) - logit(0)|, median over jets (its mean, "
        f"{_f(judging['scores']['ig-graph']['all']['completeness_error'])}, is dominated by the "
        "few jets with logit(x) ~ logit(0)).", "",
        "### Agreement between methods", "", *agreement_tables(judging),
        "### Deletion curves", "", *deletion_table(judging), "",
        "### Across model types: GNN node relevance vs 3D-CNN voxel saliency", "",
        "The GNN's |node relevance| summed into the CNN's (layer, eta, phi) voxels "
        "(`voxel_index`), correlated per jet with Captum `Saliency` of the CNN over the voxels "
        f"the jet's nodes occupy; baseline: {cross['methods'][METHODS[0]]['n_permutations']} "
        "shuffles of the GNN values among those voxels.", "",
        *cross_table(cross), "",
        "### Cost", "",
        f"Judging (localization, deletion with {len(judging['fractions'])} fractions x 2 orders "
        f"per method, completeness, agreement): **{1000 * judging['seconds_per_jet']:.1f} ms "
        f"per jet** ({judging['seconds']:.1f} s for {judging['n_jets']} jets and "
        f"{len(judging['methods'])} methods). For scale: saliency-graph "
        f"{1000 * saliency_per_jet:.2f} ms per jet; the cross-model comparison of one method "
        f"(CNN saliency + {cross['methods'][METHODS[0]]['n_permutations']} permutations) "
        f"{1000 * cross_per_jet:.2f} ms per jet.", ""]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
