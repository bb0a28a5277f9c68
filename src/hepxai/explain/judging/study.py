"""One judge for every modality: every method on the same examples, scored against a truth
mask and the model itself, and compared with every other method, per category of examples.

:func:`judge` takes explainers (it runs them) or precomputed attributions (possibly of a subset
of the examples, e.g. GNNExplainer's), and returns a :class:`JudgingResult`: per-example scores
(NaN where a method did not explain an example), the agreement of every pair of methods, mean
deletion curves per category, the attributions; :meth:`JudgingResult.summary` is the
JSON-ready table the reports read. Scores:

* localization against the truth mask (:mod:`.localization`): the truth's share of the
  relevance, its base rate (a blind map's share), precision at k, AUROC;
* deletion faithfulness (:mod:`.deletion`): the gap between the random-order and the
  method-order deletion curves;
* completeness: ``|sum - (F(x) - F(baseline))| / |F(x) - F(baseline)|`` for methods that record
  both outputs;
* stability: the Spearman correlation of a map with the map of a perturbed input (e.g. a few
  extra noise hits), on the original real items, when ``perturb`` is given;
* agreement (:mod:`.agreement`): Spearman and top-k overlap of every pair of methods.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from hepxai.core import ragged
from hepxai.core.errors import HepxaiError
from hepxai.core.progress import progress
from hepxai.explain.base import Explainer, event_seeds
from hepxai.explain.judging.agreement import agreement
from hepxai.explain.judging.categories import CATEGORIES
from hepxai.explain.judging.deletion import (
    FRACTIONS,
    deletion_gap,
    deletion_outputs,
    mean_curve,
    path_deletion_curves,
)
from hepxai.explain.judging.localization import localization
from hepxai.explain.judging.ranks import masked_spearman
from hepxai.explain.judging.uncertainty import LEVEL, N_BOOT, bootstrap_interval
from hepxai.explain.modality import Batch, Modality, modality_of
from hepxai.explain.types import Attribution


@dataclass
class JudgingResult:
    """Per-example scores ``scores[method][score]`` ``(n,)`` (NaN where a method did not explain
    an example), agreement ``pairs[(m1, m2)][kind]`` ``(n,)``, mean deletion curves per method
    and category, and the attributions themselves.

    A stochastic method judged with replicas (other seeds, ``judge(..., replicas=)``) also has
    ``seed_scores[method][score]`` ``(n_seeds, n)`` (row 0 is ``scores``; ``stability`` only
    there, NaN in the replicas) and its pairs ``seed_pairs[(m1, m2)][kind]`` ``(n_seeds, n)``:
    its means average over the seeds, and its intervals resample seeds as well as examples."""

    categories: np.ndarray
    category_order: tuple[str, ...] = CATEGORIES
    scores: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    pairs: dict[tuple[str, str], dict[str, np.ndarray]] = field(default_factory=dict)
    curves: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    attributions: dict[str, Attribution] = field(default_factory=dict)
    seed_scores: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    seed_pairs: dict[tuple[str, str], dict[str, np.ndarray]] = field(default_factory=dict)
    fractions: tuple[float, ...] | None = None
    k: int | None = None

    def _rows(self, category: str) -> np.ndarray:
        return np.ones(len(self.categories), bool) if category == "all" \
            else self.categories == category

    def method_scores(self, method: str) -> dict[str, np.ndarray]:
        """A method's scores ``(n_seeds, n)``: every seed it was judged with (one row without
        replicas)."""
        return self.seed_scores.get(method) or \
            {name: values[None] for name, values in self.scores[method].items()}

    def pair_scores(self, pair: tuple[str, str]) -> dict[str, np.ndarray]:
        """A pair's agreement ``(n_seeds, n)`` per kind (one row unless a member is seeded)."""
        return self.seed_pairs.get(pair) or \
            {kind: values[None] for kind, values in self.pairs[pair].items()}

    def summary(self) -> dict[str, Any]:
        """Means (NaN-aware) per method, category and score, the agreement matrices, the
        curves, and per method the examples it explained, the seeds it was judged with (a
        seeded method's means are the averages of its per-seed means) and its median relative
        completeness error (the mean is dominated by the few examples where
        ``F(x) ~ F(baseline)``)."""
        methods = list(self.scores)
        present = [c for c in ("all", *self.category_order) if self._rows(c).any()]
        out: dict[str, Any] = {
            "categories": {c: int((self.categories == c).sum()) for c in self.category_order},
            "methods": methods, "n_examples": int(len(self.categories)),
            "fractions": None if self.fractions is None else list(map(float, self.fractions)),
            "top_k": self.k, "scores": {}, "agreement": {}, "deletion_curves": self.curves}
        for method in methods:
            per_score = self.method_scores(method)
            out["scores"][method] = {
                category: {name: _seed_mean(values[:, self._rows(category)])
                           for name, values in per_score.items()} for category in present}
        for kind in ("spearman", "top_k_overlap"):
            out["agreement"][kind] = {}
            for category in present:
                rows = self._rows(category)
                matrix = np.eye(len(methods))
                for (a, b) in self.pairs:
                    i, j = methods.index(a), methods.index(b)
                    matrix[i, j] = matrix[j, i] = \
                        _seed_mean(self.pair_scores((a, b))[kind][:, rows])
                out["agreement"][kind][category] = matrix.tolist()
        out["intervals"] = self.intervals(present)
        out["examples_per_method"] = {
            name: int(np.isfinite(s["base_rate"]).sum()) for name, s in self.scores.items()}
        out["seeds_per_method"] = {name: len(self.method_scores(name)["base_rate"])
                                   for name in methods}
        out["completeness_median"] = {
            name: float(np.nanmedian(s["completeness_error"]))
            if np.isfinite(s["completeness_error"]).any() else None
            for name, s in self.scores.items()}
        return out


    def intervals(self, categories: Sequence[str] | None = None, n_boot: int = N_BOOT,
                  seed: int = 0) -> dict[str, Any]:
        """95 % percentile bootstrap intervals over the examples of every mean of
        :meth:`summary`: ``scores[method][category][score]`` and
        ``agreement[kind][category]`` (matrices of ``[lo, hi]``, ``None`` on the diagonal
        and where undefined); the examples of a category are resampled together for all
        scores of a method. A method judged with several seeds (and its pairs) resamples its
        seeds too (:func:`~hepxai.explain.judging.uncertainty.bootstrap_means`), so its
        interval holds the seed-to-seed spread; ``seeds[method]`` records how many."""
        methods = list(self.scores)
        present = categories if categories is not None else \
            [c for c in ("all", *self.category_order) if self._rows(c).any()]
        out: dict[str, Any] = {"level": LEVEL, "n_boot": n_boot, "scores": {},
                               "agreement": {}, "seeds": {}}
        for method in methods:
            per_score = self.method_scores(method)
            names = list(per_score)
            columns = np.stack([per_score[n] for n in names], 2)  # (n_seeds, n, k)
            out["seeds"][method] = len(columns)
            out["scores"][method] = {}
            for category in present:
                bounds = _bounds(columns[:, self._rows(category)], n_boot, seed)
                out["scores"][method][category] = dict(zip(names, bounds, strict=True))
        for kind in ("spearman", "top_k_overlap"):
            out["agreement"][kind] = {}
            for category in present:
                rows = self._rows(category)
                matrix: list[list[list[float] | None]] = [[None] * len(methods)
                                                          for _ in methods]
                # pairs of one seed are resampled together; a seeded pair on its own seeds
                groups = [[p for p in self.pairs if p not in self.seed_pairs]] + \
                    [[p] for p in self.pairs if p in self.seed_pairs]
                for pairs in filter(None, groups):
                    columns = np.stack([self.pair_scores(p)[kind][:, rows] for p in pairs], 2)
                    for (a, b), bound in zip(pairs, _bounds(columns, n_boot, seed),
                                             strict=True):
                        i, j = methods.index(a), methods.index(b)
                        matrix[i][j] = matrix[j][i] = bound
                out["agreement"][kind][category] = matrix
        return out


def _bounds(columns: np.ndarray, n_boot: int, seed: int) -> list[list[float] | None]:
    """``[lo, hi]`` per column of ``(n_seeds, n, k)`` values (one seed: the examples alone are
    resampled), ``None`` for a column without a finite value."""
    if columns.shape[1] == 0:
        return [None] * columns.shape[2]
    values = columns[0] if len(columns) == 1 else columns
    intervals = bootstrap_interval(values, n_boot=n_boot, seed=seed)
    return [None if not np.isfinite(iv).all() else [float(iv[0]), float(iv[1])]
            for iv in intervals]


def _nanmean(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def _seed_mean(values: np.ndarray) -> float:
    """The mean over seeds of the per-seed means of ``(n_seeds, n)`` values (NaN-aware: a seed
    without a finite value, e.g. a replica's stability, does not count), the quantity whose
    interval :func:`_bounds` resamples."""
    means = [_nanmean(row) for row in values]
    return _nanmean(np.asarray(means))


def relative_completeness(attribution: Attribution) -> np.ndarray:
    """``|sum - (F(x) - F(b))| / |F(x) - F(b)|`` per example and target, NaN when not
    defined (no recorded baseline)."""
    if attribution.baseline_outputs is None or attribution.outputs is None:
        return np.full((attribution.n_events, len(attribution.targets)), np.nan)
    delta = np.abs(attribution.outputs - attribution.baseline_outputs)
    with np.errstate(invalid="ignore", divide="ignore"):
        return attribution.completeness_error() / delta


class Layout:
    """The items of the judged examples: dense ``(n, *item_shape)`` or ragged
    ``(n_items_total,)`` with ``offsets``, and their rows ``(n, m)`` for the row-wise
    statistics; attributions of (some of) the examples are placed by their ids."""

    def __init__(self, ids: np.ndarray, offsets: np.ndarray | None = None):
        self.ids = np.asarray(ids, np.int64)
        self.n = len(self.ids)
        self.offsets = offsets
        self.ragged = offsets is not None
        self.position = {int(i): p for p, i in enumerate(self.ids)}

    def where(self, attribution: Attribution) -> np.ndarray:
        """The positions of an attribution's examples among the judged ones."""
        if attribution.event_ids is None:
            if attribution.n_events != self.n:
                raise HepxaiError(f"{attribution.method}: {attribution.n_events} examples "
                                  f"without ids for {self.n} judged ones; record ids")
            return np.arange(self.n)
        try:
            return np.array([self.position[int(i)] for i in attribution.event_ids], np.int64)
        except KeyError:
            raise HepxaiError(f"{attribution.method} explains examples that are not judged "
                              "here; give the same examples (ids)") from None

    def place(self, attribution: Attribution, target: int | str = 0
              ) -> tuple[np.ndarray, np.ndarray]:
        """An attribution's item relevance of ``target`` at the judged examples' places (0
        elsewhere), and which examples it explained ``(n,)``."""
        where = self.where(attribution)
        values = attribution.items(attribution.target_index(target))
        explained = np.zeros(self.n, bool)
        explained[where] = True
        if not self.ragged:
            out = np.zeros((self.n, *values.shape[1:]), np.float64)
            out[where] = values
            return out, explained
        if attribution.offsets is None or not np.array_equal(
                np.diff(attribution.offsets), np.diff(self.offsets)[where]):
            raise HepxaiError(f"{attribution.method} explains other graphs of the same examples "
                              "(other graph settings?); judge them separately")
        out = np.zeros(int(self.offsets[-1]), np.float64)
        out[ragged.take(self.offsets, where)[0]] = values
        return out, explained

    def rows(self, items: np.ndarray) -> np.ndarray:
        if self.ragged:
            return ragged.pad(np.asarray(items, np.float64), self.offsets)[0]
        return np.asarray(items).reshape(self.n, -1)

    def row_mask(self, items: np.ndarray) -> np.ndarray:
        return self.rows(np.asarray(items, np.float64)) > 0.5

    def per_item(self, per_example: np.ndarray, item_ndim: int) -> np.ndarray:
        """A per-example value on every item (broadcastable)."""
        if self.ragged:
            return np.repeat(per_example, np.diff(self.offsets))
        return per_example.reshape(-1, *([1] * (item_ndim - 1)))


def pair_agreement(a: Attribution, b: Attribution, *, ids: np.ndarray, real: np.ndarray,
                   offsets: np.ndarray | None = None, k: np.ndarray | int = 5,
                   target: int | str = 0) -> dict[str, np.ndarray]:
    """:func:`~hepxai.explain.judging.agreement.agreement` of two attributions on the examples
    both explained (matched by id), per judged example ``ids`` (NaN for the others).

    ``real``: the real items in the judged examples' layout (dense ``(n, *item_shape)``,
    ragged ``(n_items_total,)`` with ``offsets``)."""
    layout = Layout(ids, offsets)
    rows_a, explained_a = layout.place(a, target)
    rows_b, explained_b = layout.place(b, target)
    both = explained_a & explained_b
    return agreement(layout.rows(rows_a), layout.rows(rows_b),
                     layout.row_mask(real) & both[:, None], k)


def judge(methods: Mapping[str, Explainer | Attribution], inputs: Any, *, truth: np.ndarray,
          categories: np.ndarray, target: int | str = 0,
          targets: Sequence[int | str] | None = None, modality: Modality | None = None,
          model: Any = None, ids: Sequence[int] | None = None,
          fractions: Sequence[float] | None = None, k: int | None = None,
          perturb: Callable[[Any, np.ndarray], Any] | None = None, classifier: bool = False,
          truth_name: str = "truth", baseline: Any = None,
          category_order: Sequence[str] = CATEGORIES, seed: int = 0,
          replicas: Mapping[str, Sequence[Explainer | Attribution]] | None = None
          ) -> JudgingResult:
    """Explain ``inputs`` with every explainer (or take its precomputed attribution) and score
    everything.

    Args:
        methods: name -> an explainer (run here) or an :class:`Attribution` of (some of) the
            examples, matched by ``event_ids``.
        inputs: the judged examples (images, a table, PyG graphs).
        truth: bool per item, in the modality's item layout (images ``(n, H, W)``, tables
            ``(n, F)``, graphs ``(n_nodes_total,)``): the items that really carry the signal.
        categories: ``(n,)`` labels (e.g. :func:`~hepxai.explain.judging.confusion_categories`).
        target: the output the scores refer to (a name or index of the attributions' targets).
        targets: what explainers explain (default ``[target]``; the muon study explains both
            pT and |eta| and judges pT).
        modality: default: the first explainer's, else inferred from ``inputs``.
        model: the model the deletion curves query (default: the first explainer's).
        ids: one id per example (default ``0..n-1``): seeds and the matching of attributions.
        fractions: deletion at these fractions of each example's items; ``None``: every step
            for binary images, :data:`~hepxai.explain.judging.deletion.FRACTIONS` otherwise.
        k: top-k of the agreement (default: each example's number of truth items).
        perturb: ``perturb(inputs, ids) -> inputs`` for the stability score (explainers only;
            the perturbation must keep every real item real, e.g. add noise hits).
        classifier: the output is a binary classifier's logit: deletion curves follow the
            probability of the class predicted on the whole input, and signed maps are ordered
            by their support of that class.
        truth_name: names the share score (``muon_share``, ``signal_share``).
        baseline: what a removed item becomes for dense inputs (default 0).
        category_order: the categories of the summary, in order.
        seed: of the random deletion order and of the bootstrap.
        replicas: name -> further runs of a stochastic method of ``methods`` with other seeds
            (explainers or their attributions, of the same examples): each is scored like the
            method (stability only on the first run) and paired with every other method, so
            the method's means average over its seeds and its intervals resample them
            (:attr:`JudgingResult.seed_scores`); the deletion curves and attributions are the
            first run's.

    Example (an untrained model: the numbers say nothing, the shapes do)::

        >>> import torch
        >>> from hepxai.explain import IntegratedGradients, Saliency
        >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 1))
        >>> x = (torch.rand(6, 1, 3, 4) > 0.5).float()
        >>> result = judge({"saliency": Saliency(net), "ig": IntegratedGradients(net)}, x,
        ...                truth=x[:, 0].numpy() > 0, categories=np.array(["TP"] * 6))
        >>> summary = result.summary()
        >>> sorted(summary["scores"]), summary["seeds_per_method"]["ig"]
        (['ig', 'saliency'], 1)
    """
    if not methods:
        raise HepxaiError("no explanation methods given; name at least one")
    replicas = {name: list(runs) for name, runs in (replicas or {}).items() if runs}
    unknown = sorted(set(replicas) - set(methods))
    if unknown:
        raise HepxaiError(f"replicas of {', '.join(unknown)}, which is not among the judged "
                          f"methods ({', '.join(methods)}); name it in methods too")
    explainers = {n: m for n, m in methods.items() if isinstance(m, Explainer)}
    first = next(iter(explainers.values()), None)
    modality = modality or (first.modality if first is not None else None) or \
        modality_of(inputs)
    batch = modality.prepare(inputs)
    if batch.n == 0:
        raise HepxaiError("no examples to judge; the selection is empty")
    ids = np.arange(batch.n) if ids is None else np.asarray(ids, np.int64)
    if ids.shape != (batch.n,) or len(np.unique(ids)) != batch.n:
        raise HepxaiError(f"give one distinct id per judged example ({batch.n})")
    runner = model if model is not None else (first.runner if first is not None else None)
    if runner is None:
        raise HepxaiError("judging precomputed attributions needs the model: pass model=")
    column = _column(target, first, runner)
    layout = Layout(ids, batch.offsets)
    real_items = modality.item_mask(batch)
    real = layout.row_mask(real_items)
    truth_rows = layout.row_mask(np.asarray(truth)) & real
    if truth_rows.shape != real.shape:
        raise HepxaiError(f"the truth mask {np.shape(truth)} does not match the items of the "
                          f"examples {np.shape(real_items)}")
    result = JudgingResult(categories=np.asarray(categories, dtype=object),
                           category_order=tuple(category_order), k=k)
    if len(result.categories) != batch.n:
        raise HepxaiError(f"{len(result.categories)} categories for {batch.n} examples")

    def forward(part: Batch) -> torch.Tensor:
        return modality.forward(runner, part)[:, column]

    with torch.no_grad():
        full = forward(batch).double().numpy()
    predicted = full > 0
    every_step = fractions is None and getattr(modality, "binary", False) and \
        batch.x.ndim == 4 and batch.x.shape[1] == 1
    fractions = None if every_step else tuple(fractions or FRACTIONS)
    result.fractions = fractions

    def curves_of(scores: np.ndarray, where: np.ndarray):
        """Deletion curves of the examples ``where`` in decreasing ``scores`` (item layout)."""
        if every_step:
            def images_forward(x: torch.Tensor) -> torch.Tensor:
                return runner(x).reshape(len(x), -1)[:, [column]]

            images = batch.x[torch.as_tensor(where)].numpy()
            chosen = scores[where] if not layout.ragged else scores
            return path_deletion_curves(images_forward, images, chosen)
        part = modality.take(batch, where)
        part_scores = scores[where] if not layout.ragged else \
            scores[ragged.take(batch.offsets, where)[0]]
        part_real = real_items[where] if not layout.ragged else \
            real_items[ragged.take(batch.offsets, where)[0]]
        out = deletion_outputs(forward, modality, part, part_scores, part_real, fractions,
                               baseline)
        if classifier:  # the probability of the class predicted on the whole example
            p = 1.0 / (1.0 + np.exp(-out))
            out = np.where(predicted[where][:, None], p, 1.0 - p)
        return out

    random_scores = _random_scores(layout, real_items, ids, seed + 17)
    everyone = np.arange(batch.n)
    random_curves = curves_of(random_scores, everyone)
    perturbed = perturb(inputs, ids) if perturb is not None and explainers else None
    explained_targets = list(targets or [target])

    def attribution_of(method: Explainer | Attribution) -> Attribution:
        return method if isinstance(method, Attribution) else \
            method.attribute(inputs, target=explained_targets, ids=ids)

    def scored(attribution: Attribution) -> tuple[dict[str, np.ndarray], Any, np.ndarray]:
        """Localization, deletion gap and completeness of one run; its deletion curves and
        its examples' positions."""
        where = layout.where(attribution)
        t = attribution.target_index(target)
        items, explained = layout.place(attribution, t)
        rows = layout.rows(items)
        scores = localization(rows, real & explained[:, None], truth_rows, truth_name)
        order = items
        if classifier and (attribution.for_target(t) < 0).any():
            order = items * layout.per_item(np.where(predicted, 1.0, -1.0), real_items.ndim)
        curves = curves_of(order, where)
        random_part = [random_curves[i] for i in where] if every_step else random_curves[where]
        scores["deletion_gap"] = _spread(deletion_gap(curves, random_part), where, batch.n)
        scores["completeness_error"] = _spread(relative_completeness(attribution)[:, t], where,
                                               batch.n)
        return scores, curves, where

    attributions = {}
    runs: dict[str, list[Attribution]] = {}
    for name, method in progress(methods.items(), desc="judging methods", unit="method"):
        attributions[name] = attribution_of(method)
        runs[name] = [attributions[name]] + [
            attribution_of(replica) for replica in progress(
                replicas.get(name, []), desc=f"{name}: other seeds", unit="seed", leave=False)]
    for name, attribution in attributions.items():
        scores, curves, where = scored(attribution)
        t = attribution.target_index(target)
        if perturbed is not None and name in explainers:
            items, explained = layout.place(attribution, t)
            again = explainers[name].attribute(perturbed, target=explained_targets, ids=ids)
            again_rows = layout.rows(layout.place(again, t)[0])
            scores["stability"] = masked_spearman(np.abs(layout.rows(items)),
                                                  np.abs(again_rows), real & explained[:, None])
        result.scores[name] = scores
        result.curves[name] = _mean_curves(curves, result.categories[where],
                                           result.category_order, every_step)
        result.attributions[name] = attribution
        if len(runs[name]) > 1:
            # every seed on the same examples, or the seed average mixes other example sets
            first = np.sort(layout.where(attribution))
            if any(not np.array_equal(np.sort(layout.where(run)), first)
                   for run in runs[name][1:]):
                raise HepxaiError(f"replicas of {name} explain other examples than its first "
                                  "run; give every seed the same examples (ids)")
            others = [scored(run)[0] for run in runs[name][1:]]
            result.seed_scores[name] = {
                score: np.stack([values] + [o.get(score, np.full(batch.n, np.nan))
                                            for o in others])
                for score, values in scores.items()}
    result.curves["random"] = _mean_curves(random_curves, result.categories,
                                           result.category_order, every_step)
    k_rows = np.full(batch.n, k) if k is not None else np.maximum(truth_rows.sum(1), 1)
    for a, b in itertools.combinations(attributions, 2):
        # seed s of one method with seed s of the other, as many pairs as the fewer seeds
        # (no run in two pairs, which the seed bootstrap would take as independent); an
        # unseeded method's one run pairs with every seed of the other
        n_a, n_b = len(runs[a]), len(runs[b])
        n_pairs = max(n_a, n_b) if min(n_a, n_b) == 1 else min(n_a, n_b)
        per_seed = [pair_agreement(runs[a][min(s, n_a - 1)], runs[b][min(s, n_b - 1)],
                                   ids=ids, real=real_items, offsets=batch.offsets, k=k_rows,
                                   target=target)
                    for s in range(n_pairs)]
        result.pairs[(a, b)] = per_seed[0]
        if len(per_seed) > 1:
            result.seed_pairs[(a, b)] = {kind: np.stack([p[kind] for p in per_seed])
                                         for kind in per_seed[0]}
    return result


def _column(target: int | str, first: Explainer | None, model: Any) -> int:
    """The model output column of ``target``."""
    if isinstance(target, int | np.integer):
        return int(target)
    names = (first.output_names if first is not None else None) or getattr(model, "outputs",
                                                                           None)
    if names is not None and target in tuple(names):
        return tuple(names).index(target)
    if str(target).isdigit():
        return int(target)
    raise HepxaiError(f"cannot tell which output {target!r} is; the model names "
                      f"{', '.join(names) if names else 'no outputs'}")


def _random_scores(layout: Layout, real_items: np.ndarray, ids: np.ndarray, seed: int
                   ) -> np.ndarray:
    """A random order of every example's items, seeded per example (batch-independent)."""
    seeds = event_seeds(seed, ids)
    if layout.ragged:
        counts = np.diff(layout.offsets)
        return np.concatenate([np.random.default_rng(int(s)).random(int(c))
                               for s, c in zip(seeds, counts, strict=True)])
    size = int(np.prod(real_items.shape[1:]))
    return np.stack([np.random.default_rng(int(s)).random(size)
                     for s in seeds]).reshape(real_items.shape)


def _spread(values: np.ndarray, where: np.ndarray, size: int) -> np.ndarray:
    full = np.full(size, np.nan)
    full[where] = values
    return full


def _mean_curves(curves, categories: np.ndarray, order: Sequence[str],
                 every_step: bool) -> dict[str, list[float]]:
    """Mean change of the curve from its start, for ``all`` and every category present."""
    out = {}
    for category in ("all", *order):
        rows = np.ones(len(categories), bool) if category == "all" else categories == category
        if not rows.any():
            continue
        if every_step:
            out[category] = mean_curve([curves[i] for i in np.flatnonzero(rows)]).tolist()
        else:
            relative = curves[rows] - curves[rows][:, :1]
            out[category] = np.nanmean(relative, 0).tolist()
    return out
