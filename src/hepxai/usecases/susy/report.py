"""The SUSY section of the report: data, training, performance, explanations, convergence,
rendered from what ``hepxai demo susy`` (or the separate commands) wrote into a run directory.

:func:`section_context` collects everything into a dict; ``templates/susy.html.j2`` extends
the report base page (:mod:`hepxai.report`) and holds the section in its block ``section``
(:func:`render_section` renders it alone, for a page that embeds it); :func:`write_report`
writes the whole page, with the demo's step times when ``timings.json`` is there. Figures are
embedded as data URIs, so the page is one self-contained file.

Run directory layout: ``data/`` (train.h5, test.h5), ``runs/MODEL-SAMPLE/`` (model.json,
training_curves.png), ``evaluation/evaluation.json`` (+ figures), ``explain/explain.json``
(+ figures).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from hepxai import __version__
from hepxai.core.atomic import read_json
from hepxai.core.errors import HepxaiError
from hepxai.report import (
    Section,
    data_uri,
    markdown_rows,
    page_context,
    present,
    render_block,
    render_report,
)
from hepxai.report.sanity import read_sanity

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _data_summary(data_dir: Path, run: Path) -> dict[str, Any] | None:
    from hepxai.usecases.susy.simulator import FEATURE_INFO, LEVELS
    from hepxai.usecases.susy.store import SPLIT_FILES, SusyFile, split_path

    splits = {}
    for split in SPLIT_FILES:
        path = split_path(data_dir, split)
        if path.exists():
            f = SusyFile(path)
            splits[split] = {"events": len(f), "mb": path.stat().st_size / 1e6,
                             "presel": {lv: float(f.presel[lv].mean()) for lv in LEVELS},
                             "file": f}
    if not splits:
        return None
    test = splits.get("test", next(iter(splits.values())))["file"]
    features_png = run / "figures" / "data_features.png"
    resolution_png = run / "figures" / "data_resolution.png"
    if not features_png.exists() or not resolution_png.exists():
        from hepxai.usecases.susy.figures import plot_features, plot_resolution

        plot_features(test.features, test.label, test.presel, test.feature_names,
                      test.class_names, features_png)
        both = test.selection(("truth", "simplified", "full"))
        plot_resolution(test.features["truth"][both], test.features["simplified"][both],
                        test.features["full"][both], test.feature_names, resolution_png)
    processes = []
    for name, info in test.processes.items():
        k = test.class_names.index(name)
        rows = {lv: (test.label == k) & test.presel[lv] for lv in LEVELS}
        processes.append({
            "name": name, "sigma_fb": info["sigma_br_fb"], "events": info["events"],
            "candidates": info["candidates"], "efficiency": info["filter_efficiency"],
            "expected": info["expected_events"],
            "expected_presel": {lv: float(test.weight[r].sum()) for lv, r in rows.items()}})
    config = json.loads(test.attrs.get("simulator_config", "{}"))
    return {"splits": {k: {kk: vv for kk, vv in v.items() if kk != "file"}
                       for k, v in splits.items()},
            "processes": processes, "seed": test.attrs.get("seed"),
            "luminosity": test.attrs.get("luminosity_fb"),
            "m_heavy": config.get("m_heavy"), "m_lsp": config.get("m_lsp"),
            "features": [{"name": n, "unit": u, "text": t} for n, (u, t) in FEATURE_INFO.items()],
            "figure_features": data_uri(features_png),
            "figure_resolution": data_uri(resolution_png)}


def _training(run: Path) -> list[dict[str, Any]]:
    rows = []
    for meta_path in sorted((run / "runs").glob("*/model.json")) if (run / "runs").is_dir() \
            else []:
        meta = read_json(meta_path, "'hepxai train susy'")
        rows.append({"name": meta_path.parent.name, "kind": meta.get("kind"),
                     "sample": meta.get("sample"), "preset": meta.get("preset"),
                     "n_train": meta.get("n_train"), "seconds": meta.get("train_seconds"),
                     "hyper": ", ".join(f"{k} {v}" for k, v in
                                        meta.get("hyperparameters", {}).items()),
                     "curves": data_uri(meta_path.parent / "training_curves.png")})
    return rows


def _explain_summary(path: Path) -> dict[str, Any]:
    from hepxai.usecases.susy.study import comparison_table, convergence_table, importance_table

    summary = read_json(path, "'hepxai explain susy'")
    figures = summary.get("figures", {})
    models = []
    for name, entry in figures.get("models", {}).items():
        classes = []
        for target, paths in entry.items():
            if target == "summary":
                continue
            classes.append({"name": target, "beeswarm": data_uri(paths.get("beeswarm")),
                            "bar": data_uri(paths.get("bar")),
                            "dependence": [{"feature": f, "image": data_uri(p)}
                                           for f, p in paths.get("dependence", {}).items()]})
        models.append({"name": name, "summary": data_uri(entry.get("summary")),
                       "classes": classes})
    info = summary["attributions"]
    top = {}
    for name, item in info.items():
        imp = item["importance"]["signal"]
        top[name] = sorted(imp, key=lambda f: -imp[f])[:5]
    comparison = summary.get("comparison")
    most_changed = [r["feature"] for r in comparison["rows"][:3]] if comparison else []
    agreement = [r for r in summary.get("convergence", [])]
    return {
        "n_events": summary["n_events"], "engine": summary.get("engine"),
        "methods": [{"name": n, "seconds": v["seconds"], "rate": v["events_per_second"],
                     "completeness": v["completeness_rel_median"]} for n, v in info.items()],
        "importance": markdown_rows(importance_table(summary)),
        "comparison": markdown_rows(comparison_table(summary)) if comparison else None,
        "comparison_figure": data_uri(figures.get("comparison")),
        "convergence": markdown_rows(convergence_table(summary)) if agreement else None,
        "convergence_figure": data_uri(figures.get("convergence")),
        "top": top, "most_changed": most_changed, "models": models,
        "pairs": {f"{r['a']} / {r['b']}": r for r in agreement}}


def section_context(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Everything the SUSY section shows, from ``run_dir``; missing parts are left out, an empty
    run is an error."""
    run = Path(run_dir)
    if not run.is_dir():
        raise HepxaiError(f"{run}: no such run directory; run 'hepxai demo susy --out DIR' first")
    ctx: dict[str, Any] = {"version": __version__, "run_dir": str(run), "data": None,
                           "training": [], "evaluation": None, "explain": None}
    if (run / "data").is_dir():
        ctx["data"] = _data_summary(run / "data", run)
    ctx["training"] = _training(run)
    evaluation = run / "evaluation" / "evaluation.json"
    if evaluation.exists():
        from hepxai.usecases.susy.evaluation import metric_table, yields_table

        results = read_json(evaluation, "'hepxai evaluate susy'", ("models",))
        best = {label: r["significance"]["best"] for label, r in results["models"].items()}
        ctx["evaluation"] = {
            "table": markdown_rows(metric_table(results)),
            "yields": markdown_rows(yields_table(results)),
            "rel_unc": results["rel_unc"], "signal_efficiency": results["signal_efficiency"],
            "min_background_events": results["min_background_events"], "best": best,
            "confusion": {label: np.round(np.asarray(r["confusion"]) * 100, 1).tolist()
                          for label, r in results["models"].items()},
            "classes": results["classes"], "models": results["models"],
            "roc": data_uri(run / "evaluation" / "roc.png"),
            "efficiency_rejection": data_uri(run / "evaluation" / "efficiency_rejection.png"),
            "significance": data_uri(run / "evaluation" / "significance.png"),
            "scores": data_uri(run / "evaluation" / "scores.png")}
    explain = run / "explain" / "explain.json"
    if explain.exists():
        ctx["explain"] = _explain_summary(explain)
    ctx["sanity"] = [{**entry, "figure": data_uri(run / entry["figure"]) if entry["figure"]
                      else None} for entry in read_sanity(run)]
    if not any(ctx.get(k) for k in ("data", "evaluation", "explain")):
        raise HepxaiError(f"{run}: holds no SUSY results (data/, evaluation/, explain/); run "
                          "'hepxai demo susy --out DIR' first")
    return ctx


def sections(ctx: dict[str, Any]) -> list[Section]:
    """The page's navigation: the parts of :func:`section_context` that are there."""
    explain = ctx["explain"]
    return present(
        Section("susy-data", "Data") if ctx["data"] else None,
        Section("susy-models", "Models") if ctx["training"] else None,
        Section("susy-performance", "Performance") if ctx["evaluation"] else None,
        Section("susy-explain", "Explanations", tuple(present(
            Section("susy-importance", "Impact on the signal"),
            Section("susy-comparison", "Simplified vs full") if explain["comparison"] else None,
            Section("susy-convergence", "BDT vs MLP") if explain["convergence"] else None)))
        if explain else None,
        Section("susy-sanity", "Sanity checks", tuple(
            Section(f"sanity-{s['name']}", s["name"]) for s in ctx["sanity"]))
        if ctx["sanity"] else None)


def render_section(ctx: dict[str, Any]) -> str:
    """The section's HTML alone (for a page that embeds it)."""
    return render_block(TEMPLATES, "susy.html.j2", "section", {"ctx": ctx})


def write_report(run_dir: str | os.PathLike[str],
                 path: str | os.PathLike[str] | None = None) -> Path:
    """Render the standalone page ``run_dir/report.html`` (atomically)."""
    ctx = section_context(run_dir)
    target = Path(path) if path is not None else Path(run_dir) / "report.html"
    page = page_context(run_dir, sections(ctx), ctx=ctx, warnings=warnings(ctx))
    return render_report(TEMPLATES, "susy.html.j2", page, target)


def warnings(ctx: dict[str, Any]) -> list[str]:
    """The banner: every evaluated model whose signal-vs-rest AUC a blind classifier would
    reach (:func:`hepxai.metrics.classification.blind_tagger`)."""
    from hepxai.metrics.classification import blind_tagger

    evaluation = ctx.get("evaluation") or {}
    classes = evaluation.get("classes") or []
    out = []
    for label, r in (evaluation.get("models") or {}).items():
        if not classes or "signal" not in r.get("auc", {}):
            continue
        n_signal = int(r["n_per_class"][classes.index("signal")])
        found = blind_tagger(label, r["auc"]["signal"], n_signal, int(r["n_events"]) - n_signal,
                             "signal from the backgrounds")
        if found:
            out.append(found)
    return out
