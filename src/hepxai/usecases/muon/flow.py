"""Decision flow of the soft decision trees (ConvSDT, distilled ConvSDT, flat SDT).

The tree is interpretable by construction: the prediction is a probability-weighted sum of 32
leaf values, and the probabilities come from 31 sigmoid decisions on the (convolutional)
features. This module reads all of that out for many events at once (one forward pass) and
maps each inner node's decision back onto the input pixels (gradient x input of the node's
logit), as thesis figure 7.6 shows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from hepxai.core.errors import HepxaiError
from hepxai.explain.types import TreePath
from hepxai.models.inference import inference_copy
from hepxai.usecases.muon.models.base import OUTPUTS, MuonRegressor
from hepxai.usecases.muon.models.soft_tree import SoftDecisionTree


def soft_tree_of(model: object) -> SoftDecisionTree:
    """The model's soft tree, or a one-line error naming what the decision flow needs."""
    tree = getattr(model, "tree", None)
    if not isinstance(tree, SoftDecisionTree):
        name = getattr(model, "name", type(model).__name__)
        raise HepxaiError(f"the decision flow needs a single soft decision tree; {name} has "
                          "none (use convsdt, a distilled convsdt or sdt)")
    return tree


def tree_input(model: MuonRegressor, x: torch.Tensor) -> torch.Tensor:
    """The features the tree decides on: the conv stack's output, or the flattened image."""
    features = getattr(model, "features", None)
    return features(x) if callable(features) else x.flatten(1)


class DecisionFlow:
    """``DecisionFlow(model).explain(images, relevance=False) -> TreePath``.

    ``fused``: the tree's features come from an inference copy of the conv stack (BatchNorm
    folded into the convolutions, channels-last; the same function to float rounding, about 2x
    faster on CPU); node relevance always differentiates the model itself.
    """

    batch_size = 256  # larger batches of full-resolution feature maps fall out of the CPU caches

    def __init__(self, model: MuonRegressor, targets: Sequence[str] | None = None,
                 batch_size: int | None = None, fused: bool = True):
        self.tree = soft_tree_of(model)
        self.model = model.eval()
        self.batch_size = batch_size or self.batch_size
        body = getattr(model, "body", None)
        self.features = inference_copy(body) if fused and body is not None else \
            (lambda x: tree_input(self.model, x))

    def leaf_values(self) -> np.ndarray:
        """``(2^d, 2)`` the leaves' predictions in physical units (the decoding is affine, so
        decoding each leaf and mixing equals mixing and decoding)."""
        with torch.no_grad():
            return self.model.decode_outputs(self.tree.leaves.weight.T).double().numpy()

    def explain(self, images: torch.Tensor | np.ndarray, event_ids: np.ndarray | None = None,
                relevance: bool = False) -> TreePath:
        from hepxai.usecases.muon.study import HIT_MAPS

        x = HIT_MAPS.prepare(images).x
        branch, leaves, outputs, maps = [], [], [], []
        size = self.batch_size if not relevance else 16
        for part in (slice(s, s + size) for s in range(0, len(x), size)):
            with torch.no_grad():
                p = self.tree.branch_probabilities(self.features(x[part]))
                reach = self.tree.leaf_probabilities(p)
                branch.append(p.double().numpy())
                leaves.append(reach.double().numpy())
                # the model's output is the tree's leaf mixture, decoded: no second forward pass
                outputs.append(self.model.decode_outputs(self.tree.leaves(reach)).double().numpy())
            if relevance:
                maps.append(self.node_relevance(x[part]))
        return TreePath(np.concatenate(branch), np.concatenate(leaves), self.leaf_values(),
                        np.concatenate(outputs), OUTPUTS,
                        np.concatenate(maps) if relevance else None, event_ids,
                        {"model": self.model.name, "preset": self.model.preset})

    def node_relevance(self, x: torch.Tensor) -> np.ndarray:
        """``(b, 2^d - 1, 9, 384)``: gradient x input of every inner node's logit, signed
        (positive pixels push the event *left*)."""
        x = x.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            logits = self.tree.inner(tree_input(self.model, x))  # (b, nodes)
            n_nodes = logits.shape[1]
            # all nodes in one batched backward: grad_outputs is one basis vector per node
            basis = torch.eye(n_nodes).unsqueeze(1).expand(n_nodes, len(x), n_nodes)
            grads = torch.autograd.grad(logits, x, grad_outputs=basis, is_grads_batched=True)[0]
        return (grads * x.detach()).transpose(0, 1)[:, :, 0].numpy()


def plain_language(path: TreePath, i: int, truth: Sequence[float] | None = None,
                   muon_focus: float | None = None) -> str:
    """A summary of event ``i``'s decision for non-experts.

    ``muon_focus``: optional share of the path nodes' relevance that lies on the muon's hits.
    """
    p = path.leaf_probabilities[i]
    order = np.argsort(p)[::-1]
    best, second = int(order[0]), int(order[1])
    nodes = "-".join(str(int(n)) for n in path.root_path(np.array([best]))[0])
    value, runner = path.leaf_values[best], path.leaf_values[second]
    out = path.outputs[i]
    pull = "down" if out[0] < value[0] else "up"
    text = (f"{p[best]:.0%} of the decision follows path {nodes} to leaf {best} "
            f"(pT {value[0]:.1f} GeV, eta {value[1]:.2f}); the next leaf ({p[second]:.0%}) "
            f"predicts {runner[0]:.1f} GeV and, with the other leaves, pulls the result "
            f"{pull} to {out[0]:.1f} GeV")
    if truth is not None:
        text += f" (true pT {truth[0]:.1f} GeV, eta {truth[1]:.2f})"
    if muon_focus is not None:
        where = "the pixels of the muon track" if muon_focus >= 0.5 else "mostly noise hits"
        text += f"; the nodes on that path respond to {where} ({muon_focus:.0%} of their " \
                "relevance is on muon hits)"
    confidence = p[best]
    if confidence < 0.3:
        text += ". The tree is unsure here: no leaf gets even a third of the probability"
    return text + "."
