"""``hepxai ... darkjet``: dark-photon jets vs QCD jets as graphs (DarkJetGraphs)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hepxai.cli.app import register
from hepxai.cli.arguments import checked_device, count, int_list, positive_float, seed, whole_number
from hepxai.core.atomic import write_json_atomic
from hepxai.core.errors import HepxaiError
from hepxai.usecases.darkjet.study import METHODS, evaluate_run, explain_run, train_run

DATA = Path("data/darkjet")
RUNS = Path("runs/darkjet")


def _threads(value: int | None) -> None:
    if value is not None:
        import torch

        torch.set_num_threads(value)


# -- simulate ---------------------------------------------------------------------------------
def _add_simulate(parser: argparse.ArgumentParser) -> None:
    from hepxai.usecases.darkjet.store import DEFAULT_PER_CLASS

    parser.add_argument("--out", type=Path, default=DATA,
                        help="directory for train.h5, val.h5 and test.h5")
    parser.add_argument("--n", type=count, default=DEFAULT_PER_CLASS,
                        help="jets per class (QCD and dark photon), split 80/10/10 into "
                             "train/val/test; the slides used ~400k per class")
    parser.add_argument("--seed", type=seed, default=1, help="random seed (0 <= seed < 2**63)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing files made with other settings")


def _simulate(args: argparse.Namespace) -> None:
    from hepxai.usecases.darkjet.store import simulate_dataset

    summary = simulate_dataset(args.out, args.n, seed=args.seed, overwrite=args.overwrite)
    for split, info in summary.items():
        state = "kept (already complete)" if info["reused"] else f"{info['seconds']:.1f} s"
        print(f"{split:>5}: {info['jets']:>9,} jets  {info['bytes'] / 1e6:8.1f} MB  "
              f"{info['path']}  [{state}]")


# -- graph settings ---------------------------------------------------------------------------
def _add_graph_options(parser: argparse.ArgumentParser) -> None:
    from hepxai.usecases.darkjet.graphs import METRICS, VARIANTS, GraphSettings

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
    from hepxai.usecases.darkjet.graphs import GraphSettings

    return GraphSettings(variant=args.variant, metric=args.metric,
                         radius_factor=args.radius_factor, layer_spacing=args.layer_spacing,
                         cone=args.cone)


# -- train ------------------------------------------------------------------------------------
def _add_train(parser: argparse.ArgumentParser) -> None:
    from hepxai.usecases.darkjet.models import MODELS, PRESETS

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
        from hepxai.usecases.darkjet.models import create

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


def _demo(args: argparse.Namespace) -> None:
    import time

    from hepxai.pipeline.steps import finished
    from hepxai.usecases.darkjet.demo import DemoSettings, run_demo

    started = time.perf_counter()
    ran = run_demo(args.out, DemoSettings(
        n=args.n, preset=args.preset, epochs=args.epochs, max_jets=args.max_jets,
        n_explain=args.n_explain, views=args.views, influence_jets=args.influence_jets,
        influence_validation=args.influence_validation, seed=args.seed, threads=args.threads))
    print(finished(ran, started, args.out / "report.html"))


def _add_report(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, nargs="?", default=None,
                        help="run directory (same as --run)")
    parser.add_argument("--run", type=Path, default=RUNS / "demo",
                        help="run directory holding data/, evaluation/, explain/, graphs/, runs/ "
                             "(the layout 'hepxai demo darkjet' writes)")
    parser.add_argument("--out", type=Path, default=None,
                        help="HTML file to write (default: RUN/report.html)")
    parser.add_argument("--views", type=whole_number, default=None, metavar="N",
                        help="first draw N test jets per class of RUN/data as 3D graph views "
                             "(PNG + HTML, default graph settings) into RUN/graphs (default: "
                             "show the views already there)")


def _report(args: argparse.Namespace) -> None:
    from hepxai.usecases.darkjet.report import write_report

    run = args.run_dir or args.run
    if args.views is not None:
        from hepxai.usecases.darkjet.graphs import GraphSettings
        from hepxai.usecases.darkjet.study import draw_graph_views

        draw_graph_views(run / "data", run / "graphs", GraphSettings(), per_class=args.views)
    print(f"report: {write_report(run, args.out)}")


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

# ``hepxai influence darkjet`` registers itself on import
from hepxai.usecases.darkjet import cli_influence  # noqa: E402, F401
