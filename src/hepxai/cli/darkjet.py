"""``hepxai ... darkjet``: dark-photon jets vs QCD jets as graphs (DarkJetGraphs)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hepxai.cli.app import register
from hepxai.cli.arguments import checked_device, count, int_list, positive_float, seed, whole_number
from hepxai.core.atomic import write_json_atomic
from hepxai.core.errors import HepxaiError

DATA = Path("data/darkjet")
RUNS = Path("runs/darkjet")
METHODS = ("saliency-graph", "ig-graph", "gnnexplainer")


def _threads(value: int | None) -> None:
    if value is not None:
        import torch

        torch.set_num_threads(value)


# -- simulate ---------------------------------------------------------------------------------
def _add_simulate(parser: argparse.ArgumentParser) -> None:
    from hepxai.data.darkjet.store import DEFAULT_PER_CLASS

    parser.add_argument("--out", type=Path, default=DATA,
                        help="directory for train.h5, val.h5 and test.h5")
    parser.add_argument("--n", type=count, default=DEFAULT_PER_CLASS,
                        help="jets per class (QCD and dark photon), split 80/10/10 into "
                             "train/val/test; the slides used ~400k per class")
    parser.add_argument("--seed", type=seed, default=1, help="random seed (0 <= seed < 2**63)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing files made with other settings")


def _simulate(args: argparse.Namespace) -> None:
    from hepxai.data.darkjet.store import simulate_dataset

    summary = simulate_dataset(args.out, args.n, seed=args.seed, overwrite=args.overwrite)
    for split, info in summary.items():
        state = "kept (already complete)" if info["reused"] else f"{info['seconds']:.1f} s"
        print(f"{split:>5}: {info['jets']:>9,} jets  {info['bytes'] / 1e6:8.1f} MB  "
              f"{info['path']}  [{state}]")


# -- graph settings ---------------------------------------------------------------------------
def _add_graph_options(parser: argparse.ArgumentParser) -> None:
    from hepxai.data.darkjet.graphs import METRICS, VARIANTS, GraphSettings

    default = GraphSettings()
    parser.add_argument("--variant", default=default.variant, choices=VARIANTS,
                        help="pre-processing: gnn-0 drops isolated nodes, gnn-1 keeps a cone "
                             "around the jet axis, gnn-2 the largest connected subgraph")
    parser.add_argument("--metric", default=default.metric, choices=list(METRICS),
                        help="distance of the radius graph (taxicab: the slides' choice)")
    parser.add_argument("--radius-factor", type=positive_float, default=default.radius_factor,
                        help="radius = factor x the Poisson mean nearest-neighbour distance")
    parser.add_argument("--layer-spacing", type=positive_float, default=default.layer_spacing,
                        help="graph-space length of one sampling-layer step")
    parser.add_argument("--cone", type=positive_float, default=default.cone,
                        help="gnn-1: Delta R of the cone around the jet axis")


def _settings(args: argparse.Namespace):
    from hepxai.data.darkjet.graphs import GraphSettings

    return GraphSettings(variant=args.variant, metric=args.metric,
                         radius_factor=args.radius_factor, layer_spacing=args.layer_spacing,
                         cone=args.cone)


# -- train ------------------------------------------------------------------------------------
def _add_train(parser: argparse.ArgumentParser) -> None:
    from hepxai.models.darkjet import MODELS, PRESETS

    parser.add_argument("--model", default="resgnn", choices=list(MODELS),
                        help="resgnn (GraphConv x5 + GCNConv x2), gatv2 (attention) or cnn3d "
                             "(legacy 3D-CNN on voxelised jets)")
    parser.add_argument("--preset", default="fast", choices=list(PRESETS),
                        help="quick: seconds (tests); fast: CPU; paper: the slides' scale")
    parser.add_argument("--data", type=Path, default=DATA,
                        help="darkjet data directory (train.h5 trains, val.h5 validates)")
    parser.add_argument("--out", type=Path, default=None,
                        help="run directory (default: runs/darkjet/MODEL-VARIANT-PRESET)")
    _add_graph_options(parser)
    parser.add_argument("--hidden", type=count, default=None,
                        help="override the preset's hidden width (graph models)")
    parser.add_argument("--epochs", type=count, default=None,
                        help="override the preset's number of epochs")
    parser.add_argument("--max-jets", type=count, default=None,
                        help="train on the first N training jets only")
    parser.add_argument("--val-jets", type=count, default=20_000,
                        help="validate every epoch on the first N validation jets")
    parser.add_argument("--seed", type=seed, default=1, help="random seed")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=count, default=None,
                        help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its last epoch checkpoint")


def train_run(data: Path, out: Path, model_name: str, preset: str, settings, *, seed: int = 1,
              epochs: int | None = None, max_jets: int | None = None, val_jets: int = 20_000,
              device: str = "cpu", resume: bool = False, config: dict | None = None,
              quiet: bool = False):
    """Build (or read cached) graphs, train one model; returns the TrainResult."""

    from hepxai.data.darkjet.graphs import load_graphs
    from hepxai.data.darkjet.store import split_path
    from hepxai.models.darkjet import create
    from hepxai.train.darkjet import JetSet, train

    model = create(model_name, preset, seed=seed, **(config or {}))
    train_file, val_file = split_path(data, "train"), split_path(data, "val")
    # only the jets used are turned into graphs (and cached as such)
    train_set = JetSet(load_graphs(train_file, settings, max_jets=max_jets),
                       model.representation)
    val_set = JetSet(load_graphs(val_file, settings, max_jets=val_jets), model.representation)
    if not quiet:
        print(f"training {model_name} ({preset}, {model.n_parameters():,} parameters) on "
              f"{len(train_set):,} {settings.variant} jets, validating on {len(val_set):,}; "
              f"output in {out}")

    def report(r: dict) -> None:
        if not quiet:
            print(f"epoch {r['epoch']:>3}: loss {r['train_loss']:.4f} / {r['loss']:.4f}  "
                  f"acc {r['accuracy']:.4f}  AUC {r['auc']:.4f}  TNR@90 {r['tnr_90']:.4f}")

    identity = {"graphs": settings.to_dict(), "data": str(Path(train_file).resolve())}
    return train(model, train_set, val_set, out, seed=seed, epochs=epochs, device=device,
                 resume=resume, on_epoch=report, data_identity=identity)


def _train(args: argparse.Namespace) -> None:
    _threads(args.threads)
    device = checked_device(args.device)
    settings = _settings(args)
    out = args.out or RUNS / f"{args.model}-{settings.variant}-{args.preset}"
    config = {"hidden": args.hidden} if args.hidden and args.model != "cnn3d" else None
    if args.hidden and args.model == "cnn3d":
        raise HepxaiError("--hidden applies to the graph models; cnn3d has channels instead")
    result = train_run(args.data, out, args.model, args.preset, settings, seed=args.seed,
                       epochs=args.epochs, max_jets=args.max_jets, val_jets=args.val_jets,
                       device=device, resume=args.resume, config=config)
    print(f"best epoch {result.best_epoch} (validation AUC): {out / 'best.pt'}; "
          f"{result.events_per_second:,.0f} training jets/s")


# -- evaluate ---------------------------------------------------------------------------------
def _add_evaluate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, action="append", required=True,
                        help="checkpoint to evaluate (repeat for several models / variants)")
    parser.add_argument("--data", type=Path, default=DATA,
                        help="darkjet data directory (test.h5 is evaluated)")
    parser.add_argument("--split", default="test", choices=["test", "val"],
                        help="which split to evaluate")
    parser.add_argument("--out", type=Path, default=RUNS / "evaluation",
                        help="directory for evaluation.json, the tables and figures")
    parser.add_argument("--max-jets", type=count, default=None,
                        help="evaluate on the first N jets of the split")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=count, default=None,
                        help="torch CPU threads (default: torch's choice; 1 on a busy machine)")


def evaluate_run(checkpoints: list[Path], data: Path, out: Path, *, split: str = "test",
                 max_jets: int | None = None, device: str = "cpu") -> dict:
    """Evaluate, write evaluation.json, metric_table.md, roc.png, scores.png."""
    import numpy as np

    from hepxai.evaluation.darkjet import claims_table, evaluate_models, metric_table
    from hepxai.viz.darkjet import plot_roc, plot_scores

    results = evaluate_models(checkpoints, data, out, device=device, split=split,
                              max_jets=max_jets)
    write_json_atomic(out / "evaluation.json", results)
    table = metric_table(results)
    claims = claims_table(results)
    (out / "metric_table.md").write_text(table + "\n\n" + claims + "\n")
    plot_roc({m["label"]: m["roc"] for m in results["models"]}, out / "roc.png")
    scores = {}
    for m in results["models"]:
        with np.load(m["predictions"]) as saved:
            scores[m["label"]] = (saved["logits"], saved["labels"])
    plot_scores(scores, out / "scores.png")
    results["table_markdown"], results["claims_markdown"] = table, claims
    return results


def _evaluate(args: argparse.Namespace) -> None:
    _threads(args.threads)
    results = evaluate_run(args.checkpoint, args.data, args.out, split=args.split,
                           max_jets=args.max_jets, device=checked_device(args.device))
    print(results["table_markdown"])
    print()
    print(results["claims_markdown"])
    print(f"written: {args.out / 'evaluation.json'}, metric_table.md, roc.png, scores.png")


# -- explain ----------------------------------------------------------------------------------
def _add_explain(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, required=True,
                        help="checkpoint of a graph model (resgnn or gatv2)")
    parser.add_argument("--data", type=Path, default=DATA,
                        help="darkjet data directory (test.h5 jets are explained)")
    parser.add_argument("--out", type=Path, default=RUNS / "explain",
                        help="directory for the attributions (.npz) and figures")
    parser.add_argument("--method", action="append", choices=METHODS, default=None,
                        help="method to run (repeat; default: all of "
                             f"{', '.join(METHODS)})")
    parser.add_argument("--n-jets", type=count, default=200,
                        help="jets to explain (half QCD, half dark photon, from test.h5)")
    parser.add_argument("--steps", type=count, default=50, help="integrated-gradients steps")
    parser.add_argument("--gnnexplainer-epochs", type=count, default=100,
                        help="optimisation steps of GNNExplainer per jet")
    parser.add_argument("--gnnexplainer-jets", type=count, default=40,
                        help="GNNExplainer runs per jet, so it explains only the first N jets")
    parser.add_argument("--top-k", type=count, default=5,
                        help="nodes and edges highlighted in the top-k figures")
    parser.add_argument("--views", type=whole_number, default=2,
                        help="jets per class drawn as 3D graph views (PNG + HTML)")
    parser.add_argument("--cnn-checkpoint", type=Path, default=None,
                        help="a cnn3d checkpoint: compare its voxel saliency with the GNN node "
                             "relevance summed into its voxels (cross_model.json)")
    parser.add_argument("--permutations", type=count, default=50,
                        help="shuffles of the voxel assignment in the cross-model baseline")
    parser.add_argument("--seed", type=seed, default=1, help="seed of the jet selection")
    parser.add_argument("--threads", type=count, default=None,
                        help="torch CPU threads (default: torch's choice; 1 on a busy machine)")


def judge_run(model, graphs, results: dict, out: Path, *, top_k: int = 5, seed: int = 1) -> dict:
    """Judge the attributions (localization, deletion, completeness, agreement): write
    ``judging.json``, ``agreement.png`` and ``deletion_curves.png`` into ``out``."""
    import time

    from hepxai.explain.evaluate.graph import judge_graphs, judging_summary
    from hepxai.viz.darkjet import plot_graph_deletion_curves
    from hepxai.viz.explain import plot_agreement

    start = time.perf_counter()
    judged = judge_graphs(model, graphs, results, k=top_k, seed=seed)
    summary = judging_summary(judged, k=top_k, seconds=time.perf_counter() - start)
    write_json_atomic(out / "judging.json", summary)
    plot_agreement(summary, out / "agreement.png")
    plot_graph_deletion_curves(summary, out / "deletion_curves.png")
    return summary


def cross_model_run(cnn_checkpoint: Path, data: Path, graphs, results: dict, out: Path, *,
                    seed: int = 1, n_permutations: int = 50) -> dict:
    """The 3D-CNN's voxel saliency on the explained test jets against every method's node
    relevance summed into the same voxels; ``cross_model.json`` and ``cross_model.png``."""
    import numpy as np

    from hepxai.data.darkjet.graphs import load_graphs
    from hepxai.data.darkjet.store import split_path
    from hepxai.data.darkjet.voxels import voxelise
    from hepxai.evaluation.darkjet import graph_settings_of
    from hepxai.explain.evaluate.graph import cnn_voxel_saliency, cross_model
    from hepxai.train.checkpoint import load_model, read_checkpoint
    from hepxai.viz.darkjet import plot_cross_model

    cnn = load_model(cnn_checkpoint, use_case="darkjet")
    if cnn.representation != "voxel":
        raise HepxaiError(f"{cnn_checkpoint}: a {cnn.name} checkpoint; --cnn-checkpoint needs "
                          "a cnn3d one")
    settings = graph_settings_of(read_checkpoint(cnn_checkpoint, use_case="darkjet"))
    # the CNN reads the voxelised jets of its own graph variant; rows are test.h5 rows in both
    cnn_graphs = graphs if settings.to_dict() == graphs.settings else load_graphs(
        split_path(data, "test"), settings)
    rows = np.unique(np.concatenate([r.node.event_ids for r in results.values()]))
    saliency = cnn_voxel_saliency(cnn, voxelise(cnn_graphs, rows))
    found, figure = {}, {}
    for name, result in results.items():
        ids = result.node.event_ids
        where = np.searchsorted(rows, ids)
        numbers = cross_model(result.node.values[:, 0], graphs.subset(ids), saliency[where],
                              n_permutations=n_permutations, seed=seed)
        figure[name] = numbers
        found[name] = {k: v for k, v in numbers.items() if k not in ("spearman", "permuted")}
        found[name]["per_jet"] = numbers["spearman"].tolist()
    summary = {"cnn_checkpoint": str(cnn_checkpoint), "cnn_graphs": settings.to_dict(),
               "methods": found}
    write_json_atomic(out / "cross_model.json", summary)
    plot_cross_model(figure, out / "cross_model.png")
    return summary


def explain_run(checkpoint: Path, data: Path, out: Path, *, methods=METHODS, n_jets: int = 200,
                steps: int = 50, gnnexplainer_epochs: int = 100, gnnexplainer_jets: int = 40,
                top_k: int = 5, views: int = 2, seed: int = 1,
                cnn_checkpoint: Path | None = None, n_permutations: int = 50) -> dict:
    """Attributions of a balanced selection of test jets; figures; their judging
    (``judging.json``) and, given a 3D-CNN checkpoint, the cross-model comparison; a summary
    JSON."""
    import numpy as np

    from hepxai.data.darkjet.graphs import load_graphs
    from hepxai.data.darkjet.store import split_path
    from hepxai.evaluation.darkjet import graph_settings_of
    from hepxai.explain.attribution.graph import explain
    from hepxai.explain.attribution.graph import top_k as pick_top_k
    from hepxai.train.checkpoint import load_model, read_checkpoint
    from hepxai.viz.darkjet import (
        graph_html,
        layer_energy_ratio,
        layer_relevance,
        plot_graph_3d,
        plot_layer_saliency,
        plot_top_k,
    )

    state = read_checkpoint(checkpoint, use_case="darkjet")
    settings = graph_settings_of(state)
    model = load_model(checkpoint, use_case="darkjet")
    if model.representation != "graph":
        raise HepxaiError(f"{checkpoint}: a {model.name} checkpoint; the graph explainers need "
                          "resgnn or gatv2")
    if cnn_checkpoint is not None:  # fail before the (long) explanations, not after
        cnn_state = read_checkpoint(cnn_checkpoint, use_case="darkjet")
        if cnn_state["model"] != "cnn3d":
            raise HepxaiError(f"{cnn_checkpoint}: a {cnn_state['model']} checkpoint; "
                              "--cnn-checkpoint needs a cnn3d one")
    graphs = load_graphs(split_path(data, "test"), settings)
    rng = np.random.default_rng(seed)
    half = max(1, n_jets // 2)
    rows = np.sort(np.concatenate([rng.permutation(np.flatnonzero(graphs.y == label))[:half]
                                   for label in (0.0, 1.0)]))
    params = {"saliency-graph": {}, "ig-graph": {"n_steps": steps},
              "gnnexplainer": {"epochs": gnnexplainer_epochs, "seed": seed}}
    ratio = layer_energy_ratio(graphs, rows)
    summary = {"checkpoint": str(checkpoint), "graphs": settings.to_dict(),
               "n_jets": int(rows.size), "methods": {}}
    by_class = {label: rows[graphs.y[rows] == label][:views] for label in (0.0, 1.0)}
    results = {}
    for name in methods:
        chosen = rows
        if name == "gnnexplainer":  # one optimisation per jet: a balanced subset
            per = max(1, gnnexplainer_jets // 2)
            chosen = np.concatenate([rows[graphs.y[rows] == label][:per] for label in (0, 1)])
        result = explain(name, model, graphs, chosen, **params[name])
        results[name] = result
        files = result.save(out, name)
        node = result.node
        values = np.abs(node.values[:, 0]) if name != "ig-graph" else node.values[:, 0]
        sub = graphs.subset(chosen)
        table = layer_relevance(values, node.offsets, sub.layer)
        positions = np.searchsorted(rows, chosen)
        plot_layer_saliency(graphs.pt[chosen], ratio[positions], table, graphs.y[chosen],
                            out / f"{name}-layers.png", method=name)
        figures = {"layers": str(out / f"{name}-layers.png")}
        tops = pick_top_k(node, top_k)
        edge_tops = pick_top_k(result.edge, top_k)
        noise_share = float(np.mean([sub.is_noise[node.offsets[i] + t].mean()
                                     for i, t in enumerate(tops)]))
        for label, picks in by_class.items():
            for row in picks:
                if row not in set(chosen.tolist()):
                    continue
                i = int(np.flatnonzero(chosen == row)[0])
                v = node.event(i)[:, 0]
                e = result.edge.event(i)[:, 0]
                kind = "dp" if label else "qcd"
                stem = out / f"{name}-{kind}-{row}"
                plot_graph_3d(graphs, int(row), f"{stem}-3d.png", values=v, value_label=name)
                graph_html(graphs, int(row), f"{stem}-3d.html", values=v, value_label=name)
                plot_top_k(graphs, int(row), np.abs(v), np.abs(e), top_k, f"{stem}-top{top_k}.png",
                           title=f"{name}: top-{top_k}, {'dark photon' if label else 'QCD'} "
                                 f"jet {row}")
                figures[f"{kind}-{row}"] = {"png": f"{stem}-3d.png", "html": f"{stem}-3d.html",
                                            "top_k": f"{stem}-top{top_k}.png"}
        summary["methods"][name] = {
            "files": {k: str(v) for k, v in files.items()}, "figures": figures,
            "n_jets": int(chosen.size), "params": node.params,
            "top_k_noise_share": noise_share,
            "top_k_edges_example": edge_tops[0].tolist() if edge_tops else [],
            "completeness_error_median": (float(np.median(node.completeness_error()))
                                          if node.outputs is not None else None)}
    judge_run(model, graphs, results, out, top_k=top_k, seed=seed)
    summary["judging"] = str(out / "judging.json")
    if cnn_checkpoint is not None:
        cross_model_run(cnn_checkpoint, data, graphs, results, out, seed=seed,
                        n_permutations=n_permutations)
        summary["cross_model"] = str(out / "cross_model.json")
    write_json_atomic(out / "explain.json", summary)
    return summary


def _explain(args: argparse.Namespace) -> None:
    _threads(args.threads)
    summary = explain_run(args.checkpoint, args.data, args.out,
                          methods=tuple(args.method or METHODS), n_jets=args.n_jets,
                          steps=args.steps, gnnexplainer_epochs=args.gnnexplainer_epochs,
                          gnnexplainer_jets=args.gnnexplainer_jets, top_k=args.top_k,
                          views=args.views, seed=args.seed, cnn_checkpoint=args.cnn_checkpoint,
                          n_permutations=args.permutations)
    for name, info in summary["methods"].items():
        extra = ("" if info["completeness_error_median"] is None
                 else f", median completeness error {info['completeness_error_median']:.3g}")
        print(f"{name:>15}: {info['n_jets']} jets; noise share of the top-{args.top_k} nodes "
              f"{info['top_k_noise_share']:.3f}{extra}")
    judging = json.loads(Path(summary["judging"]).read_text())
    for name in judging["methods"]:
        s = judging["scores"][name]["all"]
        print(f"{name:>15}: non-noise share {_fmt(s['signal_share'])} (base rate "
              f"{_fmt(s['base_rate'])}), AUROC {_fmt(s['auroc'])}, deletion gap "
              f"{_fmt(s['deletion_gap'])}")
    if "cross_model" in summary:
        cross = json.loads(Path(summary["cross_model"]).read_text())["methods"]
        for name, c in cross.items():
            print(f"{name:>15} vs cnn3d saliency: mean Spearman {_fmt(c['mean'])} "
                  f"(shuffled voxels {_fmt(c['permuted_mean'])} +- {_fmt(c['permuted_std'])})")
    print(f"written: {args.out / 'explain.json'}, judging.json, attributions and figures in "
          f"{args.out}")


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


# -- sweep ------------------------------------------------------------------------------------
def _add_sweep(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=DATA, help="darkjet data directory")
    parser.add_argument("--out", type=Path, default=RUNS / "sweep", help="sweep directory")
    parser.add_argument("--preset", default="quick", choices=["quick", "fast", "paper"],
                        help="recipe of every point of the grid")
    _add_graph_options(parser)
    parser.add_argument("--hidden", type=int_list, default=[16, 32],
                        help="hidden widths to try (comma-separated)")
    parser.add_argument("--graphconv", type=int_list, default=[3, 5],
                        help="numbers of GraphConv layers to try")
    parser.add_argument("--gcn", type=int_list, default=[2],
                        help="numbers of GCNConv layers to try")
    parser.add_argument("--epochs", type=count, default=None, help="override the epochs")
    parser.add_argument("--max-jets", type=count, default=20_000,
                        help="training jets of every point")
    parser.add_argument("--val-jets", type=count, default=10_000, help="validation jets")
    parser.add_argument("--seed", type=seed, default=1, help="random seed")
    parser.add_argument("--threads", type=count, default=None, help="torch CPU threads")


def _sweep(args: argparse.Namespace) -> None:
    import itertools

    _threads(args.threads)
    settings = _settings(args)
    rows = []
    grid = list(itertools.product(args.hidden, args.graphconv, args.gcn))
    if any(h < 1 or g < 1 for h, g, _ in grid):
        raise HepxaiError("--hidden and --graphconv values must be at least 1")
    for hidden, n_graph, n_gcn in grid:
        name = f"h{hidden}-graphconv{n_graph}-gcn{n_gcn}"
        out = args.out / name
        config = {"hidden": hidden, "n_graphconv": n_graph, "n_gcn": n_gcn}
        history = out / "history.json"
        if (out / "best.pt").exists() and history.exists():  # finished point: reuse
            runs = json.loads(history.read_text())["history"]
        else:
            runs = train_run(args.data, out, "resgnn", args.preset, settings, seed=args.seed,
                             epochs=args.epochs, max_jets=args.max_jets,
                             val_jets=args.val_jets, config=config, quiet=True).history
        best = max(runs, key=lambda h: h["auc"])
        from hepxai.models.darkjet import create

        rows.append({"name": name, **config, "parameters": create(
            "resgnn", args.preset, **config).n_parameters(), "best_epoch": best["epoch"],
            "auc": best["auc"], "tnr_90": best["tnr_90"], "accuracy": best["accuracy"]})
        print(f"{name}: validation AUC {best['auc']:.4f}, TNR@90 {best['tnr_90']:.4f}")
    rows.sort(key=lambda r: -r["auc"])
    write_json_atomic(args.out / "sweep.json", {"graphs": settings.to_dict(), "points": rows})
    lines = ["| point | parameters | best epoch | val AUC | val TNR@90 | val accuracy |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r['name']} | {r['parameters']:,} | {r['best_epoch']} | {r['auc']:.4f} | "
              f"{r['tnr_90']:.4f} | {r['accuracy']:.4f} |" for r in rows]
    (args.out / "sweep.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


# -- demo -------------------------------------------------------------------------------------
def draw_graph_views(data: Path, out: Path, settings, per_class: int = 2) -> list[dict]:
    """3D views (PNG + interactive HTML), coloured by energy, of the first test jets of each
    class; an index ``graphs.json`` for the report."""
    import numpy as np

    from hepxai.data.darkjet.graphs import load_graphs
    from hepxai.data.darkjet.store import split_path
    from hepxai.viz.darkjet import graph_html, plot_graph_3d

    graphs = load_graphs(split_path(data, "test"), settings)
    views = []
    for label, kind in ((0.0, "qcd"), (1.0, "dp")):
        for row in np.flatnonzero(graphs.y == label)[:per_class]:
            stem = out / f"{kind}-{row}"
            plot_graph_3d(graphs, int(row), f"{stem}-3d.png")
            graph_html(graphs, int(row), f"{stem}-3d.html")
            views.append({"name": f"{kind}-{row}", "png": f"{stem}-3d.png",
                          "html": f"{stem}-3d.html"})
    write_json_atomic(out / "graphs.json", {"settings": settings.to_dict(), "views": views})
    return views


def _add_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=RUNS / "demo",
                        help="directory for data, runs, figures and report.html")
    parser.add_argument("--n", type=count, default=20_000, help="jets per class to simulate")
    parser.add_argument("--preset", default="quick", choices=["quick", "fast", "paper"],
                        help="training recipe of the nine models")
    parser.add_argument("--epochs", type=count, default=None, help="override the epochs")
    parser.add_argument("--max-jets", type=count, default=None,
                        help="training jets per model (default: all of train.h5)")
    parser.add_argument("--n-explain", type=count, default=100, help="jets to explain")
    parser.add_argument("--views", type=whole_number, default=2,
                        help="jets per class drawn as 3D graph views for each method")
    parser.add_argument("--influence-jets", type=count, default=10,
                        help="TracIn: test jets per TP / FP / FN / TN set")
    parser.add_argument("--influence-validation", action="store_true",
                        help="also validate TracIn by kappa pruning: retrain 4 small ResGNNs on "
                             "at most 2,000 training jets (minutes)")
    parser.add_argument("--seed", type=seed, default=1, help="random seed")
    parser.add_argument("--threads", type=count, default=None, help="torch CPU threads")


def influence_run(run: Path, data: Path, out: Path, *, per_category: int = 10, top_k: int = 10,
                  seed: int = 0, threads: int | None = None, validation: bool = False,
                  epochs: int = 2, n_train: int = 2000) -> dict:
    """TracIn of a graph-tagger run, through the steps of ``hepxai influence darkjet``:
    ``precompute`` over the run's training jets at its epoch checkpoints into
    ``out/tracin.npz``, then ``categories`` on the test jets (``out/categories.json``, one
    ``category_SET.npz`` and ``.png`` per TP / FP / FN / TN set); with ``validation`` also
    ``kappa`` pruning at a small size into ``out/kappa/``. Returns the category summary."""
    from hepxai.cli.influence_darkjet import run_step

    common = ["--run", run, "--data", data, "--out", out, "--store", out / "tracin.npz"]
    if threads is not None:
        common += ["--threads", threads]
    run_step(["precompute", *common])
    run_step(["categories", *common, "--per-category", per_category, "--top-k", top_k,
              "--seed", seed])
    if validation:  # small ResGNNs retrained on the demo's gnn-1 graphs
        run_step(["kappa", "--data", data, "--out", out / "kappa", "--variant", "gnn-1",
                  "--n-train", n_train, "--epochs", epochs, "--fractions", "0.3",
                  "--n-random", 1, "--seed", seed,
                  *(["--threads", threads] if threads is not None else [])])
    return json.loads((out / "categories.json").read_text())


def _demo(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from hepxai.data.darkjet.graphs import VARIANTS, GraphSettings
    from hepxai.data.darkjet.store import simulate_dataset
    from hepxai.report.darkjet import write_report

    _threads(args.threads)
    out = args.out
    data = out / "data"
    print(f"1/6 simulating {args.n:,} jets per class into {data}")
    simulate_dataset(data, args.n, seed=args.seed)
    checkpoints = []
    for variant in VARIANTS:
        settings = replace(GraphSettings(), variant=variant)
        for model in ("resgnn", "gatv2", "cnn3d"):
            run = out / "runs" / f"{model}-{variant}"
            print(f"2/6 training {model} on {variant} graphs")
            if not (run / "best.pt").exists():
                train_run(data, run, model, args.preset, settings, seed=args.seed,
                          epochs=args.epochs, max_jets=args.max_jets, quiet=True)
            checkpoints.append(run / "best.pt")
    print("3/6 evaluating the nine models on test.h5")
    results = evaluate_run(checkpoints, data, out / "evaluation")
    print(results["table_markdown"])
    draw_graph_views(data, out / "graphs", GraphSettings(), per_class=args.views)
    print("4/6 explaining resgnn on gnn-1 graphs")
    explain_run(out / "runs" / "resgnn-gnn-1" / "best.pt", data, out / "explain",
                n_jets=args.n_explain, gnnexplainer_jets=min(20, args.n_explain),
                gnnexplainer_epochs=60, views=args.views, seed=args.seed,
                cnn_checkpoint=out / "runs" / "cnn3d-gnn-1" / "best.pt")
    print("5/6 TracIn: training-data influence of resgnn on gnn-1 graphs"
          + (", validated by kappa pruning" if args.influence_validation else ""))
    influence_run(out / "runs" / "resgnn-gnn-1", data, out / "influence",
                  per_category=args.influence_jets, seed=args.seed, threads=args.threads,
                  validation=args.influence_validation, epochs=args.epochs or 2)
    print("6/6 writing the report")
    path = write_report(out)
    print(f"report: {path}")


def _add_report(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, nargs="?", default=None,
                        help="run directory (same as --run)")
    parser.add_argument("--run", type=Path, default=RUNS / "demo",
                        help="run directory holding data/, evaluation/, explain/, graphs/, runs/ "
                             "(the layout 'hepxai demo darkjet' writes)")
    parser.add_argument("--out", type=Path, default=None,
                        help="HTML file to write (default: RUN/report.html)")


def _report(args: argparse.Namespace) -> None:
    from hepxai.report.darkjet import write_report

    print(f"report: {write_report(args.run_dir or args.run, args.out)}")


register("simulate", "darkjet", "simulate QCD and dark-photon jets (calorimeter clusters)",
         _add_simulate, _simulate)
register("train", "darkjet", "train a dark-jet tagger (ResGNN, GATv2, legacy 3D-CNN)",
         _add_train, _train)
register("evaluate", "darkjet", "metric table, ROC / rejection and score figures, poster claims",
         _add_evaluate, _evaluate)
register("explain", "darkjet", "node/edge saliency, integrated gradients, GNNExplainer; "
         "judged, and compared with the 3D-CNN",
         _add_explain, _explain)
register("sweep", "darkjet", "grid sweep of ResGNN widths and depths", _add_sweep, _sweep)
register("demo", "darkjet", "simulate, train 3 models x 3 variants, evaluate, explain, TracIn, "
         "report",
         _add_demo, _demo)
register("report", "darkjet", "the dark-jet HTML report of a run directory", _add_report,
         _report)
