"""``hepxai ... muon``: the RPC L0 muon trigger use case."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hepxai.cli.app import register
from hepxai.cli.arguments import checked_device, count, positive_float, seed, whole_number
from hepxai.core.atomic import write_json_atomic
from hepxai.usecases.muon.generate import PRESETS, resolve_sizes, simulate_dataset


# -- simulate ---------------------------------------------------------------------------------
def _add_simulate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("data/muon"),
                        help="directory for train.h5, val.h5 and noise.h5")
    sizes = ", ".join(f"{name} ({s.train:,}/{s.val:,}/{s.noise:,})"
                      for name, s in PRESETS.items())
    parser.add_argument("--preset", default="fast", choices=list(PRESETS),
                        help=f"split sizes train/val/only-noise: {sizes}")
    parser.add_argument("--n", type=whole_number, default=None,
                        help="instead of a preset: N muon events split 90/10 into train/val, "
                             "plus N only-noise events")
    for split in ("train", "val", "noise"):
        parser.add_argument(f"--n-{split}", type=whole_number, default=None,
                            help=f"override the number of {split} events (0 skips the split)")
    parser.add_argument("--seed", type=seed, default=1, help="random seed (0 <= seed < 2**63)")
    parser.add_argument("--workers", type=count, default=None,
                        help="worker processes (default: all cores); output does not depend "
                             "on it")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing files made with other settings")


def _simulate(args: argparse.Namespace) -> None:
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
    parser.add_argument("source", type=Path,
                        help="folder with train_/test_images_with_noise.npy, "
                             "..._without_noise.npy (optional) and ..._labels.npy")
    parser.add_argument("--out", type=Path, default=Path("data/muon-imported"),
                        help="directory for the hepxai files")
    parser.add_argument("--noise-file", type=Path, default=None,
                        help="optional .npy of only-noise images (N, 9, 384)")


def _import(args: argparse.Namespace) -> None:
    from hepxai.usecases.muon.published import import_published

    for split, path in import_published(args.source, args.out, args.noise_file).items():
        print(f"{split:>6}: {path}")


def _add_export(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=Path("data/muon"),
                        help="hepxai muon data directory")
    parser.add_argument("--out", type=Path, required=True,
                        help="folder for the published-layout .npy files")


def _export(args: argparse.Namespace) -> None:
    from hepxai.usecases.muon.published import export_published

    for name, path in export_published(args.data, args.out).items():
        print(f"{name}: {path}")


# -- baselines --------------------------------------------------------------------------------
def _add_baselines(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=Path("data/muon"),
                        help="hepxai muon data directory (val.h5 is evaluated, train.h5 sizes "
                             "the coincidence windows, noise.h5 gives fake rates)")
    parser.add_argument("--out", type=Path, default=Path("runs/muon/baselines"),
                        help="directory for baselines.json and the figures")
    parser.add_argument("--max-events", type=count, default=None,
                        help="use at most this many events of each split")


def _baselines(args: argparse.Namespace) -> None:
    from hepxai.usecases.muon.baselines.table import (
        baseline_table,
        format_table,
        run_muon_baselines,
    )
    from hepxai.viz.trigger import plot_resolution, plot_turn_on

    results = run_muon_baselines(args.data, max_events=args.max_events)
    results["table"] = baseline_table(results)
    out = args.out
    write_json_atomic(out / "baselines.json", results)
    for threshold in results["thresholds"]:
        key = f"{threshold:g}"
        curves = {name: res["turn_on"][key] for name, res in results["baselines"].items()}
        plot_turn_on(curves, threshold, out / f"turn_on_{key}.png")
    plot_resolution({name: res["resolution"] for name, res in results["baselines"].items()
                     if "resolution" in res}, out / "resolution.png")
    print(format_table(results["table"]))
    print(f"written: {out / 'baselines.json'}, turn-on and resolution figures in {out}")


register("simulate", "muon", "simulate RPC muon trigger events (train, val, only-noise)",
         _add_simulate, _simulate)
register("import", "muon", "convert the published numpy muon files into hepxai files",
         _add_import, _import)
register("export", "muon", "write hepxai muon files in the published numpy layout",
         _add_export, _export)
register("baselines", "muon", "truth-hit fit, noisy-image fit and coincidence-window trigger",
         _add_baselines, _baselines)



# -- train ------------------------------------------------------------------------------------
def _add_train(parser: argparse.ArgumentParser) -> None:
    from hepxai.usecases.muon.models import MODELS, PRESETS
    from hepxai.usecases.muon.models.decision_tree import NAME as DECISION_TREE

    parser.add_argument("--model", required=True, choices=[*MODELS, DECISION_TREE],
                        help="model to train (decision-tree: scikit-learn, on the flattened "
                             "image)")
    parser.add_argument("--preset", default="fast", choices=list(PRESETS),
                        help="'paper': the thesis' exact layers and recipe; 'fast': for CPUs")
    parser.add_argument("--data", type=Path, default=Path("data/muon"),
                        help="muon data directory (train.h5 trains, val.h5 validates)")
    parser.add_argument("--out", type=Path, default=None,
                        help="run directory (default: runs/muon/MODEL-PRESET, with "
                             "-distilled when a teacher is given)")
    parser.add_argument("--teacher", type=Path, default=None,
                        help="checkpoint whose predictions replace the labels (offline "
                             "distillation, e.g. the Attribution CNN for a Distilled ConvSDT)")
    parser.add_argument("--epochs", type=count, default=None,
                        help="override the preset's number of epochs")
    parser.add_argument("--batch-size", type=count, default=None,
                        help="override the preset's batch size")
    parser.add_argument("--learning-rate", type=positive_float, default=None,
                        help="override the preset's (peak) learning rate")
    parser.add_argument("--eta-weight", type=positive_float, default=None,
                        help="override the preset's weight of |eta| in the MAE loss")
    parser.add_argument("--max-events", type=count, default=None,
                        help="train on the first N training events only")
    parser.add_argument("--val-events", type=count, default=20_000,
                        help="validate every epoch on the first N validation events (the "
                             "full set is for 'hepxai evaluate muon')")
    parser.add_argument("--seed", type=seed, default=1, help="random seed")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its last epoch checkpoint")


def _train(args: argparse.Namespace) -> None:
    import numpy as np

    from hepxai.usecases.muon.loader import MuonDataset
    from hepxai.usecases.muon.models import create
    from hepxai.usecases.muon.store import split_path
    from hepxai.usecases.muon.task import MuonTask, train

    device = checked_device(args.device)
    out = args.out or Path("runs/muon") / (f"{args.model}-{args.preset}"
                                           + ("-distilled" if args.teacher else ""))
    train_file = split_path(args.data, "train")
    train_set = MuonDataset(train_file)
    if args.max_events is not None and args.max_events < len(train_set):
        train_set = MuonDataset(train_set.file, rows=np.arange(args.max_events))
    val_set = MuonDataset(split_path(args.data, "val"))
    if args.val_events < len(val_set):
        val_set = MuonDataset(val_set.file, rows=np.arange(args.val_events))
    if args.model == "decision-tree":
        _train_decision_tree(args, train_set, val_set, out, device)
        return
    model = create(args.model, args.preset, seed=args.seed)
    print(f"training {args.model} ({args.preset}, {model.n_parameters():,} parameters) on "
          f"{len(train_set):,} events, validating on {len(val_set):,}; output in {out}")
    result = train(model, train_set, val_set, out, seed=args.seed, epochs=args.epochs,
                   batch_size=args.batch_size, learning_rate=args.learning_rate,
                   eta_weight=args.eta_weight, device=device,
                   resume=args.resume,
                   teacher=str(args.teacher) if args.teacher else None,
                   on_epoch=lambda r: print(
                       f"epoch {r['epoch']:>3}: loss {r['train_loss']:.4f} / {r['loss']:.4f}"
                       f"  spread {r['spread']:.3f} GeV  eff@15 {r['efficiency_15']:.4f}"
                       f"  eff@10 {r['efficiency_10']:.4f}"))
    print(f"best epoch {result.best_epoch} (validation efficiency at 15 GeV, spread <= "
          f"{MuonTask.max_spread} GeV where any epoch meets it): {out / 'best.pt'}"
          f"; {result.events_per_second:,.0f} training events/s")


def _train_decision_tree(args: argparse.Namespace, train_set, val_set, out: Path,
                         device: str) -> None:
    import time

    from hepxai.metrics import trigger
    from hepxai.usecases.muon.models.decision_tree import DecisionTreeModel
    from hepxai.usecases.muon.task import teacher_targets

    targets = train_set.targets
    if args.teacher is not None:
        targets = teacher_targets(args.teacher, train_set, device)
    print(f"fitting a decision tree on {len(train_set):,} events"
          + (f" (targets: predictions of {args.teacher})" if args.teacher else ""))
    start = time.perf_counter()
    model = DecisionTreeModel(seed=args.seed).fit(train_set.images.take(train_set.rows),
                                                  targets.numpy())
    seconds = time.perf_counter() - start
    pred = model.predict_images(val_set.images.take(val_set.rows))
    pt = val_set.targets[:, 0].numpy()
    identity = {"model": model.name, "seed": args.seed, "n_train": len(train_set),
                "teacher": str(args.teacher) if args.teacher else None}
    model.save(out / "best.pt", identity)
    print(f"{model.n_parameters():,} nodes in {seconds:.0f} s; validation spread "
          f"{trigger.spread(pt, pred[:, 0]):.3f} GeV, eff@15 "
          f"{trigger.efficiency(pt, pred[:, 0] > 15, 15.0):.4f}; saved {out / 'best.pt'}")


# -- evaluate ---------------------------------------------------------------------------------
def _add_evaluate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, action="append", required=True,
                        help="checkpoint to evaluate (repeat for several models)")
    parser.add_argument("--data", type=Path, default=Path("data/muon"),
                        help="muon data directory (val.h5 and noise.h5 are used)")
    parser.add_argument("--baselines", type=Path,
                        default=Path("runs/muon/baselines/baselines.json"),
                        help="baselines.json of 'hepxai baselines muon' to add to the tables "
                             "(skipped when missing)")
    parser.add_argument("--out", type=Path, default=Path("runs/muon/evaluation"),
                        help="directory for evaluation.json, predictions and figures")
    parser.add_argument("--max-events", type=count, default=None,
                        help="use at most this many events of each split")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")


def _evaluate(args: argparse.Namespace) -> None:
    from hepxai.usecases.muon.evaluation import evaluate_models, thesis_tables
    from hepxai.viz.evaluation import plot_confusion_matrices
    from hepxai.viz.trigger import plot_resolution, plot_turn_on

    results = evaluate_models(args.checkpoint, args.data, args.out, max_events=args.max_events,
                              device=checked_device(args.device))
    baselines = None
    if args.baselines.exists():
        baselines = json.loads(args.baselines.read_text())
        results["baselines"] = baselines["baselines"]
    out = args.out
    write_json_atomic(out / "evaluation.json", results)
    for key in ("15", "10"):
        curves = {m["label"]: m["turn_on"][key] for m in results["models"]}
        if baselines is not None:
            curves.update({f"baseline: {name}": b["turn_on"][key]
                           for name, b in baselines["baselines"].items()})
        plot_turn_on(curves, float(key), out / f"turn_on_{key}.png")
    resolutions = {m["label"]: m["resolution"] for m in results["models"]}
    if baselines is not None:
        resolutions.update({f"baseline: {name}": b["resolution"]
                            for name, b in baselines["baselines"].items() if "resolution" in b})
    plot_resolution(resolutions, out / "resolution.png")
    plot_confusion_matrices({m["label"]: m["confusion_15"] for m in results["models"]}, 15.0,
                            out / "confusion_15.png")
    print(thesis_tables(results, baselines))
    print(f"written: {out / 'evaluation.json'}, predictions and figures in {out}")


register("train", "muon", "train a muon model (Attribution CNN, TracIn CNN, ConvSDT, trees)",
         _add_train, _train)
register("evaluate", "muon", "evaluate checkpoints: thesis tables 7.2-7.5, curves, speed",
         _add_evaluate, _evaluate)

# the muon commands of the other verbs register themselves on import
from hepxai.usecases.muon import cli_demo, cli_explain, cli_influence  # noqa: E402, F401
