"""Intervals over seeds: a stochastic method judged with replicas (other seeds) averages its
per-seed means and resamples seeds as well as examples; every seed's scores are the ones that
seed gets when judged alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hepxai.core.errors import HepxaiError
from hepxai.explain import IntegratedGradients, Saliency, SmoothGrad, salt_and_pepper
from hepxai.explain.judging import judge
from hepxai.explain.judging.study import JudgingResult


def _setup(n: int = 12):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 8, 1)).eval()
    generator = torch.Generator().manual_seed(1)
    x = (torch.rand(n, 1, 6, 8, generator=generator) > 0.7).float()
    truth = x[:, 0].numpy() > 0
    truth[:, :, 4:] = False  # the "signal" is the lit pixels of the left half
    categories = np.array(["TP", "FP"] * (n // 2))
    return net, x, truth, categories


def _smoothgrad(net, seed: int) -> SmoothGrad:
    return SmoothGrad(Saliency(net), noise=salt_and_pepper(0.05), n_samples=4, seed=seed)


def test_every_seed_scores_as_it_does_alone():
    net, x, truth, categories = _setup()
    common = dict(truth=truth, categories=categories, fractions=(0.0, 0.5, 1.0))
    seeded = judge({"sg": _smoothgrad(net, 0), "ig": IntegratedGradients(net)}, x,
                   replicas={"sg": [_smoothgrad(net, 1), _smoothgrad(net, 2)]}, **common)
    assert seeded.seed_scores["sg"]["truth_share"].shape == (3, 12)
    for s in range(3):
        alone = judge({"sg": _smoothgrad(net, s), "ig": IntegratedGradients(net)}, x, **common)
        for score in ("truth_share", "deletion_gap", "auroc"):
            np.testing.assert_allclose(seeded.seed_scores["sg"][score][s],
                                       alone.scores["sg"][score], rtol=1e-12, equal_nan=True)
        np.testing.assert_allclose(seeded.seed_pairs[("sg", "ig")]["spearman"][s],
                                   alone.pairs[("sg", "ig")]["spearman"], rtol=1e-12,
                                   equal_nan=True)
    # the seeds differ (else the test would not test anything) ...
    assert not np.allclose(seeded.seed_scores["sg"]["truth_share"][0],
                           seeded.seed_scores["sg"]["truth_share"][1])
    # ... the deterministic method has one seed, and the summary's mean is the seed average
    summary = seeded.summary()
    assert summary["seeds_per_method"] == {"sg": 3, "ig": 1}
    assert summary["intervals"]["seeds"] == {"sg": 3, "ig": 1}
    per_seed = seeded.seed_scores["sg"]["truth_share"]
    assert summary["scores"]["sg"]["all"]["truth_share"] == pytest.approx(
        np.mean([np.nanmean(row) for row in per_seed]))
    assert summary["scores"]["ig"]["all"]["truth_share"] == pytest.approx(
        np.nanmean(seeded.scores["ig"]["truth_share"]))
    lo, hi = summary["intervals"]["scores"]["sg"]["all"]["truth_share"]
    assert lo <= summary["scores"]["sg"]["all"]["truth_share"] <= hi


def test_the_interval_holds_the_spread_between_seeds():
    # per-seed means 0 and 1, no spread within a seed: two seeds drawn with replacement
    # average 0 (p 1/4), 1/2 (p 1/2) or 1 (p 1/4), so the central 95 % interval is [0, 1];
    # over the examples alone (one seed) it would be a point
    n = 40
    result = JudgingResult(categories=np.array(["TP"] * n), category_order=("TP",))
    result.scores = {"m": {"base_rate": np.zeros(n), "share": np.zeros(n)}}
    result.seed_scores = {"m": {"base_rate": np.zeros((2, n)),
                                "share": np.stack([np.zeros(n), np.ones(n)])}}
    bounds = result.intervals(["all"])
    assert bounds["scores"]["m"]["all"]["share"] == [0.0, 1.0]
    result.seed_scores = {}
    assert result.intervals(["all"])["scores"]["m"]["all"]["share"] == [0.0, 0.0]


def test_replicas_of_an_unjudged_method_are_refused():
    net, x, truth, categories = _setup()
    with pytest.raises(HepxaiError, match="replicas of sg"):
        judge({"ig": IntegratedGradients(net)}, x, truth=truth, categories=categories,
              replicas={"sg": [_smoothgrad(net, 1)]})


def test_replicas_pair_seed_with_seed_and_explain_the_same_examples():
    from hepxai.explain.types import Attribution

    net, x, truth, categories = _setup()
    common = dict(truth=truth, categories=categories, fractions=(0.0, 0.5, 1.0), model=net)
    runs = [_smoothgrad(net, s).attribute(x, target=0) for s in range(3)]
    other = [SmoothGrad(Saliency(net), noise=salt_and_pepper(0.1), n_samples=2,
                        seed=s).attribute(x, target=0) for s in range(2)]
    seeded = judge({"a": runs[0], "b": other[0]}, x,
                   replicas={"a": runs[1:], "b": other[1:]}, **common)
    # 3 and 2 seeds: two pairs, no run in two of them
    assert seeded.seed_pairs[("a", "b")]["spearman"].shape == (2, 12)
    subset = Attribution(values=runs[1].values[:6], targets=runs[1].targets, method="sg",
                         kind="pixel", event_ids=np.arange(6))
    with pytest.raises(HepxaiError, match="other examples than its first run"):
        judge({"a": runs[0]}, x, replicas={"a": [subset]}, **common)
