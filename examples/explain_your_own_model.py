"""Explain a model that is not hepxai's: a plain ``nn.Sequential`` CNN on the hit images of a
made-up two-station detector, trained here for a few seconds, explained by every image method
of hepxai, judged against the truth of the generated data, the methods compared, and an HTML
report written.

The detector: two stations (channels) of 16 layers x 64 strips. A straight track crosses every
layer of both stations, one hit a layer, with a slope; a few noise hits are added at random. The
model regresses the slope, which only the track's hits carry, so a good explanation puts its
relevance on them (the truth mask).

    .venv/bin/python examples/explain_your_own_model.py [--out runs/example] [--seconds 8]

Then open ``OUT/report.html``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hepxai.explain import (
    BinaryPathIG,
    GradientShap,
    Image,
    IntegratedGradients,
    RegressionActivationMap,
    Saliency,
    SmoothGrad,
    applicable,
    judge,
    salt_and_pepper,
)
from hepxai.report.judging import write_judging_report

STATIONS, LAYERS, STRIPS = 2, 16, 64
NOISE_RATE = 0.01


def generate(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """``n`` events: binary images ``(n, 2, 16, 64)``, slopes ``(n, 1)`` [strips per layer]
    and the truth mask of the track's pixels ``(n, 16, 64)``."""
    rng = np.random.default_rng(seed)
    slope = rng.uniform(-1.5, 1.5, n)
    start = rng.uniform(20, 44, n)
    layer = np.arange(LAYERS)
    strip = np.clip(np.rint(start[:, None] + slope[:, None] * (layer - LAYERS / 2)), 0,
                    STRIPS - 1).astype(int)  # (n, layers)
    images = (rng.random((n, STATIONS, LAYERS, STRIPS)) < NOISE_RATE).astype(np.float32)
    event = np.repeat(np.arange(n), LAYERS)
    rows = np.tile(layer, n)
    images[event, 0, rows, strip.ravel()] = 1.0  # both stations see the track
    images[event, 1, rows, strip.ravel()] = 1.0
    truth = np.zeros((n, LAYERS, STRIPS), bool)
    truth[event, rows, strip.ravel()] = True
    return (torch.from_numpy(images), torch.from_numpy(slope[:, None].astype(np.float32)),
            truth)


def make_model() -> nn.Sequential:
    """Any CNN will do; a global average pooling and a linear head make RAM exact (CAM)."""
    return nn.Sequential(
        nn.Conv2d(STATIONS, 16, (3, 5), padding=(1, 2)), nn.ReLU(),
        nn.Conv2d(16, 16, (3, 5), padding=(1, 2)), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 1))


def train(model: nn.Module, images: torch.Tensor, slopes: torch.Tensor, seconds: float,
          seed: int) -> float:
    """Adam on the squared error for ``seconds``; returns the last batch's RMS error."""
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    started, loss = time.perf_counter(), torch.tensor(0.0)
    while time.perf_counter() - started < seconds:
        for batch in torch.randperm(len(images)).split(64):
            loss = nn.functional.mse_loss(model(images[batch]), slopes[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return float(loss.detach().sqrt())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/example"))
    parser.add_argument("--seconds", type=float, default=8.0, help="training time")
    parser.add_argument("--events", type=int, default=24, help="events explained")
    args = parser.parse_args()

    images, slopes, _ = generate(3000, seed=1)
    model = make_model()
    rms = train(model, images, slopes, args.seconds, seed=2)
    model.eval()
    test_images, test_slopes, truth = generate(args.events, seed=3)
    with torch.no_grad():
        predicted = model(test_images)[:, 0].numpy()
    print(f"trained for {args.seconds:.0f} s: RMS error {rms:.3f} strips/layer on the last batch; "
          f"test slopes {np.round(test_slopes[:4, 0].numpy(), 2)} predicted "
          f"{np.round(predicted[:4], 2)}")

    # which of hepxai's methods apply to this model, and why the others do not
    hits = Image(binary=True, what="hit images")
    for name, reason in applicable(model, hits).items():
        print(f"  {name:>14}: {'applies' if reason is None else reason}")

    explainers = {
        "saliency": Saliency(model, modality=hits),
        "ig": IntegratedGradients(model, n_steps=32, modality=hits),
        "ig-binary": BinaryPathIG(model, mode="thesis", modality=hits),
        "ig-binary-exact": BinaryPathIG(model, mode="exact", modality=hits),
        "shapley": BinaryPathIG(model, mode="shapley", orders=10, modality=hits),
        "smoothgrad": SmoothGrad(BinaryPathIG(model, mode="thesis", modality=hits),
                                 noise=salt_and_pepper(0.01), n_samples=10),
        "ram": RegressionActivationMap(model, layer=model[3], modality=hits),
        "gradient-shap": GradientShap(model, n_samples=16, modality=hits),
    }
    # GradientSHAP needs a reference sample: training images; the others start from empty
    reference = images[:200]
    groups = np.where(np.abs(test_slopes[:, 0].numpy()) > 0.75, "steep", "flat").astype(object)
    attributions = {name: explainer.attribute(
        test_images, target=0, baselines=reference if name == "gradient-shap" else None)
        for name, explainer in explainers.items()}
    result = judge(attributions, test_images, truth=truth, categories=groups, model=model,
                   modality=hits, truth_name="track", category_order=("steep", "flat"))
    summary = result.summary()
    print(f"{'method':>16} {'track share':>11} {'blind':>6} {'AUROC':>6} {'deletion gap':>12}")
    for name in summary["methods"]:
        s = summary["scores"][name]["all"]
        print(f"{name:>16} {s['track_share']:11.3f} {s['base_rate']:6.3f} {s['auroc']:6.3f} "
              f"{s['deletion_gap']:12.4f}")
    path = write_judging_report(result, args.out, title="A made-up detector's CNN, explained",
                                output="slope", unit="strips per layer", items="hits",
                                images=test_images,
                                truth=truth)
    print(f"written: {path}")


if __name__ == "__main__":
    main()
