"""Exact path-dependent TreeSHAP for XGBoost tree ensembles, fast on CPUs.

The values are those of ``shap.TreeExplainer`` / XGBoost's ``pred_contribs=True`` (Lundberg et
al. 2018, "tree_path_dependent"), computed with the "Fast TreeSHAP v2" reorganisation (Yang 2021):
for one leaf, the path-dependent game only depends on the event through the bit pattern of which
of the leaf's path features it satisfies, so every leaf's Shapley contributions are tabulated
once per pattern and an explanation becomes a table lookup per leaf.

For a leaf with value ``v`` and ``k`` distinct path features, feature ``j`` has a *one fraction*
``o_j(x)`` (1 when x satisfies every split on ``j`` along the path, else 0) and a *zero fraction*
``z_j`` (the product of cover ratios of those splits, the probability to follow them when ``x_j``
is unknown). The leaf's game is ``f(S) = v prod_{j in S} o_j prod_{j not in S} z_j`` and
feature ``i`` receives

    phi_i = (o_i - z_i) v prod_{j in B, j != i} z_j  sum_{m} w(|A'| - m) e_m(z_{A'})

with A (B) the path features the event satisfies (does not), ``A' = A \\ {i}``,
``w(s) = s! (k - s - 1)! / k!`` and ``e_m`` the elementary symmetric polynomials, evaluated by
polynomial multiplication. The tables cost ``O(L 2^k k^2)`` per tree once; each event then costs
``O(L k)`` per tree instead of ``O(L D^2)``. The kernels are compiled with numba (a dependency of
shap) and run in parallel over events.

The expected value per class is ``base_score + sum_leaves v * cover_leaf / cover_root``, so
``values.sum(-1) + expected == predict(output_margin=True)`` (additivity).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import torch

from hepxai.core.errors import HepxaiError
from hepxai.explain.base import Explainer, Parts


@dataclass
class TreeTables:
    """An XGBoost ensemble flattened to its leaves, with the tabulated contributions.

    leaf_class: int32 ``(L,)`` output group (class) of each leaf's tree; leaf_k: int32 ``(L,)``
    number of distinct path features; leaf_feature: int32 ``(L, D)``; leaf_lo / leaf_hi:
    float32 ``(L, D)`` the interval ``lo <= x < hi`` each path feature must lie in;
    leaf_offset: int64 ``(L,)`` start of each leaf's ``2^k x k`` block in ``table``;
    expected: float64 ``(K,)`` the expected margin per class; n_features, n_classes.
    """

    leaf_class: np.ndarray
    leaf_k: np.ndarray
    leaf_feature: np.ndarray
    leaf_lo: np.ndarray
    leaf_hi: np.ndarray
    leaf_offset: np.ndarray
    table: np.ndarray
    expected: np.ndarray
    n_features: int
    n_classes: int

    @property
    def n_leaves(self) -> int:
        return len(self.leaf_k)


def _base_margin(learner: dict) -> np.ndarray:
    """The per-class base margin from the model JSON (``base_score`` in output space)."""
    params = learner["learner_model_param"]
    n_classes = max(int(params.get("num_class", "0")), 1)
    text = str(params["base_score"]).strip()
    values = np.array([float(v) for v in text.strip("[]").split(",")], dtype=np.float64)
    values = np.broadcast_to(values, (n_classes,)).copy() if values.size == 1 else values
    objective = learner["objective"]["name"]
    if objective in ("binary:logistic", "reg:logistic", "binary:logitraw"):
        if objective != "binary:logitraw":
            values = np.log(values / (1.0 - values))
    elif objective not in ("multi:softprob", "multi:softmax", "reg:squarederror",
                           "binary:hinge"):
        raise HepxaiError(f"TreeSHAP engine: objective {objective!r} is not supported; use "
                          "engine 'shap' or 'xgboost'")
    return values


def parse_booster(booster) -> TreeTables:
    """Flatten an ``xgboost.Booster`` (gbtree, numerical splits) into :class:`TreeTables`."""
    model_json = json.loads(bytes(booster.save_raw("json")))
    learner = model_json["learner"]
    gbm = learner["gradient_booster"]
    if gbm.get("name") != "gbtree":
        raise HepxaiError(f"TreeSHAP engine: booster type {gbm.get('name')!r} is not supported "
                          "(only gbtree); use engine 'shap'")
    model = gbm["model"]
    n_features = int(learner["learner_model_param"]["num_feature"])
    base = _base_margin(learner)
    trees = model["trees"]
    if any(any(tree.get("split_type", [])) for tree in trees):
        raise HepxaiError("TreeSHAP engine: categorical splits are not supported; use "
                          "engine 'shap'")
    sizes = np.array([len(tree["left_children"]) for tree in trees], np.int64)
    tree_start = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

    def stacked(key: str, dtype) -> np.ndarray:
        return np.concatenate([np.asarray(tree[key], dtype) for tree in trees]) if trees \
            else np.zeros(0, dtype)

    arrays = (stacked("left_children", np.int64), stacked("right_children", np.int64),
              stacked("split_indices", np.int64), stacked("split_conditions", np.float64),
              stacked("sum_hessian", np.float64))
    group = np.asarray(model["tree_info"], np.int64)
    n_leaves, depth = _count_leaves(arrays[0], arrays[1], tree_start)
    leaf_class = np.zeros(n_leaves, np.int32)
    leaf_k = np.zeros(n_leaves, np.int32)
    leaf_feature = np.zeros((n_leaves, max(depth, 1)), np.int32)
    leaf_lo = np.full((n_leaves, max(depth, 1)), -np.inf, np.float32)
    leaf_hi = np.full((n_leaves, max(depth, 1)), np.inf, np.float32)
    leaf_z = np.ones((n_leaves, max(depth, 1)))
    leaf_value = np.zeros(n_leaves)
    expected = base.copy()
    _leaf_paths(*arrays, tree_start, group, leaf_class, leaf_k, leaf_feature, leaf_lo, leaf_hi,
                leaf_z, leaf_value, expected)
    table_sizes = (2 ** leaf_k.astype(np.int64)) * leaf_k
    leaf_offset = np.concatenate([[0], np.cumsum(table_sizes)[:-1]]).astype(np.int64)
    table = np.zeros(int(table_sizes.sum()))
    _fill(leaf_k, leaf_z, leaf_value, leaf_offset, table)
    return TreeTables(leaf_class, leaf_k, leaf_feature, leaf_lo, leaf_hi, leaf_offset, table,
                      expected, n_features, len(base))


@numba.njit(cache=True)
def _count_leaves(left, right, tree_start):  # pragma: no cover - compiled
    """Number of leaves of all trees and the longest root-to-leaf path."""
    n_leaves, depth = 0, 0
    for t in range(len(tree_start) - 1):
        s, n = tree_start[t], tree_start[t + 1] - tree_start[t]
        level = np.zeros(n, np.int64)
        for node in range(n):  # parents come before their children in XGBoost's layout
            if left[s + node] != -1:
                level[left[s + node]] = level[node] + 1
                level[right[s + node]] = level[node] + 1
            else:
                n_leaves += 1
                depth = max(depth, level[node])
    return n_leaves, depth


@numba.njit(cache=True)
def _leaf_paths(left, right, feature, condition, cover, tree_start, group, leaf_class, leaf_k,
                leaf_feature, leaf_lo, leaf_hi, leaf_z, leaf_value,
                expected):  # pragma: no cover - compiled
    """Every leaf's distinct path features with the interval ``lo <= x < hi`` the event must lie
    in and the zero fraction (product of cover ratios), its value, and the expected margins.

    XGBoost goes left when ``x < threshold`` (float32 comparison); numerical splits only.
    """
    out = 0
    for t in range(len(tree_start) - 1):
        s, n = tree_start[t], tree_start[t + 1] - tree_start[t]
        parent = np.full(n, -1, np.int64)
        for node in range(n):
            if left[s + node] != -1:
                parent[left[s + node]] = node
                parent[right[s + node]] = node
        for node in range(n):
            if left[s + node] != -1:
                continue
            k = 0
            child = node
            while parent[child] != -1:
                p = parent[child]
                f = feature[s + p]
                threshold = np.float32(condition[s + p])
                ratio = cover[s + child] / cover[s + p] if cover[s + p] > 0 else 0.0
                slot = -1
                for i in range(k):
                    if leaf_feature[out, i] == f:
                        slot = i
                if slot == -1:
                    slot = k
                    k += 1
                    leaf_feature[out, slot] = f
                if left[s + p] == child:
                    leaf_hi[out, slot] = min(leaf_hi[out, slot], threshold)
                else:
                    leaf_lo[out, slot] = max(leaf_lo[out, slot], threshold)
                leaf_z[out, slot] *= ratio
                child = p
            leaf_k[out] = k
            leaf_class[out] = group[t]
            leaf_value[out] = condition[s + node]
            weight = 1.0
            for i in range(k):
                weight *= leaf_z[out, i]
            expected[group[t]] += condition[s + node] * weight
            out += 1


def shap_values(tables: TreeTables, x: np.ndarray, n_jobs: int | None = None) -> np.ndarray:
    """SHAP values ``(n, K, F)`` float64 of the margins for events ``x`` ``(n, F)`` (finite)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != tables.n_features:
        raise HepxaiError(f"TreeSHAP: inputs must be (n, {tables.n_features}), got {x.shape}")
    out = np.zeros((len(x), tables.n_classes * tables.n_features))
    previous = numba.get_num_threads()
    if n_jobs:
        numba.set_num_threads(max(1, min(n_jobs, numba.config.NUMBA_NUM_THREADS)))
    try:
        _shap(x, tables.leaf_class, tables.leaf_k, tables.leaf_feature, tables.leaf_lo,
              tables.leaf_hi, tables.leaf_offset, tables.table, out)
    finally:
        numba.set_num_threads(previous)
    return out.reshape(len(x), tables.n_classes, tables.n_features)


@numba.njit(parallel=True, cache=True)
def _fill(leaf_k, leaf_z, leaf_value, leaf_offset, table):  # pragma: no cover - compiled
    """Tabulate every leaf's contributions for every pattern (see the module docstring)."""
    for leaf in numba.prange(len(leaf_k)):
        k = leaf_k[leaf]
        if k == 0:
            continue
        weight = np.empty(k)
        for s in range(k):
            weight[s] = math.exp(math.lgamma(s + 1) + math.lgamma(k - s) - math.lgamma(k + 1))
        e = np.empty(k)
        for pattern in range(1 << k):
            for i in range(k):
                e[:] = 0.0
                e[0] = 1.0
                m = 0
                outside = 1.0
                for j in range(k):
                    if j == i:
                        continue
                    zj = leaf_z[leaf, j]
                    if (pattern >> j) & 1:
                        for d in range(m + 1, 0, -1):
                            e[d] += zj * e[d - 1]
                        m += 1
                    else:
                        outside *= zj
                total = 0.0
                for d in range(m + 1):
                    total += weight[m - d] * e[d]
                one = float((pattern >> i) & 1)
                table[leaf_offset[leaf] + pattern * k + i] = (
                    (one - leaf_z[leaf, i]) * leaf_value[leaf] * outside * total)


@numba.njit(parallel=True, cache=True)
def _shap(x, leaf_class, leaf_k, leaf_feature, leaf_lo, leaf_hi, leaf_offset, table,
          out):  # pragma: no cover - compiled
    """Add every leaf's tabulated contributions for each event's pattern to ``out`` ``(n, K*F)``.

    Events go in blocks of 512 with the leaves in the loop inside a block, so a leaf's table
    stays in the L1 cache while the block's events look it up, and the block's features and
    sums are stored transposed so the innermost loops run over contiguous events (a per-event
    loop over all leaves is bound by cache misses and several times slower).
    """
    n_leaves = len(leaf_k)
    n_features = x.shape[1]
    block = 512
    n_blocks = (x.shape[0] + block - 1) // block
    for b in numba.prange(n_blocks):
        start = b * block
        size = min(block, x.shape[0] - start)
        columns = np.ascontiguousarray(x[start:start + size].T)  # (F, size)
        pattern = np.empty(size, np.int64)
        acc = np.zeros((out.shape[1], size))
        for leaf in range(n_leaves):
            k = leaf_k[leaf]
            if k == 0:
                continue
            pattern[:] = 0
            for i in range(k):
                values = columns[leaf_feature[leaf, i]]
                lo, hi = leaf_lo[leaf, i], leaf_hi[leaf, i]
                for e in range(size):
                    # branch-free: the comparisons are unpredictable, a branch mispredicts often
                    pattern[e] |= (np.int64(values[e] >= lo) & np.int64(values[e] < hi)) << i
            offset = leaf_offset[leaf]
            group_base = leaf_class[leaf] * n_features
            for i in range(k):
                row = acc[group_base + leaf_feature[leaf, i]]
                for e in range(size):
                    row[e] += table[offset + pattern[e] * k + i]
        out[start:start + size] += acc.T


# -- the explainer ---------------------------------------------------------------------------
ENGINES = ("fast", "shap", "xgboost")


class TreeShap(Explainer):
    """Exact path-dependent TreeSHAP of an XGBoost ensemble's margins (per class).

    ``model``: an ``xgboost.Booster`` or an object holding one as ``.booster`` (hepxai's SUSY
    BDT). ``engine``: ``fast`` (this module: tabulated per leaf, parallel), ``shap``
    (``shap.TreeExplainer``) or ``xgboost`` (``pred_contribs=True``); the three give the same
    numbers up to float rounding. ``n_jobs``: threads (default: all cores). Values are in margin
    units, ``outputs`` the margins and ``baseline_outputs`` the expected margin, so
    ``values.sum(-1) == outputs - baseline_outputs`` (additivity).

    >>> import xgboost
    >>> booster = xgboost.train({"max_depth": 2}, xgboost.DMatrix(np.random.rand(50, 3),
    ...                         label=np.random.rand(50)), num_boost_round=3)
    >>> a = TreeShap(booster).attribute(np.random.rand(4, 3).astype(np.float32))
    >>> bool(a.completeness_error().max() < 1e-4)
    True
    """

    name = "tree-shap"
    complete = True
    modalities = ("table",)
    default_batch_size = 1 << 30  # one call: the engine parallelises over events itself

    def __init__(self, model: Any, *, engine: str = "fast", n_jobs: int | None = None,
                 **options: Any):
        if engine not in ENGINES:
            raise HepxaiError(f"unknown TreeSHAP engine {engine!r}; choose one of "
                              f"{', '.join(ENGINES)}")
        options.setdefault("output_names", getattr(model, "class_names", None))
        super().__init__(model, **options)
        self.booster = getattr(model, "booster", model)
        self.engine, self.n_jobs = engine, n_jobs
        self.params = {"engine": engine}
        self._tables: TreeTables | None = None

    @classmethod
    def supports(cls, model: Any) -> str | None:
        booster = getattr(model, "booster", model)
        if type(booster).__name__ == "Booster" and hasattr(booster, "save_raw"):
            return None
        return (f"explains a BDT (an XGBoost tree ensemble); got a {type(model).__name__} "
                "(use ig, gradient-shap or saliency for networks)")

    @property
    def runner(self) -> Any:
        return self.booster

    @property
    def expected_value(self) -> np.ndarray:
        """The expected margin per output ``(K,)`` (the SHAP base value)."""
        return self.tables().expected.copy()

    def tables(self) -> TreeTables:
        if self._tables is None:
            self._tables = parse_booster(self.booster)
        return self._tables

    def _margins(self, x: np.ndarray, **kwargs: Any) -> np.ndarray:
        import xgboost as xgb

        names = self.booster.feature_names  # a booster trained with names checks them
        return np.asarray(self.booster.predict(xgb.DMatrix(x, feature_names=names), **kwargs))

    def _outputs(self, modality: Any, batch: Any, x: Any = None, copies: int = 1,
                 edge_mask: Any = None) -> Any:
        margin = self._margins((batch.x if x is None else x).numpy(), output_margin=True)
        return torch.from_numpy(margin.reshape(len(margin), -1).astype(np.float64))

    def _attribute(self, modality: Any, batch: Any, targets: Any, baselines: Any,
                   ids: np.ndarray) -> Parts:
        if baselines is not None:
            raise HepxaiError("path-dependent TreeSHAP takes its reference from the trees' "
                              "covers (the training data); it takes no baselines")
        x = batch.x.numpy()
        if self.engine == "fast":
            tables = self.tables()
            values, expected = shap_values(tables, x, self.n_jobs), tables.expected
        elif self.engine == "xgboost":
            contribs = self._margins(x, pred_contribs=True)
            contribs = contribs.reshape(len(x), -1, x.shape[1] + 1)
            values, expected = contribs[:, :, :-1], contribs[0, :, -1]
        else:
            import shap

            explainer = shap.TreeExplainer(self.booster)
            raw = np.asarray(explainer.shap_values(x))  # (n, F, K) for multi-class
            values = raw[:, :, None] if raw.ndim == 2 else raw
            values = np.moveaxis(values, 2, 1)
            expected = np.atleast_1d(explainer.expected_value)
        columns = targets.columns
        outputs = self._outputs(None, batch).numpy()[:, columns]
        return Parts(values[:, columns], outputs,
                     np.broadcast_to(np.asarray(expected, np.float64)[columns],
                                     outputs.shape).copy())
