"""The sanity checks and the bootstrap against their definitions: which layers are randomized
and how, SSIM against scikit-image, a model-independent explainer failing, seed stability
against the Spearman-Brown formula, bootstrap intervals against the normal approximation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity
from torch import nn

from hepxai.core.errors import HepxaiError
from hepxai.explain import Saliency
from hepxai.explain.base import Explainer, Parts
from hepxai.explain.judging.sanity import (
    THRESHOLD,
    parameter_randomization,
    randomizable_layers,
    randomized_models,
    seed_stability,
    similarity,
)
from hepxai.explain.judging.uncertainty import bootstrap_interval, bootstrap_means, verdict

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Block(nn.Module):
    """A layer with its own reset_parameters around a linear map (as PyG's convolutions)."""

    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(4, 4)

    def reset_parameters(self):
        self.inner.reset_parameters()

    def forward(self, x):
        return torch.tanh(self.inner(x))


def _mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 4), nn.Tanh(), Block(), nn.Linear(4, 1)).eval()


def _differs(a: nn.Module, b: nn.Module) -> list[str]:
    """Top-level layers whose parameters differ."""
    sa, sb = a.state_dict(), b.state_dict()
    return sorted({k.split(".")[0] for k in sa if not torch.equal(sa[k], sb[k])})


def test_layers_are_the_outermost_modules_that_reset():
    assert randomizable_layers(_mlp()) == ["0", "2", "3"]  # not "2.inner"


def test_cascading_accumulates_from_the_top_and_independent_changes_one():
    model = _mlp()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state = torch.random.get_rng_state()
    cascading = [(name, _differs(model, m)) for name, m in randomized_models(model, seed=3)]
    assert cascading == [("3", ["3"]), ("2", ["2", "3"]), ("0", ["0", "2", "3"])]
    independent = [(name, _differs(model, m)) for name, m in
                   randomized_models(model, "independent", seed=3)]
    assert independent == [("0", ["0"]), ("2", ["2"]), ("3", ["3"])]
    # the trained model and the caller's random stream are left as they were
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(torch.random.get_rng_state(), state)
    # a layer gets the same weights in both orders (one seeded generator per reset)
    last_cascading = list(randomized_models(model, seed=3))[-1][1]
    first_independent = next(randomized_models(model, "independent", seed=3))[1]
    assert torch.equal(last_cascading[0].weight, first_independent[0].weight)


def test_a_reset_that_changes_nothing_is_reported():
    model = nn.Sequential(nn.Linear(20, 8), nn.BatchNorm1d(8), nn.Linear(8, 1)).eval()
    result = parameter_randomization(Saliency, model, torch.randn(30, 20), target=0,
                                     order="independent")
    assert result.unchanged == ["1"]  # an untrained BatchNorm is already at its reset values
    np.testing.assert_allclose(result.similarity["spearman"][1], 1.0)


def test_unknown_order_and_a_model_without_layers_are_one_line_errors():
    with pytest.raises(HepxaiError, match="unknown randomization order"):
        next(randomized_models(_mlp(), "bottom-up"))
    with pytest.raises(HepxaiError, match="no layer with parameters"):
        next(randomized_models(nn.Tanh()))


def test_ssim_equals_scikit_image_image_by_image():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 9 * 20)), rng.normal(size=(5, 9 * 20))
    b[:2] = a[:2] + 0.1 * b[:2]  # two similar pairs
    ours = similarity(a, b, np.ones(a.shape, bool), "ssim", (9, 20))
    for i in range(5):
        na, nb = np.abs(a[i]) / np.abs(a[i]).max(), np.abs(b[i]) / np.abs(b[i]).max()
        ref = structural_similarity(na.reshape(9, 20), nb.reshape(9, 20), data_range=1.0)
        assert ours[i] == pytest.approx(ref, abs=1e-12)
    assert ours[:2].min() > ours[2:].max()
    with pytest.raises(HepxaiError, match="SSIM compares 2-d images"):
        similarity(a, b, np.ones(a.shape, bool), "ssim", None)


class InputItself(Explainer):
    """A 'map' that ignores the model: the input itself (Adebayo et al.'s edge detector is
    another)."""

    name = "input-itself"

    def _attribute(self, modality, batch, targets, baselines, ids):
        return Parts(batch.x.unsqueeze(1).repeat(1, len(targets.columns), 1))


def test_a_model_dependent_method_passes_and_a_model_independent_one_fails():
    # 200 features: one randomized model is one draw, and the Spearman correlation of two
    # unrelated rankings of m items scatters by 1 / sqrt(m - 1) (0.07 here) around 0
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(200, 16), nn.Tanh(), nn.Linear(16, 1)).eval()
    x = torch.randn(100, 200, generator=torch.Generator().manual_seed(2))
    dependent = parameter_randomization(Saliency, model, x, target=0).summary()
    independent = parameter_randomization(InputItself, model, x, target=0).summary()
    assert dependent["verdict"] == "pass"
    assert dependent["similarity"]["spearman"]["interval"][-1][1] < THRESHOLD
    assert independent["verdict"] == "fail"
    np.testing.assert_allclose(independent["similarity"]["spearman"]["mean"], 1.0)


class NoisyTruth(Explainer):
    """A stochastic map: a fixed signal per item plus seeded noise of the same spread, so two
    seeds correlate at about 1/2 and averages follow the Spearman-Brown formula."""

    name = "noisy-truth"

    def __init__(self, model, seed=0, **kwargs):
        super().__init__(model, **kwargs)
        self.seed = seed

    def _attribute(self, modality, batch, targets, baselines, ids):
        signal = torch.linspace(1, 2, batch.x.shape[1]).expand_as(batch.x)
        noise = torch.stack([torch.randn(batch.x.shape[1], generator=torch.Generator()
                                         .manual_seed(int(i) * 1000 + self.seed)) for i in ids])
        values = 10 + signal / signal.std() + noise * 1.0
        return Parts(values.unsqueeze(1))


def test_seed_stability_follows_spearman_brown():
    x = torch.zeros(200, 60)
    model = nn.Linear(60, 1)
    result = seed_stability(lambda s: NoisyTruth(model, seed=s), x, seeds=range(8), target=0,
                            required=0.9, samples=5)
    r = result["pairwise"]
    assert 0.35 < r < 0.65
    assert result["pairwise_interval"][0] < r < result["pairwise_interval"][1]
    # the measured agreement of averages of k seeds against the formula k r / (1 + (k-1) r)
    for row in result["split_half"]:
        k = row["seeds"]
        assert row["agreement"] == pytest.approx(k * r / (1 + (k - 1) * r), abs=0.05)
        assert row["predicted"] == pytest.approx(k * r / (1 + (k - 1) * r))
    needed = result["seeds_needed"]
    assert needed * r / (1 + (needed - 1) * r) >= 0.9 > \
        (needed - 1) * r / (1 + (needed - 2) * r)
    assert result["samples_needed"] == needed * 5
    deterministic = seed_stability(lambda s: Saliency(model), torch.randn(20, 60), seeds=[1, 2])
    assert deterministic["pairwise"] == pytest.approx(1.0) and deterministic["seeds_needed"] == 1
    with pytest.raises(HepxaiError, match="two distinct seeds"):
        seed_stability(lambda s: Saliency(model), x, seeds=[1])


def test_bootstrap_interval_matches_the_normal_approximation():
    values = np.random.default_rng(4).normal(2.0, 3.0, size=400)
    lo, hi = bootstrap_interval(values, n_boot=4000, seed=1)
    half = 1.96 * values.std(ddof=1) / np.sqrt(len(values))
    assert (hi - lo) / 2 == pytest.approx(half, rel=0.1)
    assert (lo + hi) / 2 == pytest.approx(values.mean(), abs=0.1 * half)
    # NaN entries (unexplained examples) weigh nothing: the same as dropping them
    with_nan = np.r_[values, np.full(100, np.nan)]
    assert bootstrap_means(with_nan, seed=2).mean() == pytest.approx(values.mean(), abs=0.02)
    # two columns resampled together keep their difference exactly
    both = bootstrap_means(np.stack([values, values + 1], 1), seed=3)
    np.testing.assert_allclose(both[:, 1] - both[:, 0], 1.0)


def test_resampling_seeds_widens_the_interval_when_seeds_disagree():
    rng = np.random.default_rng(5)
    per_seed = rng.normal(size=(1, 300, 1)) + rng.normal(0, 0.5, size=(6, 1, 1))
    events_only = bootstrap_interval(per_seed.mean(0)[:, 0], seed=1)
    both = bootstrap_interval(per_seed, seed=1)[0]
    assert both[1] - both[0] > 1.5 * (events_only[1] - events_only[0])


def test_verdicts():
    assert verdict([0.0, 0.1], 0.2) == "pass"
    assert verdict([0.25, 0.4], 0.2) == "fail"
    assert verdict([0.1, 0.3], 0.2) == "undecided"
    assert verdict(None, 0.2) == "no data"
