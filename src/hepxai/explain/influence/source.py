"""Gradient sources: what TracIn needs to know about a use case's examples and loss.

TracIn is the same computation for every model, ``sum_c eta_c grad l(w_c, z) . grad l(w_c,
z')``; what differs between a muon regressor, a jet tagger and a physicist's own network is
*how the examples are batched and what the training loss is*. A :class:`GradientSource` says
exactly that for one set of examples (the training set, or a set of test examples):

* ``len(source)`` examples with ``source.ids`` (what a result calls them, e.g. rows of a file);
* ``source.batch(positions) -> (inputs, targets)``: ``inputs`` a tensor or a tuple of tensors,
  ``forward(model, inputs)`` the model's output the loss reads (default ``model(*inputs)``);
* ``loss(model, outputs, targets)``: the per-example training loss ``(b,)``;
* ``output_gradient(model, outputs, targets)``: its gradient with respect to the outputs
  ``(b, k)`` (default: by autograd from :meth:`~GradientSource.loss`; a closed form is faster,
  e.g. ``sign(f - t)`` of an absolute error, ``sigmoid(z) - y`` of a binary cross entropy);
* ``identity()``: what identifies the examples (a file's path, size and modification time, or a
  hash of the tensors): a store of other examples is never reused, and one whose file changed
  refuses to answer;
* how a checkpoint is read (its learning rate) and its model rebuilt: hepxai checkpoints of
  ``use_case`` by default, anything else by overriding :meth:`~GradientSource.read_checkpoint`
  and :meth:`~GradientSource.load_model` (as Captum's ``checkpoints_load_func``).

Example, a plain regressor on in-memory tensors:

>>> import torch
>>> class Regression(GradientSource):
...     def __init__(self, x, y):
...         self.x, self.y = x, y
...     def __len__(self):
...         return len(self.x)
...     def batch(self, positions):
...         return self.x[positions], self.y[positions]
...     def loss(self, model, outputs, targets):
...         return ((outputs - targets) ** 2).sum(1)
...     def identity(self):
...         return tensor_identity(self.x, self.y)
>>> source = Regression(torch.zeros(4, 3), torch.ones(4, 2))
>>> source.output_gradient(None, torch.zeros(4, 2), torch.ones(4, 2))[0]
tensor([-2., -2.])
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn


class GradientSource:
    """A set of examples and the training loss, as TracIn sees them (see the module docstring).

    Subclasses implement ``__len__``, :meth:`batch`, :meth:`loss` and :meth:`identity`; the
    others have defaults.

    Attributes:
        use_case: the hepxai use case whose checkpoints the default reader accepts (``None``:
            any).
        fixed_shape: every example is a fixed-shape tensor (row ``i`` of each input tensor), so
            per-example gradients of all parameters (the ``full`` variant, ``torch.func.vmap``)
            apply; ``False`` for batches of variable-size graphs.
        what: what the examples are called in messages ("events", "jets").
        loss_name: the loss, in words, for the records.
        kernel_bias: the last-layer kernel includes the final layer's bias (``(h . h' + 1)``,
            its gradient is part of the layer's); ``False`` drops it, as the thesis' code did.
        step_sizes: each checkpoint counts with its step size ``eta_c`` (TracIn's definition);
            ``False`` sums the checkpoints unweighted, as the thesis' code did.
    """

    use_case: ClassVar[str | None] = None
    fixed_shape: ClassVar[bool] = True
    what: ClassVar[str] = "examples"
    loss_name: ClassVar[str] = ""
    kernel_bias: ClassVar[bool] = True
    step_sizes: ClassVar[bool] = True

    # -- the examples -----------------------------------------------------------------------
    def __len__(self) -> int:
        raise NotImplementedError

    @property
    def ids(self) -> np.ndarray:
        """int64 ``(len,)``: what results call the examples (default ``0..len-1``)."""
        return np.arange(len(self), dtype=np.int64)

    def batch(self, positions: np.ndarray) -> tuple[Any, torch.Tensor]:
        """``(inputs, targets)`` of the examples at ``positions`` (``0..len-1``), in order."""
        raise NotImplementedError

    def identity(self) -> dict[str, Any]:
        """JSON-ready identity of these examples. Top-level ``path``, ``size`` and ``mtime_ns``
        (:func:`file_identity`) name a file the store checks again whenever it is opened."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """What a query's result records about these examples (e.g. ``{"file": ...}``)."""
        return {}

    # -- the model and its loss -------------------------------------------------------------
    def forward(self, model: nn.Module, inputs: tuple[Any, ...]) -> torch.Tensor:
        """The outputs the loss reads; last-layer TracIn checks they are the final layer's."""
        return model(*inputs)

    def loss(self, model: nn.Module, outputs: torch.Tensor, targets: torch.Tensor
             ) -> torch.Tensor:
        """Per-example training loss ``(b,)`` (its sum or mean over a batch is what training
        minimised: a constant factor TracIn leaves out)."""
        raise NotImplementedError

    def output_gradient(self, model: nn.Module, outputs: torch.Tensor, targets: torch.Tensor
                        ) -> torch.Tensor:
        """``d loss_i / d outputs_i`` per example, in the outputs' shape (by autograd)."""
        with torch.enable_grad():
            outputs = outputs.detach().requires_grad_(True)
            (gradient,) = torch.autograd.grad(self.loss(model, outputs, targets).sum(), outputs)
        return gradient

    # -- checkpoints ----------------------------------------------------------------------
    def check_checkpoint(self, path: Path, state: dict[str, Any]) -> None:
        """Refuse a checkpoint TracIn cannot use (a one-line ``HepxaiError``); default: none."""

    def read_checkpoint(self, path: Path) -> dict[str, Any]:
        """The checkpoint dict: ``learning_rate``, and ``epoch``, ``model``, ``preset``,
        ``identity`` when known (default: a hepxai checkpoint of :attr:`use_case`)."""
        from hepxai.io.checkpoint import read_checkpoint

        return read_checkpoint(path, use_case=self.use_case)

    def load_model(self, path: str | os.PathLike[str], device: str = "cpu") -> nn.Module:
        """The model of a checkpoint, weights loaded (default: a hepxai checkpoint)."""
        from hepxai.io.checkpoint import load_model

        return load_model(path, device=device, use_case=self.use_case)


def file_identity(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``{"path", "size", "mtime_ns"}`` of a file: what a store checks again at every open."""
    path = Path(path)
    stat = path.stat()
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def tensor_identity(*tensors: torch.Tensor | np.ndarray) -> dict[str, Any]:
    """``{"sha256", "shapes"}`` of in-memory examples (their bytes, in order)."""
    digest = hashlib.sha256()
    shapes = []
    for t in tensors:
        array = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
        array = np.ascontiguousarray(array)
        digest.update(str(array.dtype).encode())
        digest.update(array.tobytes())
        shapes.append(list(array.shape))
    return {"sha256": digest.hexdigest(), "shapes": shapes}


__all__ = ["GradientSource", "file_identity", "tensor_identity"]
