"""Is graph TracIn right? Leave-some-out retraining (LSOR) and kappa pruning of the dark-jet
graph taggers, by :mod:`hepxai.explain.influence.validation` over the dark-jet retraining
callback (:class:`GraphRetrain`).

* **LSOR** (poster): per seed, train a base tagger on the pool, take a set of test jets, remove
  the union of their top-``k`` TracIn proponents from the pool, retrain from scratch with the
  same seed and measure the change of the test jets' mean BCE loss; compare with removing as
  many random pool jets (``n_random`` draws), by default with the proponents' class
  composition. Over the seeds: mean change, standard error, and the ratio proponents / random
  with its propagated error (the muon study's statistics).
* **Kappa pruning**: score every pool jet by its step-weighted gradient-vector norm
  (:meth:`~hepxai.explain.influence.TracInStore.gradient_norms`), prune the fraction ``kappa``
  with the highest scores, the lowest, and at random, retrain each and compare test AUC and
  loss in one table.

Retrainings run one after another in this process (small models on a shared machine gain
nothing from parallel processes and a second heavy process only slows the first). Each leaves
``result.npz`` and ``job.json`` in its directory, so an interrupted study resumes and a
finished model is reused only for the same settings.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hepxai.core.atomic import write_json_atomic
from hepxai.core.errors import HepxaiError
from hepxai.explain.influence import validation
from hepxai.explain.influence.checkpoints import select_checkpoints
from hepxai.explain.influence.tracin import TracInStore, head_features
from hepxai.explain.influence.validation import (
    Job,
    LSORPlan,
    digest,
    leave_some_out,
    prune_rows,
    random_like,
    run_job,
)
from hepxai.explain.types import NO_ID
from hepxai.metrics.classification import auc_standard_error, roc_auc
from hepxai.usecases.darkjet.graphs import GraphSet
from hepxai.usecases.darkjet.influence import logits_of
from hepxai.usecases.darkjet.task import JetGradients, jet_bce

SELECTIONS = ("similar", "random")
__all__ = ["GraphLSORConfig", "GraphRetrain", "KappaConfig", "Retrain", "StudyGraphs",
           "format_kappa", "format_lsor", "kappa_pruning", "load_study_graphs", "lsor_graphs",
           "prune_rows", "random_like", "retrain"]


@dataclass
class StudyGraphs:
    """The graphs a study uses: the training pool, the jets that monitor training each epoch,
    and the test jets whose loss / AUC is measured."""

    pool: GraphSet
    monitor: GraphSet
    test: GraphSet
    identity: dict[str, Any] = field(default_factory=dict)  # data file, graph settings


@dataclass(frozen=True)
class Retrain:
    """How every model of a study is trained (small ResGNN by default)."""

    model: str = "resgnn"
    preset: str = "quick"
    epochs: int | None = 3
    config: dict[str, Any] = field(default_factory=dict)
    n_checkpoints: int = 3


@dataclass
class GraphRetrain:
    """The retraining callback: ``how.model`` from scratch on pool jets, evaluated on every
    test jet (``loss`` = per-jet BCE, ``logits``)."""

    study: StudyGraphs
    how: Retrain = field(default_factory=Retrain)

    def signature(self) -> dict[str, Any]:
        return {**asdict(self.how), "test": digest(self.study.test.jet_rows),
                **self.study.identity}

    def __call__(self, rows: np.ndarray, out_dir: Path, seed: int) -> dict[str, np.ndarray]:
        from hepxai.usecases.darkjet.models import create
        from hepxai.usecases.darkjet.task import JetSet, train

        if (out_dir / "checkpoints").exists():  # an interrupted job: start it again cleanly
            for path in (out_dir / "checkpoints").glob("epoch_*.pt"):
                path.unlink()
        model = create(self.how.model, self.how.preset, seed=seed, **self.how.config)
        started = time.perf_counter()
        train(model, JetSet(self.study.pool, rows=rows), JetSet(self.study.monitor), out_dir,
              seed=seed, epochs=self.how.epochs, data_identity={"rows": digest(rows)})
        seconds = time.perf_counter() - started
        logits = logits_of(model, self.study.test).astype(np.float64)
        return {"logits": logits, "loss": bce(logits, self.study.test.y),
                "seconds": np.float64(seconds)}


def retrain(study: StudyGraphs, rows: np.ndarray, out_dir: str | Path, seed: int,
            how: Retrain = Retrain()) -> dict[str, np.ndarray]:
    """Train ``how.model`` from scratch (seed ``seed``) on the pool jets ``rows``; returns the
    final model's test ``logits`` ``(n_test,)``, ``loss`` and ``seconds``. Reused when
    ``out_dir`` holds the same job finished; one-line error when it holds another."""
    if np.asarray(rows).size == 0:
        raise HepxaiError("every training jet was removed; remove fewer")
    return run_job(GraphRetrain(study, how), Job(Path(out_dir), np.asarray(rows, np.int64), seed))


def bce(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-jet ``BCEWithLogits`` ``(n,)`` float64 (the training loss, nats)."""
    return jet_bce(torch.as_tensor(logits, dtype=torch.float64),
                   torch.as_tensor(y, dtype=torch.float64)).numpy()


def base_store(study: StudyGraphs, run_dir: Path, how: Retrain) -> TracInStore:
    """TracIn of a study's base run over the pool (``n_checkpoints`` spread over the run), in
    ``RUN/tracin`` (reused when done)."""
    checkpoints = select_checkpoints(run_dir, None, how.n_checkpoints, use_case="darkjet")
    return TracInStore.build(checkpoints, JetGradients(study.pool), run_dir / "tracin")


def final_model(run_dir: Path) -> nn.Module:
    """The model of a run's last epoch checkpoint (what :func:`retrain` evaluates)."""
    from hepxai.io.checkpoint import load_model, run_checkpoints

    return load_model(run_checkpoints(run_dir)[-1], use_case="darkjet")


# -- LSOR --------------------------------------------------------------------------------------
@dataclass
class GraphLSORConfig:
    """Sizes of a graph LSOR study (defaults: a few minutes on one core)."""

    n_test: int = 20
    k: int = 20
    seeds: tuple[int, ...] = (1, 2, 3)
    n_random: int = 2
    selection: str = "similar"
    # random removals with the proponents' class composition: last-layer proponents all have
    # the test jet's class, and removing jets of one class shifts the prior by itself
    match_class: bool = True
    retrain: Retrain = field(default_factory=Retrain)


def select_test_jets(study: StudyGraphs, model: nn.Module, n_test: int, selection: str,
                     seed: int) -> np.ndarray:
    """``n_test`` test jets: drawn at random, or (``"similar"``) the jets of a random anchor's
    class nearest to it in the model's head input ``h``, a coherent group whose proponents
    overlap, so removing them shows above the retraining noise."""
    if selection not in SELECTIONS:
        raise HepxaiError(f"unknown test selection {selection!r}; choose from "
                          f"{', '.join(SELECTIONS)}")
    if not 1 <= n_test <= len(study.test):
        raise HepxaiError(f"--n-test {n_test}: choose 1..{len(study.test)} test jets")
    rng = np.random.default_rng(seed)
    if selection == "random":
        return np.sort(rng.choice(len(study.test), n_test, replace=False))
    h, _ = head_features(model, JetGradients(study.test))
    anchor = int(rng.integers(len(h)))
    # of the anchor's class only: the proponents of the two classes are disjoint (see
    # hepxai.usecases.darkjet.influence), a mixed group would dilute them
    same = np.flatnonzero(study.test.y == study.test.y[anchor])
    if n_test > same.size:
        raise HepxaiError(f"--n-test {n_test}: the anchor's class has {same.size} test jets")
    distance = (h[same] - h[anchor]).norm(dim=1).numpy()
    return np.sort(same[np.argsort(distance, kind="stable")[:n_test]])


def lsor_graphs(study: StudyGraphs, out_dir: str | Path,
                config: GraphLSORConfig | None = None) -> dict[str, Any]:
    """Leave-some-out retraining; writes ``out_dir/lsor.json`` and returns the same dict.

    ``delta`` = mean BCE of the test jets after removal - with the whole pool, per seed.
    """
    config = config or GraphLSORConfig()
    if config.k < 1:
        raise HepxaiError(f"--top-k {config.k}: remove at least one proponent per test jet")
    out, how = Path(out_dir), config.retrain
    started = time.perf_counter()

    def plan(seed: int, base_dir: Path, base: dict[str, np.ndarray]) -> LSORPlan:
        store = base_store(study, base_dir, how)
        test = select_test_jets(study, final_model(base_dir), config.n_test, config.selection,
                                seed)
        influence = store.influence(JetGradients(study.test), test, k=config.k)
        removed = np.unique(influence.proponent_ids[influence.proponent_ids != NO_ID])
        if removed.size >= len(study.pool):
            raise HepxaiError("the proponents cover the whole pool; lower --top-k")
        return LSORPlan(test=test, removals={"proponents": removed}, info={
            "removed_signal_share": float(study.pool.y[removed].mean()),
            "test_signal_share": float(study.test.y[test].mean())})

    result = leave_some_out(GraphRetrain(study, how), len(study.pool), out, seeds=config.seeds,
                            plan=plan, n_random=config.n_random,
                            labels=study.pool.y if config.match_class else None)
    per_seed = [{"seed": p["seed"], "test_jets": p["test"], "removed": p["removed"]["proponents"],
                 "removed_signal_share": p["removed_signal_share"],
                 "test_signal_share": p["test_signal_share"], "base_loss": p["base_loss"],
                 "delta_proponents": p["delta"]["proponents"], "delta_random": p["delta_random"]}
                for p in result["per_seed"]]
    proponents = result["removals"]["proponents"]
    summary = {"config": {**asdict(config), "seeds": list(config.seeds)},
               "data": study.identity, "n_pool": len(study.pool), "per_seed": per_seed,
               "random": {k: result["random"][k] for k in ("delta_mean", "delta_se")},
               "proponents": {k: proponents[k] for k in ("delta_mean", "delta_se", "ratio",
                                                         "ratio_se", "difference_mean",
                                                         "difference_se")},
               "seconds": time.perf_counter() - started}
    write_json_atomic(out / "lsor.json", summary)
    return summary


def format_lsor(summary: dict[str, Any]) -> str:
    """The LSOR result as a markdown table."""
    c, p, r = summary["config"], summary["proponents"], summary["random"]
    removed = np.mean([s["removed"] for s in summary["per_seed"]])
    lines = [f"{summary['n_pool']:,} training jets, {c['n_test']} test jets ({c['selection']}), "
             f"union of top-{c['k']} proponents removed ({removed:.0f} jets on average), seeds "
             f"{', '.join(map(str, c['seeds']))}, {c['n_random']} random draws per seed", "",
             "| removal | mean change of test loss | SE |", "| --- | ---: | ---: |",
             f"| top proponents | {p['delta_mean']:+.4f} | {p['delta_se']:.4f} |",
             f"| random (same number) | {r['delta_mean']:+.4f} | {r['delta_se']:.4f} |", "",
             f"ratio proponents / random: **{p['ratio']:.2f} +- {p['ratio_se']:.2f}**; paired "
             f"difference {p['difference_mean']:+.4f} +- {p['difference_se']:.4f}"]
    return "\n".join(lines)


# -- kappa pruning -----------------------------------------------------------------------------
@dataclass
class KappaConfig:
    """A kappa-pruning study: fractions pruned, the seed, random draws per fraction."""

    fractions: tuple[float, ...] = (0.1, 0.3)
    seed: int = 1
    n_random: int = 1
    per_class: bool = True  # cut within each class: keeps the class balance of the pool
    retrain: Retrain = field(default_factory=Retrain)


def _metrics(logits: np.ndarray, y: np.ndarray) -> dict[str, float]:
    auc = float(roc_auc(y, logits))
    signal = int((y > 0.5).sum())
    return {"auc": auc, "auc_se": auc_standard_error(auc, signal, len(y) - signal),
            "loss": float(bce(logits, y).mean()),
            "accuracy": float(np.mean((logits > 0) == (y > 0.5)))}


def kappa_pruning(study: StudyGraphs, out_dir: str | Path,
                  config: KappaConfig | None = None) -> dict[str, Any]:
    """Prune by gradient-norm score and retrain; writes ``out_dir/kappa.json``."""
    config = config or KappaConfig()
    out, how = Path(out_dir), config.retrain
    started = time.perf_counter()
    y = study.test.y

    def removed_share(drop: np.ndarray) -> dict[str, float]:
        share = float(study.pool.y[drop].mean()) if drop.size else float("nan")
        return {"removed_signal_share": share}

    result = validation.kappa_pruning(
        GraphRetrain(study, how), len(study.pool), out,
        scores=lambda base_dir, base: base_store(study, base_dir, how).gradient_norms(),
        metrics=lambda r: _metrics(r["logits"], y), fractions=config.fractions,
        seed=config.seed, n_random=config.n_random,
        labels=study.pool.y if config.per_class else None, removed_info=removed_share)
    summary = {"config": asdict(replace(config, fractions=tuple(config.fractions))),
               "data": study.identity, "n_pool": len(study.pool), "n_test": len(study.test),
               "score": "step-weighted gradient norm of the last layer (sqrt self-influence)",
               "score_quantiles": result["score_quantiles"], "rows": result["rows"],
               "seconds": time.perf_counter() - started}
    write_json_atomic(out / "kappa.json", summary)
    return summary


def format_kappa(summary: dict[str, Any]) -> str:
    """The kappa table (mean over random draws shown per draw)."""
    lines = ["| kappa | pruned | jets removed | signal share removed | test AUC | test loss | "
             "accuracy |", "| ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in summary["rows"]:
        share = "" if r["mode"] == "none" else f"{r['removed_signal_share']:.2f}"
        lines.append(f"| {r['kappa']:g} | {r['mode']} | {r['removed']:,} | {share} | "
                     f"{r['auc']:.4f} | {r['loss']:.4f} | {r['accuracy']:.4f} |")
    return "\n".join(lines)


def load_study_graphs(data_dir: str | Path, settings: Any, n_train: int, n_test: int,
                      n_monitor: int = 500) -> StudyGraphs:
    """The first ``n_train`` training jets (pool), the first ``n_monitor`` validation jets and
    the first ``n_test`` test jets of a dark-jet data directory, as graphs (cached)."""
    from hepxai.usecases.darkjet.graphs import load_graphs
    from hepxai.usecases.darkjet.store import split_path

    files = {split: split_path(data_dir, split) for split in ("train", "val", "test")}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise HepxaiError(f"{missing[0]}: no such data file; simulate with 'hepxai simulate "
                          "darkjet'")
    pool = load_graphs(files["train"], settings, max_jets=n_train)
    if len(np.unique(pool.y)) < 2:
        raise HepxaiError(f"the first {n_train} training jets hold one class only; use more")
    return StudyGraphs(pool=pool, monitor=load_graphs(files["val"], settings, max_jets=n_monitor),
                       test=load_graphs(files["test"], settings, max_jets=n_test),
                       identity={"data": str(Path(files["train"]).resolve()),
                                 "graphs": settings.to_dict()})
