"""``hepxai demo muon``: the thesis' whole study on simulated data, resumable, with a report.

simulate -> classical baselines -> train Attribution CNN, TracIn CNN, ConvSDT and the ConvSDT
distilled from the Attribution CNN -> evaluate all against the baselines -> explain (every
attribution method on both CNNs, the decision flow of both trees, TracIn proponents and
opponents of the TracIn CNN per trigger category) -> report. Before the explanations, the
sanity checks of the Attribution CNN's maps (its layers randomized; an Attribution CNN trained
on shuffled labels; the seeds of the stochastic methods), whose seed stability sets how many
draws its explanations average.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hepxai.pipeline.steps import Step, run_steps


@dataclass(frozen=True)
class DemoSize:
    preset: str  # simulation preset
    train_events: int
    epochs: int
    val_events: int  # per-epoch validation
    eval_events: int  # evaluation, baselines
    per_category: int  # explained events per category
    pool: int
    smoothgrad_copies: int
    tracin_train: int  # training events in the TracIn store
    # the sanity checks: methods (None: every method), layer orders, events per category,
    # seeds of the stochastic methods
    sanity_methods: str | None
    sanity_orders: str
    sanity_per_category: int
    sanity_seeds: int
    judging_seeds: int  # seeds of each stochastic method in the judging (its intervals)
    grid_copies: str  # SmoothGrad grid of one event (thesis figure 6.3): copies x rates
    grid_rates: str


SIZES = {
    # quick: the cascade only, and no SmoothGrad (its noisy copies of every path image, on
    # every randomized model, would be most of the demo's time); Shapley's seeds are checked
    # quick: 10,000 training events, the fewest for one epoch of the fast Attribution CNN to
    # learn (efficiency at 15 GeV 0.69; 2,000 events predict one value for every event)
    "quick": DemoSize("quick", 10_000, 1, 500, 2_000, 1, 600, 4, 2_000,
                      "ram,saliency,ig,ig-binary-exact,shapley", "cascading", 1, 2, 2,
                      "2,4", "0.01,0.02"),
    "full": DemoSize("fast", 50_000, 2, 5_000, 20_000, 4, 5_000, 20, 20_000,
                     None, "cascading,independent", 2, 4, 3, "10,50,100", "0.01,0.02,0.05"),
}
MODELS = ("attribution-cnn", "tracin-cnn", "convsdt")


def muon_steps(out: Path, size: DemoSize, seed: int) -> list[Step]:
    data, models = out / "data", out / "models"
    splits = [data / f"{s}.h5" for s in ("train", "val", "noise")]
    steps = [Step("simulate", ["simulate", "muon", "--preset", size.preset, "--out", str(data),
                               "--seed", str(seed)], splits),
             Step("baselines", ["baselines", "muon", "--data", str(data), "--out",
                                str(out / "baselines"), "--max-events", str(size.eval_events)],
                  [out / "baselines" / "baselines.json"], splits)]
    train = ["--data", str(data), "--max-events", str(size.train_events), "--epochs",
             str(size.epochs), "--val-events", str(size.val_events), "--seed", str(seed),
             "--resume"]
    runs = {name: models / name for name in MODELS}
    runs["convsdt-distilled"] = models / "convsdt-distilled"
    for name in MODELS:
        steps.append(Step(f"train {name}", ["train", "muon", "--model", name, "--out",
                                            str(runs[name]), *train],
                          [runs[name] / "best.pt", runs[name] / "history.json"], splits))
    # the teacher is the fully trained Attribution CNN (its last epoch), not best.pt: the most
    # efficient epoch within the spread requirement can be an earlier one that still
    # overestimates pT, and the student would learn that bias
    teacher = runs["attribution-cnn"] / "checkpoints" / f"epoch_{size.epochs:03d}.pt"
    steps.append(Step("train convsdt-distilled",
                      ["train", "muon", "--model", "convsdt", "--teacher", str(teacher),
                       "--out", str(runs["convsdt-distilled"]), *train],
                      [runs["convsdt-distilled"] / "best.pt"], [*splits, teacher]))
    checkpoints = [runs[name] / "best.pt" for name in runs]
    evaluate = ["evaluate", "muon", "--data", str(data), "--out", str(out / "evaluation"),
                "--baselines", str(out / "baselines" / "baselines.json"), "--max-events",
                str(size.eval_events)]
    for c in checkpoints:
        evaluate += ["--checkpoint", str(c)]
    steps.append(Step("evaluate", evaluate, [out / "evaluation" / "evaluation.json"],
                      [*checkpoints, out / "baselines" / "baselines.json"]))
    # thesis table 7.1: the tree models, distilled from the same teacher as the ConvSDT
    from hepxai.usecases.muon.tree_baselines import tree_steps

    steps += tree_steps(out / "trees", data, teacher,
                        ["--max-events", str(size.train_events), "--epochs", str(size.epochs),
                         "--val-events", str(size.val_events), "--seed", str(seed),
                         "--resume"], eval_events=size.eval_events)
    # the sanity checks first: the Attribution CNN's study averages as many draws of each
    # stochastic method as their seed stability predicts are needed
    steps += sanity_steps(out, runs["attribution-cnn"], size, seed, train, splits)
    sanity = out / "sanity" / "attribution-cnn" / "sanity.json"
    explain = ["--data", str(data), "--events-per-category", str(size.per_category), "--pool",
               str(size.pool), "--seed", str(seed), "--copies", str(size.smoothgrad_copies)]
    for name in ("attribution-cnn", "tracin-cnn"):
        checked = ["--samples-from", str(sanity), "--seeds", str(size.judging_seeds),
                   "--smoothgrad-grid", "--grid-copies", size.grid_copies, "--grid-rates",
                   size.grid_rates] if name == "attribution-cnn" else []
        steps.append(Step(f"explain {name}",
                          ["explain", "muon", "--checkpoint", str(runs[name] / "best.pt"),
                           "--out", str(out / "explain" / name), *explain, *checked],
                          [out / "explain" / name / "judging.json"],
                          [runs[name] / "best.pt", *splits, *([sanity] if checked else [])]))
    for name in ("convsdt", "convsdt-distilled"):
        steps.append(Step(f"decision flow {name}",
                          ["explain", "muon", "--checkpoint", str(runs[name] / "best.pt"),
                           "--methods", "tree", "--out", str(out / "explain" / name), *explain],
                          [out / "explain" / name / "tree" / "tree.json"],
                          [runs[name] / "best.pt", *splits]))
    influence = out / "influence"
    store = ["--run", str(runs["tracin-cnn"]), "--data", str(data), "--store",
             str(influence / "last-layer"), "--out", str(influence)]
    steps.append(Step("tracin precompute",
                      ["influence", "muon", "precompute", *store, "--max-train",
                       str(size.tracin_train)],
                      [influence / "last-layer" / "manifest.json"],
                      [runs["tracin-cnn"] / "best.pt", *splits]))
    steps.append(Step("tracin categories",
                      ["influence", "muon", "categories", *store, "--events-per-category",
                       str(size.per_category), "--pool", str(size.pool), "--seed", str(seed)],
                      [influence / "categories_last-layer.json"],
                      [influence / "last-layer" / "manifest.json"]))
    steps.append(Step("report", ["report", "muon", str(out)],
                      [out / "report.html", out / "summary.json"],
                      [out / "evaluation", out / "explain", out / "baselines", influence,
                       out / "sanity", out / "trees" / "evaluation"]))
    return steps


def sanity_steps(out: Path, run: Path, size: DemoSize, seed: int, train: list[str],
                 splits: list[Path]) -> list[Step]:
    """Train the Attribution CNN again on shuffled labels (same recipe and seed; outside
    ``models/``: it is no trigger) and run the sanity checks of the trained one."""
    sanity = out / "sanity"
    shuffled = sanity / f"{run.name}-shuffled"
    data = train[train.index("--data") + 1]
    check = ["sanity", "muon", "--checkpoint", str(run / "best.pt"), "--data", data,
             "--shuffled", str(shuffled / "best.pt"), "--orders", size.sanity_orders,
             "--events-per-category", str(size.sanity_per_category), "--pool", str(size.pool),
             "--seeds", str(size.sanity_seeds), "--copies", str(size.smoothgrad_copies),
             "--seed", str(seed), "--out", str(sanity / run.name)]
    if size.sanity_methods:
        check += ["--methods", size.sanity_methods]
    return [Step(f"train {run.name} on shuffled labels",
                 ["train", "muon", "--model", run.name, "--out", str(shuffled), *train,
                  "--shuffle-labels"], [shuffled / "best.pt"], splits),
            Step(f"sanity {run.name}", check, [sanity / run.name / "sanity.json"],
                 [run / "best.pt", shuffled / "best.pt", *splits])]


def run_demo(out: Path, quick: bool, seed: int, echo=print) -> dict[str, float]:
    """Run (or resume) the demo in ``out``; the seconds of each step in this call (0 if
    skipped), ``out/timings.json`` those of the runs that made the outputs."""
    size = SIZES["quick" if quick else "full"]
    return run_steps(muon_steps(out, size, seed), out, echo=echo)
