"""Is graph TracIn right? Leave-some-out retraining (LSOR) and kappa pruning of the dark-jet
graph taggers.

* **LSOR** (poster): per seed, train a base tagger on the pool, take a set of test jets, remove
  the union of their top-``k`` TracIn proponents from the pool, retrain from scratch with the
  same seed and measure the change of the test jets' mean BCE loss; compare with removing as
  many random pool jets (``n_random`` draws), by default with the proponents' class
  composition. Over the seeds: mean change, standard error, and the ratio proponents / random
  with its propagated error (:func:`hepxai.usecases.muon.influence_validation._ratio`, the muon
  study's statistics).
* **Kappa pruning**: score every pool jet by its step-weighted gradient-vector norm
  (:meth:`GraphTracIn.gradient_norms`), prune the fraction ``kappa`` with the highest scores,
  the lowest, and at random, retrain each and compare test AUC and loss in one table.

Retrainings run one after another in this process (small models on a shared machine gain
nothing from parallel processes and a second heavy process only slows the first). Each leaves
``result.npz`` and ``job.json`` in its directory, so an interrupted study resumes and a
finished model is reused only for the same settings.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hepxai.core.atomic import atomic_path, write_json_atomic
from hepxai.core.errors import HepxaiError
from hepxai.metrics.classification import roc_auc
from hepxai.usecases.darkjet.graphs import GraphSet
from hepxai.usecases.darkjet.influence import GraphTracIn, head_features, run_graph_checkpoints
from hepxai.usecases.muon.influence_validation import _mean_se, _ratio

PRUNE_MODES = ("high", "low", "random")
SELECTIONS = ("similar", "random")


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


def _digest(rows: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(rows, np.int64).tobytes()).hexdigest()


def retrain(study: StudyGraphs, rows: np.ndarray, out_dir: str | Path, seed: int,
            how: Retrain = Retrain()) -> dict[str, np.ndarray]:
    """Train ``how.model`` from scratch (seed ``seed``) on the pool jets ``rows``; returns the
    final model's test ``logits`` ``(n_test,)`` and ``seconds``. Reused when ``out_dir`` holds
    the same job finished; one-line error when it holds another."""
    from hepxai.usecases.darkjet.models import create
    from hepxai.usecases.darkjet.task import JetSet, train

    out = Path(out_dir)
    rows = np.sort(np.asarray(rows, np.int64))
    if rows.size == 0:
        raise HepxaiError("every training jet was removed; remove fewer")
    signature = {**asdict(how), "seed": seed, "rows": _digest(rows), "n_rows": int(rows.size),
                 "test": _digest(study.test.jet_rows), **study.identity}
    saved, result_path = out / "job.json", out / "result.npz"
    if saved.is_file() and json.loads(saved.read_text()) != signature:
        raise HepxaiError(f"{out} holds a model trained with other settings; choose another "
                          "--out or delete it")
    if saved.is_file() and result_path.is_file():
        with np.load(result_path) as done:
            return {k: done[k] for k in done.files}
    if (out / "checkpoints").exists():  # an interrupted job: start it again cleanly
        for path in (out / "checkpoints").glob("epoch_*.pt"):
            path.unlink()
    write_json_atomic(saved, signature)
    model = create(how.model, how.preset, seed=seed, **how.config)
    started = time.perf_counter()
    train(model, JetSet(study.pool, rows=rows), JetSet(study.monitor), out, seed=seed,
          epochs=how.epochs, data_identity={"rows": signature["rows"]})
    seconds = time.perf_counter() - started
    _, logits = head_features(model, study.test)
    result = {"logits": logits.double().numpy(), "seconds": np.float64(seconds)}
    with atomic_path(result_path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **result)
    return result


def bce(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-jet ``BCEWithLogits`` ``(n,)`` float64 (the training loss, nats)."""
    return nn.functional.binary_cross_entropy_with_logits(
        torch.as_tensor(logits, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64),
        reduction="none").numpy()


def base_tracin(study: StudyGraphs, out_dir: Path, seed: int, how: Retrain
                ) -> tuple[dict[str, np.ndarray], GraphTracIn]:
    """The base model on the whole pool and its TracIn precompute (``n_checkpoints`` spread
    over the run)."""
    base = retrain(study, np.arange(len(study.pool)), out_dir, seed, how)
    checkpoints = run_graph_checkpoints(out_dir, None, how.n_checkpoints)
    return base, GraphTracIn.precompute(checkpoints, study.pool)


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


def random_like(labels: np.ndarray, removed: np.ndarray, rng: np.random.Generator,
                match_class: bool = True) -> np.ndarray:
    """As many random pool positions as ``removed`` (sorted); with ``match_class`` as many
    of each class as ``removed`` holds."""
    if not match_class:
        return np.sort(rng.choice(labels.size, removed.size, replace=False))
    parts = [rng.choice(np.flatnonzero(labels == c), int((labels[removed] == c).sum()),
                        replace=False) for c in np.unique(labels)]
    return np.sort(np.concatenate(parts))


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
    h, _ = head_features(model, study.test)
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
    if not config.seeds:
        raise HepxaiError("no seeds given; use at least one (two for an uncertainty)")
    if config.k < 1:
        raise HepxaiError(f"--top-k {config.k}: remove at least one proponent per test jet")
    out, how = Path(out_dir), config.retrain
    started = time.perf_counter()
    per_seed: list[dict[str, Any]] = []
    for s in config.seeds:
        base, tracin = base_tracin(study, out / f"seed{s}" / "base", s, how)
        model = final_model(out / f"seed{s}" / "base")
        test = select_test_jets(study, model, config.n_test, config.selection, s)
        influence = tracin.influence(study.test, test, k=config.k)
        removed = np.unique(influence.proponent_ids)
        if removed.size >= len(study.pool):
            raise HepxaiError("the proponents cover the whole pool; lower --top-k")
        y = study.test.y[test]
        before = bce(base["logits"][test], y)
        pool = np.arange(len(study.pool))
        after = retrain(study, np.setdiff1d(pool, removed), out / f"seed{s}" / "minus-proponents",
                        s, how)
        rng = np.random.default_rng([s, 1])
        random_deltas = []
        for j in range(config.n_random):
            drop = random_like(study.pool.y, removed, rng, config.match_class)
            r = retrain(study, np.setdiff1d(pool, drop), out / f"seed{s}" / f"minus-random{j}",
                        s, how)
            random_deltas.append(float(bce(r["logits"][test], y).mean() - before.mean()))
        per_seed.append({
            "seed": s, "test_jets": test.tolist(), "removed": int(removed.size),
            "removed_signal_share": float(study.pool.y[removed].mean()),
            "test_signal_share": float(y.mean()), "base_loss": float(before.mean()),
            "delta_proponents": float(bce(after["logits"][test], y).mean() - before.mean()),
            "delta_random": random_deltas})
    proponents = [p["delta_proponents"] for p in per_seed]
    random = [float(np.mean(p["delta_random"])) for p in per_seed]
    summary = {"config": {**asdict(config), "seeds": list(config.seeds)},
               "data": study.identity, "n_pool": len(study.pool), "per_seed": per_seed,
               "random": dict(zip(("delta_mean", "delta_se"), _mean_se(random), strict=True)),
               "proponents": _ratio(proponents, random),
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
    for members in groups:  # one or two classes
        m = int(round(kappa * members.size))
        if mode == "random":
            removed.append(rng.choice(members, m, replace=False))
            continue
        values = scores[members]
        order = np.lexsort((members, -values if mode == "high" else values))
        removed.append(members[order[:m]])
    out = np.sort(np.concatenate(removed))
    if not 1 <= out.size < scores.size:
        raise HepxaiError(f"kappa {kappa} prunes {out.size} of {scores.size} jets; prune between "
                          "one jet and all but one")
    return out


def _metrics(logits: np.ndarray, y: np.ndarray) -> dict[str, float]:
    return {"auc": float(roc_auc(y, logits)), "loss": float(bce(logits, y).mean()),
            "accuracy": float(np.mean((logits > 0) == (y > 0.5)))}


def kappa_pruning(study: StudyGraphs, out_dir: str | Path,
                  config: KappaConfig | None = None) -> dict[str, Any]:
    """Prune by gradient-norm score and retrain; writes ``out_dir/kappa.json``."""
    config = config or KappaConfig()
    out, how, s = Path(out_dir), config.retrain, config.seed
    started = time.perf_counter()
    base, tracin = base_tracin(study, out / "base", s, how)
    scores = tracin.gradient_norms()
    y = study.test.y
    rows: list[dict[str, Any]] = [{"kappa": 0.0, "mode": "none", "removed": 0,
                                   "removed_signal_share": float("nan"),
                                   **_metrics(base["logits"], y)}]
    for kappa in config.fractions:
        for mode in PRUNE_MODES:
            for j in range(config.n_random if mode == "random" else 1):
                drop = prune_rows(scores, kappa, mode, seed=s * 1000 + j,
                                  labels=study.pool.y if config.per_class else None)
                tag = f"kappa{kappa:g}-{mode}" + (f"{j}" if mode == "random" else "") + \
                    ("-per-class" if config.per_class else "")
                result = retrain(study, np.setdiff1d(np.arange(len(study.pool)), drop),
                                 out / tag, s, how)
                rows.append({"kappa": kappa, "mode": mode, "removed": int(drop.size),
                             "removed_signal_share": float(study.pool.y[drop].mean()),
                             **_metrics(result["logits"], y)})
    summary = {"config": asdict(replace(config, fractions=tuple(config.fractions))),
               "data": study.identity, "n_pool": len(study.pool), "n_test": len(study.test),
               "score": "step-weighted gradient norm of the last layer (sqrt self-influence)",
               "score_quantiles": {f"{q:g}": float(np.quantile(scores, q))
                                   for q in (0.0, 0.5, 0.9, 1.0)},
               "rows": rows, "seconds": time.perf_counter() - started}
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
