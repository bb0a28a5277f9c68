"""GNNExplainer (Ying et al. 2019) through PyTorch Geometric's implementation: one soft mask
per node and one per edge, learned per graph for ``epochs`` steps against the model's own
prediction of the explained output (PyG's ``explanation_type="model"``).

Values are the node masks ``(n_nodes_total, 1)`` (PyG's ``node_mask_type="object"``: one value
per node, not per feature) and the edge masks, in [0, 1]; graphs are explained one at a time,
as PyG learns one mask set per call. For a one-output model (a binary tagger's logit) PyG's
binary-classification loss is used, for a column of a multi-output model its regression loss.
The masks start random: every graph starts from ``torch.manual_seed(seed)``. The defaults are
PyG's (100 steps at lr 0.01); on the dark-jet ResGNN those masks keep a Spearman correlation of
0.39 with their random start and two seeds agree at only 0.64, so measure the settings for
your model: ``bench/gnnexplainer.py`` does it (the dark-jet study uses 25 steps at lr 1.0,
where masks have left their start, stopped changing and agree at 0.81). PyG leaves its
learned edge mask registered in the model's message-passing layers, so the masks are learned on
a private copy of the model: the model itself is left as it was found.

A single optimisation depends on its start: ``restarts=k`` averages the masks of ``k``
optimisations (the first from ``seed``, the others from :func:`restart_seed`), as many as
the seed-stability study (:func:`hepxai.explain.judging.sanity.seed_stability`) finds needed
for two such averages to agree.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from hepxai.core.errors import HepxaiError
from hepxai.explain.base import Explainer, Parts, Targets
from hepxai.explain.modality import Batch, Modality


class _Column(nn.Module):
    """Column ``column`` of a model with ``k`` outputs per graph."""

    def __init__(self, model: nn.Module, column: int, k: int):
        super().__init__()
        self.model, self.column, self.k = model, column, k

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self.model(*args, **kwargs).reshape(-1, self.k)[:, self.column]


def restart_seed(seed: int, restart: int) -> int:
    """The torch seed of optimisation ``restart`` of ``GNNExplainer(seed=seed)``: ``seed``
    itself for the first, then 32-bit draws of ``SeedSequence([seed, restart])``, so the
    restarts of two seeds share a start only by a chance of about one in 2**32."""
    if restart == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), int(restart)]).generate_state(1)[0])


class GNNExplainer(Explainer):
    """PyG's GNNExplainer, one node mask and one edge mask learned per graph (the mean over
    ``restarts`` optimisations from different random starts).

    >>> from torch_geometric.data import Data
    >>> from torch_geometric.nn import GraphConv, global_mean_pool
    >>> class Net(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.conv, self.out = GraphConv(2, 4), nn.Linear(4, 1)
    ...     def forward(self, x, edge_index, batch=None):
    ...         return self.out(global_mean_pool(self.conv(x, edge_index), batch))
    >>> graph = Data(x=torch.rand(5, 2), edge_index=torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]]))
    >>> GNNExplainer(Net(), epochs=10).attribute(graph).values.shape   # a mask value per node
    (5, 1)
    """

    name = "gnnexplainer"
    modalities = ("graph",)
    default_batch_size = 1

    def __init__(self, model: Any, *, epochs: int = 100, lr: float = 0.01, seed: int = 0,
                 restarts: int = 1, **options: Any):
        if epochs < 1:
            raise HepxaiError(f"epochs must be at least 1, got {epochs}")
        if restarts < 1:
            raise HepxaiError(f"restarts must be at least 1, got {restarts}")
        options["fused"] = False
        super().__init__(model, **options)
        self.epochs, self.lr, self.seed, self.restarts = epochs, lr, seed, restarts
        self.params = {"epochs": epochs, "lr": lr, "seed": seed,
                       **({"restarts": restarts} if restarts > 1 else {})}

    @property
    def runner(self) -> Any:
        """A private eval-mode copy: PyG leaves its masks registered on the model it gets."""
        if self._runner is None:
            self._runner = copy.deepcopy(self.model).eval()
        return self._runner

    @classmethod
    def supports(cls, model: Any) -> str | None:
        from torch_geometric.nn import MessagePassing

        if not isinstance(model, nn.Module) or not any(
                isinstance(m, MessagePassing) for m in model.modules()):
            return (f"learns masks on the messages of a graph network; "
                    f"{getattr(model, 'name', type(model).__name__)} has no PyG message-"
                    "passing layer")
        return None

    def _attribute(self, modality: Modality, batch: Batch, targets: Targets, baselines: Any,
                   ids: np.ndarray) -> Parts:
        from torch_geometric.explain import Explainer as PygExplainer
        from torch_geometric.explain import GNNExplainer as PygGNNExplainer

        if baselines is not None:
            raise HepxaiError(f"{self.name} learns masks; it takes no baselines")
        model = self.runner
        k = int(self._outputs(modality, batch).shape[1])
        edge_index, kwargs = modality._structure(batch, 1)
        nodes, edges = [], []
        for column in targets.columns:
            if k == 1:
                explained, config = model, {"mode": "binary_classification"}
            else:
                explained = _Column(model, column, k)
                config = {"mode": "regression"}
            explainer = PygExplainer(
                model=explained, algorithm=PygGNNExplainer(epochs=self.epochs, lr=self.lr),
                explanation_type="model", node_mask_type="object", edge_mask_type="object",
                model_config={**config, "task_level": "graph", "return_type": "raw"})
            node, edge = 0.0, 0.0
            for restart in range(self.restarts):
                # the masks start random: seeded, reproducible
                torch.manual_seed(restart_seed(self.seed, restart))
                explanation = explainer(batch.x, edge_index, **kwargs)
                node = node + explanation.node_mask.detach().reshape(-1, 1)
                edge = edge + explanation.edge_mask.detach().reshape(-1)
            nodes.append(node / self.restarts)
            edges.append(edge / self.restarts)
        return Parts(torch.stack(nodes, dim=1), None, None, torch.stack(edges, dim=1))
