"""Soft decision trees (Frosst & Hinton) and the thesis' convolutional soft decision tree.

A tree of depth d has ``2^d - 1`` inner nodes in breadth-first order (node n has children
``2n + 1`` (left) and ``2n + 2`` (right)) and ``2^d`` leaves. Inner node n sends an event left
with probability ``sigmoid(w_n . x + b_n)``; a leaf's reach probability is the product of the
branch probabilities on its path; the prediction is ``sum_leaf P_leaf * value_leaf``. The leaf
probabilities are built level by level (d tensor operations), never node by node.
"""

from __future__ import annotations

import torch
from torch import nn

from hepxai.usecases.muon.models.base import MuonRegressor, TrainingRecipe
from hepxai.usecases.muon.models.cnn import FastConvBody, conv_bn_relu


class SoftDecisionTree(nn.Module):
    """Inner layer ``Linear(in, 2^d - 1)`` + sigmoid, leaf layer ``Linear(2^d, out, bias=False)``.

    ``hard=True`` routes every event down the more likely branch at each node (a neural decision
    tree with hard routing): exactly one leaf has probability 1. ``leaf_scale``: the standard
    deviation of each output's initial leaf values (default 1, the thesis' N(0, 1)).
    """

    def __init__(self, in_features: int, depth: int = 5, out_features: int = 2,
                 hard: bool = False, leaf_scale: tuple[float, ...] | None = None):
        super().__init__()
        self.depth = depth
        self.hard = hard
        self.inner = nn.Linear(in_features, 2**depth - 1)
        self.leaves = nn.Linear(2**depth, out_features, bias=False)
        nn.init.normal_(self.leaves.weight)  # as the thesis: leaf values start N(0, 1)
        if leaf_scale is not None:
            with torch.no_grad():
                self.leaves.weight.mul_(torch.tensor(leaf_scale).view(-1, 1))

    @property
    def n_leaves(self) -> int:
        return 2**self.depth

    def branch_probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """``(b, 2^d - 1)``: probability of going *left* at every inner node."""
        p = torch.sigmoid(self.inner(x))
        if self.hard:
            # straight-through: hard decisions forward, the sigmoid's gradient backward
            p = p + ((p > 0.5).to(p.dtype) - p).detach()
        return p

    def leaf_probabilities(self, branch: torch.Tensor) -> torch.Tensor:
        """``(b, 2^d)`` reach probability of every leaf (left to right), rows sum to 1."""
        reach = branch.new_ones(branch.shape[0], 1)
        for level in range(self.depth):
            p = branch[:, 2**level - 1:2**(level + 1) - 1]  # the 2^level nodes of this level
            reach = torch.stack([reach * p, reach * (1.0 - p)], dim=2).flatten(1)
        return reach

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.leaves(self.leaf_probabilities(self.branch_probabilities(x)))


def leaf_scale(recipe: TrainingRecipe) -> tuple[float, float]:
    """Initial spread of the leaves in the encoded space: N(0, 1) in z-scored units, as the
    thesis, so the |eta| column starts at the recipe's ``eta_weight``.

    Leaves started at N(0, 1) in the encoded space would be 1 / eta_weight z-units wide in
    |eta|, and Adam moves each leaf by about the learning rate a step whatever the gradient's
    size, so they stay there: at weight 0.1 the fast ConvSDT's leaves ended at |eta| from -3.4 to
    5.4 (a mixture of them still predicts well, but the decision flow shows every leaf's value);
    started in z-units, from -1.1 to 2.4 (``make bench-models``); what remains comes from the
    |eta| leaves taking 1/weight times larger Adam steps in z-units than the pT leaves. The
    preset's weight sets this start; ``--eta-weight`` at training time does not re-draw it.
    """
    return 1.0, recipe.eta_weight


class PaperSDTBody(nn.Module):
    """Thesis ConvSDT stack: Conv 64, 32, 16 (3x3, pad 1), each BN-ReLU-MaxPool 2 -> 768
    (ReLU and pooling in the cheaper, equivalent order of :func:`conv_bn_relu`)."""

    out_features = 16 * 1 * 48

    def __init__(self) -> None:
        super().__init__()
        self.early = nn.Sequential(*conv_bn_relu(1, 64, 3, pool=2, bias=True),
                                   *conv_bn_relu(64, 32, 3, pool=2, bias=True))
        self.last = nn.Sequential(*conv_bn_relu(32, 16, 3, bias=True))
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.last(self.early(x))).flatten(1)


class FastSDTBody(nn.Module):
    """The fast CNN body followed by GAP: 64 features for the tree."""

    out_features = FastConvBody.out_channels

    def __init__(self) -> None:
        super().__init__()
        self.conv = FastConvBody()

    @property
    def last(self) -> nn.Module:
        return self.conv.last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).mean(dim=(2, 3))


class ConvSDT(MuonRegressor):
    """Convolutional stack -> flattened features -> soft decision tree of depth 5 (47,855
    parameters in the ``paper`` preset). Trained on z-scored targets, as in the thesis."""

    name = "convsdt"
    RECIPES = {
        "paper": TrainingRecipe(optimizer="adam", learning_rate=1e-3, batch_size=64, epochs=5,
                                normalise_targets=True, channels_last=True),
        "fast": TrainingRecipe(optimizer="adam", learning_rate=2e-3, batch_size=64, epochs=3,
                               normalise_targets=True, schedule="onecycle", channels_last=True,
                               eta_weight=0.1),
    }
    BODIES = {"paper": PaperSDTBody, "fast": FastSDTBody}

    def __init__(self, preset: str = "fast", depth: int = 5):
        super().__init__(preset, self.RECIPES[preset])
        self.body = self.BODIES[preset]()
        self.soft_tree = SoftDecisionTree(self.body.out_features, depth,
                                          leaf_scale=leaf_scale(self.recipe))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The tree's input ``(b, n_features)``."""
        return self.body(x)

    def forward_encoded(self, x: torch.Tensor) -> torch.Tensor:
        return self.soft_tree(self.features(x))

    @property
    def last_conv(self) -> nn.Module:
        return self.body.last

    @property
    def head(self) -> nn.Module:
        return self.soft_tree.leaves

    @property
    def tree(self) -> SoftDecisionTree:
        return self.soft_tree


class FlatSDT(MuonRegressor):
    """Soft decision tree (or an averaged ensemble of them) on the flattened 3,456-pixel image.

    The thesis' table 7.1 baselines: ``SDT`` (1 tree), ``SDT ensemble`` (6), ``big ensemble``
    (15); ``hard=True`` gives the neural decision tree with hard routing.
    """

    name = "flat-sdt"
    RECIPES = {
        "paper": TrainingRecipe(optimizer="adam", learning_rate=1e-3, batch_size=64, epochs=5,
                                normalise_targets=True),
        "fast": TrainingRecipe(optimizer="adam", learning_rate=3e-3, batch_size=256, epochs=2,
                               normalise_targets=True, schedule="onecycle"),
    }

    def __init__(self, preset: str = "fast", n_trees: int = 1, depth: int = 5,
                 hard: bool = False):
        super().__init__(preset, self.RECIPES[preset])
        self.n_trees = n_trees
        self.trees = nn.ModuleList(SoftDecisionTree(9 * 384, depth, hard=hard,
                                                    leaf_scale=leaf_scale(self.recipe))
                                   for _ in range(n_trees))

    def forward_encoded(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        return torch.stack([t(flat) for t in self.trees]).mean(0)

    @property
    def head(self) -> nn.Module:
        return self.trees[0].leaves

    @property
    def tree(self) -> SoftDecisionTree | None:
        return self.trees[0] if self.n_trees == 1 else None
