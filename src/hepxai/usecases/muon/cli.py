"""``hepxai ... muon``: the RPC L0 muon trigger use case.

Every handler parses its options and calls the use case's functions (``generate``,
``published``, ``baselines``, ``task``, ``evaluation``, ``study``, ``demo``, ``report``); the
shared options come from :mod:`hepxai.cli.options`. Importing this module imports nothing
heavy: the names offered come from :mod:`hepxai.usecases.muon.names`.
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
    probability,
    probability_list,
    whole_number,
)
from hepxai.core.errors import HepxaiError
from hepxai.models import onnx_export
from hepxai.usecases.muon import names

DATA = Path("data/muon")
RUNS = Path("runs/muon")


# -- simulate ---------------------------------------------------------------------------------
def _add_simulate(parser: argparse.ArgumentParser) -> None:
    options.out(parser, "train.h5, val.h5 and noise.h5", DATA)
    sizes = ", ".join(f"{name} ({train:,}/{val:,}/{noise:,})"
                      for name, (train, val, noise) in names.SIMULATION_PRESETS.items())
    parser.add_argument("--preset", default="fast", choices=list(names.SIMULATION_PRESETS),
                        help=f"split sizes train/val/only-noise: {sizes}")
    parser.add_argument("--n", type=whole_number, default=None,
                        help="instead of a preset: N muon events split 90/10 into train/val, "
                             "plus N only-noise events")
    for split in ("train", "val", "noise"):
        parser.add_argument(f"--n-{split}", type=whole_number, default=None,
                            help=f"override the number of {split} events (0 skips the split)")
    options.seed(parser)
    parser.add_argument("--workers", type=count, default=None,
                        help="worker processes (default: all cores); output does not depend "
                             "on it")
    options.overwrite(parser)


def _simulate(args: argparse.Namespace) -> None:
    from hepxai.usecases.muon.generate import resolve_sizes, simulate_dataset

    sizes = resolve_sizes(args.preset, args.n, n_train=args.n_train, n_val=args.n_val,
                          n_noise=args.n_noise)
    summary = simulate_dataset(args.out, sizes, seed=args.seed, workers=args.workers,
                               overwrite=args.overwrite)
    for split, info in summary.items():
        state = "kept (already complete)" if info["reused"] else f"{info['seconds']:.1f} s"
        print(f"{split:>6}: {info['events']:>9,} events  {info['bytes'] / 1e6:8.1f} MB  "
              f"{info['path']}  [{state}]")


# -- import / export --------------------------------------------------------------------------
def _add_import(parser: argparse.ArgumentParser) -> None:
    options.ntuple_import(parser, use_case="muon", splits=("train", "val", "noise"),
                          fractions="0.9,0.1", tree="events",
                          also="; or a folder of the published numpy layout "
                               "(train_/test_images_with_noise.npy, ..._labels.npy)")
    parser.add_argument("--noise-tree", default=None,
                        help="tree of the only-noise events in --noise-file (default: 'noise')")
    parser.add_argument("--noise-file", type=Path, default=None,
                        help="only-noise events: a ROOT / open-data .h5 file (hits only), or "
                             "for the numpy layout a .npy of images (N, 9, 384)")


def _import(args: argparse.Namespace) -> None:
    from hepxai.io.ntuple import import_summary, parse_fractions
    from hepxai.usecases.muon.ntuple import import_ntuples
    from hepxai.usecases.muon.published import import_published, is_published_folder

    if len(args.sources) == 1 and is_published_folder(args.sources[0]):
        for split, path in import_published(args.sources[0], args.out, args.noise_file,
                                            overwrite=args.overwrite).items():
            print(f"{split:>6}: {path}")
        return
    summary = import_ntuples(args.sources, args.out, tree=args.tree, noise_tree=args.noise_tree,
                             noise_files=[args.noise_file] if args.noise_file else [],
                             mapping=args.branches, seed=args.seed, overwrite=args.overwrite,
                             fractions=parse_fractions(args.fractions, ("train", "val")))
    print(import_summary(summary, "events"))


def _add_export(parser: argparse.ArgumentParser) -> None:
    options.data(parser, DATA, reads="its splits are exported")
    options.out(parser, "the exported files", required=True)
    options.export_format(parser, ("numpy", "root", "h5"),
                          holds="the published .npy layout of the thesis, or train/val/"
                                "noise.root TTrees (hit_layer, hit_strip, pt, eta, phi...), or "
                                "open-data .h5 files of the same branches")


def _export(args: argparse.Namespace) -> None:
    if args.format == "numpy":
        from hepxai.usecases.muon.published import export_published

        written = export_published(args.data, args.out)
    else:
        from hepxai.usecases.muon.ntuple import export_ntuples

        written = export_ntuples(args.data, args.out, format=args.format)
    for name, path in written.items():
        print(f"{name}: {path}")


# -- baselines --------------------------------------------------------------------------------
def _add_baselines(parser: argparse.ArgumentParser) -> None:
    options.data(parser, DATA, reads="val.h5 is evaluated, train.h5 sizes the coincidence "
                                     "windows, noise.h5 gives fake rates")
    options.out(parser, "baselines.json and the figures", RUNS / "baselines")
    options.max_events(parser, "events of each split")


def _baselines(args: argparse.Namespace) -> None:
    from hepxai.usecases.muon.baselines.table import baselines_to, format_table

    results = baselines_to(args.data, args.out, max_events=args.max_events)
    print(format_table(results["table"]))
    print(f"written: {args.out / 'baselines.json'}, turn-on and resolution figures in "
          f"{args.out}")


# -- train ------------------------------------------------------------------------------------
def _add_train(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, choices=[*names.MODELS, names.DECISION_TREE],
                        help="model to train (decision-tree: scikit-learn, on the flattened "
                             "image)")
    parser.add_argument("--preset", default="fast", choices=names.PRESETS,
                        help="'paper': the thesis' exact layers and recipe; 'fast': for CPUs")
    options.data(parser, DATA, reads="train.h5 trains, val.h5 validates")
    options.out(parser, "the run (checkpoints, history, curves)",
                default_text="runs/muon/MODEL-PRESET, with -distilled when a teacher is given "
                             "and -shuffled with --shuffle-labels",
                default_from=lambda args: RUNS / (f"{args.model}-{args.preset}"
                                                  + ("-distilled" if args.teacher else "")
                                                  + ("-shuffled" if args.shuffle_labels
                                                     else "")))
    parser.add_argument("--teacher", type=Path, default=None,
                        help="checkpoint whose predictions replace the labels (offline "
                             "distillation, e.g. the Attribution CNN for a Distilled ConvSDT)")
    parser.add_argument("--shuffle-labels", action="store_true",
                        help="train on labels permuted over the events (seeded): the model of "
                             "the data-randomization check, 'hepxai sanity muon --shuffled'")
    options.epochs(parser)
    parser.add_argument("--batch-size", type=count, default=None,
                        help="override the preset's batch size")
    parser.add_argument("--learning-rate", type=positive_float, default=None,
                        help="override the preset's (peak) learning rate")
    parser.add_argument("--eta-weight", type=positive_float, default=None,
                        help="override the preset's weight of |eta| in the MAE loss")
    options.max_events(parser, "training events")
    options.val_events(parser)
    options.seed(parser)
    options.device(parser)
    options.resume(parser)


def _train(args: argparse.Namespace) -> None:
    from hepxai.usecases.muon.task import training_sets

    out = args.out  # its default made by options.prepare
    train_set, val_set = training_sets(args.data, max_events=args.max_events,
                                       val_events=args.val_events)
    if args.model == names.DECISION_TREE:
        if args.shuffle_labels:
            raise HepxaiError("--shuffle-labels trains the model of the attribution sanity "
                              "check; the decision tree has no attribution methods: train a "
                              "CNN or ConvSDT")
        _train_decision_tree(args, train_set, val_set, out)
        return
    from hepxai.usecases.muon.models import create
    from hepxai.usecases.muon.task import MuonTask, train

    model = create(args.model, args.preset, seed=args.seed)
    print(f"training {args.model} ({args.preset}, {model.n_parameters():,} parameters) on "
          f"{len(train_set):,} events, validating on {len(val_set):,}; output in {out}")
    result = train(model, train_set, val_set, out, seed=args.seed, epochs=args.epochs,
                   batch_size=args.batch_size, learning_rate=args.learning_rate,
                   eta_weight=args.eta_weight, device=args.device, resume=args.resume,
                   teacher=str(args.teacher) if args.teacher else None,
                   shuffle_labels=args.shuffle_labels,
                   on_epoch=lambda r: print(
                       f"epoch {r['epoch']:>3}: loss {r['train_loss']:.4f} / {r['loss']:.4f}"
                       f"  spread {r['spread']:.3f} GeV  eff@15 {r['efficiency_15']:.4f}"
                       f"  eff@10 {r['efficiency_10']:.4f}"))
    print(f"best epoch {result.best_epoch} (validation efficiency at 15 GeV, spread <= "
          f"{MuonTask.max_spread} GeV where any epoch meets it): {out / 'best.pt'}"
          f"; {result.events_per_second:,.0f} training events/s")


def _train_decision_tree(args: argparse.Namespace, train_set, val_set, out: Path) -> None:
    from hepxai.usecases.muon.task import train_decision_tree

    print(f"fitting a decision tree on {len(train_set):,} events"
          + (f" (targets: predictions of {args.teacher})" if args.teacher else ""))
    fitted = train_decision_tree(train_set, val_set, out, seed=args.seed, teacher=args.teacher,
                                 device=args.device)
    print(f"{fitted['nodes']:,} nodes in {fitted['seconds']:.0f} s; validation spread "
          f"{fitted['spread']:.3f} GeV, eff@15 {fitted['efficiency_15']:.4f}; saved "
          f"{fitted['path']}")


# -- evaluate ---------------------------------------------------------------------------------
def _add_evaluate(parser: argparse.ArgumentParser) -> None:
    options.checkpoint(parser, "a model to evaluate", repeat=True)
    options.data(parser, DATA, reads="val.h5 and noise.h5 are used")
    parser.add_argument("--baselines", type=Path, default=RUNS / "baselines" / "baselines.json",
                        help="baselines.json of 'hepxai baselines muon' to add to the tables "
                             "(skipped when missing)")
    options.out(parser, "evaluation.json, predictions and figures", RUNS / "evaluation")
    options.max_events(parser, "events of each split")
    options.device(parser)
    parser.add_argument("--conventions", default="hepxai", choices=("hepxai", "thesis"),
                        help="the printed table 7.2: hepxai's (the thesis' formulas) or the "
                             "thesis' code's (Keras MAE = half the sum, efficiency with >=, "
                             "means of per-batch values); both are saved and compared")


def _evaluate(args: argparse.Namespace) -> None:
    from hepxai.usecases.muon.evaluation import evaluate_to, thesis_tables

    results, baselines = evaluate_to(args.checkpoint, args.data, args.out,
                                     baselines=args.baselines, max_events=args.max_events,
                                     device=args.device)
    print(thesis_tables(results, baselines, conventions=args.conventions))
    print(f"written: {args.out / 'evaluation.json'}, predictions and figures in {args.out}")


# -- explain ----------------------------------------------------------------------------------
def _add_explain(parser: argparse.ArgumentParser) -> None:
    options.checkpoint(parser, "the explained model (e.g. runs/muon/tracin-cnn-fast/best.pt)")
    options.data(parser, DATA, reads="val.h5 and noise.h5 are explained")
    options.out(parser, "the attributions, judging and figures",
                default_text="explain/ next to the checkpoint",
                default_from=lambda args: args.checkpoint.parent / "explain",
                anchor="checkpoint")
    parser.add_argument("--methods", default=None,
                        help="comma-separated methods (default: "
                             f"{','.join(names.METHODS)}; with --conventions thesis: "
                             f"{','.join(names.THESIS_METHODS)}); 'ig-binary:exact' picks a "
                             "binary-IG mode; 'tree' adds the soft tree's decision flow; "
                             "'ram-thesis-code' is the thesis code's RAM (not a CAM)")
    parser.add_argument("--events-per-category", type=count, default=8,
                        help="events explained per category (TP, FN, FP, TN, only-noise)")
    parser.add_argument("--pool", type=count, default=5000,
                        help="draw the events from the first N validation/noise events")
    parser.add_argument("--copies", type=count, default=None,
                        help="SmoothGrad's noisy copies per event (default 20; the thesis, "
                             "and --conventions thesis, 100)")
    parser.add_argument("--target", choices=("pt", "eta", "pt+eta"), default=None,
                        help="output explained, judged and drawn (default pt; with "
                             "--conventions thesis pt+eta, the sum the thesis' code explains)")
    parser.add_argument("--conventions", default="hepxai", choices=("hepxai", "thesis"),
                        help="'thesis': the defaults of the thesis' code (target pt+eta, its "
                             "RAM variant, binary IG and SmoothGrad with 100 copies)")
    parser.add_argument("--noise-rate", type=probability, default=None, metavar="P",
                        help="SmoothGrad's salt-and-pepper noise: the probability that an unlit "
                             "pixel lights in a noisy copy (default 0.02, the thesis' 2 %%)")
    parser.add_argument("--samples-from", type=Path, default=None, metavar="SANITY_JSON",
                        help="sanity.json of 'hepxai sanity muon': each stochastic method "
                             "(SmoothGrad's copies, Shapley's orders) averages at least the "
                             "draws its seed-stability study predicts two seeds need to agree "
                             "at 0.9 (Spearman-Brown)")
    options.judging_seeds(parser, "each stochastic method (SmoothGrad, binary IG's Shapley "
                                  "mode)")
    parser.add_argument("--smoothgrad-grid", action="store_true",
                        help="also draw SmoothGrad of binary IG over --grid-copies x "
                             "--grid-rates on one event (thesis figure 6.3), each cell's "
                             "Spearman with the most copies of its rate (smoothgrad_grid.json)")
    parser.add_argument("--grid-copies", type=int_list, default=[10, 50, 100], metavar="LIST",
                        help="the grid's noisy copies (default 10,50,100)")
    parser.add_argument("--grid-rates", type=probability_list, default=[0.01, 0.02, 0.05],
                        metavar="LIST", help="the grid's noise rates (default 0.01,0.02,0.05)")
    options.seed(parser)
    options.device(parser)


def _explain(args: argparse.Namespace) -> None:
    from hepxai.usecases.muon.study import explain_run

    out = args.out  # its default made by options.prepare
    explain_run(args.checkpoint, args.data, out, args.methods,
                per_category=args.events_per_category, pool=args.pool, seed=args.seed,
                target=args.target, device=args.device, smoothgrad_copies=args.copies,
                conventions=args.conventions, samples_from=args.samples_from,
                smoothgrad_rate=args.noise_rate, n_seeds=args.seeds,
                smoothgrad_grid=(args.grid_copies, args.grid_rates) if args.smoothgrad_grid
                else None)
    print(f"written: {out}")


# -- sanity -----------------------------------------------------------------------------------
def _add_sanity(parser: argparse.ArgumentParser) -> None:
    options.checkpoint(parser, "the explained model (e.g. runs/muon/attribution-cnn-fast/best.pt)")
    options.data(parser, DATA, reads="val.h5 and noise.h5 are explained")
    options.out(parser, "sanity.json and sanity.png", default_text="sanity/ next to the "
                "checkpoint", default_from=lambda args: args.checkpoint.parent / "sanity",
                anchor="checkpoint")
    options.sanity(parser, twin="checkpoint",
                   methods=f"{','.join(names.METHODS)}; 'ig-binary:exact' picks a binary-IG "
                           "mode", stochastic="each stochastic method (SmoothGrad, Shapley)")
    parser.add_argument("--events-per-category", type=count, default=4,
                        help="events per category (TP, FN, FP, TN, only-noise), drawn as by "
                             "'hepxai explain muon' with the same seed")
    parser.add_argument("--pool", type=count, default=5000,
                        help="draw the events from the first N validation/noise events")
    parser.add_argument("--copies", type=count, default=None,
                        help="SmoothGrad's noisy copies per event (default 20)")
    parser.add_argument("--target", choices=("pt", "eta"), default="pt",
                        help="output explained and compared")
    options.seed(parser)
    options.device(parser)


def _sanity(args: argparse.Namespace) -> None:
    from hepxai.explain.judging.sanity import parse_orders
    from hepxai.usecases.muon.sanity import sanity_run

    orders = parse_orders(args.orders)
    out = args.out  # its default made by options.prepare
    sanity_run(args.checkpoint, args.data, out, args.methods, shuffled=args.shuffled,
               device=args.device, per_category=args.events_per_category, pool=args.pool,
               seed=args.seed, orders=orders, n_seeds=args.seeds, target=args.target,
               smoothgrad_copies=args.copies)
    print(f"written: {out / 'sanity.json'}, {out / 'sanity.png'}")


# -- the tree models of thesis table 7.1 ------------------------------------------------------
def _add_trees(parser: argparse.ArgumentParser) -> None:
    options.data(parser, DATA, reads="train.h5 trains, val.h5 validates and evaluates")
    options.out(parser, "one run per tree model and evaluation/", RUNS / "trees")
    parser.add_argument("--teacher", type=Path, required=True,
                        help="checkpoint the distilled trees learn from (the thesis: the "
                             "Attribution CNN, e.g. its last epoch)")
    parser.add_argument("--preset", default="fast", choices=names.PRESETS,
                        help="the soft trees' size (the thesis' depth 5: both presets)")
    options.max_events(parser, "training events")
    parser.add_argument("--epochs", type=count, default=None,
                        help="epochs of every soft tree (default: the preset's)")
    parser.add_argument("--val-events", type=count, default=None,
                        help="validation events per epoch (default: all)")
    parser.add_argument("--eval-events", type=count, default=None,
                        help="evaluate on the first N validation events (default: all)")
    options.seed(parser)


def _trees(args: argparse.Namespace) -> None:
    from hepxai.pipeline.steps import run_steps
    from hepxai.usecases.muon.store import MuonFile, split_path
    from hepxai.usecases.muon.tree_baselines import format_tree_table, tree_steps, tree_table

    if not args.teacher.is_file():
        raise HepxaiError(f"--teacher {args.teacher}: no such checkpoint; train the Attribution "
                          "CNN first ('hepxai train muon --model attribution-cnn')")
    for split in ("train", "val"):  # one line before any of the eight trainings starts
        MuonFile(split_path(args.data, split))
    train = ["--preset", args.preset, "--seed", str(args.seed), "--resume",
             *(["--max-events", str(args.max_events)] if args.max_events else []),
             *(["--epochs", str(args.epochs)] if args.epochs else []),
             *(["--val-events", str(args.val_events)] if args.val_events else [])]
    run_steps(tree_steps(args.out, args.data, args.teacher, train,
                         eval_events=args.eval_events), args.out)
    table = tree_table(args.out)
    if table is None:
        raise HepxaiError(f"{args.out / 'evaluation' / 'evaluation.json'} was not written; run "
                          "the same command again")
    print("Thesis table 7.1: the tree models (thesis: its data and training)")
    print(format_tree_table(table))


# -- demo and report --------------------------------------------------------------------------
def _add_demo(parser: argparse.ArgumentParser) -> None:
    options.out(parser, "the whole study (data, models, figures, report.html); re-running "
                        "reuses its finished steps", "runs/demo-muon")
    parser.add_argument("--quick", action="store_true",
                        help="a reduced study (small data, 1 epoch, 1 event per category; "
                             "a few minutes) instead of the full one")
    options.seed(parser)


def _demo(args: argparse.Namespace) -> None:
    import time

    from hepxai.pipeline.steps import finished
    from hepxai.usecases.muon.demo import run_demo

    started = time.perf_counter()
    ran = run_demo(args.out, args.quick, args.seed)
    print(finished(ran, started, args.out / "report.html"))


def _add_report(parser: argparse.ArgumentParser) -> None:
    options.run_dir(parser, "muon")


def _report(args: argparse.Namespace) -> None:
    from hepxai.usecases.muon.report import build_muon_report

    print(f"written: {build_muon_report(args.run_dir)}")


register("simulate", "muon", "simulate RPC muon trigger events (train, val, only-noise)",
         _add_simulate, _simulate)
register("import", "muon", "convert ROOT ntuples or the published numpy files into hepxai "
         "files",
         _add_import, _import)
register("export", "muon", "write hepxai muon files as the published numpy layout or "
         "ROOT / open-data HDF5 ntuples",
         _add_export, _export)
register("baselines", "muon", "truth-hit fit, noisy-image fit and coincidence-window trigger",
         _add_baselines, _baselines)
register("train", "muon", "train a muon model (Attribution CNN, TracIn CNN, ConvSDT, trees)",
         _add_train, _train)
register("evaluate", "muon", "evaluate checkpoints: thesis tables 7.2-7.5, curves, speed",
         _add_evaluate, _evaluate)
register("explain", "muon", "explain muon predictions: RAM, saliency, IG, binary IG, "
         "SmoothGrad, decision flow; judged and compared", _add_explain, _explain)
register("sanity", "muon", "sanity checks of the muon explanations: layer and label "
         "randomization, seed stability", _add_sanity, _sanity)
register("trees", "muon", "train and evaluate the tree models of thesis table 7.1 (decision "
         "trees, NDT, SDTs, ensembles, distilled)", _add_trees, _trees)
register("demo", "muon", "the whole muon study: simulate, train, evaluate, explain, report",
         _add_demo, _demo)
register("report", "muon", "build report.html and summary.json of a muon run directory",
         _add_report, _report)

register("export-model", "muon", "export a trained torch model to ONNX, checked against "
         "PyTorch on held-out events, both timed", onnx_export.add_arguments, onnx_export.run)

# ``hepxai influence muon`` registers itself on import
from hepxai.usecases.muon import cli_influence  # noqa: E402, F401
