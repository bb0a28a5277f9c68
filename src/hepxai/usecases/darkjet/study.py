"""The dark-jet study: train, evaluate, explain and judge, compare with the 3D-CNN, graph views.

Every function writes its results into a run directory and returns what it wrote; the CLI
(:mod:`hepxai.usecases.darkjet.cli`) only parses arguments and calls these.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hepxai.core.atomic import read_json, write_json_atomic
from hepxai.core.errors import HepxaiError
from hepxai.core.progress import progress
from hepxai.usecases.darkjet.names import GNNEXPLAINER_EPOCHS, GNNEXPLAINER_LR, METHODS


def train_run(data: Path, out: Path, model_name: str, preset: str, settings, *, seed: int = 1,
              epochs: int | None = None, max_jets: int | None = None, val_jets: int = 20_000,
              device: str = "cpu", resume: bool = False, config: dict | None = None,
              quiet: bool = False, shuffle_labels: bool = False, recipe=None):
    """Build (or read cached) graphs, train one model; returns the TrainResult.

    ``shuffle_labels``: train on the training labels permuted over the jets (the model of
    ``hepxai sanity darkjet --shuffled``; see :func:`hepxai.usecases.darkjet.task.train`)."""

    from hepxai.usecases.darkjet.graphs import load_graphs
    from hepxai.usecases.darkjet.models import create
    from hepxai.usecases.darkjet.store import DarkJetFile, split_path
    from hepxai.usecases.darkjet.task import JetSet, train

    model = create(model_name, preset, seed=seed, **(config or {}))
    train_file, val_file = split_path(data, "train"), split_path(data, "val")
    for path in (train_file, val_file):  # both readable before a graph is built or cached
        DarkJetFile(path)
    # only the jets used are turned into graphs (and cached as such)
    train_set = JetSet(load_graphs(train_file, settings, max_jets=max_jets),
                       model.representation)
    val_set = JetSet(load_graphs(val_file, settings, max_jets=val_jets), model.representation)
    if not quiet:
        print(f"training {model_name} ({preset}, {model.n_parameters():,} parameters) on "
              f"{len(train_set):,} {settings.variant} jets"
              + (" with shuffled labels" if shuffle_labels else "")
              + f", validating on {len(val_set):,}; output in {out}")

    def report(r: dict) -> None:
        if not quiet:
            print(f"epoch {r['epoch']:>3}: loss {r['train_loss']:.4f} / {r['loss']:.4f}  "
                  f"acc {r['accuracy']:.4f}  AUC {r['auc']:.4f}  TNR@90 {r['tnr_90']:.4f}")

    identity = {"graphs": settings.to_dict(), "data": str(Path(train_file).resolve())}
    return train(model, train_set, val_set, out, seed=seed, epochs=epochs, device=device,
                 resume=resume, on_epoch=report, data_identity=identity,
                 shuffle_labels=shuffle_labels, recipe=recipe)


def evaluate_run(checkpoints: list[Path], data: Path, out: Path, *, split: str = "test",
                 max_jets: int | None = None, device: str = "cpu") -> dict:
    """Evaluate, write evaluation.json, metric_table.md, roc.png, scores.png."""
    import numpy as np

    from hepxai.usecases.darkjet.evaluation import claims_table, evaluate_models, metric_table
    from hepxai.usecases.darkjet.figures import plot_roc, plot_scores

    results = evaluate_models(checkpoints, data, out, device=device, split=split,
                              max_jets=max_jets)
    table = metric_table(results)
    claims = claims_table(results)
    (out / "metric_table.md").write_text(table + "\n\n" + claims + "\n")
    plot_roc({m["label"]: m["roc"] for m in results["models"]}, out / "roc.png")
    scores = {}
    for m in results["models"]:
        with np.load(m["predictions"]) as saved:
            scores[m["label"]] = (saved["logits"], saved["labels"])
    plot_scores(scores, out / "scores.png")
    # last: evaluation.json is the mark of a finished evaluation (the demo and report trust it)
    write_json_atomic(out / "evaluation.json", results)
    results["table_markdown"], results["claims_markdown"] = table, claims
    return results


def sweep_run(data: Path, out: Path, preset: str, settings, *, hidden: list[int],
              graphconv: list[int], gcn: list[int], epochs: int | None = None,
              max_jets: int | None = 20_000, val_jets: int = 10_000, seed: int = 1,
              model: str = "resgnn", layers: list[int] | None = None,
              learning_rates: list[float] | None = None, batch_sizes: list[int] | None = None,
              radius_factors: list[float] | None = None,
              on_point: Callable[[dict], object] | None = None) -> list[dict]:
    """``hepxai sweep darkjet``: train a graph tagger at every point of the grid into
    ``out/POINT`` (a finished point is reused, not retrained) and rank the points by
    validation AUC; writes ``sweep.json``, ``sweep.md`` (:func:`sweep_table`) and
    ``sweep.png``. The grid: width ``hidden`` x depth (ResGNN: ``graphconv`` x ``gcn``
    layers; GATv2: ``layers`` attention layers) x ``learning_rates`` x ``batch_sizes`` x
    ``radius_factors`` of the graphs (each ``None``: the preset's, or ``settings``' radius).
    Returns the ranked points; ``on_point`` sees each point when it is done."""
    import itertools
    from dataclasses import replace

    from hepxai.usecases.darkjet.models import RECIPES, create

    if model not in ("resgnn", "gatv2"):
        raise HepxaiError(f"the sweep trains a graph tagger, resgnn or gatv2, not {model!r}")
    recipe = RECIPES[preset] if preset in RECIPES else None
    if recipe is None:
        raise HepxaiError(f"unknown preset {preset!r}; choose one of {', '.join(RECIPES)}")
    depths = [{"n_graphconv": g, "n_gcn": c} for g, c in itertools.product(graphconv, gcn)] \
        if model == "resgnn" else [{"n_layers": n} for n in (layers or [5])]
    rates = learning_rates or [recipe.learning_rate]
    batches = batch_sizes or [recipe.batch_size]
    radii = radius_factors or [settings.radius_factor]
    grid = list(itertools.product(hidden, depths, rates, batches, radii))
    if any(h < 1 or any(v < (0 if k == "n_gcn" else 1) for k, v in d.items())
           for h, d, *_ in grid):
        raise HepxaiError("--hidden, --graphconv and --layers values must be at least 1 "
                          "(--gcn at least 0)")
    if any(r <= 0 for r in rates) or any(b < 1 for b in batches) or any(f <= 0 for f in radii):
        raise HepxaiError("learning rates and radius factors must be positive, batch sizes "
                          "at least 1")
    rows = []
    for n_hidden, depth, rate, batch, radius in grid:
        # the name: width and depth always, the other axes where they differ from the
        # preset's (or the grid varies them); a reused point is checked against them all
        name = f"h{n_hidden}-" + "-".join(f"{k.removeprefix('n_')}{v}" for k, v in depth.items())
        name += f"-lr{rate:.6g}" if len(rates) > 1 or rate != recipe.learning_rate else ""
        name += f"-b{batch}" if len(batches) > 1 or batch != recipe.batch_size else ""
        name += f"-r{radius:.6g}" if len(radii) > 1 else ""
        if model != "resgnn":
            name = f"{model}-{name}"
        run = out / name
        config = {"hidden": n_hidden, **depth}
        point_settings = replace(settings, radius_factor=radius)
        history = run / "history.json"
        if (run / "best.pt").exists() and history.exists():  # finished point: reuse
            _check_point(run, model, config, rate, batch, point_settings)
            epochs_seen = read_json(history, "'hepxai train darkjet'", ("history",))["history"]
        else:
            epochs_seen = train_run(
                data, run, model, preset, point_settings, seed=seed, epochs=epochs,
                max_jets=max_jets, val_jets=val_jets, config=config, quiet=True,
                recipe=replace(recipe, learning_rate=rate, batch_size=batch)).history
        best = max(epochs_seen, key=lambda h: h["auc"])
        row = {"name": name, "model": model, **config, "learning_rate": rate,
               "batch_size": batch, "radius_factor": radius,
               "parameters": create(model, preset, **config).n_parameters(),
               "best_epoch": best["epoch"], "auc": best["auc"], "tnr_90": best["tnr_90"],
               "accuracy": best["accuracy"]}
        rows.append(row)
        if on_point is not None:
            on_point(row)
    rows.sort(key=lambda r: -r["auc"])
    from hepxai.metrics.classification import auc_standard_error
    from hepxai.usecases.darkjet.figures import plot_sweep
    from hepxai.usecases.darkjet.store import DarkJetFile, split_path

    # each point's AUC is measured on the same validation jets: its standard error on them
    labels = DarkJetFile(split_path(data, "val")).labels
    labels = labels if val_jets is None else labels[:val_jets]  # the jets validated on
    n_val, n_signal = len(labels), int((labels > 0.5).sum())
    for row in rows:
        row["auc_se"] = auc_standard_error(row["auc"], n_signal, n_val - n_signal)
    plot_sweep(rows, out / "sweep.png")
    write_json_atomic(out / "sweep.json", {"graphs": settings.to_dict(), "model": model,
                                           "n_val": n_val, "points": rows})
    (out / "sweep.md").write_text(sweep_table(rows) + "\n")
    return rows


def _check_point(run: Path, model: str, config: dict, rate: float, batch: int,
                 settings) -> None:
    """A finished sweep point is reused only if it was trained with the settings asked for:
    else one line (its directory holds another run: a changed --radius-factor, say)."""
    from hepxai.io.checkpoint import read_checkpoint

    state = read_checkpoint(run / "best.pt", use_case="darkjet")
    recipe = state.get("recipe") or {}
    found = {"model": state.get("model"), "learning rate": recipe.get("learning_rate"),
             "batch size": recipe.get("batch_size"),
             "graphs": (state.get("identity") or {}).get("graphs"),
             **{k: (state.get("config") or {}).get(k) for k in config}}
    wanted = {"model": model, "learning rate": rate, "batch size": batch,
              "graphs": settings.to_dict(), **config}
    differs = sorted(k for k in wanted if found.get(k) != wanted[k])
    if differs:
        raise HepxaiError(f"{run} holds a sweep point trained with another {', '.join(differs)}"
                          "; choose another --out or remove that point to train it again")


def sweep_table(rows: list[dict]) -> str:
    """The ranked sweep points as a markdown table (``sweep.md``)."""
    lines = ["| point | parameters | best epoch | val AUC | val TNR@90 | val accuracy |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r['name']} | {r['parameters']:,} | {r['best_epoch']} | {r['auc']:.4f} | "
              f"{r['tnr_90']:.4f} | {r['accuracy']:.4f} |" for r in rows]
    return "\n".join(lines)


def judge_run(model, graphs, results: dict, out: Path, *, top_k: int = 5, seed: int = 1,
              replicas: dict | None = None) -> dict:
    """Judge the attributions (localization, deletion, completeness, agreement; ``replicas``:
    stochastic methods' runs with other seeds): write ``judging.json``, ``agreement.png`` and
    ``deletion_curves.png`` into ``out``."""
    import time

    from hepxai.usecases.darkjet.figures import plot_graph_deletion_curves
    from hepxai.usecases.darkjet.judging import judge_graphs, judging_summary
    from hepxai.viz.explain import plot_agreement

    start = time.perf_counter()
    judged = judge_graphs(model, graphs, results, k=top_k, seed=seed, replicas=replicas)
    summary = judging_summary(judged, k=top_k, seconds=time.perf_counter() - start)
    plot_agreement(summary, out / "agreement.png")
    plot_graph_deletion_curves(summary, out / "deletion_curves.png")
    write_json_atomic(out / "judging.json", summary)  # last: the mark of a finished judging
    return summary


def cross_model_run(cnn_checkpoint: Path, data: Path, graphs, results: dict, out: Path, *,
                    seed: int = 1, n_permutations: int = 50) -> dict:
    """The 3D-CNN's voxel saliency on the explained test jets against every method's node
    relevance summed into the same voxels; ``cross_model.json`` and ``cross_model.png``."""
    import numpy as np

    from hepxai.io.checkpoint import load_model, read_checkpoint
    from hepxai.usecases.darkjet.evaluation import graph_settings_of
    from hepxai.usecases.darkjet.figures import plot_cross_model
    from hepxai.usecases.darkjet.graphs import load_graphs
    from hepxai.usecases.darkjet.judging import cnn_voxel_saliency, cross_model
    from hepxai.usecases.darkjet.store import split_path
    from hepxai.usecases.darkjet.voxels import voxelise

    cnn = load_model(cnn_checkpoint, use_case="darkjet")
    if cnn.representation != "voxel":
        raise HepxaiError(f"{cnn_checkpoint}: a {cnn.name} checkpoint; --cnn-checkpoint needs "
                          "a cnn3d one")
    settings = graph_settings_of(read_checkpoint(cnn_checkpoint, use_case="darkjet"))
    # the CNN reads the voxelised jets of its own graph variant; rows are test.h5 rows in both
    cnn_graphs = graphs if settings.to_dict() == graphs.settings else load_graphs(
        split_path(data, "test"), settings)
    rows = np.unique(np.concatenate([r.node.event_ids for r in results.values()]))
    saliency = cnn_voxel_saliency(cnn, voxelise(cnn_graphs, rows))
    found, figure = {}, {}
    for name, result in results.items():
        ids = result.node.event_ids
        where = np.searchsorted(rows, ids)
        numbers = cross_model(result.node.items(), graphs.subset(ids), saliency[where],
                              n_permutations=n_permutations, seed=seed)
        figure[name] = numbers
        found[name] = {k: v for k, v in numbers.items() if k not in ("spearman", "permuted")}
        found[name]["per_jet"] = numbers["spearman"].tolist()
    summary = {"cnn_checkpoint": str(cnn_checkpoint), "cnn_graphs": settings.to_dict(),
               "methods": found}
    plot_cross_model(figure, out / "cross_model.png")
    write_json_atomic(out / "cross_model.json", summary)  # last: the mark of a finished study
    return summary


def select_jets(graphs, n_jets: int, seed: int = 1):
    """The explained jets: ``n_jets // 2`` (at least 1) of each class drawn at random by
    ``seed`` (fewer where a class has fewer), as sorted rows of ``graphs``; ``hepxai explain
    darkjet`` and ``hepxai sanity darkjet`` with the same seed explain the same jets."""
    import numpy as np

    rng = np.random.default_rng(seed)
    half = max(1, n_jets // 2)
    return np.sort(np.concatenate([rng.permutation(np.flatnonzero(graphs.y == label))[:half]
                                   for label in (0.0, 1.0)]))


def balanced_subset(rows, labels, n_jets: int):
    """The first ``n_jets // 2`` (at least 1) jets of each class of ``rows`` (QCD first):
    where one optimisation per jet (GNNExplainer) limits what can be explained."""
    import numpy as np

    per = max(1, n_jets // 2)
    return np.concatenate([rows[labels[rows] == label][:per] for label in (0, 1)])


def restarts_needed(sanity_json: Path, checkpoint: Path) -> tuple[int, int | None]:
    """``(restarts, asked)``: the GNNExplainer restarts to average after a ``hepxai sanity
    darkjet`` run of ``checkpoint`` (its ``seed_stability``): the seeds Spearman-Brown
    predicts for agreement 0.9, at most :data:`~hepxai.usecases.darkjet.names.MAX_RESTARTS`;
    ``asked`` the uncapped number (``None`` when the seeds never agree: then 1 restart)."""
    from hepxai.explain.judging.sanity import stability_of
    from hepxai.usecases.darkjet.names import MAX_RESTARTS

    found = stability_of(sanity_json, checkpoint, "hepxai sanity darkjet").get("gnnexplainer")
    if found is None:
        raise HepxaiError(f"{sanity_json}: no seed-stability study of gnnexplainer; run "
                          "'hepxai sanity darkjet' with --seeds 2 or more on a graph tagger")
    asked = found.get("seeds_needed")
    return (1 if asked is None else min(int(asked), MAX_RESTARTS)), asked


def explain_run(checkpoint: Path, data: Path, out: Path, *, methods=METHODS, n_jets: int = 200,
                steps: int = 50, gnnexplainer_epochs: int = GNNEXPLAINER_EPOCHS,
                gnnexplainer_lr: float = GNNEXPLAINER_LR, gnnexplainer_jets: int = 40,
                gnnexplainer_restarts: int = 1, samples_from: Path | None = None,
                top_k: int = 5, views: int = 2, seed: int = 1,
                cnn_checkpoint: Path | None = None, n_permutations: int = 50,
                n_seeds: int = 1, echo: Callable[[str], object] = print) -> dict:
    """Attributions of a balanced selection of test jets; figures; their judging
    (``judging.json``) and, given a 3D-CNN checkpoint, the cross-model comparison; a summary
    JSON. ``samples_from``: a ``hepxai sanity darkjet`` result whose GNNExplainer seed
    stability sets the restarts (:func:`restarts_needed`; never fewer than
    ``gnnexplainer_restarts``); ``n_seeds``: GNNExplainer also runs with seeds
    ``seed + 1 .. seed + n_seeds - 1`` on the same jets, which its judging means average and
    its intervals resample."""
    import numpy as np

    from hepxai.io.checkpoint import load_model, read_checkpoint
    from hepxai.usecases.darkjet.attribution import explain
    from hepxai.usecases.darkjet.attribution import top_k as pick_top_k
    from hepxai.usecases.darkjet.evaluation import graph_settings_of
    from hepxai.usecases.darkjet.figures import (
        graph_html,
        layer_energy_ratio,
        layer_relevance,
        plot_graph_3d,
        plot_layer_saliency,
        plot_top_k,
    )
    from hepxai.usecases.darkjet.graphs import load_graphs
    from hepxai.usecases.darkjet.store import split_path

    state = read_checkpoint(checkpoint, use_case="darkjet")
    settings = graph_settings_of(state)
    model = load_model(checkpoint, use_case="darkjet")
    if model.representation != "graph":
        raise HepxaiError(f"{checkpoint}: a {model.name} checkpoint; the graph explainers need "
                          "resgnn or gatv2")
    if cnn_checkpoint is not None:  # fail before the (long) explanations, not after
        cnn_state = read_checkpoint(cnn_checkpoint, use_case="darkjet")
        if cnn_state["model"] != "cnn3d":
            raise HepxaiError(f"{cnn_checkpoint}: a {cnn_state['model']} checkpoint; "
                              "--cnn-checkpoint needs a cnn3d one")
    graphs = load_graphs(split_path(data, "test"), settings)
    rows = select_jets(graphs, n_jets, seed)
    if samples_from is not None and "gnnexplainer" in methods:
        needed, wanted = restarts_needed(samples_from, checkpoint)
        if wanted is not None and wanted > needed:
            echo(f"GNNExplainer's seed stability predicts {wanted} restarts for agreement "
                 f"0.9; averaging {needed} (the most the study affords)")
        gnnexplainer_restarts = max(gnnexplainer_restarts, needed)
    params = {"saliency-graph": {}, "ig-graph": {"n_steps": steps},
              "gnnexplainer": {"epochs": gnnexplainer_epochs, "lr": gnnexplainer_lr,
                               "seed": seed, "restarts": gnnexplainer_restarts}}
    ratio = layer_energy_ratio(graphs, rows)
    summary = {"checkpoint": str(checkpoint), "graphs": settings.to_dict(),
               "n_jets": int(rows.size), "methods": {}}
    by_class = {label: rows[graphs.y[rows] == label][:views] for label in (0.0, 1.0)}
    categories = _tagging_categories(model, graphs, rows)  # TP / FP / FN / TN per row
    results = {}
    for name in methods:
        chosen = rows
        if name == "gnnexplainer":  # one optimisation per jet: a balanced subset
            chosen = balanced_subset(rows, graphs.y, gnnexplainer_jets)
        result = explain(name, model, graphs, chosen, **params[name])
        results[name] = result
        files = result.save(out, name)
        node = result.node
        values = node.items()  # per node: |.| for saliency and the masks, signed for IG
        sub = graphs.subset(chosen)
        table = layer_relevance(values, node.offsets, sub.layer)
        positions = np.searchsorted(rows, chosen)
        plot_layer_saliency(graphs.pt[chosen], ratio[positions], table, graphs.y[chosen],
                            out / f"{name}-layers.png", method=name)
        # the slides' split: the same maps per tagging category at score 0.5
        found = categories[positions]
        plot_layer_saliency(graphs.pt[chosen], ratio[positions], table, graphs.y[chosen],
                            out / f"{name}-layers-categories.png", method=name,
                            groups={c: found == c for c in ("TP", "FP", "FN", "TN")
                                    if (found == c).any()})
        figures = {"layers": str(out / f"{name}-layers.png"),
                   "layers_categories": str(out / f"{name}-layers-categories.png")}
        tops = pick_top_k(values, node.offsets, top_k)
        edge_values = result.edge.items()
        edge_tops = pick_top_k(edge_values, result.edge.offsets, top_k)
        noise_share = float(np.mean([sub.is_noise[node.offsets[i] + t].mean()
                                     for i, t in enumerate(tops)]))
        for label, picks in by_class.items():
            for row in picks:
                if row not in set(chosen.tolist()):
                    continue
                i = int(np.flatnonzero(chosen == row)[0])
                v = values[node.offsets[i]:node.offsets[i + 1]]
                e = edge_values[result.edge.offsets[i]:result.edge.offsets[i + 1]]
                kind = "dp" if label else "qcd"
                stem = out / f"{name}-{kind}-{row}"
                plot_graph_3d(graphs, int(row), f"{stem}-3d.png", values=v, value_label=name)
                graph_html(graphs, int(row), f"{stem}-3d.html", values=v, value_label=name)
                plot_top_k(graphs, int(row), np.abs(v), np.abs(e), top_k, f"{stem}-top{top_k}.png",
                           title=f"{name}: top-{top_k}, {'dark photon' if label else 'QCD'} "
                                 f"jet {row}")
                figures[f"{kind}-{row}"] = {"png": f"{stem}-3d.png", "html": f"{stem}-3d.html",
                                            "top_k": f"{stem}-top{top_k}.png"}
        summary["methods"][name] = {
            "files": {k: str(v) for k, v in files.items()}, "figures": figures,
            "n_jets": int(chosen.size), "params": node.params,
            "top_k_noise_share": noise_share,
            "top_k_edges_example": edge_tops[0].tolist() if edge_tops else [],
            "completeness_error_median": (float(np.median(node.completeness_error()))
                                          if node.baseline_outputs is not None else None)}
    replicas = {}
    if n_seeds > 1 and "gnnexplainer" in results:
        jets = results["gnnexplainer"].node.event_ids
        replicas["gnnexplainer"] = [
            explain("gnnexplainer", model, graphs, jets,
                    **{**params["gnnexplainer"], "seed": seed + r})
            for r in progress(range(1, n_seeds), desc="gnnexplainer: other seeds", unit="seed")]
    judge_run(model, graphs, results, out, top_k=top_k, seed=seed, replicas=replicas)
    summary["judging"] = str(out / "judging.json")
    if cnn_checkpoint is not None:
        cross_model_run(cnn_checkpoint, data, graphs, results, out, seed=seed,
                        n_permutations=n_permutations)
        summary["cross_model"] = str(out / "cross_model.json")
    write_json_atomic(out / "explain.json", summary)
    return summary


def _tagging_categories(model, graphs, rows):
    """TP / FP / FN / TN of the jets ``rows`` (score 0.5), the tagger run once over them."""
    import torch

    from hepxai.usecases.darkjet.judging import tagging_categories

    batch = graphs.batch(rows)
    model.eval()
    with torch.no_grad():
        logits = model(batch.x, batch.edge_index, batch.edge_weight, batch.batch).numpy()
    return tagging_categories(graphs.y[rows], logits)


def format_explain(summary: dict, top_k: int = 5) -> str:
    """What ``hepxai explain darkjet`` prints of :func:`explain_run`'s summary: per method the
    noise share of its top-k nodes, the judging scores and, with a 3D-CNN, the cross-model
    agreement."""

    lines = []
    for name, info in summary["methods"].items():
        extra = ("" if info["completeness_error_median"] is None
                 else f", median completeness error {info['completeness_error_median']:.3g}")
        lines.append(f"{name:>15}: {info['n_jets']} jets; noise share of the top-{top_k} nodes "
                     f"{info['top_k_noise_share']:.3f}{extra}")
    judging = read_json(summary["judging"], "'hepxai explain darkjet'", ("methods", "scores"))
    for name in judging["methods"]:
        s = judging["scores"][name]["all"]
        lines.append(f"{name:>15}: non-noise share {_fmt(s['signal_share'])} (base rate "
                     f"{_fmt(s['base_rate'])}), AUROC {_fmt(s['auroc'])}, deletion gap "
                     f"{_fmt(s['deletion_gap'])}")
    if "cross_model" in summary:
        cross = read_json(summary["cross_model"], "'hepxai explain darkjet'",
                          ("methods",))["methods"]
        for name, c in cross.items():
            lines.append(f"{name:>15} vs cnn3d saliency: mean Spearman {_fmt(c['mean'])} "
                         f"(shuffled voxels {_fmt(c['permuted_mean'])} +- "
                         f"{_fmt(c['permuted_std'])})")
    return "\n".join(lines)


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


# -- graph views (hepxai report darkjet --views) ----------------------------------------------
def draw_graph_views(data: Path, out: Path, settings, per_class: int = 2) -> list[dict]:
    """3D views (PNG + interactive HTML), coloured by energy, of the first test jets of each
    class; an index ``graphs.json`` for the report."""
    import numpy as np

    from hepxai.usecases.darkjet.figures import graph_html, plot_graph_3d
    from hepxai.usecases.darkjet.graphs import load_graphs
    from hepxai.usecases.darkjet.store import split_path

    graphs = load_graphs(split_path(data, "test"), settings)
    views = []
    for label, kind in ((0.0, "qcd"), (1.0, "dp")):
        for row in np.flatnonzero(graphs.y == label)[:per_class]:
            stem = out / f"{kind}-{row}"
            plot_graph_3d(graphs, int(row), f"{stem}-3d.png")
            graph_html(graphs, int(row), f"{stem}-3d.html")
            views.append({"name": f"{kind}-{row}", "png": f"{stem}-3d.png",
                          "html": f"{stem}-3d.html"})
    write_json_atomic(out / "graphs.json", {"settings": settings.to_dict(), "views": views})
    return views
