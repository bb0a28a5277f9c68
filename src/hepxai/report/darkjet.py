"""The dark-jet section of the report: data, graphs, metric table, ROC and score figures,
saliency / IG / GNNExplainer figures, rendered from what ``hepxai demo darkjet`` (or the
separate commands) wrote into a run directory.

:func:`section_context` collects everything into a dict; the template
``templates/darkjet.html.j2`` defines a ``section(ctx)`` macro (for the global report to embed)
and a standalone page around it (:func:`write_report`). Figures are embedded as data URIs, so
the page is one self-contained file; the interactive 3D views stay separate HTML files, linked.
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


def _data_summary(data_dir: Path, figure: Path) -> dict[str, Any] | None:
    from hepxai.data.darkjet.store import SPLITS, DarkJetFile, split_path

    splits = {}
    for split in SPLITS:
        path = split_path(data_dir, split)
        if not path.exists():
            continue
        f = DarkJetFile(path)
        labels = f.jets["label"] == 1
        noise = f.clusters["is_noise"]
        splits[split] = {
            "jets": len(f), "dark_photon": int(labels.sum()), "qcd": int((~labels).sum()),
            "clusters_qcd": float(f.jets["n_clusters"][~labels].mean()),
            "clusters_dp": float(f.jets["n_clusters"][labels].mean()),
            "emf_qcd": float(np.median(f.jets["em_fraction"][~labels])),
            "emf_dp": float(np.median(f.jets["em_fraction"][labels])),
            "noise_fraction": float(noise.mean()), "mb": path.stat().st_size / 1e6}
        if split == "test" and not figure.exists():
            from hepxai.viz.darkjet import plot_jet_properties

            plot_jet_properties(f.jets, f.clusters, f.offsets, figure)
    if not splits:
        return None
    attrs = DarkJetFile(split_path(data_dir, next(iter(splits))), load=False).attrs
    return {"splits": splits, "seed": attrs.get("seed"),
            "config": json.loads(attrs.get("simulator_config") or "{}"),
            "figure": _image(figure)}


def section_context(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Everything the dark-jet section shows, from ``run_dir`` (``data/``, ``evaluation/``,
    ``explain/``, ``runs/*/``); missing parts are left out, an empty run is an error."""
    run = Path(run_dir)
    ctx: dict[str, Any] = {"version": __version__, "run_dir": str(run), "data": None,
                           "graphs": None, "graph_views": [], "evaluation": None,
                           "training": [], "explain": None}
    if (run / "data").is_dir():
        ctx["data"] = _data_summary(run / "data", run / "data_properties.png")
    evaluation = run / "evaluation" / "evaluation.json"
    if evaluation.exists():
        from hepxai.evaluation.darkjet import claims_table, metric_table

        results = json.loads(evaluation.read_text())
        ctx["evaluation"] = {
            "models": results["models"], "claims": results["claims"],
            "table": _markdown_rows(metric_table(results)),
            "claims_table": _markdown_rows(claims_table(results)) if results["claims"] else None,
            "roc": _image(run / "evaluation" / "roc.png"),
            "scores": _image(run / "evaluation" / "scores.png"), "split": results["split"]}
        ctx["graphs"] = results["models"][0]["graphs"] if results["models"] else None
    index = run / "graphs" / "graphs.json"
    if index.exists():
        ctx["graph_views"] = [{"name": v["name"], "png": _image(v["png"]),
                               "html": os.path.relpath(v["html"], run)}
                              for v in json.loads(index.read_text())["views"]]
    curves = sorted((run / "runs").glob("*/training_curves.png")) if (run / "runs").is_dir() \
        else []
    ctx["training"] = [{"name": p.parent.name, "image": _image(p)} for p in curves]
    explain = run / "explain" / "explain.json"
    if explain.exists():
        summary = json.loads(explain.read_text())
        methods = []
        for name, info in summary["methods"].items():
            views = []
            for key, fig in info["figures"].items():
                if key == "layers":
                    continue
                views.append({"name": key, "png": _image(fig["png"]),
                              "top_k": _image(fig["top_k"]),
                              "html": os.path.relpath(fig["html"], run)})
            methods.append({"name": name, "n_jets": info["n_jets"],
                            "noise_share": info["top_k_noise_share"],
                            "completeness": info["completeness_error_median"],
                            "layers": _image(info["figures"]["layers"]), "views": views})
        ctx["explain"] = {"methods": methods, "n_jets": summary["n_jets"]}
    if not any(ctx[k] for k in ("data", "evaluation", "explain")):
        raise HepxaiError(f"{run}: holds no dark-jet results (data/, evaluation/, explain/); "
                          "run 'hepxai demo darkjet --out DIR' first")
    return ctx


def _markdown_rows(table: str) -> list[list[str]]:
    """A Markdown table as rows of cells (the separator row dropped)."""
    rows = [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in table.splitlines() if line.strip().startswith("|")]
    return [r for i, r in enumerate(rows) if i != 1]


def environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                              autoescape=jinja2.select_autoescape(["html", "j2"]),
                              undefined=jinja2.StrictUndefined)


def render_section(ctx: dict[str, Any]) -> str:
    """The section's HTML alone (for embedding in the global report)."""
    return environment().get_template("darkjet.html.j2").module.section(ctx)


def write_report(run_dir: str | os.PathLike[str],
                 path: str | os.PathLike[str] | None = None) -> Path:
    """Render the standalone page ``run_dir/report.html`` (atomically)."""
    ctx = section_context(run_dir)
    text = environment().get_template("darkjet.html.j2").render(ctx=ctx)
    target = Path(path) if path is not None else Path(run_dir) / "report.html"
    with atomic_path(target) as tmp:
        tmp.write_text(text)
    return target
