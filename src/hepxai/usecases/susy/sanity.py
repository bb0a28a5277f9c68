"""``hepxai sanity susy``: are the SUSY explanations about the model at all?

A seeded selection of test events, balanced over the classes and preselected in the model's
reconstruction, is explained for the signal-class margin:

* the MLP's IG and GradientSHAP on the trained network and on copies with its linear layers
  re-initialised, cascading from the output layer down and one at a time
  (:func:`~hepxai.explain.judging.sanity.parameter_randomization`); GradientSHAP, which
  samples, is also run with several seeds (:func:`~hepxai.explain.judging.sanity.seed_stability`);
* given a model of the same kind, preset and sample trained on shuffled labels
  (``hepxai train susy --shuffle-labels``), every method on that model
  (:func:`~hepxai.explain.judging.sanity.label_randomization`). The BDT has no layers to
  re-initialise: label randomization is its only check, so it needs the shuffled run.

IG starts from the mean of the first training events and GradientSHAP samples them, as in
``hepxai explain susy``; the trained and every randomized model share that reference. See
:mod:`hepxai.explain.judging.sanity` for the similarity (Spearman of ``|attribution|`` over the
16 variables, per event), the threshold and the verdicts.

Output (``OUT``): ``sanity.json`` (written last: the mark of a finished study) and
``sanity.png``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hepxai.core.atomic import output_directory, write_json_atomic
from hepxai.core.errors import HepxaiError
from hepxai.explain.judging.sanity import (
    ORDERS,
    THRESHOLD,
    format_sanity,
    sanity_checks,
    seed_stability,
)
from hepxai.usecases.susy.evaluation import SIGNAL, check_compatible
from hepxai.usecases.susy.models import SusyModel, load_model
from hepxai.usecases.susy.store import SusyFile, SusyTable, split_path
from hepxai.usecases.susy.study import METHODS_BY_KIND, explained, method_builder

#: the methods that sample (the draws their map averages: their ``n_samples``)
STOCHASTIC = ("gradient-shap",)
#: the first training events of the model's sample: IG's mean event, GradientSHAP's sample
REFERENCE_EVENTS = 20_000
#: the seed of the layers' re-initialisation (the generic checks' default)
REINIT_SEED = 42
#: the random stream of the event selection (with the study's seed)
EVENTS_STREAM = 4_219


def select_events(test: SusyFile, sample: str, n: int, seed: int) -> SusyTable:
    """``n`` test events preselected in ``sample``, as equal a number of each class as there
    are (a class with too few gives all it has, the others fill up), drawn with
    ``np.random.default_rng([seed, EVENTS_STREAM])``; in file order."""
    if n < 1:
        raise HepxaiError(f"--events {n}: explain at least one event")
    rows = test.table(sample).rows  # one line when the sample is missing or has no event
    rng = np.random.default_rng([seed, EVENTS_STREAM])
    labels = test.label[rows]
    classes = np.unique(labels)
    quota = np.full(len(classes), n // len(classes))
    quota[:n % len(classes)] += 1
    chosen = [rng.choice(rows[labels == k], min(q, int((labels == k).sum())), replace=False)
              for k, q in zip(classes, quota, strict=True)]
    picked = np.concatenate(chosen)
    missing = min(n, len(rows)) - len(picked)
    if missing > 0:
        rest = np.setdiff1d(rows, picked)
        picked = np.concatenate([picked, rng.choice(rest, missing, replace=False)])
    return test.table(sample, rows=np.sort(picked))


def parse_methods(methods: str | Sequence[str] | None, kind: str) -> list[str]:
    """The methods of a ``kind`` (``bdt``, ``mlp``) model to check: ``methods`` (a comma list
    or names) or all of them."""
    offered = METHODS_BY_KIND[kind]
    if methods is None:
        return list(offered)
    names = [m.strip() for m in (methods.split(",") if isinstance(methods, str) else methods)
             if m.strip()]
    if not names:
        raise HepxaiError(f"--methods names no method; choose from {', '.join(offered)}")
    for name in names:
        if name not in offered:
            raise HepxaiError(f"--methods: {name!r} is not a method of the {kind.upper()}; "
                              f"choose from {', '.join(offered)}")
    return list(dict.fromkeys(names))


def check_shuffled(model: SusyModel, shuffled: SusyModel, where: str = "the shuffled model"
                   ) -> None:
    """A one-line :class:`HepxaiError` unless ``shuffled`` is ``model``'s kind, preset and
    sample trained with ``--shuffle-labels``."""
    if not shuffled.meta.get("shuffled_labels"):
        raise HepxaiError(f"{where}: not trained on shuffled labels; train it with 'hepxai "
                          f"train susy --model {model.kind} --sample {model.sample} --preset "
                          f"{model.meta.get('preset')} --shuffle-labels'")
    mine = (model.kind, model.meta.get("preset"), model.sample)
    theirs = (shuffled.kind, shuffled.meta.get("preset"), shuffled.sample)
    if mine != theirs:
        raise HepxaiError(f"{where} is a {theirs[0]} ({theirs[1]}, {theirs[2]} sample), the "
                          f"explained one a {mine[0]} ({mine[1]}, {mine[2]} sample); train the "
                          "same model with --shuffle-labels")
    if (shuffled.feature_names, shuffled.class_names) != (model.feature_names,
                                                          model.class_names):
        raise HepxaiError(f"{where} reads other variables or classes than the explained "
                          "model; train both on the same data")


def sanity_study(model: SusyModel, data_dir: str | os.PathLike[str],
                 out: str | os.PathLike[str], methods: str | Sequence[str] | None = None, *,
                 shuffled: SusyModel | None = None, events: int = 500, seed: int = 1,
                 orders: Sequence[str] | None = None, n_seeds: int = 4,
                 n_jobs: int | None = None, echo: Callable[[str], object] = print
                 ) -> dict[str, Any]:
    """Run the sanity checks of ``model`` on ``events`` test events of ``data_dir`` and write
    them to ``out``; returns the summary (:func:`~hepxai.explain.judging.sanity.sanity_checks`'
    layout).

    ``shuffled``: the same model trained on shuffled labels (data randomization; required for
    a BDT); ``orders``: the layer randomizations of the MLP (default both; none for a BDT);
    ``n_seeds``: seeds of GradientSHAP's seed-stability study (below 2: none); ``seed``: of
    the events and of GradientSHAP."""
    if shuffled is not None:
        check_shuffled(model, shuffled)
    chosen = parse_methods(methods, model.kind)
    if orders is None:
        orders = ORDERS if model.kind == "mlp" else ()
    orders = list(orders)
    unknown = [o for o in orders if o not in ORDERS]
    if unknown:
        raise HepxaiError(f"unknown randomization order {unknown[0]!r}; choose "
                          f"{' or '.join(ORDERS)}")
    if model.kind == "bdt" and orders:
        raise HepxaiError("a BDT has no layers to randomize; its check is label randomization "
                          "(--shuffled RUN), leave out --orders")
    if not orders and shuffled is None:
        raise HepxaiError(f"nothing to check: {'a BDT' if model.kind == 'bdt' else 'no order'}"
                          f" without a shuffled-label model; pass --shuffled RUN (made by "
                          f"'hepxai train susy --model {model.kind} --shuffle-labels')")
    out = output_directory(out)
    test = SusyFile(split_path(data_dir, "test"))
    check_compatible(model, test)
    table = select_events(test, model.sample, events, seed)
    x, ids = table.x, table.event_id
    reference = None
    if model.kind == "mlp":
        train = SusyFile(split_path(data_dir, "train"))
        check_compatible(model, train)
        reference = train.table(model.sample, max_events=REFERENCE_EVENTS).x
    echo(f"sanity checks of the {model.label} on {len(x):,} test events"
         + (" with the shuffled-label model" if shuffled is not None else ""))
    twin = None if shuffled is None else explained(shuffled)
    summary: dict[str, Any] = {}
    for name in chosen:  # one call per method: each explains from its own baselines
        build, baselines = method_builder(model, name, reference=reference, n_jobs=n_jobs,
                                          seed=seed)
        one, _ = sanity_checks({name: build}, explained(model), x, target=SIGNAL,
                               shuffled_model=twin, orders=orders, seed=REINIT_SEED, ids=ids,
                               baselines=baselines,
                               on_method=lambda label: echo(f"randomizing for {label}"))
        methods = {**summary.get("methods", {}), **one["methods"]}
        summary = {**one, "methods": methods}
    stability = {}
    if n_seeds >= 2:
        for name in chosen:
            if name not in STOCHASTIC:
                continue
            echo(f"seed stability of {name} ({n_seeds} seeds)")
            build, baselines = method_builder(model, name, reference=reference)
            samples = int(build(explained(model)).params["n_samples"])
            stability[name] = seed_stability(
                lambda s, name=name: method_builder(model, name, reference=reference,
                                                    n_jobs=n_jobs, seed=s)[0](explained(model)),
                x, seeds=range(seed, seed + n_seeds), target=SIGNAL, ids=ids,
                baselines=baselines, samples=samples, method=name)
    # how much each model learned, on the checked events themselves (balanced classes)
    chance = float(np.bincount(table.y).max() / len(table.y))
    quality = {"metric": f"accuracy on these events ({chance:.2f}: always the largest class)",
               "lower_is_better": False, "trained": _accuracy(model, x, table.y),
               "shuffled": None if shuffled is None else _accuracy(shuffled, x, table.y)}
    summary.update({
        "quality": quality,
        "model": model.label, "kind": model.kind, "preset": model.meta.get("preset"),
        "sample": model.sample, "selection_seed": seed,
        "classes": {c: int((table.y == k).sum()) for k, c in enumerate(table.class_names)},
        "reference_events": None if reference is None else len(reference),
        "shuffled": shuffled is not None, "seed_stability": stability})
    from hepxai.viz.explain import plot_sanity

    plot_sanity(summary, out / "sanity.png")
    write_json_atomic(out / "sanity.json", summary)  # last: the mark of a finished study
    return summary


def _accuracy(model: SusyModel, x: np.ndarray, y: np.ndarray) -> float:
    """The share of events whose most probable class is their own."""
    return float((np.argmax(model.predict_proba(x), 1) == np.asarray(y)).mean())


def sanity_run(run: str | os.PathLike[str], data_dir: str | os.PathLike[str],
               out: str | os.PathLike[str], methods: str | None = None, *,
               shuffled: str | os.PathLike[str] | None = None,
               echo: Callable[[str], object] = print, **settings: Any) -> dict[str, Any]:
    """``hepxai sanity susy``: :func:`sanity_study` of the model of the run directory ``run``
    (and the shuffled-label model of the run ``shuffled``), its table echoed."""
    model = load_model(run)
    other = None
    if shuffled is not None:
        other = load_model(shuffled)
        check_shuffled(model, other, str(shuffled))
    summary = sanity_study(model, data_dir, out, methods, shuffled=other, echo=echo,
                           **settings)
    echo(format_sanity(summary))
    return summary


__all__ = ["THRESHOLD", "check_shuffled", "format_sanity", "sanity_run", "sanity_study",
           "select_events"]
