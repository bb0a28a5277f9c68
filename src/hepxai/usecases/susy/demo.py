"""``hepxai demo susy``: the whole SUSY study into one directory, with its report."""

from __future__ import annotations

import time
from pathlib import Path

from hepxai.core.errors import HepxaiError


def run_demo(out: Path, preset: str, *, seed: int = 1, jobs: int | None = None,
             explain_events: int | None = None, echo=print) -> Path:
    """The whole SUSY study into ``out``; returns the report path."""
    from hepxai.usecases.susy.cli import SAMPLES, _print_simulation, _set_threads
    from hepxai.usecases.susy.evaluation import evaluate_to
    from hepxai.usecases.susy.generate import resolve_sizes, simulate_dataset
    from hepxai.usecases.susy.report import write_report
    from hepxai.usecases.susy.study import explain_runs
    from hepxai.usecases.susy.task import train_run

    if out.exists() and not out.is_dir():
        raise HepxaiError(f"{out} is a file, not a directory; choose another --out")
    _set_threads(jobs)
    timings = {}
    start = time.perf_counter()
    data = out / "data"
    echo(f"[1/5] simulate ({preset}) -> {data}")
    # the demo owns its directory: data made with other settings is replaced, finished data kept
    _print_simulation(simulate_dataset(data, resolve_sizes(preset), seed=seed, overwrite=True))
    timings["simulate"] = time.perf_counter() - start
    runs = []
    for model in ("bdt", "mlp"):
        for sample in SAMPLES:
            step = time.perf_counter()
            run = out / "runs" / f"{model}-{sample}"
            echo(f"[2/5] train {model} on {sample} -> {run}")
            train_run(model, sample, preset, data, run, seed=seed, jobs=jobs, overwrite=True,
                      echo=echo)
            timings[f"train {model}-{sample}"] = time.perf_counter() - step
            runs.append(run)
    step = time.perf_counter()
    echo(f"[3/5] evaluate -> {out / 'evaluation'}")
    evaluate_to(runs, data, out / "evaluation")
    timings["evaluate"] = time.perf_counter() - step
    step = time.perf_counter()
    n_explain = explain_events or (2000 if preset == "quick" else 5000)
    echo(f"[4/5] explain {n_explain:,} test events -> {out / 'explain'}")
    explain_runs(runs, data, out / "explain", max_events=n_explain, n_jobs=jobs, seed=seed)
    timings["explain"] = time.perf_counter() - step
    step = time.perf_counter()
    echo(f"[5/5] report -> {out / 'report.html'}")
    from hepxai.core.atomic import write_json_atomic

    write_json_atomic(out / "timings.json", {**timings, "report": 0.0})
    path = write_report(out)
    timings["report"] = time.perf_counter() - step
    write_json_atomic(out / "timings.json", timings)
    return path
