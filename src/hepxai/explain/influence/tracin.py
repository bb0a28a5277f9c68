"""TracIn over the saved checkpoints of a run, for any model: precompute the training set once,
query by matrix products.

    TracIn(z, z') = sum_c eta_c  grad_w l(w_c, z) . grad_w l(w_c, z')        (thesis eq. 3.12)

over checkpoints ``w_c`` with the step size ``eta_c`` of their epoch (the ``learning_rate`` the
training loop stores: the mean over the epoch's steps), and ``l`` the training loss itself, per
example. A positive score makes ``z`` a *proponent* of ``z'`` (a gradient step on ``z`` lowers
the loss of ``z'``), a negative one an *opponent*. Scores are in units of loss (step size times
squared loss gradient); the mean over a batch that SGD takes is a constant factor and left out,
as in the paper and Captum.

What differs between use cases (how examples are batched, the loss, what identifies the
training data, how a checkpoint is read) comes from a
:class:`~hepxai.explain.influence.source.GradientSource`; everything here is the same for a
muon regressor, a graph tagger and a plain ``nn.Sequential``.

Two variants, both "precompute once, then every query is a matrix product":

* ``last-layer``: only the parameters of the model's final ``Linear(d, k)`` (its ``head``
  attribute, or the layer named by ``layer=``), exact for any model whose output is that
  layer's output (checked on every batch). Its weight gradient is ``g h^T`` and its bias
  gradient ``g``, with ``g = d l / d f`` the loss gradient with respect to the layer's output
  (the source's :meth:`~GradientSource.output_gradient`) and ``h`` the layer's input, so exactly
  ``grad . grad' = (g . g') (h . h' + 1)``. The store keeps ``g (n, k)`` and ``h (n, d)`` per
  checkpoint; a query is ``sum_c eta_c (Q_g G_c^T) * (Q_h H_c^T + 1)``.
* ``full``: every trainable parameter. Per-example gradients with :mod:`torch.func`
  (``vmap(grad(...))``) of the source's per-example loss, compressed by a seeded Gaussian
  random projection to ``dim`` columns (:class:`GaussianProjection`; ``dim = 0`` keeps them
  exact, for small models). The store keeps the projected gradients ``(n, dim)`` and the exact
  squared norms ``(n,)`` per checkpoint. Needs examples that are fixed-shape tensors; batches of
  variable-size graphs are refused in one line.

Models with batch normalisation are evaluated in eval mode (running statistics) for every
gradient, as Captum does: a per-example gradient is then a function of the example alone,
independent of which batch it was drawn in.

On disk a store is a directory: ``manifest.json`` (checkpoint paths and their SHA-256, learning
rates, the training data's identity and rows, variant, layer, projection, the SHA-256 of every
array) and memory-mapped float32 ``.npy`` arrays, each written to a temporary name and renamed.
An interrupted precompute resumes at the first unfinished checkpoint; a finished one is reused,
never recomputed; a store whose checkpoints or training file changed, or an array whose bytes
are not those written (truncated, overwritten), refuses to answer with a one-line error. A
checkpoint whose gradients are not finite is refused at the precompute.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hepxai import __version__
from hepxai.core.atomic import atomic_path, check_free_space, write_json_atomic
from hepxai.core.errors import HepxaiError
from hepxai.core.progress import progress
from hepxai.explain.influence.checkpoints import CheckpointRef, describe_checkpoints, sha256
from hepxai.explain.influence.constants import (
    DEFAULT_PROJECTION_DIM,
    PRECOMPUTE_BATCH,
    QUERY_BATCH,
    VARIANTS,
)
from hepxai.explain.influence.projection import GaussianProjection
from hepxai.explain.influence.source import GradientSource
from hepxai.explain.types import NO_ID, Influence

FORMAT = "hepxai-tracin-store"
# 2: one store for every use case (gradient sources, layer, identity); 3: array checksums
FORMAT_VERSION = 3
# score-matrix elements per training-set chunk: bounds query memory (64 MiB of float32 per
# temporary) whatever the number of test examples
CHUNK_ELEMENTS = 2**24
MIN_CHUNK_ROWS, MAX_CHUNK_ROWS = 2048, 262_144
# from this many test examples on, the last-layer kernel of all checkpoints is one matrix
# product (see TracInStore._chunk_scores) and test features run through the BN-folded copy
FUSED_MIN_QUERIES = 64
# below this many test examples a query is a memory-bound matrix-vector product: one thread
# reads the store as fast as two, and on a shared machine a second thread mostly waits
SINGLE_THREAD_MAX_QUERIES = 16
# the identity keys of the training file a store checks again at every open
FILE_KEYS = ("size", "mtime_ns")


# -- batches -----------------------------------------------------------------------------------
def _to_device(value: Any, device: str) -> Any:
    if isinstance(value, tuple | list):
        return tuple(_to_device(v, device) for v in value)
    return value.to(device) if hasattr(value, "to") else value


def source_batch(source: GradientSource, positions: np.ndarray, device: str = "cpu"
                 ) -> tuple[tuple[Any, ...], torch.Tensor]:
    """``(inputs as a tuple, targets)`` of ``positions`` of ``source``, on ``device``."""
    inputs, targets = source.batch(np.asarray(positions, np.int64))
    inputs = inputs if isinstance(inputs, tuple | list) else (inputs,)
    return _to_device(tuple(inputs), device), torch.as_tensor(targets).to(device)


class _Shared:
    """Kept by reference through ``copy.deepcopy`` (an inference copy copies the model, never
    the examples a source holds)."""

    def __init__(self, value: Any):
        self.value = value

    def __deepcopy__(self, memo: dict) -> _Shared:
        return self


class _SourceForward(nn.Module):
    """``source.forward(model, inputs)`` as a module's forward, for
    :func:`torch.func.functional_call` and the traced inference copy."""

    def __init__(self, model: nn.Module, source: GradientSource):
        super().__init__()
        self.model = model
        self.source = _Shared(source)

    def forward(self, *inputs: Any) -> torch.Tensor:
        return self.source.value.forward(self.model, inputs)


class _OneInputForward(_SourceForward):
    """The same with one positional input: what ``torch.fx`` traces (no ``*args``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.source.value.forward(self.model, (x,))


# -- the last layer ----------------------------------------------------------------------------
def find_head(model: nn.Module, layer: str | None = None) -> nn.Linear:
    """The model's final linear layer: ``layer`` (a name of ``model.named_modules()``) or the
    model's ``head`` attribute. One-line error when there is none."""
    name = getattr(model, "name", type(model).__name__)
    if layer is not None:
        try:
            head = model.get_submodule(layer)
        except AttributeError:
            raise HepxaiError(f"{name} has no layer {layer!r}; name its final linear layer as "
                              "in model.named_modules()") from None
    else:
        head = getattr(model, "head", None)
    if not isinstance(head, nn.Linear):
        what = f"its layer {layer!r}" if layer is not None else \
            "it declares no final Linear layer (a 'head' attribute)"
        raise HepxaiError(f"{name}: {what} is not a Linear layer, so last-layer TracIn does "
                          "not apply; name the final Linear layer or use the full variant "
                          "(--variant full)")
    return head


def _module_name(root: nn.Module, module: nn.Module) -> str:
    return next(n for n, m in root.named_modules() if m is module)


class LastLayerFeatures:
    """``(inputs, targets) -> (g, h)`` of last-layer TracIn, in eval mode: ``g`` the loss
    gradient with respect to the final layer's output ``(b, k)``, ``h`` its input ``(b, d)``.

    Every batch checks that the source's outputs are the final layer's outputs (else the last
    layer is not the last, e.g. an average of several trees). With ``fused`` (default) a model
    with one input tensor runs through its inference copy
    (:func:`hepxai.models.inference.inference_copy`: BatchNorm folded into the convolutions,
    channels-last), the same function to float rounding and 2-3x faster on a CPU; a model that
    cannot be traced, and a graph network, run as they are.
    """

    def __init__(self, model: nn.Module, source: GradientSource, layer: str | None = None,
                 fused: bool = True):
        from hepxai.explain.base import has_message_passing

        self.model, self.source = model, source
        self.head = find_head(model, layer)
        self.in_features, self.out_features = self.head.in_features, self.head.out_features
        self.has_bias = self.head.bias is not None
        self.name = getattr(model, "name", type(model).__name__)
        self.hooked: nn.Module = self.head
        self.runner: Any = None
        self.fused = False
        self._fuse = fused and not has_message_passing(model)  # tried on the first batch

    def _fuse_for(self, inputs: tuple[Any, ...]) -> None:
        """Trace the inference copy once, for a model of one input tensor."""
        self._fuse = False
        if len(inputs) != 1:
            return
        from hepxai.models.inference import inference_copy

        wrapper = _OneInputForward(self.model, self.source)
        fast = inference_copy(wrapper)
        try:
            self.hooked = fast.fused.get_submodule(_module_name(wrapper, self.head))
        except AttributeError:
            return  # the copy does not keep the layer by name: run the model itself
        self.runner, self.fused = fast, True

    def head_outputs(self, inputs: tuple[Any, ...], n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The final layer's input ``h (n, d)`` and output ``f``, checked to be the model's
        output and in its shape (e.g. ``(n,)`` for a tagger's squeezed logit)."""
        if self._fuse:
            self._fuse_for(inputs)
        captured: dict[str, torch.Tensor] = {}

        def hook(module: nn.Module, args: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            captured["h"], captured["f"] = args[0].detach(), output.detach()

        handle = self.hooked.register_forward_hook(hook)
        try:
            with torch.no_grad():
                out = self.runner(*inputs) if self.runner is not None else \
                    self.source.forward(self.model, inputs)
        finally:
            handle.remove()
        f = captured.get("f")
        # the layer's output must be the model's output, else the last layer is not the last
        if f is None or f.numel() != out.numel() or \
                not torch.allclose(f.reshape(out.shape), out, rtol=1e-4, atol=1e-5,
                                   equal_nan=True):
            raise HepxaiError(f"{self.name}: the output is not the output of its final layer "
                              "(e.g. an average of several trees), so last-layer TracIn is not "
                              "exact; use the full variant (--variant full)")
        h = captured["h"].reshape(n, -1)
        if h.shape[1] != self.in_features:
            raise HepxaiError(f"{self.name}: the final layer's input has {h.shape[1]} features, "
                              f"its weight {self.in_features}; not a plain linear layer")
        return h, f.reshape(out.shape)

    def __call__(self, inputs: tuple[Any, ...], targets: torch.Tensor,
                 source: GradientSource | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        source = source or self.source
        h, f = self.head_outputs(inputs, len(targets))
        g = source.output_gradient(self.model, f, targets)
        return g.detach().reshape(len(targets), -1).float(), h.float()


def head_features(model: nn.Module, source: GradientSource,
                  positions: Sequence[int] | np.ndarray | None = None, *,
                  layer: str | None = None, batch_size: int = PRECOMPUTE_BATCH["last-layer"],
                  device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """The final layer's input ``h (n, d)`` and output ``f (n, k)`` float32 of ``positions`` of
    ``source`` (default all), in eval mode, checked to be the model's output."""
    model.eval()
    positions = np.arange(len(source)) if positions is None else np.asarray(positions, np.int64)
    features = LastLayerFeatures(model, source, layer, fused=False)
    hs, fs = [], []
    for start in range(0, positions.size, batch_size):
        inputs, targets = source_batch(source, positions[start:start + batch_size], device)
        h, f = features.head_outputs(inputs, len(targets))
        hs.append(h.float().cpu())
        fs.append(f.reshape(len(targets), -1).float().cpu())
    if not hs:
        return torch.zeros(0, features.in_features), torch.zeros(0, features.out_features)
    return torch.cat(hs), torch.cat(fs)


# -- every parameter ---------------------------------------------------------------------------
def trainable_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """``(name, parameter)`` of every trainable parameter, in ``named_parameters`` order."""
    return [(name, p) for name, p in model.named_parameters() if p.requires_grad]


def check_fixed_shape(source: GradientSource) -> None:
    """One-line refusal of the full variant for examples that are not fixed-shape tensors."""
    if not source.fixed_shape:
        raise HepxaiError(f"full TracIn needs {source.what} that are fixed-shape tensors "
                          "(per-example gradients with torch.func.vmap); these are batches of "
                          "variable-size graphs, use the last-layer variant")


def per_example_gradients(model: nn.Module, source: GradientSource, inputs: tuple[Any, ...],
                          targets: torch.Tensor) -> torch.Tensor:
    """Gradient of each example's loss w.r.t. all trainable parameters, flattened in
    ``named_parameters`` order: ``(b, n_parameters)`` float32. Eval mode."""
    from torch.func import functional_call, grad, vmap

    check_fixed_shape(source)
    b = len(targets)
    if any(not isinstance(x, torch.Tensor) or x.shape[:1] != (b,) for x in inputs):
        raise HepxaiError(f"full TracIn needs one row per example in every input tensor; "
                          f"got shapes {[tuple(getattr(x, 'shape', ())) for x in inputs]} for "
                          f"{b} {source.what}")
    wrapper = _SourceForward(model, source)
    named = [(f"model.{name}", p) for name, p in trainable_parameters(model)]
    params = {name: p.detach() for name, p in named}
    buffers = dict(wrapper.named_buffers())

    def loss(p: dict[str, torch.Tensor], xs: tuple[torch.Tensor, ...],
             ti: torch.Tensor) -> torch.Tensor:
        out = functional_call(wrapper, (p, buffers), tuple(x.unsqueeze(0) for x in xs))
        return source.loss(model, out, ti.unsqueeze(0))[0]

    grads = vmap(grad(loss), in_dims=(None, 0, 0))(params, tuple(inputs), targets)
    return torch.cat([grads[name].reshape(b, -1) for name, _ in named], dim=1).float()


# -- the store ---------------------------------------------------------------------------------
def _array_names(variant: str, i: int) -> dict[str, str]:
    if variant == "last-layer":
        return {"g": f"ckpt{i}.g.npy", "h": f"ckpt{i}.h.npy"}
    return {"grad": f"ckpt{i}.grad.npy", "sqnorm": f"ckpt{i}.sqnorm.npy"}


def _chunk_rows(n_queries: int) -> int:
    return int(min(MAX_CHUNK_ROWS, max(MIN_CHUNK_ROWS, CHUNK_ELEMENTS // max(n_queries, 1))))


def _rows_sha256(rows: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(rows, dtype=np.int64).tobytes()).hexdigest()


def training_identity(source: GradientSource) -> dict[str, Any]:
    """The source's :meth:`~GradientSource.identity` with the number and hash of its ids."""
    rows = np.ascontiguousarray(source.ids, dtype=np.int64)
    return {**source.identity(), "n_rows": int(rows.size), "rows_sha256": _rows_sha256(rows)}


@dataclass
class TopK:
    """Top-k of a batch of queries; ids are the training source's ids, best first.

    A proponent has a strictly positive score, an opponent a strictly negative one: where a
    query has fewer than ``k`` of either, the row ends in id ``-1`` / score NaN
    (:data:`~hepxai.explain.types.NO_ID`). ``n_proponents`` / ``n_opponents`` count them over
    the whole training set.
    """

    proponent_ids: np.ndarray  # (b, k) int64
    proponent_scores: np.ndarray  # (b, k) float32, decreasing
    opponent_ids: np.ndarray  # (b, k) int64
    opponent_scores: np.ndarray  # (b, k) float32, increasing
    n_proponents: np.ndarray  # (b,) int64
    n_opponents: np.ndarray  # (b,) int64


class TracInStore:
    """A finished TracIn precompute: per-checkpoint training-set arrays plus their manifest.

    Build with :meth:`build` (or reuse: it returns the existing store when the settings match),
    open with :meth:`open`, then :meth:`influence` (top-k), :meth:`scores` (full matrix) and
    :meth:`self_influence`. Queries take the test examples as a gradient source of the same
    kind as the training one.

    Example (``Regression`` as in :mod:`~hepxai.explain.influence.source`, checkpoints that
    store their ``learning_rate``)::

        store = TracInStore.build(checkpoints, Regression(x_train, y_train), "tracin",
                                  layer="2")
        result = store.influence(Regression(x_test, y_test), k=10)
        result.proponent_ids        # (n_test, 10) training ids, strongest first
    """

    def __init__(self, directory: Path, manifest: dict[str, Any], reused: bool = False):
        self.directory = Path(directory)
        self.manifest = manifest
        self.reused = reused
        config = manifest["config"]
        self.variant: str = config["variant"]
        self.layer: str | None = config.get("layer")
        self.checkpoints = [CheckpointRef(**c) for c in config["checkpoints"]]
        self.train: dict[str, Any] = config["train"]
        try:
            self.rows = np.load(self.directory / "rows.npy", allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:  # truncated, emptied, not .npy
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise HepxaiError(f"{self.directory}: rows.npy is damaged ({reason}); precompute "
                              "again with --overwrite") from None
        if self.rows.ndim != 1 or not np.issubdtype(self.rows.dtype, np.integer):
            raise HepxaiError(f"{self.directory}: rows.npy holds {self.rows.dtype} "
                              f"{self.rows.shape}, not training rows; the store is corrupt, "
                              "precompute again with --overwrite")
        self.projection_dim: int = int(config["projection"]["dim"])
        self.projection_seed: int = int(config["projection"]["seed"])
        self.has_bias: bool = bool(manifest["has_bias"])
        self._arrays: dict[tuple[int, str], np.ndarray] = {}
        self._models: dict[tuple[int, str], nn.Module] = {}
        self._last_layer: dict[tuple[Any, ...], LastLayerFeatures] = {}
        self._projection: GaussianProjection | None = None

    # -- building -------------------------------------------------------------------------
    @classmethod
    def build(cls, checkpoints: Sequence[str | os.PathLike[str]], source: GradientSource,
              out_dir: str | os.PathLike[str], *, variant: str = "last-layer",
              layer: str | None = None, projection_dim: int = DEFAULT_PROJECTION_DIM,
              projection_seed: int = 0, batch_size: int | None = None, device: str = "cpu",
              overwrite: bool = False) -> TracInStore:
        """Precompute the training-set arrays of every checkpoint into ``out_dir``.

        Args:
            checkpoints: checkpoints of one run, each with its ``learning_rate``.
            source: the training examples and loss (a :class:`GradientSource`); its ids become
                the result's training ids.
            out_dir: store directory; a finished store with the same settings is reused.
            variant: ``"last-layer"`` or ``"full"``.
            layer: last-layer: the name of the final linear layer (default: ``model.head``).
            projection_dim: ``full`` only: projected dimension; 0 keeps exact gradients.
            projection_seed: seed of the projection matrix.
            batch_size: examples per forward pass (default 1,024 last-layer, 64 full).
            device: ``"cpu"`` or ``"cuda[:N]"``.
            overwrite: replace a store of other settings in ``out_dir``.
        """
        if variant not in VARIANTS:
            raise HepxaiError(f"unknown TracIn variant {variant!r}; choose {' or '.join(VARIANTS)}")
        if projection_dim < 0:
            raise HepxaiError(f"--projection-dim {projection_dim}: use 0 (exact gradients) or a "
                              "positive dimension")
        if variant == "full":
            check_fixed_shape(source)
        if len(source) == 0:
            raise HepxaiError(f"no training {source.what} selected; select at least one")
        refs = describe_checkpoints(checkpoints, use_case=source.use_case,
                                    check=source.check_checkpoint, read=source.read_checkpoint)
        rows = np.asarray(source.ids, dtype=np.int64)
        config = {"variant": variant, "layer": layer if variant == "last-layer" else None,
                  "checkpoints": [asdict(r) for r in refs], "train": training_identity(source),
                  "projection": {"dim": projection_dim if variant == "full" else 0,
                                 "seed": projection_seed if variant == "full" else 0}}
        if not (source.kernel_bias and source.step_sizes):  # only then: older stores stay valid
            config["kernel"] = {"bias": source.kernel_bias, "step_sizes": source.step_sizes,
                                "source": type(source).__qualname__}
        out = Path(out_dir)
        manifest_path = out / "manifest.json"
        manifest = _read_manifest(out, stale_ok=True) if manifest_path.exists() else None
        if manifest is not None and int(manifest.get("format_version", -1)) < FORMAT_VERSION:
            # an older format cannot be read at all: derived data, so it is made again
            print(f"{out}: a TracIn store of an older hepxai (format "
                  f"{manifest.get('format_version')}); precomputing it again", file=sys.stderr)
            _remove_store_files(out, manifest)
            manifest = None
        if manifest is not None and manifest["config"] != config:
            if not overwrite:
                differs = [k for k in ("variant", "layer", "checkpoints", "train", "projection",
                                       "kernel")
                           if manifest["config"].get(k) != config.get(k)]
                raise HepxaiError(f"{out} holds a TracIn precompute with other "
                                  f"{', '.join(differs)}; pass --overwrite to replace it or "
                                  "choose another --store")
            _remove_store_files(out, manifest)
            manifest = None
        if manifest is not None and manifest.get("complete"):
            try:
                return cls.open(out)
            except HepxaiError:  # damaged since (an array's checksum, a missing file)
                if not overwrite:
                    raise
                _remove_store_files(out, manifest)
                manifest = None
        if manifest is None:
            out.mkdir(parents=True, exist_ok=True)
            with atomic_path(out / "rows.npy") as tmp, open(tmp, "wb") as handle:
                np.save(handle, rows)
            manifest = {"format": FORMAT, "format_version": FORMAT_VERSION,
                        "hepxai_version": __version__, "config": config,
                        "source": f"{type(source).__module__}.{type(source).__qualname__}",
                        "loss": source.loss_name, "done": [], "complete": False,
                        "has_bias": True, "n_outputs": None, "feature_dim": None,
                        "n_parameters": None, "timings": []}
        batch = batch_size or PRECOMPUTE_BATCH[variant]
        for i, ref in enumerate(refs):
            if i in manifest["done"]:
                continue  # resumed: this checkpoint's arrays were finished before
            timing = _precompute_checkpoint(out, manifest, i, len(refs), ref, source, batch,
                                            device)
            manifest["done"].append(i)
            manifest["timings"].append(timing)
            write_json_atomic(manifest_path, manifest)
        manifest["complete"] = True
        write_json_atomic(manifest_path, manifest)
        store = cls.open(out)
        store.reused = False
        return store

    @classmethod
    def open(cls, directory: str | os.PathLike[str], verify: bool = True,
             source: GradientSource | None = None) -> TracInStore:
        """Open a finished store; with ``verify`` (default) refuse one whose checkpoints or
        training file changed since the precompute (and, given the training ``source``, one
        computed on other examples)."""
        directory = Path(directory)
        manifest = _read_manifest(directory)
        if not manifest.get("complete"):
            raise HepxaiError(f"{directory}: the TracIn precompute is unfinished; run the same "
                              "precompute command again to complete it")
        store = cls(directory, manifest, reused=True)
        if verify:
            store.verify(source)
        return store

    def verify(self, source: GradientSource | None = None) -> None:
        """One-line error if a checkpoint, the training file, the training ``source`` (when
        given) or an array no longer matches the precompute."""
        for ref in self.checkpoints:
            path = Path(ref.path)
            if not path.is_file():
                raise HepxaiError(f"{path}: checkpoint of the TracIn store {self.directory} is "
                                  "missing; restore it or precompute again with --overwrite")
            if sha256(path) != ref.sha256:
                raise HepxaiError(f"{path} changed since the precompute of the TracIn store "
                                  f"{self.directory}; precompute again with --overwrite")
        saved = self.train
        if "path" in saved and all(k in saved for k in FILE_KEYS):
            path = Path(saved["path"])
            if not path.is_file():
                raise HepxaiError(f"{path}: the training file of the TracIn store "
                                  f"{self.directory} is missing; restore it or precompute again "
                                  "with --overwrite")
            stat = path.stat()
            now = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
            differs = [k for k in FILE_KEYS if saved[k] != now[k]]
            if differs:
                raise HepxaiError(f"{path} changed since the TracIn precompute in "
                                  f"{self.directory} ({', '.join(differs)} differ); precompute "
                                  "again with --overwrite")
        if _rows_sha256(self.rows) != saved.get("rows_sha256"):
            raise HepxaiError(f"{self.directory}: rows.npy does not match the manifest; the "
                              "store is corrupt, precompute again with --overwrite")
        if source is not None:
            now = training_identity(source)
            differs = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
            if differs:
                raise HepxaiError(f"{self.directory} was computed on other training "
                                  f"{source.what} ({', '.join(differs)} differ); precompute "
                                  "again with --overwrite")
        for i in range(len(self.checkpoints)):
            for key, name in _array_names(self.variant, i).items():
                array = self._array(i, key)
                if array.shape[0] != self.n_train:
                    raise HepxaiError(f"{self.directory}: {name} has {array.shape[0]} rows, not "
                                      f"{self.n_train}; the store is corrupt, precompute again "
                                      "with --overwrite")

    # -- properties -----------------------------------------------------------------------
    @property
    def n_train(self) -> int:
        return int(self.rows.size)

    @property
    def method(self) -> str:
        return f"tracin-{self.variant}"

    @property
    def learning_rates(self) -> list[float]:
        return [r.learning_rate for r in self.checkpoints]

    @property
    def epochs(self) -> list[int]:
        return [r.epoch for r in self.checkpoints]

    @property
    def nbytes(self) -> int:
        """Bytes of the stored arrays on disk."""
        return sum((self.directory / name).stat().st_size
                   for i in range(len(self.checkpoints))
                   for name in _array_names(self.variant, i).values())

    @property
    def params(self) -> dict[str, Any]:
        """What a query's :class:`Influence` records about how it was made."""
        return {"variant": self.variant, "store": str(self.directory),
                "checkpoints": [r.path for r in self.checkpoints], "epochs": self.epochs,
                "learning_rates": self.learning_rates, "train_file": self.train.get("path"),
                "n_train": self.n_train, "layer": self.layer,
                "projection_dim": self.projection_dim, "projection_seed": self.projection_seed,
                "loss": self.manifest.get("loss", "")}

    def model(self, i: int, source: GradientSource, device: str = "cpu") -> nn.Module:
        """The model of checkpoint ``i``, eval mode (cached per device)."""
        if (i, device) not in self._models:
            model = source.load_model(self.checkpoints[i].path, device=device)
            self._models[(i, device)] = model.eval()
        return self._models[(i, device)]

    def _array(self, i: int, key: str) -> np.ndarray:
        if (i, key) not in self._arrays:
            path = self.directory / _array_names(self.variant, i)[key]
            if not path.is_file():
                raise HepxaiError(f"{path}: missing array of the TracIn store; precompute again "
                                  "with --overwrite")
            if sha256(path) != self.manifest.get("sha256", {}).get(path.name):
                raise HepxaiError(f"{path}: its bytes differ from those the precompute wrote "
                                  "(truncated, overwritten or damaged); precompute again with "
                                  "--overwrite")
            # copy-on-write map: writable for torch.from_numpy, never written back
            self._arrays[(i, key)] = np.load(path, mmap_mode="c")
        return self._arrays[(i, key)]

    def projection(self) -> GaussianProjection | None:
        if self.variant != "full" or self.projection_dim == 0:
            return None
        if self._projection is None:
            n_params = int(self.manifest["n_parameters"])
            self._projection = GaussianProjection(n_params, self.projection_dim,
                                                  self.projection_seed)
        return self._projection

    def _step(self, ref: CheckpointRef) -> float:
        """Checkpoint ``ref``'s weight: its step size, or 1 for a store whose gradient source
        sums checkpoints unweighted (:attr:`GradientSource.step_sizes`)."""
        return ref.learning_rate if self.manifest["config"].get("kernel", {}).get(
            "step_sizes", True) else 1.0

    def _check_query_source(self, source: GradientSource) -> None:
        """A query must take the gradient the training side was stored with."""
        stored = self.manifest["config"].get("kernel", {}).get("source")  # None: standard
        asked = None if source.kernel_bias and source.step_sizes else type(source).__qualname__
        if stored != asked:
            raise HepxaiError(f"{self.directory}: precomputed with "
                              f"{stored or 'the standard TracIn kernel'}, queried with "
                              f"{asked or 'the standard TracIn kernel'}; query with the "
                              "conventions the store was precomputed with")

    # -- queries --------------------------------------------------------------------------
    def query_features(self, source: GradientSource, inputs: Any, targets: torch.Tensor,
                       device: str = "cpu") -> list[tuple[torch.Tensor, ...]]:
        """Per checkpoint, the test side of the kernel, already weighted by ``eta_c``:
        last-layer ``(eta g' (b, k), h' (b, d))``, full ``(eta p' (b, dim),)``.

        ``inputs``, ``targets``: a batch as ``source.batch`` gives it.
        """
        self._check_query_source(source)
        inputs = _to_device(tuple(inputs) if isinstance(inputs, tuple | list) else (inputs,),
                            device)
        targets = torch.as_tensor(targets).to(device)
        if self.variant == "full":
            check_fixed_shape(source)
        features = []
        for i, ref in enumerate(self.checkpoints):
            model = self.model(i, source, device)
            if self.variant == "last-layer":
                # tracing the inference copy costs more than it saves for a few examples
                fused = len(targets) >= FUSED_MIN_QUERIES
                key = (i, device, fused, type(source))
                if key not in self._last_layer:
                    self._last_layer[key] = LastLayerFeatures(model, source, self.layer, fused)
                g, h = self._last_layer[key](inputs, targets, source)
                if h.shape[1] != int(self.manifest["feature_dim"]):
                    raise HepxaiError(f"{ref.path}: the final layer's input has {h.shape[1]} "
                                      f"features, the precompute {self.manifest['feature_dim']}"
                                      "; precompute again with --overwrite")
                features.append((g * self._step(ref), h))
            else:
                projection = self.projection()
                parts = []
                # per-example gradients in slices: vmap keeps every example's activations
                step = PRECOMPUTE_BATCH["full"]
                for start in range(0, len(targets), step):
                    p = per_example_gradients(model, source,
                                              tuple(x[start:start + step] for x in inputs),
                                              targets[start:start + step])
                    parts.append(projection(p) if projection is not None else p)
                features.append((torch.cat(parts) * self._step(ref),))
        return features

    def _chunk_scores(self, features: list[tuple[torch.Tensor, ...]], start: int,
                      stop: int, expanded: torch.Tensor | None = None) -> torch.Tensor:
        """Scores ``(b, stop - start)`` of the test examples against training rows
        ``start:stop``. ``expanded``: the test side of :func:`_expand_last_layer` for the fused
        path (many test examples)."""
        device = features[0][0].device
        if expanded is not None:
            train_side = torch.cat([_expand_last_layer(
                torch.from_numpy(self._array(i, "g")[start:stop]).to(device),
                torch.from_numpy(self._array(i, "h")[start:stop]).to(device), self.has_bias)
                for i in range(len(features))], dim=1)
            return expanded @ train_side.T
        scores: torch.Tensor | None = None
        for i, feature in enumerate(features):
            if self.variant == "last-layer":
                q_g, q_h = feature
                g = torch.from_numpy(self._array(i, "g")[start:stop]).to(device)
                h = torch.from_numpy(self._array(i, "h")[start:stop]).to(device)
                hh = q_h @ h.T
                if self.has_bias:
                    hh += 1.0
                gg = q_g @ g.T
                scores = hh.mul_(gg) if scores is None else scores.addcmul_(hh, gg)
            else:
                p = torch.from_numpy(self._array(i, "grad")[start:stop]).to(device)
                part = feature[0] @ p.T
                scores = part if scores is None else scores.add_(part)
        assert scores is not None
        return scores

    def _scan(self, features: list[tuple[torch.Tensor, ...]], k: int | None,
              keep_scores: bool) -> tuple[np.ndarray | None, TopK | None]:
        b = features[0][0].shape[0]
        threads = 1 if b <= SINGLE_THREAD_MAX_QUERIES else torch.get_num_threads()
        with _intra_op_threads(threads):
            return self._scan_chunks(features, k, keep_scores)

    def _scan_chunks(self, features: list[tuple[torch.Tensor, ...]], k: int | None,
                     keep_scores: bool) -> tuple[np.ndarray | None, TopK | None]:
        b = features[0][0].shape[0]
        n = self.n_train
        chunk = _chunk_rows(b)
        expanded = None
        if self.variant == "last-layer" and b >= FUSED_MIN_QUERIES:
            expanded = torch.cat([_expand_last_layer(q_g, q_h, self.has_bias)
                                  for q_g, q_h in features], dim=1)
        matrix = np.empty((b, n), dtype=np.float32) if keep_scores else None
        best: tuple[torch.Tensor, torch.Tensor] | None = None
        worst: tuple[torch.Tensor, torch.Tensor] | None = None
        n_positive = torch.zeros(b, dtype=torch.int64)
        n_negative = torch.zeros(b, dtype=torch.int64)
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            scores = self._chunk_scores(features, start, stop, expanded)
            if matrix is not None:
                matrix[:, start:stop] = scores.cpu().numpy()
            if k:
                best = _merge_top(best, scores, start, k, largest=True)
                worst = _merge_top(worst, scores, start, k, largest=False)
                n_positive += (scores > 0).sum(1).cpu()
                n_negative += (scores < 0).sum(1).cpu()
        top = None
        if k:
            assert best is not None and worst is not None
            p_ids, p_scores = sorted_top(*best, descending=True)
            o_ids, o_scores = sorted_top(*worst, descending=False)
            top = TopK(*_signed(self.rows[p_ids], p_scores, p_scores > 0),
                       *_signed(self.rows[o_ids], o_scores, o_scores < 0),
                       n_positive.numpy(), n_negative.numpy())
        return matrix, top

    def _batches(self, source: GradientSource, positions: np.ndarray, batch_size: int):
        for start in range(0, positions.size, batch_size):
            yield source.batch(positions[start:start + batch_size])

    def _positions(self, source: GradientSource,
                   positions: Sequence[int] | np.ndarray | None) -> np.ndarray:
        positions = np.arange(len(source)) if positions is None else \
            np.atleast_1d(np.asarray(positions, dtype=np.int64))
        if positions.size == 0 or positions.min() < 0 or positions.max() >= len(source):
            where = source.describe().get("file")
            raise HepxaiError(f"test {source.what} must be within 0..{len(source) - 1}"
                              + (f" of {where}" if where else ""))
        return positions

    def influence(self, source: GradientSource,
                  positions: Sequence[int] | np.ndarray | None = None, k: int = 10,
                  device: str = "cpu", batch_size: int = QUERY_BATCH) -> Influence:
        """Top-``k`` proponents and opponents of test examples.

        Args:
            source: the test examples (a gradient source of the training source's kind).
            positions: positions in ``source`` (default: all of it).
            k: proponents and opponents per example (at most the training-set size).
        Returns:
            :class:`Influence` with ``test_ids`` = the test source's ids, ``proponent_ids`` /
            ``opponent_ids`` = the training source's ids ``(n_test, k)``, scores in loss units.
            Only strictly positive scores are proponents and strictly negative ones opponents:
            a row with fewer ends in id ``-1`` / NaN; ``n_proponents`` / ``n_opponents`` say
            how many the whole training set holds.
        """
        if k < 1:
            raise HepxaiError(f"k = {k}: ask for at least 1 proponent and opponent")
        k = min(k, self.n_train)
        positions = self._positions(source, positions)
        parts: list[TopK] = []
        for inputs, targets in self._batches(source, positions, batch_size):
            _, top = self._scan(self.query_features(source, inputs, targets, device), k, False)
            assert top is not None
            parts.append(top)
        return Influence(
            test_ids=np.asarray(source.ids)[positions], method=self.method,
            params={**self.params, "k": k,
                    **{f"test_{key}": value for key, value in source.describe().items()}},
            proponent_ids=np.concatenate([p.proponent_ids for p in parts]),
            proponent_scores=np.concatenate([p.proponent_scores for p in parts]),
            opponent_ids=np.concatenate([p.opponent_ids for p in parts]),
            opponent_scores=np.concatenate([p.opponent_scores for p in parts]),
            n_proponents=np.concatenate([p.n_proponents for p in parts]),
            n_opponents=np.concatenate([p.n_opponents for p in parts]))

    def scores(self, source: GradientSource, positions: Sequence[int] | np.ndarray | None = None,
               device: str = "cpu", batch_size: int = QUERY_BATCH) -> np.ndarray:
        """The full score matrix ``(n_test, n_train)`` float32 (columns in store order, i.e.
        training ids :attr:`rows`)."""
        positions = self._positions(source, positions)
        blocks = []
        for inputs, targets in self._batches(source, positions, batch_size):
            matrix, _ = self._scan(self.query_features(source, inputs, targets, device), None,
                                   True)
            blocks.append(matrix)
        return np.concatenate(blocks)

    def scores_for(self, source: GradientSource, inputs: Any, targets: torch.Tensor,
                   device: str = "cpu") -> np.ndarray:
        """Score matrix ``(b, n_train)`` for an in-memory batch (as ``source.batch`` gives)."""
        matrix, _ = self._scan(self.query_features(source, inputs, targets, device), None, True)
        assert matrix is not None
        return matrix

    def top_k_for(self, source: GradientSource, inputs: Any, targets: torch.Tensor,
                  k: int = 10, device: str = "cpu") -> TopK:
        """Top-``k`` for an in-memory batch; ids are training ids."""
        _, top = self._scan(self.query_features(source, inputs, targets, device),
                            min(k, self.n_train), False)
        assert top is not None
        return top

    def self_influence(self) -> np.ndarray:
        """TracIn(z, z) of every training example ``(n_train,)`` float64, in store order.

        Exact for both variants (the full variant stores the unprojected squared norms): the
        step-weighted squared gradient norm. High values: examples whose loss gradient is large
        and unusual - atypical or mislabelled candidates.
        """
        total = np.zeros(self.n_train, dtype=np.float64)
        chunk = MAX_CHUNK_ROWS
        for i, ref in enumerate(self.checkpoints):
            for start in range(0, self.n_train, chunk):
                stop = min(self.n_train, start + chunk)
                if self.variant == "last-layer":
                    g = self._array(i, "g")[start:stop].astype(np.float64)
                    h = self._array(i, "h")[start:stop].astype(np.float64)
                    value = (g * g).sum(1) * ((h * h).sum(1) + (1.0 if self.has_bias else 0.0))
                else:
                    value = self._array(i, "sqnorm")[start:stop].astype(np.float64)
                total[start:stop] += self._step(ref) * value
        return total

    def gradient_norms(self) -> np.ndarray:
        """Step-weighted gradient-vector norm ``sqrt(self-influence)`` ``(n_train,)``."""
        return np.sqrt(self.self_influence())


def _expand_last_layer(g: torch.Tensor, h: torch.Tensor, bias: bool) -> torch.Tensor:
    """The last-layer gradient itself, ``vec(g [h, 1]^T)`` ``(n, k (d + 1))``: its dot
    products are ``(g . g') (h . h' + 1)``. Concatenated over checkpoints (``eta`` folded into
    the test side), the scores of many test examples are one matrix product."""
    if bias:
        h = torch.cat([h, torch.ones(len(h), 1, dtype=h.dtype, device=h.device)], dim=1)
    return (g[:, :, None] * h[:, None, :]).reshape(len(g), -1)


@contextlib.contextmanager
def _intra_op_threads(threads: int):
    """Run a block with ``threads`` torch intra-op threads (process-wide), then restore."""
    before = torch.get_num_threads()
    if threads != before:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def _merge_top(running: tuple[torch.Tensor, torch.Tensor] | None, scores: torch.Tensor,
               offset: int, k: int, largest: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Running top-k of a chunk ``scores (b, c)`` whose first column is training row
    ``offset``: values and store positions ``(b, <=k)``."""
    kk = min(k, scores.shape[1])
    values, index = torch.topk(scores, kk, dim=1, largest=largest, sorted=False)
    index = index + offset
    if running is not None:
        values = torch.cat([running[0], values], dim=1)
        index = torch.cat([running[1], index], dim=1)
        kk = min(k, values.shape[1])
        values, pick = torch.topk(values, kk, dim=1, largest=largest, sorted=False)
        index = torch.gather(index, 1, pick)
    return values, index


def _signed(ids: np.ndarray, scores: np.ndarray,
            keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Top-k rows with the entries of the wrong sign (a score of 0 is neither a proponent nor
    an opponent) replaced by id ``NO_ID`` and score NaN; sorted rows keep them at the end."""
    return np.where(keep, ids, NO_ID), np.where(keep, scores, np.float32(np.nan))


def sorted_top(values: torch.Tensor, index: torch.Tensor,
               descending: bool) -> tuple[np.ndarray, np.ndarray]:
    """Sort each row of a running top-k by score (ties: lower training position first),
    vectorised: a stable sort by position, then a stable sort by score."""
    v = values.detach().cpu().numpy().astype(np.float32)
    i = index.detach().cpu().numpy().astype(np.int64)
    by_index = np.argsort(i, axis=1, kind="stable")
    v, i = np.take_along_axis(v, by_index, 1), np.take_along_axis(i, by_index, 1)
    by_score = np.argsort(-v if descending else v, axis=1, kind="stable")
    return np.take_along_axis(i, by_score, 1), np.take_along_axis(v, by_score, 1)


def _precompute_checkpoint(out: Path, manifest: dict, i: int, n_checkpoints: int,
                           ref: CheckpointRef, source: GradientSource, batch_size: int,
                           device: str) -> dict[str, Any]:
    """Write checkpoint ``i``'s arrays (one pass over the training set); returns its timing."""
    config = manifest["config"]
    variant = config["variant"]
    model = source.load_model(ref.path, device=device).eval()
    n = len(source)
    names = _array_names(variant, i)
    features = projection = None
    if variant == "last-layer":
        features = LastLayerFeatures(model, source, config.get("layer"))
        manifest["has_bias"] = features.has_bias and source.kernel_bias
        manifest["n_outputs"] = features.out_features
        manifest["feature_dim"] = features.in_features
        shapes = {"g": (n, features.out_features), "h": (n, features.in_features)}
    else:
        n_params = sum(p.numel() for _, p in trainable_parameters(model))
        manifest["n_parameters"] = n_params
        dim = int(config["projection"]["dim"])
        projection = GaussianProjection(n_params, dim, config["projection"]["seed"]) \
            if dim else None
        shapes = {"grad": (n, dim or n_params), "sqnorm": (n,)}
        manifest["feature_dim"] = dim or n_params
    # memory-mapped arrays: a full disk would be a SIGBUS crash, so the bytes this and every
    # remaining checkpoint will write are checked first (exactly: the shapes are known now)
    remaining = n_checkpoints - len(manifest["done"])
    itemsize = {"sqnorm": 8}
    check_free_space(out, remaining * sum(int(np.prod(shapes[key])) * itemsize.get(key, 4)
                                          for key in names),
                     f"the TracIn arrays of {remaining} checkpoint(s)")
    first, second = names
    started = time.perf_counter()
    with atomic_path(out / names[first]) as tmp_first, \
            atomic_path(out / names[second]) as tmp_second:
        tmps = {first: tmp_first, second: tmp_second}
        # squared gradient norms in float64: they are sums of ~1e5 squares
        arrays = {key: np.lib.format.open_memmap(
            tmps[key], mode="w+", dtype=np.float64 if key == "sqnorm" else np.float32,
            shape=shapes[key]) for key in names}
        bar = progress(range(0, n, batch_size), desc=f"TracIn {variant}: checkpoint "
                       f"{i + 1}/{n_checkpoints} (epoch {ref.epoch})", unit="batch")
        for start in bar:
            stop = min(n, start + batch_size)
            inputs, targets = source_batch(source, np.arange(start, stop), device)
            if features is not None:
                g, h = features(inputs, targets)
                parts = {"g": g, "h": h}
            else:
                grads = per_example_gradients(model, source, inputs, targets)
                sqnorm = grads.double().pow(2).sum(1)
                parts = {"sqnorm": sqnorm,
                         "grad": projection(grads) if projection is not None else grads}
            for key, part in parts.items():
                if not bool(torch.isfinite(part).all()):
                    raise HepxaiError(f"{ref.path}: the model's gradients of training "
                                      f"{source.what} {start}..{stop - 1} are not finite (NaN "
                                      "or inf: a diverged checkpoint?); precompute from "
                                      "checkpoints of a run whose loss stayed finite")
                arrays[key][start:stop] = part.cpu().numpy()
        for array in arrays.values():
            array.flush()
        del arrays
        # what the store will trust later: the bytes as written (a truncated, tampered or
        # overwritten array no longer matches)
        manifest.setdefault("sha256", {}).update(
            {names[key]: sha256(tmps[key]) for key in names})
    seconds = time.perf_counter() - started
    return {"checkpoint": i, "epoch": ref.epoch, "examples": n, "seconds": seconds,
            "per_second": n / seconds if seconds > 0 else float("nan")}


def _read_manifest(directory: Path, stale_ok: bool = False) -> dict[str, Any]:
    """The manifest of a store; ``stale_ok``: also one of an older format (to replace it)."""
    path = directory / "manifest.json"
    if not path.is_file():
        raise HepxaiError(f"{directory}: no TracIn store here (manifest.json missing); run "
                          "the precompute first")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise HepxaiError(f"{path}: unreadable ({type(exc).__name__}); delete the store and "
                          "precompute again") from None
    if manifest.get("format") != FORMAT:
        raise HepxaiError(f"{path}: not a TracIn store manifest; choose another --store")
    version = int(manifest.get("format_version", -1))
    if version > FORMAT_VERSION:
        raise HepxaiError(f"{path}: store format {version} is newer than this hepxai reads "
                          f"({FORMAT_VERSION}); upgrade hepxai")
    if version < FORMAT_VERSION and not stale_ok:
        raise HepxaiError(f"{path}: a TracIn store of an older hepxai (format {version}); "
                          "precompute again with --overwrite")
    return manifest


def _remove_store_files(directory: Path, manifest: dict[str, Any]) -> None:
    """Delete the files a store wrote (and only those): before an --overwrite."""
    variant = manifest["config"]["variant"]
    for i in range(len(manifest["config"]["checkpoints"])):
        for name in _array_names(variant, i).values():
            (directory / name).unlink(missing_ok=True)
    (directory / "rows.npy").unlink(missing_ok=True)
    (directory / "manifest.json").unlink(missing_ok=True)


__all__ = ["FORMAT", "FORMAT_VERSION", "LastLayerFeatures", "TopK", "TracInStore", "find_head",
           "head_features", "per_example_gradients", "sorted_top", "trainable_parameters",
           "training_identity"]
