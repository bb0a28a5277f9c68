"""The dark-jet section of the report: data, graphs, metric table, ROC and score figures,
saliency / IG / GNNExplainer figures, their judging (non-noise share vs base rate, AUROC,
deletion gap, completeness, agreement heat map, deletion curves), the GNN-vs-3D-CNN
comparison and the training-data influence (TracIn per TP / FP / FN / TN set, kappa pruning,
LSOR), rendered from what ``hepxai demo darkjet`` (or the separate commands) wrote into a
run directory.

:func:`section_context` collects everything into a dict; the template
``templates/darkjet.html.j2`` extends the report base page (:mod:`hepxai.report`) and holds the
section in its block ``section`` (:func:`render_section` renders it alone, for a page that
embeds it); :func:`write_report` writes the whole page. Figures are embedded as data URIs, so
the page is one self-contained file; the interactive 3D views stay separate HTML files, linked.
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
    number,
    page_context,
    plus_minus,
    present,
    render_block,
    render_report,
    significant,
)
from hepxai.report.sanity import read_sanity

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _data_summary(data_dir: Path, figure: Path) -> dict[str, Any] | None:
    from hepxai.usecases.darkjet.store import SPLITS, DarkJetFile, split_path

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
            from hepxai.usecases.darkjet.figures import plot_jet_properties

            plot_jet_properties(f.jets, f.clusters, f.offsets, figure)
    if not splits:
        return None
    attrs = DarkJetFile(split_path(data_dir, next(iter(splits))), load=False).attrs
    return {"splits": splits, "seed": attrs.get("seed"),
            "config": json.loads(attrs.get("simulator_config") or "{}"),
            "figure": data_uri(figure)}


def section_context(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Everything the dark-jet section shows, from ``run_dir`` (``data/``, ``evaluation/``,
    ``explain/``, ``runs/*/``); missing parts are left out, an empty run is an error."""
    run = Path(run_dir)
    ctx: dict[str, Any] = {"version": __version__, "run_dir": str(run), "data": None,
                           "graphs": None, "graph_views": [], "evaluation": None,
                           "training": [], "explain": None, "influence": None}
    if (run / "data").is_dir():
        ctx["data"] = _data_summary(run / "data", run / "data_properties.png")
    evaluation = run / "evaluation" / "evaluation.json"
    if evaluation.exists():
        from hepxai.usecases.darkjet.evaluation import claims_table, metric_table

        results = read_json(evaluation, "'hepxai evaluate darkjet'", ("models", "claims"))
        ctx["evaluation"] = {
            "models": results["models"], "claims": results["claims"],
            "table": markdown_rows(metric_table(results)),
            "claims_table": markdown_rows(claims_table(results)) if results["claims"] else None,
            "roc": data_uri(run / "evaluation" / "roc.png"),
            "scores": data_uri(run / "evaluation" / "scores.png"), "split": results["split"]}
        ctx["graphs"] = results["models"][0]["graphs"] if results["models"] else None
    index = run / "graphs" / "graphs.json"
    if index.exists():
        views = read_json(index, "'hepxai report darkjet'", ("views",))["views"]
        ctx["graph_views"] = [{"name": v["name"], "png": data_uri(v["png"]),
                               "html": os.path.relpath(v["html"], run)} for v in views]
    curves = sorted((run / "runs").glob("*/training_curves.png")) if (run / "runs").is_dir() \
        else []
    ctx["training"] = [{"name": p.parent.name, "image": data_uri(p)} for p in curves]
    explain = run / "explain" / "explain.json"
    if explain.exists():
        summary = read_json(explain, "'hepxai explain darkjet'", ("methods",))
        methods = []
        for name, info in summary["methods"].items():
            views = []
            for key, fig in info["figures"].items():
                if key.startswith("layers"):  # the per-layer maps, shown on their own
                    continue
                views.append({"name": key, "png": data_uri(fig["png"]),
                              "top_k": data_uri(fig["top_k"]),
                              "html": os.path.relpath(fig["html"], run)})
            methods.append({"name": name, "n_jets": info["n_jets"],
                            "restarts": (info.get("params") or {}).get("restarts"),
                            "noise_share": info["top_k_noise_share"],
                            "completeness": info["completeness_error_median"],
                            "layers": data_uri(info["figures"]["layers"]),
                            "layers_categories": data_uri(
                                info["figures"].get("layers_categories")),
                            "views": views})
        ctx["explain"] = {"methods": methods, "n_jets": summary["n_jets"],
                          "judging": _judging(run / "explain"),
                          "cross_model": _cross_model(run / "explain")}
    ctx["influence"] = _influence(run / "influence")
    ctx["sweep"] = _sweep(run / "sweep")
    ctx["sanity"] = [{**entry, "figure": data_uri(run / entry["figure"]) if entry["figure"]
                      else None} for entry in read_sanity(run)]
    if not any(ctx[k] for k in ("data", "evaluation", "explain", "influence", "sweep")):
        raise HepxaiError(f"{run}: holds no dark-jet results (data/, evaluation/, explain/); "
                          "run 'hepxai demo darkjet --out DIR' first")
    return ctx


def _number(value: float | None, digits: int = 3) -> str:
    return number(value, digits, missing="n/a")


def _judging(folder: Path) -> dict[str, Any] | None:
    """The judging table (per method: non-noise share vs base rate, AUROC, deletion gap,
    completeness), the agreement and deletion figures, and one sentence from the numbers."""
    path = folder / "judging.json"
    if not path.exists():
        return None
    summary = read_json(path, "'hepxai explain darkjet'", ("methods", "scores"))
    rows = []
    intervals = (summary.get("intervals") or {}).get("scores", {})
    for name in summary["methods"]:
        s = summary["scores"][name]["all"]
        bounds = intervals.get(name, {}).get("all", {})
        rows.append({"name": name, "jets": summary["jets_per_method"][name],
                     "seeds": (summary.get("seeds_per_method") or {}).get(name, 1),
                     "share": _number(s["signal_share"]), "base": _number(s["base_rate"]),
                     "share_value": s["signal_share"], "share_interval":
                     bounds.get("signal_share"), "auroc_value": s["auroc"],
                     "auroc_interval": bounds.get("auroc"),
                     "lift": s["signal_share"] - s["base_rate"]
                     if s["signal_share"] is not None and s["base_rate"] is not None else None,
                     # judging files from before the paired score have no interval for it
                     "lift_interval": bounds.get("lift"),
                     "gap_interval": bounds.get("deletion_gap"),
                     "auroc": _number(s["auroc"]), "gap": s["deletion_gap"],
                     "gap_text": _number(s["deletion_gap"], 4),
                     "completeness": _number(
                         summary.get("completeness_median", {}).get(name))})
    return {"rows": rows, "n_jets": summary["n_jets"], "categories": summary["categories"],
            "fractions": summary["fractions"], "top_k": summary["top_k"],
            "seconds_per_jet": summary.get("seconds_per_jet"),
            "sentence": _judging_sentence(summary, rows),
            "agreement": data_uri(folder / "agreement.png"),
            "deletion": data_uri(folder / "deletion_curves.png")}


def _side(mean: float, interval: list[float] | None) -> str:
    """Where a difference lies against zero: ``above`` / ``below`` when its whole 95 %
    interval does, ``undecided`` when the interval includes zero; without an interval (a
    judging file from before the intervals) the mean's sign."""
    if not interval:
        return "above" if mean > 0 else "below"
    return "above" if interval[0] > 0 else "below" if interval[1] < 0 else "undecided"


def _judging_sentence(summary: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """What the judging numbers show, in one sentence computed from them."""
    scored = [r for r in rows if r["lift"] is not None]
    parts = []
    if scored:
        best = max(scored, key=lambda r: r["lift"])
        # a difference is stated only where the whole 95 % interval of the per-jet gain is
        # on one side of zero (without intervals, an older judging file: the means alone)
        side = {r["name"]: _side(r["lift"], r["lift_interval"]) for r in scored}
        above = [n for n, v in side.items() if v == "above"]
        below = [n for n, v in side.items() if v == "below"]
        open_ = [n for n, v in side.items() if v not in ("above", "below")]
        text = (f"{len(above)} of {len(scored)} methods put more relevance on non-noise "
                f"clusters than a blind map would"
                + (f" ({', '.join(above)})" if above else "")
                + (f", {len(below)} less ({', '.join(below)})" if below else "")
                + (f"; for {', '.join(open_)} the 95 % interval of the difference includes "
                   "zero, so these jets do not tell" if open_ else "")
                + f" (highest share: {best['name']}, {best['share']} vs base rate "
                  f"{best['base']})")
        parts.append(text)
    gaps = {r["name"]: _side(r["gap"], r["gap_interval"]) for r in rows if r["gap"] is not None}
    faithful = [n for n, v in gaps.items() if v == "above"]
    unclear = [n for n, v in gaps.items() if v == "undecided"]
    parts.append("deletion in the method's order lowers the tagger's confidence faster than a "
                 f"random order for {', '.join(faithful) if faithful else 'none of them'}"
                 + (f" (for {', '.join(unclear)} the interval includes no difference)"
                    if unclear else ""))
    matrix = summary["agreement"]["spearman"].get("all")
    if matrix and len(matrix) > 1:
        pairs = [matrix[i][j] for i in range(len(matrix)) for j in range(i + 1, len(matrix))
                 if matrix[i][j] is not None]
        if pairs:
            parts.append(f"the methods' node rankings agree with a mean Spearman correlation "
                         f"between {min(pairs):.2f} and {max(pairs):.2f}")
    return "On these jets, " + "; ".join(parts) + "."


def _cross_model(folder: Path) -> dict[str, Any] | None:
    """The GNN-vs-CNN numbers per method, the figure and one sentence."""
    path = folder / "cross_model.json"
    if not path.exists():
        return None
    summary = read_json(path, "'hepxai explain darkjet --cnn-checkpoint'")
    rows = [{"name": name, "jets": c["n_valid"], "voxels": f"{c['voxels_per_jet']:.1f}",
             "mean": _number(c["mean"]), "median": _number(c["median"]),
             "null": plus_minus(c["permuted_mean"], c["permuted_std"], missing="n/a"),
             "z": _number(c["z"], 1), "p": _number(c["p_value"]),
             "beyond": c["mean"] is not None and c["p_value"] is not None
             and c["p_value"] < 0.05 and c["mean"] > c["permuted_mean"]}
            for name, c in summary["methods"].items()]
    beyond = [r["name"] for r in rows if r["beyond"]]
    best = max(summary["methods"].items(), key=lambda kv: kv[1]["mean"] or -2.0)
    sentence = (f"The 3D-CNN's voxel saliency and the GNN relevance summed into the same voxels "
                f"agree beyond the shuffled-voxel baseline for "
                f"{', '.join(beyond) if beyond else 'none of the methods'} (highest mean "
                f"Spearman: {best[0]}, {_number(best[1]['mean'])} vs "
                f"{_number(best[1]['permuted_mean'])} shuffled), so "
                + ("the two model types partly look at the same clusters." if beyond else
                   "the two model types do not measurably look at the same clusters."))
    return {"rows": rows, "sentence": sentence, "checkpoint": summary["cnn_checkpoint"],
            "figure": data_uri(folder / "cross_model.png")}


INFLUENCE_SETS = {"TP": "dark photon, tagged", "FP": "QCD, tagged",
                  "FN": "dark photon, missed", "TN": "QCD, not tagged"}


def _sweep(folder: Path) -> dict[str, Any] | None:
    """The grid sweep (``hepxai sweep darkjet --out RUN/sweep``): its ranked points, figure and
    one sentence on whether the best point's lead over the next is beyond the AUC's error."""
    path = folder / "sweep.json"
    if not path.exists():
        return None
    found = read_json(path, "'hepxai sweep darkjet'", ("points",))
    points = found["points"]
    sentence = None
    if len(points) > 1 and "auc_se" in points[0]:
        best, second = points[0], points[1]
        gap = best["auc"] - second["auc"]
        error = (best["auc_se"] ** 2 + second["auc_se"] ** 2) ** 0.5
        sentence = (f"{best['name']} has the highest validation AUC, {best['auc']:.4f} "
                    f"+- {best['auc_se']:.4f}; " +
                    (f"its lead over {second['name']} ({gap:.4f}) is beyond two standard "
                     "errors of the difference" if gap > 2 * error else
                     f"its lead over {second['name']} ({gap:.4f}) is within two standard "
                     f"errors of the difference ({2 * error:.4f}): these validation jets do "
                     "not rank them"))
    return {"points": points, "n_val": found.get("n_val"), "sentence": sentence,
            "figure": data_uri(folder / "sweep.png")}


def _influence(folder: Path) -> dict[str, Any] | None:
    """The TracIn category study (``categories.json`` and ``category_SET.png`` of
    ``hepxai influence darkjet categories``): one table row per TP / FP / FN / TN set, the
    training set's base rates, a sentence from the numbers; and the kappa / LSOR tables when
    ``kappa.json`` / ``lsor.json`` lie in ``folder`` or its ``kappa/`` / ``lsor/``."""
    path = folder / "categories.json"
    if not folder.is_dir():
        return None
    out: dict[str, Any] = {"rows": [], "base": None, "sentence": None, "figures": [],
                           "kappa": _kappa(folder), "lsor": _lsor(folder), "k": None,
                           "candidates": None, "threshold": None, "split": None,
                           "model": None, "counts": {}}
    if path.exists():
        summary = read_json(path, "'hepxai influence darkjet categories'",
                            ("k", "candidates", "threshold", "category_counts"))
        out.update(k=summary["k"], candidates=summary["candidates"],
                   threshold=summary["threshold"], split=summary.get("split", "test"),
                   model=summary.get("explained_model"), counts=summary["category_counts"])
        for name, s in summary["sets"].items():
            row = {"name": name, "meaning": INFLUENCE_SETS.get(name, ""),
                   "jets": s.get("n_jets", 0)}
            if row["jets"]:
                row.update(
                    probability=f"{s['mean_probability']:.3f}",
                    proponent=significant(s.get("proponent_mean_score")),
                    opponent=significant(s.get("opponent_mean_score")),
                    same_class=number(s.get("proponent_same_class"), 2),
                    noise=number(s.get("proponent_noise_share"), 3),
                    clusters=number(s.get("proponent_mean_clusters"), 1))
                out["base"] = {"noise": f"{s['train_noise_share']:.3f}",
                               "clusters": f"{s['train_mean_clusters']:.1f}"}
                figure = data_uri(folder / f"category_{name}.png")
                if figure:
                    out["figures"].append({"name": name, "meaning": row["meaning"],
                                           "image": figure})
            out["rows"].append(row)
        out["sentence"] = _influence_sentence(summary["sets"])
    if not out["rows"] and not out["kappa"] and not out["lsor"]:
        return None
    return out


def _influence_sentence(sets: dict[str, dict[str, Any]]) -> str | None:
    """What the category numbers show, in one sentence computed from them."""
    filled = {name: s for name, s in sets.items()
              if s.get("n_jets") and s.get("proponent_noise_share") is not None}
    if not filled:
        return None
    base = next(iter(filled.values()))["train_noise_share"]

    def pooled(names: list[str], key: str) -> float:
        jets = sum(filled[n]["n_jets"] for n in names)
        return sum(filled[n][key] * filled[n]["n_jets"] for n in names) / jets

    above = [n for n, s in filled.items() if s["proponent_noise_share"] > base]
    most = max(filled, key=lambda n: filled[n]["proponent_noise_share"])
    every = list(filled)
    parts = [f"the proponents hold more noise clusters than the training set (base rate "
             f"{base:.3f}) in {len(above)} of {len(filled)} sets"
             + (f" ({', '.join(above)})" if above else "")
             + f", most in {most} ({filled[most]['proponent_noise_share']:.3f}), and have "
             f"{pooled(every, 'proponent_mean_clusters'):.1f} clusters on average against "
             f"{filled[most]['train_mean_clusters']:.1f} for a training jet"]
    right = [n for n in ("TP", "TN") if n in filled]
    wrong = [n for n in ("FP", "FN") if n in filled]
    if right and wrong:
        r, w = pooled(right, "proponent_mean_score"), pooled(wrong, "proponent_mean_score")
        parts.append(f"the misclassified jets ({', '.join(wrong)}) have a mean top-proponent "
                     f"score of {w:.3g} against {r:.3g} for the correctly classified ones "
                     f"({', '.join(right)})" + (f", {w / r:.1f} times as large" if r > 0 else ""))
    return "On these test jets, " + "; ".join(parts) + "."


def _kappa(folder: Path) -> dict[str, Any] | None:
    """The kappa-pruning table (``kappa.json``) and figure."""
    path = next((p for p in (folder / "kappa.json", folder / "kappa" / "kappa.json")
                 if p.exists()), None)
    if path is None:
        return None
    summary = read_json(path, "'hepxai influence darkjet kappa'")
    rows = [{"kappa": f"{r['kappa']:g}", "mode": r["mode"], "removed": f"{r['removed']:,}",
             "signal": "" if r["mode"] == "none" else f"{r['removed_signal_share']:.2f}",
             "auc": f"{r['auc']:.4f}", "loss": f"{r['loss']:.4f}",
             "accuracy": f"{r['accuracy']:.4f}"} for r in summary["rows"]]
    config = summary["config"]
    return {"rows": rows, "n_pool": summary["n_pool"], "n_test": summary["n_test"],
            "epochs": _epochs(config["retrain"]["epochs"]), "per_class": config["per_class"],
            "score": summary["score"], "figure": data_uri(path.parent / "kappa.png")}


def _epochs(epochs: int | None) -> str:
    return "the preset's epochs" if epochs is None else \
        f"{epochs} epoch{'' if epochs == 1 else 's'}"


def _lsor(folder: Path) -> dict[str, Any] | None:
    """The leave-some-out table (``lsor.json``) and figure."""
    path = next((p for p in (folder / "lsor.json", folder / "lsor" / "lsor.json")
                 if p.exists()), None)
    if path is None:
        return None
    summary = read_json(path, "'hepxai influence darkjet lsor'",
                        ("config", "proponents", "random", "n_pool"))
    c, p, r = summary["config"], summary["proponents"], summary["random"]
    return {"n_pool": summary["n_pool"], "n_test": c["n_test"], "k": c["k"],
            "selection": c["selection"], "seeds": ", ".join(map(str, c["seeds"])),
            "epochs": _epochs(c["retrain"]["epochs"]),
            "removed": f"{np.mean([s['removed'] for s in summary['per_seed']]):.0f}",
            "proponents": plus_minus(p["delta_mean"], p["delta_se"], 4, signed=True),
            "random": plus_minus(r["delta_mean"], r["delta_se"], 4, signed=True),
            "ratio": plus_minus(p["ratio"], p["ratio_se"], 2),
            "figure": data_uri(path.parent / "lsor.png")}


def sections(ctx: dict[str, Any]) -> list[Section]:
    """The page's navigation: the parts of :func:`section_context` that are there."""
    explain, influence, evaluation = ctx["explain"], ctx["influence"], ctx["evaluation"]
    return present(
        Section("darkjet-data", "Data") if ctx["data"] else None,
        Section("darkjet-graphs", "Graphs") if ctx["graphs"] else None,
        Section("darkjet-metrics", "Metrics", tuple(present(
            Section("darkjet-claims", "Poster's claims")
            if evaluation["claims_table"] else None))) if evaluation else None,
        Section("darkjet-training", "Training curves") if ctx["training"] else None,
        Section("darkjet-sweep", "Grid sweep") if ctx.get("sweep") else None,
        Section("darkjet-explain", "Explanations", tuple(present(
            Section("darkjet-judging", "Judging") if explain["judging"] else None,
            Section("darkjet-cross-model", "GNN vs 3D-CNN") if explain["cross_model"] else None,
            *(Section(f"darkjet-method-{m['name']}", m["name"]) for m in explain["methods"]))))
        if explain else None,
        Section("darkjet-influence", "Training-data influence", tuple(present(
            Section("darkjet-kappa", "Kappa pruning") if influence["kappa"] else None,
            Section("darkjet-lsor", "Leave-some-out") if influence["lsor"] else None)))
        if influence else None,
        Section("darkjet-sanity", "Sanity checks", tuple(
            Section(f"sanity-{s['name']}", s["name"]) for s in ctx["sanity"]))
        if ctx["sanity"] else None)


def render_section(ctx: dict[str, Any]) -> str:
    """The section's HTML alone (for a page that embeds it)."""
    return render_block(TEMPLATES, "darkjet.html.j2", "section", {"ctx": ctx})


def write_report(run_dir: str | os.PathLike[str],
                 path: str | os.PathLike[str] | None = None) -> Path:
    """Render the standalone page ``run_dir/report.html`` (atomically)."""
    ctx = section_context(run_dir)
    target = Path(path) if path is not None else Path(run_dir) / "report.html"
    page = page_context(run_dir, sections(ctx), ctx=ctx, warnings=warnings(ctx))
    return render_report(TEMPLATES, "darkjet.html.j2", page, target)


def warnings(ctx: dict[str, Any]) -> list[str]:
    """The banner: every evaluated tagger whose AUC a blind one would reach
    (:func:`hepxai.metrics.classification.blind_tagger`, counts from its saved predictions)."""
    import numpy as np

    from hepxai.metrics.classification import blind_tagger

    out = []
    folder = Path(ctx.get("run_dir", ".")) / "evaluation" / "predictions"
    for m in (ctx.get("evaluation") or {}).get("models", []):
        path = Path(m.get("predictions", ""))
        if not path.is_file():  # a run moved, or read from another directory
            path = folder / path.name
        if not path.is_file():
            continue
        with np.load(path) as saved:
            signal = int((saved["labels"] > 0.5).sum())
            found = blind_tagger(m["label"], m["metrics"]["auc"], signal,
                                 len(saved["labels"]) - signal,
                                 "dark-photon from QCD jets")
        if found:
            out.append(found)
    return out
