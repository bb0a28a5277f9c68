"""``hepxai sanity muon``: are the muon explanations about the model at all?

The events of the explanation study (:func:`~hepxai.usecases.muon.study.select_events`, the
same seed gives the same events) are explained by every method on the trained model and on
copies with their layers randomized (cascading from the output down, and one at a time), and,
given a model trained on shuffled labels (``hepxai train muon --shuffle-labels``), on that
model; the stochastic methods (SmoothGrad, Shapley sampling) are run with several seeds. See
:mod:`hepxai.explain.judging.sanity` for the similarities, the threshold and the verdicts.

Output (``OUT``): ``sanity.json`` (written last: the mark of a finished study) and
``sanity.png``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hepxai.core.atomic import write_json_atomic
from hepxai.core.errors import HepxaiError
from hepxai.explain.judging.sanity import (
    ORDERS,
    THRESHOLD,
    format_sanity,
    sanity_checks,
    seed_stability,
)
from hepxai.usecases.muon.models.base import OUTPUTS, MuonRegressor
from hepxai.usecases.muon.study import (
    DEFAULT_METHODS,
    build_method,
    build_methods,
    parse_methods,
    sample_count,
    select_events,
    study_ids,
)


def sanity_study(model: MuonRegressor, data_dir: str | os.PathLike[str],
                 out: str | os.PathLike[str], methods: str | None = None, *,
                 shuffled: MuonRegressor | None = None, per_category: int = 4,
                 pool: int = 5000, seed: int = 1, orders: Sequence[str] = ORDERS,
                 n_seeds: int = 4, target: str = "pt", device: str = "cpu",
                 smoothgrad_copies: int | None = None, about: dict[str, Any] | None = None,
                 echo: Callable[[str], object] = print) -> dict[str, Any]:
    """Run the sanity checks of ``model`` on the study's events and write them to ``out``;
    returns the summary.

    ``shuffled``: the same architecture trained on shuffled labels (data randomization);
    ``n_seeds``: seeds of each stochastic method (0 or 1: no seed-stability study);
    ``about``: what else the summary records (the checkpoint)."""
    if target not in OUTPUTS:
        raise HepxaiError(f"unknown target {target!r}; choose {', '.join(OUTPUTS)}")
    if shuffled is not None and (shuffled.name, shuffled.preset) != (model.name, model.preset):
        raise HepxaiError(f"the shuffled-label model is a {shuffled.name} ({shuffled.preset}), "
                          f"the explained one a {model.name} ({model.preset}); train the same "
                          "model with --shuffle-labels")
    chosen = parse_methods(methods) if methods else dict(DEFAULT_METHODS)
    if smoothgrad_copies is not None:
        chosen = {label: (name, {**params, "n_samples": smoothgrad_copies}
                          if name == "smoothgrad" else params)
                  for label, (name, params) in chosen.items()}
    applicable = build_methods(model, chosen, seed)  # leaves out what the model cannot run
    chosen = {label: chosen[label] for label in applicable}
    out = Path(out)
    events = select_events(model, data_dir, per_category, pool, seed, device)
    ids = study_ids(events)

    def builder(name: str, params: dict[str, Any]):
        return lambda m: build_method(m, name, params, seed)

    summary, _ = sanity_checks({label: builder(name, params)
                                for label, (name, params) in chosen.items()},
                               model, events.images, target=target, targets=list(OUTPUTS),
                               shuffled_model=shuffled, orders=orders, ids=ids,
                               on_method=lambda label: echo(f"randomizing for {label}"))
    stability = {}
    if n_seeds >= 2:
        for label, (name, params) in chosen.items():
            samples = sample_count(name, params)
            if samples is None:
                continue
            echo(f"seed stability of {label} ({n_seeds} seeds)")
            stability[label] = seed_stability(
                lambda s, name=name, params=params: build_method(model, name, params, s),
                events.images, seeds=range(seed, seed + n_seeds), target=target,
                targets=list(OUTPUTS), ids=ids, samples=samples, method=label)
    summary.update({**(about or {}), "model": model.name, "preset": model.preset,
                    "categories": {c: int((events.categories == c).sum())
                                   for c in dict.fromkeys(events.categories)},
                    "method_params": {label: {"method": name, "params": params}
                                      for label, (name, params) in chosen.items()},
                    "shuffled": shuffled is not None, "seed_stability": stability})
    from hepxai.viz.explain import plot_sanity

    plot_sanity(summary, out / "sanity.png")
    write_json_atomic(out / "sanity.json", summary)  # last: the mark of a finished study
    return summary


def sanity_run(checkpoint: str | os.PathLike[str], data_dir: str | os.PathLike[str],
               out: str | os.PathLike[str], methods: str | None = None, *,
               shuffled: str | os.PathLike[str] | None = None, device: str = "cpu",
               echo: Callable[[str], object] = print, **settings: Any) -> dict[str, Any]:
    """``hepxai sanity muon``: :func:`sanity_study` of the model of ``checkpoint`` (and the
    shuffled-label model of ``shuffled``), its table echoed."""
    from torch import nn

    from hepxai.explain.judging.sanity import best_epoch_metric
    from hepxai.io.checkpoint import load_model, read_checkpoint

    model = load_model(checkpoint, device=device, use_case="muon")
    quality = {"metric": "validation MAE of pT [GeV]", "lower_is_better": True,
               "trained": best_epoch_metric(read_checkpoint(checkpoint), "mae"),
               "shuffled": None}
    if not isinstance(model, nn.Module):
        raise HepxaiError(f"{checkpoint}: a {model.name} (scikit-learn) has no attribution "
                          "methods to check; give a CNN or ConvSDT checkpoint")
    other = None
    if shuffled is not None:
        identity = read_checkpoint(shuffled).get("identity") or {}
        if not identity.get("shuffled_labels"):
            raise HepxaiError(f"{shuffled}: not trained on shuffled labels; train it with "
                              "'hepxai train muon --shuffle-labels' (same model and preset)")
        other = load_model(shuffled, device=device, use_case="muon")
        quality["shuffled"] = best_epoch_metric(read_checkpoint(shuffled), "mae")
    summary = sanity_study(model, data_dir, out, methods, shuffled=other, device=device,
                           echo=echo, about={"checkpoint": str(Path(checkpoint).resolve()),
                                             "quality": quality},
                           **settings)
    echo(format_sanity(summary))
    return summary


__all__ = ["THRESHOLD", "sanity_run", "sanity_study"]
