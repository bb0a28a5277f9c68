"""What the ONNX export (:mod:`hepxai.models.onnx_export`) needs to know of the dark-jet
models: the GNNs take ``x (nodes, 4)``, ``edge_index (2, edges)``, ``edge_weight (edges,)``,
``batch (nodes,)`` -> one logit per graph, the 3D-CNN voxels ``(b, 1, 7, 16, 16)`` -> ``(b,)``;
checked on ``val.h5``, built with the graph settings the model was trained with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hepxai.models.onnx_export import GRAPHS, VOXELS, Exportable

CHECK_FILE = "val.h5"


def exportable(model: Any, record: dict[str, Any], data: Path, n: int) -> Exportable:
    """The model with the graphs (or voxels) of the first ``n`` validation jets of ``data``."""
    from hepxai.usecases.darkjet.evaluation import graph_settings_of
    from hepxai.usecases.darkjet.graphs import load_graphs
    from hepxai.usecases.darkjet.store import split_path
    from hepxai.usecases.darkjet.task import JetSet

    path = split_path(data, "val")
    # the graphs the model was trained on; built, not cached: the export writes no other file
    graphs = load_graphs(path, graph_settings_of(record), max_jets=n, use_cache=False)
    jets = JetSet(graphs, model.representation)
    if model.representation == "voxel":
        return Exportable(model, record["model"], "darkjet", record["preset"], VOXELS, "jets",
                          len(jets), lambda rows: (jets.batch(rows)[0],), path)

    def take(rows: Any) -> tuple[Any, ...]:
        b = jets.batch(rows)[0]
        return b.x, b.edge_index, b.edge_weight, b.batch

    return Exportable(model, record["model"], "darkjet", record["preset"], GRAPHS, "jets",
                      len(jets), take, path)
