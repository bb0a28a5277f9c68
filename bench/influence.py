"""Benchmark of TracIn: query time against the thesis' reference loop, scale to the paper's
850,003 training events, precompute throughput of both variants, and the validation studies
(LSOR ratio, linear datamodeling score).

    .venv/bin/python bench/influence.py [--work runs/bench-influence] [--skip-validation]

Uses the TracIn CNN of ``bench/models.py`` (``runs/bench-models/tracin-cnn``, 100,000 training
events) when it exists, else trains one. Writes bench/sections/influence.md and rebuilds
bench/BENCHMARKS.md. About 45 minutes on 2 cores, most of it the validation studies.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from run import publish_section  # noqa: E402

from hepxai.core.atomic import atomic_path, write_json_atomic  # noqa: E402
from hepxai.explain.influence import (  # noqa: E402
    TracInStore,
    run_checkpoints,
    select_checkpoints,
    tracin,
)
from hepxai.io.checkpoint import load_model  # noqa: E402
from hepxai.usecases.muon.influence import category_study  # noqa: E402
from hepxai.usecases.muon.influence_figures import plot_proponents, plot_self_influence  # noqa: E402
from hepxai.usecases.muon.loader import MuonDataset  # noqa: E402
from hepxai.usecases.muon.task import MuonGradients, training_events  # noqa: E402

SCALE_EVENTS = 850_003


def hepxai(*args: str) -> tuple[float, str]:
    """Run ``python -m hepxai ARGS``; its wall time [s] and stdout."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "hepxai", *args], check=True, cwd=ROOT,
                          capture_output=True, text=True,
                          env={**os.environ, "HEPXAI_PROGRESS": "0"})
    return time.perf_counter() - start, done.stdout


def reference_top_k(store: TracInStore, features: list, k: int) -> tuple[np.ndarray, ...]:
    """The thesis' published way (the TracIn paper's notebook): a Python loop over the training
    events computing, per checkpoint, one dot product of loss gradients and one of activations,
    then an argsort of the list of scores."""
    arrays = [(store._array(i, "g"), store._array(i, "h")) for i in range(len(features))]
    tests = [(g[0].numpy(), h[0].numpy()) for g, h in features]
    scores = []
    for j in range(store.n_train):
        score = 0.0
        for (g_train, h_train), (g_test, h_test) in zip(arrays, tests, strict=True):
            score += float(np.dot(g_train[j], g_test)) * (float(np.dot(h_train[j], h_test)) + 1.0)
        scores.append(score)
    order = np.argsort(scores)
    return store.rows[order[::-1][:k]], store.rows[order[:k]], np.asarray(scores)


def _median_time(function, repeats: int) -> tuple[float, float]:
    """(first call, median of the next ``repeats``) in seconds."""
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times[0], float(np.median(times[1:]))


# -- demo scale: the models benchmark's TracIn CNN, 100,000 events ------------------------------
def demo_run(work: Path) -> tuple[Path, Path]:
    models = ROOT / "runs" / "bench-models"
    run, data = models / "tracin-cnn", models / "data"
    if (run / "checkpoints").is_dir() and (data / "train.h5").is_file():
        return run, data
    data, run = work / "demo-data", work / "demo-run"
    if not (data / "train.h5").is_file():
        hepxai("simulate", "muon", "--out", str(data), "--n-train", "100000", "--n-val",
               "20000", "--n-noise", "20000", "--seed", "2")
    if not (run / "best.pt").is_file():
        hepxai("train", "muon", "--model", "tracin-cnn", "--preset", "fast", "--data", str(data),
               "--out", str(run), "--resume")
    return run, data


def bench_demo(run: Path, data: Path, work: Path) -> dict:
    out: dict = {"run": str(run.relative_to(ROOT) if run.is_relative_to(ROOT) else run)}
    checkpoints = select_checkpoints(run)
    store = TracInStore.build(checkpoints, training_events(data / "train.h5", checkpoints),
                              work / "demo-last-layer")
    # from the manifest: the precompute's own timing, also when this run reuses the store
    out["timings"] = store.manifest["timings"]
    out["precompute_seconds"] = sum(t["seconds"] for t in out["timings"])
    out["n_train"], out["epochs"], out["bytes"] = store.n_train, store.epochs, store.nbytes
    val = MuonDataset(data / "val.h5")
    noise = MuonDataset(data / "noise.h5")
    test = MuonGradients(val)

    positions = iter(range(10, 10_000))
    out["query_first"], out["query_median"] = _median_time(
        lambda: store.influence(test, [next(positions)], k=10), 5)
    start = time.perf_counter()
    batch = store.influence(test, np.arange(1000), k=10)
    out["batch_1000"] = time.perf_counter() - start

    # same inputs for both: one test event's precomputed features
    x, y = val.__getitems__([7])
    features = store.query_features(test, x, y)
    _, ours = _median_time(lambda: store._scan(features, 10, False), 5)
    start = time.perf_counter()
    ref_prop, ref_opp, ref_scores = reference_top_k(store, features, 10)
    reference = time.perf_counter() - start
    _, top = store._scan(features, 10, False)
    out["reference_seconds"], out["scan_seconds"] = reference, ours
    out["reference_equal"] = bool(
        np.allclose(np.sort(top.proponent_scores[0]), np.sort(ref_scores)[-10:], rtol=1e-5)
        and np.array_equal(np.sort(top.proponent_ids[0]), np.sort(ref_prop))
        and np.array_equal(np.sort(top.opponent_ids[0]), np.sort(ref_opp)))

    start = time.perf_counter()
    plot_proponents(batch, 0, data / "train.h5", data / "val.h5", work / "demo_proponents.png")
    out["figure_seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    values = store.self_influence()
    out["self_influence_seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    plot_self_influence(values, store.rows, data / "train.h5", work / "demo_self_influence.png")
    out["self_figure_seconds"] = time.perf_counter() - start
    model = load_model(run / "best.pt", use_case="muon")
    start = time.perf_counter()
    study = category_study(store, model, val, noise, per_category=20, k=10, candidates=5000)
    out["categories_seconds"] = time.perf_counter() - start
    out["categories"] = study.summary

    rows = np.arange(2000)
    start = time.perf_counter()
    sample = training_events(data / "train.h5", rows=rows)
    full = TracInStore.build(checkpoints, sample, work / "demo-full", variant="full")
    out["full_timings"] = full.manifest["timings"]
    out["full_n_parameters"] = full.manifest["n_parameters"]
    out["full_dim"] = full.projection_dim
    out["full_query_first"], out["full_query_median"] = _median_time(
        lambda: full.influence(test, [3], k=10), 3)
    # the two variants on the same 2,000 events: how similar are their rankings?
    sub = TracInStore.build(checkpoints, sample, work / "demo-last-layer-2000")
    a, b = sub.scores(test, np.arange(50)), full.scores(test, np.arange(50))
    out["variants_pearson"] = float(np.mean([np.corrcoef(p, q)[0, 1] for p, q in zip(a, b,
                                                                                      strict=True)]))
    return out


# -- scale: 850,003 training events, 3 checkpoints ---------------------------------------------
def synthetic_store(small: TracInStore, train_file: Path, out: Path, n: int,
                    seed: int = 0) -> Path:
    """A last-layer store of ``n`` training events whose per-checkpoint ``g``, ``h`` rows are
    drawn (with replacement) from the real precompute ``small``: realistic values, the
    manifest of a real store over ``rows = 0..n-1`` of ``train_file`` (so it is verified like
    any other). Stands in for a precompute that would take hours on 2 cores."""
    if (out / "manifest.json").is_file():
        manifest = json.loads((out / "manifest.json").read_text())
        if manifest.get("complete") and manifest["config"]["train"]["n_rows"] == n:
            return out
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    rows = np.arange(n)
    with atomic_path(out / "rows.npy") as tmp, open(tmp, "wb") as handle:
        np.save(handle, rows)
    chunk = 65_536
    for i in range(len(small.checkpoints)):
        names = tracin._array_names("last-layer", i)
        g_small, h_small = small._array(i, "g"), small._array(i, "h")
        for key, source in (("g", g_small), ("h", h_small)):
            with atomic_path(out / names[key]) as tmp:
                array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32,
                                                  shape=(n, source.shape[1]))
                for start in range(0, n, chunk):
                    stop = min(n, start + chunk)
                    array[start:stop] = source[rng.integers(0, small.n_train, stop - start)]
                array.flush()
                del array
    manifest = {**small.manifest, "synthetic": "rows resampled from a real precompute of "
                                               f"{small.n_train} events"}
    manifest["config"] = {**small.manifest["config"], "train": tracin.training_identity(
        MuonGradients(MuonDataset(train_file, rows=rows)))}
    write_json_atomic(out / "manifest.json", manifest)
    return out


def child_query(store_dir: str, val_file: str) -> None:
    """In a fresh process: open the store, time queries of 1 and 1,000 events, peak memory."""
    torch.set_num_threads(2)
    start = time.perf_counter()
    store = TracInStore.open(store_dir)
    opened = time.perf_counter() - start
    val = MuonGradients(MuonDataset(val_file))
    positions = iter(range(100, 10_000))
    first, median = _median_time(lambda: store.influence(val, [next(positions)], k=10), 5)
    start = time.perf_counter()
    store.influence(val, np.arange(1000), k=10)
    batch = time.perf_counter() - start
    print(json.dumps({"open_seconds": opened, "query_first": first, "query_median": median,
                      "batch_1000": batch, "bytes": store.nbytes, "n_train": store.n_train,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def bench_scale(work: Path) -> dict:
    data, run = work / "scale-data", work / "scale-run"
    if not (data / "train.h5").is_file():
        hepxai("simulate", "muon", "--out", str(data), "--n-train", str(SCALE_EVENTS),
               "--n-val", "20000", "--n-noise", "20000", "--seed", "4")
    if not (run / "best.pt").is_file() or len(run_checkpoints(run)) < 3:
        hepxai("train", "muon", "--model", "tracin-cnn", "--preset", "fast", "--data",
               str(data), "--out", str(run), "--epochs", "3", "--max-events", "5000",
               "--val-events", "2000", "--resume")
    small = TracInStore.build(select_checkpoints(run),
                              training_events(data / "train.h5", rows=np.arange(5000)),
                              work / "scale-small")
    store_dir = synthetic_store(small, data / "train.h5", work / "scale-store", SCALE_EVENTS)
    done = subprocess.run([sys.executable, __file__, "--child-query", str(store_dir),
                           str(data / "val.h5")], check=True, capture_output=True, text=True,
                          env={**os.environ, "HEPXAI_PROGRESS": "0"})
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "data": str(data)}


# -- validation ---------------------------------------------------------------------------------
def bench_validation(data: Path, work: Path) -> dict:
    out = {}
    for step, extra in (("lsor", []), ("datamodels", [])):
        target = work / step
        args = ["influence", "muon", step, "--data", str(data), "--out", str(target), *extra]
        seconds, text = hepxai(*args)
        name = "lsor.json" if step == "lsor" else "datamodels.json"
        out[step] = {"seconds": seconds, "command": "hepxai " + " ".join(args),
                     "summary": json.loads((target / name).read_text()), "text": text.strip()}
    return out


def _fmt(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def write_section(demo: dict, scale: dict, validation: dict | None, command: str,
                  load: tuple[float, float]) -> str:
    per_ckpt = [t["per_second"] for t in demo["timings"]]
    full = [t["per_second"] for t in demo["full_timings"]]
    ratio = demo["reference_seconds"] / demo["scan_seconds"]
    lines = [
        "## Data influence (TracIn)", "",
        f"Made by `{command}` on {platform.node() or 'this machine'}: {os.cpu_count()} cores "
        f"shared with other jobs (load average {load[0]:.1f} at the start, {load[1]:.1f} at the "
        f"end), torch {torch.__version__}, 2 intra-op threads.", "",
        f"**Demo scale**: the TracIn CNN of the models benchmark (`{demo['run']}`, fast preset, "
        f"{demo['n_train']:,} training events, checkpoints of epochs "
        f"{', '.join(map(str, demo['epochs']))}).", "",
        "| step | time |", "| --- | ---: |",
    ]
    lines.append(f"| last-layer precompute, {demo['n_train']:,} events x "
                 f"{len(demo['epochs'])} checkpoints | {demo['precompute_seconds']:.0f} s "
                 f"({np.mean(per_ckpt):,.0f} events/s per checkpoint) |")
    lines += [
        f"| query: top-10 proponents + opponents of 1 event (first / median of 5) | "
        f"{_fmt(demo['query_first'])} / {_fmt(demo['query_median'])} |",
        f"| query: 1,000 events | {_fmt(demo['batch_1000'])} |",
        f"| proponent/opponent figure (`plot_proponents`) | {_fmt(demo['figure_seconds'])} |",
        f"| self-influence of every training event | {_fmt(demo['self_influence_seconds'])} |",
        f"| self-influence figure (`plot_self_influence`) | "
        f"{_fmt(demo['self_figure_seconds'])} |",
        f"| TP/FP/FN/TN/only-noise study, 20 events each, from 5,000 candidates | "
        f"{_fmt(demo['categories_seconds'])} |",
        f"| full-variant query of 1 event (2,000 events stored; first / median of 3) | "
        f"{_fmt(demo['full_query_first'])} / {_fmt(demo['full_query_median'])} |",
        f"| last-layer store on disk | {demo['bytes'] / 1e6:.1f} MB |", "",
        f"**Against the reference algorithm** (the thesis' published code, from the TracIn "
        f"paper's notebook: a Python loop over the {demo['n_train']:,} training events, per "
        "checkpoint one dot product of loss gradients and one of activations, then an argsort), "
        "same precomputed inputs, same process: "
        f"{_fmt(demo['reference_seconds'])} vs {_fmt(demo['scan_seconds'])} for the chunked "
        f"matrix product with a running top-k: **x{ratio:,.0f}** (target >= 100); same top-10 "
        f"proponents and opponents: {demo['reference_equal']}.", "",
        f"**Paper scale**: {scale['n_train']:,} training events x 3 checkpoints, last-layer. "
        "The store's g and h rows are drawn from a real precompute of 5,000 events of a 3-epoch "
        "TracIn CNN (a real precompute of 850,003 events x 3 checkpoints would take "
        f"~{3 * scale['n_train'] / np.mean(per_ckpt) / 3600:.1f} h at the throughput above); the "
        "manifest and checks are those of a real store over the simulated 850,003-event "
        "`train.h5`. Timed in a fresh process:", "",
        "| measure | value | target |", "| --- | ---: | ---: |",
        f"| top-10 proponents + opponents of 1 event (first / median of 5) | "
        f"{_fmt(scale['query_first'])} / {_fmt(scale['query_median'])} | <= 1 s |",
        f"| top-10 of a batch of 1,000 events | {_fmt(scale['batch_1000'])} | <= 30 s |",
        f"| store on disk (g: 2, h: 64 float32 per event and checkpoint) | "
        f"{scale['bytes'] / 1e9:.2f} GB | <= 2 GB |",
        f"| peak memory of the querying process (maps the store) | "
        f"{scale['peak_rss_mib']:,.0f} MiB | |",
        f"| opening and verifying the store (SHA-256 of checkpoints, training file identity) | "
        f"{_fmt(scale['open_seconds'])} | |", "",
        "**Precompute throughput** (fast TracIn CNN, "
        f"{demo['full_n_parameters']:,} parameters; events/s per checkpoint):", "",
        "| variant | events/s | what is stored per event and checkpoint |",
        "| --- | ---: | --- |",
        f"| last-layer | {np.mean(per_ckpt):,.0f} | g (2) and h (64) float32: 264 bytes |",
        f"| full, projected to {demo['full_dim']:,} | {np.mean(full):,.0f} | "
        f"{demo['full_dim']:,} float32 + the exact squared norm |", "",
        f"On the same 2,000 events the two variants' scores of a test event correlate at "
        f"Pearson {demo['variants_pearson']:.2f} (mean over 50 test events).", "",
    ]
    if validation is not None:
        ls, dm = validation["lsor"], validation["datamodels"]
        s = ls["summary"]
        lines += ["**LSOR** (leave-some-out retraining):", "", "```", f"$ {ls['command']}",
                  ls["text"], "```", "",
                  f"{s['config']['n_train']:,}-event pool of the tiny TracIn CNN; per seed a "
                  f"group of {s['config']['n_test']} similar validation muons (the nearest to a "
                  "random anchor in pT and |eta|); removing the "
                  f"{s['config']['k']} top proponents of the group (TracIn summed over it) vs "
                  f"{s['config']['k']} random events ({s['config']['n_random']} draws), "
                  f"retrained from the same seed, {len(s['config']['seeds'])} seeds; wall time "
                  f"{ls['seconds'] / 60:.1f} min.",
                  "", "| removal | change of the group's loss (mean +- s.e. over seeds) | "
                  "ratio to random | difference to random (paired) | test events worse |",
                  "| --- | ---: | ---: | ---: | ---: |",
                  f"| random | {s['random']['delta_mean']:+.4f} +- {s['random']['delta_se']:.4f} "
                  f"| 1 | 0 | {s['random']['share_of_test_events_worse']:.0%} |"]
        for variant, v in s["variants"].items():
            lines.append(f"| {variant} proponents | {v['delta_mean']:+.4f} +- "
                         f"{v['delta_se']:.4f} | {v['ratio']:.2f} +- {v['ratio_se']:.2f} | "
                         f"{v['difference_mean']:+.4f} +- {v['difference_se']:.4f} | "
                         f"{v['share_of_test_events_worse']:.0%} |")
        d = dm["summary"]
        lines += ["", "**Datamodels** and the linear datamodeling score:", "", "```",
                  f"$ {dm['command']}", dm["text"], "```", "",
                  f"{d['config']['n_models']} models on random halves ({d['subset_size']} "
                  f"events) of a {d['config']['n_train']:,}-event pool, output = the test "
                  f"event's loss; Lasso fitted on "
                  f"{d['config']['n_models'] - d['config']['n_heldout']} "
                  f"subsets, LDS over {d['config']['n_heldout']} held-out ones; wall time "
                  f"{dm['seconds'] / 60:.1f} min.", "",
                  "| predictor | LDS (mean +- s.e. over test events) |", "| --- | ---: |"]
        for name, v in d["lds"].items():
            label = "Lasso datamodel (reference)" if name == "datamodel" else f"TracIn {name}"
            lines.append(f"| {label} | {v['mean']:+.3f} +- {v['se']:.3f} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench-influence")
    parser.add_argument("--skip-validation", action="store_true",
                        help="timings only (the LSOR and datamodels studies take ~25 min)")
    parser.add_argument("--child-query", nargs=2, metavar=("STORE", "VAL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_query:
        child_query(*args.child_query)
        return
    torch.set_num_threads(2)
    load_start = os.getloadavg()[1]
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    run, data = demo_run(work)
    demo = bench_demo(run, data, work)
    scale = bench_scale(work)
    validation = None if args.skip_validation else bench_validation(Path(scale["data"]), work)
    write_json_atomic(work / "results.json", {"demo": demo, "scale": scale,
                                              "validation": validation})
    command = ".venv/bin/python bench/influence.py" + (" --skip-validation"
                                                       if args.skip_validation else "")
    text = write_section(demo, scale, validation, command, (load_start, os.getloadavg()[1]))
    publish_section("influence", text)
    print(text)


if __name__ == "__main__":
    main()
