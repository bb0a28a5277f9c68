"""Are the explanations about the model at all? The sanity checks of Adebayo et al. (2018,
"Sanity checks for saliency maps") and the seed stability of stochastic methods, for any
explainer on any modality.

* :func:`parameter_randomization`: the model's layers are re-initialised, cascading from the
  output layer down (each step randomizes one more layer) or independently (one layer at a
  time, the others trained); every map is compared with the trained model's map of the same
  example. A method whose maps barely change explains the input, not the model.
* :func:`label_randomization`: the same comparison with a model trained on shuffled labels
  (the use case trains it: ``hepxai train ... --shuffle-labels``).
* :func:`seed_stability`: a stochastic method (GNNExplainer, Shapley sampling, SmoothGrad) run
  with several seeds; the agreement between seeds, and how many seeds (or samples) an average
  needs to reach a stated agreement.

Similarity is the Spearman correlation of ``|map|`` on each example's *real* items (lit
pixels, nodes, features), as the judging's agreement: on a binary hit map the unlit pixels get
exactly zero from every model under IG's zero baseline, and counting those shared zeros would
make any two maps look alike. ``spearman_all`` ranks every item, as Quantus' MPRT does (its
oracle test); ``ssim`` is the structural similarity of the max-normalised ``|map|`` images
(scikit-image), for images.

A method **passes** a check when the upper end of the 95 % bootstrap interval of its mean
Spearman similarity after full randomization lies below :data:`THRESHOLD`, **fails** when the
lower end lies at or above it, and is **undecided** otherwise (more examples would decide).

Layers are what Quantus randomizes: the modules that define ``reset_parameters`` (convolutions,
linear layers, normalisations; the outermost such module when they nest, e.g. a PyG ``GATv2Conv``
with its linear maps), re-initialised by their own ``reset_parameters`` from a seeded generator;
"top" is the last one defined.

>>> import torch
>>> from hepxai.explain import Saliency
>>> model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
>>> result = parameter_randomization(Saliency, model, torch.randn(30, 6), target=0)
>>> result.steps
['2', '0']
>>> result.similarity["spearman"].shape
(2, 30)
"""

from __future__ import annotations

import copy
import itertools
import math
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from hepxai.core.errors import HepxaiError
from hepxai.explain.base import Explainer
from hepxai.explain.judging.ranks import masked_spearman
from hepxai.explain.judging.uncertainty import interval_or_none, verdict
from hepxai.explain.modality import modality_of
from hepxai.explain.types import Attribution

#: a map whose mean Spearman similarity to the trained model's map is below 0.2 shares under
#: 4 % of its rank variance (r^2 < 0.04) with it: what is left is fixed by the input alone
#: (which items are real), not by what the model learned. Independent rankings of the ~90 lit
#: pixels of a muon event scatter by 1/sqrt(89) ~ 0.1 around 0, so one event cannot decide;
#: the mean over the examples with its bootstrap interval does.
THRESHOLD = 0.2
#: the agreement two runs of a stochastic method with different seeds should reach
REQUIRED_AGREEMENT = 0.9
ORDERS = ("cascading", "independent")
#: the random stream of the label permutation of a data-randomization twin, drawn with the
#: training seed (``default_rng([seed, SHUFFLE_STREAM])``), apart from every other draw of it
SHUFFLE_STREAM = 9_973
KINDS = ("spearman", "spearman_all", "ssim")

Build = Callable[[nn.Module], Explainer]


def label_permutation(n: int, seed: int) -> np.ndarray:
    """The order ``(n,)`` that permutes the training labels of a data-randomization twin
    (``hepxai train USE-CASE --shuffle-labels``): example ``i`` gets the label of example
    ``order[i]``.

    >>> label_permutation(5, 1).tolist() == label_permutation(5, 1).tolist()  # seeded
    True
    """
    return np.random.default_rng([int(seed), SHUFFLE_STREAM]).permutation(int(n))


def parse_orders(text: str) -> list[str]:
    """``"cascading,independent"`` -> the layer randomization orders, one line naming the
    choices for anything else.

    >>> parse_orders("independent, cascading")
    ['independent', 'cascading']
    """
    orders = list(dict.fromkeys(o.strip() for o in text.split(",") if o.strip()))
    unknown = [o for o in orders if o not in ORDERS]
    if unknown or not orders:
        raise HepxaiError(f"--orders {text!r}: choose from {', '.join(ORDERS)}")
    return orders


# -- randomizing a model ----------------------------------------------------------------------
def randomizable_layers(model: nn.Module) -> list[str]:
    """Names of the layers a randomization re-initialises, in definition order: the outermost
    modules with their own ``reset_parameters``."""
    names: list[str] = []
    for name, module in model.named_modules():
        if name and callable(getattr(module, "reset_parameters", None)) and not any(
                name.startswith(parent + ".") for parent in names):
            names.append(name)
    return names


def randomized_models(model: nn.Module, order: str = "cascading", seed: int = 42
                      ) -> Iterator[tuple[str, nn.Module]]:
    """Yield ``(layer, model)`` with that layer re-initialised: ``cascading`` from the top
    down, each step keeping the layers randomized before (one copy, changed in place);
    ``independent`` only that layer, the others as trained. Each reset draws from a generator
    seeded with ``seed`` (the global torch generator is left as it was), so a layer gets the
    same weights in both orders and in Quantus' ``MPRT(seed=seed - 1)``."""
    if order not in ORDERS:
        raise HepxaiError(f"unknown randomization order {order!r}; choose "
                          f"{' or '.join(ORDERS)}")
    layers = randomizable_layers(model)
    if not layers:
        raise HepxaiError(f"{type(model).__name__} has no layer with parameters to randomize")
    original = copy.deepcopy(model.state_dict())
    randomized = copy.deepcopy(model)
    modules = dict(randomized.named_modules())
    for name in (layers[::-1] if order == "cascading" else layers):
        if order == "independent":
            randomized.load_state_dict(original)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            modules[name].reset_parameters()
        yield name, randomized


# -- similarity of maps -----------------------------------------------------------------------
@dataclass
class Maps:
    """The item relevance of one target of some attributions, in one row layout: ``rows``
    ``(n, m)`` (dense maps flattened, graphs padded), the real items ``real`` ``(n, m)``, and
    the dense item shape for images (``None`` for ragged items)."""

    real: np.ndarray
    image_shape: tuple[int, ...] | None
    offsets: np.ndarray | None = None

    def rows(self, attribution: Attribution, target: int | str) -> np.ndarray:
        from hepxai.core import ragged

        items = np.asarray(attribution.items(attribution.target_index(target)), np.float64)
        if self.offsets is not None:
            return ragged.pad(items, self.offsets)[0]
        return items.reshape(len(items), -1)


def similarity(a: np.ndarray, b: np.ndarray, real: np.ndarray, kind: str = "spearman",
               image_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Per-example similarity ``(n,)`` of two maps given as rows ``(n, m)``.

    ``spearman``: of ``|a|`` and ``|b|`` on the ``real`` items; ``spearman_all``: on every
    item; ``ssim``: structural similarity of ``|a|`` and ``|b|`` reshaped to ``image_shape``
    (2-d items), each divided by its maximum (scikit-image, 7 x 7 windows, data range 1). NaN
    where a map is constant (e.g. all zero)."""
    a, b = np.abs(np.asarray(a, np.float64)), np.abs(np.asarray(b, np.float64))
    if kind == "spearman":
        return masked_spearman(a, b, np.asarray(real, bool))
    if kind == "spearman_all":
        return masked_spearman(a, b, np.ones(a.shape, bool))
    if kind == "ssim":
        return _ssim(a, b, image_shape)
    raise HepxaiError(f"unknown similarity {kind!r}; choose {', '.join(KINDS)}")


def _ssim(a: np.ndarray, b: np.ndarray, image_shape: tuple[int, ...] | None) -> np.ndarray:
    from skimage.metrics import structural_similarity

    if image_shape is None or len(image_shape) != 2 or min(image_shape) < 7:
        raise HepxaiError("SSIM compares 2-d images of at least 7 x 7 items; use spearman "
                          "for tables and graphs")
    with np.errstate(invalid="ignore", divide="ignore"):
        na = a / a.max(1, keepdims=True)
        nb = b / b.max(1, keepdims=True)
    constant = ~(np.isfinite(na).all(1) & np.isfinite(nb).all(1))
    na, nb = np.nan_to_num(na), np.nan_to_num(nb)
    # the examples as channels: one vectorised call; per-example means over the same central
    # region skimage averages (the border of half a window cut off)
    _, full = structural_similarity(na.reshape(-1, *image_shape), nb.reshape(-1, *image_shape),
                                    data_range=1.0, channel_axis=0, full=True)
    pad = (7 - 1) // 2
    values = full[:, pad:-pad, pad:-pad].mean((1, 2))
    return np.where(constant, np.nan, values)


# -- the checks -------------------------------------------------------------------------------
@dataclass
class RandomizationResult:
    """Similarities ``similarity[kind]`` ``(n_steps, n)`` of every example's map after each
    step of a randomization (``steps``: the layer randomized at that step, or ``"shuffled
    labels"``) to its map on the trained model."""

    method: str
    order: str
    steps: list[str]
    similarity: dict[str, np.ndarray] = field(default_factory=dict)
    #: layers whose re-initialisation left their parameters as trained (e.g. a BatchNorm
    #: still at its initial values): their step randomized nothing
    unchanged: list[str] = field(default_factory=list)

    def summary(self, threshold: float = THRESHOLD, seed: int = 0) -> dict[str, Any]:
        """Mean and 95 % bootstrap interval per step and kind; for cascading and label
        randomization the verdict on the last step (every layer randomized, or the
        shuffled-label model); for independent randomization the layers whose randomization
        leaves the maps unchanged (similarity at or above the threshold with the whole
        interval): the layers the method is blind to."""
        per_kind = {}
        for kind, values in self.similarity.items():
            per_kind[kind] = {
                "mean": [_nanmean(v) for v in values],
                "interval": [interval_or_none(v, seed=seed) for v in values],
                "constant_maps": [int((~np.isfinite(v)).sum()) for v in values]}
        spearman = per_kind.get("spearman", {}).get("interval", [None] * len(self.steps))
        out = {"method": self.method, "order": self.order, "steps": self.steps,
               "n_examples": int(next(iter(self.similarity.values())).shape[1]),
               "similarity": per_kind, "threshold": threshold, "unchanged": self.unchanged}
        if self.order == "independent":
            out["insensitive_layers"] = [step for step, bound in zip(self.steps, spearman,
                                                                     strict=True)
                                         if verdict(bound, threshold) == "fail"]
            out["verdict"] = f"blind to {len(out['insensitive_layers'])} of {len(self.steps)}"
        else:
            out["verdict"] = verdict(spearman[-1], threshold)
        return out


def _nanmean(values: np.ndarray) -> float | None:
    finite = np.asarray(values, np.float64)
    finite = finite[np.isfinite(finite)]
    return float(finite.mean()) if finite.size else None


def _maps_of(explainer: Explainer, inputs: Any) -> Maps:
    modality = explainer.modality or modality_of(inputs)
    batch = modality.prepare(inputs)
    real = modality.item_mask(batch)
    if batch.offsets is not None:
        from hepxai.core import ragged

        return Maps(ragged.pad(real.astype(np.float64), batch.offsets)[0] > 0.5, None,
                    batch.offsets)
    return Maps(real.reshape(batch.n, -1), tuple(real.shape[1:]))


def _kinds(kinds: Sequence[str] | None, maps: Maps) -> tuple[str, ...]:
    if kinds is None:
        image = maps.image_shape is not None and len(maps.image_shape) == 2 and \
            min(maps.image_shape) >= 7
        return ("spearman", "spearman_all", "ssim") if image else ("spearman", "spearman_all")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise HepxaiError(f"unknown similarity {unknown[0]!r}; choose {', '.join(KINDS)}")
    return tuple(kinds)


def _compare(build: Build, models: Iterator[tuple[str, nn.Module]], model: nn.Module,
             inputs: Any, target: int | str, targets: Sequence[int | str] | None,
             ids: Sequence[int] | None, kinds: Sequence[str] | None, order: str,
             method: str | None, baselines: Any) -> RandomizationResult:
    reference = build(model)
    explain = dict(target=list(targets) if targets else target, ids=ids, baselines=baselines)
    original = reference.attribute(inputs, **explain)
    maps = _maps_of(reference, inputs)
    chosen = _kinds(kinds, maps)
    base = maps.rows(original, target)
    steps, unchanged, values = [], [], {k: [] for k in chosen}
    from hepxai.core.progress import progress

    total = len(randomizable_layers(model)) if order in ORDERS else 1
    for name, changed in progress(models, desc=f"{method or reference.name}: {order}",
                                  total=total, unit="model"):
        if order in ORDERS and _same_parameters(model.get_submodule(name),
                                                changed.get_submodule(name)):
            unchanged.append(name)
        other = maps.rows(build(changed).attribute(inputs, **explain), target)
        steps.append(name)
        for kind in chosen:
            values[kind].append(similarity(base, other, maps.real, kind, maps.image_shape))
    return RandomizationResult(method or reference.name, order, steps,
                               {k: np.stack(v) for k, v in values.items()}, unchanged)


def _same_parameters(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return all(torch.equal(sa[k], sb[k]) for k in sa)


def parameter_randomization(build: Build, model: nn.Module, inputs: Any, *,
                            target: int | str = 0, targets: Sequence[int | str] | None = None,
                            order: str = "cascading", seed: int = 42,
                            ids: Sequence[int] | None = None,
                            kinds: Sequence[str] | None = None, method: str | None = None,
                            baselines: Any = None) -> RandomizationResult:
    """Model-parameter randomization of the explainer ``build(model)`` (any explainer class
    or ``lambda m: Method(m, **settings)``).

    Args:
        build: makes the explainer on a model (called on the trained model and on every
            randomized copy).
        model: the trained model (left unchanged).
        inputs: the explained examples.
        target: the output compared; ``targets``: what the explainer explains (default
            ``[target]``).
        order: ``cascading`` (top layer first, the randomized layers accumulate) or
            ``independent``.
        seed: of the re-initialisation (see :func:`randomized_models`).
        ids: one id per example (the seeds of stochastic methods).
        kinds: similarities (default: spearman, spearman_all, and ssim for images).
        baselines: passed to every ``attribute`` call (a path method's reference input,
            GradientSHAP's reference sample): the same for the trained and randomized models.
    """
    return _compare(build, randomized_models(model, order, seed), model, inputs, target,
                    targets, ids, kinds, order, method, baselines)


def label_randomization(build: Build, model: nn.Module, shuffled_model: nn.Module, inputs: Any,
                        *, target: int | str = 0, targets: Sequence[int | str] | None = None,
                        ids: Sequence[int] | None = None, kinds: Sequence[str] | None = None,
                        method: str | None = None, baselines: Any = None
                        ) -> RandomizationResult:
    """Data randomization: the maps of ``shuffled_model`` (the same architecture trained on
    shuffled labels) compared with those of ``model``; one step, ``"shuffled labels"``. The
    models need not be torch modules (a BDT and its shuffled-label twin: ``build`` makes
    their explainers)."""
    return _compare(build, iter([("shuffled labels", shuffled_model)]), model, inputs, target,
                    targets, ids, kinds, "labels", method, baselines)


def spearman_brown(r: float, k: int) -> float:
    """The agreement of two averages of ``k`` runs each, from the agreement ``r`` of two
    single runs: ``k r / (1 + (k - 1) r)``.

    >>> round(spearman_brown(0.45, 12), 3)
    0.908
    """
    return k * r / (1 + (k - 1) * r)


def seed_stability(build: Callable[[int], Explainer], inputs: Any, *, seeds: Sequence[int],
                   target: int | str = 0, targets: Sequence[int | str] | None = None,
                   ids: Sequence[int] | None = None, required: float = REQUIRED_AGREEMENT,
                   samples: int | None = None, method: str | None = None,
                   seed: int = 0, baselines: Any = None) -> dict[str, Any]:
    """How far a stochastic method's maps depend on its seed.

    ``build(seed)`` makes the explainer with that seed. Returns (JSON-ready):

    * ``pairwise``: the mean over examples of the Spearman agreement (real items) of two
      single-seed maps, averaged over all pairs of seeds, with its bootstrap interval over
      the examples;
    * ``split_half``: for ``k = 1 .. len(seeds) // 2``, the agreement of the average map of
      ``k`` seeds with the average of ``k`` other seeds (measured), beside the Spearman-Brown
      prediction from ``pairwise`` (the formula assumes each seed adds independent noise to
      one map; where the measured agreement falls short of the prediction, so will the
      average of ``seeds_needed`` seeds: ``bench/seed_averaging.py`` measures how far);
    * ``seeds_needed``: the smallest ``k`` whose average map agrees with another such average
      at ``required``, by the Spearman-Brown formula ``r_k = k r / (1 + (k - 1) r)`` from the
      pairwise ``r`` (the split-half numbers check it); ``None`` when ``r <= 0``;
    * ``samples_needed``: ``seeds_needed * samples`` for a method whose map is already an
      average of ``samples`` draws (SmoothGrad's copies, Shapley's orders).
    """
    seeds = list(seeds)
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise HepxaiError(f"seed stability needs at least two distinct seeds, got {seeds}")
    explainers = [build(s) for s in seeds]
    explain = dict(target=list(targets) if targets else target, ids=ids, baselines=baselines)
    maps = _maps_of(explainers[0], inputs)
    rows = np.stack([maps.rows(e.attribute(inputs, **explain), target) for e in explainers])
    return agreement_of_runs(rows, maps.real, seeds, required=required, samples=samples,
                             method=method or explainers[0].name, seed=seed)


def best_epoch_metric(state: Mapping[str, Any], key: str) -> float | None:
    """A validation metric of a checkpoint (``read_checkpoint``'s dict): the ``key`` of its
    history's entry for the checkpoint's epoch; ``None`` when the history lacks it."""
    for entry in state.get("history") or []:
        if entry.get("epoch") == state.get("epoch") and entry.get(key) is not None:
            return float(entry[key])
    return None


def stability_of(sanity_json: str | os.PathLike[str], checkpoint: str | os.PathLike[str],
                 command: str) -> dict[str, Any]:
    """The ``seed_stability`` of a sanity study's ``sanity.json``, refused in one line unless
    the study checked ``checkpoint`` (the same file) and has a seed-stability study:
    ``command`` (e.g. ``'hepxai sanity muon'``) is what makes one."""
    from pathlib import Path

    from hepxai.core.atomic import read_json

    summary = read_json(sanity_json, f"'{command}'", ("seed_stability",))
    checked = summary.get("checkpoint")
    if checked is not None and Path(checked).resolve() != Path(checkpoint).resolve():
        raise HepxaiError(f"{sanity_json} checked {checked}, not {checkpoint}; run '{command} "
                          f"--checkpoint {checkpoint}' for this model")
    if not summary["seed_stability"]:
        raise HepxaiError(f"{sanity_json}: no seed-stability study (no stochastic method, or "
                          f"--seeds below 2); run '{command}' with --seeds 2 or more")
    return summary["seed_stability"]


def agreement_of_runs(rows: np.ndarray, real: np.ndarray, seeds: Sequence[int], *,
                      required: float = REQUIRED_AGREEMENT, samples: int | None = None,
                      method: str = "", seed: int = 0, absolute: bool = True
                      ) -> dict[str, Any]:
    """:func:`seed_stability`'s numbers from the runs themselves: ``rows`` ``(n_seeds, n, m)``
    the values of ``n`` examples' ``m`` items under each seed (``|.|`` ranked when
    ``absolute``: relevance maps; signed otherwise: influence scores, where an opponent is not
    a proponent), ``real`` ``(n, m)`` the items ranked.

    >>> rng = np.random.default_rng(0)
    >>> truth = rng.normal(size=(50, 30))
    >>> runs = truth + rng.normal(size=(4, 50, 30))   # four seeds: the truth plus noise
    >>> found = agreement_of_runs(runs, np.ones((50, 30), bool), [1, 2, 3, 4], absolute=False)
    >>> round(found["pairwise"], 1), found["seeds_needed"]
    (0.5, 11)
    """
    seeds = list(seeds)
    rows = np.asarray(rows, np.float64)
    ranked = np.abs if absolute else (lambda values: values)
    real = np.asarray(real, bool)
    pairs = list(itertools.combinations(range(len(seeds)), 2))
    per_pair = np.stack([masked_spearman(ranked(rows[i]), ranked(rows[j]), real)
                         for i, j in pairs])
    pairwise = _nanmean(per_pair)
    # each example's mean over the pairs, resampled over examples (the pairs share seeds, so
    # they are not independent draws to resample)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an example without a finite pair
        per_example = np.nanmean(per_pair, 0)
    split = []
    for k in range(1, len(seeds) // 2 + 1):
        # the signed maps averaged, then ranked: what averaging more draws of the method
        # (more copies, orders, restarts) gives
        first, second = ranked(rows[:k].mean(0)), ranked(rows[k:2 * k].mean(0))
        split.append({"seeds": k, "agreement": _nanmean(masked_spearman(first, second, real)),
                      "predicted": None if pairwise is None else spearman_brown(pairwise, k)})
    needed = None
    if pairwise is not None and 0 < pairwise < 1:
        needed = max(1, math.ceil(required * (1 - pairwise) / (pairwise * (1 - required))
                                  - 1e-9))
    elif pairwise is not None and pairwise >= 1:
        needed = 1
    return {"method": method, "seeds": seeds,
            "n_examples": int(rows.shape[1]), "pairwise": pairwise,
            "pairwise_interval": interval_or_none(per_example, seed=seed),
            "split_half": split, "required": required, "seeds_needed": needed,
            "samples": samples,
            "samples_needed": None if needed is None or samples is None else needed * samples}


def sanity_checks(methods: Mapping[str, Build], model: nn.Module, inputs: Any, *,
                  target: int | str = 0, targets: Sequence[int | str] | None = None,
                  shuffled_model: nn.Module | None = None, orders: Sequence[str] = ORDERS,
                  seed: int = 42, ids: Sequence[int] | None = None,
                  kinds: Sequence[str] | None = None, threshold: float = THRESHOLD,
                  baselines: Any = None, on_method: Callable[[str], object] | None = None
                  ) -> tuple[dict[str, Any], dict[str, list[RandomizationResult]]]:
    """Every randomization check of every method: the JSON-ready summary (per method, per
    order and, with ``shuffled_model``, the label randomization; each with its verdict) and
    the per-example results. With no ``orders`` the model need not be a torch module (label
    randomization of a BDT)."""
    if not methods:
        raise HepxaiError("no explanation methods given; name at least one")
    if not orders and shuffled_model is None:
        raise HepxaiError("nothing to check: no layer randomization order and no "
                          "shuffled-label model")
    results: dict[str, list[RandomizationResult]] = {}
    for label, build in methods.items():
        if on_method is not None:
            on_method(label)
        done = [parameter_randomization(build, model, inputs, target=target, targets=targets,
                                        order=order, seed=seed, ids=ids, kinds=kinds,
                                        method=label, baselines=baselines) for order in orders]
        if shuffled_model is not None:
            done.append(label_randomization(build, model, shuffled_model, inputs, target=target,
                                            targets=targets, ids=ids, kinds=kinds,
                                            method=label, baselines=baselines))
        results[label] = done
    first = next(iter(results.values()))[0]
    summary = {"threshold": threshold, "seed": seed, "target": str(target),
               "n_examples": int(next(iter(first.similarity.values())).shape[1]),
               "layers": randomizable_layers(model) if orders else [],
               "methods": {label: {r.order: r.summary(threshold) for r in done}
                           for label, done in results.items()}}
    return summary, results


def format_sanity(summary: dict[str, Any], what: str = "events", title: str | None = None
                  ) -> str:
    """Plain-text table of :func:`sanity_checks`' summary (with ``seed_stability`` when it has
    one): per method the similarity after the full cascade and to the shuffled-label model
    (mean [95 % interval], verdict), the number of layers it is blind to; then the seed
    stability of the stochastic methods. ``what`` names the examples in the title line;
    ``title`` replaces that line."""
    lines = [title or f"Sanity checks ({summary.get('model', 'model')}, target "
             f"{summary['target']}, {summary['n_examples']} {what}; pass: Spearman to the "
             f"trained model's map below {summary['threshold']} with the whole 95 % interval)"]
    header = f"{'method':<17}{'all layers randomized':>30}{'shuffled labels':>30}" \
             f"{'blind to layers':>17}"
    lines += ["", header, "-" * len(header)]
    for method, per in summary["methods"].items():
        cells = []
        for order in ("cascading", "labels"):
            result = per.get(order)
            if result is None:
                cells.append("-")
                continue
            spearman = result["similarity"]["spearman"]
            cells.append(f"{_interval(spearman['mean'][-1], spearman['interval'][-1])} "
                         f"{result['verdict']}")
        blind = per.get("independent", {}).get("insensitive_layers")
        lines.append(f"{method:<17}{cells[0]:>30}{cells[1]:>30}"
                     f"{'-' if blind is None else len(blind):>17}")
    if summary.get("seed_stability"):
        lines += ["", f"{'seed stability':<17}{'seeds':>6}{'agreement of two seeds':>30}"
                      f"{'mean of k vs k: measured (predicted)':>38}"
                      f"{'seeds for ' + str(_required(summary)):>14}{'samples':>9}"]
        for method, s in summary["seed_stability"].items():
            lines.append(f"{method:<17}{len(s['seeds']):>6}"
                         f"{_interval(s['pairwise'], s['pairwise_interval']):>30}"
                         f"{_split_half(s):>38}"
                         f"{_fmt_int(s['seeds_needed']):>14}{_fmt_int(s['samples_needed']):>9}")
        lines.append("(seeds for: the Spearman-Brown prediction, a lower bound where the measured "
                     "mean of k seeds falls short of its prediction)")
    return "\n".join(lines)


def _split_half(stability: dict[str, Any]) -> str:
    """``k = K: 0.55 (0.62)``: the largest measured split half beside its prediction."""
    split = [row for row in stability.get("split_half") or [] if row.get("agreement") is not None]
    if not split:
        return "-"
    row = split[-1]
    predicted = row.get("predicted")
    return f"k = {row['seeds']}: {row['agreement']:.2f}" + (
        f" ({predicted:.2f})" if predicted is not None else "")


def _required(summary: dict[str, Any]) -> float:
    first = next(iter(summary["seed_stability"].values()))
    return first["required"]


def _interval(mean: Any, bound: Any) -> str:
    if mean is None:
        return "-"
    return f"{mean:.2f}" if not bound else f"{mean:.2f} [{bound[0]:.2f}, {bound[1]:.2f}]"


def _fmt_int(value: Any) -> str:
    return "-" if value is None else str(value)
