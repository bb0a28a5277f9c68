"""``hepxai sanity darkjet`` on quick dark-jet taggers: the shuffled-label model is trained on a
permutation of the true training labels; the gradient maps of a trained ResGNN follow the
verdict rule after its layers are randomized, a model-independent "explainer" (the nodes'
energy) fails the same check; GNNExplainer's seed stability is what its masks give; the
3D-CNN's voxel maps are compared over the occupied voxels; bad inputs are one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_checks import user_error
from scipy.stats import spearmanr

from hepxai.cli import main
from hepxai.explain.base import Explainer, Parts
from hepxai.explain.judging.sanity import (
    THRESHOLD,
    label_randomization,
    parameter_randomization,
    randomizable_layers,
)
from hepxai.explain.judging.uncertainty import verdict
from hepxai.io.checkpoint import load_model, read_checkpoint
from hepxai.usecases.darkjet import task
from hepxai.usecases.darkjet.attribution import GRAPHS, explainer
from hepxai.usecases.darkjet.evaluation import graph_settings_of
from hepxai.usecases.darkjet.graphs import load_graphs
from hepxai.usecases.darkjet.judging import occupied_voxels
from hepxai.usecases.darkjet.sanity import (
    VOXELS,
    VoxelImages,
    format_sanity,
    sanity_study,
    voxel_images,
)
from hepxai.usecases.darkjet.store import split_path
from hepxai.usecases.darkjet.study import select_jets
from hepxai.usecases.darkjet.voxels import voxelise

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TRAIN = ["--preset", "quick", "--max-jets", "200", "--val-jets", "30", "--threads", "1"]
#: the GNNExplainer subset, its steps and seeds of the module's sanity run
GNN_JETS, GNN_EPOCHS, SEEDS = 4, 5, 3


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("darkjet-sanity") / "data"
    assert main(["simulate", "darkjet", "--out", str(out), "--n", "120", "--seed", "3"]) == 0
    return out


@pytest.fixture(scope="module")
def runs(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A trained ResGNN, the same trained on shuffled labels (what its training loop was
    given is recorded) and a 3D-CNN."""
    out = tmp_path_factory.mktemp("darkjet-runs")
    assert main(["train", "darkjet", "--model", "resgnn", *TRAIN, "--epochs", "8", "--data",
                 str(data_dir), "--out", str(out / "trained")]) == 0
    given = {}
    real_fit = task.fit

    def recording_fit(model, jet_task, train_set, val_set, *args, **kwargs):
        given["train"], given["val"] = train_set, val_set
        return real_fit(model, jet_task, train_set, val_set, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(task, "fit", recording_fit)
        assert main(["train", "darkjet", "--model", "resgnn", *TRAIN, "--epochs", "8",
                     "--data", str(data_dir), "--out", str(out / "shuffled"),
                     "--shuffle-labels"]) == 0
    assert main(["train", "darkjet", "--model", "cnn3d", *TRAIN, "--epochs", "1", "--data",
                 str(data_dir), "--out", str(out / "cnn")]) == 0
    return {"dir": out, "given": given, "trained": out / "trained" / "best.pt",
            "shuffled": out / "shuffled" / "best.pt", "cnn": out / "cnn" / "best.pt"}


@pytest.fixture(scope="module")
def sanity(runs: dict, data_dir: Path) -> dict:
    out = runs["dir"] / "sanity"
    assert main(["sanity", "darkjet", "--checkpoint", str(runs["trained"]), "--data",
                 str(data_dir), "--out", str(out), "--shuffled", str(runs["shuffled"]),
                 "--jets", "12", "--steps", "8", "--gnnexplainer-jets", str(GNN_JETS),
                 "--gnnexplainer-epochs", str(GNN_EPOCHS), "--seeds", str(SEEDS),
                 "--threads", "1"]) == 0
    assert (out / "sanity.png").stat().st_size > 10_000
    return json.loads((out / "sanity.json").read_text())


def _graphs(checkpoint: Path, data_dir: Path):
    settings = graph_settings_of(read_checkpoint(checkpoint, use_case="darkjet"))
    return load_graphs(split_path(data_dir, "test"), settings)


class NodeEnergy(Explainer):
    """Model-independent: a node's relevance is its energy (node feature 0)."""

    name = "node-energy"

    def _attribute(self, modality, batch, targets, baselines, ids):
        return Parts(batch.x[:, None, :1].repeat(1, len(targets.columns), 1))


class VoxelEnergy(Explainer):
    """Model-independent: a voxel's relevance is its energy."""

    name = "voxel-energy"

    def _attribute(self, modality, batch, targets, baselines, ids):
        return Parts(batch.x.unsqueeze(1).repeat(1, len(targets.columns), 1, 1, 1))


def test_the_shuffled_model_trains_on_a_permutation_of_the_true_labels(runs: dict) -> None:
    assert read_checkpoint(runs["shuffled"])["identity"]["shuffled_labels"] is True
    # only when set: runs from before the option still resume
    assert "shuffled_labels" not in read_checkpoint(runs["trained"])["identity"]
    train_set, val_set = runs["given"]["train"], runs["given"]["val"]
    truth = train_set.graphs.y[train_set.rows]
    assert len(train_set) == read_checkpoint(runs["shuffled"])["identity"]["n_train"] == 192
    assert 0 < truth.mean() < 1
    assert sorted(train_set.labels) == sorted(truth)  # a permutation: the class balance kept
    assert (train_set.labels != truth).sum() > 192 // 4  # about half the jets change class
    # seeded: the seed's own stream, the same permutation again
    np.testing.assert_array_equal(train_set.labels,
                                  task.JetSet(train_set.graphs, rows=train_set.rows)
                                  .shuffled(1).labels)
    _, y = train_set.batch(np.arange(7, 19))  # the batches carry the shuffled labels
    np.testing.assert_array_equal(y.numpy(), train_set.labels[7:19])
    np.testing.assert_array_equal(val_set.labels, val_set.graphs.y[val_set.rows])


def test_gradient_maps_of_a_trained_resgnn_follow_the_verdict_rule(sanity: dict,
                                                                   runs: dict) -> None:
    # how much both learned: their best epochs' validation AUC, as the checkpoints hold it
    for key in ("trained", "shuffled"):
        state = read_checkpoint(runs[key], use_case="darkjet")
        entry = next(h for h in state["history"] if h["epoch"] == state["epoch"])
        assert sanity["quality"][key] == pytest.approx(entry["auc"])
    layers = sanity["layers"]
    assert layers == [f"convs.{i}" for i in range(7)] + ["lin", "linout"]
    assert sanity["n_examples"] == 12 and sanity["classes"] == {"qcd": 6, "dark_photon": 6}
    for method in ("saliency-graph", "ig-graph", "gnnexplainer"):
        per = sanity["methods"][method]
        assert per["cascading"]["steps"] == layers[::-1]  # from the output layer down
        assert per["independent"]["steps"] == layers
        assert per["labels"]["steps"] == ["shuffled labels"]
        assert "ssim" not in per["cascading"]["similarity"]  # graphs: ranks only
        for order in ("cascading", "labels"):
            spearman = per[order]["similarity"]["spearman"]
            final, interval = spearman["mean"][-1], spearman["interval"][-1]
            assert interval[0] <= final <= interval[1]
            assert per[order]["verdict"] == verdict(interval, THRESHOLD), (method, order)
    ig = sanity["methods"]["ig-graph"]["cascading"]["similarity"]["spearman"]["mean"]
    assert ig[-1] < 0.5, ig  # 1 on the trained model itself
    assert sanity["methods"]["gnnexplainer"]["cascading"]["n_examples"] == GNN_JETS
    assert sanity["methods"]["saliency-graph"]["cascading"]["n_examples"] == 12
    table = format_sanity(sanity)
    assert f"12 jets ({GNN_JETS} for gnnexplainer)" in table.splitlines()[0]
    assert "all layers randomized" in table and "seed stability" in table


def test_gnnexplainer_seed_stability_is_what_its_masks_give(sanity: dict, runs: dict,
                                                             data_dir: Path) -> None:
    stability = sanity["seed_stability"]["gnnexplainer"]
    assert stability["seeds"] == list(range(1, 1 + SEEDS))
    rows = np.array(sanity["gnnexplainer_jets"])
    assert rows.size == GNN_JETS and stability["n_examples"] == GNN_JETS
    graphs = _graphs(runs["trained"], data_dir)
    assert graphs.y[rows].tolist() == [0.0] * (GNN_JETS // 2) + [1.0] * (GNN_JETS // 2)
    # the masks again, one explainer per seed, and their per-jet Spearman by scipy
    model = load_model(runs["trained"], use_case="darkjet")
    masks = [explainer("gnnexplainer", model, epochs=GNN_EPOCHS, seed=s)
             .attribute(graphs.batch(rows), ids=rows) for s in stability["seeds"]]
    offsets = masks[0].offsets
    pairs = [spearmanr(a.items()[i:j], b.items()[i:j])[0]
             for k, a in enumerate(masks) for b in masks[k + 1:]
             for i, j in zip(offsets[:-1], offsets[1:], strict=True)]
    r = stability["pairwise"]
    assert -1 <= r <= 1 and r == pytest.approx(np.mean(pairs), abs=1e-9)
    low, high = stability["pairwise_interval"]
    assert -1 <= low <= r <= high <= 1
    # Spearman-Brown: the fewest seeds whose average agrees at the required level
    brown = lambda k: k * r / (1 + (k - 1) * r)  # noqa: E731
    if r <= 0:
        assert stability["seeds_needed"] is None
    else:
        expected = next(k for k in range(1, 10_000) if brown(k) >= stability["required"] - 1e-9)
        assert stability["seeds_needed"] == expected
    assert stability["samples"] is None and len(stability["split_half"]) == SEEDS // 2


def test_a_model_independent_explainer_fails(runs: dict, data_dir: Path) -> None:
    graphs = _graphs(runs["trained"], data_dir)
    rows = select_jets(graphs, 10, seed=1)
    model = load_model(runs["trained"], use_case="darkjet")
    build = lambda m: NodeEnergy(m, modality=GRAPHS)  # noqa: E731
    result = parameter_randomization(build, model, graphs.batch(rows), target="dark_photon")
    summary = result.summary()
    assert summary["verdict"] == "fail"
    np.testing.assert_allclose(summary["similarity"]["spearman"]["mean"], 1.0)
    shuffled = load_model(runs["shuffled"], use_case="darkjet")
    labels = label_randomization(build, model, shuffled, graphs.batch(rows)).summary()
    assert labels["verdict"] == "fail" and labels["similarity"]["spearman"]["mean"] == [1.0]


def test_the_cnn3d_maps_are_compared_over_the_occupied_voxels(runs: dict, data_dir: Path,
                                                              tmp_path: Path) -> None:
    graphs = _graphs(runs["cnn"], data_dir)
    rows = select_jets(graphs, 6, seed=1)
    cnn = load_model(runs["cnn"], use_case="darkjet")
    images = voxel_images(graphs, rows)
    with torch.no_grad():  # the image view is the same network on the same numbers
        torch.testing.assert_close(VoxelImages(cnn)(images), cnn(voxelise(graphs, rows)))
    real = VOXELS.item_mask(VOXELS.prepare(images)).reshape(len(rows), -1)
    np.testing.assert_array_equal(real, occupied_voxels(graphs.subset(rows)))
    assert 0 < real.mean() < 0.2  # most voxels are empty: their shared zeros are not counted
    summary = sanity_study(cnn, graphs, rows, tmp_path, orders=["cascading"], steps=4,
                           echo=lambda line: None)
    assert list(summary["methods"]) == ["saliency", "ig"] and summary["items"] == \
        "occupied voxels"
    for per in summary["methods"].values():
        cascading = per["cascading"]
        assert cascading["steps"] == randomizable_layers(cnn)[::-1]
        assert set(cascading["similarity"]) == {"spearman", "spearman_all"}
        interval = cascading["similarity"]["spearman"]["interval"][-1]
        assert cascading["verdict"] == verdict(interval, THRESHOLD)
    assert (tmp_path / "sanity.json").exists() and (tmp_path / "sanity.png").exists()
    energy = parameter_randomization(lambda m: VoxelEnergy(VoxelImages(m), modality=VOXELS,
                                                           fused=False),
                                     cnn, images, target="dark_photon").summary()
    assert energy["verdict"] == "fail"
    np.testing.assert_allclose(energy["similarity"]["spearman"]["mean"], 1.0)


def test_bad_inputs_are_one_line(runs: dict, data_dir: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    trained, cnn = str(runs["trained"]), str(runs["cnn"])
    base = ["sanity", "darkjet", "--data", data_dir, "--out", tmp_path / "s"]
    line = user_error(capsys, [*base, "--checkpoint", trained, "--shuffled", trained])
    assert "--shuffle-labels" in line
    line = user_error(capsys, [*base, "--checkpoint", cnn, "--shuffled", runs["shuffled"]])
    assert "same model" in line
    line = user_error(capsys, [*base, "--checkpoint", trained, "--orders", "bottom-up"])
    assert "cascading" in line
    line = user_error(capsys, [*base, "--checkpoint", cnn, "--methods", "saliency-graph"])
    assert "saliency, ig" in line
    line = user_error(capsys, [*base, "--checkpoint", trained, "--methods", "ig,saliency"])
    assert "gnnexplainer" in line
    user_error(capsys, [*base, "--checkpoint", trained, "--methods", "lime"])
    user_error(capsys, [*base, "--checkpoint", tmp_path / "missing.pt"])
    user_error(capsys, ["sanity", "darkjet", "--checkpoint", trained, "--data",
                        tmp_path / "nothing", "--out", tmp_path / "s"])
    assert not (tmp_path / "s").exists()


def test_the_help_says_what_the_options_are_for(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, words in ((["train", "darkjet"], ("--shuffle-labels", "-shuffled",
                                                 "sanity darkjet --shuffled")),
                        (["sanity", "darkjet"], ("--gnnexplainer-jets", "--seeds",
                                                 "saliency,ig"))):
        with pytest.raises(SystemExit) as exit_:
            main([*argv, "--help"])
        assert exit_.value.code == 0
        text = " ".join(capsys.readouterr().out.split())
        for word in words:
            assert word in text, word
