"""Benchmark of the muon models: train every fast model, evaluate against the baselines.

Run with ``make bench-models`` (``.venv/bin/python bench/models.py``); writes
``bench/sections/models.md`` and rebuilds ``bench/BENCHMARKS.md``. Takes about 35 minutes on
2 cores: each fast model trains on 100,000 simulated events (the issue's budget: 10 minutes a
model), then all are evaluated on a 94,445-event validation set and 100,000 only-noise events.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from hepxai.io.checkpoint import run_checkpoints
from hepxai.usecases.muon.models import create

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def hepxai(*args: str) -> float:
    """Run ``python -m hepxai ARGS`` in a child process; return its wall time [s]."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "hepxai", *args], check=True, cwd=ROOT,
                   env={**os.environ, "HEPXAI_PROGRESS": "0"})
    return time.perf_counter() - start


def train_once(name: str, data: Path, out: Path, *extra: str) -> dict:
    """Train unless ``out`` already holds the finished run (so the benchmark can resume)."""
    history_path, timing = out / "history.json", out / "bench_wall_seconds.json"
    if (out / "best.pt").exists() and history_path.exists():
        history = json.loads(history_path.read_text())["history"]
        seconds = json.loads(timing.read_text())["seconds"] if timing.exists() else None
        return {"seconds": seconds, "epochs": len(history)}
    seconds = hepxai("train", "muon", "--model", name, "--preset", "fast", "--data", str(data),
                     "--out", str(out), *extra)
    timing.write_text(json.dumps({"seconds": seconds}))
    history = json.loads(history_path.read_text())["history"]
    return {"seconds": seconds, "epochs": len(history)}


def _training_step_timer(model: torch.nn.Module, batch_size: int):
    """A closure timing ``steps`` training steps (forward, backward, Adam) of ``model``."""
    model.train()
    channels_last = getattr(model, "recipe", None) is not None and model.recipe.channels_last
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    x = (torch.rand(batch_size, 1, 9, 384, generator=generator) < 20 / 3456).float()
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randn(batch_size, 2)

    def run(steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            loss = (model.forward_encoded(x) - y).abs().mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return batch_size * steps / (time.perf_counter() - start)

    run(2)  # warm-up: first-call allocations and oneDNN primitive creation
    return run


def training_rate(name: str, preset: str, batch_size: int, steps: int = 6,
                  rounds: int = 5) -> float:
    """Training events/s of one preset at its batch size: median of ``rounds`` timings."""
    run = _training_step_timer(create(name, preset), batch_size)
    return statistics.median(run(steps) for _ in range(rounds))


def thesis_layer_order(model: torch.nn.Module) -> torch.nn.Module:
    """Reference: the same model with every ``MaxPool -> ReLU`` pair back in the thesis' order
    ``ReLU -> MaxPool`` (same parameters, same function, the ReLU on the unpooled maps)."""
    for module in list(model.modules()):
        if isinstance(module, torch.nn.Sequential):
            layers = list(module)
            for i in range(len(layers) - 1):
                if (isinstance(layers[i], torch.nn.MaxPool2d)
                        and isinstance(layers[i + 1], torch.nn.ReLU)):
                    module[i], module[i + 1] = layers[i + 1], layers[i]
    return model


def layer_order_speedup(name: str, preset: str, batch_size: int, steps: int = 6,
                        rounds: int = 5) -> tuple[float, float]:
    """(thesis order, ours) training events/s, timed alternately in this process (medians)."""
    reference = _training_step_timer(thesis_layer_order(create(name, preset)), batch_size)
    ours = _training_step_timer(create(name, preset), batch_size)
    times = [(reference(steps), ours(steps)) for _ in range(rounds)]
    return (statistics.median(t[0] for t in times), statistics.median(t[1] for t in times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench-models")
    parser.add_argument("--n-train", type=int, default=100_000)
    args = parser.parse_args()
    work = args.work
    data = work / "data"
    hepxai("simulate", "muon", "--out", str(data), "--n-train", str(args.n_train),
           "--n-val", "94445", "--n-noise", "100000", "--seed", "2")
    trained = {name: train_once(name, data, work / name)
               for name in ("attribution-cnn", "convsdt", "tracin-cnn")}
    # distilled from the fully trained teacher (its last epoch; best.pt can be an earlier epoch
    # that still overestimates pT, within the spread requirement)
    teacher = run_checkpoints(work / "attribution-cnn")[-1]
    trained["distilled convsdt"] = train_once("convsdt", data, work / "convsdt-distilled",
                                              "--teacher", str(teacher))
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    hepxai("baselines", "muon", "--data", str(data), "--out", str(work / "baselines"))
    # best.pt (validation efficiency at 15 GeV among the epochs with spread <= 1.5 GeV) and,
    # where another epoch, the last one
    checkpoints = []
    for run in ("attribution-cnn", "convsdt", "convsdt-distilled", "tracin-cnn"):
        last = run_checkpoints(work / run)[-1]
        best_epoch = torch.load(work / run / "best.pt", map_location="cpu",
                                weights_only=False)["epoch"]
        checkpoints.append(work / run / "best.pt")
        if last.name != f"epoch_{best_epoch:03d}.pt":
            checkpoints.append(last)
    evaluate_args = ["evaluate", "muon", "--data", str(data), "--out", str(work / "evaluation"),
                     "--baselines", str(work / "baselines" / "baselines.json")]
    for checkpoint in checkpoints:
        evaluate_args += ["--checkpoint", str(checkpoint)]
    log = subprocess.run([sys.executable, "-m", "hepxai", *evaluate_args], check=True, cwd=ROOT,
                         capture_output=True, text=True,
                         env={**os.environ, "HEPXAI_PROGRESS": "0"}).stdout

    rates = {f"{name} ({preset}, batch {batch})": training_rate(name, preset, batch)
             for name, preset, batch in (("convsdt", "paper", 64),
                                         ("attribution-cnn", "paper", 32),
                                         ("tracin-cnn", "paper", 32),
                                         ("attribution-cnn", "fast", 256),
                                         ("convsdt", "fast", 256),
                                         ("tracin-cnn", "fast", 256))}
    lines = ["## Muon models", "",
             f"Made by `make bench-models` (= `.venv/bin/python bench/models.py`), "
             f"{os.cpu_count()} cores, torch {torch.__version__}. Data: `hepxai simulate muon "
             f"--n-train {args.n_train} --n-val 94445 --n-noise 100000 --seed 2`.", "",
             "Training of the fast presets (`hepxai train muon --model NAME --preset fast`, "
             "wall time including the per-epoch validation on 20,000 events):", "",
             "| model | epochs | wall time |", "| --- | ---: | ---: |"]
    for name, info in trained.items():
        wall = "(not recorded)" if info["seconds"] is None else f"{info['seconds'] / 60:.1f} min"
        lines.append(f"| {name} | {info['epochs']} | {wall} |")
    lines += ["", "Peak memory of the largest training process of this run: "
              f"{peak_mib:.0f} MiB.", "",
              "Training throughput (forward + backward + Adam step, synthetic batch with 20 lit "
              "pixels an image):", "", "| model | events/s |", "| --- | ---: |"]
    for label, rate in rates.items():
        lines.append(f"| {label} | {rate:,.0f} |")
    lines += ["", "ReLU after the max-pooling instead of before (`models.cnn.conv_bn_relu`; the "
              "two orders are the same function), against the thesis' order in the same "
              "process, timed alternately (medians of 5):", "",
              "| model | thesis order, events/s | ours, events/s | speed-up |",
              "| --- | ---: | ---: | ---: |"]
    for name, preset, batch in (("convsdt", "paper", 64), ("attribution-cnn", "fast", 256),
                                ("convsdt", "fast", 256)):
        reference, ours = layer_order_speedup(name, preset, batch)
        lines.append(f"| {name} ({preset}, batch {batch}) | {reference:,.0f} | {ours:,.0f} | "
                     f"x{ours / reference:.2f} |")
    lines += ["", "Evaluation (`hepxai evaluate muon`): `best.pt`, the checkpoint with the best "
              "validation efficiency at 15 GeV (the thesis' criterion) among the epochs with a "
              "validation spread <= 1.5 GeV, and the last epoch where that is another one:",
              "", "```", log.strip(), "```", ""]
    from run import publish_section  # noqa: E402  (bench/run.py, same folder)

    publish_section("models", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
