"""``hepxai influence darkjet STEP``: TracIn data influence of the dark-jet graph taggers.

Steps: ``precompute`` (once per run), then ``query`` and ``categories`` read the stored
precompute; ``lsor`` and ``kappa`` retrain small ResGNNs to validate TracIn.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hepxai.cli import options
from hepxai.cli.app import register
from hepxai.cli.arguments import count, int_list
from hepxai.core.errors import HepxaiError

DATA = Path("data/darkjet")
STEPS = {
    "precompute": "last-layer gradients of every training jet at the run's checkpoints",
    "query": "top-k proponents and opponents of chosen test jets, with figures",
    "categories": "TracIn per TP / FP / FN / TN set (threshold 0.5), with summaries",
    "lsor": "leave-some-out retraining: remove proponents vs random jets",
    "kappa": "prune the highest / lowest / random gradient-norm jets and retrain",
}


def _fractions(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated fractions, got {text!r}") \
            from None
    if not values or not all(0 < v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected fractions 0 < kappa < 1, got {text!r}")
    return values


def _add(parser: argparse.ArgumentParser) -> None:
    groups = options.tracin(
        parser, steps=STEPS, use_case="darkjet", unit="jets", reads="train.h5, val.h5, test.h5",
        run_default="runs/darkjet/resgnn-gnn-1-fast", store_default="RUN/influence/tracin",
        out_default="RUN/influence; lsor and kappa: runs/darkjet/influence-lsor, "
                    "runs/darkjet/influence-kappa",
        checkpoints_example="1,3,5", batch_default=1024, batch_help="jets per forward pass",
        splits=("test", "val"), figures=5, seeds="1,2,3", n_train="4000",
        n_test="20 lsor; kappa: the first 1000 of test.h5", out_from=_default_out,
        store_from=lambda args: args.run / "influence" / "tracin")
    query, study = groups["query"], groups["study"]
    query.add_argument("--jets", type=int_list, default="0",
                       help="query: comma-separated jet numbers in --split")
    query.add_argument("--per-category", type=count, default=20,
                       help="categories: jets per TP / FP / FN / TN set")
    study.add_argument("--variant", default="gnn-1", choices=("gnn-0", "gnn-1", "gnn-2"),
                       help="graph pre-processing of the studies' jets (the default of "
                            "'hepxai train darkjet')")
    study.add_argument("--model", default="resgnn", choices=("resgnn", "gatv2"),
                       help="tagger retrained by the studies")
    study.add_argument("--preset", default="quick", choices=("quick", "fast"),
                       help="recipe and width of the retrained tagger")
    study.add_argument("--selection", choices=("similar", "random"), default="similar",
                       help="lsor: test jets nearest to a random anchor in the model's "
                            "last-layer features, or drawn at random")
    study.add_argument("--remove-top", type=count, default=500,
                       help="lsor: the union of each test jet's top-N proponents is removed "
                            "(a removal of a few percent of the pool is lost in the retraining "
                            "noise; see bench/sections/darkjet_influence.md)")
    study.add_argument("--fractions", type=_fractions, default=(0.1, 0.3),
                       help="kappa: pruned fractions of the pool, comma-separated")
    study.add_argument("--global-cut", action="store_true",
                       help="kappa: cut on the score over the whole pool (default: within each "
                            "class, keeping the class balance)")


# -- shared helpers ----------------------------------------------------------------------------
def _default_out(args: argparse.Namespace) -> Path:
    return {"lsor": Path("runs/darkjet/influence-lsor"),
            "kappa": Path("runs/darkjet/influence-kappa")}.get(args.step, args.run / "influence")


def _store_path(args: argparse.Namespace) -> Path:
    return args.store or args.run / "influence" / "tracin"


def _out_dir(args: argparse.Namespace) -> Path:
    return args.out or _default_out(args)


def _settings_of(path: str | Path):
    from hepxai.io.checkpoint import read_checkpoint
    from hepxai.usecases.darkjet.evaluation import graph_settings_of

    return graph_settings_of(read_checkpoint(path, use_case="darkjet"))


def _graphs(data: Path, split: str, settings, max_jets: int | None = None):
    from hepxai.usecases.darkjet.graphs import load_graphs
    from hepxai.usecases.darkjet.store import split_path

    path = split_path(data, split)
    if not path.is_file():
        raise HepxaiError(f"{path}: no such data file; simulate with 'hepxai simulate darkjet "
                          f"--out {data}'")
    return load_graphs(path, settings, max_jets=max_jets)


def _open(args: argparse.Namespace):
    """The precompute, its graph settings and training graphs."""
    from hepxai.explain.influence import TracInStore

    path = _store_path(args)
    if not (path / "manifest.json").is_file():
        raise HepxaiError(f"{path}: no TracIn precompute yet; run 'hepxai influence darkjet "
                          f"precompute --run {args.run}' first")
    store = TracInStore.open(path)
    settings = _settings_of(store.checkpoints[0].path)
    train = _graphs(args.data, "train", settings, max_jets=int(store.rows.max()) + 1)
    return store, settings, train


def _explained_model(args: argparse.Namespace, store, device: str):
    from hepxai.io.checkpoint import load_model
    from hepxai.usecases.darkjet.task import check_graph_checkpoint

    path = args.model_checkpoint
    if path is None:
        best = args.run / "best.pt"
        path = best if best.exists() else Path(store.checkpoints[-1].path)
    check_graph_checkpoint(path, _read(path))
    return load_model(path, device=device, use_case="darkjet"), path


def _read(path: Path) -> dict:
    from hepxai.io.checkpoint import read_checkpoint

    return read_checkpoint(path, use_case="darkjet")


# -- steps -------------------------------------------------------------------------------------
def _precompute(args: argparse.Namespace) -> None:
    from hepxai.explain.influence import TracInStore, file_identity, select_checkpoints
    from hepxai.usecases.darkjet.store import split_path
    from hepxai.usecases.darkjet.task import JetGradients, check_graph_checkpoint

    device = args.device  # checked by options.prepare
    checkpoints = select_checkpoints(args.run, args.checkpoints, args.n_checkpoints,
                                     use_case="darkjet")
    state = _read(checkpoints[0])
    check_graph_checkpoint(checkpoints[0], state)
    settings = _settings_of(checkpoints[0])
    n_train = (state.get("identity") or {}).get("n_train")
    train = _graphs(args.data, "train", settings, max_jets=n_train)
    if n_train is not None and len(train) != n_train:
        raise HepxaiError(f"{args.data}: train.h5 has {len(train):,} jets but the run trained "
                          f"on {n_train:,}; give the run's --data")
    source = JetGradients(train, identity=file_identity(split_path(args.data, "train")))
    store = TracInStore.build(checkpoints, source, _store_path(args),
                              batch_size=args.batch_size, device=device,
                              overwrite=args.overwrite)
    rates = ", ".join(f"{r:.3g}" for r in store.learning_rates)
    state = "reused (already complete)" if store.reused else "computed"
    print(f"graph TracIn (last layer): {store.n_train:,} training jets x "
          f"{len(store.checkpoints)} checkpoints (epochs "
          f"{', '.join(str(e) for e in store.epochs)}; learning rates {rates}); "
          f"{store.directory} [{state}]")
    for timing in store.manifest["timings"]:
        print(f"  epoch {timing['epoch']}: {timing['seconds']:.2f} s, "
              f"{timing['per_second']:,.0f} jets/s")


def _print_top(influence, i: int, label: str) -> None:
    for line in influence.describe_top(i, "jets"):
        print(line)


def _query(args: argparse.Namespace) -> None:
    import numpy as np

    from hepxai.usecases.darkjet.figures import plot_graph_proponents
    from hepxai.usecases.darkjet.influence import logits_of
    from hepxai.usecases.darkjet.judging import tagging_categories
    from hepxai.usecases.darkjet.task import JetGradients

    device = args.device  # checked by options.prepare
    store, settings, train = _open(args)
    test = _graphs(args.data, args.split, settings)
    jets = np.asarray(args.jets, np.int64)
    if jets.max() >= len(test):
        raise HepxaiError(f"--jets: {args.split}.h5 has jets 0..{len(test) - 1}")
    influence = store.influence(JetGradients(test), jets, k=args.top_k, device=device)
    model, model_path = _explained_model(args, store, device)
    logits = logits_of(model, test, jets, device)
    categories = tagging_categories(test.y[jets], logits)
    out = _out_dir(args)
    influence.params.update({"split": args.split, "explained_model": str(model_path)})
    path = influence.save(out / f"query_{args.split}.npz")
    probability = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    for i, row in enumerate(influence.test_ids):
        kind = "dark photon" if test.y[row] > 0.5 else "QCD"
        print(f"{args.split} #{row}: {kind}, p(dark photon) {probability[i]:.3f} "
              f"[{categories[i]}]")
        _print_top(influence, i, kind)
        if i < args.figures:
            figure = plot_graph_proponents(
                influence, i, train, test, out / f"proponents_{args.split}_{row}.png",
                title=f"{args.split} #{row} ({kind}, p = {probability[i]:.2f}, {categories[i]})")
            print(f"  figure: {figure}")
    print(f"written: {path}")


def _categories(args: argparse.Namespace) -> None:
    from hepxai.core.atomic import write_json_atomic
    from hepxai.usecases.darkjet.figures import plot_graph_proponents
    from hepxai.usecases.darkjet.influence import category_study, format_categories

    device = args.device  # checked by options.prepare
    store, settings, train = _open(args)
    test = _graphs(args.data, args.split, settings)
    model, model_path = _explained_model(args, store, device)
    result = category_study(store, model, test, train, per_category=args.per_category,
                            k=args.top_k, candidates=args.pool, seed=args.seed, device=device)
    out = _out_dir(args)
    summary = {**result["summary"], "explained_model": str(model_path), "split": args.split}
    for name, influence in result["influences"].items():
        influence.save(out / f"category_{name}.npz")
        plot_graph_proponents(influence, 0, train, test, out / f"category_{name}.png",
                              title=f"{name}: {args.split} #{influence.test_ids[0]}")
    # last: the JSON is the mark of a finished step (a resumed demo trusts it)
    write_json_atomic(out / "categories.json", summary)
    print(format_categories(summary))
    print(f"written: {out / 'categories.json'} and one figure per set in {out}")


def _study(args: argparse.Namespace, n_test: int):
    from dataclasses import replace

    from hepxai.usecases.darkjet.graphs import GraphSettings
    from hepxai.usecases.darkjet.influence_validation import Retrain, load_study_graphs

    settings = replace(GraphSettings(), variant=args.variant)
    study = load_study_graphs(args.data, settings, args.n_train or 4000, n_test)
    return study, Retrain(model=args.model, preset=args.preset, epochs=args.epochs or 3,
                          n_checkpoints=args.n_checkpoints)


def _lsor(args: argparse.Namespace) -> None:
    from hepxai.usecases.darkjet.figures import plot_study_bars
    from hepxai.usecases.darkjet.influence_validation import (
        GraphLSORConfig,
        format_lsor,
        lsor_graphs,
    )

    study, how = _study(args, 1000)
    config = GraphLSORConfig(n_test=args.n_test or 20, k=args.remove_top, seeds=tuple(args.seeds),
                             n_random=args.n_random, selection=args.selection, retrain=how)
    out = _out_dir(args)
    summary = lsor_graphs(study, out, config)
    print(format_lsor(summary))
    figure = plot_study_bars({"top proponents": (summary["proponents"]["delta_mean"],
                                                 summary["proponents"]["delta_se"]),
                              "random": (summary["random"]["delta_mean"],
                                         summary["random"]["delta_se"])},
                             "change of the test jets' BCE loss", out / "lsor.png")
    print(f"written: {out / 'lsor.json'}, {figure}")


def _kappa(args: argparse.Namespace) -> None:
    import numpy as np

    from hepxai.usecases.darkjet.figures import plot_study_bars
    from hepxai.usecases.darkjet.influence_validation import (
        KappaConfig,
        format_kappa,
        kappa_pruning,
    )

    study, how = _study(args, args.n_test or 1000)
    config = KappaConfig(fractions=args.fractions, seed=args.seed,
                         n_random=args.n_random, per_class=not args.global_cut, retrain=how)
    out = _out_dir(args)
    summary = kappa_pruning(study, out, config)
    print(format_kappa(summary))
    # error bars: the AUC's standard error on this test set (Hanley-McNeil); for random
    # removal also the spread between its draws
    bars = {f"{r['mode']} {r['kappa']:g}" if r["mode"] != "none" else "no pruning":
            (r["auc"], r.get("auc_se", 0.0)) for r in summary["rows"] if r["mode"] != "random"}
    for kappa in config.fractions:
        draws = [r for r in summary["rows"] if r["mode"] == "random" and r["kappa"] == kappa]
        aucs = [r["auc"] for r in draws]
        within = np.mean([r.get("auc_se", 0.0) ** 2 for r in draws])
        bars[f"random {kappa:g}"] = (float(np.mean(aucs)),
                                     float(np.sqrt(np.var(aucs) + within)))
    figure = plot_study_bars(bars, "test AUC", out / "kappa.png")
    print(f"written: {out / 'kappa.json'}, {figure}")


def _run(args: argparse.Namespace) -> None:
    handlers = {"precompute": _precompute, "query": _query, "categories": _categories,
                "lsor": _lsor, "kappa": _kappa}
    handlers[args.step](args)


def run_step(argv: list[str]) -> None:
    """Run one step as ``hepxai influence darkjet ARGV`` would, in this process (for other
    commands, e.g. ``hepxai demo darkjet``): the same options, defaults and handlers."""
    parser = argparse.ArgumentParser(prog="hepxai influence darkjet")
    _add(parser)
    _run(parser.parse_args([str(a) for a in argv]))


register("influence", "darkjet", "TracIn proponents/opponents of graph taggers, per-category "
         "study; validated by leave-some-out retraining and kappa pruning", _add, _run)
