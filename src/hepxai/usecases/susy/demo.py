"""``hepxai demo susy``: the whole SUSY study into one directory as resumable steps, with its
report.

simulate -> train the BDT and the MLP on each reconstruction (simplified, full) -> evaluate the
four -> explain (TreeSHAP, GradientSHAP, IG: importances, simplified vs full, convergence) ->
sanity checks of the full-reconstruction MLP and BDT (each trained again on shuffled labels;
the MLP's layers randomized) -> report. The demo owns its directory: data and models made
with other settings are replaced.
"""

from __future__ import annotations

from pathlib import Path

from hepxai.pipeline.steps import Step, option, run_steps
from hepxai.usecases.susy.store import SAMPLES

MODELS = ("bdt", "mlp")
#: the models whose explanations the demo sanity-checks: (kind, sample)
SANITY = (("mlp", "full"), ("bdt", "full"))


def susy_steps(out: Path, preset: str, *, seed: int = 1, jobs: int | None = None,
               explain_events: int | None = None) -> list[Step]:
    data, runs = out / "data", out / "runs"
    splits = [data / "train.h5", data / "test.h5"]
    jobs_option = option("--jobs", jobs)
    steps = [Step("simulate", ["simulate", "susy", "--preset", preset, "--out", data,
                               "--seed", seed, "--overwrite"], splits)]
    run_dirs = []
    for model in MODELS:
        for sample in SAMPLES:
            run = runs / f"{model}-{sample}"
            steps.append(Step(f"train {model}-{sample}",
                              ["train", "susy", "--model", model, "--sample", sample,
                               "--preset", preset, "--data", data, "--out", run, "--seed", seed,
                               *jobs_option, "--overwrite"],
                              [run / "model.json"], splits))
            run_dirs.append(run)
    given = [a for run in run_dirs for a in ("--run", run)]
    evaluation, explain = out / "evaluation", out / "explain"
    steps.append(Step("evaluate", ["evaluate", "susy", *given, "--data", data, "--out",
                                   evaluation],
                      [evaluation / "evaluation.json"], [*run_dirs, splits[1]]))
    n_explain = explain_events or (2000 if preset == "quick" else 5000)
    steps.append(Step("explain", ["explain", "susy", *given, "--data", data, "--out", explain,
                                  "--max-events", n_explain, *jobs_option, "--seed", seed,
                                  "--seeds", 3],
                      [explain / "explain.json"], [*run_dirs, *splits]))
    sanity = out / "sanity"
    for model, sample in SANITY:
        name = f"{model}-{sample}"
        shuffled = sanity / f"{name}-shuffled"  # outside runs/: not one of the compared models
        steps.append(Step(f"train {name} on shuffled labels",
                          ["train", "susy", "--model", model, "--sample", sample, "--preset",
                           preset, "--data", data, "--out", shuffled, "--seed", seed,
                           *jobs_option, "--overwrite", "--shuffle-labels"],
                          [shuffled / "model.json"], splits))
        steps.append(Step(f"sanity {name}",
                          ["sanity", "susy", "--run", runs / name, "--shuffled", shuffled,
                           "--data", data, "--out", sanity / name, "--events",
                           min(n_explain, 500), "--seed", seed, *jobs_option],
                          [sanity / name / "sanity.json"], [runs / name, shuffled, *splits]))
    steps.append(Step("report", ["report", "susy", out], [out / "report.html"],
                      [*splits, *run_dirs, evaluation, explain, sanity]))
    return steps


def run_demo(out: Path, preset: str, *, seed: int = 1, jobs: int | None = None,
             explain_events: int | None = None, echo=print) -> dict[str, float]:
    """Run (or resume) the demo in ``out``; the seconds of each step in this call (0 if
    skipped). ``out/timings.json`` (the seconds of the runs that made the outputs, step by
    step) is shown by the report."""
    return run_steps(susy_steps(out, preset, seed=seed, jobs=jobs,
                                explain_events=explain_events), out, echo=echo)
