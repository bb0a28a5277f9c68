"""Judging tables of the muon attribution methods on trained fast models (issue: attributions).

    .venv/bin/python bench/judging.py --run runs/demo-muon [--per-category 20] [--pool 40000]

For the Attribution CNN and the TracIn CNN of a demo run (``RUN/models/NAME/best.pt``), runs
``hepxai explain muon`` with ``--events-per-category`` events of each trigger category drawn
from ``--pool`` validation events (skipped when ``runs/judging/NAME/judging.json`` exists for
the same checkpoint, data and arguments) and writes ``bench/sections/judging.md``: localization,
faithfulness, completeness, stability per method, the muon share per category, and the Spearman
agreement matrix. SmoothGrad is left out here (about 20 s per event at 20 copies); the demo's
report has it on fewer events.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from hepxai.core.atomic import atomic_path
from hepxai.pipeline import cache

HERE = Path(__file__).resolve().parent
MODELS = ("attribution-cnn", "tracin-cnn")
METHODS = "ram,saliency,ig,ig-binary,ig-binary-exact,shapley"
CATEGORIES = ("TP", "FN", "FP", "TN", "only-noise")


def _explain(run: Path, name: str, out: Path, per_category: int, pool: int) -> list[str]:
    argv = ["explain", "muon", "--checkpoint", str(run / "models" / name / "best.pt"), "--data",
            str(run / "data"), "--events-per-category", str(per_category), "--pool", str(pool),
            "--methods", METHODS, "--seed", "2", "--out", str(out)]
    # the demo's step fingerprint (arguments, size and time of the checkpoint and data): a
    # retrained model or other events re-run the explanation instead of reusing a stale one
    fingerprint = cache.fingerprint(argv, [run / "models" / name / "best.pt", run / "data"])
    stamp = out / "fingerprint.txt"
    if not ((out / "judging.json").exists() and stamp.exists()
            and stamp.read_text().strip() == fingerprint):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "hepxai", *argv], check=True)
        seconds = f"{time.perf_counter() - start:.1f}\n"
        for path, text in ((out / "seconds.txt", seconds), (stamp, fingerprint + "\n")):
            with atomic_path(path) as tmp:
                tmp.write_text(text)
    return argv


def _f(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def blind_share(events: Path) -> dict[str, float]:
    """Per category, the mean share of an event's lit pixels that are truth-muon hits: the
    muon share of a map that ignores the muon (uniform relevance on lit pixels)."""
    saved = np.load(events, allow_pickle=True)
    lit = saved["images"].reshape(len(saved["images"]), -1).astype(bool)
    muon = saved["truth"].reshape(len(lit), -1).astype(bool) & lit
    share = muon.sum(1) / np.maximum(lit.sum(1), 1)
    return {str(c): float(share[saved["categories"] == c].mean())
            for c in np.unique(saved["categories"]) if c != "only-noise"}


def _section(name: str, judging: dict, argv: list[str], blind: dict[str, float],
             seconds: str) -> list[str]:
    scores, methods = judging["scores"], judging["methods"]
    counts = judging["categories"]
    lines = [f"### {name}", "", f"`hepxai {' '.join(argv)}`; events per category: "
             + ", ".join(f"{c} {n}" for c, n in counts.items()) + f"; {seconds} s wall.", "",
             "| method | muon share (TP) | precision@k (TP) | AUROC muon vs noise hits (TP) | "
             "deletion gap [GeV] | completeness error | stability |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for m in methods:
        tp, every = scores[m].get("TP", scores[m]["all"]), scores[m]["all"]
        lines.append(f"| {m} | {_f(tp['muon_share'])} | {_f(tp['precision_at_k'])} | "
                     f"{_f(tp['auroc'])} | {_f(every['deletion_gap'])} | "
                     f"{_f(every['completeness_error'], 4)} | {_f(every['stability'])} |")
    lines += ["", "Muon share per category (share of |relevance| on lit pixels that lies on "
              "truth-muon hits; a map blind to the muon scores the muon's share of the lit "
              "pixels):", "", "| method | " + " | ".join(c for c in CATEGORIES if c in scores[
                  methods[0]]) + " |", "| --- |" + " ---: |" * sum(c in scores[methods[0]]
                                                                  for c in CATEGORIES)]
    for m in methods:
        lines.append(f"| {m} | " + " | ".join(_f(scores[m][c]["muon_share"]) for c in CATEGORIES
                                                 if c in scores[m]) + " |")
    lines.append("| *blind map (muon hits / lit pixels)* | " + " | ".join(
        _f(blind.get(c)) for c in CATEGORIES if c in scores[methods[0]]) + " |")
    matrix = np.array(judging["agreement"]["spearman"]["all"], dtype=float)
    lines += ["", "Agreement: mean Spearman correlation on lit pixels, all events:", "",
              "| | " + " | ".join(methods) + " |", "| --- |" + " ---: |" * len(methods)]
    for i, m in enumerate(methods):
        lines.append(f"| {m} | " + " | ".join(_f(v, 2) for v in matrix[i]) + " |")
    best = max(methods, key=lambda m: scores[m].get("TP", scores[m]["all"])["muon_share"])
    upper = np.triu_indices(len(methods), 1)
    order = np.argsort(-matrix[upper])
    pairs = [f"{methods[upper[0][k]]} / {methods[upper[1][k]]} ({matrix[upper][k]:.2f})"
             for k in order[:3]]
    worst = (methods[upper[0][order[-1]]], methods[upper[1][order[-1]]], matrix[upper][order[-1]])
    lines += ["", f"On TP events {best} localizes the muon best (muon share "
              f"{scores[best]['TP']['muon_share']:.3f}). Closest pairs: {', '.join(pairs)}; "
              f"least alike: {worst[0]} / {worst[1]} ({worst[2]:.2f}).", ""]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/demo-muon"))
    parser.add_argument("--per-category", type=int, default=20)
    parser.add_argument("--pool", type=int, default=40_000)
    parser.add_argument("--work", type=Path, default=Path("runs/judging"))
    parser.add_argument("--out", type=Path, default=HERE / "sections" / "judging.md")
    args = parser.parse_args()
    lines = ["## Judging the muon attributions on trained fast models", "",
             f"Made by `.venv/bin/python bench/judging.py --run {args.run} --per-category "
             f"{args.per_category} --pool {args.pool}` on 2 cores. Models: the fast Attribution "
             f"CNN and TracIn CNN of the demo run `{args.run}` (trained on 50,000 events, 2 "
             "epochs). Events drawn per trigger category at 15 GeV from the first "
             f"{args.pool:,} validation events and from the only-noise set; target pT.", ""]
    for name in MODELS:
        out = args.work / name
        argv = _explain(args.run, name, out, args.per_category, args.pool)
        timing = out / "seconds.txt"
        seconds = timing.read_text().strip() if timing.exists() else "(not timed)"
        lines += _section(name, json.loads((out / "judging.json").read_text()), argv,
                          blind_share(out / "events.npz"), seconds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
