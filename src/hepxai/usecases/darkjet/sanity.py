"""``hepxai sanity darkjet``: are the dark-jet explanations about the tagger at all?

A relevance map can look physical and still say nothing about the tagger: a jet's energetic
clusters are where the gradients of almost any network are large, and GNNExplainer's masks
start from a random draw that a short optimisation barely leaves. The checks of Adebayo et al.
(2018, "Sanity checks for saliency maps") tell the two apart: a map that stays the same when
the tagger's layers are re-initialised (cascading from the output down, or one at a time), or
when the tagger was trained on shuffled labels (``hepxai train darkjet --shuffle-labels``),
explains the jet, not the model. See :mod:`hepxai.explain.judging.sanity` for the similarity
(Spearman of ``|map|`` on the real items), the threshold and the verdicts.

* Graph taggers (resgnn, gatv2): ``saliency-graph``, ``ig-graph`` and ``gnnexplainer``, as
  ``hepxai explain darkjet`` runs them (:mod:`hepxai.usecases.darkjet.attribution`); the items
  are the nodes (every node is a real cluster). GNNExplainer learns one mask per jet and per
  model, so it runs on a balanced subset of the jets, and its seed stability (the agreement
  of two seeds' masks, the seeds an average needs) is measured with several seeds.
* The 3D-CNN (cnn3d): hepxai's :class:`~hepxai.explain.Saliency` and
  :class:`~hepxai.explain.IntegratedGradients` on its voxels ``(n, 1, 7, 16, 16)``, read as
  images ``(n, 1, 7 * 16, 16)`` (the sampling layers stacked) so that every voxel is one item
  of the core's :class:`~hepxai.explain.modality.Image` modality with ``sparse=True``: the
  similarity is computed over the *occupied* voxels. An empty voxel gets exactly zero IG
  from the zero baseline under every model, and counting those shared zeros would make any
  two maps look alike. SSIM is left out (a window across stacked layers compares nothing).

The jets are a balanced selection of test jets (:func:`~hepxai.usecases.darkjet.study.
select_jets`: the same seed explains the same jets as ``hepxai explain darkjet``).

Output (``OUT``): ``sanity.json`` (written last: the mark of a finished study) and
``sanity.png``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from hepxai.core.atomic import write_json_atomic
from hepxai.core.errors import HepxaiError
from hepxai.explain.judging.sanity import ORDERS, THRESHOLD, sanity_checks, seed_stability
from hepxai.explain.modality import Image
from hepxai.usecases.darkjet.graphs import GraphSet
from hepxai.usecases.darkjet.models import VOXEL_SHAPE, DarkJetModel
from hepxai.usecases.darkjet.names import (
    GNNEXPLAINER_EPOCHS,
    GNNEXPLAINER_LR,
    METHODS,
    VOXEL_METHODS,
)

#: the voxels of the 3D-CNN as images: the 7 sampling layers stacked along the first axis,
#: the occupied voxels the real items
VOXELS = Image(shape=(1, VOXEL_SHAPE[0] * VOXEL_SHAPE[1], VOXEL_SHAPE[2]), sparse=True,
               what="voxel images")
#: what the 3D-CNN's maps are compared by (SSIM needs true 2-d images)
VOXEL_KINDS = ("spearman", "spearman_all")
TARGET = "dark_photon"


class VoxelImages(nn.Module):
    """The 3D-CNN ``cnn`` on voxel images ``(n, 1, 7 * 16, 16)`` (:data:`VOXELS`): the same
    numbers as ``cnn`` on ``(n, 1, 7, 16, 16)``; it declares the CNN's outputs, name and
    preset, so attributions record them.

    >>> import torch
    >>> from hepxai.usecases.darkjet.models import create
    >>> VoxelImages(create("cnn3d", "quick"))(torch.zeros(2, 1, 112, 16)).shape
    torch.Size([2])
    """

    def __init__(self, cnn: nn.Module):
        super().__init__()
        self.cnn = cnn
        self.outputs = getattr(cnn, "outputs", (TARGET,))
        self.name, self.preset = getattr(cnn, "name", "cnn3d"), getattr(cnn, "preset", None)

    def forward(self, images):
        return self.cnn(images.reshape(len(images), 1, *VOXEL_SHAPE))


def voxel_images(graphs: GraphSet, rows: np.ndarray):
    """The voxels of the jets ``rows`` as :data:`VOXELS` images ``(n, 1, 112, 16)``."""
    from hepxai.usecases.darkjet.voxels import voxelise

    voxels = voxelise(graphs, rows)
    return voxels.reshape(len(voxels), *VOXELS.shape)


def parse_methods(methods: str | Sequence[str] | None, model: DarkJetModel) -> list[str]:
    """The methods of ``--methods`` for ``model`` (comma-separated or a list; ``None``: all of
    the model's); a one-line :class:`HepxaiError` for a name the model's inputs do not take.

    >>> from hepxai.usecases.darkjet.models import create
    >>> parse_methods("ig-graph, saliency-graph", create("resgnn", "quick"))
    ['ig-graph', 'saliency-graph']
    >>> parse_methods(None, create("cnn3d", "quick"))
    ['saliency', 'ig']
    """
    voxel = model.representation == "voxel"
    offered, other = (VOXEL_METHODS, METHODS) if voxel else (METHODS, VOXEL_METHODS)
    if methods is None:
        return list(offered)
    names = [m.strip() for m in (methods.split(",") if isinstance(methods, str) else methods)]
    names = list(dict.fromkeys(m for m in names if m))
    if not names:
        raise HepxaiError(f"no explanation methods given; choose from {', '.join(offered)}")
    for name in names:
        if name in offered:
            continue
        if name in other:
            reads = "voxels" if voxel else "graphs"
            raise HepxaiError(f"{name} is a method of the {'graph' if voxel else 'voxel'} "
                              f"models; {model.name} reads {reads}: choose from "
                              f"{', '.join(offered)}")
        raise HepxaiError(f"unknown method {name!r} for {model.name}; choose from "
                          f"{', '.join(offered)}")
    return names


def check_shuffled(model: DarkJetModel, shuffled: DarkJetModel) -> None:
    """A one-line refusal of a shuffled-label model that is not the explained architecture."""
    if (shuffled.name, shuffled.preset, shuffled.config) != (model.name, model.preset,
                                                             model.config):
        raise HepxaiError(f"the shuffled-label model is a {shuffled.name} ({shuffled.preset}, "
                          f"{shuffled.config}), the explained one a {model.name} "
                          f"({model.preset}, {model.config}); train the same model with "
                          "'hepxai train darkjet --shuffle-labels'")


def _builders(names: Sequence[str], model: DarkJetModel, steps: int, epochs: int, lr: float,
              seed: int) -> dict[str, Callable[[nn.Module], Any]]:
    """label -> explainer on a (randomized) model."""
    if model.representation == "voxel":
        from hepxai.explain import IntegratedGradients, Saliency

        # not fused: hepxai's inference copy is for 2-d convolutions (channels-last images)
        made = {"saliency": lambda m: Saliency(VoxelImages(m), modality=VOXELS, fused=False),
                "ig": lambda m: IntegratedGradients(VoxelImages(m), n_steps=steps,
                                                    modality=VOXELS, fused=False)}
        return {name: made[name] for name in names}
    from hepxai.usecases.darkjet.attribution import explainer

    params = {"saliency-graph": {}, "ig-graph": {"n_steps": steps},
              "gnnexplainer": {"epochs": epochs, "lr": lr, "seed": seed}}
    return {name: (lambda m, name=name: explainer(name, m, **params[name])) for name in names}


def sanity_study(model: DarkJetModel, graphs: GraphSet, rows: np.ndarray,
                 out: str | os.PathLike[str], methods: str | Sequence[str] | None = None, *,
                 shuffled: DarkJetModel | None = None, seeds: int = 4,
                 orders: Sequence[str] = ORDERS, steps: int = 50, gnnexplainer_jets: int = 20,
                 gnnexplainer_epochs: int = GNNEXPLAINER_EPOCHS,
                 gnnexplainer_lr: float = GNNEXPLAINER_LR, seed: int = 1,
                 about: dict[str, Any] | None = None,
                 echo: Callable[[str], object] = print) -> dict[str, Any]:
    """Run the sanity checks of ``model`` on the jets ``rows`` of ``graphs`` and write them to
    ``out``; returns the summary (``sanity.json``).

    Args:
        model: a dark-jet tagger (graph or voxel).
        graphs, rows: the explained jets (the 3D-CNN reads their voxels).
        methods: comma-separated or a list (default: all of the model's,
            :func:`parse_methods`).
        shuffled: the same model trained on shuffled labels (data randomization).
        seeds: GNNExplainer's seeds for the seed-stability study (below 2: none).
        orders: the layer randomizations (``cascading``, ``independent``).
        steps: integrated-gradients steps.
        gnnexplainer_jets: GNNExplainer explains a balanced subset of this many of ``rows``.
        gnnexplainer_epochs, gnnexplainer_lr: its optimisation (the study's by default).
        seed: GNNExplainer's seed in the randomization checks (the first of the seed study).
        about: what else the summary records (the checkpoints).

    >>> import tempfile
    >>> from hepxai.usecases.darkjet.graphs import GraphSettings, build_graphs
    >>> from hepxai.usecases.darkjet.models import create
    >>> from hepxai.usecases.darkjet.simulator import DarkJetSimConfig, Jets, simulate_jets
    >>> jets = [simulate_jets(DarkJetSimConfig(), 4, label, 0, 20) for label in (0, 1)]
    >>> graphs = build_graphs(Jets.concatenate(jets), GraphSettings())
    >>> summary = sanity_study(create("resgnn", "quick"), graphs, [0, 1, 20, 21],
    ...                        tempfile.mkdtemp(), "saliency-graph", orders=["cascading"],
    ...                        echo=lambda line: None)
    >>> summary["methods"]["saliency-graph"]["cascading"]["steps"][:3]
    ['linout', 'lin', 'convs.6']
    """
    names = parse_methods(methods, model)
    unknown = [o for o in orders if o not in ORDERS]
    if unknown:
        raise HepxaiError(f"unknown randomization order {unknown[0]!r}; choose "
                          f"{' or '.join(ORDERS)}")
    if not orders and shuffled is None:
        raise HepxaiError("nothing to check: give a randomization order or a shuffled-label "
                          "model")
    if shuffled is not None:
        check_shuffled(model, shuffled)
    rows = np.asarray(rows, np.int64)
    if rows.size == 0:
        raise HepxaiError("no jets to check; select at least one jet")
    if rows.min() < 0 or rows.max() >= len(graphs):
        raise HepxaiError(f"jet rows must be in [0, {len(graphs)}), got {rows.min()}.."
                          f"{rows.max()}")
    out = Path(out)
    builders = _builders(names, model, steps, gnnexplainer_epochs, gnnexplainer_lr, seed)
    common = dict(target=TARGET, shuffled_model=shuffled, orders=orders,
                  on_method=lambda label: echo(f"randomizing for {label}"))
    from hepxai.usecases.darkjet.study import balanced_subset

    gnn_rows = balanced_subset(rows, graphs.y, gnnexplainer_jets)
    if model.representation == "voxel":
        parts = [sanity_checks(builders, model, voxel_images(graphs, rows), ids=rows,
                               kinds=VOXEL_KINDS, **common)[0]]
    else:
        # GNNExplainer (one optimisation per jet and per model) on its subset, the others on
        # every jet
        groups = [({n: b for n, b in builders.items() if n != "gnnexplainer"}, rows),
                  ({n: b for n, b in builders.items() if n == "gnnexplainer"}, gnn_rows)]
        parts = [sanity_checks(chosen, model, graphs.batch(jets), ids=jets, **common)[0]
                 for chosen, jets in groups if chosen]
    summary = {**parts[0], "n_examples": int(len(rows))}  # every jet, not a method's subset
    summary["methods"] = {name: part["methods"][name] for name in names for part in parts
                          if name in part["methods"]}
    stability = {}
    if "gnnexplainer" in names and seeds >= 2:
        from hepxai.usecases.darkjet.attribution import explainer

        echo(f"seed stability of gnnexplainer ({seeds} seeds, {gnn_rows.size} jets)")
        stability["gnnexplainer"] = seed_stability(
            lambda s: explainer("gnnexplainer", model, epochs=gnnexplainer_epochs,
                                lr=gnnexplainer_lr, seed=s),
            graphs.batch(gnn_rows), seeds=range(seed, seed + seeds), target=TARGET,
            ids=gnn_rows, method="gnnexplainer")
    labels = graphs.y[rows]
    summary.update({
        **(about or {}), "model": model.name, "preset": model.preset, "config": model.config,
        "graphs": graphs.settings, "jets": rows.tolist(),
        "classes": {"qcd": int((labels == 0).sum()), "dark_photon": int((labels == 1).sum())},
        "items": "occupied voxels" if model.representation == "voxel" else "nodes",
        "gnnexplainer_jets": gnn_rows.tolist() if "gnnexplainer" in names else [],
        "method_params": _method_params(names, model, steps, gnnexplainer_epochs,
                                        gnnexplainer_lr, seed),
        "shuffled": shuffled is not None, "seed_stability": stability})
    from hepxai.viz.explain import plot_sanity

    plot_sanity(summary, out / "sanity.png")
    write_json_atomic(out / "sanity.json", summary)  # last: the mark of a finished study
    return summary


def _method_params(names: Sequence[str], model: DarkJetModel, steps: int, epochs: int,
                   lr: float, seed: int) -> dict[str, Any]:
    params = {"saliency": {}, "ig": {"n_steps": steps}, "saliency-graph": {},
              "ig-graph": {"n_steps": steps},
              "gnnexplainer": {"epochs": epochs, "lr": lr, "seed": seed}}
    return {name: params[name] for name in names}


def sanity_run(checkpoint: str | os.PathLike[str], data: str | os.PathLike[str],
               out: str | os.PathLike[str], methods: str | Sequence[str] | None = None, *,
               shuffled: str | os.PathLike[str] | None = None, n_jets: int = 100,
               seed: int = 1, echo: Callable[[str], object] = print,
               **settings: Any) -> dict[str, Any]:
    """``hepxai sanity darkjet``: :func:`sanity_study` of the tagger of ``checkpoint`` (and
    the shuffled-label one of ``shuffled``) on ``n_jets`` balanced test jets of ``data``, its
    table echoed; ``settings`` go to :func:`sanity_study`.

    >>> sanity_run("runs/darkjet/resgnn-gnn-1-fast/best.pt", "data/darkjet",  # doctest: +SKIP
    ...            "runs/darkjet/resgnn-gnn-1-fast/sanity",
    ...            shuffled="runs/darkjet/resgnn-gnn-1-fast-shuffled/best.pt")
    """
    from hepxai.io.checkpoint import load_model, read_checkpoint
    from hepxai.usecases.darkjet.evaluation import graph_settings_of
    from hepxai.usecases.darkjet.graphs import load_graphs
    from hepxai.usecases.darkjet.store import split_path
    from hepxai.usecases.darkjet.study import select_jets

    state = read_checkpoint(checkpoint, use_case="darkjet")
    graph_settings = graph_settings_of(state)
    model = load_model(checkpoint, use_case="darkjet")
    parse_methods(methods, model)  # before the graphs are read or built
    other = None
    if shuffled is not None:
        identity = read_checkpoint(shuffled, use_case="darkjet").get("identity") or {}
        if not identity.get("shuffled_labels"):
            raise HepxaiError(f"{shuffled}: not trained on shuffled labels; train it with "
                              "'hepxai train darkjet --shuffle-labels' (same model and preset)")
        if identity.get("graphs") != graph_settings.to_dict():
            raise HepxaiError(f"{shuffled}: trained on other graphs ({identity.get('graphs')})"
                              f" than {checkpoint} ({graph_settings.to_dict()}); train it with "
                              "the same graph options")
        other = load_model(shuffled, use_case="darkjet")
        check_shuffled(model, other)
    graphs = load_graphs(split_path(data, "test"), graph_settings)
    rows = select_jets(graphs, n_jets, seed)
    from hepxai.explain.judging.sanity import best_epoch_metric

    quality = {"metric": "validation AUC (0.5: chance)", "lower_is_better": False,
               "trained": best_epoch_metric(state, "auc"),
               "shuffled": None if shuffled is None else best_epoch_metric(
                   read_checkpoint(shuffled, use_case="darkjet"), "auc")}
    about = {"checkpoint": str(Path(checkpoint).resolve()),
             "shuffled_checkpoint": None if shuffled is None else str(Path(shuffled).resolve()),
             "quality": quality}
    summary = sanity_study(model, graphs, rows, out, methods, shuffled=other, seed=seed,
                           about=about, echo=echo, **settings)
    echo(format_sanity(summary))
    return summary


def format_sanity(summary: dict[str, Any]) -> str:
    """Plain-text table (:func:`hepxai.explain.judging.sanity.format_sanity`'s, with a dark-jet
    title: jets, the items compared, GNNExplainer's subset): per method the similarity after
    the full cascade and to the shuffled-label model (mean [95 % interval], verdict), the
    layers it is blind to; then GNNExplainer's seed stability."""
    from hepxai.explain.judging.sanity import format_sanity as table

    subset = len(summary.get("gnnexplainer_jets") or [])
    return table(summary, title=(
        f"Sanity checks ({summary.get('model', 'model')} {summary.get('preset', '')}, target "
        f"{summary['target']}, {len(summary.get('jets') or [])} jets"
        + (f" ({subset} for gnnexplainer)" if subset else "")
        + f", Spearman over the {summary.get('items', 'items')}; pass: below "
        f"{summary['threshold']} with the whole 95 % interval)"))


__all__ = ["THRESHOLD", "VOXELS", "VoxelImages", "format_sanity", "parse_methods",
           "sanity_run", "sanity_study"]
