"""Is TracIn right for the muon regressors? Leave-some-out retraining (LSOR) and datamodels,
by :mod:`hepxai.explain.influence.validation` over the muon retraining callback
(:class:`MuonRetrain`).

* **LSOR** (poster): train on a pool ``S``; for a set of test events take the ``k`` training
  events with the highest summed TracIn score (their proponents as a group), remove them,
  retrain from the same seed, and measure the change of the test events' mean loss. Compare
  with removing ``k`` random events. If TracIn finds what helps, removing proponents hurts
  more: the ratio ``delta_proponents / delta_random`` is above 1.
* **Datamodels** (Ilyas et al. 2022; slides): models on random subsets of a small pool, a
  sparse linear model of each test event's loss from subset membership, and TracIn's linear
  datamodeling score (LDS).

Every retraining calls :func:`hepxai.usecases.muon.task.train` on a row subset of the training
file with a fixed seed; models train in parallel processes (one thread each: the small batches
of a small model gain nothing from intra-op threads) and each finished job leaves a
``result.npz``, so an interrupted study resumes where it stopped. Results do not depend on the
number of workers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hepxai.core.atomic import write_json_atomic
from hepxai.core.errors import HepxaiError
from hepxai.explain.influence import validation
from hepxai.explain.influence.checkpoints import spread_over_training
from hepxai.explain.influence.constants import DEFAULT_PROJECTION_DIM, VARIANTS
from hepxai.explain.influence.tracin import TracInStore
from hepxai.explain.influence.validation import (
    LSORPlan,
    default_workers,
    digest,
    leave_some_out,
    top_of_group,
)
from hepxai.io.checkpoint import run_checkpoints
from hepxai.usecases.muon.loader import MuonDataset
from hepxai.usecases.muon.store import MuonFile, split_path
from hepxai.usecases.muon.task import MuonGradients

STUDY_MODEL = "tracin-cnn-tiny"


# -- the retraining callback -------------------------------------------------------------------
@dataclass
class MuonRetrain:
    """Train ``model`` on rows of the training file, monitored on ``monitor_rows`` of the
    validation file; the final model's per-event loss (encoded MAE, the training loss) and
    physical ``output`` on ``test_rows`` of the validation file."""

    train_file: str
    val_file: str
    monitor_rows: np.ndarray
    test_rows: np.ndarray
    model: str = STUDY_MODEL
    preset: str = "fast"
    epochs: int | None = None

    def signature(self) -> dict[str, Any]:
        return {"model": self.model, "preset": self.preset, "epochs": self.epochs,
                "train_file": str(Path(self.train_file).resolve()),
                "val_file": str(Path(self.val_file).resolve()),
                "monitor": digest(self.monitor_rows), "test": digest(self.test_rows)}

    def __call__(self, rows: np.ndarray, out_dir: Path, seed: int) -> dict[str, np.ndarray]:
        from hepxai.usecases.muon.models import create
        from hepxai.usecases.muon.task import encoded_mae, train

        model = create(self.model, self.preset, seed=seed)
        started = time.perf_counter()
        train(model, MuonDataset(self.train_file, rows=rows),
              MuonDataset(self.val_file, rows=self.monitor_rows), out_dir, seed=seed,
              epochs=self.epochs, resume=True)
        seconds = time.perf_counter() - started
        model.eval()
        test = MuonDataset(self.val_file, rows=self.test_rows)
        x, y = test.__getitems__(np.arange(len(test)))
        with torch.no_grad():
            encoded = model.forward_encoded(x)
            loss = encoded_mae(model, encoded, y)
            output = model.decode_outputs(encoded)
        return {"loss": loss.double().numpy(), "output": output.double().numpy(),
                "seconds": np.float64(seconds)}


# -- data of a study ---------------------------------------------------------------------------
@dataclass
class StudyEvents:
    """The training pool and the validation events a study uses (rows of the two files)."""

    train_file: Path
    val_file: Path
    pool: np.ndarray  # training rows
    monitor: np.ndarray  # validation rows train() monitors each epoch
    test: np.ndarray  # validation rows of the test events


SELECTIONS = ("similar", "random")


def study_events(data_dir: str | os.PathLike[str], n_train: int, n_test: int,
                 n_monitor: int = 256, seed: int | Sequence[int] = 0,
                 selection: str = "random") -> StudyEvents:
    """The first ``n_train`` training events as the pool; the first ``n_monitor`` validation
    events (fewer in a small file) to monitor training; ``n_test`` test events from the rest.

    ``selection``: ``"random"`` draws them (``seed``); ``"similar"`` draws one anchor event and
    takes the ``n_test`` events nearest to it in (pT / 17 GeV, |eta| / 1.05), a coherent group
    of muons whose proponents overlap (what leave-some-out retraining needs to see an effect
    above the retraining noise).
    """
    if selection not in SELECTIONS:
        raise HepxaiError(f"unknown test selection {selection!r}; choose from "
                          f"{', '.join(SELECTIONS)}")
    train_file, val_file = split_path(data_dir, "train"), split_path(data_dir, "val")
    n_file, n_val = len(MuonFile(train_file)), len(MuonFile(val_file))
    if n_train < 2 or n_train > n_file:
        raise HepxaiError(f"--n-train {n_train}: {train_file} has {n_file:,} events; choose "
                          f"2..{n_file}")
    if n_test < 1 or n_test >= n_val:
        raise HepxaiError(f"--n-test {n_test}: {val_file} has {n_val:,} events and at least one "
                          f"is kept to monitor training; choose 1..{n_val - 1}")
    n_monitor = max(1, min(n_monitor, n_val - n_test))
    rng = np.random.default_rng(seed)
    candidates = np.arange(n_monitor, n_val)
    if selection == "random":
        test = rng.choice(candidates, n_test, replace=False)
    else:
        labels = MuonFile(val_file).labels[candidates]
        position = np.stack([labels["pt"] / 17.0, labels["eta"] / 1.05], axis=1)
        anchor = position[rng.integers(candidates.size)]
        distance = np.linalg.norm(position - anchor, axis=1)
        test = candidates[np.argsort(distance, kind="stable")[:n_test]]
    return StudyEvents(train_file, val_file, np.arange(n_train), np.arange(n_monitor),
                       np.sort(test))


def _retrain(events: StudyEvents, test_rows: np.ndarray, model: str, preset: str,
             epochs: int | None) -> MuonRetrain:
    return MuonRetrain(train_file=str(events.train_file), val_file=str(events.val_file),
                       monitor_rows=events.monitor, test_rows=np.asarray(test_rows, np.int64),
                       model=model, preset=preset, epochs=epochs)


def _store(run_dir: Path, events: StudyEvents, variant: str,
           projection_dim: int) -> TracInStore:
    """TracIn of a study's run over the pool, in ``RUN/tracin-VARIANT`` (reused when done)."""
    checkpoints = spread_over_training(run_checkpoints(run_dir))
    train = MuonGradients(MuonDataset(events.train_file, rows=events.pool))
    return TracInStore.build(checkpoints, train, run_dir / f"tracin-{variant}", variant=variant,
                             projection_dim=projection_dim)


# -- LSOR --------------------------------------------------------------------------------------
@dataclass
class LSORConfig:
    """Sizes of a leave-some-out-retraining study (defaults: ~10 minutes on 2 cores)."""

    n_train: int = 2000
    n_test: int = 50
    k: int = 200
    seeds: tuple[int, ...] = (1, 2, 3, 4)
    n_random: int = 2
    variants: tuple[str, ...] = VARIANTS
    model: str = STUDY_MODEL
    preset: str = "fast"
    epochs: int | None = None
    projection_dim: int = DEFAULT_PROJECTION_DIM
    selection: str = "similar"
    selection_seed: int = 0
    workers: int = field(default_factory=default_workers)


def lsor(data_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str],
         config: LSORConfig | None = None) -> dict[str, Any]:
    """Leave-some-out retraining; writes ``out_dir/lsor.json`` and returns the same dict.

    Per seed: a set of test events (by default a coherent group of similar muons around an
    anchor drawn with that seed, see :func:`study_events`), a base model on the pool, TracIn
    (each variant) over its checkpoints, the ``k`` training events with the highest TracIn
    summed over the test events removed (one retraining per variant) and ``n_random`` sets of
    ``k`` random events removed, all trained from the same seed. ``delta`` = mean test loss after
    removal - before (encoded MAE). Every model is evaluated on the union of the seeds' test
    events; each seed's statistics read its own.
    """
    config = config or LSORConfig()
    _check_variants(config.variants)
    if not 1 <= config.k < config.n_train:
        raise HepxaiError(f"--k {config.k}: remove between 1 and n_train - 1 = "
                          f"{config.n_train - 1} events")
    if not config.seeds:
        raise HepxaiError("no seeds given; use at least one (two for an uncertainty)")
    out = Path(out_dir)
    study = {s: study_events(data_dir, config.n_train, config.n_test,
                             seed=[config.selection_seed, s], selection=config.selection)
             for s in config.seeds}
    events = study[config.seeds[0]]
    union = np.unique(np.concatenate([e.test for e in study.values()]))
    retrain = _retrain(events, union, config.model, config.preset, config.epochs)
    started = time.perf_counter()
    removed_first: dict[str, list[int]] = {}

    def plan(seed: int, base_dir: Path, base: dict[str, np.ndarray]) -> LSORPlan:
        test = MuonDataset(events.val_file, rows=study[seed].test)
        removals = {}
        for variant in config.variants:
            store = _store(base_dir, study[seed], variant, config.projection_dim)
            top = top_of_group(store.scores(MuonGradients(test)), store.rows, config.k)
            removed_first[f"seed{seed}/{variant}"] = store.rows[top][:20].tolist()
            removals[variant] = store.rows[top]  # pool = the first n_train rows: positions
        return LSORPlan(test=np.searchsorted(union, study[seed].test), removals=removals)

    result = leave_some_out(retrain, config.n_train, out, seeds=config.seeds, plan=plan,
                            n_random=config.n_random, random_seed=(config.selection_seed,),
                            workers=config.workers)
    summary: dict[str, Any] = {
        "config": {**asdict(config), "seeds": list(config.seeds),
                   "variants": list(config.variants)},
        "data": {"train_file": str(events.train_file), "val_file": str(events.val_file),
                 "test_rows": {str(s): study[s].test.tolist() for s in config.seeds},
                 "test_pt_range": {str(s): _pt_range(study[s]) for s in config.seeds}},
        "base_loss": {str(p["seed"]): p["base_loss"] for p in result["per_seed"]},
        "random": result["random"], "variants": result["removals"],
        "removed_first_rows": removed_first, "seconds": time.perf_counter() - started}
    write_json_atomic(out / "lsor.json", summary)
    return summary


def _pt_range(events: StudyEvents) -> list[float]:
    """[min pT, max pT, min |eta|, max |eta|] of the test events."""
    labels = MuonFile(events.val_file).labels[events.test]
    return [float(labels["pt"].min()), float(labels["pt"].max()), float(labels["eta"].min()),
            float(labels["eta"].max())]


# -- datamodels --------------------------------------------------------------------------------
@dataclass
class DatamodelConfig:
    """Sizes of a datamodels study (defaults: ~10-15 minutes on 2 cores)."""

    n_train: int = 1000
    alpha: float = 0.5
    n_models: int = 100
    n_heldout: int = 30
    n_test: int = 40
    seed: int = 1
    subset_seed: int = 0
    variants: tuple[str, ...] = VARIANTS
    model: str = STUDY_MODEL
    preset: str = "fast"
    epochs: int | None = None
    projection_dim: int = DEFAULT_PROJECTION_DIM
    workers: int = field(default_factory=default_workers)


def datamodels(data_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str],
               config: DatamodelConfig | None = None) -> dict[str, Any]:
    """Datamodels and the LDS of TracIn; writes ``out_dir/datamodels.json`` (+ ``.npz`` with
    masks, outputs, TracIn scores and datamodel weights) and returns the summary."""
    config = config or DatamodelConfig()
    _check_variants(config.variants)
    validation.check_heldout(config.n_models, config.n_heldout)
    events = study_events(data_dir, config.n_train, config.n_test)
    test = MuonDataset(events.val_file, rows=events.test)

    def scores(run_dir: Path) -> dict[str, np.ndarray]:
        return {variant: _store(run_dir, events, variant, config.projection_dim)
                .scores(MuonGradients(test)) for variant in config.variants}

    info = {"config": {**asdict(config), "variants": list(config.variants)},
            "data": {"train_file": str(events.train_file), "val_file": str(events.val_file),
                     "test_rows": events.test.tolist()},
            "output": "test loss (encoded MAE) of the final model"}
    retrain = _retrain(events, events.test, config.model, config.preset, config.epochs)
    return validation.datamodels(retrain, config.n_train, out_dir, scores=scores,
                                 alpha=config.alpha, n_models=config.n_models,
                                 n_heldout=config.n_heldout, seed=config.seed,
                                 subset_seed=config.subset_seed, workers=config.workers,
                                 info=info)


def format_lsor(summary: dict) -> str:
    """LSOR summary as text: change of the test loss per removal, ratio to random removal."""
    c = summary["config"]
    r = summary["random"]
    lines = [f"LSOR: {c['model']} on {c['n_train']:,} events, {c['n_test']} test events, "
             f"{c['k']} removed, seeds {', '.join(map(str, c['seeds']))}",
             f"  random removal:     delta loss {r['delta_mean']:+.4f} +- {r['delta_se']:.4f}"]
    for variant, v in summary["variants"].items():
        lines.append(f"  {variant + ' proponents:':<20}delta loss {v['delta_mean']:+.4f} +- "
                     f"{v['delta_se']:.4f}; ratio to random {v['ratio']:.2f} +- "
                     f"{v['ratio_se']:.2f}; difference {v['difference_mean']:+.4f} +- "
                     f"{v['difference_se']:.4f}")
    return "\n".join(lines)


def format_datamodels(summary: dict) -> str:
    """LDS of the datamodel and the TracIn variants as text."""
    c = summary["config"]
    lines = [f"datamodels: {c['n_models']} {c['model']} models on subsets of "
             f"{summary['subset_size']} of {c['n_train']} events; LDS over {c['n_heldout']} "
             f"held-out subsets, mean over {c['n_test']} test events"]
    for name, v in summary["lds"].items():
        lines.append(f"  LDS {name:<11} {v['mean']:+.3f} +- {v['se']:.3f}")
    for name, v in summary["tracin_vs_datamodel_weights_spearman"].items():
        lines.append(f"  Spearman(TracIn {name}, datamodel weights) {v:+.3f}")
    return "\n".join(lines)


def _check_variants(variants: Sequence[str]) -> None:
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        raise HepxaiError(f"unknown TracIn variant(s) {', '.join(unknown) or '(none)'}; choose "
                          f"from {', '.join(VARIANTS)}")
