"""Dark-jet figures: ROC and rejection, score distributions, 3D graph views (PNG and a
self-contained interactive HTML), per-layer saliency maps (jet pT vs the layer's energy ratio),
judging (deletion curves, GNN vs 3D-CNN), TracIn proponents and opponents, LSOR / kappa bars.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from mpl_toolkits.mplot3d.art3d import Line3DCollection
from scipy.special import expit

from hepxai.core.atomic import atomic_path
from hepxai.usecases.darkjet.graphs import GraphSet
from hepxai.usecases.darkjet.simulator import LAYER_NAMES, N_LAYERS
from hepxai.viz.style import save, use_style


def plot_roc(curves: Mapping[str, Mapping[str, Sequence[float]]],
             path: str | os.PathLike[str]) -> Path:
    """Left: ROC (background efficiency vs signal efficiency); right: background rejection
    1/FPR vs signal efficiency on a log axis. ``curves``: label -> {"tpr", "fpr"}."""
    use_style()
    fig, (ax_roc, ax_rej) = plt.subplots(1, 2, figsize=(13, 5.2), gridspec_kw={"wspace": 0.3})
    colours = plt.get_cmap("tab10")
    for i, (label, curve) in enumerate(curves.items()):
        tpr, fpr = np.asarray(curve["tpr"]), np.asarray(curve["fpr"])
        style = {"color": colours(i % 10), "ls": ("-", "--", ":")[(i // 10) % 3], "lw": 1.5}
        ax_roc.plot(fpr, tpr, label=label, **style)
        keep = fpr > 0
        ax_rej.plot(tpr[keep], 1.0 / fpr[keep], label=label, **style)
    ax_roc.plot([0, 1], [0, 1], ":", color="grey", lw=1)
    ax_roc.set_xlim(0, 1)
    ax_roc.set_ylim(0, 1.02)
    ax_roc.set_xlabel("QCD-jet efficiency (FPR)")
    ax_roc.set_ylabel("dark-photon-jet efficiency (TPR)")
    ax_rej.set_yscale("log")
    ax_rej.set_xlabel("dark-photon-jet efficiency")
    ax_rej.set_ylabel("QCD rejection 1/FPR")
    ax_rej.set_xlim(0.3, 1.0)
    ax_roc.legend(fontsize=9, loc="lower right")
    return save(fig, path)


def plot_scores(scores: Mapping[str, tuple[np.ndarray, np.ndarray]],
                path: str | os.PathLike[str], tail_cut: float = 0.9) -> Path:
    """Output-probability distributions of dark-photon and QCD jets, one panel per model
    (``label -> (logits, labels)``); the signal region ``p >= tail_cut`` shaded."""
    use_style()
    n = len(scores)
    cols = min(3, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.2 * rows), squeeze=False)
    bins = np.linspace(0, 1, 41)
    for ax, (label, (logits, labels)) in zip(axes.flat, scores.items(), strict=False):
        p = expit(np.asarray(logits, np.float64))
        labels = np.asarray(labels) > 0.5
        ax.hist(p[~labels], bins=bins, histtype="step", density=True, lw=1.5, label="QCD")
        ax.hist(p[labels], bins=bins, histtype="step", density=True, lw=1.5,
                label="dark photon")
        ax.axvspan(tail_cut, 1.0, color="grey", alpha=0.15, lw=0)
        ax.set_yscale("log")
        ax.set_xlabel("output probability")
        ax.set_ylabel("jets (normalised)")
        ax.set_title(label, fontsize=10)
        ax.legend(fontsize=9, loc="upper center")
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return save(fig, path)


def _graph_arrays(graphs: GraphSet, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                      np.ndarray]:
    a, b = graphs.node_offsets[i], graphs.node_offsets[i + 1]
    e0, e1 = graphs.edge_offsets[i], graphs.edge_offsets[i + 1]
    pos = graphs.pos[a:b].astype(np.float64)
    xyz = np.stack([pos[:, 0], pos[:, 1], graphs.layer[a:b].astype(np.float64)], axis=1)
    edges = graphs.edge_index[:, e0:e1].astype(np.int64)
    once = edges[0] < edges[1]  # each undirected edge drawn once
    return xyz, edges[:, once], graphs.energy[a:b], graphs.is_noise[a:b]


def plot_graph_3d(graphs: GraphSet, i: int, path: str | os.PathLike[str],
                  values: np.ndarray | None = None, value_label: str = "relevance",
                  title: str = "") -> Path:
    """One jet's graph in 3D: nodes at (d_eta, d_phi, sampling layer), size and colour the
    cluster energy [GeV] (or ``values``, e.g. node relevance, ``(n_nodes,)``), edges drawn,
    noise clusters outlined in red."""
    use_style()
    xyz, edges, energy, noise = _graph_arrays(graphs, i)
    colour = np.log10(energy) if values is None else np.asarray(values, np.float64)
    fig = plt.figure(figsize=(7.5, 6.5))
    ax = fig.add_subplot(projection="3d")
    if edges.size:
        segments = np.stack([xyz[edges[0]], xyz[edges[1]]], axis=1)
        ax.add_collection3d(Line3DCollection(segments, colors="0.55", linewidths=0.6,
                                             alpha=0.6))
    size = 15 + 120 * np.sqrt(energy / energy.max())
    points = ax.scatter(xyz[:, 0], xyz[:, 1], xyz[:, 2], c=colour, s=size, cmap="viridis",
                        edgecolors=np.where(noise, "red", "none").tolist(), linewidths=1.2,
                        depthshade=False)
    fig.colorbar(points, ax=ax, shrink=0.6, pad=0.12,
                 label="log10 energy [GeV]" if values is None else value_label)
    ax.set_xlabel(r"$\Delta\eta$", labelpad=8)
    ax.set_ylabel(r"$\Delta\phi$", labelpad=8)
    ax.set_zlabel("sampling layer", labelpad=6)
    ax.set_zticks(range(N_LAYERS))
    ax.set_zlim(-0.5, N_LAYERS - 0.5)
    kind = "dark photon" if graphs.y[i] > 0.5 else "QCD"
    ax.set_title(title or f"{kind} jet, pT = {graphs.pt[i]:.0f} GeV, {len(xyz)} clusters",
                 fontsize=11)
    return save(fig, path)


_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:1em}}canvas{{border:1px solid #ccc;cursor:grab}}
</style></head><body>
<h3>{title}</h3>
<p>Drag to rotate, wheel to zoom. Nodes at (&Delta;&eta;, &Delta;&phi;, sampling layer); colour:
{value_label} (dark = low, yellow = high); red ring: pile-up / noise cluster (truth).</p>
<canvas id="view" width="720" height="560"></canvas>
<script>
const G = {data};
const cv = document.getElementById("view"), cx = cv.getContext("2d");
let yaw = 0.6, pitch = 0.35, zoom = 1.0, drag = null;
const lo = [0, 1, 2].map(k => Math.min(...G.xyz.map(p => p[k])));
const hi = [0, 1, 2].map(k => Math.max(...G.xyz.map(p => p[k])));
const norm = G.xyz.map(p => p.map((v, k) =>
  hi[k] > lo[k] ? 2 * (v - lo[k]) / (hi[k] - lo[k]) - 1 : 0));
const vmin = Math.min(...G.value), vmax = Math.max(...G.value);
function colour(v) {{
  const t = vmax > vmin ? Math.max(0, Math.min(1, (v - vmin) / (vmax - vmin))) : 0.5;
  const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const s = Math.min(3.999, t * 4), i = Math.floor(s), f = s - i;
  const c = stops[i].map((a, k) => Math.round(a + f * (stops[i + 1][k] - a)));
  return `rgb(${{c[0]}},${{c[1]}},${{c[2]}})`;
}}
function project(p) {{
  const [x, y, z] = p, cy = Math.cos(yaw), sy = Math.sin(yaw);
  const cp = Math.cos(pitch), sp = Math.sin(pitch);
  const x1 = cy * x - sy * y, y1 = sy * x + cy * y;
  const y2 = cp * y1 - sp * z, z2 = sp * y1 + cp * z;
  const s = 170 * zoom;  // room for the axis labels
  return [cv.width / 2 + s * x1, cv.height / 2 - s * z2, y2];
}}
const AXES = [["\u0394\u03b7", 0], ["\u0394\u03c6", 1], ["layer", 2]];
function fmt(v) {{ return Math.abs(v) >= 10 ? v.toFixed(0) : v.toPrecision(2); }}
function axes() {{
  // the three axes from the box's corner, each labelled with its quantity and data range
  const origin = project([-1, -1, -1]);
  cx.font = "12px sans-serif"; cx.fillStyle = "#333"; cx.strokeStyle = "#333"; cx.lineWidth = 1;
  for (const [name, k] of AXES) {{
    const end = [-1, -1, -1]; end[k] = 1;
    const q = project(end);
    cx.beginPath(); cx.moveTo(origin[0], origin[1]); cx.lineTo(q[0], q[1]); cx.stroke();
    cx.fillText(`${{name}} ${{fmt(lo[k])}} \u2192 ${{fmt(hi[k])}}`, q[0] + 4, q[1] - 4);
  }}
}}
function legend() {{
  // the colour scale, across the top left: value_label from its lowest to its highest value
  const x = 14, y = 30, w = 200;
  for (let j = 0; j <= w; j++) {{
    cx.fillStyle = colour(vmin + (vmax - vmin) * j / w); cx.fillRect(x + j, y, 1.5, 12);
  }}
  cx.strokeStyle = "#333"; cx.strokeRect(x, y, w, 12);
  cx.fillStyle = "#333"; cx.font = "11px sans-serif";
  cx.fillText(LABEL, x, y - 6);
  cx.fillText(fmt(vmin), x, y + 26);
  cx.textAlign = "right"; cx.fillText(fmt(vmax), x + w, y + 26); cx.textAlign = "left";
}}
const LABEL = {label_json};
function draw() {{
  cx.clearRect(0, 0, cv.width, cv.height);
  axes(); legend();
  const P = norm.map(project);
  cx.strokeStyle = "rgba(120,120,120,0.5)"; cx.lineWidth = 1;
  for (const [a, b] of G.edges) {{
    cx.beginPath(); cx.moveTo(P[a][0], P[a][1]); cx.lineTo(P[b][0], P[b][1]); cx.stroke();
  }}
  const order = P.map((p, i) => i).sort((a, b) => P[b][2] - P[a][2]);
  for (const i of order) {{
    cx.beginPath(); cx.arc(P[i][0], P[i][1], G.size[i], 0, 2 * Math.PI);
    cx.fillStyle = colour(G.value[i]); cx.fill();
    if (G.noise[i]) {{ cx.strokeStyle = "red"; cx.lineWidth = 2; cx.stroke(); }}
  }}
}}
cv.onmousedown = e => drag = [e.clientX, e.clientY, yaw, pitch];
window.onmouseup = () => drag = null;
window.onmousemove = e => {{
  if (!drag) return;
  yaw = drag[2] + (e.clientX - drag[0]) / 150;
  pitch = drag[3] + (e.clientY - drag[1]) / 150;
  draw();
}};
cv.onwheel = e => {{ e.preventDefault(); zoom *= e.deltaY < 0 ? 1.1 : 0.9; draw(); }};
draw();
</script></body></html>
"""


def graph_html(graphs: GraphSet, i: int, path: str | os.PathLike[str],
               values: np.ndarray | None = None, value_label: str = "relevance",
               title: str = "") -> Path:
    """The 3D graph view as one self-contained HTML file (inline JSON + vanilla JavaScript on a
    canvas: no library, works offline), with its three axes (labelled with their data range)
    and a colour scale. Colour: log10 energy or ``values``."""
    xyz, edges, energy, noise = _graph_arrays(graphs, i)
    value = np.log10(energy) if values is None else np.asarray(values, np.float64)
    data = {"xyz": np.round(xyz, 5).tolist(), "edges": edges.T.tolist(),
            "value": np.round(value, 6).tolist(), "noise": noise.astype(int).tolist(),
            "size": np.round(3 + 9 * np.sqrt(energy / energy.max()), 2).tolist()}
    kind = "dark-photon" if graphs.y[i] > 0.5 else "QCD"
    title = title or f"{kind} jet, pT = {graphs.pt[i]:.0f} GeV, {len(xyz)} clusters"
    label = "log10 energy [GeV]" if values is None else value_label
    text = _HTML.format(title=html.escape(title), data=json.dumps(data),
                        value_label=html.escape(label),
                        label_json=json.dumps(label).replace("</", "<\\/"))
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def layer_energy_ratio(graphs: GraphSet, rows: np.ndarray | None = None) -> np.ndarray:
    """``(n_jets, 7)``: each sampling layer's share of the jet's cluster energy."""
    rows = np.arange(len(graphs)) if rows is None else np.asarray(rows)
    sub = graphs.subset(rows)
    owner = np.repeat(np.arange(len(sub)), sub.n_nodes)
    table = np.zeros((len(sub), N_LAYERS))
    np.add.at(table, (owner, sub.layer.astype(np.int64)), sub.energy.astype(np.float64))
    return table / table.sum(1, keepdims=True)


def layer_relevance(values: np.ndarray, offsets: np.ndarray, layers: np.ndarray) -> np.ndarray:
    """``(n_jets, 7)``: summed node relevance per sampling layer (``values`` ragged
    ``(n_nodes_total,)`` with ``offsets``, ``layers`` per node)."""
    n = len(offsets) - 1
    owner = np.repeat(np.arange(n), np.diff(offsets))
    table = np.zeros((n, N_LAYERS))
    np.add.at(table, (owner, np.asarray(layers, np.int64)), np.asarray(values, np.float64))
    return table


def plot_layer_saliency(pt: np.ndarray, ratio: np.ndarray, relevance: np.ndarray,
                        labels: np.ndarray, path: str | os.PathLike[str],
                        method: str = "saliency", bins: int = 12,
                        groups: dict[str, np.ndarray] | None = None) -> Path:
    """The poster's per-layer saliency maps: for every sampling layer a 2D map of jet pT
    [GeV] (y) against the layer's energy ratio (x), colour the mean node relevance of the layer
    in the bin; one row per group of jets: QCD and dark photon by default, or ``groups``
    (name -> bool mask over the jets, e.g. the tagging categories TP / FP / FN / TN)."""
    from scipy.stats import binned_statistic_2d

    use_style()
    labels = np.asarray(labels) > 0.5
    groups = groups if groups is not None else {"QCD": ~labels, "dark photon": labels}
    n_rows = len(groups)
    fig, axes = plt.subplots(n_rows, N_LAYERS, figsize=(3.1 * N_LAYERS, 3.2 * n_rows),
                             sharey=True, squeeze=False)
    finite = relevance[np.isfinite(relevance)]
    vmax = float(np.percentile(np.abs(finite), 98)) if finite.size else 1.0
    vmin = -vmax if finite.size and finite.min() < 0 else 0.0
    pt_edges = np.linspace(pt.min(), pt.max(), bins + 1) if pt.max() > pt.min() else bins
    mesh = None
    for row, (name, mask) in enumerate(groups.items()):
        mask = np.asarray(mask, bool)
        for layer in range(N_LAYERS):
            ax = axes[row, layer]
            if mask.sum() > 0:
                stat, xe, ye, _ = binned_statistic_2d(
                    ratio[mask, layer], pt[mask], relevance[mask, layer], statistic="mean",
                    bins=[np.linspace(0, 1, bins + 1), pt_edges])
                mesh = ax.pcolormesh(xe, ye, stat.T, cmap="viridis" if vmin == 0 else "RdBu_r",
                                     vmin=vmin, vmax=vmax or 1.0)
            if row == 0:
                ax.set_title(LAYER_NAMES[layer], fontsize=11)
            if row == n_rows - 1:
                ax.set_xlabel("energy ratio", fontsize=10)
            if layer == 0:
                ax.set_ylabel(f"{name} ({int(mask.sum())} jets)\njet pT [GeV]", fontsize=10)
            ax.tick_params(labelsize=8)
    if mesh is not None:
        fig.colorbar(mesh, ax=axes, shrink=0.8, label=f"mean {method} of the layer's nodes")
    return save(fig, path)


def plot_top_k(graphs: GraphSet, i: int, node_values: np.ndarray, edge_values: np.ndarray,
               k: int, path: str | os.PathLike[str], title: str = "") -> Path:
    """GNNExplainer's top-k: the jet's graph in (d_eta, d_phi) with the ``k`` most important
    nodes and edges highlighted (others faded)."""
    use_style()
    xyz, edges, energy, noise = _graph_arrays(graphs, i)
    e0 = graphs.edge_offsets[i]
    all_edges = graphs.edge_index[:, e0:graphs.edge_offsets[i + 1]].astype(np.int64)
    once = all_edges[0] < all_edges[1]
    edge_score = np.asarray(edge_values)[once]
    top_nodes = np.argsort(-np.asarray(node_values), kind="stable")[:k]
    top_edges = np.argsort(-edge_score, kind="stable")[:k]
    fig, ax = plt.subplots(figsize=(6.5, 6))
    for j, (a, b) in enumerate(edges.T):
        strong = j in set(top_edges.tolist())
        ax.plot(xyz[[a, b], 0], xyz[[a, b], 1], color="tab:orange" if strong else "0.8",
                lw=2.0 if strong else 0.6, zorder=1)
    ax.scatter(xyz[:, 0], xyz[:, 1], s=20 + 150 * np.sqrt(energy / energy.max()), c="0.75",
               zorder=2)
    ax.scatter(xyz[top_nodes, 0], xyz[top_nodes, 1],
               s=20 + 150 * np.sqrt(energy[top_nodes] / energy.max()),
               c=np.asarray(node_values)[top_nodes], cmap="viridis", zorder=3,
               edgecolors=np.where(noise[top_nodes], "red", "black").tolist())
    ax.set_xlabel(r"$\Delta\eta$")
    ax.set_ylabel(r"$\Delta\phi$")
    ax.set_title(title or f"top-{k} nodes and edges", fontsize=11)
    return save(fig, path)



def plot_jet_properties(jets: np.ndarray, clusters: np.ndarray, offsets: np.ndarray,
                        path: str | os.PathLike[str]) -> Path:
    """Simulator truth by class: number of clusters, EM fraction, energy-weighted width
    Delta R, and the noise-cluster energy spectrum (``jets``/``clusters`` tables of a file)."""
    use_style()
    labels = jets["label"] == 1
    counts = np.diff(offsets)
    owner = np.repeat(np.arange(len(jets)), counts)
    d_eta = clusters["eta"] - jets["eta"][owner]
    d_phi = np.mod(clusters["phi"] - jets["phi"][owner] + np.pi, 2 * np.pi) - np.pi
    energy = clusters["energy"].astype(np.float64)
    width = (np.bincount(owner, energy * np.hypot(d_eta, d_phi), minlength=len(jets))
             / np.bincount(owner, energy, minlength=len(jets)))
    panels = ((jets["n_clusters"], "clusters per jet", np.arange(0, 62, 2)),
              (jets["em_fraction"], "EM fraction", np.linspace(0, 1, 26)),
              (width, r"energy-weighted $\Delta R$", np.linspace(0, 0.3, 31)))
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.4), gridspec_kw={"wspace": 0.3})
    for ax, (values, label, bins) in zip(axes, panels, strict=False):
        ax.hist(values[~labels], bins=bins, histtype="step", density=True, lw=1.5, label="QCD")
        ax.hist(values[labels], bins=bins, histtype="step", density=True, lw=1.5,
                label="dark photon")
        ax.set_xlabel(label)
        ax.set_ylabel("jets (normalised)")
    noise = clusters["is_noise"]
    bins = np.logspace(-1, 2.5, 36)
    axes[3].hist(energy[~noise], bins=bins, histtype="step", density=True, lw=1.5,
                 label="jet clusters")
    axes[3].hist(energy[noise], bins=bins, histtype="step", density=True, lw=1.5,
                 label="noise clusters")
    axes[3].set_xscale("log")
    axes[3].set_yscale("log")
    axes[3].set_xlabel("cluster energy [GeV]")
    axes[0].legend(fontsize=10)
    axes[3].legend(fontsize=10)
    return save(fig, path)


def plot_graph_deletion_curves(summary: Mapping, path: str | os.PathLike[str]) -> Path:
    """Deletion curves of the graph explainers: mean change of the probability of the
    predicted class [0..1] against the fraction of each jet's nodes removed (in each method's
    order, and at random: dashed), one panel per tagging category (``summary`` from
    :func:`hepxai.usecases.darkjet.judging.judging_summary`)."""
    use_style()
    curves, fractions = summary["deletion_curves"], np.asarray(summary["fractions"])
    categories = [c for c in ("all", "TP", "FP", "FN", "TN") if c in curves["random"]]
    fig, axes = plt.subplots(1, len(categories), figsize=(3.6 * len(categories), 3.8),
                             squeeze=False, sharey=True)
    for ax, category in zip(axes[0], categories, strict=True):
        for method, per_category in curves.items():
            values = per_category.get(category)
            if values is None:
                continue
            style = {"color": "black", "ls": "--"} if method == "random" else {"marker": "o",
                                                                              "ms": 3}
            ax.plot(fractions, values, label=method, lw=1.5, **style)
        count = summary["categories"].get(category)
        ax.set_title(category if count is None else f"{category} ({count})", fontsize=10)
        ax.set_xlabel("fraction of nodes removed", fontsize=9)
        ax.tick_params(labelsize=8)
    axes[0][0].set_ylabel("change of P(predicted class)", fontsize=9)
    axes[0][-1].legend(fontsize=7, loc="best")
    return save(fig, path)


def plot_cross_model(results: Mapping, path: str | os.PathLike[str]) -> Path:
    """Per-jet Spearman correlation of GNN node relevance (summed into voxels) with the 3D-CNN's
    voxel saliency, against the same with the GNN values shuffled among the occupied voxels;
    one panel per GNN method (``results``: method -> :func:`cross_model` output)."""
    use_style()
    fig, axes = plt.subplots(1, len(results), figsize=(4.4 * len(results), 3.8), squeeze=False,
                             sharey=True)
    bins = np.linspace(-1, 1, 41)
    for ax, (method, out) in zip(axes[0], results.items(), strict=True):
        rho = np.asarray(out["spearman"], np.float64)
        null = np.asarray(out["permuted"], np.float64).ravel()
        ax.hist(null[np.isfinite(null)], bins=bins, density=True, histtype="stepfilled",
                color="0.8", label="shuffled voxels")
        ax.hist(rho[np.isfinite(rho)], bins=bins, density=True, histtype="step", lw=1.8,
                color="C0", label="GNN vs CNN")
        ax.axvline(out["mean"], color="C0", lw=1)
        ax.axvline(out["permuted_mean"], color="0.4", lw=1, ls="--")
        ax.set_title(f"{method}: mean {out['mean']:.2f} vs {out['permuted_mean']:.2f}",
                     fontsize=10)
        ax.set_xlabel("Spearman over occupied voxels", fontsize=9)
        ax.tick_params(labelsize=8)
    axes[0][0].set_ylabel("jets (normalised)", fontsize=9)
    axes[0][0].legend(fontsize=7, loc="upper left")
    return save(fig, path)


# -- data influence (TracIn) -----------------------------------------------------------------
def plot_graph_proponents(influence, index: int, train: GraphSet, test: GraphSet,
                          path: str | os.PathLike[str], *, title: str = "", n: int = 4) -> Path:
    """Test jet ``index`` of ``influence`` (left) and its ``n`` top proponents (top row) and
    opponents (bottom row) as (d_eta, d_phi) scatters, colour = log10 cluster energy [GeV],
    crosses = noise clusters (simulator truth)."""
    use_style()
    n = min(n, influence.proponent_ids.shape[1])
    fig, axes = plt.subplots(2, n + 1, figsize=(3.4 * (n + 1), 7.4), squeeze=False)
    fig.subplots_adjust(hspace=0.6, wspace=0.3, top=0.84)
    energies = np.log10(np.maximum(np.concatenate([train.energy, test.energy]), 1e-3))
    norm = plt.Normalize(float(np.quantile(energies, 0.01)), float(np.quantile(energies, 0.99)))

    def draw(ax, graphs, row: int, label: str) -> object:
        a, b = graphs.node_offsets[row], graphs.node_offsets[row + 1]
        pos, noise = graphs.pos[a:b], graphs.is_noise[a:b]
        colour = np.log10(np.maximum(graphs.energy[a:b], 1e-3))
        points = None
        for mask, marker in ((~noise, "o"), (noise, "x")):
            if mask.any():
                points = ax.scatter(pos[mask, 0], pos[mask, 1], c=colour[mask], cmap="viridis",
                                    norm=norm, marker=marker, s=40)
        kind = "DP" if graphs.y[row] > 0.5 else "QCD"
        ax.set_title(f"{label} ({kind})", fontsize=10)
        ax.set_xlim(-0.45, 0.45)
        ax.set_ylim(-0.45, 0.45)
        ax.set_xlabel(r"$\Delta\eta$", fontsize=10)
        ax.set_ylabel(r"$\Delta\phi$", fontsize=10)
        ax.tick_params(labelsize=8)
        return points

    points = draw(axes[0, 0], test, int(influence.test_ids[index]), "test jet")
    axes[1, 0].axis("off")
    for line, side in enumerate(("proponent", "opponent")):
        # only strictly positive / negative scores: a side may hold fewer than n
        ids, scores = getattr(influence, f"{side}s")(index)
        for column in range(n):
            if column < ids.size:
                draw(axes[line, column + 1], train, int(ids[column]),
                     f"{side} #{ids[column]}\n{scores[column]:+.3g}")
            else:
                axes[line, column + 1].axis("off")
                if column == ids.size:
                    axes[line, column + 1].text(0.5, 0.5, f"no further {side}s\n(score "
                                                f"{'> 0' if line == 0 else '< 0'})",
                                                ha="center", va="center", fontsize=10)
    if points is not None:
        fig.colorbar(points, ax=axes, label=r"$\log_{10} E$ [GeV]", shrink=0.8)
    fig.suptitle(title + "  (crosses: noise clusters)", fontsize=12, y=0.98)
    return save(fig, path)


def plot_study_bars(values: dict[str, tuple[float, float]], label: str,
                    path: str | os.PathLike[str]) -> Path:
    """One entry ``name -> (value, error)`` each: bars from zero for changes that can have
    either sign; points with error bars on a zoomed axis for values far from zero (an AUC),
    where a bar cut off at the axis would misstate the ratio between them."""
    use_style()
    fig, ax = plt.subplots(figsize=(1.6 * len(values) + 2, 4.5))
    names = list(values)
    at = np.arange(len(names))
    means = [values[k][0] for k in names]
    errors = [values[k][1] for k in names]
    low = min(m - e for m, e in zip(means, errors, strict=True))
    high = max(m + e for m, e in zip(means, errors, strict=True))
    if low > 0:  # AUC-like values: zoom on the differences, drawn as points
        ax.errorbar(at, means, yerr=errors, fmt="o", capsize=4, color="tab:blue", ms=6)
        pad = 0.1 * (high - low) + 1e-3
        ax.set_ylim(low - pad, high + pad)
        ax.set_xlim(-0.5, len(names) - 0.5)
    else:
        ax.bar(at, means, yerr=errors, capsize=4, color="tab:blue")
        ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xticks(at, names, rotation=30, ha="right", fontsize=10)
    ax.set_ylabel(label)
    return save(fig, path)


def plot_sweep(rows: list[dict], path: str | os.PathLike[str]) -> Path:
    """The grid sweep: validation AUC of every point against its parameter count (log), with
    the AUC's standard error on the validation jets as error bars, each point named."""
    use_style()
    fig, ax = plt.subplots(figsize=(8.5, 5.2))
    for r in rows:
        ax.errorbar(r["parameters"], r["auc"], yerr=r.get("auc_se", 0.0), fmt="o", capsize=3,
                    color="tab:blue", ms=5)
        ax.annotate(r["name"], (r["parameters"], r["auc"]), textcoords="offset points",
                    xytext=(5, 4), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("trainable parameters")
    ax.set_ylabel("validation AUC (best epoch)")
    model = "GATv2" if rows and rows[0].get("model") == "gatv2" else "ResGNN"
    ax.set_title(f"{model} grid sweep ({len(rows)} points)", fontsize=11, loc="left")
    return save(fig, path)
