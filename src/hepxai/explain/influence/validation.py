"""Is TracIn right? Checks by retraining, for any use case: leave-some-out retraining (LSOR),
datamodels with the linear datamodeling score, and kappa pruning.

Every model of a study is trained by one callback the use case provides, a :class:`Retrainer`:

    retrain(rows, out_dir, seed) -> {"loss": (n_test,) per-test-example losses, ...}

trains from scratch (seed ``seed``) on the pool examples ``rows`` (positions ``0..n_pool-1``),
writes its run into ``out_dir`` and returns the final model's loss on each of the study's test
examples (and whatever else the use case wants kept, e.g. the logits kappa's metrics read);
``retrain.signature()`` says what else makes two jobs the same (model, recipe, data, test
examples). Finished jobs leave ``job.json`` and ``result.npz``: a rerun reuses them (an
interrupted study resumes where it stopped), never for other settings. Jobs run in parallel
processes (``workers``, one thread each) or in this process; results do not depend on it.

* **LSOR** (:func:`leave_some_out`, poster): per seed, a base model on the whole pool; the use
  case's plan names a group of test examples and what to remove (e.g. the top TracIn
  proponents of the group, per variant); as many random pool examples are removed
  ``n_random`` times (optionally with the same class composition); every removal is retrained
  from the same seed. ``delta`` = the group's mean loss after removal - with the whole pool. If
  TracIn finds what helps, removing proponents hurts more: over the seeds the ratio of the mean
  changes, ``delta_proponents / delta_random``, with its propagated standard error, and the
  paired difference (defined also when the random change is close to zero).
* **Datamodels** (:func:`datamodels`, Ilyas et al. 2022): ``m`` models on random subsets
  ``S_j`` (a fraction ``alpha`` of the pool); a sparse linear model (scikit-learn Lasso, penalty
  by cross-validation) from the membership ``1_{S_j}`` to each test example's loss, judged on
  held-out subsets. TracIn is scored by the *linear datamodeling score* (LDS): the Spearman
  correlation over held-out subsets between the loss TracIn predicts, ``-sum_{i in S_j}
  TracIn(z_i, x)`` (proponents present lower the loss), and the actual loss, averaged over test
  examples; the Lasso datamodel's own LDS is the reference of what a linear model of membership
  can reach.
* **Kappa pruning** (:func:`kappa_pruning`): score every pool example (e.g. its step-weighted
  gradient norm, ``sqrt`` of the self-influence), remove the fraction ``kappa`` with the
  highest scores, the lowest, and at random (optionally within each class), retrain each and
  compare the use case's test metrics.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from hepxai.core.atomic import atomic_path, write_json_atomic
from hepxai.core.errors import HepxaiError
from hepxai.core.progress import progress
from hepxai.core.workers import worker_pool

PRUNE_MODES = ("high", "low", "random")


class Retrainer(Protocol):
    """The use case's retraining callback (see the module docstring)."""

    def signature(self) -> dict[str, Any]:
        """JSON-ready: what, besides the rows and the seed, identifies a job."""

    def __call__(self, rows: np.ndarray, out_dir: Path, seed: int) -> dict[str, np.ndarray]:
        """Train on pool positions ``rows`` into ``out_dir``; ``{"loss": (n_test,), ...}``."""


# -- retraining jobs ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Job:
    """One model to train: on the pool positions ``rows``, from ``seed``, into ``out_dir``."""

    out_dir: Path
    rows: np.ndarray
    seed: int


def digest(rows: np.ndarray) -> str:
    """SHA-256 of int64 positions (what job signatures record of a row set)."""
    return hashlib.sha256(np.ascontiguousarray(rows, dtype=np.int64).tobytes()).hexdigest()


def job_signature(retrain: Retrainer, job: Job) -> dict[str, Any]:
    """What makes two jobs the same: a finished job is reused only for these."""
    rows = np.sort(np.asarray(job.rows, np.int64))
    return {**retrain.signature(), "seed": int(job.seed), "rows": digest(rows),
            "n_rows": int(rows.size)}


def run_job(retrain: Retrainer, job: Job) -> dict[str, np.ndarray]:
    """Train (or resume / reuse) one job; its result (``loss`` and the callback's extras)."""
    out = Path(job.out_dir)
    rows = np.sort(np.asarray(job.rows, np.int64))
    if rows.size == 0:
        raise HepxaiError("every training example was removed; remove fewer")
    signature = job_signature(retrain, job)
    saved, result_path = out / "job.json", out / "result.npz"
    if saved.is_file():
        if json.loads(saved.read_text()) != signature:
            raise HepxaiError(f"{out} holds a model trained with other settings (examples, "
                              "seed, model or test examples); choose another --out or delete it")
    elif (out / "checkpoints").exists() or result_path.exists():
        raise HepxaiError(f"{out} holds a model of unknown settings; choose another --out or "
                          "delete it")
    else:
        write_json_atomic(saved, signature)
    if result_path.is_file():
        with np.load(result_path) as done:
            return {k: done[k] for k in done.files}
    started = time.perf_counter()
    result = dict(retrain(rows, out, int(job.seed)))
    if "loss" not in result:
        raise HepxaiError("the retraining callback returned no 'loss' (one value per test "
                          "example)")
    result = {k: np.asarray(v) for k, v in result.items()}
    result.setdefault("seconds", np.float64(time.perf_counter() - started))
    with atomic_path(result_path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **result)
    return result


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    os.environ["HEPXAI_PROGRESS"] = "0"  # the parent's bar counts models; no bars per epoch


def run_jobs(retrain: Retrainer, jobs: Sequence[Job], workers: int = 1,
             desc: str = "retraining") -> list[dict[str, np.ndarray]]:
    """Run ``jobs`` (in ``workers`` processes of one thread each; in this process when
    ``workers`` is 1); results in the order of ``jobs``. ``retrain`` must pickle for
    ``workers > 1`` (an instance of a module-level class)."""
    results: list[dict[str, np.ndarray] | None] = [None] * len(jobs)
    bar = progress(total=len(jobs), desc=desc, unit="model")
    if workers <= 1:
        for i, job in enumerate(jobs):
            results[i] = run_job(retrain, job)
            bar.update(1)
    else:
        # spawn, not fork: a forked child of a process whose OpenMP pool already runs can hang
        with worker_pool(workers, mp_context=get_context("spawn"), initializer=_init_worker,
                         initargs=(1,)) as pool:
            futures = {pool.submit(run_job, retrain, job): i for i, job in enumerate(jobs)}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.update(1)
    bar.close()
    return [r for r in results if r is not None]


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


# -- statistics --------------------------------------------------------------------------------
def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and its standard error (NaN for one value)."""
    array = np.asarray(values, dtype=np.float64)
    se = float(array.std(ddof=1) / math.sqrt(array.size)) if array.size > 1 else float("nan")
    return float(array.mean()), se


def ratio(proponents: Sequence[float], random: Sequence[float]) -> dict[str, float]:
    """Ratio of mean changes with its propagated standard error, and the paired difference.

    >>> round(ratio([0.2, 0.4], [0.1, 0.1])["ratio"], 6)
    3.0
    """
    mp, sp = mean_se(proponents)
    mr, sr = mean_se(random)
    value = mp / mr if mr != 0 else float("nan")
    value_se = abs(value) * math.sqrt((sp / mp) ** 2 + (sr / mr) ** 2) \
        if mp != 0 and mr != 0 else float("nan")
    diff_mean, diff_se = mean_se(np.asarray(proponents) - np.asarray(random))
    return {"delta_mean": mp, "delta_se": sp, "ratio": value, "ratio_se": value_se,
            "difference_mean": diff_mean, "difference_se": diff_se}


def top_of_group(scores: np.ndarray, ids: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` training examples with the highest TracIn summed over a group of
    test examples (``scores (n_group, n_train)``): the group's proponents; ties towards lower
    ids, deterministically."""
    group = np.asarray(scores, np.float64).sum(0)  # influence on the group's loss
    return np.lexsort((np.asarray(ids), -group))[:k]


def random_like(n_pool: int, removed: np.ndarray, rng: np.random.Generator,
                labels: np.ndarray | None = None) -> np.ndarray:
    """As many random pool positions as ``removed`` (sorted); with ``labels`` as many of each
    class as ``removed`` holds."""
    removed = np.asarray(removed, np.int64)
    if labels is None:
        return np.sort(rng.choice(n_pool, removed.size, replace=False))
    labels = np.asarray(labels)
    parts = [rng.choice(np.flatnonzero(labels == c), int((labels[removed] == c).sum()),
                        replace=False) for c in np.unique(labels)]
    return np.sort(np.concatenate(parts))


# -- LSOR --------------------------------------------------------------------------------------
@dataclass
class LSORPlan:
    """What one seed of an LSOR study removes, from the use case (after its base model).

    Attributes:
        test: positions, in the retrained models' test losses, of the group whose loss change
            is measured.
        removals: name -> pool positions removed (e.g. ``{"last-layer": top proponents}``).
        like: the removal random draws copy in size (and class composition, with labels);
            default: the first of ``removals``.
        info: recorded with the seed's results.
    """

    test: np.ndarray
    removals: dict[str, np.ndarray]
    like: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)


def leave_some_out(retrain: Retrainer, n_pool: int, out_dir: str | os.PathLike[str], *,
                   seeds: Sequence[int], plan: Callable[[int, Path, dict[str, np.ndarray]],
                                                        LSORPlan],
                   n_random: int = 2, labels: np.ndarray | None = None,
                   random_seed: Sequence[int] = (), workers: int = 1) -> dict[str, Any]:
    """Leave-some-out retraining over the seeds; returns the statistics (JSON-ready).

    Per seed ``s``: the base model on the whole pool (``out/seed{s}/base``), ``plan(s,
    base_dir, base_result)`` (the use case's TracIn on the base run), each removal retrained
    (``out/seed{s}/minus-{name}``) and ``n_random`` random removals like ``plan.like``
    (``out/seed{s}/minus-random{j}``, drawn with ``default_rng([*random_seed, s, 1])``, within
    each class of ``labels`` when given). Returns ``{"per_seed": [...], "random": {...},
    "removals": {name: {"delta_per_seed", delta_mean, delta_se, ratio, ratio_se,
    difference_mean, difference_se, "share_of_test_events_worse"}}}``.
    """
    if not seeds:
        raise HepxaiError("no seeds given; use at least one (two for an uncertainty)")
    out = Path(out_dir)
    pool = np.arange(n_pool)
    base = run_jobs(retrain, [Job(out / f"seed{s}" / "base", pool, s) for s in seeds], workers,
                    "LSOR base models")
    plans: list[LSORPlan] = []
    jobs: list[Job] = []
    labelled: list[tuple[int, str]] = []
    for i, s in enumerate(seeds):
        chosen = plan(s, out / f"seed{s}" / "base", base[i])
        if not chosen.removals:
            raise HepxaiError("the LSOR plan removes nothing; name at least one removal")
        plans.append(chosen)
        for name, removed in chosen.removals.items():
            if np.unique(removed).size >= n_pool:
                raise HepxaiError(f"the {name} removal covers the whole pool; remove fewer")
            jobs.append(Job(out / f"seed{s}" / f"minus-{name}", np.setdiff1d(pool, removed), s))
            labelled.append((i, name))
        like = chosen.like if chosen.like is not None else next(iter(chosen.removals.values()))
        rng = np.random.default_rng([*random_seed, s, 1])  # not the test draw's
        for j in range(n_random):
            drop = random_like(n_pool, like, rng, labels)
            jobs.append(Job(out / f"seed{s}" / f"minus-random{j}", np.setdiff1d(pool, drop), s))
            labelled.append((i, "random"))
    results = run_jobs(retrain, jobs, workers, "LSOR retraining")

    names = list(dict.fromkeys(name for p in plans for name in p.removals))
    per_seed: list[dict[str, Any]] = []
    for i, s in enumerate(seeds):
        test = np.asarray(plans[i].test, np.int64)
        per_seed.append({"seed": s, "test": test.tolist(),
                         "base_loss": float(base[i]["loss"][test].mean()),
                         "removed": {n: int(np.unique(r).size)
                                     for n, r in plans[i].removals.items()},
                         "delta": {}, "delta_random": [], "worse": {}, "worse_random": [],
                         **plans[i].info})
    for (i, name), result in zip(labelled, results, strict=True):
        test = np.asarray(plans[i].test, np.int64)
        after, before = result["loss"][test], base[i]["loss"][test]
        delta = float(after.mean()) - per_seed[i]["base_loss"]
        worse = float((after > before).mean())
        if name == "random":
            per_seed[i]["delta_random"].append(delta)
            per_seed[i]["worse_random"].append(worse)
        else:
            per_seed[i]["delta"][name] = delta
            per_seed[i]["worse"][name] = worse
    random_per_seed = [float(np.mean(p["delta_random"])) for p in per_seed]
    random_mean, random_se = mean_se(random_per_seed)
    summary: dict[str, Any] = {
        "per_seed": per_seed,
        "random": {"delta_per_seed": random_per_seed, "delta_mean": random_mean,
                   "delta_se": random_se,
                   "share_of_test_events_worse": float(np.mean(
                       [w for p in per_seed for w in p["worse_random"]]))},
        "removals": {}}
    for name in names:
        deltas = [p["delta"][name] for p in per_seed]
        summary["removals"][name] = {
            "delta_per_seed": deltas, **ratio(deltas, random_per_seed),
            "share_of_test_events_worse": float(np.mean([p["worse"][name] for p in per_seed]))}
    return summary


# -- datamodels --------------------------------------------------------------------------------
def subset_masks(n: int, alpha: float, m: int, seed: int) -> np.ndarray:
    """``m`` random subsets of ``range(n)``, each of exactly ``round(alpha n)`` members:
    membership ``(m, n)`` bool."""
    size = int(round(alpha * n))
    if not 1 <= size < n:
        raise HepxaiError(f"--alpha {alpha}: subsets of {size} of {n} examples; choose alpha "
                          "so that a subset keeps at least one example and leaves one out")
    rng = np.random.default_rng(seed)
    masks = np.zeros((m, n), dtype=bool)
    for j in range(m):
        masks[j, rng.choice(n, size, replace=False)] = True
    return masks


def linear_datamodeling_score(predicted: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Spearman correlation per test example between predicted and actual outputs over
    subsets: ``predicted``, ``actual`` ``(n_subsets, n_test)`` -> ``(n_test,)`` (NaN where
    constant)."""
    from scipy import stats

    out = np.full(actual.shape[1], np.nan)
    for e in range(actual.shape[1]):
        if np.ptp(predicted[:, e]) > 0 and np.ptp(actual[:, e]) > 0:
            out[e] = stats.spearmanr(predicted[:, e], actual[:, e]).statistic
    return out


def fit_datamodels(masks: np.ndarray, outputs: np.ndarray, seed: int = 0
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lasso per test example from membership ``(m, n)`` to outputs ``(m, n_test)``, penalty
    by 5-fold cross-validation. Returns weights ``(n_test, n)``, intercepts ``(n_test,)`` and
    the chosen penalties ``(n_test,)``."""
    from sklearn.linear_model import LassoCV

    x = masks.astype(np.float64)
    weights = np.zeros((outputs.shape[1], masks.shape[1]))
    intercepts = np.zeros(outputs.shape[1])
    penalties = np.zeros(outputs.shape[1])
    for e in progress(range(outputs.shape[1]), desc="datamodels: Lasso fits", unit="example"):
        fit = LassoCV(cv=5, alphas=30, random_state=seed, max_iter=20_000).fit(x, outputs[:, e])
        weights[e], intercepts[e], penalties[e] = fit.coef_, fit.intercept_, fit.alpha_
    return weights, intercepts, penalties


def check_heldout(n_models: int, n_heldout: int) -> None:
    """One-line error unless 2 or more held-out subsets and 10 to fit remain."""
    if not 2 <= n_heldout <= n_models - 10:
        raise HepxaiError(f"--heldout {n_heldout} of --models {n_models}: keep at least 2 "
                          "held-out subsets and 10 to fit the datamodels")


def datamodels(retrain: Retrainer, n_pool: int, out_dir: str | os.PathLike[str], *,
               scores: Callable[[Path], Mapping[str, np.ndarray]], alpha: float = 0.5,
               n_models: int = 100, n_heldout: int = 30, seed: int = 1, subset_seed: int = 0,
               workers: int = 1, info: dict[str, Any] | None = None) -> dict[str, Any]:
    """Datamodels and the LDS of TracIn; writes ``out_dir/datamodels.json`` (+ ``.npz`` with
    masks, outputs, TracIn scores and datamodel weights) and returns the summary.

    ``scores(full_pool_dir)``: TracIn of the model trained on the whole pool
    (``out/full-pool``), per name (e.g. variant) ``(n_test, n_pool)`` in pool order. ``info``
    joins the summary (the use case's config and data).
    """
    from scipy import stats

    check_heldout(n_models, n_heldout)
    out = Path(out_dir)
    started = time.perf_counter()
    pool = np.arange(n_pool)
    masks = subset_masks(n_pool, alpha, n_models, subset_seed)
    jobs = [Job(out / "full-pool", pool, seed)]
    jobs += [Job(out / "subsets" / f"{j:04d}", pool[masks[j]], seed) for j in range(n_models)]
    results = run_jobs(retrain, jobs, workers, "datamodels: training")
    outputs = np.stack([r["loss"] for r in results[1:]])  # (m, n_test)
    fit, held = slice(0, n_models - n_heldout), slice(n_models - n_heldout, n_models)
    weights, intercepts, penalties = fit_datamodels(masks[fit], outputs[fit], subset_seed)
    predicted = masks[held].astype(np.float64) @ weights.T + intercepts
    lds = {"datamodel": linear_datamodeling_score(predicted, outputs[held])}
    tracin: dict[str, np.ndarray] = {}
    agreement: dict[str, float] = {}
    for name, tau in scores(out / "full-pool").items():
        tau = np.asarray(tau, np.float64)  # (n_test, n_pool)
        tracin[name] = tau
        # proponents present lower the loss: the loss TracIn predicts is minus their sum
        lds[name] = linear_datamodeling_score(-(masks[held].astype(np.float64) @ tau.T),
                                              outputs[held])
        agreement[name] = float(np.nanmean([
            stats.spearmanr(-weights[e], tau[e]).statistic for e in range(len(tau))
            if np.ptp(weights[e]) > 0]))
    summary: dict[str, Any] = {
        **(info or {}),
        "subset_size": int(masks[0].sum()),
        "lds": {name: {"mean": mean_se(v[np.isfinite(v)])[0],
                       "se": mean_se(v[np.isfinite(v)])[1], "n_events": int(np.isfinite(v).sum())}
                for name, v in lds.items()},
        "tracin_vs_datamodel_weights_spearman": agreement,
        "datamodel_nonzero_weights": float((weights != 0).sum(1).mean()),
        "datamodel_penalty_median": float(np.median(penalties)),
        "output_spread": float(outputs.std(0).mean()),
        "seconds": time.perf_counter() - started,
    }
    with atomic_path(out / "datamodels.npz") as tmp, open(tmp, "wb") as handle:
        np.savez(handle, masks=masks, outputs=outputs, weights=weights, intercepts=intercepts,
                 **{f"tracin_{v.replace('-', '_')}": s for v, s in tracin.items()},
                 **{f"lds_{k.replace('-', '_')}": v for k, v in lds.items()})
    write_json_atomic(out / "datamodels.json", summary)
    return summary


# -- kappa pruning -----------------------------------------------------------------------------
def prune_rows(scores: np.ndarray, kappa: float, mode: str, seed: int = 0,
               labels: np.ndarray | None = None) -> np.ndarray:
    """Positions removed, sorted: the fraction ``kappa`` with the highest scores (``"high"``,
    ties: lower position first), the lowest (``"low"``) or a seeded random draw
    (``"random"``). With ``labels`` the cut is made within each class (``round(kappa n_c)``
    of class ``c``), so pruning does not change the class balance."""
    if mode not in PRUNE_MODES:
        raise HepxaiError(f"unknown pruning mode {mode!r}; choose from {', '.join(PRUNE_MODES)}")
    if not 0 < kappa < 1:
        raise HepxaiError(f"kappa {kappa}: prune a fraction between 0 and 1")
    groups = [np.arange(scores.size)] if labels is None else \
        [np.flatnonzero(labels == c) for c in np.unique(labels)]
    rng = np.random.default_rng(seed)
    removed = []
    for members in groups:  # one or more classes
        m = int(round(kappa * members.size))
        if mode == "random":
            removed.append(rng.choice(members, m, replace=False))
            continue
        values = scores[members]
        order = np.lexsort((members, -values if mode == "high" else values))
        removed.append(members[order[:m]])
    out = np.sort(np.concatenate(removed))
    if not 1 <= out.size < scores.size:
        raise HepxaiError(f"kappa {kappa} prunes {out.size} of {scores.size} examples; prune "
                          "between one example and all but one")
    return out


def kappa_pruning(retrain: Retrainer, n_pool: int, out_dir: str | os.PathLike[str], *,
                  scores: Callable[[Path, dict[str, np.ndarray]], np.ndarray],
                  metrics: Callable[[dict[str, np.ndarray]], dict[str, float]],
                  fractions: Sequence[float] = (0.1, 0.3), seed: int = 1, n_random: int = 1,
                  labels: np.ndarray | None = None,
                  removed_info: Callable[[np.ndarray], dict[str, Any]] | None = None
                  ) -> dict[str, Any]:
    """Prune by score and retrain: the base model on the whole pool (``out/base``), its
    ``scores(base_dir, base_result)`` ``(n_pool,)``, and per fraction the highest, the lowest
    and ``n_random`` random draws removed (within each class of ``labels`` when given),
    retrained from ``seed``. Returns ``{"rows": [{"kappa", "mode", "removed",
    **removed_info(removed), **metrics(result)}], "score_quantiles", "n_pool"}``; the first row
    is the base model (``kappa`` 0, mode ``"none"``)."""
    out = Path(out_dir)
    pool = np.arange(n_pool)
    base = run_job(retrain, Job(out / "base", pool, seed))
    values = np.asarray(scores(out / "base", base), np.float64)
    if values.shape != (n_pool,):
        raise HepxaiError(f"kappa pruning needs one score per pool example ({n_pool}), got "
                          f"shape {values.shape}")

    def extra(drop: np.ndarray) -> dict[str, Any]:
        return removed_info(drop) if removed_info is not None else {}

    rows: list[dict[str, Any]] = [{"kappa": 0.0, "mode": "none", "removed": 0,
                                   **extra(np.zeros(0, np.int64)), **metrics(base)}]
    for kappa in fractions:
        for mode in PRUNE_MODES:
            for j in range(n_random if mode == "random" else 1):
                drop = prune_rows(values, kappa, mode, seed=seed * 1000 + j, labels=labels)
                tag = f"kappa{kappa:g}-{mode}" + (f"{j}" if mode == "random" else "") + \
                    ("-per-class" if labels is not None else "")
                result = run_job(retrain, Job(out / tag, np.setdiff1d(pool, drop), seed))
                rows.append({"kappa": kappa, "mode": mode, "removed": int(drop.size),
                             **extra(drop), **metrics(result)})
    return {"n_pool": n_pool, "rows": rows,
            "score_quantiles": {f"{q:g}": float(np.quantile(values, q))
                                for q in (0.0, 0.5, 0.9, 1.0)}}


__all__ = ["PRUNE_MODES", "Job", "LSORPlan", "Retrainer", "datamodels", "default_workers",
           "fit_datamodels", "kappa_pruning", "leave_some_out", "linear_datamodeling_score",
           "mean_se", "prune_rows", "random_like", "ratio", "run_job", "run_jobs",
           "subset_masks", "top_of_group"]


# -- seed stability of the random projection --------------------------------------------------
def projection_stability(stores: Sequence[Any], source: Any,
                         positions: Sequence[int] | np.ndarray | None = None, *,
                         required: float | None = None, device: str = "cpu") -> dict[str, Any]:
    """How far projected TracIn depends on its projection's seed.

    ``stores``: :class:`~hepxai.explain.influence.tracin.TracInStore` s of the full variant
    over the same checkpoints and training examples with the same projection dimension and
    different projection seeds (``hepxai influence ... precompute --variant full
    --projection-seed S``). Every store scores the test examples ``positions`` of ``source``;
    per test example the Spearman correlation of two seeds' (signed) scores over the training
    examples, averaged over the pairs of seeds, with its bootstrap interval over the test
    examples (:func:`hepxai.explain.judging.sanity.agreement_of_runs`). Averaging the scores of
    ``k`` independent projections of dimension ``d`` has the variance of one projection of
    ``k d``, so ``dims_needed = seeds_needed * d`` is the projection dimension the
    ``required`` agreement asks for (Spearman-Brown; the returned ``split_half`` measures it).
    """
    from hepxai.explain.judging.sanity import REQUIRED_AGREEMENT, agreement_of_runs

    stores = list(stores)
    if len(stores) < 2:
        raise HepxaiError(f"projection stability needs at least two stores, got {len(stores)}")
    first = stores[0]
    for store in stores:
        if store.variant != "full" or store.projection_dim == 0:
            raise HepxaiError(f"{store.directory}: not a projected store (variant "
                              f"{store.variant}, projection dimension {store.projection_dim}); "
                              "precompute with --variant full --projection-dim D")
        same = (store.projection_dim == first.projection_dim
                and store.train == first.train
                and [c.path for c in store.checkpoints] == [c.path for c in first.checkpoints])
        if not same:
            raise HepxaiError(f"{store.directory}: another projection dimension, training set "
                              f"or checkpoints than {first.directory}; compare stores that "
                              "differ only in --projection-seed")
    seeds = [store.projection_seed for store in stores]
    if len(set(seeds)) != len(seeds):
        raise HepxaiError(f"the stores share projection seeds ({seeds}); precompute each with "
                          "its own --projection-seed")
    scores = np.stack([store.scores(source, positions, device=device) for store in stores])
    found = agreement_of_runs(scores, np.ones(scores.shape[1:], bool), seeds,
                              required=REQUIRED_AGREEMENT if required is None else required,
                              samples=first.projection_dim, method="tracin-full",
                              absolute=False)
    found["projection_dim"] = first.projection_dim
    found["dims_needed"] = found.pop("samples_needed")
    return found
