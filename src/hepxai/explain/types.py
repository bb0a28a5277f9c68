"""The explanation types every use case shares: :class:`Attribution`, :class:`Influence` and
:class:`TreePath`.

One attribution type serves pixels (images), features (tables), nodes and edges (graphs), in the
shape Captum returns: ``values`` has the explained inputs' shape, ``(n, *input_shape)`` for one
target and ``(n, n_targets, *input_shape)`` for a list of targets (``target_axis``). Graphs are
ragged: their node values are ``(n_nodes_total, *node_shape)`` (targets after the node axis),
with ``offsets`` ``(n_graphs + 1,)``, and their edge values an :attr:`Attribution.edges` of the
same kind. Producing and judging are separate: explainers return these objects,
:mod:`hepxai.explain.judging` scores them, the figures draw them.

All three save to and load from ``.npz`` (atomic write; parameters as JSON) so a run directory
keeps every explanation it computed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hepxai.core.atomic import atomic_path
from hepxai.core.errors import HepxaiError

KINDS = ("pixel", "feature", "node", "edge")
REDUCTIONS = ("sum", "max_abs")
FORMAT_VERSION = 2


@dataclass
class Attribution:
    """Relevance of every input item for one or more outputs of a batch of examples.

    Attributes:
        values: float32 in the explained inputs' shape: dense ``(n, *input_shape)`` for one
            target, ``(n, n_targets, *input_shape)`` with ``target_axis`` (e.g. ``(n, 2, 1, 9,
            384)`` for the two outputs of a muon model); ragged ``(n_items_total,
            *item_shape)`` / ``(n_items_total, n_targets, *item_shape)`` when ``offsets`` is
            given (graph nodes ``(n_nodes_total, n_features)``, an object mask ``(.., 1)``).
        targets: names of the explained outputs, e.g. ``("pt", "eta")`` or ``("dark_photon",)``.
        method: registry name of the method that produced it, e.g. ``"ig-binary"``.
        params: the method's parameters (steps, mode, noise rate, seed...), JSON-serialisable.
        kind: what the items are: ``"pixel"``, ``"feature"``, ``"node"`` or ``"edge"``.
        offsets: int64 ``(n + 1,)`` for ragged values, else ``None``.
        outputs: model output at the inputs, ``(n, n_targets)``, in the units the method
            explains (the quantity completeness refers to), or ``None``.
        baseline_outputs: model output at the baseline, ``(n, n_targets)``, or ``None``.
        event_ids: int64 ``(n,)``: the examples' rows in their dataset, or ``None``.
        item_names: names of the items for tabular data (feature names), or ``None``.
        target_axis: whether ``values`` carries the target axis (a list of targets was asked).
        reduction: how an item's relevance is made from its values over channels or node
            features (:meth:`items`): ``"sum"`` (additive methods: completeness carries over) or
            ``"max_abs"`` (saliency: Simonyan et al.'s maximum over channels).
        edges: the edge attribution of a graph attribution (``kind="edge"``), or ``None``.
    """

    values: np.ndarray
    targets: tuple[str, ...]
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    kind: str = "pixel"
    offsets: np.ndarray | None = None
    outputs: np.ndarray | None = None
    baseline_outputs: np.ndarray | None = None
    event_ids: np.ndarray | None = None
    item_names: tuple[str, ...] | None = None
    target_axis: bool = True
    reduction: str = "sum"
    edges: Attribution | None = None

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float32)
        self.targets = tuple(self.targets)
        if self.kind not in KINDS:
            raise HepxaiError(f"attribution kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.reduction not in REDUCTIONS:
            raise HepxaiError(f"attribution reduction {self.reduction!r} is not one of "
                              f"{', '.join(REDUCTIONS)}")
        if not self.target_axis and len(self.targets) != 1:
            raise HepxaiError(f"values without a target axis explain one target, not "
                              f"{self.targets}")
        if self.offsets is not None:
            offsets = np.asarray(self.offsets)
            if offsets.ndim != 1 or offsets.size == 0 or \
                    not np.issubdtype(offsets.dtype, np.integer) or offsets[0] != 0 or \
                    np.any(np.diff(offsets) < 0):
                raise HepxaiError(f"ragged attribution offsets must be non-decreasing integers "
                                  f"from 0, got {offsets.dtype} {offsets.shape}")
            self.offsets = offsets.astype(np.int64)
            if self.values.ndim < 1 or self.offsets[-1] != len(self.values):
                raise HepxaiError(
                    f"ragged attribution values {self.values.shape} do not match offsets ending "
                    f"at {self.offsets[-1]}; expected (n_items_total, ...)")
        elif self.values.ndim < 2:
            raise HepxaiError(f"dense attribution values need (n, ...) per example, got shape "
                              f"{self.values.shape}")
        if self.target_axis and (self.values.ndim < 2
                                 or self.values.shape[1] != len(self.targets)):
            raise HepxaiError(f"attribution has {self.values.shape[1:2]} target columns but "
                              f"names {self.targets}")
        for name in ("outputs", "baseline_outputs"):
            array = getattr(self, name)
            if array is not None:
                setattr(self, name, np.asarray(array, dtype=np.float64).reshape(
                    self.n_events, len(self.targets)))
        if self.event_ids is not None:
            ids = np.asarray(self.event_ids)
            if ids.shape != (self.n_events,) or (ids.size and
                                                  not np.issubdtype(ids.dtype, np.integer)):
                raise HepxaiError(f"attribution event ids must be one integer per example "
                                  f"({self.n_events}), got {ids.dtype} {ids.shape}")
            self.event_ids = ids.astype(np.int64)
        if self.item_names is not None:
            self.item_names = tuple(self.item_names)

    @property
    def is_ragged(self) -> bool:
        return self.offsets is not None

    @property
    def n_events(self) -> int:
        return len(self.offsets) - 1 if self.is_ragged else len(self.values)

    @property
    def per_target(self) -> np.ndarray:
        """``values`` with the target axis, whether or not it was asked for:
        ``(n, n_targets, *input_shape)`` (ragged: ``(n_items_total, n_targets, ...)``)."""
        return self.values if self.target_axis else self.values[:, None]

    def target_index(self, target: str | int) -> int:
        """Column of ``target`` (a name from :attr:`targets` or an index)."""
        if isinstance(target, int | np.integer):
            if not 0 <= target < len(self.targets):
                raise HepxaiError(f"target index {target} out of range for {self.targets}")
            return int(target)
        if target not in self.targets:
            raise HepxaiError(f"unknown target {target!r}; this attribution explains "
                              f"{', '.join(self.targets)}")
        return self.targets.index(target)

    def for_target(self, target: str | int = 0) -> np.ndarray:
        """Values of one target in the inputs' shape: ``(n, *input_shape)`` (ragged
        ``(n_items_total, *item_shape)``)."""
        return self.per_target[:, self.target_index(target)]

    def items(self, target: str | int = 0) -> np.ndarray:
        """One relevance value per item for ``target``, what judging and figures read:
        pixels ``(n, H, W)`` (the channel axis reduced), features ``(n, F)``, nodes
        ``(n_nodes_total,)`` (node features reduced), edges ``(n_edges_total,)``; the
        reduction is :attr:`reduction`."""
        v = self.for_target(target)
        if self.kind == "pixel":
            axes = tuple(range(1, v.ndim - 2))  # channels: everything before (H, W)
        elif self.kind in ("node", "edge"):
            axes = tuple(range(1, v.ndim))
        else:
            axes = tuple(range(1, v.ndim - 1))
        if not axes:
            return v
        if self.reduction == "max_abs":
            return np.abs(v).max(axis=axes)
        return v.sum(axis=axes, dtype=np.float64).astype(np.float32)

    def event(self, i: int) -> np.ndarray:
        """One example's values: dense ``values[i]``, ragged its items' rows."""
        if self.is_ragged:
            return self.values[self.offsets[i]:self.offsets[i + 1]]
        return self.values[i]

    def completeness_error(self) -> np.ndarray:
        """``|sum(values) - (outputs - baseline_outputs)|`` per example and target
        ``(n, n_targets)``.

        Only defined when both outputs are recorded (path methods, exact CAM, TreeSHAP).
        """
        if self.outputs is None or self.baseline_outputs is None:
            raise HepxaiError(f"method {self.method!r} records no outputs/baseline outputs; "
                              "completeness is only defined for complete methods")
        values = self.per_target
        if self.is_ragged:
            flat = values.reshape(len(values), len(self.targets), -1).sum(-1, dtype=np.float64)
            running = np.zeros((len(values) + 1, len(self.targets)))
            np.cumsum(flat, axis=0, out=running[1:])
            sums = running[self.offsets[1:]] - running[self.offsets[:-1]]
        else:
            flat = values.reshape(self.n_events, len(self.targets), -1)
            sums = flat.sum(-1, dtype=np.float64)
        return np.abs(sums - (self.outputs - self.baseline_outputs))

    # -- persistence ------------------------------------------------------------------------
    def _parts(self, prefix: str = "") -> tuple[dict, dict[str, np.ndarray]]:
        meta = {"targets": list(self.targets), "method": self.method, "params": self.params,
                "kind": self.kind, "target_axis": self.target_axis, "reduction": self.reduction,
                "item_names": None if self.item_names is None else list(self.item_names)}
        arrays = {f"{prefix}values": self.values}
        for name in ("offsets", "outputs", "baseline_outputs", "event_ids"):
            if getattr(self, name) is not None:
                arrays[f"{prefix}{name}"] = getattr(self, name)
        return meta, arrays

    @classmethod
    def _from_parts(cls, meta: dict, arrays: dict[str, np.ndarray], prefix: str = ""
                    ) -> Attribution:
        return cls(values=arrays[f"{prefix}values"], targets=tuple(meta["targets"]),
                   method=meta["method"], params=meta["params"], kind=meta["kind"],
                   offsets=arrays.get(f"{prefix}offsets"),
                   outputs=arrays.get(f"{prefix}outputs"),
                   baseline_outputs=arrays.get(f"{prefix}baseline_outputs"),
                   event_ids=arrays.get(f"{prefix}event_ids"),
                   item_names=None if meta["item_names"] is None else tuple(meta["item_names"]),
                   target_axis=meta.get("target_axis", True),
                   reduction=meta.get("reduction", "sum"))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write to ``path`` (``.npz``) atomically, the edge attribution with it."""
        meta, arrays = self._parts()
        meta.update({"type": "Attribution", "format_version": FORMAT_VERSION})
        if self.edges is not None:
            meta["edges"], edge_arrays = self.edges._parts("edges_")
            arrays.update(edge_arrays)
        return _save_npz(path, meta, arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Attribution:
        meta, arrays = _load_npz(path, "Attribution")
        if int(meta.get("format_version", 1)) > FORMAT_VERSION:
            raise HepxaiError(f"{path}: attribution format {meta['format_version']} is newer "
                              f"than this hepxai reads ({FORMAT_VERSION}); upgrade hepxai")
        try:
            attribution = cls._from_parts(meta, arrays)
            if meta.get("edges"):
                attribution.edges = cls._from_parts(meta["edges"], arrays, "edges_")
        except HepxaiError as error:  # inconsistent arrays: name the file
            raise HepxaiError(f"{path}: {error}; delete it and re-run 'hepxai explain'") from None
        except (KeyError, TypeError, ValueError) as error:  # a key or field missing
            raise HepxaiError(f"{path}: not a complete hepxai attribution file (no "
                              f"{error}); delete it and re-run 'hepxai explain'") from None
        return attribution


NO_ID = -1  # a top-k slot with no training example: fewer proponents / opponents than k


@dataclass
class Influence:
    """Influence of training examples on test examples (TracIn and friends).

    Strictly positive scores are proponents (training on them lowered the test loss), strictly
    negative scores opponents; a score of exactly 0 is neither. Either the full matrix or only
    the top-k per test example is kept.

    Attributes:
        test_ids: int64 ``(n_test,)``: rows of the test events in their dataset.
        method: e.g. ``"tracin-last-layer"``.
        params: checkpoints, learning rates, projection dimension...
        scores: float ``(n_test, n_train)`` full matrix, or ``None`` when only top-k is kept.
        proponent_ids / proponent_scores: ``(n_test, k)``, highest scores first; a test example
            with fewer than ``k`` proponents has its row end in id ``NO_ID`` (-1) and score NaN.
        opponent_ids / opponent_scores: ``(n_test, k)``, lowest scores first, padded the same.
        n_proponents / n_opponents: ``(n_test,)`` how many training examples score strictly
            above / below 0 (all of the training set, not only the top k).

    Example::

        ids, scores = influence.opponents(0)   # only real opponents, strongest first
        print(f"{influence.n_opponents[0]} opponents in the training set")
    """

    test_ids: np.ndarray
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    scores: np.ndarray | None = None
    proponent_ids: np.ndarray | None = None
    proponent_scores: np.ndarray | None = None
    opponent_ids: np.ndarray | None = None
    opponent_scores: np.ndarray | None = None
    n_proponents: np.ndarray | None = None
    n_opponents: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.test_ids = np.asarray(self.test_ids, dtype=np.int64)

    @property
    def n_test(self) -> int:
        return len(self.test_ids)

    def proponents(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Training ids and scores of test example ``i``'s proponents, strongest first (no
        padding: possibly fewer than ``k``)."""
        return self._side("proponent", i)

    def opponents(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Training ids and scores of test example ``i``'s opponents, strongest first (no
        padding: possibly fewer than ``k``)."""
        return self._side("opponent", i)

    def describe_top(self, i: int, what: str = "examples", shown: int = 5) -> list[str]:
        """Two text lines for test example ``i``: its first ``shown`` proponents and opponents
        as ``#id (score)`` and how many training examples score above / below 0, e.g.
        ``"  opponents: #12 (-0.4), #7 (-0.1) [2 training events score < 0]"``."""
        lines = []
        for side, sign in (("proponent", ">"), ("opponent", "<")):
            ids, scores = self._side(side, i)
            counts = getattr(self, f"n_{side}s")
            count = f" [{int(counts[i]):,} training {what} score {sign} 0]" \
                if counts is not None else ""
            listed = ", ".join(f"#{r} ({s:+.3g})" for r, s in
                               zip(ids[:shown], scores[:shown], strict=True)) or "none"
            lines.append(f"  {side}s: {listed}{count}")
        return lines

    def _side(self, side: str, i: int) -> tuple[np.ndarray, np.ndarray]:
        ids, scores = getattr(self, f"{side}_ids"), getattr(self, f"{side}_scores")
        if ids is None or scores is None:
            raise HepxaiError("the influence result keeps no top-k; query with k >= 1")
        keep = ids[i] != NO_ID
        return ids[i][keep], scores[i][keep]

    def save(self, path: str | os.PathLike[str]) -> Path:
        meta = {"type": "Influence", "method": self.method, "params": self.params}
        arrays = {"test_ids": self.test_ids}
        for name in ("scores", "proponent_ids", "proponent_scores", "opponent_ids",
                     "opponent_scores", "n_proponents", "n_opponents"):
            if getattr(self, name) is not None:
                arrays[name] = getattr(self, name)
        return _save_npz(path, meta, arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Influence:
        meta, arrays = _load_npz(path, "Influence")
        try:
            return cls(method=meta["method"], params=meta["params"], **arrays)
        except (KeyError, TypeError, ValueError) as error:
            raise HepxaiError(f"{path}: not a complete hepxai influence file ({error}); delete "
                              "it and run the influence query again") from None


def _save_npz(path: str | os.PathLike[str], meta: dict, arrays: dict[str, np.ndarray]) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:  # a file handle: np.savez would append ".npz" to a name
            np.savez(handle, __meta__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
                     **arrays)
    return path


def _load_npz(path: str | os.PathLike[str], expected: str) -> tuple[dict, dict[str, np.ndarray]]:
    path = Path(path)
    if not path.is_file():
        raise HepxaiError(f"{path}: no such explanation file; run 'hepxai explain' first")
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["__meta__"]).decode())
            arrays = {k: data[k] for k in data.files if k != "__meta__"}
    except (OSError, ValueError, KeyError) as error:
        raise HepxaiError(f"{path}: not a readable hepxai explanation file ({error}); "
                          "delete it and re-run 'hepxai explain'") from None
    if meta.get("type") != expected:
        raise HepxaiError(f"{path}: holds a {meta.get('type')}, not an {expected}")
    return meta, arrays


@dataclass
class TreePath:
    """Decision flow of a soft decision tree for a batch of events (thesis 3.2.1, 7.3.2).

    Inner nodes are numbered breadth-first (node ``n`` has children ``2n + 1`` left and
    ``2n + 2`` right); leaf ``l`` (left to right) is node ``2^depth - 1 + l``.

    Attributes:
        branch_probabilities: ``(n, 2^d - 1)`` probability of going *left* at every inner node.
        leaf_probabilities: ``(n, 2^d)`` reach probability of every leaf; rows sum to 1.
        leaf_values: ``(2^d, n_targets)`` every leaf's prediction in physical units
            (pT in GeV de-normalised, |eta|).
        outputs: ``(n, n_targets)`` the model's prediction = probability-weighted leaf values.
        targets: names of the outputs, e.g. ``("pt", "eta")``.
        node_relevance: ``(n, 2^d - 1, 9, 384)`` signed gradient x input of every inner node's
            logit through the convolutional stack, or ``None`` when not computed.
        event_ids: ``(n,)`` dataset rows, or ``None``.
    """

    branch_probabilities: np.ndarray
    leaf_probabilities: np.ndarray
    leaf_values: np.ndarray
    outputs: np.ndarray
    targets: tuple[str, ...] = ("pt", "eta")
    node_relevance: np.ndarray | None = None
    event_ids: np.ndarray | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def depth(self) -> int:
        return int(np.log2(self.leaf_probabilities.shape[1]))

    @property
    def n_events(self) -> int:
        return len(self.leaf_probabilities)

    @property
    def best_leaf(self) -> np.ndarray:
        """``(n,)`` the leaf with the largest reach probability."""
        return self.leaf_probabilities.argmax(1)

    def root_path(self, leaf: np.ndarray) -> np.ndarray:
        """Inner nodes from the root to ``leaf`` (per event): ``(n, depth)``."""
        node = np.asarray(leaf) + 2**self.depth - 1
        path = []
        for _ in range(self.depth):
            node = (node - 1) // 2
            path.append(node)
        return np.stack(path[::-1], axis=-1)

    @property
    def max_probability_path(self) -> np.ndarray:
        """``(n, depth)`` inner nodes on the path to the most probable leaf."""
        return self.root_path(self.best_leaf)

    @property
    def contributions(self) -> np.ndarray:
        """``(n, 2^d, n_targets)`` each leaf's share of the prediction; sums to ``outputs``."""
        return self.leaf_probabilities[:, :, None] * self.leaf_values[None]

    @property
    def max_leaf_probability(self) -> np.ndarray:
        """Confidence ``(n,)``: the largest leaf probability."""
        return self.leaf_probabilities.max(1)

    @property
    def entropy(self) -> np.ndarray:
        """Entropy of the leaf distribution in nats ``(n,)`` (0: one leaf; ln 2^d: uniform)."""
        p = self.leaf_probabilities
        return -(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)).sum(1)
