"""scikit-learn decision trees on the flattened image (thesis table 7.1: DecTree, Distilled
DecTree).

The lit-pixel lists are already a compressed-sparse-row matrix (offsets = ``indptr``, pixel
indices = ``indices``), so the 3,456 binary features reach scikit-learn without ever being made
dense. The thesis grew its trees without a depth limit; a minimum leaf size keeps the tree from
memorising single events. Squared error is the split criterion (the absolute-error criterion is
far slower, as the thesis notes).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import scipy.sparse
import torch
from sklearn.tree import DecisionTreeRegressor

from hepxai import __version__
from hepxai.core.atomic import atomic_path
from hepxai.core.errors import HepxaiError
from hepxai.core.sparse import SparseImages
from hepxai.usecases.muon.names import DECISION_TREE

NAME = DECISION_TREE


def to_csr(images: SparseImages) -> scipy.sparse.csr_matrix:
    """``(n_events, n_pixels)`` float32 sparse matrix of the images, without copying hits."""
    data = np.ones(len(images.indices), np.float32)
    return scipy.sparse.csr_matrix(
        (data, np.asarray(images.indices, np.int32), np.asarray(images.offsets, np.int64)),
        shape=(len(images), images.n_pixels))


class DecisionTreeModel:
    """A multi-output regression tree predicting (pT [GeV], |eta|)."""

    name = NAME
    preset = "sklearn"
    outputs = ("pt", "eta")

    def __init__(self, max_depth: int | None = None, min_samples_leaf: int = 20, seed: int = 1):
        self.estimator = DecisionTreeRegressor(max_depth=max_depth,
                                               min_samples_leaf=min_samples_leaf,
                                               random_state=seed)

    def fit(self, images: SparseImages, targets: np.ndarray) -> DecisionTreeModel:
        self.estimator.fit(to_csr(images), np.asarray(targets, np.float64))
        return self

    def predict_images(self, images: SparseImages) -> np.ndarray:
        """``(n, 2)`` predictions for lit-pixel images."""
        return self.estimator.predict(to_csr(images)).astype(np.float32)

    def n_parameters(self) -> int:
        """Nodes of the fitted tree (its thresholds and leaf values are what it learned)."""
        return int(self.estimator.tree_.node_count)

    def save(self, path: str | os.PathLike[str], identity: dict) -> Path:
        """A hepxai checkpoint holding the fitted tree as plain tensors (its node table column
        by column and its leaf values) and the estimator's parameters: it loads with
        ``torch.load(weights_only=True)``, never unpickling code."""
        payload = {"format": "hepxai-checkpoint", "hepxai_version": __version__,
                   "use_case": "muon", "model": NAME, "preset": self.preset,
                   "identity": identity, "tree": tree_state(self.estimator)}
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
        return Path(path)

    @classmethod
    def from_state(cls, state: dict) -> DecisionTreeModel:
        """The fitted model of a checkpoint written by :meth:`save`."""
        model = cls.__new__(cls)
        model.estimator = tree_from_state(state["tree"])
        return model


def tree_state(estimator: DecisionTreeRegressor) -> dict:
    """A fitted regression tree as tensors and plain values (no pickled objects)."""
    tree = estimator.tree_
    nodes = tree.__getstate__()["nodes"]
    return {"params": estimator.get_params(), "n_features_in": int(estimator.n_features_in_),
            "n_outputs": int(estimator.n_outputs_), "max_features": int(estimator.max_features_),
            "max_depth": int(tree.max_depth),
            "nodes": {name: torch.from_numpy(np.ascontiguousarray(nodes[name]))
                      for name in nodes.dtype.names},
            "values": torch.from_numpy(np.ascontiguousarray(tree.value))}


def tree_from_state(state: dict) -> DecisionTreeRegressor:
    """Inverse of :func:`tree_state`; a node table that does not fit this scikit-learn's
    layout is refused in one line."""
    from sklearn.tree._tree import NODE_DTYPE, Tree

    columns = state["nodes"]
    if set(columns) != set(NODE_DTYPE.names):
        raise HepxaiError(f"the stored decision tree has node fields {sorted(columns)}, this "
                          f"scikit-learn {sorted(NODE_DTYPE.names)}; retrain the tree")
    n_nodes = len(columns["left_child"])
    nodes = np.zeros(n_nodes, NODE_DTYPE)
    for name in NODE_DTYPE.names:
        nodes[name] = columns[name].numpy()
    n_outputs = state["n_outputs"]
    tree = Tree(state["n_features_in"], np.ones(n_outputs, np.intp), n_outputs)
    tree.__setstate__({"max_depth": state["max_depth"], "node_count": n_nodes, "nodes": nodes,
                       "values": state["values"].numpy().astype(np.float64)})
    estimator = DecisionTreeRegressor(**state["params"])
    estimator.n_features_in_, estimator.n_outputs_ = state["n_features_in"], n_outputs
    estimator.max_features_, estimator.tree_ = state["max_features"], tree
    return estimator
