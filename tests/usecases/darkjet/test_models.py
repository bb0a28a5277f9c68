"""Dark-jet models and their training: shapes, gradients, graph independence, the generic loop
with the dark-jet task (checkpoints, best by AUC, bit-identical resume, reload)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hepxai.core.errors import HepxaiError
from hepxai.io.checkpoint import load_model, read_checkpoint
from hepxai.metrics.classification import roc_auc
from hepxai.usecases.darkjet.graphs import GraphSettings, build_graphs
from hepxai.usecases.darkjet.models import MODELS, create
from hepxai.usecases.darkjet.simulator import DarkJetSimConfig, Jets, simulate_jets
from hepxai.usecases.darkjet.task import JetSet, forward, predict, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def graphs():
    config = DarkJetSimConfig()
    jets = Jets.concatenate([simulate_jets(config, 4, 0, 0, 400),
                             simulate_jets(config, 4, 1, 0, 400)])
    order = np.random.default_rng(0).permutation(len(jets))
    from hepxai.usecases.darkjet.store import take

    return build_graphs(take(jets, order), GraphSettings())


@pytest.mark.parametrize("name", list(MODELS))
def test_forward_backward_on_a_batch(graphs, name):
    model = create(name, "quick", seed=2)
    data = JetSet(graphs, model.representation)
    inputs, y = data.batch(np.arange(32))
    logits = forward(model, inputs)
    assert logits.shape == (32,) and torch.isfinite(logits).all()
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y)
    loss.backward()
    for key, parameter in model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), key
    assert model.outputs == ("dark_photon",)


def test_resgnn_layers_and_graph_independence(graphs):
    model = create("resgnn", "fast").eval()
    kinds = [type(c).__name__ for c in model.convs]
    assert kinds == ["GraphConv"] * 5 + ["GCNConv"] * 2  # the slides' ResGNN
    batch = graphs.batch(np.arange(6))
    with torch.no_grad():
        together = forward(model, batch)
        alone = torch.stack([forward(model, graphs.batch(np.array([i])))[0] for i in range(6)])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-5)


def test_same_seed_same_weights_and_bad_names():
    a, b = create("gatv2", "quick", seed=3), create("gatv2", "quick", seed=3)
    for (key, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), key
    with pytest.raises(HepxaiError, match="unknown model"):
        create("transformer")
    with pytest.raises(HepxaiError, match="unknown preset"):
        create("resgnn", "huge")


def _sets(graphs, representation="graph"):
    return (JetSet(graphs, representation, np.arange(600)),
            JetSet(graphs, representation, np.arange(600, 800)))


def test_training_learns_writes_checkpoints_and_reloads(graphs, tmp_path):
    train_set, val_set = _sets(graphs)
    model = create("resgnn", "quick", seed=1)
    result = train(model, train_set, val_set, tmp_path / "run", seed=1, epochs=3,
                   data_identity={"graphs": GraphSettings().to_dict()})
    aucs = [h["auc"] for h in result.history]
    assert max(aucs) > 0.75  # a few hundred jets: well above chance
    checkpoints = sorted((tmp_path / "run" / "checkpoints").glob("epoch_*.pt"))
    assert [p.name for p in checkpoints] == ["epoch_001.pt", "epoch_002.pt", "epoch_003.pt"]
    best = read_checkpoint(tmp_path / "run" / "best.pt", use_case="darkjet")
    assert best["epoch"] == 1 + int(np.argmax(aucs)) and best["use_case"] == "darkjet"
    assert best["config"] == model.config and best["identity"]["graphs"]["variant"] == "gnn-1"
    history = json.loads((tmp_path / "run" / "history.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    reloaded = load_model(tmp_path / "run" / "best.pt", use_case="darkjet")
    logits = predict(reloaded, val_set)
    assert roc_auc(val_set.labels, logits) == pytest.approx(best["history"][best["epoch"] - 1]
                                                             ["auc"], abs=1e-6)
    # the muon readers (which name their use case) refuse a dark-jet checkpoint with one line
    with pytest.raises(HepxaiError, match="'darkjet' use case, not muon"):
        load_model(tmp_path / "run" / "best.pt", use_case="muon")


class _Stop(Exception):
    pass


def test_resume_is_bit_identical(graphs, tmp_path):
    train_set, val_set = _sets(graphs, "voxel")
    straight = create("cnn3d", "quick", seed=4)
    train(straight, train_set, val_set, tmp_path / "a", seed=4, epochs=2)

    def stop(record):
        if record["epoch"] == 1:
            raise _Stop

    with pytest.raises(_Stop):
        train(create("cnn3d", "quick", seed=4), train_set, val_set, tmp_path / "b", seed=4,
              epochs=2, on_epoch=stop)
    resumed = create("cnn3d", "quick", seed=4)
    result = train(resumed, train_set, val_set, tmp_path / "b", seed=4, epochs=2, resume=True)
    assert [h["epoch"] for h in result.history] == [1, 2]
    for (key, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(),
                           strict=True):
        assert torch.equal(a, b), key
    with pytest.raises(HepxaiError, match="another"):
        train(create("cnn3d", "quick", seed=5), train_set, val_set, tmp_path / "b", seed=5,
              epochs=3, resume=True)


def test_model_and_data_representations_must_match(graphs, tmp_path):
    train_set, val_set = _sets(graphs, "graph")
    with pytest.raises(HepxaiError, match="reads voxels"):
        train(create("cnn3d", "quick"), train_set, val_set, tmp_path / "x", epochs=1)
    with pytest.raises(HepxaiError, match="empty"):
        JetSet(graphs, rows=np.array([], int))
