"""``hepxai explain muon``: attribution methods (and the soft tree's decision flow), judged
against the simulator's truth and compared with each other."""

from __future__ import annotations

import argparse
from pathlib import Path

from hepxai.cli.app import register
from hepxai.cli.arguments import checked_device, count, seed


def _add_explain(parser: argparse.ArgumentParser) -> None:
    from hepxai.usecases.muon.study import DEFAULT_METHODS

    parser.add_argument("--checkpoint", type=Path, required=True,
                        help="model checkpoint (e.g. runs/muon/tracin-cnn-fast/best.pt)")
    parser.add_argument("--data", type=Path, default=Path("data/muon"),
                        help="muon data directory (val.h5 and noise.h5 are explained)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output directory (default: next to the checkpoint, explain/)")
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                        help="comma-separated methods; 'ig-binary:exact' picks a binary-IG "
                             "mode; 'tree' adds the soft tree's decision flow")
    parser.add_argument("--events-per-category", type=count, default=8,
                        help="events explained per category (TP, FN, FP, TN, only-noise)")
    parser.add_argument("--pool", type=count, default=5000,
                        help="draw the events from the first N validation/noise events")
    parser.add_argument("--copies", type=count, default=20,
                        help="SmoothGrad's noisy copies per event (the thesis used 100)")
    parser.add_argument("--target", choices=("pt", "eta"), default="pt",
                        help="output the judging and figures refer to")
    parser.add_argument("--seed", type=seed, default=1, help="random seed")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")


def _explain(args: argparse.Namespace) -> None:
    from hepxai.io.checkpoint import load_model
    from hepxai.usecases.muon.study import explain_study, format_summary

    device = checked_device(args.device)
    model = load_model(args.checkpoint, device=device, use_case="muon")
    out = args.out or args.checkpoint.parent / "explain"
    names = [m.strip() for m in args.methods.split(",") if m.strip()]
    attribution_methods = ",".join(m for m in names if m != "tree")
    if attribution_methods:
        summary = explain_study(model, args.data, out, attribution_methods,
                                args.events_per_category, args.pool, args.seed, args.target,
                                device, smoothgrad_copies=args.copies)
        print(format_summary(summary))
    if "tree" in names:
        from hepxai.usecases.muon.decision_flow import tree_study

        print(tree_study(model, args.data, out / "tree", args.events_per_category, args.pool,
                         args.seed, device))
    print(f"written: {out}")


register("explain", "muon", "explain muon predictions: RAM, saliency, IG, binary IG, "
         "SmoothGrad, decision flow; judged and compared", _add_explain, _explain)
