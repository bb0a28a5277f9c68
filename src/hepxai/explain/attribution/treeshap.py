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

import numba
import numpy as np

from hepxai.core.errors import HepxaiError


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
    n_classes = len(base)
    tree_class = model["tree_info"]
    classes, values, ks, feats, los, his, zs = [], [], [], [], [], [], []
    expected = base.copy()
    depth_max = 1
    for tree, group in zip(model["trees"], tree_class, strict=True):
        if any(tree.get("split_type", [])):
            raise HepxaiError("TreeSHAP engine: categorical splits are not supported; use "
                              "engine 'shap'")
        left, right = tree["left_children"], tree["right_children"]
        feature, condition = tree["split_indices"], tree["split_conditions"]
        cover = tree["sum_hessian"]
        # depth-first walk; a path is {feature: [lo, hi, zero_fraction]}
        stack: list[tuple[int, dict[int, list[float]]]] = [(0, {})]
        while stack:
            node, path = stack.pop()
            if left[node] == -1:
                value = float(condition[node])
                expected[group] += value * float(np.prod([p[2] for p in path.values()]))
                classes.append(group)
                values.append(value)
                ks.append(len(path))
                feats.append(list(path))
                los.append([p[0] for p in path.values()])
                his.append([p[1] for p in path.values()])
                zs.append([p[2] for p in path.values()])
                depth_max = max(depth_max, len(path))
                continue
            f, threshold = int(feature[node]), float(np.float32(condition[node]))
            for child, goes_left in ((left[node], True), (right[node], False)):
                lo, hi, z = path.get(f, [-np.inf, np.inf, 1.0])
                if goes_left:
                    hi = min(hi, threshold)
                else:
                    lo = max(lo, threshold)
                ratio = cover[child] / cover[node] if cover[node] > 0 else 0.0
                stack.append((child, {**path, f: [lo, hi, z * ratio]}))
    n = len(ks)
    leaf_k = np.array(ks, np.int32)
    leaf_feature = np.zeros((n, depth_max), np.int32)
    leaf_lo = np.full((n, depth_max), -np.inf, np.float32)
    leaf_hi = np.full((n, depth_max), np.inf, np.float32)
    leaf_z = np.ones((n, depth_max))
    for i in range(n):
        k = ks[i]
        leaf_feature[i, :k], leaf_lo[i, :k], leaf_hi[i, :k] = feats[i], los[i], his[i]
        leaf_z[i, :k] = zs[i]
    sizes = (2 ** leaf_k.astype(np.int64)) * leaf_k
    leaf_offset = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    table = np.zeros(int(sizes.sum()))
    _fill(leaf_k, leaf_z, np.array(values, np.float64), leaf_offset, table)
    return TreeTables(np.array(classes, np.int32), leaf_k, leaf_feature, leaf_lo, leaf_hi,
                      leaf_offset, table, expected, n_features, n_classes)


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


@numba.njit(cache=True)
def _fill(leaf_k, leaf_z, leaf_value, leaf_offset, table):  # pragma: no cover - compiled
    """Tabulate every leaf's contributions for every pattern (see the module docstring)."""
    for leaf in range(len(leaf_k)):
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

    Events go in blocks of 512 and leaves in the loop inside a block, so a leaf's table stays in
    the L1 cache while the block's events look it up (a per-event loop over all leaves is bound
    by cache misses on the table and several times slower).
    """
    n_leaves = len(leaf_k)
    n_features = x.shape[1]
    block = 512
    n_blocks = (x.shape[0] + block - 1) // block
    for b in numba.prange(n_blocks):
        start = b * block
        size = min(block, x.shape[0] - start)
        columns = np.ascontiguousarray(x[start:start + size].T)  # (F, size): contiguous features
        pattern = np.empty(size, np.int64)
        acc = np.zeros((size, out.shape[1]))
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
            for e in range(size):
                base = offset + pattern[e] * k
                for i in range(k):
                    acc[e, group_base + leaf_feature[leaf, i]] += table[base + i]
        out[start:start + size] += acc
