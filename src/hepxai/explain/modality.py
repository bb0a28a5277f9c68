"""What differs between pixels, table rows and graph nodes, and nothing else.

An explainer (:class:`hepxai.explain.base.Explainer`) is written once against a
:class:`Modality`: it asks the modality to turn the user's inputs into a :class:`Batch` (the
tensor it attributes, ``x``, plus whatever else the forward pass needs), to run the model on
``copies`` stacked variants of ``x`` (path points, noisy copies) in one pass, to repeat
examples, to say which items are real (lit pixels, nodes, features) and to remove items
(deletion curves). Three modalities cover the use cases:

* :class:`Image`: ``(n, C, H, W)`` tensors (binary hit maps or real-valued), items are pixels;
* :class:`Table`: ``(n, F)`` rows of named features, items are features;
* :class:`Graph`: PyTorch Geometric ``Data`` / ``Batch`` of many graphs, the model called as
  ``model(x, edge_index, **keys)`` with one output row per graph; items are nodes (node
  feature rows) and, through PyG's edge masks, edges.

Stacked copies are copy-major: copy ``j`` of example ``i`` is row ``j * n + i`` of the
outputs, so ``outputs.view(copies, n, -1)`` separates them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from hepxai.core import ragged
from hepxai.core.errors import HepxaiError


@dataclass
class Batch:
    """Examples prepared for an explainer.

    Attributes:
        x: the attributed input: dense ``(n, *shape)``; graphs: node features
            ``(n_nodes_total, F)``.
        n: number of examples (images, rows, graphs).
        args: additional forward arguments (dense modalities; per-example tensors have ``n``
            rows and follow the examples through chunking and copies).
        offsets: graphs: node offsets ``(n + 1,)``; else ``None``.
        graph: graphs: ``edge_index``, ``batch`` vector, edge offsets and the extra keys.
    """

    x: torch.Tensor
    n: int
    args: tuple = ()
    offsets: np.ndarray | None = None
    graph: dict[str, Any] = field(default_factory=dict)


def _per_example(value: Any, n: int) -> bool:
    return isinstance(value, torch.Tensor) and value.ndim >= 1 and value.shape[0] == n


class Modality:
    """The operations an explainer needs on its inputs (see the module docstring)."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = ""  # the Attribution kind of its items

    def prepare(self, inputs: Any, additional_forward_args: Any = ()) -> Batch:
        raise NotImplementedError

    def select(self, batch: Batch, start: int, stop: int) -> Batch:
        """Examples ``start:stop``."""
        x = batch.x[start:stop]
        args = tuple(a[start:stop] if _per_example(a, batch.n) else a for a in batch.args)
        return Batch(x, stop - start, args)

    def stack(self, tensor: torch.Tensor, copies: int) -> torch.Tensor:
        """``copies`` copies of a per-example (or per-node) tensor, copy-major."""
        return tensor.repeat(copies, *([1] * (tensor.ndim - 1))) if copies > 1 else tensor

    def forward(self, model: Any, batch: Batch, x: torch.Tensor | None = None, copies: int = 1,
                edge_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The model on ``x`` (default ``batch.x``): ``copies`` stacked variants of the batch
        (``x`` has ``copies`` times the rows of ``batch.x``) -> outputs ``(copies * n, K)``."""
        x = batch.x if x is None else x
        args = tuple(self.stack(a, copies) if _per_example(a, batch.n) else a
                     for a in batch.args)
        out = model(x, *args)
        return out.reshape(len(x), -1)

    def take(self, batch: Batch, rows: np.ndarray) -> Batch:
        """The examples ``rows`` (any order, repeats allowed), in that order."""
        index = torch.as_tensor(np.asarray(rows, np.int64))
        args = tuple(a[index] if _per_example(a, batch.n) else a for a in batch.args)
        return Batch(batch.x[index], len(index), args)

    def repeat(self, batch: Batch, times: int) -> Batch:
        """Every example ``times`` times in a row (example-major: row ``i * times + j``)."""
        return self.take(batch, np.repeat(np.arange(batch.n), times))

    def remove(self, batch: Batch, keep: np.ndarray, baseline: Any = None) -> Batch:
        """The examples with the items not in ``keep`` (bool per item, the
        :meth:`item_mask` layout) set to the baseline (default 0: no hit, no value)."""
        keep = np.asarray(keep, bool)  # (n, *item_shape): broadcast over channel axes
        keep_t = torch.from_numpy(keep).reshape(batch.n, *([1] * (batch.x.ndim - keep.ndim)),
                                                *keep.shape[1:])
        base = self.baseline(batch, baseline)
        return Batch(torch.where(keep_t, batch.x, base), batch.n, batch.args)

    def item_mask(self, batch: Batch) -> np.ndarray:
        """bool: which items are real, per example (dense ``(n, *item_shape)``)."""
        raise NotImplementedError

    def baseline(self, batch: Batch, baselines: Any) -> torch.Tensor:
        """``baselines`` (``None`` = zeros, a number, one example's shape or one per example)
        as a tensor of ``batch.x``'s shape."""
        x = batch.x
        if baselines is None:
            return torch.zeros_like(x)
        b = torch.as_tensor(baselines, dtype=x.dtype, device=x.device)
        if b.ndim == x.ndim and b.shape[0] == len(x):
            return b
        try:
            return torch.broadcast_to(b, x.shape).clone()
        except RuntimeError:
            raise HepxaiError(f"baselines of shape {tuple(b.shape)} do not fit inputs of shape "
                              f"{tuple(x.shape)}; give a number, one example's shape or one "
                              "baseline per example") from None

    def select_baseline(self, baselines: Any, batch: Batch, start: int, stop: int) -> Any:
        """The baselines of examples ``start:stop`` (per-example baselines are sliced)."""
        if isinstance(baselines, torch.Tensor | np.ndarray) and np.ndim(baselines) == \
                batch.x.ndim and len(baselines) == batch.n and batch.n > 1:
            return baselines[start:stop]
        return baselines

    def example_of_row(self, batch: Batch) -> np.ndarray:
        """The example each row of ``x`` belongs to."""
        return np.arange(batch.n)


def _as_float_tensor(inputs: Any, what: str) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(inputs) if isinstance(inputs, np.ndarray | list) else inputs)
    if not isinstance(x, torch.Tensor):
        raise HepxaiError(f"{what} must be a tensor or an array, got a {type(inputs).__name__}")
    if x.dtype == torch.bool or not torch.is_floating_point(x):
        if not (x.dtype == torch.bool or x.dtype.is_signed or x.dtype == torch.uint8):
            raise HepxaiError(f"{what} must be numbers, got dtype {x.dtype}")
        x = x.to(torch.float32)
    # explained in float32, the precision models run at
    return x.to(torch.float32).detach()


@dataclass(frozen=True)
class Image(Modality):
    """Images ``(n, C, H, W)``; items are pixels (one relevance per pixel after the channels
    are reduced).

    Args:
        shape: the expected ``(C, H, W)``; ``(n, H, W)`` inputs get the channel axis when
            ``C = 1``. ``None`` accepts any ``(n, C, H, W)``.
        binary: hit maps: every value must be 0 or 1, and lit pixels are the real items (paths
            of binary IG and deletion run over them).
        sparse: zero pixels are empty (not items) although values are real; default: as
            ``binary``.
        what: how error messages name the images (``"hit maps"``).

    >>> Image(shape=(1, 9, 384), binary=True).prepare(torch.zeros(2, 9, 384)).x.shape
    torch.Size([2, 1, 9, 384])
    """

    shape: tuple[int, int, int] | None = None
    binary: bool = False
    sparse: bool | None = None
    what: str = "images"
    name: ClassVar[str] = "image"
    kind: ClassVar[str] = "pixel"

    def prepare(self, inputs: Any, additional_forward_args: Any = ()) -> Batch:
        x = _as_float_tensor(inputs, self.what)
        if self.shape is not None and x.ndim == 3 and self.shape[0] == 1:
            x = x.unsqueeze(1)
        expected = "(n, C, H, W)" if self.shape is None else \
            f"(n, {', '.join(map(str, self.shape))})" + \
            (f" or (n, {self.shape[1]}, {self.shape[2]})" if self.shape[0] == 1 else "")
        if x.ndim != 4 or (self.shape is not None and tuple(x.shape[1:]) != tuple(self.shape)):
            raise HepxaiError(f"{self.what} must be {expected}, got shape {tuple(x.shape)}")
        if x.shape[0] == 0:
            raise HepxaiError(f"no {self.what} to explain; select at least one event")
        if not torch.isfinite(x).all():
            raise HepxaiError(f"{self.what} contain NaN or infinite values")
        if self.binary and ((x != 0) & (x != 1)).any():
            raise HepxaiError(f"{self.what} must be binary (0/1); got other values")
        return Batch(x, len(x), _args(additional_forward_args))

    @property
    def lit_only(self) -> bool:
        return self.binary if self.sparse is None else self.sparse

    def item_mask(self, batch: Batch) -> np.ndarray:
        x = batch.x.detach().cpu()
        if self.lit_only:
            return (x != 0).any(dim=1).numpy()
        return np.ones((batch.n, *x.shape[2:]), bool)


@dataclass(frozen=True)
class Table(Modality):
    """Rows ``(n, F)`` of named features in their physical units; items are features.

    >>> Table(feature_names=("met", "mt")).prepare(np.zeros((3, 2))).x.shape
    torch.Size([3, 2])
    """

    feature_names: tuple[str, ...] | None = None
    what: str = "events"
    name: ClassVar[str] = "table"
    kind: ClassVar[str] = "feature"

    def prepare(self, inputs: Any, additional_forward_args: Any = ()) -> Batch:
        x = _as_float_tensor(inputs, self.what)
        n_features = None if self.feature_names is None else len(self.feature_names)
        if x.ndim != 2 or (n_features is not None and x.shape[1] != n_features):
            raise HepxaiError(f"{self.what} must be a table (n_events, "
                              f"{n_features or 'n_features'}), got shape {tuple(x.shape)}")
        if len(x) == 0:
            raise HepxaiError(f"{self.what}: no events; select at least one event")
        bad = int((~torch.isfinite(x)).sum())
        if bad:
            raise HepxaiError(f"{self.what} hold {bad} NaN or infinite values; clean the table "
                              "first")
        return Batch(x, len(x), _args(additional_forward_args))

    def item_mask(self, batch: Batch) -> np.ndarray:
        return np.ones(tuple(batch.x.shape), bool)


def _args(additional_forward_args: Any) -> tuple:
    if additional_forward_args is None:
        return ()
    if isinstance(additional_forward_args, tuple):
        return additional_forward_args
    return (additional_forward_args,)


@dataclass(frozen=True)
class Graph(Modality):
    """Many graphs in one PyTorch Geometric ``Batch`` (or one ``Data``, or a list of them),
    the model called ``model(x, edge_index, **{key: data[key] for key in keys})`` with one
    output row per graph (graph-level tasks). Items are nodes (rows of ``x``); edges are
    attributed through PyG's edge masks (:func:`torch_geometric.explain.algorithm.utils.
    set_masks`), which every ``MessagePassing`` layer applies to its messages.

    Args:
        keys: the extra forward arguments taken from the data: ``"batch"`` (the node-to-graph
            vector, PyG's usual graph-classification signature) and edge attributes such as
            ``"edge_weight"``.

    >>> Graph(keys=("edge_weight", "batch"))   # hepxai's dark-jet taggers
    Graph(keys=('edge_weight', 'batch'))
    """

    keys: tuple[str, ...] = ("batch",)
    name: ClassVar[str] = "graph"
    kind: ClassVar[str] = "node"

    def prepare(self, inputs: Any, additional_forward_args: Any = ()) -> Batch:
        from torch_geometric.data import Batch as PygBatch
        from torch_geometric.data import Data

        if isinstance(inputs, Sequence) and inputs and all(isinstance(d, Data) for d in inputs):
            inputs = PygBatch.from_data_list(list(inputs))
        if not isinstance(inputs, Data):  # a PyG Batch is a Data
            raise HepxaiError(f"graph inputs must be a torch_geometric Data or Batch, got a "
                              f"{type(inputs).__name__}")
        if additional_forward_args not in ((), None):
            raise HepxaiError("graph inputs carry their forward arguments themselves; name them "
                              "with Graph(keys=...) instead of additional_forward_args")
        if inputs.x is None or inputs.num_nodes == 0:
            raise HepxaiError("no graphs to explain (no nodes); select at least one graph")
        x = _as_float_tensor(inputs.x, "node features")
        if x.ndim != 2:
            raise HepxaiError(f"node features must be (n_nodes, n_features), got shape "
                              f"{tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise HepxaiError("node features contain NaN or infinite values")
        edge_index = inputs.edge_index
        vector = getattr(inputs, "batch", None)
        if vector is None:
            vector = torch.zeros(len(x), dtype=torch.long)
        if len(vector) > 1 and bool((vector[1:] < vector[:-1]).any()):
            raise HepxaiError("the nodes of each graph must be contiguous (a PyG Batch is)")
        n = int(vector.max()) + 1
        offsets = ragged.offsets_of(np.bincount(vector.numpy(), minlength=n))
        owner = vector[edge_index[0]].numpy() if edge_index.numel() else np.zeros(0, np.int64)
        if len(owner) > 1 and (np.diff(owner) < 0).any():
            raise HepxaiError("the edges of each graph must be contiguous (a PyG Batch is)")
        edge_offsets = ragged.offsets_of(np.bincount(owner, minlength=n))
        extra = {}
        for key in self.keys:
            if key == "batch":
                continue
            value = getattr(inputs, key, None)
            if value is not None and (not isinstance(value, torch.Tensor)
                                      or value.shape[0] != edge_index.shape[1]):
                raise HepxaiError(f"graph key {key!r} must be one value per edge")
            extra[key] = value
        graph = {"edge_index": edge_index, "batch": vector, "edge_offsets": edge_offsets,
                 "extra": extra}
        return Batch(x, n, (), offsets, graph)

    # -- graph bookkeeping ------------------------------------------------------------------
    def select(self, batch: Batch, start: int, stop: int) -> Batch:
        nodes = slice(int(batch.offsets[start]), int(batch.offsets[stop]))
        edges = slice(int(batch.graph["edge_offsets"][start]),
                      int(batch.graph["edge_offsets"][stop]))
        return self._subset(batch, nodes, edges, start, stop)

    def _subset(self, batch: Batch, nodes: slice, edges: slice, start: int, stop: int) -> Batch:
        g = batch.graph
        offsets = batch.offsets[start:stop + 1] - batch.offsets[start]
        edge_offsets = g["edge_offsets"][start:stop + 1] - g["edge_offsets"][start]
        graph = {"edge_index": g["edge_index"][:, edges] - nodes.start,
                 "batch": g["batch"][nodes] - start, "edge_offsets": edge_offsets,
                 "extra": {k: None if v is None else v[edges] for k, v in g["extra"].items()}}
        return Batch(batch.x[nodes], stop - start, (), offsets, graph)

    def _structure(self, batch: Batch, copies: int) -> tuple[torch.Tensor, dict[str, Any]]:
        g = batch.graph
        edge_index, vector = g["edge_index"], g["batch"]
        if copies > 1:
            n_nodes = len(batch.x)
            shift = torch.arange(copies).repeat_interleave(edge_index.shape[1]) * n_nodes
            edge_index = edge_index.repeat(1, copies) + shift
            vector = vector.repeat(copies) + torch.arange(copies).repeat_interleave(
                len(vector)) * batch.n
        kwargs = {k: (None if v is None else v.repeat(copies, *([1] * (v.ndim - 1))))
                  for k, v in g["extra"].items()}
        if "batch" in self.keys:
            kwargs["batch"] = vector
        return edge_index, kwargs

    def forward(self, model: Any, batch: Batch, x: torch.Tensor | None = None, copies: int = 1,
                edge_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = batch.x if x is None else x
        edge_index, kwargs = self._structure(batch, copies)
        if edge_mask is None:
            out = model(x, edge_index, **kwargs)
        else:
            from torch_geometric.explain.algorithm.utils import clear_masks, set_masks

            set_masks(model, edge_mask, edge_index, apply_sigmoid=False)
            try:
                out = model(x, edge_index, **kwargs)
            finally:
                clear_masks(model)
        return out.reshape(copies * batch.n, -1)

    def take(self, batch: Batch, rows: np.ndarray) -> Batch:
        """The graphs ``rows`` (any order, repeats allowed), nodes and edges with them."""
        g = batch.graph
        rows = np.asarray(rows, np.int64)
        counts, edge_counts = np.diff(batch.offsets), np.diff(g["edge_offsets"])
        node_index, _ = ragged.take(batch.offsets, rows)
        edge_take, edge_copy = ragged.take(g["edge_offsets"], rows)
        offsets = ragged.offsets_of(counts[rows])
        edge_offsets = ragged.offsets_of(edge_counts[rows])
        # an edge's nodes move with its graph: old start of the graph -> its new start
        shift = offsets[:-1][edge_copy] - batch.offsets[:-1][rows[edge_copy]]
        edges = torch.from_numpy(edge_take)
        edge_index = g["edge_index"][:, edges] + torch.from_numpy(shift)
        vector = torch.from_numpy(np.repeat(np.arange(len(rows)), counts[rows]))
        graph = {"edge_index": edge_index, "batch": vector, "edge_offsets": edge_offsets,
                 "extra": {k: None if v is None else v[edges] for k, v in g["extra"].items()}}
        return Batch(batch.x[torch.from_numpy(node_index)], len(rows), (), offsets, graph)

    def remove(self, batch: Batch, keep: np.ndarray, baseline: Any = None) -> Batch:
        """The induced subgraphs of the nodes with ``keep`` (bool per node), edge keys kept
        (removing a node removes it, there is no baseline node)."""
        from torch_geometric.utils import subgraph

        keep_t = torch.as_tensor(np.asarray(keep, bool))
        g = batch.graph
        edge_index, _, edge_mask = subgraph(keep_t, g["edge_index"], relabel_nodes=True,
                                            num_nodes=len(keep_t), return_edge_mask=True)
        vector = g["batch"][keep_t]
        offsets = ragged.offsets_of(np.bincount(vector.numpy(), minlength=batch.n))
        owner = vector[edge_index[0]].numpy() if edge_index.numel() else np.zeros(0, np.int64)
        edge_offsets = ragged.offsets_of(np.bincount(owner, minlength=batch.n))
        graph = {"edge_index": edge_index, "batch": vector, "edge_offsets": edge_offsets,
                 "extra": {k: None if v is None else v[edge_mask] for k, v in g["extra"].items()}}
        return Batch(batch.x[keep_t], batch.n, (), offsets, graph)

    def item_mask(self, batch: Batch) -> np.ndarray:
        return np.ones(len(batch.x), bool)

    def select_baseline(self, baselines: Any, batch: Batch, start: int, stop: int) -> Any:
        if isinstance(baselines, torch.Tensor | np.ndarray) and np.ndim(baselines) == 2 and \
                len(baselines) == len(batch.x):
            return baselines[int(batch.offsets[start]):int(batch.offsets[stop])]
        return baselines

    def example_of_row(self, batch: Batch) -> np.ndarray:
        return np.repeat(np.arange(batch.n), np.diff(batch.offsets))


def modality_of(inputs: Any) -> Modality:
    """The modality of ``inputs`` when none is given: a PyG ``Data``/``Batch`` (or a list of
    them) is a :class:`Graph`, a 2-D array a :class:`Table`, a 3-D or 4-D one an
    :class:`Image`."""
    if "torch_geometric" in sys.modules:  # PyG objects exist only once PyG is imported
        from torch_geometric.data import Data

        if isinstance(inputs, Data) or (isinstance(inputs, list) and inputs
                                        and isinstance(inputs[0], Data)):
            return Graph()
    ndim = np.ndim(inputs) if not isinstance(inputs, torch.Tensor) else inputs.ndim
    if ndim == 2:
        return Table()
    if ndim in (3, 4):
        return Image()
    raise HepxaiError(f"cannot tell what inputs of {ndim} dimensions are; pass modality="
                      "Image(...), Table(...) or Graph(...)")


__all__ = ["Batch", "Graph", "Image", "Modality", "Table", "modality_of"]
