"""The muon explanation study: pick events per trigger category, explain them with every
method, judge and compare the explanations, write everything into a run directory.

Output layout (``OUT``):
    attributions/METHOD.npz   the :class:`Attribution` of every method (all events)
    events.npz                event ids, source split, categories, images, truth, labels
    judging.json              per-method scores per category, agreement matrices, curves
    agreement.png, deletion_curves.png, gallery_CATEGORY.png
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hepxai.core.atomic import atomic_path, write_json_atomic
from hepxai.core.errors import HepxaiError
from hepxai.explain.attribution.binary_paths import BinaryPathIG
from hepxai.explain.attribution.cam import RegressionActivationMap, ThesisCodeRAM
from hepxai.explain.attribution.integrated_gradients import IntegratedGradients
from hepxai.explain.attribution.saliency import Saliency
from hepxai.explain.attribution.smooth import SmoothGrad, salt_and_pepper
from hepxai.explain.base import Explainer, event_seeds
from hepxai.explain.judging import judge
from hepxai.explain.modality import Image
from hepxai.models.outputs import WithOutputSum
from hepxai.usecases.muon.categories import CATEGORIES, trigger_categories
from hepxai.usecases.muon.loader import MuonDataset
from hepxai.usecases.muon.models.base import OUTPUTS, MuonRegressor
from hepxai.usecases.muon.store import MuonFile, split_path

#: what the muon explainers read: the (1, 9, 384) binary hit maps of the RPC layers
HIT_MAPS = Image(shape=(1, 9, 384), binary=True, what="hit maps")
STABILITY_HITS = 3  # extra noise hits of the stability score

#: the study's methods: label -> (method, parameters); "smoothgrad" wraps binary IG (thesis)
DEFAULT_METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "ram": ("ram", {}),
    "saliency": ("saliency", {}),
    "ig": ("ig", {"n_steps": 32}),
    "ig-binary": ("ig-binary", {"mode": "thesis"}),
    "ig-binary-exact": ("ig-binary", {"mode": "exact"}),
    "shapley": ("ig-binary", {"mode": "shapley", "orders": 10}),
    "smoothgrad": ("smoothgrad", {"n_samples": 20, "rate": 0.02}),
}
BINARY_MODES = ("thesis", "exact", "shapley")
#: ``conventions="thesis"``: what the thesis' code computes (attribution/attribution.py of
#: lorin98/xAI-HEP): its RAM variant, top-down binary IG, SmoothGrad of 100 salt-and-pepper
#: copies at 2 %, all explaining the sum pT + |eta| (TensorFlow's gradient of both outputs)
THESIS_METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "ram-thesis-code": ("ram-thesis-code", {}),
    "ig-binary": ("ig-binary", {"mode": "thesis"}),
    "smoothgrad": ("smoothgrad", {"n_samples": 100, "rate": 0.02}),
}
THESIS_TARGET = "pt+eta"
CONVENTIONS = ("hepxai", "thesis")


def parse_methods(spec: str, conventions: str = "hepxai") -> dict[str, tuple[str, dict[str, Any]]]:
    """``"ram,ig,ig-binary:exact"`` -> study methods; ``ig-binary:MODE`` sets a binary IG
    mode. A name both conventions know (``smoothgrad``) takes the settings of
    ``conventions``."""
    chosen: dict[str, tuple[str, dict[str, Any]]] = {}
    known = {**DEFAULT_METHODS, **THESIS_METHODS} if conventions == "thesis" else \
        {**THESIS_METHODS, **DEFAULT_METHODS}
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        if item in known:
            chosen[item] = known[item]
            continue
        name, _, mode = item.partition(":")
        if name != "ig-binary" or mode not in BINARY_MODES:
            raise HepxaiError(f"unknown explanation method {item!r}; choose from "
                              f"{', '.join(known)} or ig-binary:MODE with MODE in "
                              f"{', '.join(BINARY_MODES)}")
        chosen[item] = ("ig-binary", {"mode": mode})
    if not chosen:
        raise HepxaiError(f"no explanation method in {spec!r}; choose from "
                          f"{', '.join(DEFAULT_METHODS)}")
    return chosen


#: the parameter that sets how many draws a stochastic method's map averages
SAMPLE_PARAMETER = {"smoothgrad": "n_samples", "shapley": "orders"}


def _stochastic(name: str, params: dict[str, Any]) -> str | None:
    """``smoothgrad`` or ``shapley`` (binary IG in its Shapley mode) for a stochastic study
    method, ``None`` for a deterministic one."""
    if name == "smoothgrad":
        return "smoothgrad"
    return "shapley" if name == "ig-binary" and params.get("mode") == "shapley" else None


def sample_count(name: str, params: dict[str, Any]) -> int | None:
    """The draws a stochastic method averages (SmoothGrad's noisy copies, Shapley's random
    orders): its parameter, else the explainer's own default; ``None`` for a deterministic
    one."""
    import inspect

    kind = _stochastic(name, params)
    if kind is None:
        return None
    key = SAMPLE_PARAMETER[kind]
    if key in params:
        return int(params[key])
    cls = SmoothGrad if kind == "smoothgrad" else BinaryPathIG
    return int(inspect.signature(cls.__init__).parameters[key].default)


def with_samples(chosen: dict[str, tuple[str, dict[str, Any]]], needed: dict[str, int]
                 ) -> dict[str, tuple[str, dict[str, Any]]]:
    """``chosen`` with each stochastic method averaging ``needed[label]`` draws where that is
    more than it would (the seed-stability study's ``samples_needed``: the draws for two runs
    with different seeds to agree at the stated level)."""
    out = {}
    for label, (name, params) in chosen.items():
        kind, current = _stochastic(name, params), sample_count(name, params)
        if kind is not None and needed.get(label, 0) > current:
            params = {**params, SAMPLE_PARAMETER[kind]: int(needed[label])}
        out[label] = (name, params)
    return out


def samples_needed(sanity_json: str | os.PathLike[str], checkpoint: str | os.PathLike[str]
                   ) -> dict[str, int]:
    """Per stochastic method of a ``hepxai sanity muon`` run of ``checkpoint`` (its
    ``sanity.json``), the draws Spearman-Brown predicts for the agreement it states (methods
    whose agreement never gets there are left out)."""
    from hepxai.explain.judging.sanity import stability_of

    found = stability_of(sanity_json, checkpoint, "hepxai sanity muon")
    return {label: int(s["samples_needed"]) for label, s in found.items()
            if s.get("samples_needed")}


@dataclass
class StudyEvents:
    """The explained events: ``images``/``truth`` bool ``(n, 9, 384)``, ``labels`` ``(n, 2)``."""

    ids: np.ndarray
    split: np.ndarray
    categories: np.ndarray
    images: np.ndarray
    truth: np.ndarray
    labels: np.ndarray
    predictions: np.ndarray

    def save(self, path: str | os.PathLike[str]) -> None:
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez_compressed(handle, ids=self.ids, split=self.split.astype(str),
                                categories=self.categories.astype(str), images=self.images,
                                truth=self.truth, labels=self.labels,
                                predictions=self.predictions)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> StudyEvents:
        with np.load(path) as data:
            return cls(data["ids"], data["split"].astype(object),
                       data["categories"].astype(object), data["images"], data["truth"],
                       data["labels"], data["predictions"])


def select_events(model: MuonRegressor, data_dir: str | os.PathLike[str], per_category: int,
                  pool: int = 5000, seed: int = 0, device: str = "cpu") -> StudyEvents:
    """Up to ``per_category`` events of every category, drawn (seeded) from the first ``pool``
    validation events and the only-noise split."""
    from hepxai.usecases.muon.task import predict

    rng = np.random.default_rng(seed)
    val = MuonFile(split_path(data_dir, "val"))
    rows = np.arange(min(pool, len(val)))
    pred = predict(model, MuonDataset(val, rows=rows), device, desc="predictions for selection")
    truth_pt = val.labels["pt"][rows]
    categories = trigger_categories(truth_pt, pred[:, 0])
    chosen, split = [], []
    for category in CATEGORIES[:4]:
        candidates = rows[categories == category]
        chosen.append(rng.permutation(candidates)[:per_category])
    chosen_rows = np.concatenate(chosen).astype(np.int64)
    parts = {"val": (val, chosen_rows, pred[chosen_rows], categories[chosen_rows])}
    noise_path = split_path(data_dir, "noise")
    if noise_path.exists():
        noise = MuonFile(noise_path)
        noise_rows = np.sort(rng.permutation(min(pool, len(noise)))[:per_category])
        noise_pred = predict(model, MuonDataset(noise, rows=noise_rows), device,
                             desc="only-noise predictions")
        parts["noise"] = (noise, noise_rows, noise_pred,
                          np.array(["only-noise"] * len(noise_rows), dtype=object))
    ids, images, truth, labels, preds, cats = [], [], [], [], [], []
    for name, (file, r, p, c) in parts.items():
        if len(r) == 0:
            continue
        ids.append(r)
        split.append(np.array([name] * len(r), dtype=object))
        images.append(file.images.to_dense(r).astype(bool))
        truth.append(file.truth.to_dense(r).astype(bool) if file.truth is not None and
                     name != "noise" else np.zeros((len(r), 9, 384), bool))
        labels.append(np.stack([file.labels["pt"][r], file.labels["eta"][r]], 1))
        preds.append(p)
        cats.append(c)
    if not ids:
        raise HepxaiError(f"{data_dir}: no events to explain; simulate more events")
    return StudyEvents(np.concatenate(ids), np.concatenate(split), np.concatenate(cats),
                       np.concatenate(images), np.concatenate(truth),
                       np.concatenate(labels).astype(np.float64), np.concatenate(preds))


def build_method(model: MuonRegressor, name: str, params: dict[str, Any],
                 seed: int = 0) -> Explainer:
    """One study method on ``model``, reading the hit maps."""
    if name == "ram":
        return RegressionActivationMap(model, modality=HIT_MAPS)
    if name == "ram-thesis-code":
        return ThesisCodeRAM(model, modality=HIT_MAPS)
    if name == "saliency":
        return Saliency(model, modality=HIT_MAPS)
    if name == "ig":
        return IntegratedGradients(model, modality=HIT_MAPS, **params)
    if name == "ig-binary":
        shapley = params.get("mode") == "shapley"
        return BinaryPathIG(model, modality=HIT_MAPS, **({"seed": seed} if shapley else {}),
                            **params)
    if name == "smoothgrad":
        return SmoothGrad(BinaryPathIG(model, mode="thesis", modality=HIT_MAPS),
                          noise=salt_and_pepper(params.get("rate", 0.02)),
                          n_samples=params.get("n_samples", 20), seed=seed)
    raise HepxaiError(f"unknown study method {name!r}")


def build_methods(model: MuonRegressor, chosen: dict[str, tuple[str, dict[str, Any]]],
                  seed: int = 0) -> dict[str, Explainer]:
    """Construct every chosen method on ``model`` (the ones the model cannot support are left
    out with a note, e.g. RAM on a model without convolutions)."""
    methods: dict[str, Explainer] = {}
    for label, (name, params) in chosen.items():
        try:
            methods[label] = build_method(model, name, params, seed)
        except HepxaiError as error:
            print(f"note: {label} skipped: {error}")
    if not methods:
        raise HepxaiError(f"{model.name}: none of the chosen methods applies to this model")
    return methods


def add_noise_hits(images: np.ndarray, n_hits: int, seeds: np.ndarray) -> np.ndarray:
    """Each hit map with ``n_hits`` extra hits on distinct unlit pixels (seeded per event): the
    perturbation of the stability score (detector noise only adds hits)."""
    images = np.asarray(images).astype(bool)
    flat = images.reshape(len(images), -1).copy()
    for i, seed in enumerate(seeds):  # one draw per event
        free = np.flatnonzero(~flat[i])
        flat[i, np.random.default_rng(int(seed)).choice(free, n_hits, replace=False)] = True
    return flat.reshape(images.shape)


def explain_study(model: MuonRegressor, data_dir: str | os.PathLike[str],
                  out: str | os.PathLike[str], methods: str | None = None,
                  per_category: int = 8, pool: int = 5000, seed: int = 0, target: str = "pt",
                  device: str = "cpu", smoothgrad_copies: int | None = None,
                  conventions: str = "hepxai", samples: dict[str, int] | None = None,
                  smoothgrad_rate: float | None = None, n_seeds: int = 1,
                  smoothgrad_grid: tuple[Sequence[int], Sequence[float]] | None = None
                  ) -> dict[str, Any]:
    """Run the whole study and write it to ``out``; returns the judging summary. ``target``
    ``pt+eta`` explains the sum of the outputs (what the thesis' code explains);
    ``conventions`` is recorded in the summary; ``samples``: per stochastic method the draws
    to average at least (:func:`samples_needed` of a sanity study); ``smoothgrad_copies``,
    ``smoothgrad_rate``: SmoothGrad's noisy copies and salt-and-pepper rate; ``n_seeds``: each
    stochastic method also runs with seeds ``seed + 1 .. seed + n_seeds - 1``, which its means
    average and its intervals resample (``judge(replicas=)``); ``smoothgrad_grid``: ``(copies,
    rates)`` of the SmoothGrad grid of the figures' event (thesis figure 6.3,
    :mod:`hepxai.usecases.muon.smoothgrad_grid`)."""
    from hepxai.usecases.muon.figures import (
        noise_extremes,
        plot_gallery,
        plot_interpolation_set,
        plot_noise_examples,
        plot_thesis_panel,
    )
    from hepxai.viz.explain import plot_agreement, plot_deletion_curves

    out = Path(out)
    chosen = parse_methods(methods, conventions) if methods else \
        dict(THESIS_METHODS if conventions == "thesis" else DEFAULT_METHODS)
    smoothgrad = {k: v for k, v in (("n_samples", smoothgrad_copies),
                                     ("rate", smoothgrad_rate)) if v is not None}
    chosen = {label: (name, {**params, **smoothgrad} if name == "smoothgrad" else params)
              for label, (name, params) in chosen.items()}
    if samples:
        chosen = with_samples(chosen, samples)
    if target not in (*OUTPUTS, THESIS_TARGET):
        raise HepxaiError(f"unknown target {target!r}; choose {', '.join(OUTPUTS)} or "
                          f"{THESIS_TARGET}")
    events = select_events(model, data_dir, per_category, pool, seed, device)
    events.save(out / "events.npz")
    # the sum pT + |eta| is one more output column, so every method explains it unchanged
    explained = WithOutputSum(model, OUTPUTS) if target == THESIS_TARGET else model
    built = build_methods(explained, chosen, seed)
    if n_seeds < 1:
        raise HepxaiError(f"n_seeds must be at least 1, got {n_seeds}")
    replicas = {label: [build_method(explained, name, params, seed + r)
                        for r in range(1, n_seeds)]
                for label, (name, params) in chosen.items()
                if label in built and _stochastic(name, params) is not None}
    ids = study_ids(events)
    result = judge(built, events.images, truth=events.truth, categories=events.categories,
                   target=target, targets=list(getattr(explained, "outputs", OUTPUTS)),
                   modality=HIT_MAPS, ids=ids,
                   perturb=lambda images, event_ids: add_noise_hits(
                       images, STABILITY_HITS, event_seeds(seed + 29, event_ids)),
                   truth_name="muon", category_order=CATEGORIES, seed=seed, replicas=replicas)
    for label, attribution in result.attributions.items():
        attribution.save(out / "attributions" / f"{label}.npz")
    summary = {"model": model.name, "preset": model.preset, "target": target,
               "conventions": conventions, **result.summary(),
               # after the judging summary, whose "methods" is the list of labels
               "method_params": {label: {"method": name,
                                         "params": built[label].recorded_params()}
                                 for label, (name, _) in chosen.items() if label in built}}
    plot_agreement(summary, out / "agreement.png")
    plot_deletion_curves(summary, out / "deletion_curves.png", target)
    for category in CATEGORIES:
        rows = np.flatnonzero(events.categories == category)
        if len(rows):
            plot_gallery(events, result.attributions, rows[:3], target,
                         out / f"gallery_{category}.png", title=f"{model.name}: {category}")
    # what binary IG and SmoothGrad evaluate, on one event (a true positive where there is
    # one): thesis figures 6.1 and 6.2
    shown = int(np.flatnonzero(events.categories == "TP")[0]) if (events.categories == "TP").any() \
        else 0
    name = f"event {events.split[shown]}:{events.ids[shown]}"
    plot_interpolation_set(events.images[shown], out / "interpolation_set.png",
                           title=f"binary interpolation set of {name} (the path of binary IG)")
    rates = sorted({0.01, 0.02, 0.05, *(params.get("rate", 0.02) for method, params
                                        in chosen.values() if method == "smoothgrad")})
    plot_noise_examples(events.images[shown], out / "noise_examples.png", rates=tuple(rates),
                        seed=seed, title=f"salt-and-pepper copies of {name} (SmoothGrad's "
                                         "noisy inputs)")
    # the thesis' attribution figures 7.3-7.5: that event, and the only-noise events the
    # model predicts highest and lowest
    panels = {"panel_TP.png" if events.categories[shown] == "TP" else "panel_event.png": shown}
    extremes = noise_extremes(events)
    if extremes is not None:
        panels |= {"panel_only-noise_high.png": extremes[0],
                   "panel_only-noise_low.png": extremes[1]}
    for file, row in panels.items():
        plot_thesis_panel(events, result.attributions, row, out / file,
                          title=f"{model.name}: the thesis' attribution panel")
    if smoothgrad_grid is not None:
        from hepxai.usecases.muon.smoothgrad_grid import plot_smoothgrad_grid
        from hepxai.usecases.muon.smoothgrad_grid import smoothgrad_grid as grid_of

        grid = grid_of(explained, events.images[shown], copies=tuple(smoothgrad_grid[0]),
                       rates=tuple(smoothgrad_grid[1]), target=target, seed=seed,
                       event_id=int(ids[shown]))
        plot_smoothgrad_grid(events.images[shown], grid, out / "smoothgrad_grid.png",
                             title=f"SmoothGrad of binary IG ({target}) on {name}: copies x "
                                   "noise rate")
        write_json_atomic(out / "smoothgrad_grid.json", {"event": name, **grid.to_json()})
    # last: judging.json is the mark of a finished study (the demo and report trust it)
    write_json_atomic(out / "judging.json", summary)
    return summary


def explain_run(checkpoint: str | os.PathLike[str], data_dir: str | os.PathLike[str],
                out: str | os.PathLike[str], methods: str, *, per_category: int = 8,
                pool: int = 5000, seed: int = 1, target: str | None = None,
                device: str = "cpu", smoothgrad_copies: int | None = None,
                conventions: str = "hepxai", samples_from: str | os.PathLike[str] | None = None,
                smoothgrad_rate: float | None = None, n_seeds: int = 1,
                smoothgrad_grid: tuple[Sequence[int], Sequence[float]] | None = None,
                echo: Callable[[str], object] = print) -> None:
    """``hepxai explain muon``: the model of ``checkpoint`` explained with the comma-separated
    ``methods`` (:func:`explain_study`, its summary echoed); ``tree`` among them adds the
    decision-flow study of a soft tree into ``out/tree``. ``methods``, ``target`` and
    ``smoothgrad_copies`` left None take the defaults of ``conventions``: hepxai's (every
    method, pt, 20 copies) or the thesis' code's (:data:`THESIS_METHODS`, pt+eta, 100).
    ``samples_from``: a ``sanity.json`` whose seed-stability study sets the draws of the
    stochastic methods (:func:`samples_needed`); ``n_seeds``: the seeds of each stochastic
    method (:func:`explain_study`)."""
    from torch import nn

    from hepxai.io.checkpoint import load_model

    if conventions not in CONVENTIONS:
        raise HepxaiError(f"unknown conventions {conventions!r}; choose "
                          f"{' or '.join(CONVENTIONS)}")
    thesis = conventions == "thesis"
    methods = methods or ",".join(THESIS_METHODS if thesis else DEFAULT_METHODS)
    target = target or (THESIS_TARGET if thesis else "pt")
    model = load_model(checkpoint, device=device, use_case="muon")
    if not isinstance(model, nn.Module):  # the scikit-learn decision tree of Table 7.1
        raise HepxaiError(f"{checkpoint}: a {model.name} (scikit-learn, not differentiable): "
                          "the attribution methods need a torch model and the decision flow a "
                          "soft tree; explain a CNN or ConvSDT checkpoint")
    out = Path(out)
    names = [m.strip() for m in methods.split(",") if m.strip()]
    if not names:
        raise HepxaiError(f"--methods {methods!r} names no method; give e.g. "
                          "--methods saliency,ig (or 'tree' for the soft tree's decision flow)")
    if "tree" in names:  # before the attribution study, not after it
        from hepxai.usecases.muon.flow import soft_tree_of

        soft_tree_of(model)
    attribution_methods = ",".join(m for m in names if m != "tree")
    samples = samples_needed(samples_from, checkpoint) if samples_from is not None else None
    if attribution_methods:
        summary = explain_study(model, data_dir, out, attribution_methods, per_category, pool,
                                seed, target, device, smoothgrad_copies=smoothgrad_copies,
                                conventions=conventions, samples=samples,
                                smoothgrad_rate=smoothgrad_rate, n_seeds=n_seeds,
                                smoothgrad_grid=smoothgrad_grid)
        echo(format_summary(summary))
    if "tree" in names:
        from hepxai.usecases.muon.decision_flow import tree_study

        echo(tree_study(model, data_dir, out / "tree", per_category, pool, seed, device))


def study_ids(events: StudyEvents) -> np.ndarray:
    # distinct ids across splits, so per-event seeds differ between val and noise events
    return events.ids + np.where(events.split == "noise", 10**9, 0)


def format_summary(summary: dict[str, Any]) -> str:
    """Plain-text tables: localization and faithfulness per method on TP events and overall,
    and the Spearman agreement matrix over all events."""
    lines = [f"Judging ({summary['model']}, target {summary['target']}); events per category: "
             + ", ".join(f"{c} {n}" for c, n in summary["categories"].items())]
    header = f"{'method':<17}{'share TP':>10}{'prec@k TP':>11}{'AUROC TP':>10}" \
             f"{'del.gap':>9}{'complete':>10}{'stable':>8}"
    lines += ["", header, "-" * len(header)]
    for m in summary["scores"]:
        tp = summary["scores"][m].get("TP", {})
        al = summary["scores"][m]["all"]
        lines.append(f"{m:<17}{_fmt(tp.get('muon_share')):>10}"
                     f"{_fmt(tp.get('precision_at_k')):>11}{_fmt(tp.get('auroc')):>10}{_fmt(al.get('deletion_gap')):>9}"
                     f"{_fmt(al.get('completeness_error')):>10}{_fmt(al.get('stability')):>8}")
    matrix = summary["agreement"]["spearman"]["all"]
    names = list(summary["scores"])
    lines += ["", "Spearman agreement on lit pixels (all events)",
              " " * 17 + "".join(f"{n[:8]:>9}" for n in names)]
    for name, row in zip(names, matrix, strict=True):
        lines.append(f"{name:<17}" + "".join(f"{_fmt(v):>9}" for v in row))
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    return "-" if value is None or value != value else f"{value:.3f}"
