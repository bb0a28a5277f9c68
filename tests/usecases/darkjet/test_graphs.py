"""DarkJetGraphs against independent references: networkx's geometric graph generator, a Monte
Carlo Poisson process, PyG's own collation, and hand-made graphs for every pre-processing
variant."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree
from torch_geometric.data import Batch

from hepxai.core.errors import HepxaiError
from hepxai.usecases.darkjet import graphs as graph_module
from hepxai.usecases.darkjet.graphs import (
    GraphSet,
    GraphSettings,
    build_graphs,
    cache_path,
    drop_isolated,
    hertz_mean_distance,
    largest_component,
    load_graphs,
    node_positions,
    radius_edges,
)
from hepxai.usecases.darkjet.simulator import (
    CLUSTER_DTYPE,
    JET_DTYPE,
    DarkJetSimConfig,
    Jets,
    simulate_jets,
)
from hepxai.usecases.darkjet.store import simulate_dataset
from hepxai.usecases.darkjet.voxels import voxelise

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def jets() -> Jets:
    config = DarkJetSimConfig()
    return Jets.concatenate([simulate_jets(config, 2, 0, 0, 60), simulate_jets(config, 2, 1, 0,
                                                                               60)])


def _nx_edges(pos: np.ndarray, radius: float, p: int) -> set[tuple[int, int]]:
    graph = nx.Graph()
    graph.add_nodes_from((i, {"pos": tuple(pos[i])}) for i in range(len(pos)))
    return set(nx.geometric_edges(graph, radius, p=p))


@pytest.mark.parametrize("metric, p", [("euclidean", 2), ("taxicab", 1)])
def test_radius_graph_equals_networkx(jets, metric, p):
    settings = GraphSettings(variant="gnn-0", metric=metric)
    pos, _ = node_positions(jets, settings.layer_spacing)
    radius = graph_module.jet_radii(pos, jets.offsets, settings)
    src, dst, dist = radius_edges(pos, jets.offsets, radius, p)
    assert np.all(src < dst)
    for i in range(len(jets)):
        a, b = jets.offsets[i], jets.offsets[i + 1]
        ours = {(int(s - a), int(d - a)) for s, d in zip(src, dst, strict=True) if a <= s < b}
        assert ours == _nx_edges(pos[a:b], radius[i], p), i
    np.testing.assert_allclose(dist, np.linalg.norm(pos[src] - pos[dst], axis=1), rtol=1e-12)


@pytest.mark.parametrize("metric", ["euclidean", "taxicab"])
def test_built_graphs_equal_networkx_on_the_kept_nodes(jets, metric):
    """gnn-0 = networkx's geometric graph of the jet minus its isolated nodes, both edge
    directions, edge attribute the Euclidean distance."""
    settings = GraphSettings(variant="gnn-0", metric=metric)
    graphs = build_graphs(jets, settings)
    pos, _ = node_positions(jets, settings.layer_spacing)
    for i in range(len(jets)):
        a, b = jets.offsets[i], jets.offsets[i + 1]
        reference = nx.Graph()
        reference.add_nodes_from((k, {"pos": tuple(pos[a + k])}) for k in range(b - a))
        reference.add_edges_from(nx.geometric_edges(reference, float(graphs.radius[i]),
                                                    p=settings.p))
        reference.remove_nodes_from(list(nx.isolates(reference)))
        if reference.number_of_nodes() == 0:  # the leading cluster is kept alone
            assert graphs.n_nodes[i] == 1 and graphs.n_edges[i] == 0
            continue
        kept = sorted(reference.nodes)
        nodes = slice(graphs.node_offsets[i], graphs.node_offsets[i + 1])
        np.testing.assert_array_equal(graphs.cluster[nodes], a + np.array(kept))
        ours = graphs.to_networkx(i)
        relabel = nx.relabel_nodes(reference, {k: j for j, k in enumerate(kept)})
        assert set(ours.edges) == {tuple(sorted(e)) for e in relabel.edges}
        e0, e1 = graphs.edge_offsets[i], graphs.edge_offsets[i + 1]
        local = graphs.edge_index[:, e0:e1].astype(int)
        assert graphs.n_edges[i] == 2 * relabel.number_of_edges()  # both directions
        p_local = graphs.pos[graphs.node_offsets[i]:graphs.node_offsets[i + 1]]
        np.testing.assert_allclose(graphs.edge_attr[e0:e1, 0],
                                   np.linalg.norm(p_local[local[0]] - p_local[local[1]], axis=1),
                                   rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("p", [1, 2])
def test_hertz_distance_matches_a_poisson_process(p):
    """Mean nearest-neighbour distance of uniform points (a Poisson process) in a big box."""
    rng = np.random.default_rng(0)
    density, side = 2000.0, 1.0
    points = rng.random((int(density * side**3), 3)) * side
    inner = np.all((points > 0.1) & (points < 0.9), axis=1)  # no boundary effect
    distance, _ = cKDTree(points).query(points[inner], k=2, p=p)
    assert distance[:, 1].mean() == pytest.approx(float(hertz_mean_distance(density, p)),
                                                  rel=0.03)
    assert hertz_mean_distance(1.0, 2) == pytest.approx(math.gamma(4 / 3)
                                                        * (4 * math.pi / 3) ** (-1 / 3))


def _jet(eta, phi, layer, energy, noise=None) -> Jets:
    n = len(eta)
    clusters = np.zeros(n, CLUSTER_DTYPE)
    clusters["eta"], clusters["phi"], clusters["layer"] = eta, phi, layer
    clusters["energy"] = energy
    clusters["is_noise"] = noise if noise is not None else False
    table = np.zeros(1, JET_DTYPE)
    table["label"], table["pt"] = 1, 50.0
    return Jets(clusters, np.array([0, n]), table)


def test_drop_isolated_removes_isolated_and_self_connected_nodes():
    # 0-1 joined, 2 only a self-loop, 3 isolated, 4-1 joined
    src, dst = np.array([0, 2, 4]), np.array([1, 2, 1])
    np.testing.assert_array_equal(drop_isolated(5, src, dst), [True, True, False, False, True])


def test_largest_component_per_graph_with_energy_tie_break():
    # graph 0: {0,1,2} and {3,4}; graph 1: {5,6} and {7,8} (a tie: {7,8} carries more energy)
    src, dst = np.array([0, 1, 3, 5, 7]), np.array([1, 2, 4, 6, 8])
    owner = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1])
    weight = np.array([1, 1, 1, 5, 5, 1, 1, 2, 2], float)
    keep = largest_component(9, src, dst, owner, weight)
    np.testing.assert_array_equal(keep, [1, 1, 1, 0, 0, 0, 0, 1, 1])


def test_variants_on_a_hand_made_jet():
    """Three close clusters at the axis, one isolated far cluster, a separate close pair."""
    eta = np.array([0.0, 0.01, 0.02, 0.35, 0.20, 0.21])
    phi = np.zeros(6)
    energy = np.array([10.0, 8.0, 6.0, 1.0, 0.1, 0.1])  # the pair is too soft to move the axis
    jet = _jet(eta, phi, np.zeros(6, int), energy)
    common = {"metric": "euclidean", "radius_factor": 1.0, "min_extent": 0.05}
    # the jet's radius: density = 6 / (0.35 x 0.05 x 0.05)
    radius = float(hertz_mean_distance(6 / (0.35 * 0.05 * 0.05), 2))
    assert 0.02 < radius < 0.1  # joins neighbours 0.01 apart, not clusters 0.15 apart
    g0 = build_graphs(jet, GraphSettings(variant="gnn-0", **common))
    assert g0.cluster.tolist() == [0, 1, 2, 4, 5]  # the isolated cluster 3 is gone
    g1 = build_graphs(jet, GraphSettings(variant="gnn-1", cone=0.1, **common))
    assert g1.cluster.tolist() == [0, 1, 2]  # only the cone around the axis
    g2 = build_graphs(jet, GraphSettings(variant="gnn-2", **common))
    assert g2.cluster.tolist() == [0, 1, 2]  # the largest connected subgraph
    # a jet of mutually isolated clusters keeps its most energetic one
    lonely = _jet(np.array([0.0, 0.3]), np.array([0.0, 0.3]), np.array([0, 6]),
                  np.array([1.0, 3.0]))
    for variant in ("gnn-0", "gnn-2"):
        g = build_graphs(lonely, GraphSettings(variant=variant, **common))
        assert g.cluster.tolist() == [1] and g.n_edges.tolist() == [0]
    # node features: max-scaled energy, position, layer / 6
    assert g0.x[:, 0].max() == 1.0 and np.all(g0.x[:, 0] > 0)
    np.testing.assert_allclose(g0.x[:, 0], energy[[0, 1, 2, 4, 5]] / 10.0)


def test_batch_equals_pyg_collation_and_voxels_hold_the_energy(jets):
    graphs = build_graphs(jets, GraphSettings())
    rows = np.array([3, 70, 0, 119])
    ours = graphs.batch(rows)
    reference = Batch.from_data_list([graphs.data(int(r)) for r in rows])
    for key in ("x", "edge_index", "edge_attr", "edge_weight", "batch", "ptr", "y"):
        torch.testing.assert_close(getattr(ours, key), getattr(reference, key), msg=key)
    assert ours.num_graphs == 4
    assert torch.all((ours.edge_weight >= 0) & (ours.edge_weight <= 1))
    voxels = voxelise(graphs, rows)
    assert voxels.shape == (4, 1, 7, 16, 16)
    for k, r in enumerate(rows):
        a, b = graphs.node_offsets[r], graphs.node_offsets[r + 1]
        inside = np.all(np.abs(graphs.pos[a:b, :2]) < 0.4, axis=1)
        assert float(voxels[k].sum()) == pytest.approx(float(graphs.x[a:b, 0][inside].sum()),
                                                       rel=1e-5)


def test_graph_cache_is_reused_and_keyed_by_the_settings(tmp_path, monkeypatch):
    simulate_dataset(tmp_path / "d", 30, seed=2)
    val = tmp_path / "d" / "val.h5"
    first = load_graphs(val, GraphSettings())
    path = cache_path(val, GraphSettings())
    assert path.exists() and path.parent.name == "graphs"
    assert cache_path(val, GraphSettings(variant="gnn-2")) != path
    monkeypatch.setattr(graph_module, "build_graphs", _fail)
    second = load_graphs(val, GraphSettings())  # from the cache: no building
    for name in first.ARRAYS:
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))
    with pytest.raises(AssertionError):
        load_graphs(val, GraphSettings(metric="euclidean"))


@pytest.mark.parametrize("damage", ["truncated", "flipped byte"])
def test_a_damaged_graph_cache_is_rebuilt_not_trusted(tmp_path, damage):
    simulate_dataset(tmp_path / "d", 30, seed=2)
    val = tmp_path / "d" / "val.h5"
    first = load_graphs(val, GraphSettings())
    path = cache_path(val, GraphSettings())
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 3] ^= 0xFF  # inside a stored array: its CRC-32 no longer matches
    path.write_bytes(bytes(data))
    with pytest.raises(HepxaiError, match="not a readable graph cache"):
        GraphSet.load(path)
    again = load_graphs(val, GraphSettings())  # rebuilt and cached afresh
    for name in first.ARRAYS:
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    GraphSet.load(path)  # the cache is whole again


@pytest.mark.parametrize("place", ["full", "read-only"])
def test_graphs_are_built_without_a_cache_where_none_can_be_written(tmp_path, capsys, place):
    from cli_checks import small_filesystem

    simulate_dataset(tmp_path / "d", 30, seed=2)
    val = tmp_path / "d" / "val.h5"
    expected = load_graphs(val, GraphSettings(), use_cache=False)
    with small_filesystem(tmp_path / "disk", "64k", read_only=place == "read-only") as disk:
        if place == "full":
            (disk / "filler").write_bytes(b"\0" * 60_000)
        graphs = load_graphs(val, GraphSettings(), cache_dir=disk / "graphs")
        note = capsys.readouterr().err.strip()
        assert note.startswith("note: graphs not cached (") and "\n" not in note
        assert ("read-only" if place == "read-only" else "no space left") in note
        assert sorted(p.name for p in disk.rglob("*") if p.is_file()) == \
            (["filler"] if place == "full" else [])
    for name in expected.ARRAYS:
        np.testing.assert_array_equal(getattr(graphs, name), getattr(expected, name))


def _fail(*args, **kwargs):
    raise AssertionError("graphs were rebuilt although the cache holds them")


def test_bad_settings_are_one_line_errors():
    with pytest.raises(HepxaiError, match="unknown graph variant"):
        GraphSettings(variant="gnn-3")
    with pytest.raises(HepxaiError, match="unknown metric"):
        GraphSettings(metric="chebyshev")
    with pytest.raises(HepxaiError, match="positive"):
        GraphSettings(radius_factor=float("nan"))
