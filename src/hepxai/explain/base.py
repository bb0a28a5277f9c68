"""The base of every attribution method: Captum's calling convention on any model.

``Method(model, **hyper_params).attribute(inputs, target=..., baselines=...,
additional_forward_args=...)`` returns an :class:`~hepxai.explain.types.Attribution` whose
values have the inputs' shape ``(n, *input_shape)`` for one target, and a target axis
``(n, n_targets, *input_shape)`` for a list of targets. ``model`` is any ``torch.nn.Module`` or
forward callable (a tree ensemble for TreeSHAP); which inputs it reads is a
:mod:`~hepxai.explain.modality` (image, table, graph), inferred from the inputs or given.

A method declares what it supports (:meth:`Explainer.supports` returns ``None`` or the one-line
reason it does not apply, as PyG's ``ExplainerAlgorithm.supports``) and its properties
(``complete``: the values add up to ``outputs - baseline_outputs``; ``reduction``: how an item's
relevance is made from its channels or node features). Subclasses implement only
:meth:`Explainer._attribute` on one chunk of examples; batching, targets, ids, validation and
the assembly of the result are here.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from hepxai.core.errors import HepxaiError
from hepxai.explain.modality import Batch, Modality, modality_of
from hepxai.explain.types import Attribution

Target = int | str | None | Sequence[int | str]


@dataclass
class Targets:
    """The explained output columns, their names, and whether a target axis was asked for."""

    columns: list[int]
    names: tuple[str, ...]
    axis: bool


@dataclass
class Parts:
    """What :meth:`Explainer._attribute` returns for one chunk (targets always on axis 1).

    values ``(rows, T, *shape)``; outputs / baseline_outputs ``(n, T)``; graphs: edge values
    ``(n_edges, T)`` and the edge path's outputs; ``params`` found while explaining (e.g. the
    CAM form)."""

    values: torch.Tensor | np.ndarray
    outputs: torch.Tensor | np.ndarray | None = None
    baseline_outputs: torch.Tensor | np.ndarray | None = None
    edges: torch.Tensor | np.ndarray | None = None
    edge_outputs: torch.Tensor | np.ndarray | None = None
    edge_baseline_outputs: torch.Tensor | np.ndarray | None = None
    params: dict[str, Any] | None = None


def _numpy(value: Any, dtype=np.float32) -> np.ndarray | None:
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=dtype)


class Explainer:
    """Base class: ``Method(model, modality=None, output_names=None, batch_size=None,
    fused=True, **hyper_params)``.

    Args:
        model: a ``torch.nn.Module`` or a differentiable forward callable.
        modality: :class:`~hepxai.explain.modality.Image`, ``Table`` or ``Graph``; default:
            inferred from the inputs of each call.
        output_names: names of the model's output columns (targets may be given by name);
            default: the model's ``outputs`` attribute when it declares one.
        batch_size: examples per pass (each may become many path points or noisy copies).
        fused: run the model through an eval-mode copy with BatchNorm folded into the
            convolutions (:func:`hepxai.models.inference.inference_copy`): the same function
            to float rounding, ~3x faster on the muon CNNs; ``False`` uses the model itself (in
            eval mode), for bit-level comparisons with reference libraries. Graph networks
            always run as they are (PyG's edge masks need their message passing).
    """

    name: ClassVar[str] = ""
    complete: ClassVar[bool] = False
    reduction: ClassVar[str] = "sum"
    modalities: ClassVar[tuple[str, ...]] = ("image", "table", "graph")
    default_batch_size: ClassVar[int] = 64

    def __init__(self, model: Any, *, modality: Modality | None = None,
                 output_names: Sequence[str] | None = None, batch_size: int | None = None,
                 fused: bool = True):
        reason = self._support_reason(model)
        if reason is not None:
            raise HepxaiError(f"{self.name}: {reason}")
        if batch_size is not None and batch_size < 1:
            raise HepxaiError(f"batch_size must be at least 1, got {batch_size}")
        self.model = model
        self.modality = modality
        names = output_names if output_names is not None else getattr(model, "outputs", None)
        self.output_names = None if names is None else tuple(str(n) for n in names)
        self.batch_size = int(batch_size or self.default_batch_size)
        self.fused = fused
        self._runner: Any = None
        self.params: dict[str, Any] = {}

    # -- capabilities ---------------------------------------------------------------------
    @classmethod
    def supports(cls, model: Any) -> str | None:
        """``None`` when the method applies to ``model``, else the one-line reason."""
        if isinstance(model, nn.Module) or callable(model):
            return None
        return (f"needs a torch model or a differentiable forward function, got a "
                f"{type(model).__name__}")

    def _support_reason(self, model: Any) -> str | None:
        """:meth:`supports` with this instance's settings (e.g. RAM's layer)."""
        return type(self).supports(model)

    @property
    def runner(self) -> Any:
        """What the forward passes run: the fused inference copy, or the model in eval mode."""
        if self._runner is None:
            if isinstance(self.model, nn.Module):
                # PyG's edge masks live in MessagePassing.propagate, which tracing would inline
                if self.fused and not has_message_passing(self.model):
                    from hepxai.models.inference import inference_copy

                    self._runner = inference_copy(self.model)
                else:
                    self._runner = self.model  # put in eval mode for each call
            else:
                self._runner = self.model
        return self._runner

    # -- the call ---------------------------------------------------------------------------
    def attribute(self, inputs: Any, *, target: Target = None, baselines: Any = None,
                  additional_forward_args: Any = (), ids: Sequence[int] | None = None
                  ) -> Attribution:
        """Attributions of ``inputs`` for ``target``.

        Args:
            inputs: images ``(n, C, H, W)``, a table ``(n, F)`` or PyG graphs.
            target: the output column(s) explained: an index or a name (one target: values
                in the inputs' shape), a list of them (a target axis after the examples), or
                ``None`` for a model with one output per example.
            baselines: the reference input of path methods (default: zeros), or the reference
                sample of GradientSHAP.
            additional_forward_args: extra arguments of the model's forward (dense inputs);
                per-example tensors (``n`` rows) follow their examples.
            ids: one id per example (default ``0..n-1``): recorded, and the seed of every
                random draw of that example, so an example's explanation does not depend on
                the others in its batch.
        """
        # the model is explained in eval mode and left in the mode it was found in
        model = self.model if isinstance(self.model, nn.Module) else None
        training = model.training if model is not None else False
        if model is not None:
            model.eval()
        try:
            return self._attribute_all(inputs, target, baselines, additional_forward_args, ids)
        finally:
            if model is not None:
                model.train(training)

    def _attribute_all(self, inputs: Any, target: Target, baselines: Any,
                       additional_forward_args: Any, ids: Sequence[int] | None) -> Attribution:
        modality = self.modality or modality_of(inputs)
        if modality.name not in self.modalities:
            raise HepxaiError(f"{self.name} explains {' or '.join(self.modalities)} inputs, "
                              f"not {modality.name}s")
        batch = modality.prepare(inputs, additional_forward_args)
        event_ids = np.arange(batch.n) if ids is None else np.asarray(ids, np.int64)
        if event_ids.shape != (batch.n,):
            raise HepxaiError(f"{len(event_ids)} ids for {batch.n} examples; give one id per "
                              "example")
        targets = self._targets(target, modality, batch)
        parts: list[Parts] = []
        for start in range(0, batch.n, self.batch_size):
            stop = min(start + self.batch_size, batch.n)
            chunk = modality.select(batch, start, stop)
            parts.append(self._attribute(
                modality, chunk, targets, modality.select_baseline(baselines, batch, start, stop),
                event_ids[start:stop]))
        return self._assemble(parts, modality, batch, targets, event_ids)

    def _attribute(self, modality: Modality, batch: Batch, targets: Targets, baselines: Any,
                   ids: np.ndarray) -> Parts:
        """Values of one chunk of examples (subclasses implement)."""
        raise NotImplementedError

    def recorded_params(self) -> dict[str, Any]:
        """The hyper-parameters an Attribution records (with the model's name and preset when
        it declares them)."""
        identity = {k: getattr(self.model, k) for k in ("name", "preset")
                    if isinstance(getattr(self.model, k, None), str)}
        return {**({"model": identity["name"]} if "name" in identity else {}),
                **({"preset": identity["preset"]} if "preset" in identity else {}),
                **self.params}

    # -- targets --------------------------------------------------------------------------
    def _n_outputs(self, modality: Modality, batch: Batch) -> int:
        """The number of outputs per example, from one example: the first forward pass, so a
        model that cannot read these inputs says so here, in one line."""
        first = modality.select(batch, 0, 1)
        try:
            with torch.no_grad():
                return int(self._outputs(modality, first).shape[1])
        except HepxaiError:
            raise  # the model's own one-line error (a HepxaiError is a ValueError too)
        except (RuntimeError, ValueError, TypeError, IndexError) as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else \
                type(error).__name__
            raise HepxaiError(f"the model cannot run on these inputs (one example: "
                              f"{tuple(first.x.shape)}): {reason}") from None

    def _targets(self, target: Target, modality: Modality, batch: Batch) -> Targets:
        k = self._n_outputs(modality, batch)
        names = self.output_names if self.output_names and len(self.output_names) == k \
            else tuple(str(i) for i in range(k))
        if target is None:
            if k != 1:
                raise HepxaiError(f"the model has {k} outputs ({', '.join(names)}); pass "
                                  "target= one of them or a list of them")
            return Targets([0], names[:1], False)
        many = isinstance(target, list | tuple | np.ndarray)
        items = list(target) if many else [target]
        if not items:
            raise HepxaiError("target is an empty list; name at least one output")
        columns = []
        for item in items:
            if isinstance(item, str):
                if item not in names:
                    raise HepxaiError(f"unknown target {item!r}; the model predicts "
                                      f"{', '.join(names)}")
                columns.append(names.index(item))
            elif isinstance(item, int | np.integer) and 0 <= int(item) < k:
                columns.append(int(item))
            else:
                raise HepxaiError(f"target {item!r} is not one of the model's {k} outputs "
                                  f"({', '.join(names)})")
        return Targets(columns, tuple(names[c] for c in columns), many)

    # -- forward and gradients ------------------------------------------------------------
    def _outputs(self, modality: Modality, batch: Batch, x: torch.Tensor | None = None,
                 copies: int = 1, edge_mask: torch.Tensor | None = None) -> torch.Tensor:
        """All model outputs ``(copies * n, K)``."""
        return modality.forward(self.runner, batch, x, copies, edge_mask)

    def _gradients(self, modality: Modality, batch: Batch, columns: list[int],
                   x: torch.Tensor | None = None, copies: int = 1,
                   edge_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Gradients of every explained output's sum w.r.t. ``x`` (or the edge mask when one
        is given): ``(rows, T, *shape)``, and those outputs ``(copies * n, T)``."""
        x = (batch.x if x is None else x).detach()
        wrt = x if edge_mask is None else edge_mask.detach()
        wrt.requires_grad_(True)
        with torch.enable_grad():
            out = self._outputs(modality, batch, x, copies,
                                None if edge_mask is None else wrt)[:, columns]
            grads = [torch.autograd.grad(out[:, t].sum(), wrt, retain_graph=t + 1 < len(columns))
                     [0] for t in range(len(columns))]
        return torch.stack(grads, dim=1), out.detach()

    # -- assembly -------------------------------------------------------------------------
    def _assemble(self, parts: list[Parts], modality: Modality, batch: Batch, targets: Targets,
                  ids: np.ndarray) -> Attribution:
        def joined(name: str, dtype=np.float64) -> np.ndarray | None:
            pieces = [getattr(p, name) for p in parts]
            if any(piece is None for piece in pieces):  # e.g. a chunk without exact CAM
                return None
            return np.concatenate([_numpy(v, dtype) for v in pieces])

        values = joined("values", np.float32)
        if not targets.axis:
            values = values[:, 0]
        params = dict(self.recorded_params())
        for p in parts:
            for key, value in (p.params or {}).items():
                # a property found per chunk (e.g. the CAM form) holds for all or is "mixed"
                params[key] = value if params.get(key, value) == value else "mixed"
        common = {"targets": targets.names, "method": self.name, "params": params,
                  "event_ids": ids, "target_axis": targets.axis, "reduction": self.reduction}
        edges = None
        if parts[0].edges is not None:
            edge_values = joined("edges", np.float32)
            edges = Attribution(values=edge_values if targets.axis else edge_values[:, 0],
                                kind="edge", offsets=batch.graph["edge_offsets"],
                                outputs=joined("edge_outputs"),
                                baseline_outputs=joined("edge_baseline_outputs"), **common)
        return Attribution(values=values, kind=modality.kind, offsets=batch.offsets,
                           outputs=joined("outputs"), baseline_outputs=joined("baseline_outputs"),
                           item_names=getattr(modality, "feature_names", None), edges=edges,
                           **common)


def has_message_passing(model: nn.Module) -> bool:
    """Whether ``model`` has PyTorch Geometric message-passing layers."""
    if "torch_geometric" not in sys.modules:  # no PyG layer exists before PyG is imported
        return False
    from torch_geometric.nn import MessagePassing

    return any(isinstance(m, MessagePassing) for m in model.modules())


def gauss_legendre(steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes and weights of the ``steps``-point Gauss-Legendre rule on [0, 1] (Captum's
    default quadrature for integrated gradients)."""
    if steps < 1:
        raise HepxaiError(f"integrated gradients need at least 1 step, got {steps}")
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    return (torch.tensor((nodes + 1) / 2, dtype=torch.float32),
            torch.tensor(weights / 2, dtype=torch.float32))


def event_seeds(seed: int, ids: np.ndarray) -> np.ndarray:
    """One RNG seed per example from a method's seed and the example's id."""
    return (np.asarray(ids, np.int64) * 1_000_003 + int(seed) * 7_919) % (2**62)
