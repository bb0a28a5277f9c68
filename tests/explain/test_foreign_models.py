"""Every explainer on models that are not hepxai's: a plain nn.Sequential CNN on 2 x 16 x 64
images, an MLP on a table, a GCNConv graph classifier from PyG's own layers. The applicable
methods run and equal Captum / PyG where those compute the same thing; ``supports()`` (and the
modality check) refuse the others with one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients as CaptumIG
from captum.attr import Saliency as CaptumSaliency
from torch import nn

from hepxai.core.errors import HepxaiError
from hepxai.explain import (
    BinaryPathIG,
    GNNExplainer,
    GradientShap,
    Graph,
    Image,
    IntegratedGradients,
    RegressionActivationMap,
    Saliency,
    SmoothGrad,
    Table,
    TreeShap,
    applicable,
    gaussian,
    salt_and_pepper,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def _one_line(error: pytest.ExceptionInfo) -> str:
    text = str(error.value)
    assert "\n" not in text and text
    return text


# -- images -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), nn.Tanh(), nn.Conv2d(6, 8, 3, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3)).eval()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.rand(4, 2, 16, 64, generator=torch.Generator().manual_seed(1))


def test_image_saliency_and_ig_equal_captum(cnn, images):
    ours = Saliency(cnn, fused=False).attribute(images, target=2)
    assert ours.values.shape == (4, 2, 16, 64) and not ours.target_axis
    ref = CaptumSaliency(cnn).attribute(images, target=2).numpy()
    assert _relative(ours.values, ref) < 1e-5
    ig = IntegratedGradients(cnn, n_steps=16, fused=False).attribute(images, target=[0, 2])
    assert ig.values.shape == (4, 2, 2, 16, 64) and ig.targets == ("0", "2")
    for column, t in ((0, 0), (1, 2)):
        ref = CaptumIG(cnn).attribute(images, baselines=torch.zeros_like(images), target=t,
                                      n_steps=16, method="gausslegendre").numpy()
        assert _relative(ig.values[:, column], ref) < 1e-5


def test_image_methods_run_and_keep_their_properties(cnn, images):
    binary = (images > 0.9).float()
    exact = BinaryPathIG(cnn, mode="exact").attribute(binary, target=1)
    assert exact.values.shape == binary.shape
    assert np.abs(exact.completeness_error()).max() <= 1e-4 * np.abs(exact.outputs).max()
    assert (exact.values[binary.numpy() == 0] == 0).all()  # only lit pixels carry relevance
    cam = RegressionActivationMap(cnn, layer=cnn[3]).attribute(images, target=0)
    assert cam.params["form"] == "cam" and cam.values.shape == (4, 1, 16, 64)
    assert cam.completeness_error().max() <= 1e-4 * np.abs(cam.outputs).max()
    smooth = SmoothGrad(Saliency(cnn), noise=gaussian(0.0), n_samples=3).attribute(images,
                                                                                   target=0)
    np.testing.assert_allclose(smooth.values, Saliency(cnn).attribute(images, target=0).values,
                               rtol=1e-6)
    noisy = SmoothGrad(BinaryPathIG(cnn, mode="thesis"), noise=salt_and_pepper(0.05),
                       n_samples=4).attribute(binary, target=0)
    assert noisy.values.shape == binary.shape and np.isfinite(noisy.values).all()
    shap = GradientShap(cnn, n_samples=8).attribute(images, target=0, baselines=torch.rand(
        10, 2, 16, 64))
    assert shap.values.shape == images.shape and shap.baseline_outputs is not None


def test_image_model_refusals_are_one_line(cnn, images):
    reasons = applicable(cnn, Image())
    assert reasons["saliency"] is None and reasons["ig"] is None
    assert "convolution layer" in reasons["ram"]  # no declared last_conv: pass layer=
    for name in ("tree-shap", "gnnexplainer"):
        assert reasons[name] and "\n" not in reasons[name]
    with pytest.raises(HepxaiError) as error:
        TreeShap(cnn)
    assert "XGBoost tree ensemble" in _one_line(error)
    with pytest.raises(HepxaiError) as error:
        GNNExplainer(cnn)
    assert "message" in _one_line(error)
    with pytest.raises(HepxaiError) as error:
        BinaryPathIG(cnn).attribute(images)  # not binary
    assert "binary" in _one_line(error)
    with pytest.raises(HepxaiError) as error:
        Saliency(cnn).attribute(images)  # three outputs, no target
    assert "target" in _one_line(error)


# -- tables -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mlp() -> nn.Module:
    torch.manual_seed(2)
    return nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(),
                         nn.Linear(16, 2)).eval()


@pytest.fixture(scope="module")
def table() -> torch.Tensor:
    return torch.randn(6, 5, generator=torch.Generator().manual_seed(3)) * 3 + 1


def test_table_saliency_and_ig_equal_captum(mlp, table):
    names = ("met", "mt", "ht", "njet", "mbb")
    modality = Table(feature_names=names)
    mean = table.mean(0)
    ig = IntegratedGradients(mlp, n_steps=32, modality=modality).attribute(
        table, target=1, baselines=mean)
    assert ig.item_names == names and ig.kind == "feature"
    ref = CaptumIG(mlp).attribute(table, baselines=mean.expand_as(table), target=1, n_steps=32,
                                  method="gausslegendre").numpy()
    assert _relative(ig.values, ref) < 1e-5
    np.testing.assert_allclose(ig.baseline_outputs[:, 0],
                               mlp(mean.expand_as(table))[:, 1].detach().numpy(), rtol=1e-6)
    ours = Saliency(mlp, modality=modality).attribute(table, target=0)
    assert _relative(ours.values, CaptumSaliency(mlp).attribute(table, target=0).numpy()) < 1e-5


def test_table_refusals_are_one_line(mlp, table):
    reasons = applicable(mlp, Table())
    assert reasons["ig"] is None and reasons["gradient-shap"] is None
    for name in ("ram", "tree-shap", "gnnexplainer", "ig-binary"):
        assert reasons[name] and "\n" not in reasons[name], name
    with pytest.raises(HepxaiError) as error:
        RegressionActivationMap(mlp)
    assert "convolution layer" in _one_line(error)
    with pytest.raises(HepxaiError) as error:
        IntegratedGradients(mlp).attribute(table[:, :3], target=0)  # 3 features, not 5
    assert "cannot run" in _one_line(error)
    with pytest.raises(HepxaiError) as error:
        Saliency(mlp, modality=Table()).attribute(torch.full((2, 5), float("nan")), target=0)
    assert "NaN" in _one_line(error)


# -- graphs -----------------------------------------------------------------------------------
class GCNClassifier(nn.Module):
    """A two-class graph classifier from PyG's own layers, ``forward(x, edge_index, batch)``."""

    def __init__(self) -> None:
        super().__init__()
        from torch_geometric.nn import GCNConv

        self.conv1, self.conv2 = GCNConv(3, 16), GCNConv(16, 16)
        self.out = nn.Linear(16, 2)

    def forward(self, x, edge_index, batch=None):
        from torch_geometric.nn import global_mean_pool

        h = torch.relu(self.conv1(x, edge_index))
        h = torch.relu(self.conv2(h, edge_index))
        return self.out(global_mean_pool(h, batch))


@pytest.fixture(scope="module")
def gcn() -> nn.Module:
    torch.manual_seed(4)
    return GCNClassifier().eval()


@pytest.fixture(scope="module")
def graphs():
    from torch_geometric.data import Batch, Data
    from torch_geometric.utils import to_undirected

    g = torch.Generator().manual_seed(5)
    data = []
    for n in (5, 8, 6):
        edges = torch.stack([torch.arange(n - 1), torch.arange(1, n)])
        extra = torch.randint(0, n, (2, 3), generator=g)
        edge_index = to_undirected(torch.cat([edges, extra[:, extra[0] != extra[1]]], 1))
        data.append(Data(x=torch.randn(n, 3, generator=g), edge_index=edge_index))
    return Batch.from_data_list(data)


def test_graph_saliency_equals_pyg_explainer(gcn, graphs):
    from torch_geometric.explain import Explainer
    from torch_geometric.explain.algorithm import CaptumExplainer

    ours = Saliency(gcn, fused=False).attribute(graphs, target=1)
    assert ours.kind == "node" and ours.values.shape == (graphs.num_nodes, 3)
    assert ours.edges.values.shape == (graphs.num_edges,)
    explainer = Explainer(model=gcn, algorithm=CaptumExplainer("Saliency"),
                          explanation_type="model", node_mask_type="attributes",
                          edge_mask_type="object",
                          model_config={"mode": "regression", "task_level": "graph",
                                        "return_type": "raw"}, )
    for k in range(graphs.num_graphs):
        data = graphs.get_example(k)
        # PyG explains the model's (only) output: give it the explained column
        column = _ColumnModel(gcn, 1)
        explanation = Explainer(model=column, algorithm=CaptumExplainer("Saliency"),
                                explanation_type="model", node_mask_type="attributes",
                                edge_mask_type="object", model_config=explainer.model_config)(
            data.x, data.edge_index, batch=torch.zeros(data.num_nodes, dtype=torch.long))
        np.testing.assert_allclose(ours.event(k), explanation.node_mask.numpy(), rtol=1e-5,
                                   atol=1e-7)
        np.testing.assert_allclose(ours.edges.event(k), explanation.edge_mask.numpy(),
                                   rtol=1e-5, atol=1e-7)
    # the item relevance is the maximum over a node's features
    np.testing.assert_allclose(ours.items(), np.abs(ours.values).max(1))


class _ColumnModel(nn.Module):
    def __init__(self, model: nn.Module, column: int):
        super().__init__()
        self.model, self.column = model, column

    def forward(self, x, edge_index, batch=None):
        return self.model(x, edge_index, batch)[:, self.column]


def test_graph_ig_equals_captum_and_is_complete(gcn, graphs):
    ours = IntegratedGradients(gcn, n_steps=64, fused=False).attribute(graphs, target=0)
    x = graphs.x.clone()

    def summed(z):  # every node's gradient only involves its own graph: one Captum example
        return gcn(z.view(-1, 3), graphs.edge_index, graphs.batch)[:, 0].sum().view(1)

    ref = CaptumIG(summed).attribute(x.view(1, -1), baselines=torch.zeros(1, x.numel()),
                                     n_steps=64, method="gausslegendre",
                                     internal_batch_size=1).view(-1, 3).numpy()
    assert _relative(ours.values, ref) < 1e-5
    change = np.abs(ours.outputs - ours.baseline_outputs)
    assert np.median(ours.completeness_error() / change) < 0.02
    edge_change = np.abs(ours.edges.outputs - ours.edges.baseline_outputs)
    assert np.median(ours.edges.completeness_error() / edge_change) < 0.02


def test_graph_methods_run_and_refusals(gcn, graphs):
    masks = GNNExplainer(gcn, epochs=20).attribute(graphs, target=1)
    assert masks.values.shape == (graphs.num_nodes, 1) and masks.edges is not None
    assert ((masks.values >= 0) & (masks.values <= 1)).all()
    smooth = SmoothGrad(Saliency(gcn), noise=gaussian(0.0), n_samples=3).attribute(graphs,
                                                                                   target=0)
    np.testing.assert_allclose(smooth.values, Saliency(gcn).attribute(graphs, target=0).values,
                               rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(smooth.edges.values,
                               Saliency(gcn).attribute(graphs, target=0).edges.values,
                               rtol=1e-5, atol=1e-8)
    reasons = applicable(gcn, Graph())
    assert reasons["saliency"] is None and reasons["ig"] is None
    assert reasons["gnnexplainer"] is None
    for name in ("ram", "tree-shap", "ig-binary", "gradient-shap"):
        assert reasons[name] and "\n" not in reasons[name], name
    with pytest.raises(HepxaiError) as error:
        GradientShap(gcn).attribute(graphs, target=0, baselines=graphs.x)
    assert "graph" in _one_line(error)
