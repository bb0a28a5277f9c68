"""Dark-photon jet taggers: ResGNN, its GATv2 variant and the legacy 3D-CNN.

Every model outputs one logit per jet (``outputs = ("dark_photon",)``; sigmoid = probability
of a dark-photon jet) and is trained with ``BCEWithLogitsLoss``.

* ``resgnn`` (the slides): GraphConv x5 then GCNConv x2 with residual connections
  (``h <- h + relu(conv(h))`` after the first, which maps the 4 node features to the hidden
  width), global mean and max pooling concatenated, Linear -> ReLU -> Linear to the logit.
  GraphConv aggregates its neighbours by the (edge-weighted) mean, not the sum: with the sum
  the activations grow with the node degree through the residual stack and training stalls.
  Messages are weighted by the edge closeness ``1 - d / r`` (the covariant distance ``d`` is the
  edge attribute, ``r`` the graph's radius), so nearer clusters weigh more.
* ``gatv2`` (the slides' "try attention with GATv2Conv"): the same residual stack with
  GATv2Conv layers (multi-head attention, heads averaged) that see the closeness as a
  1-dimensional edge feature.
* ``cnn3d`` (the legacy tagger): three 3D-CNN branches on the voxelised jet
  (``(1, 7 layers, 16 eta, 16 phi)``, max-scaled energy per voxel): the whole calorimeter, the
  EM layers (0-3) and the hadronic layers (4-6); their features are concatenated and combined by
  a linear layer into one score, as the ATLAS 3D-CNNs' outputs were combined.

Graph models are called ``model(x, edge_index, edge_weight=None, batch=None)``, the signature
``torch_geometric.explain`` uses; the CNN ``model(voxels)``. ``create(name, preset, seed,
**config)`` builds one seeded; ``config`` (hidden width, layer counts, heads) is what the grid
sweep varies and is stored in the checkpoint.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch_geometric.nn import GATv2Conv, GCNConv, GraphConv, global_max_pool, global_mean_pool

from hepxai.core.errors import HepxaiError
from hepxai.usecases.darkjet.names import PRESETS

OUTPUTS = ("dark_photon",)
N_NODE_FEATURES = 4
VOXEL_SHAPE = (7, 16, 16)  # sampling layers, eta bins, phi bins
VOXEL_HALF_WIDTH = 0.4     # voxels cover |d_eta|, |d_phi| < 0.4 (the jet cone)
EM_LAYERS = slice(0, 4)
HAD_LAYERS = slice(4, 7)


@dataclass(frozen=True)
class DarkJetRecipe:
    """How a preset is trained (what the generic training loop reads)."""

    optimizer: str = "adam"
    learning_rate: float = 2e-3
    batch_size: int = 256
    epochs: int = 6
    schedule: str = "onecycle"
    weight_decay: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


RECIPES = {
    "quick": DarkJetRecipe(batch_size=128, epochs=2, learning_rate=3e-3),
    "fast": DarkJetRecipe(batch_size=256, epochs=6, learning_rate=2e-3),
    # the slides' scale: larger network, batch and epochs (a GPU run)
    "paper": DarkJetRecipe(batch_size=512, epochs=30, learning_rate=1e-3),
}
DEFAULT_CONFIG = {
    "resgnn": {"quick": {"hidden": 16}, "fast": {"hidden": 48}, "paper": {"hidden": 128}},
    "gatv2": {"quick": {"hidden": 16, "heads": 2}, "fast": {"hidden": 48, "heads": 2},
              "paper": {"hidden": 128, "heads": 4}},
    "cnn3d": {"quick": {"channels": 4}, "fast": {"channels": 8}, "paper": {"channels": 16}},
}


class DarkJetModel(nn.Module):
    """Common declarations of the dark-jet taggers."""

    use_case = "darkjet"
    outputs = OUTPUTS
    representation = "graph"  # "graph" or "voxel": what the model reads
    name = "darkjet-model"

    def __init__(self, preset: str, config: dict[str, Any]):
        super().__init__()
        self.preset = preset
        self.config = dict(config)
        self.recipe = RECIPES[preset]

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


class _ResidualGraphNet(DarkJetModel):
    """Residual stack of graph convolutions -> mean+max pooling -> Linear -> Linear."""

    def __init__(self, preset: str, config: dict[str, Any]):
        super().__init__(preset, config)
        hidden = int(config["hidden"])
        self.convs = nn.ModuleList(self._make_convs(hidden, config))
        self.lin = nn.Linear(2 * hidden, hidden)
        self.linout = nn.Linear(hidden, 1)

    def _make_convs(self, hidden: int, config: dict[str, Any]) -> list[nn.Module]:
        raise NotImplementedError

    def _conv(self, conv: nn.Module, h: torch.Tensor, edge_index: torch.Tensor,
              edge_weight: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def embed(self, x: torch.Tensor, edge_index: torch.Tensor,
              edge_weight: torch.Tensor | None = None) -> torch.Tensor:
        """Node embeddings ``(n_nodes, hidden)`` after the last graph convolution."""
        h = torch.relu(self._conv(self.convs[0], x, edge_index, edge_weight))
        for conv in self.convs[1:]:
            h = h + torch.relu(self._conv(conv, h, edge_index, edge_weight))
        return h

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor,
                edge_weight: torch.Tensor | None = None,
                batch: torch.Tensor | None = None) -> torch.Tensor:
        """Nodes ``(n_nodes, 4)``, edges ``(2, n_edges)``, closeness ``(n_edges,)``, graph of
        each node ``(n_nodes,)`` -> logits ``(n_graphs,)``."""
        if batch is None:
            batch = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        h = self.embed(x, edge_index, edge_weight)
        pooled = torch.cat([global_mean_pool(h, batch), global_max_pool(h, batch)], dim=1)
        return self.linout(torch.relu(self.lin(pooled))).squeeze(-1)

    @property
    def head(self) -> nn.Module:
        """The final linear layer (last-layer TracIn)."""
        return self.linout


class ResGNN(_ResidualGraphNet):
    """GraphConv x ``n_graphconv`` + GCNConv x ``n_gcn`` with residual connections."""

    name = "resgnn"

    def _make_convs(self, hidden: int, config: dict[str, Any]) -> list[nn.Module]:
        n_graph, n_gcn = int(config.get("n_graphconv", 5)), int(config.get("n_gcn", 2))
        if n_graph < 1 or n_gcn < 0:
            raise HepxaiError(f"resgnn needs n_graphconv >= 1 and n_gcn >= 0, got {n_graph}, "
                              f"{n_gcn}")
        # mean aggregation: with sum, activations grow with the node degree (~8) through the
        # residual stack (initial logits of O(30)) and training stalls
        convs: list[nn.Module] = [GraphConv(N_NODE_FEATURES, hidden, aggr="mean")]
        convs += [GraphConv(hidden, hidden, aggr="mean") for _ in range(n_graph - 1)]
        convs += [GCNConv(hidden, hidden) for _ in range(n_gcn)]
        return convs

    def _conv(self, conv, h, edge_index, edge_weight):
        return conv(h, edge_index, edge_weight)


class GATv2Net(_ResidualGraphNet):
    """The same residual stack with ``n_layers`` GATv2Conv attention layers."""

    name = "gatv2"

    def _make_convs(self, hidden: int, config: dict[str, Any]) -> list[nn.Module]:
        heads, n_layers = int(config.get("heads", 2)), int(config.get("n_layers", 5))
        if heads < 1 or n_layers < 1:
            raise HepxaiError(f"gatv2 needs heads >= 1 and n_layers >= 1, got {heads}, "
                              f"{n_layers}")
        return [GATv2Conv(N_NODE_FEATURES if i == 0 else hidden, hidden, heads=heads,
                          concat=False, edge_dim=1, add_self_loops=True, fill_value=1.0)
                for i in range(n_layers)]

    def _conv(self, conv, h, edge_index, edge_weight):
        attr = None if edge_weight is None else edge_weight.view(-1, 1)
        return conv(h, edge_index, edge_attr=attr)


class _Branch3D(nn.Module):
    """Conv3d -> ReLU -> Conv3d -> ReLU -> average pool to a fixed size -> features."""

    def __init__(self, channels: int, depth: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv3d(1, channels, kernel_size=3, padding=1), nn.ReLU(),
            nn.MaxPool3d(kernel_size=(1, 2, 2)),
            nn.Conv3d(channels, 2 * channels, kernel_size=(min(3, depth), 3, 3),
                      padding=(min(3, depth) // 2, 1, 1)), nn.ReLU(),
            nn.AdaptiveAvgPool3d((1, 4, 4)))
        self.out_features = 2 * channels * 16

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return self.body(v).flatten(1)


class CNN3D(DarkJetModel):
    """Three 3D-CNN branches (all layers, EM, hadronic) combined into one score."""

    name = "cnn3d"
    representation = "voxel"

    def __init__(self, preset: str, config: dict[str, Any]):
        super().__init__(preset, config)
        channels = int(config["channels"])
        self.full = _Branch3D(channels, VOXEL_SHAPE[0])
        self.em = _Branch3D(channels, EM_LAYERS.stop - EM_LAYERS.start)
        self.had = _Branch3D(channels, HAD_LAYERS.stop - HAD_LAYERS.start)
        width = self.full.out_features + self.em.out_features + self.had.out_features
        self.lin = nn.Linear(width, 32)
        self.linout = nn.Linear(32, 1)

    def forward(self, voxels: torch.Tensor) -> torch.Tensor:
        """``(b, 1, 7, 16, 16)`` max-scaled energies -> logits ``(b,)``."""
        features = torch.cat([self.full(voxels), self.em(voxels[:, :, EM_LAYERS]),
                              self.had(voxels[:, :, HAD_LAYERS])], dim=1)
        return self.linout(torch.relu(self.lin(features))).squeeze(-1)

    @property
    def head(self) -> nn.Module:
        return self.linout


#: name -> class; the names are :data:`hepxai.usecases.darkjet.names.MODELS`
MODELS: dict[str, type[DarkJetModel]] = {"resgnn": ResGNN, "gatv2": GATv2Net, "cnn3d": CNN3D}


def create(name: str, preset: str = "fast", seed: int = 1, **config: Any) -> DarkJetModel:
    """A freshly initialised model; the same (name, preset, seed, config) gives the same
    weights. ``config`` overrides the preset's architecture (e.g. ``hidden=32``)."""
    if name not in MODELS:
        raise HepxaiError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    if preset not in PRESETS:
        raise HepxaiError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    merged = {**DEFAULT_CONFIG[name][preset], **config}
    torch.manual_seed(seed)
    return MODELS[name](preset, merged)


def rebuild(state: dict[str, Any]) -> DarkJetModel:
    """The model of a checkpoint dict (weights not loaded yet)."""
    from hepxai.io.checkpoint import recipe_of

    model = create(state["model"], state["preset"], **(state.get("config") or {}))
    model.recipe = recipe_of(state, DarkJetRecipe)
    return model
