"""Is TracIn right? Two checks by retraining: leave-some-out retraining (LSOR) and datamodels.

* **LSOR** (poster): train on a pool ``S``; for a set of test events take the ``k`` training events
  with the highest summed TracIn score (their proponents as a group), remove them, retrain from
  the same seed, and measure the change of the test events' mean loss. Compare with removing
  ``k`` random events. If TracIn finds what helps, removing proponents hurts more: the ratio
  ``delta_proponents / delta_random`` is above 1. Over several seeds we report the ratio of the
  mean changes with its uncertainty (standard errors propagated), the per-seed values, and the
  paired difference, which stays defined when the random change is close to zero.
* **Datamodels** (Ilyas et al. 2022; slides): train ``m`` models on random subsets ``S_j`` (a
  fraction ``alpha`` of a small pool), record each test event's loss ``f(x; S_j)``, fit a sparse
  linear model from the membership vector ``1_{S_j}`` to it (scikit-learn Lasso, penalty by
  cross-validation) and judge on held-out subsets. TracIn is scored by the *linear datamodeling
  score* (LDS): the Spearman correlation, over held-out subsets, between the loss TracIn predicts,
  ``-sum_{i in S_j} TracIn(z_i, x)`` (proponents present lower the loss), and the actual loss;
  averaged over test events. The Lasso datamodel's own LDS is the reference of what a linear
  model of membership can reach.

Every retraining calls the project's :func:`hepxai.usecases.muon.task.train` on a row subset of the
training file with a fixed seed; models train in parallel processes (one thread each: the small
batches of a small model gain nothing from intra-op threads) and each finished job leaves a
``result.npz``, so an interrupted study resumes where it stopped. Results do not depend on the
number of workers.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats

from hepxai.core.atomic import atomic_path, write_json_atomic
from hepxai.core.errors import HepxaiError
from hepxai.core.progress import progress
from hepxai.explain.influence.tracin import (
    DEFAULT_PROJECTION_DIM,
    VARIANTS,
    TracInStore,
    run_checkpoints,
    spread_over_training,
)
from hepxai.usecases.muon.loader import MuonDataset
from hepxai.usecases.muon.store import MuonFile, split_path

STUDY_MODEL = "tracin-cnn-tiny"


# -- retraining jobs ---------------------------------------------------------------------------
@dataclass
class TrainJob:
    """One model to train on ``rows`` of the training file and evaluate on the test events."""

    out_dir: str
    train_file: str
    rows: np.ndarray
    val_file: str
    monitor_rows: np.ndarray
    test_rows: np.ndarray
    model: str = STUDY_MODEL
    preset: str = "fast"
    seed: int = 1
    epochs: int | None = None


def run_job(job: TrainJob) -> dict[str, np.ndarray]:
    """Train (or resume / reuse) and return the test events' ``loss`` ``(n_test,)`` (encoded
    MAE, the training loss) and physical ``output`` ``(n_test, 2)`` of the final model."""
    from hepxai.usecases.muon.models import create
    from hepxai.usecases.muon.task import train

    out = Path(job.out_dir)
    result_path = out / "result.npz"
    signature = job_signature(job)
    saved_path = out / "job.json"
    if saved_path.is_file():
        if json.loads(saved_path.read_text()) != signature:
            raise HepxaiError(f"{out} holds a model trained with other settings (events, seed, "
                              "model or test events); choose another --out or delete it")
    elif (out / "checkpoints").exists() or result_path.exists():
        raise HepxaiError(f"{out} holds a model of unknown settings; choose another --out or "
                          "delete it")
    else:
        write_json_atomic(saved_path, signature)
    if result_path.is_file():
        with np.load(result_path) as saved:
            return {k: saved[k] for k in saved.files}
    model = create(job.model, job.preset, seed=job.seed)
    started = time.perf_counter()
    train(model, MuonDataset(job.train_file, rows=job.rows),
          MuonDataset(job.val_file, rows=job.monitor_rows), out, seed=job.seed,
          epochs=job.epochs, resume=True)
    seconds = time.perf_counter() - started
    model.eval()
    test = MuonDataset(job.val_file, rows=job.test_rows)
    x, y = test.__getitems__(np.arange(len(test)))
    with torch.no_grad():
        encoded = model.forward_encoded(x)
        loss = (encoded - model.encode_targets(y)).abs().sum(1)
        output = model.decode_outputs(encoded)
    result = {"loss": loss.double().numpy(), "output": output.double().numpy(),
              "seconds": np.float64(seconds)}
    with atomic_path(result_path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **result)
    return result


def job_signature(job: TrainJob) -> dict[str, Any]:
    """What makes two retraining jobs the same: a finished job is reused only for these."""
    def digest(rows: np.ndarray) -> str:
        return hashlib.sha256(np.ascontiguousarray(rows, dtype=np.int64).tobytes()).hexdigest()

    return {"model": job.model, "preset": job.preset, "seed": job.seed, "epochs": job.epochs,
            "train_file": str(Path(job.train_file).resolve()), "rows": digest(job.rows),
            "val_file": str(Path(job.val_file).resolve()), "monitor": digest(job.monitor_rows),
            "test": digest(job.test_rows)}


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)
    os.environ["HEPXAI_PROGRESS"] = "0"  # the parent's bar counts models; no bars per epoch


def run_jobs(jobs: Sequence[TrainJob], workers: int, desc: str) -> list[dict[str, np.ndarray]]:
    """Run ``jobs`` (in ``workers`` processes of one thread each; in this process when
    ``workers`` is 1); results in the order of ``jobs``."""
    results: list[dict[str, np.ndarray] | None] = [None] * len(jobs)
    bar = progress(total=len(jobs), desc=desc, unit="model")
    if workers <= 1:
        for i, job in enumerate(jobs):
            results[i] = run_job(job)
            bar.update(1)
    else:
        # spawn, not fork: a forked child of a process whose OpenMP pool already runs can hang
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                                 initializer=_init_worker, initargs=(1,)) as pool:
            futures = {pool.submit(run_job, job): i for i, job in enumerate(jobs)}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.update(1)
    bar.close()
    return [r for r in results if r is not None]


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


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


def _job(events: StudyEvents, out_dir: Path, rows: np.ndarray, model: str, preset: str,
         seed: int, epochs: int | None) -> TrainJob:
    return TrainJob(out_dir=str(out_dir), train_file=str(events.train_file),
                    rows=np.sort(np.asarray(rows, np.int64)), val_file=str(events.val_file),
                    monitor_rows=events.monitor, test_rows=events.test, model=model,
                    preset=preset, seed=seed, epochs=epochs)


def _store(run_dir: Path, events: StudyEvents, variant: str, projection_dim: int,
           rows: np.ndarray) -> TracInStore:
    checkpoints = spread_over_training(run_checkpoints(run_dir))
    return TracInStore.build(checkpoints, events.train_file, run_dir / f"tracin-{variant}",
                             variant=variant, rows=rows, projection_dim=projection_dim)


def _mean_se(values: Sequence[float]) -> tuple[float, float]:
    array = np.asarray(values, dtype=np.float64)
    se = float(array.std(ddof=1) / math.sqrt(array.size)) if array.size > 1 else float("nan")
    return float(array.mean()), se


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
    removal - before (encoded MAE).
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
    started = time.perf_counter()
    base_jobs = [_job(study[s], out / f"seed{s}" / "base", study[s].pool, config.model,
                      config.preset, s, config.epochs) for s in config.seeds]
    base = run_jobs(base_jobs, config.workers, "LSOR base models")
    removal_jobs: list[TrainJob] = []
    labels: list[tuple[int, str]] = []
    removed: dict[str, Any] = {}
    for s in config.seeds:
        events = study[s]
        run_dir = out / f"seed{s}" / "base"
        test = MuonDataset(events.val_file, rows=events.test)
        for variant in config.variants:
            store = _store(run_dir, events, variant, config.projection_dim, events.pool)
            group = store.scores(test).astype(np.float64).sum(0)  # influence on the set's loss
            # proponents of the whole set; ties broken towards lower rows, deterministically
            top = np.lexsort((store.rows, -group))[:config.k]
            rows = np.setdiff1d(events.pool, store.rows[top])
            removed[f"seed{s}/{variant}"] = store.rows[top][:20].tolist()
            removal_jobs.append(_job(events, out / f"seed{s}" / f"minus-{variant}", rows,
                                     config.model, config.preset, s, config.epochs))
            labels.append((s, variant))
        rng = np.random.default_rng([config.selection_seed, s, 1])  # not the test draw's
        for j in range(config.n_random):
            drop = rng.choice(events.pool, config.k, replace=False)
            removal_jobs.append(_job(events, out / f"seed{s}" / f"minus-random{j}",
                                     np.setdiff1d(events.pool, drop), config.model,
                                     config.preset, s, config.epochs))
            labels.append((s, "random"))
    results = run_jobs(removal_jobs, config.workers, "LSOR retraining")

    base_loss = {s: float(r["loss"].mean()) for s, r in zip(config.seeds, base, strict=True)}
    delta: dict[str, dict[int, list[float]]] = {name: {s: [] for s in config.seeds}
                                                for name in (*config.variants, "random")}
    worse: dict[str, list[float]] = {name: [] for name in delta}
    for (s, name), result in zip(labels, results, strict=True):
        delta[name][s].append(float(result["loss"].mean()) - base_loss[s])
        base_events = base[config.seeds.index(s)]["loss"]
        worse[name].append(float((result["loss"] > base_events).mean()))
    random_per_seed = [float(np.mean(delta["random"][s])) for s in config.seeds]
    summary: dict[str, Any] = {
        "config": {**asdict(config), "seeds": list(config.seeds),
                   "variants": list(config.variants)},
        "data": {"train_file": str(events.train_file), "val_file": str(events.val_file),
                 "test_rows": {str(s): study[s].test.tolist() for s in config.seeds},
                 "test_pt_range": {str(s): _pt_range(study[s]) for s in config.seeds}},
        "base_loss": {str(s): v for s, v in base_loss.items()},
        "random": {"delta_per_seed": random_per_seed,
                   "delta_mean": _mean_se(random_per_seed)[0],
                   "delta_se": _mean_se(random_per_seed)[1],
                   "share_of_test_events_worse": float(np.mean(worse["random"]))},
        "variants": {}, "removed_first_rows": removed,
    }
    for variant in config.variants:
        per_seed = [delta[variant][s][0] for s in config.seeds]
        summary["variants"][variant] = {
            "delta_per_seed": per_seed,
            **_ratio(per_seed, random_per_seed),
            "share_of_test_events_worse": float(np.mean(worse[variant])),
        }
    summary["seconds"] = time.perf_counter() - started
    write_json_atomic(out / "lsor.json", summary)
    return summary


def _pt_range(events: StudyEvents) -> list[float]:
    """[min pT, max pT, min |eta|, max |eta|] of the test events."""
    labels = MuonFile(events.val_file).labels[events.test]
    return [float(labels["pt"].min()), float(labels["pt"].max()), float(labels["eta"].min()),
            float(labels["eta"].max())]


def _ratio(proponents: Sequence[float], random: Sequence[float]) -> dict[str, float]:
    """Ratio of mean changes with its propagated standard error, and the paired difference."""
    mp, sp = _mean_se(proponents)
    mr, sr = _mean_se(random)
    ratio = mp / mr if mr != 0 else float("nan")
    ratio_se = abs(ratio) * math.sqrt((sp / mp) ** 2 + (sr / mr) ** 2) \
        if mp != 0 and mr != 0 else float("nan")
    diff_mean, diff_se = _mean_se(np.asarray(proponents) - np.asarray(random))
    return {"delta_mean": mp, "delta_se": sp, "ratio": ratio, "ratio_se": ratio_se,
            "difference_mean": diff_mean, "difference_se": diff_se}


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


def subset_masks(n: int, alpha: float, m: int, seed: int) -> np.ndarray:
    """``m`` random subsets of ``range(n)``, each of exactly ``round(alpha n)`` members:
    membership ``(m, n)`` bool."""
    size = int(round(alpha * n))
    if not 1 <= size < n:
        raise HepxaiError(f"--alpha {alpha}: subsets of {size} of {n} events; choose alpha so "
                          "that a subset keeps at least one event and leaves one out")
    rng = np.random.default_rng(seed)
    masks = np.zeros((m, n), dtype=bool)
    for j in range(m):
        masks[j, rng.choice(n, size, replace=False)] = True
    return masks


def linear_datamodeling_score(predicted: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Spearman correlation per test event between predicted and actual outputs over subsets:
    ``predicted``, ``actual`` ``(n_subsets, n_test)`` -> ``(n_test,)`` (NaN where constant)."""
    out = np.full(actual.shape[1], np.nan)
    for e in range(actual.shape[1]):
        if np.ptp(predicted[:, e]) > 0 and np.ptp(actual[:, e]) > 0:
            out[e] = stats.spearmanr(predicted[:, e], actual[:, e]).statistic
    return out


def fit_datamodels(masks: np.ndarray, outputs: np.ndarray, seed: int = 0
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lasso per test event from membership ``(m, n)`` to outputs ``(m, n_test)``, penalty by
    5-fold cross-validation. Returns weights ``(n_test, n)``, intercepts ``(n_test,)`` and the
    chosen penalties ``(n_test,)``."""
    from sklearn.linear_model import LassoCV

    x = masks.astype(np.float64)
    weights = np.zeros((outputs.shape[1], masks.shape[1]))
    intercepts = np.zeros(outputs.shape[1])
    penalties = np.zeros(outputs.shape[1])
    for e in progress(range(outputs.shape[1]), desc="datamodels: Lasso fits", unit="event"):
        fit = LassoCV(cv=5, alphas=30, random_state=seed, max_iter=20_000).fit(x, outputs[:, e])
        weights[e], intercepts[e], penalties[e] = fit.coef_, fit.intercept_, fit.alpha_
    return weights, intercepts, penalties


def datamodels(data_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str],
               config: DatamodelConfig | None = None) -> dict[str, Any]:
    """Datamodels and the LDS of TracIn; writes ``out_dir/datamodels.json`` (+ ``.npz`` with
    masks, outputs, TracIn scores and datamodel weights) and returns the summary."""
    config = config or DatamodelConfig()
    _check_variants(config.variants)
    if not 2 <= config.n_heldout <= config.n_models - 10:
        raise HepxaiError(f"--heldout {config.n_heldout} of --models {config.n_models}: keep at "
                          "least 2 held-out subsets and 10 to fit the datamodels")
    out = Path(out_dir)
    events = study_events(data_dir, config.n_train, config.n_test)
    started = time.perf_counter()
    masks = subset_masks(config.n_train, config.alpha, config.n_models, config.subset_seed)
    jobs = [_job(events, out / "full-pool", events.pool, config.model, config.preset,
                 config.seed, config.epochs)]
    jobs += [_job(events, out / "subsets" / f"{j:04d}", events.pool[masks[j]], config.model,
                  config.preset, config.seed, config.epochs) for j in range(config.n_models)]
    results = run_jobs(jobs, config.workers, "datamodels: training")
    outputs = np.stack([r["loss"] for r in results[1:]])  # (m, n_test)
    fit, held = slice(0, config.n_models - config.n_heldout), \
        slice(config.n_models - config.n_heldout, config.n_models)
    weights, intercepts, penalties = fit_datamodels(masks[fit], outputs[fit], config.subset_seed)
    predicted = masks[held].astype(np.float64) @ weights.T + intercepts
    lds = {"datamodel": linear_datamodeling_score(predicted, outputs[held])}
    scores: dict[str, np.ndarray] = {}
    agreement: dict[str, float] = {}
    test = MuonDataset(events.val_file, rows=events.test)
    for variant in config.variants:
        store = _store(out / "full-pool", events, variant, config.projection_dim, events.pool)
        tau = store.scores(test).astype(np.float64)  # (n_test, n_train), pool order
        scores[variant] = tau
        # proponents present lower the loss: the loss TracIn predicts is minus their sum
        lds[variant] = linear_datamodeling_score(-(masks[held].astype(np.float64) @ tau.T),
                                                 outputs[held])
        agreement[variant] = float(np.nanmean([
            stats.spearmanr(-weights[e], tau[e]).statistic for e in range(config.n_test)
            if np.ptp(weights[e]) > 0]))
    summary: dict[str, Any] = {
        "config": {**asdict(config), "variants": list(config.variants)},
        "data": {"train_file": str(events.train_file), "val_file": str(events.val_file),
                 "test_rows": events.test.tolist()},
        "output": "test loss (encoded MAE) of the final model",
        "subset_size": int(masks[0].sum()),
        "lds": {name: {"mean": _mean_se(v[np.isfinite(v)])[0],
                       "se": _mean_se(v[np.isfinite(v)])[1], "n_events": int(np.isfinite(v).sum())}
                for name, v in lds.items()},
        "tracin_vs_datamodel_weights_spearman": agreement,
        "datamodel_nonzero_weights": float((weights != 0).sum(1).mean()),
        "datamodel_penalty_median": float(np.median(penalties)),
        "output_spread": float(outputs.std(0).mean()),
        "seconds": time.perf_counter() - started,
    }
    with atomic_path(out / "datamodels.npz") as tmp, open(tmp, "wb") as handle:
        np.savez(handle, masks=masks, outputs=outputs, weights=weights, intercepts=intercepts,
                 **{f"tracin_{v.replace('-', '_')}": s for v, s in scores.items()},
                 **{f"lds_{k.replace('-', '_')}": v for k, v in lds.items()})
    write_json_atomic(out / "datamodels.json", summary)
    return summary


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
