"""The SUSY explanation study: SHAP for the BDTs, IG and GradientSHAP for the MLPs, and the two
questions the slides ask, answered with numbers.

1. *Which variables have the largest impact on the signal class?* -- the global importance
   ``mean |phi|`` over events of every feature for the signal-class margin (and every class),
   per model and method (:func:`importance`).
2. *Which differ most between the simplified and the full-reconstruction samples?* -- the BDT
   trained on each sample explains the *same events* (rows preselected in both
   reconstructions, matched by event id), each in its own reconstruction; per feature the
   paired difference ``mean |phi_full - phi_simplified|``, the change of importance and rank,
   the per-event correlation of the two SHAP values, and how much the variable itself moves
   between the two reconstructions of the same events (RMS of the difference relative to the
   simplified spread, and the Kolmogorov-Smirnov distance) (:func:`compare_samples`).
3. *Do different model types agree?* -- the convergence of every pair of explanations:
   Spearman and Kendall rank correlation of the global importances, top-5 overlap of the
   rankings, and per event the Spearman correlation of ``|phi|`` across features, the top-3
   overlap and the cosine similarity (:func:`convergence`).

Cross-model comparisons use *class-centred* attributions ``phi_k - mean_j phi_j``: a softmax
classifier's margins are defined up to a function added to every class (its probabilities do
not change), and that common part is arbitrary (random in an MLP's logits, drifting in a BDT's),
while the centred margins, and their attributions (every method here is linear in the
explained output), are unique. Importances for question 1 and the SHAP figures use the raw
margins, as ``shap`` shows them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from hepxai.core.atomic import output_directory, write_json_atomic
from hepxai.core.errors import HepxaiError
from hepxai.core.labels import file_stem
from hepxai.explain.judging.ranks import masked_spearman, top_k_mask
from hepxai.explain.judging.uncertainty import LEVEL, N_BOOT, bootstrap_means, interval_or_none
from hepxai.explain.types import Attribution
from hepxai.usecases.susy.evaluation import SIGNAL, check_compatible, load_runs
from hepxai.usecases.susy.models import SusyModel, check_table
from hepxai.usecases.susy.store import SusyFile, split_path

METHODS_BY_KIND = {"bdt": ("tree-shap",), "mlp": ("gradient-shap", "ig")}
METHOD_LABELS = {"tree-shap": "TreeSHAP", "gradient-shap": "GradientSHAP", "ig": "IG"}
#: the methods whose values depend on their seed
STOCHASTIC = ("gradient-shap",)
IG_STEPS = 32


def explain_model(model: SusyModel, method: str, x: np.ndarray,
                  event_ids: np.ndarray | None = None, *, reference: np.ndarray | None = None,
                  engine: str = "fast", n_jobs: int | None = None, seed: int = 0,
                  steps: int = IG_STEPS) -> Attribution:
    """Every class margin of ``model`` explained by ``method`` for the events ``x`` ``(n, F)``:
    ``tree-shap`` (the BDT's exact TreeSHAP), ``gradient-shap`` (the MLP's logits over the
    ``reference`` events, e.g. training events: the same background distribution as TreeSHAP)
    or ``ig`` (the MLP's logits from the mean of ``reference``, a neutral, data-like point: an
    all-zero event, no MET and no lepton, is unphysical). Values ``(n, K, F)`` in margin
    units."""
    build, baselines = method_builder(model, method, reference=reference, engine=engine,
                                      n_jobs=n_jobs, seed=seed, steps=steps)
    return build(explained(model)).attribute(x, target=list(model.class_names),
                                             baselines=baselines, ids=event_ids)


def explained(model: SusyModel) -> Any:
    """What the explainers of ``model`` run: the BDT itself (its booster), the MLP's network."""
    return model.net if model.kind == "mlp" else model


def method_builder(model: SusyModel, method: str, *, reference: np.ndarray | None = None,
                   engine: str = "fast", n_jobs: int | None = None, seed: int = 0,
                   steps: int = IG_STEPS) -> tuple[Callable[[Any], Any], Any]:
    """``(build, baselines)``: ``build(m)`` makes :func:`explain_model`'s ``method`` on ``m``
    (``explained(model)``, or a copy of the MLP's network with layers randomized, or the
    shuffled-label twin), ``baselines`` is what its ``attribute`` explains from (IG: the mean
    of ``reference``; GradientSHAP: the ``reference`` events; TreeSHAP: ``None``)."""
    from hepxai.explain.attribution.gradient_shap import GradientShap
    from hepxai.explain.attribution.integrated_gradients import IntegratedGradients
    from hepxai.explain.attribution.tree_shap import TreeShap
    from hepxai.explain.modality import Table

    table = Table(feature_names=model.feature_names)
    kind = "bdt" if method == "tree-shap" else "mlp"
    if method not in METHOD_LABELS:
        raise HepxaiError(f"unknown SUSY method {method!r}; choose one of "
                          f"{', '.join(METHOD_LABELS)}")
    if kind != model.kind:
        raise HepxaiError(f"method {method!r} explains a {kind.upper()}, got a "
                          f"{model.kind.upper()}")
    if method == "tree-shap":
        return (lambda m: TreeShap(m, engine=engine, n_jobs=n_jobs, modality=table)), None
    if reference is None:
        raise HepxaiError(f"{method} needs reference events (e.g. training events) for its "
                          "baseline; pass reference=")
    reference = check_table(reference, len(model.feature_names), "reference events")
    names = model.class_names
    if method == "gradient-shap":
        return (lambda m: GradientShap(m, seed=seed, modality=table, output_names=names)), \
            reference
    return (lambda m: IntegratedGradients(m, n_steps=steps, batch_size=512, modality=table,
                                          output_names=names)), \
        reference.astype(np.float64).mean(0)


def importance(attribution: Attribution) -> np.ndarray:
    """Global importance ``mean |phi|`` over events: ``(n_targets, n_features)``."""
    return np.abs(attribution.values.astype(np.float64)).mean(axis=0)


def centred(values: np.ndarray) -> np.ndarray:
    """Class-centred attributions ``phi_k - mean_j phi_j`` of ``(n, K, F)`` values."""
    values = values.astype(np.float64)
    return values - values.mean(axis=1, keepdims=True)


def ranking(scores: np.ndarray) -> np.ndarray:
    """Rank of each feature (1 = most important) from ``(F,)`` importances."""
    return stats.rankdata(-scores, method="min").astype(int)


def _aligned(a: Attribution, b: Attribution) -> None:
    if a.event_ids is None or b.event_ids is None or not np.array_equal(a.event_ids,
                                                                        b.event_ids):
        raise HepxaiError(f"{a.method} and {b.method} explain different events; compare "
                          "attributions of the same events (same event ids, same order)")
    if a.item_names != b.item_names or a.targets != b.targets:
        raise HepxaiError("the two attributions name different features or classes")


def compare_samples(simplified: Attribution, full: Attribution, x_simplified: np.ndarray,
                    x_full: np.ndarray, target: str = SIGNAL) -> list[dict[str, Any]]:
    """Per feature, how the explanation of ``target`` and the variable itself differ between
    the simplified and the full reconstruction of the same events; sorted by the paired
    difference ``mean |phi_full - phi_simplified|`` (largest first).

    ``x_simplified`` / ``x_full``: the events' variables ``(n, F)`` in each reconstruction.
    """
    _aligned(simplified, full)
    if x_simplified.shape != x_full.shape or len(x_full) != simplified.n_events:
        raise HepxaiError("the variables of both reconstructions must be (n_events, n_features) "
                          "for the explained events")
    k = simplified.target_index(target)
    phi_s = simplified.values[:, k].astype(np.float64)
    phi_f = full.values[:, k].astype(np.float64)
    imp_s, imp_f = np.abs(phi_s).mean(0), np.abs(phi_f).mean(0)
    rank_s, rank_f = ranking(imp_s), ranking(imp_f)
    rows = []
    for j, name in enumerate(simplified.item_names):
        xs, xf = x_simplified[:, j].astype(np.float64), x_full[:, j].astype(np.float64)
        spread = xs.std()
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.corrcoef(phi_s[:, j], phi_f[:, j])[0, 1]
        rows.append({
            "feature": name, "importance_simplified": float(imp_s[j]),
            "importance_full": float(imp_f[j]), "rank_simplified": int(rank_s[j]),
            "rank_full": int(rank_f[j]), "delta_importance": float(imp_f[j] - imp_s[j]),
            "mean_abs_difference": float(np.abs(phi_f[:, j] - phi_s[:, j]).mean()),
            "shap_correlation": float(corr) if np.isfinite(corr) else None,
            "variable_rms_shift": float(np.sqrt(np.mean((xf - xs) ** 2)) / spread)
            if spread > 0 else None,
            "variable_ks": float(stats.ks_2samp(xs, xf, method="asymp").statistic)})
    rows.sort(key=lambda r: -r["mean_abs_difference"])
    return rows


def convergence(attributions: dict[str, Attribution], target: str = SIGNAL,
                top_global: int = 5, top_event: int = 3,
                replicas: dict[str, list[Attribution]] | None = None) -> list[dict[str, Any]]:
    """Agreement of every pair of explanations of the same events (class-centred values).

    Per pair: ``spearman`` / ``kendall`` of the global importances of ``target``,
    ``top{top_global}_overlap`` of the two rankings, the same Spearman averaged over classes
    (``spearman_all_classes``), and per event (``target``) the mean and median Spearman of
    ``|phi|`` across features, the mean top-``top_event`` overlap and the mean cosine similarity
    of the signed attribution vectors; each with its 95 % bootstrap interval over the events.

    ``replicas``: a stochastic explanation's runs with other seeds (GradientSHAP's). A pair
    with one then compares seed ``s`` with seed ``s`` of the other (or its one run): the global
    importances are averaged over the seeds, the per-event numbers are the averages of the
    per-seed means, and the intervals resample seeds as well as events; ``seeds`` records how
    many.
    """
    replicas = replicas or {}
    names = list(attributions)
    rows = []
    for i, a_name in enumerate(names):
        for b_name in names[i + 1:]:
            runs_a = [attributions[a_name], *replicas.get(a_name, [])]
            runs_b = [attributions[b_name], *replicas.get(b_name, [])]
            for run in runs_a[1:] + runs_b:
                _aligned(runs_a[0], run)
            k = runs_a[0].target_index(target)
            # (n_seeds, n, K, F): seed s of one with seed s of the other, as many pairs as the
            # fewer seeds (no run in two pairs); an unseeded one's run pairs with every seed
            n_a, n_b = len(runs_a), len(runs_b)
            n_seeds = max(n_a, n_b) if min(n_a, n_b) == 1 else min(n_a, n_b)
            ca = np.stack([centred(runs_a[min(s, n_a - 1)].values) for s in range(n_seeds)])
            cb = np.stack([centred(runs_b[min(s, n_b - 1)].values) for s in range(n_seeds)])
            imp_a, imp_b = np.abs(ca).mean((0, 1)), np.abs(cb).mean((0, 1))  # (K, F)
            rho = stats.spearmanr(imp_a[k], imp_b[k]).statistic
            tau = stats.kendalltau(imp_a[k], imp_b[k]).statistic
            top_a = set(np.argsort(-imp_a[k])[:top_global])
            top_b = set(np.argsort(-imp_b[k])[:top_global])
            rho_all = np.nanmean([stats.spearmanr(imp_a[c], imp_b[c]).statistic
                                  for c in range(len(runs_a[0].targets))])
            ea, eb = np.abs(ca[:, :, k]), np.abs(cb[:, :, k])  # (n_seeds, n, F)
            mask = np.ones(ea.shape[1:], bool)
            kk = np.full(ea.shape[1], top_event)
            per_event = np.stack([masked_spearman(ea[s], eb[s], mask) for s in range(n_seeds)])
            overlap = np.stack([(top_k_mask(ea[s], mask, kk) & top_k_mask(eb[s], mask, kk))
                                .sum(1) / top_event for s in range(n_seeds)])
            va, vb = ca[:, :, k], cb[:, :, k]
            with np.errstate(invalid="ignore", divide="ignore"):
                cosine = (va * vb).sum(2) / (np.linalg.norm(va, axis=2)
                                             * np.linalg.norm(vb, axis=2))
            rows.append({
                "a": a_name, "b": b_name, "seeds": n_seeds,
                "spearman": float(rho), "kendall": float(tau),
                f"top{top_global}_overlap": len(top_a & top_b) / top_global,
                "spearman_all_classes": float(rho_all),
                "event_spearman_mean": _seed_mean(per_event),
                "event_spearman_median": float(np.nanmedian(per_event)),
                f"event_top{top_event}_overlap": _seed_mean(overlap),
                "event_cosine_mean": _seed_mean(cosine),
                # 95 % bootstrap intervals over the events (and seeds)
                "spearman_interval": importance_spearman_interval(
                    ea if n_seeds > 1 else ea[0], eb if n_seeds > 1 else eb[0]),
                "event_spearman_interval": interval_or_none(per_event, over_seeds=True),
                f"event_top{top_event}_interval": interval_or_none(overlap, over_seeds=True),
                "event_cosine_interval": interval_or_none(cosine, over_seeds=True)})
    return rows


def _seed_mean(values: np.ndarray) -> float:
    """The mean over seeds of the NaN-aware per-seed means of ``(n_seeds, n)`` values (what
    the two-stage bootstrap resamples)."""
    return float(np.nanmean(np.nanmean(values, 1)))


def importance_spearman_interval(a: np.ndarray, b: np.ndarray, *, n_boot: int = N_BOOT,
                                 seed: int = 0) -> list[float] | None:
    """95 % bootstrap interval over events of the Spearman correlation of two global
    importances ``mean |phi|``: ``a``, ``b`` ``(n, F)`` the two explanations' ``|phi|`` of the
    same events, resampled together (each replicate's importances are its weighted means,
    ranked per replicate); or ``(n_seeds, n, F)``, seed ``s`` of one with seed ``s`` of the
    other, when seeds are resampled too. ``None`` when every replicate has a constant
    importance.

    >>> rng = np.random.default_rng(0)
    >>> a = rng.exponential(np.arange(1, 9), size=(400, 8))
    >>> lo, hi = importance_spearman_interval(a, a + rng.exponential(1, (400, 8)))
    >>> bool(0.5 < lo <= hi <= 1.0)
    True
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim not in (2, 3):
        raise HepxaiError(f"importances of the same events: (n, F) or (n_seeds, n, F) each, "
                          f"got {a.shape} and {b.shape}")
    means = bootstrap_means(np.concatenate([a, b], -1), n_boot=n_boot, seed=seed)
    features = a.shape[-1]
    ra = stats.rankdata(means[:, :features], axis=1)
    rb = stats.rankdata(means[:, features:], axis=1)
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (ra * rb).sum(1) / np.sqrt((ra ** 2).sum(1) * (rb ** 2).sum(1))
    rho = rho[np.isfinite(rho)]
    if not rho.size:
        return None
    tail = 100 * (1 - LEVEL) / 2
    lo, hi = np.percentile(rho, [tail, 100 - tail])
    return [float(lo), float(hi)]


def explain_runs(runs: list[str | os.PathLike[str]], data_dir: str | os.PathLike[str],
                 out: str | os.PathLike[str], *, max_events: int = 5000, engine: str = "fast",
                 n_jobs: int | None = None, seed: int = 0, reference_events: int = 20_000,
                 figures: bool = True, n_seeds: int = 1) -> dict[str, Any]:
    """Explain every run on the same test events, answer the three questions, write
    ``explain.json``, the attributions (``attributions/*.npz``) and the figures into ``out``.

    Events: the first ``max_events`` test events preselected in *both* reconstructions, so
    every model, whichever sample it was trained on, explains the same events. ``n_seeds``:
    GradientSHAP also runs with seeds ``seed + 1 .. seed + n_seeds - 1``, which the
    convergence numbers average and their intervals resample (:func:`convergence`).
    """
    if n_seeds < 1:
        raise HepxaiError(f"n_seeds must be at least 1, got {n_seeds}")
    out = Path(out)
    output_directory(out)
    models = load_runs(runs)
    test = SusyFile(split_path(data_dir, "test"))
    train = SusyFile(split_path(data_dir, "train"))
    rows = test.selection(("simplified", "full"))[:max_events]
    if len(rows) == 0:
        raise HepxaiError(f"{test.path}: no test event is preselected in both reconstructions; "
                          "simulate more events")
    event_ids = test.event_id[rows]
    attributions: dict[str, Attribution] = {}
    replicas: dict[str, list[Attribution]] = {}
    info: dict[str, dict[str, Any]] = {}
    inputs: dict[str, np.ndarray] = {}
    for label, (run, model) in models.items():
        check_compatible(model, test)
        x = test.features[model.sample][rows]
        inputs[label] = x
        for method in METHODS_BY_KIND[model.kind]:
            reference = None if method == "tree-shap" else \
                train.table(model.sample, max_events=reference_events).x
            start = time.perf_counter()
            attribution = explain_model(model, method, x, event_ids, reference=reference,
                                        engine=engine, n_jobs=n_jobs, seed=seed)
            seconds = time.perf_counter() - start
            name = f"{label} {METHOD_LABELS[method]}"
            attributions[name] = attribution
            if method in STOCHASTIC and n_seeds > 1:
                replicas[name] = [explain_model(model, method, x, event_ids,
                                                reference=reference, engine=engine,
                                                n_jobs=n_jobs, seed=seed + r)
                                  for r in range(1, n_seeds)]
            path = attribution.save(out / "attributions" / f"{file_stem(label)}.{method}.npz")
            error = attribution.completeness_error()
            scale = np.abs(attribution.outputs - attribution.baseline_outputs)
            imp = importance(attribution)
            info[name] = {
                "run": str(run), "label": label, "model": model.kind, "sample": model.sample,
                "method": method, "seconds": seconds, "events_per_second": len(x) / seconds,
                "seeds": 1 + len(replicas.get(name, [])),
                "path": str(path),
                "completeness_abs_median": float(np.median(error)),
                "completeness_rel_median": float(np.median(error / np.maximum(scale, 1e-12))),
                "importance": {t: dict(zip(attribution.item_names, imp[i].tolist(),
                                           strict=True))
                               for i, t in enumerate(attribution.targets)}}
    summary: dict[str, Any] = {
        "data": str(test.path), "n_events": len(rows), "event_rows": "first test events "
        "preselected in both reconstructions", "classes": list(test.class_names),
        "features": list(test.feature_names), "engine": engine, "attributions": info}
    bdts = {v["sample"]: name for name, v in info.items() if v["model"] == "bdt"}
    if "simplified" in bdts and "full" in bdts:
        summary["comparison"] = {
            "simplified": bdts["simplified"], "full": bdts["full"],
            "rows": compare_samples(attributions[bdts["simplified"]], attributions[bdts["full"]],
                                    test.features["simplified"][rows],
                                    test.features["full"][rows])}
    if len(attributions) > 1:
        summary["convergence"] = convergence(attributions, replicas=replicas)
    if figures:
        summary["figures"] = _figures(out, attributions, inputs, info, summary)
    write_json_atomic(out / "explain.json", summary)
    return summary


def _figures(out: Path, attributions: dict[str, Attribution], inputs: dict[str, np.ndarray],
             info: dict[str, dict], summary: dict[str, Any]) -> dict[str, Any]:
    from hepxai.usecases.susy import figures as viz

    figures: dict[str, Any] = {"models": {}}
    for name, attribution in attributions.items():
        x = inputs[info[name]["label"]]
        slug = file_stem(name.replace(" ", "-")).lower()  # a label may hold "/" or "["
        entry: dict[str, Any] = {"summary": str(viz.plot_importance_stack(
            attribution, out / "figures" / f"{slug}-importance.png", title=name))}
        # BDT: every class (the slides' model); MLP: the signal class, to compare with it
        bdt = info[name]["model"] == "bdt"
        for target in attribution.targets if bdt else (SIGNAL,):
            entry[target] = viz.plot_shap_class(
                attribution, x, target, out / "figures" / slug, title=name, bar=bdt,
                n_dependence=(3 if target == SIGNAL else 1) if bdt else 0)
        figures["models"][name] = entry
    if "comparison" in summary:
        figures["comparison"] = str(viz.plot_sample_comparison(
            summary["comparison"], out / "figures" / "simplified-vs-full.png"))
    if "convergence" in summary:
        figures["convergence"] = str(viz.plot_convergence(
            attributions, summary["convergence"], out / "figures" / "convergence.png",
            samples={name: item["sample"] for name, item in info.items()}))
    return figures


# -- tables ------------------------------------------------------------------------------------
def importance_table(summary: dict[str, Any], target: str = SIGNAL) -> str:
    """Markdown: features ranked by each explanation's signal-class importance."""
    names = list(summary["attributions"])
    features = summary["features"]
    first = summary["attributions"][names[0]]["importance"][target]
    order = sorted(features, key=lambda f: -first[f])
    head = ["feature"] + [f"{n} mean abs (rank)" for n in names]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    ranks = {}
    for n in names:
        imp = summary["attributions"][n]["importance"][target]
        values = np.array([imp[f] for f in features])
        ranks[n] = dict(zip(features, ranking(values).tolist(), strict=True))
    for f in order:
        cells = [f] + [f"{summary['attributions'][n]['importance'][target][f]:.3f} "
                       f"({ranks[n][f]})" for n in names]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def comparison_table(summary: dict[str, Any]) -> str:
    """Markdown: the simplified-vs-full comparison, largest paired SHAP difference first."""
    if "comparison" not in summary:
        return "(needs a BDT trained on each sample)"
    head = ["feature", "mean abs SHAP simplified (rank)", "full (rank)", "change",
            "mean abs paired difference", "per-event SHAP corr", "variable RMS shift / spread",
            "variable KS"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in summary["comparison"]["rows"]:
        corr = "n/a" if r["shap_correlation"] is None else f"{r['shap_correlation']:.2f}"
        shift = "n/a" if r["variable_rms_shift"] is None else f"{r['variable_rms_shift']:.3f}"
        lines.append(f"| {r['feature']} | {r['importance_simplified']:.3f} "
                     f"({r['rank_simplified']}) | {r['importance_full']:.3f} ({r['rank_full']}) "
                     f"| {r['delta_importance']:+.3f} | {r['mean_abs_difference']:.3f} | {corr} "
                     f"| {shift} | {r['variable_ks']:.3f} |")
    return "\n".join(lines)


def convergence_table(summary: dict[str, Any]) -> str:
    """Markdown: agreement of every pair of explanations (signal class, centred), with the
    95 % bootstrap interval over the events (and the seeds of a stochastic explanation) where
    the summary has it."""
    from hepxai.report.format import with_interval

    if "convergence" not in summary:
        return "(needs at least two explanations)"
    head = ["explanation A", "explanation B", "seeds", "Spearman (global) [95 % interval]",
            "Kendall",
            "top-5 overlap", "Spearman all classes", "per-event Spearman mean [interval] / "
            "median", "per-event top-3", "per-event cosine"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in summary["convergence"]:
        lines.append(
            f"| {r['a']} | {r['b']} | {r.get('seeds', 1)} | "
            f"{with_interval(r['spearman'], r.get('spearman_interval'))}"
            f" | {r['kendall']:.3f} | {r['top5_overlap']:.2f} | "
            f"{r['spearman_all_classes']:.3f} | "
            f"{with_interval(r['event_spearman_mean'], r.get('event_spearman_interval'))} / "
            f"{r['event_spearman_median']:.3f} | "
            f"{with_interval(r['event_top3_overlap'], r.get('event_top3_interval'), 2)} | "
            f"{with_interval(r['event_cosine_mean'], r.get('event_cosine_interval'))} |")
    return "\n".join(lines)


def format_explain(summary: dict[str, Any]) -> str:
    """What ``hepxai explain susy`` prints of :func:`explain_runs`'s summary: the time and
    completeness of every attribution, then the importance, comparison and convergence
    tables."""
    lines = [f"{name}: {summary['n_events']:,} events in {info['seconds']:.1f} s, median "
             f"completeness error {info['completeness_rel_median']:.2e} (relative)"
             for name, info in summary["attributions"].items()]
    lines += ["\nSignal-class importance, mean |attribution| (rank):", importance_table(summary),
              "\nSimplified vs full reconstruction (BDT SHAP, signal class, same events):",
              comparison_table(summary),
              "\nConvergence (signal class, class-centred attributions):",
              convergence_table(summary)]
    return "\n".join(lines)


def format_run(run_dir: str | os.PathLike[str]) -> str:
    """The results of a finished ``hepxai demo susy`` run directory as text: the metric table
    of ``evaluation/evaluation.json`` and :func:`format_explain` of ``explain/explain.json``."""
    from hepxai.core.atomic import read_json
    from hepxai.usecases.susy.evaluation import metric_table

    run = Path(run_dir)
    evaluation = read_json(run / "evaluation" / "evaluation.json", "'hepxai evaluate susy'",
                           ("models",))
    explanation = read_json(run / "explain" / "explain.json", "'hepxai explain susy'")
    return metric_table(evaluation) + "\n" + format_explain(explanation)
