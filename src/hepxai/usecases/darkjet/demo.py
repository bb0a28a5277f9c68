"""``hepxai demo darkjet``: the dark-jet study as resumable steps, with its report.

simulate -> train ResGNN, GATv2 and the 3D-CNN on each graph variant (gnn-0, gnn-1, gnn-2)
-> evaluate the nine on test.h5 -> sanity checks of the gnn-1 ResGNN's explanations (layers
randomized; a twin trained on shuffled labels; GNNExplainer's seeds) -> explain it (judged, and
compared with the gnn-1 3D-CNN; GNNExplainer averaging the restarts its seed stability asks
for) -> TracIn of the gnn-1 ResGNN (precompute, categories; kappa pruning on request) -> report
(with 3D views of test jets as graphs).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hepxai.pipeline.steps import Step, option, run_steps

MODELS = ("resgnn", "gatv2", "cnn3d")


#: GNNExplainer's seeds in the judging: its means average them, its intervals resample them
JUDGING_SEEDS = 3


@dataclass(frozen=True)
class DemoSettings:
    """The options of ``hepxai demo darkjet`` (same names, same defaults)."""

    n: int = 20_000  # jets per class simulated
    preset: str = "quick"
    epochs: int | None = None
    max_jets: int | None = None
    n_explain: int = 100
    views: int = 2
    influence_jets: int = 10
    influence_validation: bool = False
    seed: int = 1
    threads: int | None = None


def darkjet_steps(out: Path, s: DemoSettings) -> list[Step]:
    from hepxai.usecases.darkjet.graphs import VARIANTS

    data, runs = out / "data", out / "runs"
    train_h5, val_h5, test_h5 = (data / f"{split}.h5" for split in ("train", "val", "test"))
    threads = option("--threads", s.threads)
    steps = [Step("simulate", ["simulate", "darkjet", "--out", data, "--n", s.n,
                               "--seed", s.seed], [train_h5, val_h5, test_h5])]
    checkpoints = []
    for variant in VARIANTS:
        for model in MODELS:
            run = runs / f"{model}-{variant}"
            steps.append(Step(f"train {model}-{variant}",
                              ["train", "darkjet", "--model", model, "--preset", s.preset,
                               "--variant", variant, "--data", data, "--out", run,
                               "--seed", s.seed, *option("--epochs", s.epochs),
                               *option("--max-jets", s.max_jets), *threads],
                              [run / "best.pt", run / "history.json"], [train_h5, val_h5]))
            checkpoints.append(run / "best.pt")
    evaluation = out / "evaluation"
    steps.append(Step("evaluate",
                      ["evaluate", "darkjet", *[a for c in checkpoints for a in
                                                ("--checkpoint", c)],
                       "--data", data, "--out", evaluation, *threads],
                      [evaluation / "evaluation.json"], [*checkpoints, test_h5]))
    explained, cnn = runs / "resgnn-gnn-1", runs / "cnn3d-gnn-1"
    sanity = out / "sanity"
    shuffled = sanity / f"{explained.name}-shuffled"  # outside runs/: not an evaluated tagger
    steps.append(Step(f"train {explained.name} on shuffled labels",
                      ["train", "darkjet", "--model", "resgnn", "--preset", s.preset,
                       "--variant", "gnn-1", "--data", data, "--out", shuffled,
                       "--seed", s.seed, *option("--epochs", s.epochs),
                       *option("--max-jets", s.max_jets), *threads, "--shuffle-labels"],
                      [shuffled / "best.pt"], [train_h5, val_h5]))
    steps.append(Step(f"sanity {explained.name}",
                      ["sanity", "darkjet", "--checkpoint", explained / "best.pt", "--data",
                       data, "--shuffled", shuffled / "best.pt", "--out",
                       sanity / explained.name, "--jets", s.n_explain,
                       "--gnnexplainer-jets", min(20, s.n_explain), "--seed", s.seed,
                       *threads],
                      [sanity / explained.name / "sanity.json"],
                      [explained / "best.pt", shuffled / "best.pt", test_h5]))
    # GNNExplainer's masks average as many restarts as its seed stability predicts are needed
    checked = sanity / explained.name / "sanity.json"
    explain = out / "explain"
    steps.append(Step("explain resgnn-gnn-1",
                      ["explain", "darkjet", "--checkpoint", explained / "best.pt", "--data",
                       data, "--out", explain, "--n-jets", s.n_explain,
                       "--gnnexplainer-jets", min(20, s.n_explain),
                       "--views", s.views, "--seed", s.seed, "--cnn-checkpoint",
                       cnn / "best.pt", "--samples-from", checked, "--seeds", JUDGING_SEEDS,
                       *threads],
                      [explain / "explain.json", explain / "judging.json"],
                      [explained / "best.pt", cnn / "best.pt", test_h5, checked]))
    influence = out / "influence"
    store = ["--run", explained, "--data", data, "--out", influence, "--store",
             influence / "tracin", *threads]
    steps.append(Step("tracin precompute", ["influence", "darkjet", "precompute", *store],
                      [influence / "tracin" / "manifest.json"], [explained, train_h5]))
    steps.append(Step("tracin categories",
                      ["influence", "darkjet", "categories", *store, "--per-category",
                       s.influence_jets, "--top-k", 10, "--seed", s.seed],
                      [influence / "categories.json"],
                      [influence / "tracin", explained / "best.pt", train_h5, test_h5]))
    report_inputs = [evaluation, explain, influence / "categories.json", test_h5,
                     sanity / explained.name / "sanity.json"]
    if s.influence_validation:  # small ResGNNs retrained on the demo's gnn-1 graphs
        kappa = influence / "kappa"
        steps.append(Step("tracin kappa",
                          ["influence", "darkjet", "kappa", "--data", data, "--out", kappa,
                           "--variant", "gnn-1", "--n-train", 2000,
                           "--epochs", s.epochs or 2, "--fractions", "0.3", "--n-random", 1,
                           "--seed", s.seed, *threads],
                          [kappa / "kappa.json"], [train_h5, test_h5]))
        report_inputs.append(kappa / "kappa.json")
    steps.append(Step("report", ["report", "darkjet", out, "--views", s.views],
                      [out / "report.html", out / "graphs" / "graphs.json"], report_inputs))
    return steps


def run_demo(out: Path, settings: DemoSettings = DemoSettings(), echo=print
             ) -> dict[str, float]:
    """Run (or resume) the demo in ``out``; the seconds of each step in this call (0 if
    skipped), ``out/timings.json`` those of the runs that made the outputs."""
    return run_steps(darkjet_steps(out, settings), out, echo=echo)
