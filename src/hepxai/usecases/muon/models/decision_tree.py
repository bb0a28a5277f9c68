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
import pickle
from pathlib import Path

import numpy as np
import scipy.sparse
import torch
from sklearn.tree import DecisionTreeRegressor

from hepxai import __version__
from hepxai.core.atomic import atomic_path
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
        payload = {"format": "hepxai-checkpoint", "hepxai_version": __version__,
                   "use_case": "muon", "model": NAME, "preset": self.preset,
                   "identity": identity, "estimator": pickle.dumps(self)}
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
        return Path(path)
