"""``hepxai ... muon``: the RPC L0 muon trigger use case."""

from __future__ import annotations

import argparse
from pathlib import Path

from hepxai.cli.app import register
from hepxai.core.atomic import write_json_atomic
from hepxai.core.errors import HepxaiError
from hepxai.data.muon.generate import PRESETS, resolve_sizes, simulate_dataset


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def _seed(text: str) -> int:
    value = _positive(text)
    if value >= 2**63:
        raise argparse.ArgumentTypeError(f"expected a seed below 2**63, got {value}")
    return value


def _workers(text: str) -> int:
    value = _positive(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected at least 1 worker process")
    return value


# -- simulate ---------------------------------------------------------------------------------
def _add_simulate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("data/muon"),
                        help="directory for train.h5, val.h5 and noise.h5")
    sizes = ", ".join(f"{name} ({s.train:,}/{s.val:,}/{s.noise:,})"
                      for name, s in PRESETS.items())
    parser.add_argument("--preset", default="fast", choices=list(PRESETS),
                        help=f"split sizes train/val/only-noise: {sizes}")
    parser.add_argument("--n", type=_positive, default=None,
                        help="instead of a preset: N muon events split 90/10 into train/val, "
                             "plus N only-noise events")
    for split in ("train", "val", "noise"):
        parser.add_argument(f"--n-{split}", type=_positive, default=None,
                            help=f"override the number of {split} events (0 skips the split)")
    parser.add_argument("--seed", type=_seed, default=1, help="random seed (0 <= seed < 2**63)")
    parser.add_argument("--workers", type=_workers, default=None,
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
    from hepxai.data.muon.published import import_published

    for split, path in import_published(args.source, args.out, args.noise_file).items():
        print(f"{split:>6}: {path}")


def _add_export(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=Path("data/muon"),
                        help="hepxai muon data directory")
    parser.add_argument("--out", type=Path, required=True,
                        help="folder for the published-layout .npy files")


def _export(args: argparse.Namespace) -> None:
    from hepxai.data.muon.published import export_published

    for name, path in export_published(args.data, args.out).items():
        print(f"{name}: {path}")


# -- baselines --------------------------------------------------------------------------------
def _add_baselines(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=Path("data/muon"),
                        help="hepxai muon data directory (val.h5 is evaluated, train.h5 sizes "
                             "the coincidence windows, noise.h5 gives fake rates)")
    parser.add_argument("--out", type=Path, default=Path("runs/muon/baselines"),
                        help="directory for baselines.json and the figures")
    parser.add_argument("--max-events", type=_positive, default=None,
                        help="use at most this many events of each split")


def _baselines(args: argparse.Namespace) -> None:
    from hepxai.baselines.muon import baseline_table, format_table, run_muon_baselines
    from hepxai.viz.trigger import plot_resolution, plot_turn_on

    if args.max_events == 0:
        raise HepxaiError("--max-events 0 selects no events; give a positive number")
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

