"""``hepxai demo muon`` (the whole study, resumable) and ``hepxai report [muon] RUN_DIR``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from hepxai.cli.app import register
from hepxai.cli.arguments import seed


def _add_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("runs/demo-muon"),
                        help="run directory; re-running reuses its finished steps")
    parser.add_argument("--quick", action="store_true",
                        help="a reduced study (small data, 1 epoch, 1 event per category; "
                             "a few minutes) instead of the full one")
    parser.add_argument("--seed", type=seed, default=1, help="random seed")


def _demo(args: argparse.Namespace) -> None:
    from hepxai.pipeline.steps import finished
    from hepxai.usecases.muon.demo import run_demo

    started = time.perf_counter()
    ran = run_demo(args.out, args.quick, args.seed)
    print(finished(ran, started, args.out / "report.html"))


def _add_report(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="run directory of 'hepxai demo muon'")


def _report(args: argparse.Namespace) -> None:
    from hepxai.usecases.muon.report import build_muon_report

    print(f"written: {build_muon_report(args.run_dir)}")


register("demo", "muon", "the whole muon study: simulate, train, evaluate, explain, report",
         _add_demo, _demo)
register("report", "muon", "build report.html and summary.json of a muon run directory",
         _add_report, _report)
