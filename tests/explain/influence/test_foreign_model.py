"""The TracIn core on a model that is not hepxai's: a plain ``nn.Sequential`` regressor with a
final ``nn.Linear``, its own checkpoints and an MSE loss given by a gradient source written
here, equal to Captum's ``TracInCPFast`` (last layer) and ``TracInCP`` (every parameter)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from hepxai.core.errors import HepxaiError
from hepxai.explain.influence import GradientSource, TracInStore, tensor_identity

N_TRAIN, N_TEST = 120, 7


def _model() -> nn.Sequential:
    # no bias in the final layer: Captum's TracInCPFast takes the weight gradient only
    return nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 2, bias=False))


class Regression(GradientSource):
    """In-memory tensors, MSE summed over the two outputs, checkpoints as ``torch.save``
    dicts ``{"model_state", "learning_rate", "epoch"}``."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def batch(self, positions: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.from_numpy(positions)
        return self.x[index], self.y[index]

    def loss(self, model, outputs, targets):
        return ((outputs - targets) ** 2).sum(1)

    def identity(self) -> dict:
        return tensor_identity(self.x, self.y)

    def read_checkpoint(self, path: Path) -> dict:
        return torch.load(path, weights_only=False)

    def load_model(self, path, device: str = "cpu") -> nn.Module:
        model = _model()
        model.load_state_dict(torch.load(path, weights_only=False)["model_state"])
        return model.to(device).eval()


def _load(model: nn.Module, path: str) -> float:
    """Captum's checkpoints_load_func: weights in, learning rate out."""
    state = torch.load(path, weights_only=False)
    model.load_state_dict(state["model_state"])
    return state["learning_rate"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """Three epochs of plain SGD on a noisy linear truth, one checkpoint per epoch."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(N_TRAIN + N_TEST, 4, generator=generator)
    y = x @ torch.randn(4, 2, generator=generator) + 0.1 * torch.randn(len(x), 2,
                                                                       generator=generator)
    torch.manual_seed(1)
    model = _model()
    out = tmp_path_factory.mktemp("foreign")
    paths = []
    for epoch, rate in enumerate((0.05, 0.03, 0.01), start=1):
        optimiser = torch.optim.SGD(model.parameters(), lr=rate)
        for start in range(0, N_TRAIN, 20):
            optimiser.zero_grad()
            nn.functional.mse_loss(model(x[start:start + 20]), y[start:start + 20]).backward()
            optimiser.step()
        path = out / f"epoch_{epoch:03d}.pt"
        torch.save({"model_state": model.state_dict(), "learning_rate": rate, "epoch": epoch},
                   path)
        paths.append(path)
    return {"paths": paths, "out": out, "train": Regression(x[:N_TRAIN], y[:N_TRAIN]),
            "test": Regression(x[N_TRAIN:], y[N_TRAIN:])}


def test_last_layer_equals_captum_tracincpfast(trained):
    from captum.influence import TracInCPFast

    train, test = trained["train"], trained["test"]
    store = TracInStore.build(trained["paths"], train, trained["out"] / "last-layer", layer="2")
    assert not store.has_bias and store.epochs == [1, 2, 3]
    ours = store.scores(test)
    model = _model()
    reference = TracInCPFast(model, model[2], TensorDataset(train.x, train.y),
                             [str(p) for p in trained["paths"]], _load,
                             loss_fn=nn.MSELoss(reduction="sum"), batch_size=32
                             ).influence((test.x, test.y)).numpy()
    assert np.abs(reference).max() > 0
    assert np.abs(ours - reference).max() <= 1e-5 * np.abs(reference).max()
    # top-k and self-influence from the same store
    top = store.influence(test, k=5)
    np.testing.assert_array_equal(top.proponent_ids[0],
                                  np.lexsort((np.arange(N_TRAIN), -ours[0]))[:5])
    np.testing.assert_allclose(store.self_influence()[:10],
                               np.diag(store.scores(train, np.arange(10))), rtol=1e-5)


def test_full_variant_equals_captum_tracincp(trained):
    from captum.influence import TracInCP

    train, test = trained["train"], trained["test"]
    store = TracInStore.build(trained["paths"], train, trained["out"] / "full", variant="full",
                              projection_dim=0)
    assert store.manifest["n_parameters"] == sum(p.numel() for p in _model().parameters())
    model = _model()
    reference = TracInCP(model, TensorDataset(train.x, train.y),
                         [str(p) for p in trained["paths"]], _load,
                         loss_fn=lambda out, t: ((out - t) ** 2).sum(1), batch_size=N_TRAIN,
                         sample_wise_grads_per_batch=False).influence((test.x, test.y)).numpy()
    ours = store.scores(test)
    assert np.abs(ours - reference).max() <= 1e-4 * np.abs(reference).max()


def test_one_line_refusals(trained, tmp_path):
    train = trained["train"]
    with pytest.raises(HepxaiError, match="no final Linear layer") as excinfo:
        TracInStore.build(trained["paths"], train, tmp_path / "a")  # no 'head', no layer=
    assert "\n" not in str(excinfo.value)
    with pytest.raises(HepxaiError, match="not a Linear layer"):
        TracInStore.build(trained["paths"], train, tmp_path / "b", layer="1")  # the Tanh

    class Graphs(Regression):
        fixed_shape = False

    with pytest.raises(HepxaiError, match="fixed-shape tensors.*last-layer variant"):
        TracInStore.build(trained["paths"], Graphs(train.x, train.y), tmp_path / "c",
                          variant="full")
    # a store of other examples is never reused, and verifying with the source says so
    store = TracInStore.build(trained["paths"], train, tmp_path / "d", layer="2")
    other = Regression(train.x + 1, train.y)
    with pytest.raises(HepxaiError, match="--overwrite"):
        TracInStore.build(trained["paths"], other, tmp_path / "d", layer="2")
    with pytest.raises(HepxaiError, match="other training examples"):
        TracInStore.open(store.directory, source=other)


class PositiveFeatures(Regression):
    """A final layer fed by sigmoids: every h . h' > 0, so the sign of a last-layer score
    (g . g')(h . h') is the sign of the product of the two residuals."""

    @staticmethod
    def model() -> nn.Sequential:
        torch.manual_seed(2)
        return nn.Sequential(nn.Linear(4, 16), nn.Sigmoid(), nn.Linear(16, 2, bias=False))

    def load_model(self, path, device: str = "cpu") -> nn.Module:
        model = self.model()
        model.load_state_dict(torch.load(path, weights_only=False)["model_state"])
        return model.to(device).eval()


def test_only_signed_scores_are_proponents_and_opponents(tmp_path):
    """Training targets above the prediction except rows 3, 50, 77: a test target above its
    prediction has exactly those three opponents (10 asked for), one below it exactly those
    three proponents; the rest of each row is id -1 / NaN, and the counts say 3 of 120."""
    model = PositiveFeatures.model()
    path = tmp_path / "epoch_001.pt"
    torch.save({"model_state": model.state_dict(), "learning_rate": 0.1, "epoch": 1}, path)
    x = torch.randn(N_TRAIN + 2, 4, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        predicted = model(x)
    below = np.array([3, 50, 77])
    shift = torch.full((N_TRAIN + 2, 1), 5.0)
    shift[below] = -5.0
    shift[N_TRAIN + 1] = -5.0  # the second test example: target below its prediction
    y = predicted + shift
    store = TracInStore.build([path], PositiveFeatures(x[:N_TRAIN], y[:N_TRAIN]), tmp_path / "s",
                              layer="2")
    test = PositiveFeatures(x[N_TRAIN:], y[N_TRAIN:])
    result = store.influence(test, k=10)
    scores = store.scores(test)
    assert (np.flatnonzero(scores[0] < 0) == below).all()
    assert (np.flatnonzero(scores[1] > 0) == below).all()
    assert result.n_opponents.tolist() == [3, 117] and result.n_proponents.tolist() == [117, 3]
    for few, many in ((result.opponents(0), result.proponents(0)),
                      (result.proponents(1), result.opponents(1))):
        assert sorted(few[0].tolist()) == below.tolist() and many[0].size == 10
        assert (np.diff(np.abs(few[1])) <= 0).all()  # strongest first
    assert (result.opponents(0)[1] < 0).all() and (result.proponents(1)[1] > 0).all()
    assert (result.opponent_ids[0, 3:] == -1).all() and (result.proponent_ids[1, 3:] == -1).all()
    assert np.isnan(result.opponent_scores[0, 3:]).all()
    assert result.describe_top(0, "events")[1].endswith("[3 training events score < 0]")
    loaded = type(result).load(result.save(tmp_path / "q.npz"))
    assert loaded.n_opponents.tolist() == [3, 117]
    np.testing.assert_array_equal(loaded.opponent_ids, result.opponent_ids)
