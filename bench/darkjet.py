"""Benchmark of the dark-jet use case: simulation at the slides' size, graph building against a
per-jet networkx reference, ResGNN training on 100k jets, and the metric table of the three
models on the three pre-processing variants.

Run with ``.venv/bin/python bench/darkjet.py`` (about an hour on 2 shared cores); writes
``bench/sections/darkjet.md`` and rebuilds ``bench/BENCHMARKS.md``. Finished training runs in
``--work`` are reused, so an interrupted benchmark resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import networkx as nx
import numpy as np
import torch

from hepxai.usecases.darkjet.graphs import GraphSettings, build_graphs, load_graphs, node_positions
from hepxai.usecases.darkjet.store import DarkJetFile, split_path, take

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VARIANTS = ("gnn-0", "gnn-1", "gnn-2")
MODELS = ("resgnn", "gatv2", "cnn3d")


def hepxai(*args: str) -> float:
    """Run ``python -m hepxai ARGS`` in a child process; its wall time [s]."""
    return _timed(*args)[0]


def _timed(*args: str) -> tuple[float, float]:
    """``python -m hepxai ARGS`` in a child process: (wall time, CPU time user + system) [s].
    On a shared machine the CPU time is what the job itself needed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "hepxai", *args], check=True, cwd=ROOT,
                   env={**os.environ, "HEPXAI_PROGRESS": "0"})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def reference_graphs(jets, settings: GraphSettings) -> list[nx.Graph]:
    """The slides' way, one jet at a time: networkx's geometric graph generator on the jet's
    nodes (same positions and radius as ours), then the isolated nodes removed (gnn-0)."""
    from hepxai.usecases.darkjet.graphs import jet_radii

    pos, _ = node_positions(jets, settings.layer_spacing)
    radius = jet_radii(pos, jets.offsets, settings)
    out = []
    for i in range(len(jets)):
        a, b = jets.offsets[i], jets.offsets[i + 1]
        graph = nx.Graph()
        graph.add_nodes_from((k, {"pos": tuple(pos[a + k])}) for k in range(b - a))
        graph.add_edges_from(nx.geometric_edges(graph, radius[i], p=settings.p))
        graph.remove_nodes_from(list(nx.isolates(graph)))
        out.append(graph)
    return out


def bench_graph_building(data: Path, n_ours: int, n_reference: int) -> dict:
    source = DarkJetFile(split_path(data, "train"))
    jets = source.as_jets(np.arange(min(n_ours, len(source))))
    rates = {}
    for variant in VARIANTS:
        for metric in ("taxicab", "euclidean"):
            settings = GraphSettings(variant=variant, metric=metric)
            start = time.perf_counter()
            graphs = build_graphs(jets, settings)
            rates[(variant, metric)] = len(jets) / (time.perf_counter() - start)
    settings = GraphSettings(variant="gnn-0")
    small = take(jets, np.arange(n_reference))
    start = time.perf_counter()
    reference = reference_graphs(small, settings)
    reference_rate = n_reference / (time.perf_counter() - start)
    start = time.perf_counter()
    ours = build_graphs(small, settings)
    ours_rate = n_reference / (time.perf_counter() - start)
    same = all(set(ours.to_networkx(i).edges) == {
        tuple(sorted(e)) for e in nx.relabel_nodes(
            g, {k: j for j, k in enumerate(sorted(g))}).edges} or len(g) == 0
        for i, g in enumerate(reference))
    graphs = build_graphs(jets, GraphSettings())
    return {"n": len(jets), "rates": rates, "reference_rate": reference_rate,
            "ours_rate_small": ours_rate, "n_reference": n_reference, "same_edges": same,
            "nodes_per_jet": float(graphs.n_nodes.mean()),
            "edges_per_jet": float(graphs.n_edges.mean() / 2)}


def train_once(data: Path, out: Path, model: str, variant: str, *extra: str) -> dict:
    """Train unless ``out`` already holds the finished run."""
    timing = out / "bench_wall_seconds.json"
    if (out / "best.pt").exists() and timing.exists():
        return json.loads(timing.read_text())
    if out.exists():  # an interrupted run: its timing would be wrong, start it again
        shutil.rmtree(out)
    seconds, cpu = _timed("train", "darkjet", "--model", model, "--variant", variant, "--data",
                          str(data), "--out", str(out), *extra)
    history = json.loads((out / "history.json").read_text())["history"]
    info = {"seconds": seconds, "cpu_seconds": cpu, "epochs": len(history),
            "best_auc": max(h["auc"] for h in history)}
    timing.write_text(json.dumps(info))
    return info


def explainer_rates(checkpoint: Path, data: Path) -> dict[str, float]:
    """Jets explained per second by each graph method (one process, 1 thread)."""
    from hepxai.io.checkpoint import load_model, read_checkpoint
    from hepxai.usecases.darkjet.attribution import explain
    from hepxai.usecases.darkjet.evaluation import graph_settings_of

    settings = graph_settings_of(read_checkpoint(checkpoint, use_case="darkjet"))
    model = load_model(checkpoint, use_case="darkjet")
    graphs = load_graphs(split_path(data, "test"), settings)
    rates = {}
    for name, n, params in (("saliency-graph", 2000, {}), ("ig-graph", 500, {"n_steps": 50}),
                            ("gnnexplainer", 20, {"epochs": 100})):
        rows = np.arange(min(n, len(graphs)))
        start = time.perf_counter()
        explain(name, model, graphs, rows, **params)
        rates[name] = rows.size / (time.perf_counter() - start)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench-darkjet")
    parser.add_argument("--n", type=int, default=400_000, help="jets per class to simulate")
    parser.add_argument("--table-jets", type=int, default=20_000,
                        help="training jets of each model of the 3x3 table")
    parser.add_argument("--table-epochs", type=int, default=3)
    parser.add_argument("--eval-jets", type=int, default=20_000)
    parser.add_argument("--graph-jets", type=int, default=40_000,
                        help="jets of the graph-building timing")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads of the training processes (the machine is shared)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work, data = args.work, args.work / "data"

    # timed in a fresh folder (the data folder below may be reused from an earlier run)
    timing_dir = work / "simulation-timing"
    shutil.rmtree(timing_dir, ignore_errors=True)
    simulate_seconds = hepxai("simulate", "darkjet", "--out", str(timing_dir), "--n",
                              str(args.n), "--seed", "2")
    sim_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    sizes = {s: (split_path(timing_dir, s).stat().st_size,
                 len(DarkJetFile(split_path(timing_dir, s)))) for s in ("train", "val", "test")}
    shutil.rmtree(timing_dir)
    hepxai("simulate", "darkjet", "--out", str(data), "--n", str(args.n), "--seed", "2")
    building = bench_graph_building(data, args.graph_jets, 1_000)

    threads = ["--threads", str(args.threads)]
    resgnn_100k = train_once(data, work / "resgnn-100k", "resgnn", "gnn-1", "--preset", "fast",
                             "--max-jets", "100000", "--val-jets", "20000", *threads)
    trained = {}
    for variant in VARIANTS:
        for model in MODELS:
            trained[(model, variant)] = train_once(
                data, work / f"{model}-{variant}", model, variant, "--preset", "fast",
                "--max-jets", str(args.table_jets), "--epochs", str(args.table_epochs),
                "--val-jets", "10000", *threads)
    checkpoints = [work / f"{m}-{v}" / "best.pt" for v in VARIANTS for m in MODELS]
    evaluate = ["evaluate", "darkjet", "--data", str(data), "--out", str(work / "evaluation"),
                "--max-jets", str(args.eval_jets)]
    for checkpoint in checkpoints:
        evaluate += ["--checkpoint", str(checkpoint)]
    hepxai(*evaluate)
    results = json.loads((work / "evaluation" / "evaluation.json").read_text())
    from hepxai.usecases.darkjet.evaluation import claims_table, metric_table

    # the poster's comparison at a larger budget: the 3D-CNN with the ResGNN's 100k-jet recipe
    cnn_100k = train_once(data, work / "cnn3d-100k", "cnn3d", "gnn-1", "--preset", "fast",
                          "--max-jets", "100000", "--val-jets", "20000", *threads)
    hepxai("evaluate", "darkjet", "--data", str(data), "--out", str(work / "evaluation-100k"),
           "--max-jets", str(args.eval_jets), "--checkpoint",
           str(work / "resgnn-100k" / "best.pt"), "--checkpoint",
           str(work / "cnn3d-100k" / "best.pt"))
    results_100k = json.loads((work / "evaluation-100k" / "evaluation.json").read_text())
    rates = explainer_rates(work / "resgnn-100k" / "best.pt", data)

    total = sum(n for _, n in sizes.values())
    speedup = building["ours_rate_small"] / building["reference_rate"]
    lines = [
        "## Dark-photon jets (DarkJetGraphs)", "",
        f"Made by `.venv/bin/python bench/darkjet.py` on {platform.node() or 'this machine'}: "
        f"{os.cpu_count()} cores shared with other jobs, torch {torch.__version__} with "
        f"{args.threads} thread(s) per process, numpy {np.__version__}.", "",
        f"Simulation at the slides' size: `hepxai simulate darkjet --n {args.n}` "
        f"({total:,} jets, both classes, train/val/test) in **{simulate_seconds:.1f} s**, peak "
        f"memory {sim_peak:.0f} MiB, {sum(b for b, _ in sizes.values()) / 1e6:.0f} MB on disk "
        f"({sum(b for b, _ in sizes.values()) / total:.0f} bytes a jet).", "",
        "### Graph building", "",
        f"{building['n']:,} training jets, one process (numpy, single thread); gnn-1 graphs "
        f"have {building['nodes_per_jet']:.1f} nodes and {building['edges_per_jet']:.1f} "
        "undirected edges a jet on average.", "",
        "| variant | taxicab jets/s | euclidean jets/s |", "| --- | ---: | ---: |"]
    for variant in VARIANTS:
        lines.append(f"| {variant} | {building['rates'][(variant, 'taxicab')]:,.0f} | "
                     f"{building['rates'][(variant, 'euclidean')]:,.0f} |")
    lines += [
        "", f"Reference: networkx's geometric graph generator one jet at a time (gnn-0, same "
        f"positions and radii, {building['n_reference']:,} jets): "
        f"{building['reference_rate']:,.0f} jets/s vs {building['ours_rate_small']:,.0f} jets/s "
        f"for ours on the same jets (**x{speedup:.0f}**; same edges: "
        f"{'yes' if building['same_edges'] else 'NO'}). Target: >= 2,000 jets/s.",
        "", "### ResGNN training on 100k jets", "",
        f"`hepxai train darkjet --model resgnn --preset fast --max-jets 100000 --val-jets 20000 "
        f"--threads {args.threads}` (gnn-1 graphs, {resgnn_100k['epochs']} epochs, validation "
        f"every epoch, graphs read from the cache): **{resgnn_100k['seconds'] / 60:.1f} min** "
        f"wall time on the shared machine, {resgnn_100k['cpu_seconds'] / 60:.1f} min of CPU "
        f"time (target <= 15 min); best validation AUC {resgnn_100k['best_auc']:.4f}.", "",
        "### Metric table: three models x three pre-processing variants", "",
        f"Each model trained with the fast recipe for {args.table_epochs} epochs on the same "
        f"{args.table_jets:,} training jets of its variant (best epoch by validation AUC), "
        f"evaluated on the first {args.eval_jets:,} test jets. Training wall times:", "",
        "| model | " + " | ".join(VARIANTS) + " |", "| --- |" + " ---: |" * len(VARIANTS)]
    for model in MODELS:
        lines.append(f"| {model} | " + " | ".join(
            f"{trained[(model, v)]['seconds'] / 60:.1f} min "
            f"({trained[(model, v)]['cpu_seconds'] / 60:.1f} min CPU)" for v in VARIANTS) + " |")
    lines += ["", metric_table(results), "",
              "The poster's claims (ResGNN vs 3D-CNN per variant: +2-5% on every metric, 2x QCD "
              "rejection):", "", claims_table(results), "",
              "### ResGNN vs 3D-CNN at 100k jets", "",
              f"Both on gnn-1 graphs with the fast recipe (6 epochs, 100,000 training jets; the "
              f"3D-CNN took {cnn_100k['seconds'] / 60:.1f} min, "
              f"{cnn_100k['cpu_seconds'] / 60:.1f} min CPU), evaluated on the first "
              f"{args.eval_jets:,} test jets:", "", metric_table(results_100k), "",
              claims_table(results_100k), "",
              "### Explainers (ResGNN of the 100k run, test jets)", "",
              "| method | jets/s |", "| --- | ---: |"]
    for name, rate in rates.items():
        lines.append(f"| {name} | {rate:,.1f} |")
    lines.append("")
    sys.path.insert(0, str(HERE))
    from run import publish_section  # noqa: E402  (bench/run.py, same folder)

    publish_section("darkjet", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
