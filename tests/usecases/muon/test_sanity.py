"""``hepxai sanity muon`` on a trained fast Attribution CNN: the maps of the methods that use
the model decorrelate when its layers are randomized, a model-independent "explainer" fails
the same check, the shuffled-label model and the seed stability land in sanity.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_checks import user_error
from scipy.ndimage import convolve

from hepxai.cli import main
from hepxai.explain.base import Explainer, Parts
from hepxai.explain.judging.sanity import THRESHOLD, parameter_randomization
from hepxai.explain.judging.uncertainty import verdict
from hepxai.io.checkpoint import load_model, read_checkpoint
from hepxai.usecases.muon.study import HIT_MAPS

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TRAIN = ["--model", "attribution-cnn", "--epochs", "2", "--max-events", "500",
         "--val-events", "100"]


@pytest.fixture(scope="module")
def runs(muon_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sanity")
    assert main(["train", "muon", *TRAIN, "--data", str(muon_dir), "--out",
                 str(out / "trained")]) == 0
    assert main(["train", "muon", *TRAIN, "--data", str(muon_dir), "--out",
                 str(out / "shuffled"), "--shuffle-labels"]) == 0
    return out


class HitDensity(Explainer):
    """Model-independent: each pixel's number of lit pixels in its 3 x 9 neighbourhood (an
    edge detector in the spirit of Adebayo et al.)."""

    name = "hit-density"

    def _attribute(self, modality, batch, targets, baselines, ids):
        x = batch.x.numpy()
        density = convolve(x, np.ones((1, 1, 3, 9)), mode="constant") * x
        return Parts(torch.from_numpy(density).unsqueeze(1).repeat(
            1, len(targets.columns), 1, 1, 1))


def test_shuffled_labels_are_a_permutation_of_the_events(runs: Path, muon_dir: Path) -> None:
    identity = read_checkpoint(runs / "shuffled" / "best.pt")["identity"]
    assert identity["shuffled_labels"] is True
    assert "shuffled_labels" not in read_checkpoint(runs / "trained" / "best.pt")["identity"]


@pytest.mark.slow
def test_sanity_on_a_trained_attribution_cnn(runs: Path, muon_dir: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sanity"
    assert main(["sanity", "muon", "--checkpoint", str(runs / "trained" / "best.pt"),
                 "--data", str(muon_dir), "--out", str(out), "--methods",
                 "saliency,ig,smoothgrad", "--copies", "2", "--seeds", "3",
                 "--events-per-category", "4", "--pool", "160", "--orders", "cascading",
                 "--shuffled", str(runs / "shuffled" / "best.pt")]) == 0
    printed = capsys.readouterr().out
    assert "all layers randomized" in printed and "seed stability" in printed
    summary = json.loads((out / "sanity.json").read_text())
    assert (out / "sanity.png").stat().st_size > 10_000
    layers = summary["layers"]
    for method in ("saliency", "ig"):
        cascading = summary["methods"][method]["cascading"]
        assert cascading["steps"] == layers[::-1]  # from the output layer down
        final = cascading["similarity"]["spearman"]["mean"][-1]
        # 1 before any layer is randomized; a 2-epoch model on 12 events decorrelates well
        # below that but its interval may still straddle THRESHOLD, so the verdict must
        # follow the interval rule rather than be asserted as "pass"
        assert final < 0.5, (method, final)
        interval = cascading["similarity"]["spearman"]["interval"][-1]
        assert interval[0] <= final <= interval[1]
        assert cascading["verdict"] == verdict(interval, THRESHOLD)
        assert "independent" not in summary["methods"][method]  # not asked for
        assert "ssim" in cascading["similarity"]
        labels = summary["methods"][method]["labels"]
        assert labels["steps"] == ["shuffled labels"]
    stability = summary["seed_stability"]
    assert list(stability) == ["smoothgrad"]  # the only stochastic method chosen
    assert stability["smoothgrad"]["samples"] == 2 and len(stability["smoothgrad"]["seeds"]) == 3
    assert -1 <= stability["smoothgrad"]["pairwise"] <= 1


def test_independent_randomization_resets_one_layer_at_a_time(runs: Path) -> None:
    from hepxai.usecases.muon.study import build_method

    model = load_model(runs / "trained" / "best.pt", use_case="muon")
    images = _random_hit_maps(12)
    settings = dict(target="pt", targets=["pt", "eta"], kinds=["spearman"])
    build = lambda m: build_method(m, "saliency", {}, 1)  # noqa: E731
    cascading = parameter_randomization(build, model, images, **settings)
    independent = parameter_randomization(build, model, images, order="independent",
                                          **settings)
    layers = cascading.steps[::-1]
    assert independent.steps == layers and len(layers) == 11
    # the cascade's first step re-initialises the top layer alone, with the same seed: the
    # same model as the independent step of that layer
    np.testing.assert_allclose(cascading.similarity["spearman"][0],
                               independent.similarity["spearman"][-1])
    # every later step of the cascade has more layers randomized than any independent step
    assert not np.allclose(cascading.similarity["spearman"][-1],
                           independent.similarity["spearman"][0])


def _random_hit_maps(n: int) -> np.ndarray:
    images = np.zeros((n, 9, 384), bool)
    rng = np.random.default_rng(0)
    for image in images:
        image.flat[rng.choice(image.size, 60, replace=False)] = True
    return images


def test_a_model_independent_explainer_fails_on_the_trained_cnn(runs: Path) -> None:
    model = load_model(runs / "trained" / "best.pt", use_case="muon")
    images = _random_hit_maps(12)
    result = parameter_randomization(lambda m: HitDensity(m, modality=HIT_MAPS), model, images,
                                     target="pt", targets=["pt", "eta"])
    summary = result.summary()
    assert summary["verdict"] == "fail"
    np.testing.assert_allclose(summary["similarity"]["spearman"]["mean"], 1.0)


def test_sanity_refuses_a_model_not_trained_on_shuffled_labels(
        runs: Path, muon_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint = str(runs / "trained" / "best.pt")
    line = user_error(capsys, ["sanity", "muon", "--checkpoint", checkpoint, "--data", muon_dir,
                               "--out", tmp_path / "s", "--shuffled", checkpoint])
    assert "--shuffle-labels" in line
    line = user_error(capsys, ["sanity", "muon", "--checkpoint", checkpoint, "--data", muon_dir,
                               "--out", tmp_path / "s", "--orders", "bottom-up"])
    assert "cascading" in line


def test_the_study_averages_the_draws_the_seed_stability_asks_for(tmp_path: Path) -> None:
    from hepxai.core.errors import HepxaiError
    from hepxai.usecases.muon.study import DEFAULT_METHODS, samples_needed, with_samples

    sanity, checkpoint = tmp_path / "sanity.json", tmp_path / "best.pt"
    sanity.write_text(json.dumps({"checkpoint": str(checkpoint), "seed_stability": {
        "smoothgrad": {"samples_needed": 60}, "shapley": {"samples_needed": 5},
        "never": {"samples_needed": None}}}))
    needed = samples_needed(sanity, checkpoint)
    assert needed == {"smoothgrad": 60, "shapley": 5}
    chosen = with_samples(dict(DEFAULT_METHODS), needed)
    assert chosen["smoothgrad"][1]["n_samples"] == 60  # more than the study's 20
    assert chosen["shapley"][1]["orders"] == 10  # never fewer than the study's own
    assert {k: v for k, v in chosen.items() if k not in ("smoothgrad", "shapley")} == {
        k: v for k, v in DEFAULT_METHODS.items() if k not in ("smoothgrad", "shapley")}
    # a Shapley mode named without its orders runs BinaryPathIG's default of 20: never lowered
    assert with_samples({"s": ("ig-binary", {"mode": "shapley"})}, {"s": 15}) == {
        "s": ("ig-binary", {"mode": "shapley"})}
    with pytest.raises(HepxaiError, match="not .*other.pt"):
        samples_needed(sanity, tmp_path / "other.pt")  # another model's study
    sanity.write_text(json.dumps({"seed_stability": {}}))
    with pytest.raises(HepxaiError, match="no seed-stability study"):
        samples_needed(sanity, checkpoint)
