"""``hepxai ... darkjet``: dark-photon jets vs QCD jets as graphs (DarkJetGraphs).

Every handler parses its options and calls :mod:`hepxai.usecases.darkjet.study` (or the store,
demo and report modules); the shared options come from :mod:`hepxai.cli.options`. Importing
this module imports nothing heavy: the names offered come from
:mod:`hepxai.usecases.darkjet.names` and :mod:`hepxai.usecases.darkjet.graph_settings`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hepxai.cli import options
from hepxai.cli.app import register
from hepxai.cli.arguments import (
    count,
    int_list,
    positive_float,
    positive_float_list,
    whole_number,
)
from hepxai.core.errors import HepxaiError
from hepxai.models import onnx_export
from hepxai.usecases.darkjet import names

DATA = Path("data/darkjet")
RUNS = Path("runs/darkjet")


def _preset(parser: argparse.ArgumentParser, default: str, help_text: str) -> None:
    parser.add_argument("--preset", default=default, choices=names.PRESETS, help=help_text)


def _views(parser: argparse.ArgumentParser, default: int) -> None:
    parser.add_argument("--views", type=whole_number, default=default,
                        help="jets per class drawn as 3D graph views (PNG + HTML) for each "
                             "method")


# -- simulate ---------------------------------------------------------------------------------
def _add_simulate(parser: argparse.ArgumentParser) -> None:
    options.out(parser, "train.h5, val.h5 and test.h5", DATA)
    parser.add_argument("--n", type=count, default=names.DEFAULT_PER_CLASS,
                        help="jets per class (QCD and dark photon), split 80/10/10 into "
                             "train/val/test; the slides used ~400k per class")
    options.seed(parser)
    options.overwrite(parser)


def _simulate(args: argparse.Namespace) -> None:
    from hepxai.usecases.darkjet.store import simulate_dataset

    summary = simulate_dataset(args.out, args.n, seed=args.seed, overwrite=args.overwrite)
    for split, info in summary.items():
        state = "kept (already complete)" if info["reused"] else f"{info['seconds']:.1f} s"
        print(f"{split:>5}: {info['jets']:>9,} jets  {info['bytes'] / 1e6:8.1f} MB  "
              f"{info['path']}  [{state}]")


# -- import / export --------------------------------------------------------------------------
def _add_import(parser: argparse.ArgumentParser) -> None:
    options.ntuple_import(parser, use_case="darkjet", splits=("train", "val", "test"),
                          fractions="0.8,0.1,0.1", tree="jets")


def _import(args: argparse.Namespace) -> None:
    from hepxai.io.ntuple import import_summary, parse_fractions
    from hepxai.usecases.darkjet.ntuple import import_ntuples

    summary = import_ntuples(args.sources, args.out, tree=args.tree, mapping=args.branches,
                             seed=args.seed, overwrite=args.overwrite,
                             fractions=parse_fractions(args.fractions, ("train", "val", "test")))
    print(import_summary(summary, "jets"))


def _add_export(parser: argparse.ArgumentParser) -> None:
    options.data(parser, DATA, reads="train.h5, val.h5 and test.h5 are exported")
    options.out(parser, "the exported files", required=True)
    options.export_format(parser, ("root", "h5"),
                          holds="train/val/test.root TTrees 'jets' (cluster_eta, "
                                "cluster_energy..., label, jet_pt...), or open-data .h5 files "
                                "of the same branches")


def _export(args: argparse.Namespace) -> None:
    from hepxai.usecases.darkjet.ntuple import export_ntuples

    for split, path in export_ntuples(args.data, args.out, format=args.format).items():
        print(f"{split}: {path}")


# -- graph settings ---------------------------------------------------------------------------
def _add_graph_options(parser: argparse.ArgumentParser) -> None:
    from hepxai.usecases.darkjet.graph_settings import METRICS, VARIANTS, GraphSettings

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
    from hepxai.usecases.darkjet.graph_settings import GraphSettings

    return GraphSettings(variant=args.variant, metric=args.metric,
                         radius_factor=args.radius_factor, layer_spacing=args.layer_spacing,
                         cone=args.cone)


# -- train ------------------------------------------------------------------------------------
def _add_train(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="resgnn", choices=names.MODELS,
                        help="resgnn (GraphConv x5 + GCNConv x2), gatv2 (attention) or cnn3d "
                             "(legacy 3D-CNN on voxelised jets)")
    _preset(parser, "fast", "quick: seconds (tests); fast: CPU; paper: the slides' scale")
    options.data(parser, DATA, reads="train.h5 trains, val.h5 validates")
    options.out(parser, "the run (checkpoints, history, curves)",
                default_text="runs/darkjet/MODEL-VARIANT-PRESET, with -shuffled with "
                             "--shuffle-labels",
                default_from=lambda args: RUNS / (f"{args.model}-{args.variant}-{args.preset}"
                                                  + ("-shuffled" if args.shuffle_labels
                                                     else "")))
    _add_graph_options(parser)
    parser.add_argument("--hidden", type=count, default=None,
                        help="override the preset's hidden width (graph models)")
    parser.add_argument("--shuffle-labels", action="store_true",
                        help="train on the jet labels permuted over the training jets (seeded; "
                             "validation labels stay true): the model of the data-"
                             "randomization check, 'hepxai sanity darkjet --shuffled'")
    options.epochs(parser)
    options.max_events(parser, "training jets", unit="jets")
    options.val_events(parser, unit="jets")
    options.seed(parser)
    options.device(parser)
    options.threads(parser)
    options.resume(parser)


def _train(args: argparse.Namespace) -> None:
    from hepxai.usecases.darkjet.study import train_run

    settings = _settings(args)
    out = args.out  # its default made by options.prepare
    if args.hidden and args.model == "cnn3d":
        raise HepxaiError("--hidden applies to the graph models; cnn3d has channels instead")
    config = {"hidden": args.hidden} if args.hidden else None
    result = train_run(args.data, out, args.model, args.preset, settings, seed=args.seed,
                       epochs=args.epochs, max_jets=args.max_jets, val_jets=args.val_jets,
                       device=args.device, resume=args.resume, config=config,
                       shuffle_labels=args.shuffle_labels)
    print(f"best epoch {result.best_epoch} (validation AUC): {out / 'best.pt'}; "
          f"{result.events_per_second:,.0f} training jets/s")


# -- evaluate ---------------------------------------------------------------------------------
def _add_evaluate(parser: argparse.ArgumentParser) -> None:
    options.checkpoint(parser, "a model to evaluate (models, variants)", repeat=True)
    options.data(parser, DATA, reads="test.h5, or val.h5 with --split val, is evaluated")
    parser.add_argument("--split", default="test", choices=["test", "val"],
                        help="which split to evaluate")
    options.out(parser, "evaluation.json, the tables and figures", RUNS / "evaluation")
    options.max_events(parser, "jets of the split", unit="jets")
    options.device(parser)
    options.threads(parser)


def _evaluate(args: argparse.Namespace) -> None:
    from hepxai.usecases.darkjet.study import evaluate_run

    results = evaluate_run(args.checkpoint, args.data, args.out, split=args.split,
                           max_jets=args.max_jets, device=args.device)
    print(results["table_markdown"])
    print()
    print(results["claims_markdown"])
    print(f"written: {args.out / 'evaluation.json'}, metric_table.md, roc.png, scores.png")


# -- explain ----------------------------------------------------------------------------------
def _method_options(parser: argparse.ArgumentParser) -> None:
    """The settings of the graph methods, the same in ``explain`` and ``sanity``."""
    parser.add_argument("--steps", type=count, default=50, help="integrated-gradients steps")
    parser.add_argument("--gnnexplainer-epochs", type=count, default=names.GNNEXPLAINER_EPOCHS,
                        help="optimisation steps of GNNExplainer per jet (chosen by "
                             "bench/gnnexplainer.py)")
    parser.add_argument("--gnnexplainer-lr", type=positive_float, default=names.GNNEXPLAINER_LR,
                        help="GNNExplainer's Adam learning rate on the mask logits")


def _add_explain(parser: argparse.ArgumentParser) -> None:
    options.checkpoint(parser, "the explained graph model (resgnn or gatv2)")
    options.data(parser, DATA, reads="test.h5 jets are explained")
    options.out(parser, "the attributions (.npz), judging and figures", RUNS / "explain")
    parser.add_argument("--methods", default=None, metavar="LIST",
                        help="comma-separated methods, as in the other use cases (default: "
                             f"{','.join(names.METHODS)})")
    parser.add_argument("--method", action="append", choices=names.METHODS, default=None,
                        help=argparse.SUPPRESS)  # the older spelling, one method per flag
    parser.add_argument("--n-jets", type=count, default=200,
                        help="jets to explain (half QCD, half dark photon, from test.h5)")
    _method_options(parser)
    parser.add_argument("--gnnexplainer-jets", type=count, default=40,
                        help="GNNExplainer runs per jet, so it explains only the first N jets")
    parser.add_argument("--gnnexplainer-restarts", type=count, default=1,
                        help="average each jet's masks over N optimisations from different "
                             "random starts")
    parser.add_argument("--samples-from", type=Path, default=None, metavar="SANITY_JSON",
                        help="sanity.json of 'hepxai sanity darkjet': GNNExplainer averages as "
                             "many restarts as its seed-stability study predicts two such "
                             "averages need to agree at 0.9 (Spearman-Brown; a lower bound "
                             f"for GNNExplainer, bench/seed_averaging.py; at most "
                             f"{names.MAX_RESTARTS})")
    parser.add_argument("--top-k", type=count, default=5,
                        help="nodes and edges highlighted in the top-k figures")
    _views(parser, 2)
    parser.add_argument("--cnn-checkpoint", type=Path, default=None,
                        help="a cnn3d checkpoint: compare its voxel saliency with the GNN node "
                             "relevance summed into its voxels (cross_model.json)")
    parser.add_argument("--permutations", type=count, default=50,
                        help="shuffles of the voxel assignment in the cross-model baseline")
    options.judging_seeds(parser, "GNNExplainer")
    options.seed(parser, of="the jet selection and of GNNExplainer's random starts")
    options.threads(parser)


def _explain_methods(args: argparse.Namespace) -> tuple[str, ...]:
    """``--methods a,b`` (or the older ``--method a --method b``), checked; default all."""
    chosen = [m.strip() for m in (args.methods or "").split(",") if m.strip()] + \
        list(args.method or [])
    unknown = sorted(set(chosen) - set(names.METHODS))
    if unknown:
        raise HepxaiError(f"--methods: unknown {', '.join(unknown)}; choose from "
                          f"{','.join(names.METHODS)}")
    return tuple(dict.fromkeys(chosen)) or tuple(names.METHODS)


def _explain(args: argparse.Namespace) -> None:
    from hepxai.usecases.darkjet.study import explain_run, format_explain

    summary = explain_run(args.checkpoint, args.data, args.out,
                          methods=_explain_methods(args), n_jets=args.n_jets,
                          steps=args.steps, gnnexplainer_epochs=args.gnnexplainer_epochs,
                          gnnexplainer_lr=args.gnnexplainer_lr,
                          gnnexplainer_jets=args.gnnexplainer_jets,
                          gnnexplainer_restarts=args.gnnexplainer_restarts,
                          samples_from=args.samples_from, top_k=args.top_k,
                          views=args.views, seed=args.seed, cnn_checkpoint=args.cnn_checkpoint,
                          n_permutations=args.permutations, n_seeds=args.seeds)
    print(format_explain(summary, args.top_k))
    print(f"written: {args.out / 'explain.json'}, judging.json, attributions and figures in "
          f"{args.out}")


# -- sanity -----------------------------------------------------------------------------------
def _add_sanity(parser: argparse.ArgumentParser) -> None:
    options.checkpoint(parser, "the explained tagger (e.g. runs/darkjet/resgnn-gnn-1-fast/"
                               "best.pt; resgnn, gatv2 or cnn3d)")
    options.data(parser, DATA, reads="test.h5 jets are explained")
    options.out(parser, "sanity.json and sanity.png", default_text="sanity/ next to the "
                "checkpoint", default_from=lambda args: args.checkpoint.parent / "sanity",
                anchor="checkpoint")
    options.sanity(parser, twin="checkpoint",
                   methods=f"all of the model's: {','.join(names.METHODS)} for resgnn and "
                           f"gatv2, {','.join(names.VOXEL_METHODS)} (on the voxels) for cnn3d",
                   stochastic="GNNExplainer")
    parser.add_argument("--jets", type=count, default=100,
                        help="test jets checked (half QCD, half dark photon, drawn as by "
                             "'hepxai explain darkjet' with the same seed)")
    parser.add_argument("--gnnexplainer-jets", type=count, default=20,
                        help="GNNExplainer learns one mask per jet and per randomized model, "
                             "so it checks a balanced subset of N of the jets")
    _method_options(parser)
    options.seed(parser, of="the jet selection and GNNExplainer (the first of --seeds)")
    options.threads(parser)


def _sanity(args: argparse.Namespace) -> None:
    from hepxai.explain.judging.sanity import parse_orders
    from hepxai.usecases.darkjet.sanity import sanity_run

    orders = parse_orders(args.orders)
    out = args.out  # its default made by options.prepare
    sanity_run(args.checkpoint, args.data, out, args.methods, shuffled=args.shuffled,
               n_jets=args.jets, seed=args.seed, orders=orders, seeds=args.seeds,
               steps=args.steps, gnnexplainer_jets=args.gnnexplainer_jets,
               gnnexplainer_epochs=args.gnnexplainer_epochs,
               gnnexplainer_lr=args.gnnexplainer_lr)
    print(f"written: {out / 'sanity.json'}, {out / 'sanity.png'}")


# -- sweep ------------------------------------------------------------------------------------
def _add_sweep(parser: argparse.ArgumentParser) -> None:
    options.data(parser, DATA, reads="train.h5 trains, val.h5 validates")
    options.out(parser, "one run per grid point, sweep.json and sweep.md", RUNS / "sweep")
    _preset(parser, "quick", "recipe of every point of the grid")
    _add_graph_options(parser)
    parser.add_argument("--hidden", type=int_list, default=[16, 32],
                        help="hidden widths to try (comma-separated)")
    parser.add_argument("--graphconv", type=int_list, default=[3, 5],
                        help="numbers of GraphConv layers to try")
    parser.add_argument("--gcn", type=int_list, default=[2],
                        help="numbers of GCNConv layers to try (ResGNN)")
    parser.add_argument("--model", default="resgnn", choices=("resgnn", "gatv2"),
                        help="the graph tagger swept")
    parser.add_argument("--layers", type=int_list, default=[5],
                        help="numbers of GATv2 attention layers to try (GATv2)")
    parser.add_argument("--learning-rates", type=positive_float_list, default=None,
                        metavar="LIST", help="learning rates to try (default: the preset's)")
    parser.add_argument("--batch-sizes", type=int_list, default=None, metavar="LIST",
                        help="batch sizes to try (default: the preset's)")
    parser.add_argument("--radius-factors", type=positive_float_list, default=None,
                        metavar="LIST",
                        help="graph radius factors to try (default: --radius-factor)")
    options.epochs(parser)
    options.max_events(parser, "training jets at every point", default=20_000, unit="jets")
    options.val_events(parser, 10_000, unit="jets")
    options.seed(parser)
    options.threads(parser)


def _sweep(args: argparse.Namespace) -> None:
    from hepxai.usecases.darkjet.study import sweep_run, sweep_table

    rows = sweep_run(args.data, args.out, args.preset, _settings(args), hidden=args.hidden,
                     graphconv=args.graphconv, gcn=args.gcn, epochs=args.epochs,
                     max_jets=args.max_jets, val_jets=args.val_jets, seed=args.seed,
                     model=args.model, layers=args.layers, learning_rates=args.learning_rates,
                     batch_sizes=args.batch_sizes, radius_factors=args.radius_factors,
                     on_point=lambda r: print(f"{r['name']}: validation AUC {r['auc']:.4f}, "
                                              f"TNR@90 {r['tnr_90']:.4f}"))
    print(sweep_table(rows))


# -- demo and report --------------------------------------------------------------------------
def _add_demo(parser: argparse.ArgumentParser) -> None:
    from hepxai.usecases.darkjet.demo import DemoSettings

    defaults = DemoSettings()
    options.out(parser, "data, runs, figures and report.html; re-running reuses its finished "
                        "steps", RUNS / "demo")
    parser.add_argument("--n", type=count, default=defaults.n, help="jets per class to simulate")
    _preset(parser, defaults.preset, "training recipe of the nine models")
    options.epochs(parser)
    options.max_events(parser, "training jets of each model (default: all of train.h5)",
                       unit="jets")
    parser.add_argument("--n-explain", type=count, default=defaults.n_explain,
                        help="jets to explain")
    _views(parser, defaults.views)
    parser.add_argument("--influence-jets", type=count, default=defaults.influence_jets,
                        help="TracIn: test jets per TP / FP / FN / TN set")
    parser.add_argument("--influence-validation", action="store_true",
                        help="also validate TracIn by kappa pruning: retrain 4 small ResGNNs on "
                             "at most 2,000 training jets (minutes)")
    options.seed(parser, defaults.seed)
    options.threads(parser)


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
    options.run_dir(parser, "darkjet", same_as="--run")
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
        from hepxai.usecases.darkjet.graph_settings import GraphSettings
        from hepxai.usecases.darkjet.study import draw_graph_views

        draw_graph_views(run / "data", run / "graphs", GraphSettings(), per_class=args.views)
    print(f"report: {write_report(run, args.out)}")


register("simulate", "darkjet", "simulate QCD and dark-photon jets (calorimeter clusters)",
         _add_simulate, _simulate)
register("import", "darkjet", "convert ROOT ntuples of jets and clusters into hepxai files",
         _add_import, _import)
register("export", "darkjet", "write hepxai dark-jet files as ROOT or open-data HDF5 ntuples",
         _add_export, _export)
register("train", "darkjet", "train a dark-jet tagger (ResGNN, GATv2, legacy 3D-CNN)",
         _add_train, _train)
register("evaluate", "darkjet", "metric table, ROC / rejection and score figures, poster claims",
         _add_evaluate, _evaluate)
register("explain", "darkjet", "node/edge saliency, integrated gradients, GNNExplainer; "
         "judged, and compared with the 3D-CNN", _add_explain, _explain)
register("sanity", "darkjet", "sanity checks of the dark-jet explanations: layer and label "
         "randomization, GNNExplainer's seed stability", _add_sanity, _sanity)
register("sweep", "darkjet", "grid sweep of a graph tagger (ResGNN or GATv2): width, depth, "
         "learning rate, batch size, graph radius", _add_sweep, _sweep)
register("demo", "darkjet", "simulate, train 3 models x 3 variants, evaluate, explain, TracIn, "
         "report", _add_demo, _demo)
register("report", "darkjet", "the dark-jet HTML report of a run directory", _add_report,
         _report)

register("export-model", "darkjet", "export a trained torch model to ONNX, checked against "
         "PyTorch on held-out events, both timed", onnx_export.add_arguments, onnx_export.run)

# ``hepxai influence darkjet`` registers itself on import
from hepxai.usecases.darkjet import cli_influence  # noqa: E402, F401
