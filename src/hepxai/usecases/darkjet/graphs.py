"""DarkJetGraphs: calorimeter clusters as radius graphs, built for many jets at once.

Node = cluster. Graph-space position (the 3D view of the slides) ``pos = (d_eta, d_phi,
layer * layer_spacing)``, with ``d_eta, d_phi`` relative to the jet axis (the energy-weighted
cluster centroid, phi unwrapped around the leading cluster) and the sampling-layer index scaled by
``layer_spacing`` so one layer step is comparable to the cluster spacing in (eta, phi): with raw
integer layers no radius of the order of the angular spacing would ever join two layers.

Node features ``x = (E / E_max, d_eta, d_phi, layer / 6)``: the max-scaled energy of the slides
(the absolute scale is removed) and the position.

Edges: the geometric (radius) graph of networkx's ``geometric_edges``: nodes ``u != v`` joined
when ``||pos_u - pos_v||_p <= r`` with p = 2 (``"euclidean"``) or p = 1 (``"taxicab"``, what the
slides used). The radius of each jet is ``radius_factor`` times the mean nearest-neighbour
distance of a Poisson point process of the jet's density ("Hertz distribution"):
``Gamma(4/3) (c rho)^(-1/3)`` with ``rho = n / V`` (V: the bounding box of the jet's nodes, each
side at least ``min_extent``) and ``c`` the unit-ball volume of the metric (4 pi / 3 for p = 2,
4 / 3 for the taxicab octahedron), so both metrics give the same expected neighbour count.
Edge attribute: the covariant distance, the p = 2 norm between the two nodes, whatever metric
built the graph; graphs also carry their radius so models can turn distances into closeness.

Pre-processing variants (the poster):

* ``gnn-0``: radius graph, then isolated and self-connected nodes removed (a node whose only
  edges are self-loops; self-loops are dropped) -- the baseline;
* ``gnn-1``: only clusters inside ``cone`` (Delta R to the axis) enter, then as gnn-0 -- the
  poster's best;
* ``gnn-2``: radius graph, then only the largest connected subgraph is kept (the rest treated as
  calorimeter noise); ties go to the component with more energy.

A jet that would lose every node keeps its most energetic cluster as a single node, so every
variant keeps every jet and the variants are compared on the same events.

Everything is vectorised over jets: pairs are enumerated per jet-size group (one numpy
broadcast per distinct number of nodes, not per jet), connected components come from scipy on
the block-diagonal graph of a whole chunk. Results are concatenated arrays plus offsets
(:class:`GraphSet`), cached on disk keyed by the settings and the source file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
import scipy.sparse.csgraph
import torch

from hepxai.core.atomic import atomic_path
from hepxai.core.errors import HepxaiError
from hepxai.core.progress import progress
from hepxai.usecases.darkjet.graph_settings import (  # defined there, importing nothing heavy
    CACHE_VERSION,
    METRICS,  # noqa: F401
    VARIANTS,  # noqa: F401
    GraphSettings,
)
from hepxai.usecases.darkjet.simulator import N_LAYERS, Jets
from hepxai.usecases.darkjet.store import DarkJetFile, ragged_arange

NODE_FEATURES = ("energy_scaled", "d_eta", "d_phi", "layer_scaled")
CHUNK_JETS = 16_384


# -- geometry ---------------------------------------------------------------------------------
def hertz_mean_distance(density: np.ndarray, p: int) -> np.ndarray:
    """Mean nearest-neighbour distance of a 3D Poisson process of ``density`` points per unit
    volume: ``Gamma(4/3) (c rho)^(-1/3)``, ``c`` the unit-ball volume of the p-norm."""
    ball = 4.0 * math.pi / 3.0 if p == 2 else 4.0 / 3.0
    return math.gamma(4.0 / 3.0) * (ball * np.asarray(density, np.float64)) ** (-1.0 / 3.0)


def node_positions(jets: Jets, layer_spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Graph-space positions ``(n_clusters, 3)`` float64 (d_eta, d_phi, layer * spacing) and the
    jet axis ``(n_jets, 2)`` (eta, phi) = energy-weighted centroid of the clusters."""
    counts = np.diff(jets.offsets)
    owner = np.repeat(np.arange(len(counts)), counts)
    c = jets.clusters
    energy = c["energy"].astype(np.float64)
    # leading cluster of each jet: phi is unwrapped around it before averaging
    lead = _argmax_per_group(energy, jets.offsets)
    ref_phi = c["phi"][lead].astype(np.float64)
    dphi_ref = _wrap(c["phi"] - ref_phi[owner])
    total = np.bincount(owner, energy, minlength=len(counts))
    safe = np.where(total > 0, total, 1.0)
    axis_eta = np.bincount(owner, energy * c["eta"], minlength=len(counts)) / safe
    axis_phi = _wrap(ref_phi + np.bincount(owner, energy * dphi_ref, minlength=len(counts))
                     / safe)
    pos = np.empty((len(c), 3))
    pos[:, 0] = c["eta"] - axis_eta[owner]
    pos[:, 1] = _wrap(c["phi"] - axis_phi[owner])
    pos[:, 2] = c["layer"].astype(np.float64) * layer_spacing
    return pos, np.stack([axis_eta, axis_phi], axis=1)


def _wrap(phi: np.ndarray) -> np.ndarray:
    return np.mod(np.asarray(phi, np.float64) + np.pi, 2 * np.pi) - np.pi


def _argmax_per_group(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Index of the maximum of every non-empty group ``values[offsets[i]:offsets[i+1]]``
    (first one on ties); -1 for empty groups."""
    counts = np.diff(offsets)
    out = np.full(len(counts), -1, np.int64)
    if values.size == 0:
        return out
    owner = np.repeat(np.arange(len(counts)), counts)
    order = np.lexsort((np.arange(values.size), -values, owner))
    firsts = offsets[:-1][counts > 0]
    out[counts > 0] = order[firsts]
    return out


def jet_radii(pos: np.ndarray, offsets: np.ndarray, settings: GraphSettings) -> np.ndarray:
    """Radius of every jet: ``radius_factor`` x the Hertz mean nearest-neighbour distance."""
    counts = np.diff(offsets)
    nonempty = counts > 0
    extent = np.full((len(counts), 3), settings.min_extent)
    if pos.size:
        starts = offsets[:-1][nonempty]
        hi = np.maximum.reduceat(pos, starts, axis=0)
        lo = np.minimum.reduceat(pos, starts, axis=0)
        extent[nonempty] = np.maximum(hi - lo, settings.min_extent)
    density = np.maximum(counts, 1) / extent.prod(axis=1)
    return settings.radius_factor * hertz_mean_distance(density, settings.p)


_TRIU: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _triu(n: int) -> tuple[np.ndarray, np.ndarray]:
    if n not in _TRIU:
        i, j = np.triu_indices(n, k=1)
        _TRIU[n] = (i.astype(np.int64), j.astype(np.int64))
    return _TRIU[n]


def radius_edges(pos: np.ndarray, offsets: np.ndarray, radius: np.ndarray,
                 p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs ``i < j`` of the same jet with ``||pos_i - pos_j||_p <= radius[jet]``.

    Returns global node indices ``(src, dst)`` (src < dst) and the p = 2 distance of each pair,
    ordered by jet. One broadcast per distinct jet size, none per jet.
    """
    counts = np.diff(offsets)
    src_parts, dst_parts, jet_parts = [], [], []
    for n in np.unique(counts[counts > 1]):
        jets_n = np.flatnonzero(counts == n)
        i, j = _triu(int(n))
        start = offsets[jets_n][:, None]
        a, b = (start + i[None, :]), (start + j[None, :])
        diff = pos[a] - pos[b]
        dist = (np.abs(diff).sum(-1) if p == 1 else np.sqrt((diff * diff).sum(-1)))
        keep = dist <= radius[jets_n][:, None]
        src_parts.append(a[keep])
        dst_parts.append(b[keep])
        jet_parts.append(np.broadcast_to(jets_n[:, None], keep.shape)[keep])
    if not src_parts:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0)
    src, dst, jet = (np.concatenate(x) for x in (src_parts, dst_parts, jet_parts))
    order = np.lexsort((dst, src, jet))
    src, dst = src[order], dst[order]
    d = pos[src] - pos[dst]
    return src, dst, np.sqrt((d * d).sum(-1))


# -- pre-processing on flat graphs ------------------------------------------------------------
def drop_isolated(n_nodes: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Keep-mask ``(n_nodes,)`` of nodes with at least one edge to another node (self-loops do
    not count: a node connected only to itself is dropped)."""
    proper = src != dst
    keep = np.zeros(n_nodes, bool)
    keep[src[proper]] = True
    keep[dst[proper]] = True
    return keep


def largest_component(n_nodes: int, src: np.ndarray, dst: np.ndarray, owner: np.ndarray,
                      weight: np.ndarray) -> np.ndarray:
    """Keep-mask of the nodes in the largest connected component of each graph (``owner``:
    graph of each node); ties go to the component with the larger summed ``weight``."""
    if n_nodes == 0:
        return np.zeros(0, bool)
    adjacency = scipy.sparse.coo_matrix((np.ones(src.size, np.int8), (src, dst)),
                                        shape=(n_nodes, n_nodes))
    _, label = scipy.sparse.csgraph.connected_components(adjacency, directed=False)
    size = np.bincount(label)
    energy = np.bincount(label, weight)
    comp_owner = np.zeros(size.size, np.int64)
    comp_owner[label] = owner
    order = np.lexsort((np.arange(size.size), -energy, -size, comp_owner))
    first = np.ones(order.size, bool)
    first[1:] = comp_owner[order][1:] != comp_owner[order][:-1]
    best = np.zeros(size.size, bool)
    best[order[first]] = True
    return best[label]


# -- the graph set ----------------------------------------------------------------------------
@dataclass
class GraphSet:
    """Many jets' graphs as concatenated arrays plus offsets (PyG's collated layout).

    Node arrays (``n_nodes_total`` rows): ``x`` float32 ``(., 4)`` (:data:`NODE_FEATURES`),
    ``pos`` float32 ``(., 3)`` graph-space position, ``energy`` float32 [GeV], ``layer`` uint8,
    ``is_noise`` bool (truth), ``cluster`` int64 (row in the source file's cluster table).
    Edge arrays (``n_edges_total``, both directions of every undirected edge):
    ``edge_index`` int16 ``(2, .)`` *local* node numbers within the graph, ``edge_attr``
    float32 ``(., 1)`` covariant distance. Per graph: ``node_offsets``, ``edge_offsets``
    ``(n + 1,)``, ``y`` float32 label (1 = dark photon), ``radius`` float32, ``jet_rows`` int64
    (row in the source file), ``pt`` float32 [GeV].
    """

    x: np.ndarray
    pos: np.ndarray
    energy: np.ndarray
    layer: np.ndarray
    is_noise: np.ndarray
    cluster: np.ndarray
    edge_index: np.ndarray
    edge_attr: np.ndarray
    node_offsets: np.ndarray
    edge_offsets: np.ndarray
    y: np.ndarray
    radius: np.ndarray
    jet_rows: np.ndarray
    pt: np.ndarray
    settings: dict[str, Any]

    ARRAYS = ("x", "pos", "energy", "layer", "is_noise", "cluster", "edge_index", "edge_attr",
              "node_offsets", "edge_offsets", "y", "radius", "jet_rows", "pt")

    def __len__(self) -> int:
        return len(self.y)

    @property
    def n_nodes(self) -> np.ndarray:
        return np.diff(self.node_offsets)

    @property
    def n_edges(self) -> np.ndarray:
        return np.diff(self.edge_offsets)

    @staticmethod
    def concatenate(parts: list[GraphSet]) -> GraphSet:
        if not parts:
            raise HepxaiError("no graphs to concatenate")
        out = {}
        for name in GraphSet.ARRAYS:
            if name in ("node_offsets", "edge_offsets"):
                sizes = np.concatenate([np.diff(getattr(p, name)) for p in parts])
                offsets = np.zeros(sizes.size + 1, np.int64)
                np.cumsum(sizes, out=offsets[1:])
                out[name] = offsets
            else:
                axis = 1 if name == "edge_index" else 0
                out[name] = np.concatenate([getattr(p, name) for p in parts], axis=axis)
        return GraphSet(**out, settings=parts[0].settings)

    def subset(self, rows: np.ndarray) -> GraphSet:
        """The graphs ``rows`` in that order."""
        rows = np.asarray(rows, np.int64)
        nodes = ragged_arange(self.node_offsets[rows], self.n_nodes[rows])
        edges = ragged_arange(self.edge_offsets[rows], self.n_edges[rows])
        node_offsets = np.zeros(rows.size + 1, np.int64)
        np.cumsum(self.n_nodes[rows], out=node_offsets[1:])
        edge_offsets = np.zeros(rows.size + 1, np.int64)
        np.cumsum(self.n_edges[rows], out=edge_offsets[1:])
        return GraphSet(
            x=self.x[nodes], pos=self.pos[nodes], energy=self.energy[nodes],
            layer=self.layer[nodes], is_noise=self.is_noise[nodes], cluster=self.cluster[nodes],
            edge_index=self.edge_index[:, edges], edge_attr=self.edge_attr[edges],
            node_offsets=node_offsets, edge_offsets=edge_offsets, y=self.y[rows],
            radius=self.radius[rows], jet_rows=self.jet_rows[rows], pt=self.pt[rows],
            settings=self.settings)

    def batch(self, rows: np.ndarray) -> Any:
        """A ``torch_geometric.data.Batch`` of the graphs ``rows``, assembled without per-graph
        Python: ``x``, ``edge_index`` (global), ``edge_attr``, ``edge_weight`` (closeness
        ``1 - d / r`` of the graph's radius), ``batch``, ``ptr``, ``y``, ``is_noise``."""
        from torch_geometric.data import Batch

        rows = np.asarray(rows, np.int64)
        n_nodes, n_edges = self.n_nodes[rows], self.n_edges[rows]
        nodes = ragged_arange(self.node_offsets[rows], n_nodes)
        edges = ragged_arange(self.edge_offsets[rows], n_edges)
        ptr = np.zeros(rows.size + 1, np.int64)
        np.cumsum(n_nodes, out=ptr[1:])
        edge_index = (self.edge_index[:, edges].astype(np.int64)
                      + np.repeat(ptr[:-1], n_edges)[None, :])
        edge_attr = self.edge_attr[edges]
        radius = np.repeat(self.radius[rows], n_edges)
        closeness = np.clip(1.0 - edge_attr[:, 0] / radius, 0.0, 1.0).astype(np.float32)
        batch = Batch(x=torch.from_numpy(self.x[nodes]),
                      edge_index=torch.from_numpy(edge_index),
                      edge_attr=torch.from_numpy(edge_attr),
                      edge_weight=torch.from_numpy(closeness),
                      y=torch.from_numpy(self.y[rows]),
                      is_noise=torch.from_numpy(self.is_noise[nodes]),
                      batch=torch.from_numpy(np.repeat(np.arange(rows.size), n_nodes)),
                      ptr=torch.from_numpy(ptr))
        return batch

    def data(self, i: int) -> Any:
        """Graph ``i`` as a ``torch_geometric.data.Data`` (with ``pos``, ``is_noise``)."""
        from torch_geometric.data import Data

        batch = self.batch(np.array([i]))
        a, b = self.node_offsets[i], self.node_offsets[i + 1]
        return Data(x=batch.x, edge_index=batch.edge_index, edge_attr=batch.edge_attr,
                    edge_weight=batch.edge_weight, y=batch.y, is_noise=batch.is_noise,
                    pos=torch.from_numpy(self.pos[a:b]))

    def to_networkx(self, i: int) -> Any:
        """Graph ``i`` as an undirected networkx graph (nodes 0..n-1 with ``pos``)."""
        import networkx as nx

        a, b = self.node_offsets[i], self.node_offsets[i + 1]
        graph = nx.Graph()
        for k in range(b - a):
            graph.add_node(k, pos=tuple(self.pos[a + k].tolist()))
        e0, e1 = self.edge_offsets[i], self.edge_offsets[i + 1]
        graph.add_edges_from(map(tuple, self.edge_index[:, e0:e1].T.tolist()))
        return graph

    # -- persistence --------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        path = Path(path)
        meta = json.dumps({"type": "GraphSet", "cache_version": CACHE_VERSION,
                           "settings": self.settings})
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, __meta__=np.frombuffer(meta.encode(), np.uint8),
                         **{name: getattr(self, name) for name in self.ARRAYS})
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> GraphSet:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(bytes(data["__meta__"]).decode())
                arrays = {name: data[name] for name in cls.ARRAYS}
        # a truncated or damaged archive is BadZipFile (its members carry CRC-32s), not OSError
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise HepxaiError(f"{path}: not a readable graph cache ({type(exc).__name__}); "
                              "delete it and build the graphs again") from None
        if meta.get("type") != "GraphSet" or meta.get("cache_version") != CACHE_VERSION:
            raise HepxaiError(f"{path}: a graph cache of another hepxai version; delete it")
        return cls(**arrays, settings=meta["settings"])


def build_graphs(jets: Jets, settings: GraphSettings, jet_rows: np.ndarray | None = None,
                 desc: str | None = None) -> GraphSet:
    """Graphs of all ``jets`` (in chunks of :data:`CHUNK_JETS`, vectorised inside)."""
    n = len(jets)
    if n == 0:
        raise HepxaiError("no jets to build graphs from; select at least one jet")
    rows = np.arange(n) if jet_rows is None else np.asarray(jet_rows, np.int64)
    parts = []
    chunks = range(0, n, CHUNK_JETS)
    for start in progress(chunks, desc=desc or "build graphs", unit="chunk",
                          total=len(chunks)):
        stop = min(start + CHUNK_JETS, n)
        parts.append(_build_chunk(jets, start, stop, settings, rows[start:stop]))
    return GraphSet.concatenate(parts)


def _build_chunk(jets: Jets, start: int, stop: int, settings: GraphSettings,
                 rows: np.ndarray) -> GraphSet:
    first, last = jets.offsets[start], jets.offsets[stop]
    chunk = Jets(jets.clusters[first:last], jets.offsets[start:stop + 1] - first,
                 jets.jets[start:stop])
    n = stop - start
    counts = np.diff(chunk.offsets)
    owner = np.repeat(np.arange(n), counts)
    pos, _ = node_positions(chunk, settings.layer_spacing)
    energy = chunk.clusters["energy"].astype(np.float64)
    lead = _argmax_per_group(energy, chunk.offsets)

    # 1. which clusters enter the radius graph
    enter = np.ones(len(pos), bool)
    if settings.variant == "gnn-1":
        enter = np.hypot(pos[:, 0], pos[:, 1]) < settings.cone
    enter |= _lead_mask(lead, len(pos), ~_any_per_group(enter, owner, n))
    index = np.flatnonzero(enter)
    sub_owner = owner[index]
    sub_offsets = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(sub_owner, minlength=n), out=sub_offsets[1:])
    sub_pos = pos[index]

    # 2. radius graph
    radius = jet_radii(sub_pos, sub_offsets, settings)
    src, dst, dist = radius_edges(sub_pos, sub_offsets, radius, settings.p)

    # 3. cleaning
    if settings.variant == "gnn-2":
        keep = largest_component(len(index), src, dst, sub_owner, energy[index])
    else:
        keep = drop_isolated(len(index), src, dst)
    # a jet left without nodes keeps its leading cluster
    sub_lead = _argmax_per_group(energy[index], sub_offsets)
    keep |= _lead_mask(sub_lead, len(index), ~_any_per_group(keep, sub_owner, n))
    new_id = np.cumsum(keep) - 1
    edge_keep = keep[src] & keep[dst]
    src, dst, dist = new_id[src[edge_keep]], new_id[dst[edge_keep]], dist[edge_keep]
    nodes = index[keep]
    node_owner = owner[nodes]
    node_offsets = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(node_owner, minlength=n), out=node_offsets[1:])

    # 4. both directions, local numbering, grouped by jet
    edge_owner = node_owner[src]
    both_src = np.concatenate([src, dst])
    both_dst = np.concatenate([dst, src])
    both_owner = np.concatenate([edge_owner, edge_owner])
    order = np.lexsort((both_dst, both_src, both_owner))
    both_src, both_dst, both_owner = both_src[order], both_dst[order], both_owner[order]
    both_dist = np.concatenate([dist, dist])[order]
    if node_offsets.max(initial=0) and np.diff(node_offsets).max() > np.iinfo(np.int16).max:
        raise HepxaiError("a jet has more than 32,767 clusters; the graph format cannot hold it")
    local_src = (both_src - node_offsets[both_owner]).astype(np.int16)
    local_dst = (both_dst - node_offsets[both_owner]).astype(np.int16)
    edge_offsets = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(both_owner, minlength=n), out=edge_offsets[1:])

    c = chunk.clusters[nodes]
    e = c["energy"].astype(np.float64)
    e_max = np.maximum.reduceat(e, node_offsets[:-1])  # every jet has >= 1 node
    x = np.empty((len(nodes), 4), np.float32)
    x[:, 0] = e / e_max[node_owner]
    x[:, 1] = pos[nodes, 0]
    x[:, 2] = pos[nodes, 1]
    x[:, 3] = c["layer"] / (N_LAYERS - 1)
    return GraphSet(
        x=x, pos=pos[nodes].astype(np.float32), energy=c["energy"].astype(np.float32),
        layer=c["layer"].astype(np.uint8), is_noise=c["is_noise"].astype(bool),
        cluster=(first + nodes).astype(np.int64),
        edge_index=np.stack([local_src, local_dst]), edge_attr=both_dist[:, None].astype(
            np.float32),
        node_offsets=node_offsets, edge_offsets=edge_offsets,
        y=chunk.jets["label"].astype(np.float32), radius=radius.astype(np.float32),
        jet_rows=np.asarray(rows, np.int64), pt=chunk.jets["pt"].astype(np.float32),
        settings=settings.to_dict())


def _any_per_group(mask: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(owner, mask.astype(np.int64), minlength=n) > 0


def _lead_mask(lead: np.ndarray, size: int, where: np.ndarray) -> np.ndarray:
    mask = np.zeros(size, bool)
    chosen = lead[where & (lead >= 0)]
    mask[chosen] = True
    return mask


# -- cache ------------------------------------------------------------------------------------
def cache_path(data_file: str | os.PathLike[str], settings: GraphSettings,
               cache_dir: str | os.PathLike[str] | None = None,
               max_jets: int | None = None) -> Path:
    """``<data dir>/graphs/<split>-<variant>[-firstN]-<hash>.npz``; the hash covers the
    settings and the source file (seed, size, simulator config, bytes, modification time)."""
    data_file = Path(data_file)
    stat = data_file.stat()
    attrs = DarkJetFile(data_file, load=False).attrs
    source = {k: attrs.get(k) for k in ("seed", "n_events", "simulator_config", "split")}
    text = json.dumps({"settings": settings.key(), "source": source, "size": stat.st_size,
                       "mtime_ns": stat.st_mtime_ns}, sort_keys=True, default=str)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    folder = Path(cache_dir) if cache_dir is not None else data_file.parent / "graphs"
    first = "" if max_jets is None else f"-first{max_jets}"
    return folder / f"{data_file.stem}-{settings.variant}{first}-{digest}.npz"


def load_graphs(data_file: str | os.PathLike[str], settings: GraphSettings,
                cache_dir: str | os.PathLike[str] | None = None,
                use_cache: bool = True, max_jets: int | None = None) -> GraphSet:
    """The graphs of every jet of ``data_file`` (or of its first ``max_jets``): from the cache
    when it holds them, built and cached (atomically) otherwise."""
    data_file = Path(data_file)
    source = DarkJetFile(data_file)
    if max_jets is not None and max_jets >= len(source):
        max_jets = None
    if max_jets is not None and max_jets < 1:
        raise HepxaiError(f"max_jets must be at least 1, got {max_jets}")
    n = len(source) if max_jets is None else max_jets
    path = cache_path(data_file, settings, cache_dir, max_jets)
    if use_cache and path.exists():
        try:
            graphs = GraphSet.load(path)
            if len(graphs) == n:
                return graphs
        except HepxaiError:
            pass  # a stale or broken cache is rebuilt below
    jets = source.as_jets(None if max_jets is None else np.arange(max_jets))
    graphs = build_graphs(jets, settings, desc=f"graphs {data_file.stem} ({settings.variant})")
    if use_cache:
        _cache(graphs, path)
    return graphs


def _cache(graphs: GraphSet, path: Path) -> None:
    """Save ``graphs`` to the cache ``path``, or say in one line why not and go on: a cache
    is an optimisation, so data on a read-only or full disk (a colleague's directory, say)
    is still explained, only built again each run."""
    import errno
    import sys

    from hepxai.core.atomic import nearest_existing
    from hepxai.core.errors import os_error_line

    needed = sum(getattr(graphs, name).nbytes for name in GraphSet.ARRAYS)
    try:
        if needed > shutil.disk_usage(nearest_existing(path.parent)).free:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        graphs.save(path)
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM,
                               errno.EDQUOT):
            raise
        reason = os_error_line(error)[0].split("; ")[0]
        print(f"note: graphs not cached ({reason}); they are built again on every run",
              file=sys.stderr)
