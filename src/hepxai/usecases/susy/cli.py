"""``hepxai ... susy``: the SUSY one-lepton search (XGBoost BDT + MLP, SHAP, convergence).

    hepxai simulate susy --preset fast --out data/susy
    hepxai train susy --model bdt --sample full --data data/susy --out runs/susy/bdt-full
    hepxai evaluate susy --run runs/susy/bdt-full --run runs/susy/mlp-full
    hepxai explain susy --run runs/susy/bdt-simplified --run runs/susy/bdt-full ...
    hepxai demo susy --preset fast --out runs/susy-demo
    hepxai report susy runs/susy-demo
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from hepxai.cli.app import register
from hepxai.cli.arguments import count, non_negative_float, seed
from hepxai.core.errors import HepxaiError
from hepxai.usecases.susy.evaluation import evaluate_to
from hepxai.usecases.susy.task import train_run

DATA = Path("data/susy")
RUNS = Path("runs/susy")
SAMPLES = ("simplified", "full")
PRESETS = ("quick", "fast", "full")


# -- simulate ---------------------------------------------------------------------------------
def _add_simulate(parser: argparse.ArgumentParser) -> None:
    from hepxai.usecases.susy.generate import PRESETS as SIZES

    sizes = ", ".join(f"{name} ({s.train:,}/{s.test:,})" for name, s in SIZES.items())
    parser.add_argument("--out", type=Path, default=DATA, help="directory for train.h5, test.h5")
    parser.add_argument("--preset", default="fast", choices=list(SIZES),
                        help=f"events train/test, equal numbers per process: {sizes}")
    parser.add_argument("--n-train", type=count, default=None,
                        help="override the number of training events")
    parser.add_argument("--n-test", type=count, default=None,
                        help="override the number of test events")
    parser.add_argument("--seed", type=seed, default=1, help="random seed (0 <= seed < 2**63)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing files made with other settings")


def _simulate(args: argparse.Namespace) -> None:
    from hepxai.usecases.susy.generate import resolve_sizes, simulate_dataset

    sizes = resolve_sizes(args.preset, n_train=args.n_train, n_test=args.n_test)
    summary = simulate_dataset(args.out, sizes, seed=args.seed, overwrite=args.overwrite)
    _print_simulation(summary)


def _print_simulation(summary: dict[str, dict]) -> None:
    for split, info in summary.items():
        state = "kept (already complete)" if info["reused"] else f"{info['seconds']:.1f} s"
        print(f"{split:>5}: {info['events']:>9,} events  {info['bytes'] / 1e6:7.1f} MB  "
              f"{info['path']}  [{state}]")
    first = next(iter(summary.values()), None)
    if first:
        print("expected events at 139 fb^-1 stored per process (before preselection): "
              + ", ".join(f"{p} {v['expected_events']:,.0f}"
                          for p, v in first["processes"].items()))


# -- train ------------------------------------------------------------------------------------
def _add_train(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, choices=["bdt", "mlp"],
                        help="bdt: XGBoost multi-class BDT; mlp: fully connected network")
    parser.add_argument("--sample", default="full", choices=SAMPLES,
                        help="reconstruction to train on: simplified (truth + light smearing) "
                             "or full (detector-like)")
    parser.add_argument("--preset", default="fast", choices=PRESETS,
                        help="model size: quick (tests), fast (laptop), full (benchmark)")
    parser.add_argument("--data", type=Path, default=DATA, help="SUSY data directory")
    parser.add_argument("--out", type=Path, default=None,
                        help="run directory (default: runs/susy/MODEL-SAMPLE)")
    parser.add_argument("--max-events", type=count, default=None,
                        help="train on the first N preselected training events only")
    parser.add_argument("--rounds", type=count, default=None,
                        help="BDT: override the preset's number of boosting rounds")
    parser.add_argument("--epochs", type=count, default=None,
                        help="MLP: override the preset's number of epochs")
    parser.add_argument("--weighting", default="balanced", choices=["balanced", "none"],
                        help="training weights: every class the same total weight, or 1 each")
    parser.add_argument("--seed", type=seed, default=1, help="random seed")
    parser.add_argument("--jobs", type=count, default=None,
                        help="CPU threads (default: all cores)")
    parser.add_argument("--overwrite", action="store_true",
                        help="retrain even if the run directory holds a model with other "
                             "settings")






def _train(args: argparse.Namespace) -> None:
    if args.model == "bdt" and args.epochs is not None:
        raise HepxaiError("--epochs is for the MLP; use --rounds for the BDT")
    if args.model == "mlp" and args.rounds is not None:
        raise HepxaiError("--rounds is for the BDT; use --epochs for the MLP")
    out = args.out or RUNS / f"{args.model}-{args.sample}"
    if out.exists() and not out.is_dir():
        raise HepxaiError(f"{out} is a file, not a directory; choose another --out")
    train_run(args.model, args.sample, args.preset, args.data, out, max_events=args.max_events,
              size=args.rounds or args.epochs, weighting=args.weighting, seed=args.seed,
              jobs=args.jobs, overwrite=args.overwrite)


# -- evaluate ---------------------------------------------------------------------------------
def _add_evaluate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", type=Path, action="append", required=True,
                        help="run directory of 'hepxai train susy' (repeat for several models)")
    parser.add_argument("--data", type=Path, default=DATA,
                        help="SUSY data directory (test.h5 is evaluated)")
    parser.add_argument("--out", type=Path, default=RUNS / "evaluation",
                        help="directory for evaluation.json, predictions and figures")
    parser.add_argument("--max-events", type=count, default=None,
                        help="use the first N preselected test events of each sample")
    parser.add_argument("--rel-unc", type=non_negative_float, default=0.2,
                        help="relative background uncertainty in the significance")
    parser.add_argument("--min-background-events", type=int, default=0,
                        help="simulated background events a working point must keep (each "
                             "background process counts at least 1.15 events' worth anyway)")
    parser.add_argument("--signal-efficiency", type=non_negative_float, default=0.5,
                        help="fixed working point: signal efficiency of the cut on P(signal)")




def _evaluate(args: argparse.Namespace) -> None:
    from hepxai.usecases.susy.evaluation import metric_table, yields_table

    summary = evaluate_to(args.run, args.data, args.out, max_events=args.max_events,
                          rel_unc=args.rel_unc, min_background_events=args.min_background_events,
                          signal_efficiency=args.signal_efficiency)
    print(metric_table(summary))
    print()
    print(yields_table(summary))
    print(f"written: {args.out / 'evaluation.json'}, predictions and figures in {args.out}")


# -- explain ----------------------------------------------------------------------------------
def _add_explain(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", type=Path, action="append", required=True,
                        help="run directory of 'hepxai train susy' (repeat: a BDT on each "
                             "sample answers simplified vs full, a BDT and an MLP on one "
                             "sample give the convergence)")
    parser.add_argument("--data", type=Path, default=DATA, help="SUSY data directory")
    parser.add_argument("--out", type=Path, default=RUNS / "explain",
                        help="directory for explain.json, attributions and figures")
    parser.add_argument("--max-events", type=count, default=5000,
                        help="test events to explain (preselected in both reconstructions)")
    parser.add_argument("--engine", default="fast", choices=["fast", "shap", "xgboost"],
                        help="TreeSHAP implementation (identical values): hepxai's tabulated "
                             "one, shap.TreeExplainer, or XGBoost's pred_contribs")
    parser.add_argument("--jobs", type=count, default=None,
                        help="CPU threads (default: all cores)")
    parser.add_argument("--seed", type=seed, default=0, help="seed of GradientSHAP's sampling")
    parser.add_argument("--no-figures", action="store_true", help="numbers only")


def _set_threads(jobs: int | None) -> None:
    import torch

    if jobs:
        torch.set_num_threads(jobs)


def _explain(args: argparse.Namespace) -> None:
    from hepxai.usecases.susy.study import (
        comparison_table,
        convergence_table,
        explain_runs,
        importance_table,
    )

    _set_threads(args.jobs)
    summary = explain_runs(args.run, args.data, args.out, max_events=args.max_events,
                           engine=args.engine, n_jobs=args.jobs, seed=args.seed,
                           figures=not args.no_figures)
    _print_explain(summary, importance_table, comparison_table, convergence_table)
    print(f"written: {args.out / 'explain.json'}, attributions and figures in {args.out}")


def _print_explain(summary, importance_table, comparison_table, convergence_table) -> None:
    for name, info in summary["attributions"].items():
        print(f"{name}: {summary['n_events']:,} events in {info['seconds']:.1f} s, median "
              f"completeness error {info['completeness_rel_median']:.2e} (relative)")
    print("\nSignal-class importance, mean |attribution| (rank):")
    print(importance_table(summary))
    print("\nSimplified vs full reconstruction (BDT SHAP, signal class, same events):")
    print(comparison_table(summary))
    print("\nConvergence (signal class, class-centred attributions):")
    print(convergence_table(summary))


# -- demo and report --------------------------------------------------------------------------
def _add_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("runs/susy-demo"),
                        help="run directory (data/, runs/, evaluation/, explain/, report.html); "
                             "re-running skips its finished steps (and replaces data and "
                             "models made with other settings)")
    parser.add_argument("--preset", default="fast", choices=PRESETS,
                        help="data size and model size: quick (1-2 minutes on 2 cores), fast "
                             "(3 minutes on 2 quiet cores), full (the benchmark size, about "
                             "30 minutes)")
    parser.add_argument("--explain-events", type=count, default=None,
                        help="test events to explain (default: 2,000 quick, 5,000 otherwise)")
    parser.add_argument("--seed", type=seed, default=1, help="random seed")
    parser.add_argument("--jobs", type=count, default=None,
                        help="CPU threads (default: all cores)")


def _demo(args: argparse.Namespace) -> None:
    from hepxai.pipeline.steps import finished
    from hepxai.usecases.susy.demo import run_demo
    from hepxai.usecases.susy.evaluation import metric_table
    from hepxai.usecases.susy.study import comparison_table, convergence_table, importance_table

    started = time.perf_counter()
    ran = run_demo(args.out, args.preset, seed=args.seed, jobs=args.jobs,
                   explain_events=args.explain_events)
    evaluation = json.loads((args.out / "evaluation" / "evaluation.json").read_text())
    explanation = json.loads((args.out / "explain" / "explain.json").read_text())
    print(metric_table(evaluation))
    _print_explain(explanation, importance_table, comparison_table, convergence_table)
    print(finished(ran, started, args.out / "report.html"))


def _add_report(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="run directory of 'hepxai demo susy'")


def _report(args: argparse.Namespace) -> None:
    from hepxai.usecases.susy.report import write_report

    print(f"written: {write_report(args.run_dir)}")


register("simulate", "susy", "simulate SUSY 1-lepton signal and backgrounds (simplified and full "
         "reconstruction of the same events)", _add_simulate, _simulate)
register("train", "susy", "train the multi-class XGBoost BDT or the MLP on one reconstruction",
         _add_train, _train)
register("evaluate", "susy", "per-class ROC/AUC, efficiency vs rejection, significance, yields",
         _add_evaluate, _evaluate)
register("explain", "susy", "TreeSHAP (BDT), GradientSHAP and IG (MLP): importances, simplified "
         "vs full, convergence", _add_explain, _explain)
register("demo", "susy", "simulate, train BDT and MLP on both samples, evaluate, explain, report",
         _add_demo, _demo)
register("report", "susy", "build report.html of a SUSY run directory", _add_report, _report)
