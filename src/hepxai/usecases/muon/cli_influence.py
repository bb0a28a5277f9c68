"""``hepxai influence muon STEP``: TracIn data influence and its validation by retraining.

Steps: ``precompute`` (once per run and variant), then ``query``, ``self-influence`` and
``categories`` read the stored precompute; ``lsor`` and ``datamodels`` retrain small models to
check TracIn.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hepxai.cli import options
from hepxai.cli.app import register
from hepxai.cli.arguments import count, int_list, seed, whole_number
from hepxai.core.errors import HepxaiError

STEPS = {
    "precompute": "training-set gradients of the run's checkpoints, stored once",
    "query": "top-k proponents and opponents of chosen test events, with figures",
    "self-influence": "self-influence of every training event, most atypical events",
    "categories": "TracIn per TP / FP / FN / TN and only-noise set, with summaries",
    "lsor": "leave-some-out retraining: remove proponents vs random events",
    "datamodels": "datamodels on random subsets; linear datamodeling score of TracIn",
    "projection-stability": "full variant precomputed with each --projection-seeds: agreement "
                            "between seeds and the projection dimension needed for 0.9",
}


def _alpha(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected 0 < alpha < 1, got {value}")
    return value


def _variants(text: str) -> tuple[str, ...]:
    from hepxai.explain.influence.constants import VARIANTS

    values = tuple(v.strip() for v in text.split(",") if v.strip())
    bad = [v for v in values if v not in VARIANTS]
    if bad or not values:
        raise argparse.ArgumentTypeError(f"unknown variant(s) {', '.join(bad) or text!r}; "
                                         f"choose from {', '.join(VARIANTS)}")
    return values


def _add(parser: argparse.ArgumentParser) -> None:
    from hepxai.explain.influence.constants import DEFAULT_PROJECTION_DIM, VARIANTS

    groups = options.tracin(
        parser, steps=STEPS, use_case="muon", unit="events", reads="train.h5, val.h5, noise.h5",
        run_default="runs/muon/tracin-cnn-fast", store_default="RUN/influence/VARIANT",
        out_default="RUN/influence; lsor and datamodels: runs/muon/influence-lsor, "
                    "runs/muon/influence-datamodels",
        checkpoints_example="5,15,25", batch_default=None,
        batch_help="events per pass (default 1024 last-layer, 64 full)",
        splits=("val", "noise"), figures=10, seeds="1,2,3,4",
        n_train="2000 lsor, 1000 datamodels", n_test="50 lsor, 40 datamodels",
        out_from=_default_out, store_from=_default_store)
    run, pre, query, study = (groups[k] for k in ("run", "precompute", "query", "study"))
    run.add_argument("--variant", choices=VARIANTS, default="last-layer",
                     help="last-layer: exact for the final linear layer; full: all "
                          "parameters, randomly projected")
    pre.add_argument("--projection-dim", type=whole_number, default=DEFAULT_PROJECTION_DIM,
                     help="full variant: random-projection dimension (0: exact gradients, "
                          "n_train x n_parameters floats)")
    pre.add_argument("--projection-seed", type=seed, default=0, help="projection seed")
    pre.add_argument("--projection-seeds", type=int_list, default="0,1,2,3",
                     help="projection-stability: the seeds compared (stores in "
                          "STORE/full-dDIM-seedS, default STORE = RUN/influence), on the first "
                          "--n-test events of --split (default 20)")
    pre.add_argument("--conventions", default="hepxai", choices=("hepxai", "thesis"),
                     help="'thesis': score as the thesis' code (output gradient labels - "
                          "predictions, no bias term, no step sizes); queries take the store's")
    pre.add_argument("--max-train", type=count, default=None,
                     help="use the first N training events (default: the run's training set, "
                          "the first n_train events of train.h5)")
    query.add_argument("--events", type=int_list, default="0",
                       help="query: comma-separated event numbers in --split")
    query.add_argument("--events-per-category", type=count, default=20,
                       help="categories: events per TP / FP / FN / TN / only-noise set")
    query.add_argument("--top", type=count, default=10,
                       help="self-influence: most self-influential events listed and drawn")
    study.add_argument("--model", default="tracin-cnn-tiny",
                       help="model retrained by the studies")
    study.add_argument("--variants", type=_variants, default=VARIANTS,
                       help="TracIn variants validated, comma-separated")
    study.add_argument("--remove", type=count, default=200,
                       help="lsor: training events removed (top proponents or random)")
    study.add_argument("--test-selection", choices=("similar", "random"), default="similar",
                       help="lsor: test events per seed: the n-test muons nearest to a random "
                            "anchor in (pT, |eta|), or drawn at random")
    study.add_argument("--alpha", type=_alpha, default=0.5,
                       help="datamodels: subset fraction of the pool")
    study.add_argument("--models", type=count, default=100,
                       help="datamodels: models trained on random subsets")
    study.add_argument("--heldout", type=count, default=30,
                       help="datamodels: subsets held out to compute the LDS")
    study.add_argument("--workers", type=count, default=None,
                       help="parallel training processes (default: all cores, max 8)")


def _default_store(args: argparse.Namespace) -> Path | None:
    """The store a step reads or fills: RUN/influence/VARIANT (projection-stability makes its
    own stores, one per projection seed, under RUN/influence)."""
    return None if args.step == "projection-stability" else \
        args.run / "influence" / args.variant


def _default_out(args: argparse.Namespace) -> Path:
    return {"lsor": Path("runs/muon/influence-lsor"),
            "datamodels": Path("runs/muon/influence-datamodels")}.get(args.step,
                                                                       args.run / "influence")


def _store_dir(args: argparse.Namespace) -> Path:
    return args.store or _default_store(args)


def _out_dir(args: argparse.Namespace) -> Path:
    return args.out or _default_out(args)


def _open_store(args: argparse.Namespace):
    from hepxai.explain.influence import TracInStore

    directory = _store_dir(args)
    if not (directory / "manifest.json").exists():
        raise HepxaiError(f"{directory}: no TracIn precompute yet; run 'hepxai influence muon "
                          f"precompute --run {args.run} --variant {args.variant}' first")
    return TracInStore.open(directory)


def _explained_model(args: argparse.Namespace, store, device: str):
    from hepxai.io.checkpoint import load_model

    path = args.model_checkpoint
    if path is None:
        best = args.run / "best.pt"
        path = best if best.exists() else Path(store.checkpoints[-1].path)
    return load_model(path, device=device, use_case="muon"), path


def _precompute(args: argparse.Namespace) -> None:
    import numpy as np

    from hepxai.explain.influence import TracInStore, select_checkpoints
    from hepxai.usecases.muon.store import split_path
    from hepxai.usecases.muon.task import training_events

    device = args.device  # checked by options.prepare
    checkpoints = select_checkpoints(args.run, args.checkpoints, args.n_checkpoints)
    rows = np.arange(args.max_train) if args.max_train is not None else None
    train = training_events(split_path(args.data, "train"), checkpoints, rows,
                            conventions=args.conventions)
    store = TracInStore.build(checkpoints, train, _store_dir(args), variant=args.variant,
                              projection_dim=args.projection_dim,
                              projection_seed=args.projection_seed, batch_size=args.batch_size,
                              device=device, overwrite=args.overwrite)
    epochs = ", ".join(str(e) for e in store.epochs)
    rates = ", ".join(f"{r:.3g}" for r in store.learning_rates)
    state = "reused (already complete)" if store.reused else "computed"
    print(f"TracIn {store.variant}: {store.n_train:,} training events x {len(store.epochs)} "
          f"checkpoints (epochs {epochs}; learning rates {rates}), {store.nbytes / 1e6:.1f} MB "
          f"in {store.directory} [{state}]")
    for timing in store.manifest["timings"]:
        print(f"  epoch {timing['epoch']}: {timing['seconds']:.1f} s, "
              f"{timing['per_second']:,.0f} events/s")


def _query(args: argparse.Namespace) -> None:
    import numpy as np

    from hepxai.usecases.muon.categories import trigger_categories
    from hepxai.usecases.muon.influence import predict_events
    from hepxai.usecases.muon.influence_figures import plot_proponents
    from hepxai.usecases.muon.loader import MuonDataset
    from hepxai.usecases.muon.store import split_path
    from hepxai.usecases.muon.task import gradients_like

    device = args.device  # checked by options.prepare
    store = _open_store(args)
    test = MuonDataset(split_path(args.data, args.split))
    positions = np.asarray(args.events, dtype=np.int64)
    influence = store.influence(gradients_like(store, test), positions, k=args.top_k,
                                device=device)
    model, model_path = _explained_model(args, store, device)
    predicted = predict_events(model, test, positions, device=device)
    truth = test.targets.numpy()[positions]
    categories = trigger_categories(truth[:, 0], predicted[:, 0]) if args.split == "val" \
        else np.array(["only-noise"] * positions.size)
    out = _out_dir(args)
    influence.params.update({"split": args.split, "explained_model": str(model_path)})
    path = influence.save(out / f"query_{args.split}_{store.variant}.npz")
    for i, row in enumerate(influence.test_ids):
        print(f"{args.split} #{row}: pT {truth[i, 0]:.1f} GeV |eta| {truth[i, 1]:.2f}; predicted "
              f"{predicted[i, 0]:.1f} GeV {predicted[i, 1]:.2f} [{categories[i]}]")
        for line in influence.describe_top(i, "events"):
            print(line)
        if i < args.figures:
            figure = plot_proponents(influence, i, store.train["path"], test.file,
                                     out / f"proponents_{args.split}_{row}_{store.variant}.png",
                                     prediction=predicted[i], category=str(categories[i]))
            print(f"  figure: {figure}")
    print(f"written: {path}")


def _self_influence(args: argparse.Namespace) -> None:
    import numpy as np

    from hepxai.core.atomic import atomic_path, write_json_atomic
    from hepxai.usecases.muon.influence import self_influence_summary
    from hepxai.usecases.muon.influence_figures import plot_self_influence

    store = _open_store(args)
    values = store.self_influence()
    summary = self_influence_summary(store, values, top=args.top)
    out = _out_dir(args)
    with atomic_path(out / f"self_influence_{store.variant}.npz") as tmp, \
            open(tmp, "wb") as handle:
        np.savez(handle, rows=store.rows, self_influence=values)
    figure = plot_self_influence(values, store.rows, store.train["path"],
                                 out / f"self_influence_{store.variant}.png", top=args.top,
                                 method=store.method)
    # last: the JSON is the mark of a finished step (a resumed demo trusts it)
    write_json_atomic(out / f"self_influence_{store.variant}.json", summary)
    print(f"self-influence ({store.method}) of {values.size:,} training events: median "
          f"{summary['quantiles']['0.5']:.3g}, 99% {summary['quantiles']['0.99']:.3g}, max "
          f"{summary['quantiles']['1']:.3g}")
    for entry in summary["top"]:
        extra = f" noise {entry['n_noise']}" if "n_noise" in entry else ""
        extra += " silent station" if entry.get("silent_station") else ""
        print(f"  #{entry['row']}: {entry['self_influence']:.3g}  pT {entry['pt']:.1f} GeV "
              f"|eta| {entry['eta']:.2f} hits {entry['nhits']}{extra}")
    print("Spearman with " + ", ".join(f"{k} {v:+.2f}" for k, v in summary["spearman"].items()))
    print(f"written: {out / f'self_influence_{store.variant}.json'}, {figure}")


def _categories(args: argparse.Namespace) -> None:
    from hepxai.core.atomic import write_json_atomic
    from hepxai.usecases.muon.influence import category_study, format_categories
    from hepxai.usecases.muon.influence_figures import plot_proponents
    from hepxai.usecases.muon.loader import MuonDataset
    from hepxai.usecases.muon.store import split_path

    device = args.device  # checked by options.prepare
    store = _open_store(args)
    model, model_path = _explained_model(args, store, device)
    noise_path = split_path(args.data, "noise")
    noise = MuonDataset(noise_path) if noise_path.exists() else None
    val = MuonDataset(split_path(args.data, "val"))
    study = category_study(store, model, val, noise, per_category=args.events_per_category,
                           k=args.top_k, candidates=args.pool, seed=args.seed, device=device)
    out = _out_dir(args)
    study.summary["explained_model"] = str(model_path)
    for name, influence in study.influences.items():
        influence.save(out / f"category_{name}_{store.variant}.npz")
        test_file = noise.file if name == "only-noise" and noise is not None else val.file
        plot_proponents(influence, 0, store.train["path"], test_file,
                        out / f"category_{name}_{store.variant}.png",
                        prediction=study.predictions[name][0], category=name)
    # last: the JSON is the mark of a finished step (a resumed demo trusts it)
    write_json_atomic(out / f"categories_{store.variant}.json", study.summary)
    print(format_categories(study.summary))
    print(f"written: {out / f'categories_{store.variant}.json'} and one figure per set in {out}")


def _lsor(args: argparse.Namespace) -> None:
    from hepxai.usecases.muon.influence_validation import (
        LSORConfig,
        default_workers,
        format_lsor,
        lsor,
    )

    config = LSORConfig(n_train=args.n_train or 2000, n_test=args.n_test or 50,
                        k=args.remove, seeds=tuple(args.seeds), n_random=args.n_random,
                        variants=args.variants, model=args.model, epochs=args.epochs,
                        projection_dim=args.projection_dim, selection=args.test_selection,
                        workers=args.workers or default_workers())
    out = _out_dir(args)
    summary = lsor(args.data, out, config)
    print(format_lsor(summary))
    print(f"written: {out / 'lsor.json'}")


def _datamodels(args: argparse.Namespace) -> None:
    from hepxai.usecases.muon.influence_validation import (
        DatamodelConfig,
        datamodels,
        default_workers,
        format_datamodels,
    )

    config = DatamodelConfig(n_train=args.n_train or 1000, alpha=args.alpha,
                             n_models=args.models, n_heldout=args.heldout,
                             n_test=args.n_test or 40, variants=args.variants, model=args.model,
                             epochs=args.epochs, projection_dim=args.projection_dim,
                             workers=args.workers or default_workers())
    out = _out_dir(args)
    summary = datamodels(args.data, out, config)
    print(format_datamodels(summary))
    print(f"written: {out / 'datamodels.json'}")


def _projection_stability(args: argparse.Namespace) -> None:
    import numpy as np

    from hepxai.core.atomic import write_json_atomic
    from hepxai.explain.influence import TracInStore, select_checkpoints
    from hepxai.explain.influence.validation import projection_stability
    from hepxai.usecases.muon.loader import MuonDataset
    from hepxai.usecases.muon.store import split_path
    from hepxai.usecases.muon.task import gradients_like, training_events

    seeds = list(dict.fromkeys(args.projection_seeds))
    if any(not 0 <= s < 2**63 for s in seeds):
        raise HepxaiError(f"--projection-seeds {args.projection_seeds}: seeds are in "
                          "0 <= seed < 2**63")
    if len(seeds) < 2:
        raise HepxaiError(f"--projection-seeds {args.projection_seeds}: compare at least two "
                          "seeds")
    if args.projection_dim == 0:
        raise HepxaiError("--projection-dim 0 keeps exact gradients, which have no seed; give "
                          "the dimension whose stability to measure")
    device = args.device  # checked by options.prepare
    checkpoints = select_checkpoints(args.run, args.checkpoints, args.n_checkpoints)
    rows = np.arange(args.max_train) if args.max_train is not None else None
    train = training_events(split_path(args.data, "train"), checkpoints, rows)
    base = args.store or args.run / "influence"
    stores = [TracInStore.build(checkpoints, train, base / f"full-d{args.projection_dim}-seed{s}",
                                variant="full", projection_dim=args.projection_dim,
                                projection_seed=s, batch_size=args.batch_size, device=device,
                                overwrite=args.overwrite) for s in seeds]
    test = MuonDataset(split_path(args.data, args.split))
    positions = np.arange(min(args.n_test or 20, len(test)))
    found = projection_stability(stores, gradients_like(stores[0], test), positions,
                                 device=device)
    found.update({"split": args.split, "test_positions": positions.tolist(),
                  "stores": [str(store.directory) for store in stores]})
    out = _out_dir(args)
    write_json_atomic(out / "projection_stability.json", found)
    from hepxai.report.format import number, with_interval

    print(f"projected TracIn, dimension {found['projection_dim']}, seeds {seeds}, "
          f"{positions.size} {args.split} events x {stores[0].n_train:,} training events: "
          f"two seeds agree at {with_interval(found['pairwise'], found['pairwise_interval'], 2)}"
          f" (Spearman of the scores); dimension for {found['required']} (Spearman-Brown): "
          f"{found['dims_needed'] if found['dims_needed'] is not None else 'not reached'}")
    for row in found["split_half"]:
        print(f"  mean of {row['seeds']} seed(s) vs {row['seeds']} other(s): "
              f"{number(row['agreement'], 2)} (Spearman-Brown {number(row['predicted'], 2)})")
    print(f"written: {out / 'projection_stability.json'}")


def _run(args: argparse.Namespace) -> None:
    handlers = {"precompute": _precompute, "query": _query, "self-influence": _self_influence,
                "categories": _categories, "lsor": _lsor, "datamodels": _datamodels,
                "projection-stability": _projection_stability}
    handlers[args.step](args)


register("influence", "muon", "TracIn proponents/opponents, self-influence, per-category "
         "study; validated by leave-some-out retraining and datamodels", _add, _run)
