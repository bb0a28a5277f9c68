"""TracIn for the dark-jet graph taggers (ResGNN, GATv2): last-layer variant, exact.

The taggers output one logit ``z = w . h + b`` from their final ``Linear(d, 1)`` (the model's
:attr:`~hepxai.usecases.darkjet.models.DarkJetModel.head`, ``h`` its input, ``d`` the hidden
width) and train with ``BCEWithLogits``. The loss gradient of one jet with respect to ``(w, b)`` is

    grad l = (sigmoid(z) - y) [h, 1]                                   (d + 1,)

so with ``e = sigmoid(z) - y`` (the error term, in probability units)

    TracIn(train i, test j) = sum_c lr_c  e_ci e_cj (h_ci . h_cj + 1)

over the checkpoints ``c`` with the step size ``lr_c`` of their epoch (the ``learning_rate`` the
training loop stores: the mean over the epoch's steps). Scores are in loss units; positive =
proponent (a step on ``i`` lowers the loss of ``j``), negative = opponent.

Precompute (:meth:`GraphTracIn.precompute`): per checkpoint one batched pass over the training
graphs gives ``h`` and ``e``; the store keeps the gradients themselves, ``e [h, 1]``,
concatenated over checkpoints: ``(n_train, C (d + 1))`` float32. A query scales the test side by
``lr_c`` and is one matrix product per chunk of training jets, with a running top-k. The
self-influence ``sum_c lr_c e_c^2 (|h_c|^2 + 1)`` is the (step-weighted) squared gradient norm,
the score kappa pruning cuts on.

For these taggers ``h`` is a ReLU output (``h >= 0``), so ``h . h' + 1 > 0`` and the sign of a
score is the sign of ``e_i e_j``: a proponent always has the test jet's class (its error has
the same sign) and an opponent the other class. Within a class the ranking is by
``|e_i| (h_i . h_j + 1)``: hard, uncertain training jets with similar features come first.

The category study (:func:`category_study`) sorts test jets into TP / FP / FN / TN at the
probability threshold 0.5 (signal = dark-photon jet) and summarises who their proponents are:
same class or not, their share of noise clusters (simulator truth) against the training set's
base rate, their number of clusters.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hepxai.core.atomic import atomic_path
from hepxai.core.errors import HepxaiError
from hepxai.explain.influence.tracin import (
    DEFAULT_CHECKPOINTS,
    CheckpointRef,
    _merge_top,
    _sha256,
    describe_checkpoints,
    select_checkpoints,
)
from hepxai.explain.types import Influence
from hepxai.io.checkpoint import load_model
from hepxai.usecases.darkjet.graphs import GraphSet
from hepxai.usecases.muon.influence import CATEGORIES

METHOD = "tracin-last-layer-graph"
FORMAT = "hepxai-graph-tracin"
FORMAT_VERSION = 1
GRAPH_MODELS = ("resgnn", "gatv2")
PRECOMPUTE_BATCH = 1024
# training rows per scoring chunk: bounds the (n_test, chunk) temporary to 64 MiB at 1,024 tests
CHUNK_ROWS = 16_384
THRESHOLD = 0.5


# -- checkpoints --------------------------------------------------------------------------------
def run_graph_checkpoints(run_dir: str | os.PathLike[str], spec: str | None = None,
                          count: int = DEFAULT_CHECKPOINTS) -> list[Path]:
    """Checkpoints of a dark-jet run: ``spec`` = comma-separated epochs or paths, ``None`` =
    ``count`` spread over the run (:func:`~hepxai.explain.influence.select_checkpoints`)."""
    run = Path(run_dir)
    if not run.is_dir():
        raise HepxaiError(f"{run}: no such run directory; train one with 'hepxai train darkjet "
                          f"--out {run}'")
    if (spec is None or not spec.strip()) and not any((run / "checkpoints").glob("epoch_*.pt")):
        raise HepxaiError(f"{run}: no epoch checkpoints in {run / 'checkpoints'}; train the "
                          "model with 'hepxai train darkjet --out RUN' (it keeps one per epoch)")
    return select_checkpoints(run, spec, count)


def describe_graph_checkpoints(paths: Sequence[str | os.PathLike[str]]) -> list[CheckpointRef]:
    """Read and check the checkpoints: graph taggers of one dark-jet run, each with a positive
    learning rate. One-line :class:`HepxaiError` otherwise."""
    return describe_checkpoints(paths, use_case="darkjet", check=_check_graph_model)


def _check_graph_model(path: Path, state: dict[str, Any]) -> None:
    if state.get("model") not in GRAPH_MODELS:
        raise HepxaiError(f"{path}: a {state.get('model')} checkpoint; graph TracIn needs "
                          f"one of {', '.join(GRAPH_MODELS)}")


def check_head(model: nn.Module) -> nn.Linear:
    """The model's final ``Linear(d, 1)``; one-line error when last-layer TracIn is not exact."""
    head = getattr(model, "head", None)
    if not isinstance(head, nn.Linear) or head.out_features != 1:
        raise HepxaiError(f"{getattr(model, 'name', model)}: no Linear head with one output; "
                          "last-layer TracIn needs a dark-jet graph tagger")
    if getattr(model, "representation", "graph") != "graph":
        raise HepxaiError(f"{model.name} reads voxels; graph TracIn needs resgnn or gatv2")
    return head


# -- per-jet head features ---------------------------------------------------------------------
def head_features(model: nn.Module, graphs: GraphSet, rows: np.ndarray | None = None,
                  batch_size: int = PRECOMPUTE_BATCH,
                  device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """The head's input ``h`` ``(n, d)`` float32 and the logits ``z`` ``(n,)`` of ``rows`` of
    ``graphs`` (default all), in eval mode, one batched forward pass per ``batch_size`` jets."""
    head = check_head(model)
    rows = np.arange(len(graphs)) if rows is None else np.asarray(rows, np.int64)
    captured: list[torch.Tensor] = []
    handle = head.register_forward_hook(lambda m, inputs, out: captured.append(inputs[0]))
    model.eval()
    hs, zs = [], []
    try:
        with torch.no_grad():
            for start in range(0, rows.size, batch_size):
                batch = graphs.batch(rows[start:start + batch_size]).to(device)
                captured.clear()
                z = model(batch.x, batch.edge_index, batch.edge_weight, batch.batch)
                h = captured[-1]
                # the logit must be the head's output, else the last layer is not the last
                if not torch.allclose(head(h).squeeze(-1), z, rtol=1e-5, atol=1e-6):
                    raise HepxaiError(f"{model.name}: its output is not its head's output; "
                                      "last-layer TracIn does not apply")
                hs.append(h.float().cpu())
                zs.append(z.float().cpu())
    finally:
        handle.remove()
    d = head.in_features
    return (torch.cat(hs) if hs else torch.zeros(0, d)), (torch.cat(zs) if zs else torch.zeros(0))


def last_layer_gradients(h: torch.Tensor, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-jet gradient of ``BCEWithLogits(z, y)`` wrt the head's ``(weight, bias)``:
    ``(sigmoid(z) - y) [h, 1]`` ``(n, d + 1)`` (weight columns first, then the bias)."""
    error = torch.sigmoid(z) - y
    ones = torch.ones(len(h), 1, dtype=h.dtype)
    return error[:, None] * torch.cat([h, ones], dim=1)


# -- the precomputed training side -------------------------------------------------------------
@dataclass
class GraphTracIn:
    """Last-layer TracIn of a graph tagger, training side precomputed.

    Attributes:
        checkpoints: the checkpoints, in order, with their learning rates.
        rows: positions of the training jets in the training :class:`GraphSet` ``(n_train,)``.
        labels: their labels ``(n_train,)`` (1 = dark photon).
        grads: float32 ``(n_train, C (d + 1))``: per checkpoint ``e [h, 1]``, concatenated.
        timings: seconds and jets/s per checkpoint of the precompute.
        params: what the result files record (data file, graph settings).
    """

    checkpoints: list[CheckpointRef]
    rows: np.ndarray
    labels: np.ndarray
    grads: np.ndarray
    timings: list[dict[str, float]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    _models: list[nn.Module] | None = field(default=None, repr=False)

    @property
    def n_train(self) -> int:
        return int(self.rows.size)

    @property
    def dim(self) -> int:
        """Gradient length per checkpoint, ``d + 1``."""
        return self.grads.shape[1] // len(self.checkpoints)

    @property
    def learning_rates(self) -> np.ndarray:
        return np.array([c.learning_rate for c in self.checkpoints], np.float64)

    @classmethod
    def precompute(cls, checkpoints: Sequence[str | os.PathLike[str]], graphs: GraphSet,
                   rows: np.ndarray | None = None, batch_size: int = PRECOMPUTE_BATCH,
                   device: str = "cpu", params: dict[str, Any] | None = None) -> GraphTracIn:
        """One batched pass over the training graphs ``rows`` (default all) per checkpoint."""
        refs = describe_graph_checkpoints(checkpoints)
        rows = np.arange(len(graphs)) if rows is None else np.asarray(rows, np.int64)
        if rows.size == 0:
            raise HepxaiError("no training jets selected; select at least one")
        models = [load_model(r.path, device=device, use_case="darkjet") for r in refs]
        y = torch.from_numpy(graphs.y[rows].astype(np.float32))
        parts, timings = [], []
        for ref, model in zip(refs, models, strict=True):
            started = time.perf_counter()
            h, z = head_features(model, graphs, rows, batch_size, device)
            parts.append(last_layer_gradients(h, z, y))
            seconds = time.perf_counter() - started
            timings.append({"epoch": ref.epoch, "seconds": seconds,
                            "jets_per_second": rows.size / seconds if seconds > 0 else math.nan})
        grads = torch.cat(parts, dim=1).numpy()
        return cls(refs, rows, graphs.y[rows].astype(np.float32), np.ascontiguousarray(grads),
                   timings, dict(params or {}), models)

    # -- queries -------------------------------------------------------------------------------
    def models(self, device: str = "cpu") -> list[nn.Module]:
        """The checkpoints' models (loaded once)."""
        if self._models is None:
            self._models = [load_model(r.path, device=device, use_case="darkjet")
                            for r in self.checkpoints]
        return self._models

    def test_gradients(self, graphs: GraphSet, rows: np.ndarray, batch_size: int =
                       PRECOMPUTE_BATCH, device: str = "cpu") -> torch.Tensor:
        """Test side ``(b, C (d + 1))``: per checkpoint ``lr_c e [h, 1]`` (``lr`` folded in, so a
        score is one dot product with a stored row)."""
        rows = np.asarray(rows, np.int64)
        y = torch.from_numpy(graphs.y[rows].astype(np.float32))
        parts = []
        for ref, model in zip(self.checkpoints, self.models(device), strict=True):
            h, z = head_features(model, graphs, rows, batch_size, device)
            if h.shape[1] + 1 != self.dim:
                raise HepxaiError(f"{ref.path}: head input has {h.shape[1]} features, the "
                                  f"precompute {self.dim - 1}; precompute again")
            parts.append(ref.learning_rate * last_layer_gradients(h, z, y))
        return torch.cat(parts, dim=1)

    def _scan(self, query: torch.Tensor, k: int | None, keep: bool
              ) -> tuple[np.ndarray | None, tuple[torch.Tensor, ...] | None]:
        """Score ``query (b, C (d + 1))`` against the store chunk by chunk: the full matrix
        ``(b, n_train)`` when ``keep``, and/or the running top-``k`` both ways."""
        train = torch.from_numpy(self.grads)
        matrix = np.empty((len(query), self.n_train), np.float32) if keep else None
        best = worst = None
        for start in range(0, self.n_train, CHUNK_ROWS):
            stop = min(self.n_train, start + CHUNK_ROWS)
            scores = query @ train[start:stop].T
            if matrix is not None:
                matrix[:, start:stop] = scores.numpy()
            if k:
                best = _merge_top(best, scores, start, k, largest=True)
                worst = _merge_top(worst, scores, start, k, largest=False)
        return matrix, (None if not k else (*best, *worst))

    def scores(self, graphs: GraphSet, rows: Sequence[int] | np.ndarray,
               device: str = "cpu") -> np.ndarray:
        """The full score matrix ``(n_test, n_train)`` float32, columns in :attr:`rows` order."""
        rows = _check_rows(graphs, rows)
        matrix, _ = self._scan(self.test_gradients(graphs, rows, device=device), None, True)
        assert matrix is not None
        return matrix

    def influence(self, graphs: GraphSet, rows: Sequence[int] | np.ndarray, k: int = 10,
                  device: str = "cpu", params: dict[str, Any] | None = None) -> Influence:
        """Top-``k`` proponents (highest first) and opponents (lowest first) of the test jets
        ``rows`` of ``graphs``: :class:`Influence` with training-set rows as ids."""
        if k < 1:
            raise HepxaiError(f"k = {k}: ask for at least 1 proponent and opponent")
        rows = _check_rows(graphs, rows)
        k = min(k, self.n_train)
        _, top = self._scan(self.test_gradients(graphs, rows, device=device), k, False)
        assert top is not None
        p_ids, p_scores = sorted_top(top[0], top[1], descending=True)
        o_ids, o_scores = sorted_top(top[2], top[3], descending=False)
        return Influence(test_ids=rows, method=METHOD,
                         params={**self.describe(), "k": k, **(params or {})},
                         proponent_ids=self.rows[p_ids], proponent_scores=p_scores,
                         opponent_ids=self.rows[o_ids], opponent_scores=o_scores)

    def self_influence(self) -> np.ndarray:
        """TracIn(i, i) ``(n_train,)`` float64: ``sum_c lr_c |grad_c|^2`` (loss units)."""
        squared = self.grads.astype(np.float64) ** 2
        per_checkpoint = squared.reshape(self.n_train, len(self.checkpoints), self.dim).sum(2)
        return per_checkpoint @ self.learning_rates

    def gradient_norms(self) -> np.ndarray:
        """Step-weighted gradient-vector norm ``sqrt(self-influence)`` ``(n_train,)``."""
        return np.sqrt(self.self_influence())

    def describe(self) -> dict[str, Any]:
        return {"checkpoints": [c.path for c in self.checkpoints],
                "epochs": [c.epoch for c in self.checkpoints],
                "learning_rates": self.learning_rates.tolist(), "n_train": self.n_train,
                **self.params}

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """One ``.npz`` (rows, labels, grads and a JSON manifest), written atomically."""
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION,
                "checkpoints": [asdict(c) for c in self.checkpoints], "timings": self.timings,
                "params": self.params}
        path = Path(path)
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, __meta__=np.frombuffer(json.dumps(meta).encode(), np.uint8),
                     rows=self.rows, labels=self.labels, grads=self.grads)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], verify: bool = True) -> GraphTracIn:
        """Read a saved precompute; with ``verify`` the checkpoints must be unchanged."""
        path = Path(path)
        if not path.is_file():
            raise HepxaiError(f"{path}: no graph TracIn precompute here; run 'hepxai influence "
                              "darkjet precompute' first")
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(bytes(data["__meta__"]).decode())
                arrays = {k: data[k] for k in ("rows", "labels", "grads")}
        except (OSError, ValueError, KeyError) as exc:
            raise HepxaiError(f"{path}: not a readable graph TracIn precompute "
                              f"({type(exc).__name__}); precompute again") from None
        if meta.get("format") != FORMAT:
            raise HepxaiError(f"{path}: not a graph TracIn precompute; choose another --store")
        refs = [CheckpointRef(**c) for c in meta["checkpoints"]]
        if verify:
            for ref in refs:
                if not Path(ref.path).is_file() or _sha256(Path(ref.path)) != ref.sha256:
                    raise HepxaiError(f"{ref.path}: checkpoint missing or changed since the "
                                      "precompute; run precompute again")
        return cls(refs, arrays["rows"], arrays["labels"], arrays["grads"], meta["timings"],
                   meta["params"])


def _check_rows(graphs: GraphSet, rows: Sequence[int] | np.ndarray) -> np.ndarray:
    rows = np.atleast_1d(np.asarray(rows, np.int64))
    if rows.size == 0 or rows.min() < 0 or rows.max() >= len(graphs):
        raise HepxaiError(f"test jets must be within 0..{len(graphs) - 1}")
    return rows


def sorted_top(values: torch.Tensor, index: torch.Tensor,
               descending: bool) -> tuple[np.ndarray, np.ndarray]:
    """Sort each row of a running top-k by score (ties: lower training position first),
    vectorised: a stable sort by position, then a stable sort by score."""
    v, i = values.numpy(), index.numpy().astype(np.int64)
    by_index = np.argsort(i, axis=1, kind="stable")
    v, i = np.take_along_axis(v, by_index, 1), np.take_along_axis(i, by_index, 1)
    by_score = np.argsort(-v if descending else v, axis=1, kind="stable")
    return np.take_along_axis(i, by_score, 1), np.take_along_axis(v, by_score, 1)


# -- TP / FP / FN / TN -------------------------------------------------------------------------
def tagger_categories(y: np.ndarray, logits: np.ndarray,
                      threshold: float = THRESHOLD) -> np.ndarray:
    """``"TP"/"FP"/"FN"/"TN"`` per jet ``(n,)``: positive = dark photon (``y = 1``), selected =
    ``sigmoid(logit) > threshold`` (strict)."""
    positive = np.asarray(y) > 0.5
    selected = 1.0 / (1.0 + np.exp(-np.asarray(logits, np.float64))) > threshold
    out = np.where(positive, np.where(selected, "TP", "FN"), np.where(selected, "FP", "TN"))
    return out.astype("<U2")


def noise_fraction(graphs: GraphSet) -> np.ndarray:
    """Share of noise clusters among each graph's nodes ``(n,)`` (every graph has a node)."""
    counts = np.add.reduceat(graphs.is_noise.astype(np.int64), graphs.node_offsets[:-1])
    return counts / graphs.n_nodes


def summarise_graph_influence(influence: Influence, test_labels: np.ndarray,
                              train: GraphSet, train_rows: np.ndarray) -> dict[str, Any]:
    """Who the proponents and opponents of a set of test jets are, against the training set.

    Returns a JSON-ready dict: mean proponent / opponent score, for both the share in the test
    jet's class, the mean share of noise clusters and the mean number of clusters; the training
    set's base rates (``train_*``, over ``train_rows``).
    """
    noise, size = noise_fraction(train), train.n_nodes.astype(np.float64)
    test_class = (np.asarray(test_labels) > 0.5)[:, None]
    out: dict[str, Any] = {"n_jets": int(influence.n_test)}
    for side in ("proponent", "opponent"):
        ids, scores = getattr(influence, f"{side}_ids"), getattr(influence, f"{side}_scores")
        out[f"{side}_mean_score"] = float(np.mean(scores))
        out[f"{side}_same_class"] = float(((train.y[ids] > 0.5) == test_class).mean())
        out[f"{side}_noise_share"] = float(noise[ids].mean())
        out[f"{side}_mean_clusters"] = float(size[ids].mean())
    base = train.y[train_rows] > 0.5
    out["train_same_class"] = float((base[None, :] == test_class).mean())
    out["train_noise_share"] = float(noise[train_rows].mean())
    out["train_mean_clusters"] = float(size[train_rows].mean())
    return out


def category_study(tracin: GraphTracIn, model: nn.Module, test: GraphSet, train: GraphSet, *,
                   per_category: int = 20, k: int = 10, candidates: int | None = None,
                   seed: int = 0, device: str = "cpu") -> dict[str, Any]:
    """TracIn for up to ``per_category`` test jets of each of TP / FP / FN / TN.

    The first ``candidates`` jets of ``test`` (default all) are predicted by ``model`` (the
    explained model, e.g. ``best.pt``), sorted into categories at probability 0.5 and up to
    ``per_category`` of each drawn at random (``seed``). Returns ``{"summary": ...,
    "influences": {set: Influence}, "categories": (n_candidates,) labels}``.
    """
    rng = np.random.default_rng(seed)
    positions = np.arange(len(test) if candidates is None else min(candidates, len(test)))
    _, logits = head_features(model, test, positions, device=device)
    categories = tagger_categories(test.y[positions], logits.numpy())
    summary: dict[str, Any] = {"threshold": THRESHOLD, "candidates": int(positions.size),
                               "k": k, "category_counts": {c: int((categories == c).sum())
                                                           for c in CATEGORIES}, "sets": {}}
    influences: dict[str, Influence] = {}
    for name in CATEGORIES:
        members = positions[categories == name]
        take = min(per_category, members.size)
        if take == 0:
            summary["sets"][name] = {"n_jets": 0}
            continue
        chosen = np.sort(rng.choice(members, take, replace=False))
        influence = tracin.influence(test, chosen, k=k, device=device, params={"set": name})
        influences[name] = influence
        summary["sets"][name] = {
            **summarise_graph_influence(influence, test.y[chosen], train, tracin.rows),
            "mean_probability": float(torch.sigmoid(logits[chosen]).mean())}
    return {"summary": summary, "influences": influences, "categories": categories}


def format_categories(summary: dict[str, Any]) -> str:
    """The category study as a markdown table."""
    lines = ["| set | jets | mean p | prop. score | opp. score | prop. same class | "
             "prop. noise share | prop. clusters |", "| --- | ---: | ---: | ---: | ---: | ---: | "
             "---: | ---: |"]
    base = None
    for name, s in summary["sets"].items():
        if not s.get("n_jets"):
            lines.append(f"| {name} | 0 | | | | | | |")
            continue
        base = s
        lines.append(f"| {name} | {s['n_jets']} | {s['mean_probability']:.3f} | "
                     f"{s['proponent_mean_score']:.3g} | {s['opponent_mean_score']:.3g} | "
                     f"{s['proponent_same_class']:.2f} | {s['proponent_noise_share']:.3f} | "
                     f"{s['proponent_mean_clusters']:.1f} |")
    if base is not None:
        lines.append(f"| training set | | | | | | {base['train_noise_share']:.3f} | "
                     f"{base['train_mean_clusters']:.1f} |")
    return "\n".join(lines)
