"""``hepxai ... susy``: the SUSY one-lepton search (XGBoost BDT + MLP, SHAP, convergence).

    hepxai simulate susy --preset fast --out data/susy
    hepxai train susy --model bdt --sample full --data data/susy --out runs/susy/bdt-full
    hepxai evaluate susy --run runs/susy/bdt-full --run runs/susy/mlp-full
    hepxai explain susy --run runs/susy/bdt-simplified --run runs/susy/bdt-full ...
    hepxai train susy --model mlp --sample full --shuffle-labels  # runs/susy/mlp-full-shuffled
    hepxai sanity susy --run runs/susy/mlp-full --shuffled runs/susy/mlp-full-shuffled
    hepxai demo susy --preset fast --out runs/susy-demo
    hepxai report susy runs/susy-demo

Every handler parses its options and calls the use case's functions (``generate``, ``task``,
``evaluation``, ``study``, ``demo``, ``report``); the shared options come from
:mod:`hepxai.cli.options`. Importing this module imports nothing heavy: the names offered come
from :mod:`hepxai.usecases.susy.names`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hepxai.cli import options
from hepxai.cli.app import register
from hepxai.cli.arguments import count, non_negative_float
from hepxai.core.atomic import output_directory
from hepxai.core.errors import HepxaiError
from hepxai.models import onnx_export
from hepxai.usecases.susy import names

DATA = Path("data/susy")
RUNS = Path("runs/susy")


def _runs(parser: argparse.ArgumentParser, why: str = "") -> None:
    parser.add_argument("--run", type=Path, action="append", required=True,
                        help=f"run directory of 'hepxai train susy' (repeat{why})")


# -- simulate ---------------------------------------------------------------------------------
def _add_simulate(parser: argparse.ArgumentParser) -> None:
    sizes = ", ".join(f"{name} ({train:,}/{test:,})"
                      for name, (train, test) in names.SIMULATION_PRESETS.items())
    options.out(parser, "train.h5, test.h5", DATA)
    parser.add_argument("--preset", default="fast", choices=list(names.SIMULATION_PRESETS),
                        help=f"events train/test, equal numbers per process: {sizes}")
    parser.add_argument("--n-train", type=count, default=None,
                        help="override the number of training events")
    parser.add_argument("--n-test", type=count, default=None,
                        help="override the number of test events")
    options.seed(parser)
    options.overwrite(parser)


def _simulate(args: argparse.Namespace) -> None:
    from hepxai.usecases.susy.generate import resolve_sizes, simulate_dataset

    sizes = resolve_sizes(args.preset, n_train=args.n_train, n_test=args.n_test)
    summary = simulate_dataset(args.out, sizes, seed=args.seed, overwrite=args.overwrite)
    for split, info in summary.items():
        state = "kept (already complete)" if info["reused"] else f"{info['seconds']:.1f} s"
        print(f"{split:>5}: {info['events']:>9,} events  {info['bytes'] / 1e6:7.1f} MB  "
              f"{info['path']}  [{state}]")
    first = next(iter(summary.values()), None)
    if first:
        print("expected events at 139 fb^-1 stored per process (before preselection): "
              + ", ".join(f"{p} {v['expected_events']:,.0f}"
                          for p, v in first["processes"].items()))


# -- import / export --------------------------------------------------------------------------
def _add_import(parser: argparse.ArgumentParser) -> None:
    options.ntuple_import(parser, use_case="susy", splits=("train", "test"),
                          fractions="0.8,0.2", tree="events")
    parser.add_argument("--sample", default="full", choices=names.SAMPLES,
                        help="the reconstruction the ntuple holds (the other commands' "
                             "--sample)")
    parser.add_argument("--classes", default=None,
                        help="comma-separated class names the label indexes, signal first "
                             "(default: the file's, else signal,ttbar,single_top,wjets,ttv)")
    parser.add_argument("--luminosity", type=non_negative_float, default=None, metavar="FB",
                        help="integrated luminosity [fb^-1] the weights are normalised to "
                             "(default: the file's, if any)")


def _import(args: argparse.Namespace) -> None:
    from hepxai.io.ntuple import import_summary, parse_fractions
    from hepxai.usecases.susy.ntuple import import_ntuples

    classes = [c.strip() for c in args.classes.split(",")] if args.classes else None
    summary = import_ntuples(args.sources, args.out, tree=args.tree, mapping=args.branches,
                             seed=args.seed, overwrite=args.overwrite, sample=args.sample,
                             classes=classes, luminosity_fb=args.luminosity,
                             fractions=parse_fractions(args.fractions, ("train", "test")))
    print(import_summary(summary, "events"))


def _add_export(parser: argparse.ArgumentParser) -> None:
    options.data(parser, DATA, reads="train.h5 and test.h5 are exported")
    options.out(parser, "the exported files", required=True)
    options.export_format(parser, ("root", "h5"),
                          holds="train/test.root TTrees 'events' (one branch per feature, "
                                "label, weight, event_id, presel), or open-data .h5 files of "
                                "the same branches")
    parser.add_argument("--sample", default="full", choices=names.SAMPLES,
                        help="the reconstruction exported (an ntuple holds one)")


def _export(args: argparse.Namespace) -> None:
    from hepxai.usecases.susy.ntuple import export_ntuples

    for split, path in export_ntuples(args.data, args.out, format=args.format,
                                      sample=args.sample).items():
        print(f"{split}: {path}")


# -- train ------------------------------------------------------------------------------------
def _add_train(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, choices=names.MODEL_KINDS,
                        help="bdt: XGBoost multi-class BDT; mlp: fully connected network")
    parser.add_argument("--sample", default="full", choices=names.SAMPLES,
                        help="reconstruction to train on: simplified (truth + light smearing) "
                             "or full (detector-like)")
    parser.add_argument("--preset", default="fast", choices=names.PRESETS,
                        help="model size: quick (tests), fast (laptop), full (benchmark)")
    options.data(parser, DATA, reads="train.h5 trains")
    options.out(parser, "the run (model.json and the model's files)",
                default_text="runs/susy/MODEL-SAMPLE, with -shuffled with --shuffle-labels",
                default_from=lambda args: RUNS / (f"{args.model}-{args.sample}"
                                                  + ("-shuffled" if args.shuffle_labels
                                                     else "")))
    options.max_events(parser, "preselected training events")
    parser.add_argument("--rounds", type=count, default=None,
                        help="BDT: override the preset's number of boosting rounds")
    options.epochs(parser, model="MLP")
    parser.add_argument("--weighting", default="balanced", choices=names.WEIGHTINGS,
                        help="training weights: every class the same total weight, or 1 each")
    parser.add_argument("--shuffle-labels", action="store_true",
                        help="train on labels permuted over the training events (seeded; the "
                             "MLP's held-out events keep theirs): the model of the "
                             "data-randomization check, 'hepxai sanity susy --shuffled'")
    options.seed(parser)
    options.jobs(parser)
    options.overwrite(parser)


def _train(args: argparse.Namespace) -> None:
    from hepxai.usecases.susy.task import train_run

    if args.model == "bdt" and args.epochs is not None:
        raise HepxaiError("--epochs is for the MLP; use --rounds for the BDT")
    if args.model == "mlp" and args.rounds is not None:
        raise HepxaiError("--rounds is for the BDT; use --epochs for the MLP")
    out = args.out  # its default made by options.prepare
    output_directory(out)
    train_run(args.model, args.sample, args.preset, args.data, out, max_events=args.max_events,
              size=args.rounds or args.epochs, weighting=args.weighting, seed=args.seed,
              jobs=args.jobs, overwrite=args.overwrite, shuffle_labels=args.shuffle_labels)


# -- evaluate ---------------------------------------------------------------------------------
def _add_evaluate(parser: argparse.ArgumentParser) -> None:
    _runs(parser, " for several models")
    options.data(parser, DATA, reads="test.h5 is evaluated")
    options.out(parser, "evaluation.json, predictions and figures", RUNS / "evaluation")
    options.max_events(parser, "preselected test events of each sample")
    parser.add_argument("--rel-unc", type=non_negative_float, default=0.2,
                        help="relative background uncertainty in the significance")
    parser.add_argument("--min-background-events", type=int, default=0,
                        help="simulated background events a working point must keep (each "
                             "background process counts at least 1.15 events' worth anyway)")
    parser.add_argument("--signal-efficiency", type=non_negative_float, default=0.5,
                        help="fixed working point: signal efficiency of the cut on P(signal)")


def _evaluate(args: argparse.Namespace) -> None:
    from hepxai.usecases.susy.evaluation import evaluate_to, metric_table, yields_table

    summary = evaluate_to(args.run, args.data, args.out, max_events=args.max_events,
                          rel_unc=args.rel_unc, min_background_events=args.min_background_events,
                          signal_efficiency=args.signal_efficiency)
    print(metric_table(summary))
    print()
    print(yields_table(summary))
    print(f"written: {args.out / 'evaluation.json'}, predictions and figures in {args.out}")


# -- explain ----------------------------------------------------------------------------------
def _add_explain(parser: argparse.ArgumentParser) -> None:
    _runs(parser, ": a BDT on each sample answers simplified vs full, a BDT and an MLP on one "
                  "sample give the convergence")
    options.data(parser, DATA, reads="test.h5 is explained")
    options.out(parser, "explain.json, attributions and figures", RUNS / "explain")
    options.max_events(parser, "test events, preselected in both reconstructions",
                       default=5000)
    parser.add_argument("--engine", default="fast", choices=["fast", "shap", "xgboost"],
                        help="TreeSHAP implementation (identical values): hepxai's tabulated "
                             "one, shap.TreeExplainer, or XGBoost's pred_contribs")
    options.jobs(parser)
    options.judging_seeds(parser, "GradientSHAP")
    options.seed(parser, 0, of="GradientSHAP's sampling")
    parser.add_argument("--no-figures", action="store_true", help="numbers only")


def _explain(args: argparse.Namespace) -> None:
    from hepxai.usecases.susy.study import explain_runs, format_explain

    summary = explain_runs(args.run, args.data, args.out, max_events=args.max_events,
                           engine=args.engine, n_jobs=args.jobs, seed=args.seed,
                           figures=not args.no_figures, n_seeds=args.seeds)
    print(format_explain(summary))
    print(f"written: {args.out / 'explain.json'}, attributions and figures in {args.out}")


# -- sanity -----------------------------------------------------------------------------------
def _add_sanity(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", type=Path, required=True,
                        help="run directory of 'hepxai train susy': the explained model")
    options.data(parser, DATA, reads="test.h5 is explained, train.h5 gives the MLP's "
                                     "reference events")
    options.out(parser, "sanity.json and sanity.png", default_text="sanity/ in the run "
                "directory", default_from=lambda args: args.run / "sanity",
                anchor="run")
    options.sanity(parser, twin="run", methods="the model's: tree-shap for the BDT, "
                   "gradient-shap,ig for the MLP", stochastic="GradientSHAP",
                   orders_default=None,
                   twin_note="the only check of a BDT, which has no layers to randomize")
    parser.add_argument("--events", type=count, default=500,
                        help="test events explained, preselected in the model's sample, "
                             "balanced over the classes and drawn with --seed")
    options.seed(parser, of="the event selection and GradientSHAP's sampling")
    options.jobs(parser)


def _sanity(args: argparse.Namespace) -> None:
    from hepxai.explain.judging.sanity import parse_orders
    from hepxai.usecases.susy.sanity import sanity_run

    orders = None if args.orders is None else parse_orders(args.orders)
    out = args.out  # its default made by options.prepare
    sanity_run(args.run, args.data, out, args.methods, shuffled=args.shuffled,
               events=args.events, seed=args.seed, orders=orders, n_seeds=args.seeds,
               n_jobs=args.jobs)
    print(f"written: {out / 'sanity.json'}, {out / 'sanity.png'}")


# -- demo and report --------------------------------------------------------------------------
def _add_demo(parser: argparse.ArgumentParser) -> None:
    options.out(parser, "data/, runs/, evaluation/, explain/ and report.html; re-running skips "
                        "its finished steps (and replaces data and models made with other "
                        "settings)", "runs/susy-demo")
    parser.add_argument("--preset", default="fast", choices=names.PRESETS,
                        help="data size and model size: quick (1-2 minutes on 2 cores), fast "
                             "(3 minutes on 2 quiet cores), full (the benchmark size, about "
                             "30 minutes)")
    parser.add_argument("--explain-events", type=count, default=None,
                        help="test events to explain (default: 2,000 quick, 5,000 otherwise)")
    options.seed(parser)
    options.jobs(parser)


def _demo(args: argparse.Namespace) -> None:
    import time

    from hepxai.pipeline.steps import finished
    from hepxai.usecases.susy.demo import run_demo
    from hepxai.usecases.susy.study import format_run

    started = time.perf_counter()
    ran = run_demo(args.out, args.preset, seed=args.seed, jobs=args.jobs,
                   explain_events=args.explain_events)
    print(format_run(args.out))
    print(finished(ran, started, args.out / "report.html"))


def _add_report(parser: argparse.ArgumentParser) -> None:
    options.run_dir(parser, "susy")


def _report(args: argparse.Namespace) -> None:
    from hepxai.usecases.susy.report import write_report

    print(f"written: {write_report(args.run_dir)}")


register("simulate", "susy", "simulate SUSY 1-lepton signal and backgrounds (simplified and full "
         "reconstruction of the same events)", _add_simulate, _simulate)
register("import", "susy", "convert ROOT ntuples of the high-level variables into hepxai files",
         _add_import, _import)
register("export", "susy", "write hepxai SUSY files as ROOT or open-data HDF5 ntuples",
         _add_export, _export)
register("train", "susy", "train the multi-class XGBoost BDT or the MLP on one reconstruction",
         _add_train, _train)
register("evaluate", "susy", "per-class ROC/AUC, efficiency vs rejection, significance, yields",
         _add_evaluate, _evaluate)
register("explain", "susy", "TreeSHAP (BDT), GradientSHAP and IG (MLP): importances, simplified "
         "vs full, convergence", _add_explain, _explain)
register("sanity", "susy", "sanity checks of the SUSY explanations: layer randomization (MLP), "
         "label randomization (BDT and MLP), GradientSHAP's seed stability", _add_sanity,
         _sanity)
register("demo", "susy", "simulate, train BDT and MLP on both samples, evaluate, explain, report",
         _add_demo, _demo)
register("report", "susy", "build report.html of a SUSY run directory", _add_report, _report)
register("export-model", "susy", "export a trained torch model to ONNX, checked against "
         "PyTorch on held-out events, both timed", onnx_export.add_arguments, onnx_export.run)
