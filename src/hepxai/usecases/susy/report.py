"""The SUSY section of the report: data, training, performance, explanations, convergence,
rendered from what ``hepxai demo susy`` (or the separate commands) wrote into a run directory.

:func:`section_context` collects everything into a dict; ``templates/susy.html.j2`` defines a
``section(ctx)`` macro (for the global report to embed) and a standalone page around it
(:func:`write_report`). Figures are embedded as data URIs, so the page is one self-contained
file.

Run directory layout: ``data/`` (train.h5, test.h5), ``runs/MODEL-SAMPLE/`` (model.json,
training_curves.png), ``evaluation/evaluation.json`` (+ figures), ``explain/explain.json``
(+ figures).
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from hepxai import __version__
from hepxai.core.atomic import atomic_path
from hepxai.core.errors import HepxaiError

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _image(path: str | os.PathLike[str] | None) -> str | None:
    if path is None or not Path(path).is_file():
        return None
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def _rows(table: str) -> list[list[str]]:
    """A Markdown table as rows of cells (the separator row dropped)."""
    rows = [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in table.splitlines() if line.strip().startswith("|")]
    return [r for i, r in enumerate(rows) if i != 1]


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
            "figure_features": _image(features_png), "figure_resolution": _image(resolution_png)}


def _training(run: Path) -> list[dict[str, Any]]:
    rows = []
    for meta_path in sorted((run / "runs").glob("*/model.json")) if (run / "runs").is_dir() \
            else []:
        meta = json.loads(meta_path.read_text())
        rows.append({"name": meta_path.parent.name, "kind": meta.get("kind"),
                     "sample": meta.get("sample"), "preset": meta.get("preset"),
                     "n_train": meta.get("n_train"), "seconds": meta.get("train_seconds"),
                     "hyper": ", ".join(f"{k} {v}" for k, v in
                                        meta.get("hyperparameters", {}).items()),
                     "curves": _image(meta_path.parent / "training_curves.png")})
    return rows


def _explain_summary(path: Path) -> dict[str, Any]:
    from hepxai.usecases.susy.study import comparison_table, convergence_table, importance_table

    summary = json.loads(path.read_text())
    figures = summary.get("figures", {})
    models = []
    for name, entry in figures.get("models", {}).items():
        classes = []
        for target, paths in entry.items():
            if target == "summary":
                continue
            classes.append({"name": target, "beeswarm": _image(paths.get("beeswarm")),
                            "bar": _image(paths.get("bar")),
                            "dependence": [{"feature": f, "image": _image(p)}
                                           for f, p in paths.get("dependence", {}).items()]})
        models.append({"name": name, "summary": _image(entry.get("summary")),
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
        "importance": _rows(importance_table(summary)),
        "comparison": _rows(comparison_table(summary)) if comparison else None,
        "comparison_figure": _image(figures.get("comparison")),
        "convergence": _rows(convergence_table(summary)) if agreement else None,
        "convergence_figure": _image(figures.get("convergence")),
        "top": top, "most_changed": most_changed, "models": models,
        "pairs": {f"{r['a']} / {r['b']}": r for r in agreement}}


def section_context(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Everything the SUSY section shows, from ``run_dir``; missing parts are left out, an empty
    run is an error."""
    run = Path(run_dir)
    if not run.is_dir():
        raise HepxaiError(f"{run}: no such run directory; run 'hepxai demo susy --out DIR' first")
    ctx: dict[str, Any] = {"version": __version__, "run_dir": str(run), "data": None,
                           "training": [], "evaluation": None, "explain": None,
                           "timings": None}
    if (run / "data").is_dir():
        ctx["data"] = _data_summary(run / "data", run)
    ctx["training"] = _training(run)
    evaluation = run / "evaluation" / "evaluation.json"
    if evaluation.exists():
        from hepxai.usecases.susy.evaluation import metric_table, yields_table

        results = json.loads(evaluation.read_text())
        best = {label: r["significance"]["best"] for label, r in results["models"].items()}
        ctx["evaluation"] = {
            "table": _rows(metric_table(results)), "yields": _rows(yields_table(results)),
            "rel_unc": results["rel_unc"], "signal_efficiency": results["signal_efficiency"],
            "min_background_events": results["min_background_events"], "best": best,
            "confusion": {label: np.round(np.asarray(r["confusion"]) * 100, 1).tolist()
                          for label, r in results["models"].items()},
            "classes": results["classes"],
            "roc": _image(run / "evaluation" / "roc.png"),
            "efficiency_rejection": _image(run / "evaluation" / "efficiency_rejection.png"),
            "significance": _image(run / "evaluation" / "significance.png"),
            "scores": _image(run / "evaluation" / "scores.png")}
    explain = run / "explain" / "explain.json"
    if explain.exists():
        ctx["explain"] = _explain_summary(explain)
    timings = run / "timings.json"
    if timings.exists():
        ctx["timings"] = json.loads(timings.read_text())
    if not any(ctx.get(k) for k in ("data", "evaluation", "explain")):
        raise HepxaiError(f"{run}: holds no SUSY results (data/, evaluation/, explain/); run "
                          "'hepxai demo susy --out DIR' first")
    return ctx


def environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                              autoescape=jinja2.select_autoescape(["html", "j2"]),
                              undefined=jinja2.StrictUndefined)


def render_section(ctx: dict[str, Any]) -> str:
    """The section's HTML alone (for embedding in the global report)."""
    return environment().get_template("susy.html.j2").module.section(ctx)


def write_report(run_dir: str | os.PathLike[str],
                 path: str | os.PathLike[str] | None = None) -> Path:
    """Render the standalone page ``run_dir/report.html`` (atomically)."""
    ctx = section_context(run_dir)
    text = environment().get_template("susy.html.j2").render(ctx=ctx)
    target = Path(path) if path is not None else Path(run_dir) / "report.html"
    with atomic_path(target) as tmp:
        tmp.write_text(text)
    return target
