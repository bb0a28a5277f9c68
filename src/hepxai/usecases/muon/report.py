"""The muon study's HTML report (thesis chapters 5-7) and its ``summary.json``.

Everything is read from a run directory written by ``hepxai demo muon`` (or by the individual
commands into the same layout): ``data/``, ``baselines/``, ``models/NAME/``, ``evaluation/``,
``explain/NAME/``, ``sanity/NAME/``. Figures are referenced by relative paths, so the directory
can be copied or served as it is; every number shown is also in ``summary.json``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from hepxai.core.atomic import read_json, write_json_atomic
from hepxai.core.errors import HepxaiError
from hepxai.metrics import thesis_code
from hepxai.report import Section, page_context, present, render_report
from hepxai.report.sanity import read_sanity

TEMPLATES = Path(__file__).parent / "templates"


def _json(path: Path, made_by: str, require: tuple[str, ...] = ()) -> dict[str, Any] | None:
    return read_json(path, made_by, require) if path.exists() else None


def _data_section(run: Path) -> dict[str, Any] | None:
    from hepxai.usecases.muon.figures import plot_example_events, plot_label_distributions
    from hepxai.usecases.muon.store import MuonFile, split_path

    data = run / "data"
    if not split_path(data, "val").exists():
        return None
    files = {s: MuonFile(split_path(data, s)) for s in ("train", "val", "noise")
             if split_path(data, s).exists()}
    rows = []
    for split, f in files.items():
        hits = np.diff(np.asarray(f.images.offsets))
        labelled = split != "noise"  # only-noise events have no muon
        rows.append({"split": split, "events": len(f),
                     "mean_hits": float(hits.mean()),
                     # thesis table 5.1: mean and standard deviation of pT and |eta|
                     **{f"{stat}_{key}": float(getattr(np, stat)(f.labels[key])) if labelled
                        else None for key in ("pt", "eta") for stat in ("mean", "std")},
                     "above_15": float((f.labels["pt"] > 15).mean()) if labelled else None})
    figures = [plot_label_distributions(files, run / "figures" / "labels.png").name,
               plot_example_events(files["val"], run / "figures" / "examples.png").name]
    return {"splits": rows, "figures": [f"figures/{name}" for name in figures]}


def build_muon_report(run_dir: str | os.PathLike[str]) -> Path:
    """Render ``RUN/report.html`` and ``RUN/summary.json``; returns the HTML path."""
    run = Path(run_dir)
    if not run.is_dir():
        raise HepxaiError(f"{run}: no such run directory; run 'hepxai demo muon --out {run}' "
                          "first")
    evaluation = _json(run / "evaluation" / "evaluation.json", "'hepxai evaluate muon'",
                       ("models",))
    baselines = _json(run / "baselines" / "baselines.json", "'hepxai baselines muon'",
                      ("baselines",))
    if evaluation is None and baselines is None:
        raise HepxaiError(f"{run}: holds neither evaluation/evaluation.json nor "
                          "baselines/baselines.json; run 'hepxai demo muon' or the evaluate "
                          "command into this directory first")
    models = []
    for history in sorted(run.glob("models/*/history.json")):
        h = read_json(history, "'hepxai train muon'", ("history", "identity"))
        models.append({"name": history.parent.name, "history": h["history"],
                       "identity": h["identity"],
                       "curves": _rel(run, history.parent / "training_curves.png")})
    explanations = []
    for judging in sorted(run.glob("explain/*/judging.json")):
        summary = read_json(judging, "'hepxai explain muon'")
        folder = judging.parent
        explanations.append({
            "name": folder.name, "summary": summary,
            "agreement": _rel(run, folder / "agreement.png"),
            "deletion": _rel(run, folder / "deletion_curves.png"),
            "galleries": [{"category": p.stem.removeprefix("gallery_"), "path": _rel(run, p)}
                          for p in sorted(folder.glob("gallery_*.png"))],
            "interpolation": _rel(run, folder / "interpolation_set.png"),
            "noise_examples": _rel(run, folder / "noise_examples.png"),
            "smoothgrad_grid": _rel(run, folder / "smoothgrad_grid.png"),
            "panels": [{"name": p.stem.removeprefix("panel_"), "path": _rel(run, p)}
                       for p in sorted(folder.glob("panel_*.png"))]})
    trees = []
    for tree in sorted(run.glob("explain/*/tree/tree.json")):
        report = read_json(tree, "'hepxai explain muon --methods tree'")
        trees.append({"name": tree.parent.parent.name, "report": report,
                      "leaf_usage": _rel(run, tree.parent / "leaf_usage.png"),
                      "figures": [{"category": e["category"], "summary": e["summary"],
                                   "path": _rel(run, tree.parent / e["figure"])}
                                  for e in report["examples"]]})
    influence = _influence_section(run)
    validation = _validation_section(run / "influence")
    from hepxai.usecases.muon.tree_baselines import tree_table

    tree_models = tree_table(run / "trees")
    data = _data_section(run)
    sanity = read_sanity(run)
    warnings = list(_warnings(evaluation, run / "evaluation").values())
    weak_trees = _warnings(_json(run / "trees" / "evaluation" / "evaluation.json",
                                 "'hepxai trees muon'", ("models",)),
                           run / "trees" / "evaluation", learned_only=True)
    if weak_trees:  # one sentence for the table: its rows show each model's numbers
        warnings.append(f"Table 7.1: {len(weak_trees)} of {len(tree_models or weak_trees)} "
                        f"tree models have not learned the task on this sample "
                        f"({', '.join(weak_trees)}): predictions of almost one value or no "
                        "event selected at 15 GeV; train on more events or epochs")
    summary = {"run": str(run), "data": data and data["splits"],
               "models": [_model_numbers(m) for m in (evaluation or {}).get("models", [])],
               "baselines": {name: {k: b.get(k) for k in ("mae", "spread", "efficiency_15",
                                                          "efficiency_10", "only_noise")}
                             for name, b in (baselines or {}).get("baselines", {}).items()},
               "training": {m["name"]: m["history"] for m in models},
               "judging": {e["name"]: {k: e["summary"][k] for k in
                                       ("categories", "scores", "agreement")}
                           for e in explanations},
               "decision_flow": {t["name"]: {k: t["report"].get(k) for k in
                                             ("confidence", "leaves", "examples")}
                                 for t in trees},
               "influence": influence and influence["summary"],
               "tree_models": tree_models,
               "sanity": {s["name"]: s["rows"] for s in sanity}}
    write_json_atomic(run / "summary.json", summary)
    figure = {name: _rel(run, run / "evaluation" / f"{name}.png")
              for name in ("turn_on_15", "turn_on_10", "resolution", "confusion_15")}
    return render_report(TEMPLATES, "muon.html.j2", page_context(
        run, _sections(data, explanations, trees, influence, sanity, tree_models, validation),
        run=run.name, data=data,
        models=models, evaluation=evaluation, summary=summary, figure=figure,
        explanations=explanations, trees=trees, influence=influence, sanity=sanity,
        tree_models=tree_models, warnings=warnings, validation=validation,
        differences=thesis_code.DIFFERENCES, conclusion=_conclusion(explanations)),
        run / "report.html")


def _sections(data: dict[str, Any] | None, explanations: list[dict[str, Any]],
              trees: list[dict[str, Any]], influence: dict[str, Any] | None,
              sanity: list[dict[str, Any]],
              tree_models: list[dict[str, Any]] | None = None,
              validation: dict[str, Any] | None = None) -> list[Section]:
    """The navigation: the chapters' numbers as in the headings, one sub-entry per explained
    model and per soft decision tree, and thesis table 7.1 where the run has it."""
    return present(
        Section("data", "1. Data") if data else None,
        Section("models", "2. Models and training"),
        Section("metrics", "3. Trigger performance",
                (Section("tree-models", "Table 7.1: tree models"),) if tree_models else ()),
        Section("explanations", "4. Attributions",
                tuple(Section(f"explain-{e['name']}", e["name"]) for e in explanations)),
        Section("tree", "5. Decision flow",
                tuple(Section(f"tree-{t['name']}", t["name"]) for t in trees)),
        Section("influence", "6. Training-data influence",
                (Section("influence-validation", "Checked by retraining"),) if validation
                else ()) if influence else None,
        Section("convergence", f"{7 if influence else 6}. Convergence"),
        Section("sanity", f"{8 if influence else 7}. Sanity checks",
                tuple(Section(f"sanity-{s['name']}", s["name"]) for s in sanity))
        if sanity else None)


def _influence_section(run: Path) -> dict[str, Any] | None:
    """TracIn proponents/opponents per trigger set, from ``influence/categories_*.json``."""
    found = sorted(run.glob("influence/categories_*.json"))
    if not found:
        return None
    path = found[0]
    variant = path.stem.removeprefix("categories_")
    summary = read_json(path, "'hepxai influence muon categories'")
    store = None
    if (path.parent / variant / "manifest.json").exists():
        from hepxai.explain.influence import TracInStore

        try:  # the sizes only: no need to hash every array for them
            store = TracInStore.open(path.parent / variant, verify=False)
        except HepxaiError:  # an older or damaged store: the table is shown without them
            store = None
    figures = [{"set": name, "path": _rel(run, path.parent / f"category_{name}_{variant}.png")}
               for name, s in summary["sets"].items() if s.get("n_events")]
    return {"variant": variant, "summary": summary, "figures": figures,
            "n_train": store and store.n_train, "epochs": store and store.epochs,
            "explained": Path(summary.get("explained_model", "")).parent.name}


def _validation_section(folder: Path) -> dict[str, Any] | None:
    """TracIn validated by retraining, where the run has it (``hepxai influence muon lsor`` /
    ``datamodels`` with ``--out RUN/influence``): the leave-some-out changes of the test loss
    and the datamodels' LDS, each mean with its standard error, and per TracIn variant whether
    its proponents' removal hurts more than random removal beyond two standard errors."""
    lsor = _json(folder / "lsor.json", "'hepxai influence muon lsor'", ("variants", "random"))
    datamodels = _json(folder / "datamodels.json", "'hepxai influence muon datamodels'",
                       ("lds",))
    if lsor is None and datamodels is None:
        return None
    verdicts = []
    for variant, v in ((lsor or {}).get("variants") or {}).items():
        beyond = v["difference_mean"] > 2 * v["difference_se"]
        verdicts.append(f"removing the top {variant} proponents raises the test loss "
                        f"{v['difference_mean']:+.4f} +- {v['difference_se']:.4f} more than "
                        "removing random events"
                        + ("" if beyond else ": within two standard errors, not established"))
    return {"lsor": lsor, "datamodels": datamodels, "verdicts": verdicts}


def _warnings(evaluation: dict[str, Any] | None, folder: Path,
              learned_only: bool = False) -> dict[str, str]:
    """Label -> the banner's sentence, for every evaluated model too weak for its numbers
    (:func:`~hepxai.usecases.muon.evaluation.degeneracy`, from its saved predictions: the
    path the evaluation recorded, else ``folder/predictions/`` for a run moved or read from
    elsewhere); ``learned_only``: only models that did not learn (not a small sample)."""
    from hepxai.usecases.muon.evaluation import degeneracy

    out = {}
    for m in (evaluation or {}).get("models", []):
        path = Path(m.get("predictions", ""))
        if not path.is_file():
            path = folder / "predictions" / path.name
        if not path.is_file():
            continue
        with np.load(path) as saved:
            found = degeneracy(m["label"], saved["targets"][:, 0], saved["val"][:, 0],
                               learned_only=learned_only)
        if found:
            out[m["label"]] = found
    return out


def _model_numbers(m: dict[str, Any]) -> dict[str, Any]:
    keys = ("label", "model", "preset", "loss", "loss_space", "mae", "spread", "efficiency_15",
            "efficiency_10", "only_noise", "only_noise_10", "parameters", "size_bytes",
            "throughput", "classification_report_15", "confusion_15", "conventions")
    return {k: m.get(k) for k in keys}


def _rel(run: Path, path: Path) -> str | None:
    return str(path.relative_to(run)) if path.exists() else None


def _conclusion(explanations: list[dict[str, Any]]) -> str:
    """One paragraph stating what the judging and convergence tables show (from the numbers)."""
    sentences = []
    for e in explanations:
        scores = e["summary"]["scores"]
        # one category for every method (TP where all have it), as the table shows
        category = "TP" if all("TP" in s for s in scores.values()) else "all"
        tp = {m: s[category].get("muon_share") for m, s in scores.items()}
        tp = {m: v for m, v in tp.items() if v is not None and v == v}
        bounds = {m: ((e["summary"].get("intervals") or {}).get("scores", {}).get(m, {})
                      .get(category, {}).get("muon_share")) for m in tp}
        methods = list(scores)
        matrix = np.array(e["summary"]["agreement"]["spearman"]["all"], dtype=float)
        if len(methods) > 1:
            upper = np.triu_indices(len(methods), 1)
            i = int(np.nanargmax(matrix[upper]))
            pair = (methods[upper[0][i]], methods[upper[1][i]], matrix[upper][i])
            mean = float(np.nanmean(matrix[upper]))
        else:
            pair, mean = None, float("nan")
        verdict = "largely converge" if mean > 0.5 else "only partly converge" if mean > 0.2 \
            else "do not converge"
        text = f"For the {e['name']}, "
        if tp:
            ranked = sorted(tp, key=tp.get, reverse=True)
            best = ranked[0]
            text += (f"{best} puts the largest share of its relevance on the muon's hits in "
                     f"{'true-positive' if category == 'TP' else 'all'} events "
                     f"({tp[best]:.0%}; a map blind to the muon would give the muon's share of "
                     "the lit pixels)")
            runner = ranked[1] if len(ranked) > 1 else None
            a, b = (bounds.get(best), bounds.get(runner)) if runner else (None, None)
            if a and b and a[0] <= b[1]:  # the intervals overlap: no established lead
                text += (f", but its 95 % interval [{a[0]:.2f}, {a[1]:.2f}] overlaps that of "
                         f"{runner} [{b[0]:.2f}, {b[1]:.2f}]: this sample does not establish "
                         "which localizes best")
            text += ". "
        if pair:
            text += (f"The closest pair of methods is {pair[0]} and {pair[1]} (Spearman "
                     f"{pair[2]:.2f} on lit pixels); the mean agreement over all pairs is "
                     f"{mean:.2f}, so the methods {verdict} "
                     "on which hits matter.")
        sentences.append(text)
    return " ".join(sentences) or "No explanation study in this run."
