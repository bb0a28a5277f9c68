"""Voxelised jets for the legacy 3D-CNN: the same nodes the graphs hold, binned in
(sampling layer, d_eta, d_phi).

Grid: the 7 sampling layers x 16 x 16 bins over |d_eta|, |d_phi| < 0.4 (the jet cone; the
EM2 granularity of 0.025 would give 32 x 32 bins of mostly empty voxels, and the slides found
the sparse images sub-optimal already). Voxel value: the sum of the max-scaled energies (node
feature 0) of its nodes, so the CNN and the GNN read the same numbers. Nodes outside the grid
are dropped (none for gnn-1, whose cone is inside it).

:func:`voxel_index` is also the map from graph nodes to CNN voxels that lets GNN node relevance
be compared with CNN voxel saliency.
"""

from __future__ import annotations

import numpy as np
import torch

from hepxai.usecases.darkjet.graphs import GraphSet
from hepxai.usecases.darkjet.models import VOXEL_HALF_WIDTH, VOXEL_SHAPE
from hepxai.usecases.darkjet.store import ragged_arange


def voxel_index(pos: np.ndarray, layer: np.ndarray) -> np.ndarray:
    """Flat voxel index in ``(7, 16, 16)`` of every node (``pos`` ``(n, 3)`` graph-space
    positions, ``layer`` ``(n,)``); -1 for nodes outside the grid."""
    n_layers, n_eta, n_phi = VOXEL_SHAPE
    scale = n_eta / (2 * VOXEL_HALF_WIDTH)
    i_eta = np.floor((pos[:, 0] + VOXEL_HALF_WIDTH) * scale).astype(np.int64)
    i_phi = np.floor((pos[:, 1] + VOXEL_HALF_WIDTH) * (n_phi / (2 * VOXEL_HALF_WIDTH))).astype(
        np.int64)
    layer = np.asarray(layer, np.int64)
    inside = ((i_eta >= 0) & (i_eta < n_eta) & (i_phi >= 0) & (i_phi < n_phi)
              & (layer >= 0) & (layer < n_layers))
    return np.where(inside, (layer * n_eta + i_eta) * n_phi + i_phi, -1)


def voxelise(graphs: GraphSet, rows: np.ndarray, values: np.ndarray | None = None
             ) -> torch.Tensor:
    """Voxel images ``(len(rows), 1, 7, 16, 16)`` float32 of the graphs ``rows``; ``values``
    (``(n_nodes_total,)``, default the max-scaled energies) are summed per voxel."""
    rows = np.asarray(rows, np.int64)
    counts = graphs.n_nodes[rows]
    nodes = ragged_arange(graphs.node_offsets[rows], counts)
    flat = voxel_index(graphs.pos[nodes], graphs.layer[nodes])
    owner = np.repeat(np.arange(rows.size), counts)
    size = int(np.prod(VOXEL_SHAPE))
    weights = graphs.x[nodes, 0] if values is None else np.asarray(values)[nodes]
    inside = flat >= 0
    dense = np.bincount(owner[inside] * size + flat[inside], weights[inside].astype(np.float64),
                        minlength=rows.size * size)
    return torch.from_numpy(dense.astype(np.float32).reshape(rows.size, 1, *VOXEL_SHAPE))
