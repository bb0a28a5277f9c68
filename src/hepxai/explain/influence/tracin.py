"""TracIn over the saved checkpoints of a run: precompute the training set once, query by
matrix products.

    TracIn(z, z') = sum_i eta_i  grad_w l(w_i, z) . grad_w l(w_i, z')        (thesis eq. 3.12)

over checkpoints ``w_i`` with the step size ``eta_i`` of their epoch (the ``learning_rate`` the
training loop stores: the mean over the epoch's steps), and ``l`` the training loss itself: the
absolute error summed over the two outputs in the model's encoded target space,
``l = sum_j |f_j(x) - t_j|`` with ``t = model.encode_targets(y)``. Its gradient with respect to
the output is ``g = sign(f - t)`` ``(2,)``. A positive score makes ``z`` a *proponent* of ``z'``
(a gradient step on ``z`` lowers the loss of ``z'``), a negative one an *opponent*. Scores are in
units of loss (step size times squared loss gradient); the mean over a batch that SGD takes is a
constant factor and left out, as in the paper and Captum.

Two variants, both "precompute once, then every query is a matrix product":

* ``last-layer``: only the parameters of the model's :attr:`~MuonRegressor.head`, the final
  ``Linear(d, 2)``. Its weight gradient is ``g h^T`` and its bias gradient ``g`` (``h`` the head's
  input), so exactly ``grad . grad' = (g . g') (h . h' + 1)``. The store keeps ``g (n, 2)`` and
  ``h (n, d)`` per checkpoint; a query is ``sum_i eta_i (Q_g G_i^T) * (Q_h H_i^T + 1)``.
* ``full``: every trainable parameter. Per-example gradients with :mod:`torch.func`
  (``vmap(grad(...))``), compressed by a seeded Gaussian random projection to ``dim`` columns
  (:class:`GaussianProjection`; ``dim = 0`` keeps them exact, for small models). The store keeps
  the projected gradients ``(n, dim)`` and the exact squared norms ``(n,)`` per checkpoint.

Models with batch normalisation are evaluated in eval mode (running statistics) for every
gradient, as Captum does: a per-example gradient is then a function of the example alone,
independent of which batch it was drawn in.

On disk a store is a directory: ``manifest.json`` (checkpoint paths and their SHA-256, learning
rates, the training file's identity and rows, variant, projection) and memory-mapped float32
``.npy`` arrays, each written to a temporary name and renamed. An interrupted precompute resumes
at the first unfinished checkpoint; a finished one is reused, never recomputed; a store whose
checkpoints or training file changed refuses to answer with a one-line error.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hepxai import __version__
from hepxai.core.atomic import atomic_path, write_json_atomic
from hepxai.core.errors import HepxaiError
from hepxai.core.progress import progress
from hepxai.explain.influence.projection import GaussianProjection
from hepxai.explain.types import Influence
from hepxai.io.checkpoint import load_model, read_checkpoint, run_checkpoints
from hepxai.usecases.muon.loader import MuonDataset, muon_loader
from hepxai.usecases.muon.models.base import MuonRegressor
from hepxai.usecases.muon.store import MuonFile

FORMAT = "hepxai-tracin-store"
FORMAT_VERSION = 1
VARIANTS = ("last-layer", "full")
DEFAULT_PROJECTION_DIM = 2048
DEFAULT_CHECKPOINTS = 3
PRECOMPUTE_BATCH = {"last-layer": 1024, "full": 64}
QUERY_BATCH = 1024
# score-matrix elements per training-set chunk: bounds query memory (64 MiB of float32 per
# temporary) whatever the number of test events
CHUNK_ELEMENTS = 2**24
MIN_CHUNK_ROWS, MAX_CHUNK_ROWS = 2048, 262_144
# from this many test events on, the last-layer kernel of all checkpoints is one matrix product
# (see TracInStore._chunk_scores) and test features run through the BN-folded inference copy
FUSED_MIN_QUERIES = 64
# below this many test events a query is a memory-bound matrix-vector product: one thread reads
# the store as fast as two, and on a shared machine a second thread mostly waits at barriers
SINGLE_THREAD_MAX_QUERIES = 16


# -- checkpoints --------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckpointRef:
    """One checkpoint TracIn uses: where it is, its step size and what it is a checkpoint of."""

    path: str
    epoch: int
    learning_rate: float
    sha256: str
    model: str
    preset: str
    seed: int | None
    n_train: int | None

    def describe(self) -> str:
        return (f"{self.model} ({self.preset}, seed {self.seed}, {self.n_train} training "
                "events)")


def spread_over_training(paths: Sequence[Path], count: int = DEFAULT_CHECKPOINTS) -> list[Path]:
    """``count`` checkpoints spread uniformly over the run, at the centres of ``count`` equal
    slices: of 30 epochs 5, 15 and 25 (the thesis' choice), of 2 epochs both, of 6: 1, 3, 5."""
    if count < 1:
        raise HepxaiError(f"asked for {count} checkpoints; use at least 1")
    m = len(paths)
    picked = sorted({-(-((2 * i + 1) * m) // (2 * count)) - 1 for i in range(count)})
    return [Path(paths[i]) for i in picked]


def select_checkpoints(run_dir: str | os.PathLike[str], spec: str | None = None,
                       count: int = DEFAULT_CHECKPOINTS) -> list[Path]:
    """Checkpoints of ``run_dir``: ``spec`` = comma-separated epochs (``"5,15,25"``) or paths;
    ``None`` = :func:`spread_over_training` of all epoch checkpoints."""
    if spec is None or not spec.strip():
        return spread_over_training(run_checkpoints(run_dir), count)
    chosen: list[Path] = []
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        if item.isdigit():
            path = Path(run_dir) / "checkpoints" / f"epoch_{int(item):03d}.pt"
            if not path.is_file():
                have = ", ".join(str(int(p.stem.split("_")[1]))
                                 for p in run_checkpoints(run_dir))
                raise HepxaiError(f"{path}: no checkpoint of epoch {item} in {run_dir}; the run "
                                  f"has epochs {have}")
            chosen.append(path)
        else:
            chosen.append(Path(item))
    return chosen


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe_checkpoints(paths: Sequence[str | os.PathLike[str]], use_case: str = "muon",
                         check: Callable[[Path, dict[str, Any]], None] | None = None
                         ) -> list[CheckpointRef]:
    """Read and check the checkpoints TracIn will use: torch models of one run of ``use_case``,
    each with its learning rate; ``check(path, state)`` may refuse a model kind. One-line
    :class:`HepxaiError` otherwise."""
    if not paths:
        raise HepxaiError("no checkpoints given; pass a run directory or --checkpoints")
    refs = []
    for path in map(Path, paths):
        state = read_checkpoint(path, use_case=use_case)
        (check or _check_muon_model)(path, state)
        rate = state.get("learning_rate")
        if rate is None:
            raise HepxaiError(f"{path}: the checkpoint stores no learning rate; TracIn weights "
                              "each checkpoint by its step size, so use the epoch checkpoints "
                              f"written by 'hepxai train {use_case}' (RUN/checkpoints/"
                              "epoch_NNN.pt)")
        if not (isinstance(rate, int | float) and math.isfinite(rate) and rate > 0):
            raise HepxaiError(f"{path}: learning rate {rate!r} is not a positive number; use "
                              f"checkpoints written by 'hepxai train {use_case}'")
        identity = state.get("identity") or {}
        refs.append(CheckpointRef(path=str(path.resolve()), epoch=int(state.get("epoch", -1)),
                                  learning_rate=float(rate), sha256=_sha256(path),
                                  model=str(state["model"]), preset=str(state["preset"]),
                                  seed=identity.get("seed"), n_train=identity.get("n_train")))
    first = refs[0]
    for ref in refs[1:]:
        if (ref.model, ref.preset, ref.seed, ref.n_train) != \
                (first.model, first.preset, first.seed, first.n_train):
            raise HepxaiError(f"{ref.path} is a checkpoint of another run ({ref.describe()}) "
                              f"than {first.path} ({first.describe()}); give checkpoints of one "
                              "training run")
    hashes = [r.sha256 for r in refs]
    if len(set(hashes)) != len(hashes):
        raise HepxaiError("the same checkpoint is given twice; give each checkpoint once")
    return refs


def _check_muon_model(path: Path, state: dict[str, Any]) -> None:
    if "estimator" in state or state.get("model") == "decision-tree":
        raise HepxaiError(f"{path}: a scikit-learn decision tree has no gradients; TracIn "
                          "needs a torch model such as tracin-cnn")


# -- the training file -------------------------------------------------------------------------
def training_identity(path: str | os.PathLike[str], rows: np.ndarray) -> dict[str, Any]:
    """What identifies the training events of a store: file size, mtime, the HDF5 file's seed,
    split and simulator configuration, and the selected rows."""
    path = Path(path)
    data = MuonFile(path)
    stat = path.stat()
    config = data.attrs.get("simulator_config")
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "n_events": len(data), "split": data.split, "seed": data.attrs.get("seed"),
            "simulator_config_sha256": hashlib.sha256(str(config).encode()).hexdigest()
            if config else None,
            "n_rows": int(rows.size), "rows_sha256": hashlib.sha256(rows.tobytes()).hexdigest()}


def _differences(saved: dict, now: dict, keys: Sequence[str]) -> list[str]:
    return [k for k in keys if saved.get(k) != now.get(k)]


# -- gradients ---------------------------------------------------------------------------------
class _EncodedOutput(nn.Module):
    """``model.forward_encoded`` as a module's forward, for :func:`torch.func.functional_call`."""

    def __init__(self, model: MuonRegressor):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_encoded(x)


def check_last_layer(model: MuonRegressor) -> nn.Linear:
    """The model's head if last-layer TracIn is exact for it: a ``Linear`` whose output is the
    model's (encoded) output. One-line error otherwise."""
    head = model.head
    if not isinstance(head, nn.Linear) or head.out_features != len(model.outputs):
        raise HepxaiError(f"{model.name}: its head is not a Linear layer with "
                          f"{len(model.outputs)} outputs, so last-layer TracIn does not apply; "
                          "use --variant full (or a tracin-cnn model)")
    return head


class LastLayerFeatures:
    """``(x, t) -> (g, h)`` for last-layer TracIn: ``g = sign(f - t)`` ``(b, 2)`` with ``f`` the
    head's (encoded) output and ``h`` the head's input ``(b, d)``, in eval mode.

    With ``fused`` (default) the forward pass runs through the model's inference copy
    (:func:`hepxai.models.inference.inference_copy`: BatchNorm folded into the convolutions,
    channels-last), the same function to float rounding (relative differences ~1e-7) and 2-3x
    faster on a CPU; a model that cannot be traced runs as it is.
    """

    def __init__(self, model: MuonRegressor, fused: bool = True):
        check_last_layer(model)
        self.model = model
        self.runner: nn.Module | Any = model.forward_encoded
        self.head: nn.Module = model.head
        self.fused = False
        if fused:
            from hepxai.models.inference import inference_copy

            name = next(n for n, m in model.named_modules() if m is model.head)
            fast = inference_copy(model)
            try:
                self.head = fast.fused.get_submodule(name)
            except AttributeError:
                return  # the copy does not keep the head under its name: run the model itself
            self.runner, self.fused = fast, True

    def __call__(self, x: torch.Tensor,
                 encoded_targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        captured: dict[str, torch.Tensor] = {}

        def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...],
                 output: torch.Tensor) -> None:
            captured["h"], captured["out"] = inputs[0].detach(), output.detach()

        handle = self.head.register_forward_hook(hook)
        try:
            with torch.no_grad():
                out = self.runner(x)
        finally:
            handle.remove()
        f = captured.get("out")
        # the head's output must be the model's output, else the last layer is not the last
        expected = None if f is None else self.model.decode_outputs(f) if self.fused else f
        if expected is None or expected.shape != out.shape \
                or not torch.allclose(expected, out, rtol=1e-4, atol=1e-5):
            raise HepxaiError(f"{self.model.name}: the output is not the output of its head "
                              "layer (e.g. an average of several trees), so last-layer TracIn "
                              "is not exact; use --variant full")
        return torch.sign(f - encoded_targets), captured["h"].reshape(len(x), -1)


def last_layer_features(model: MuonRegressor, x: torch.Tensor,
                        encoded_targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``g = sign(f - t)`` ``(b, 2)`` and the head's input ``h`` ``(b, d)`` of the model as it
    is (eval mode, no fusion): the plain definition :class:`LastLayerFeatures` speeds up."""
    return LastLayerFeatures(model, fused=False)(x, encoded_targets)


def trainable_parameters(model: MuonRegressor) -> list[tuple[str, nn.Parameter]]:
    """``(name, parameter)`` of every trainable parameter, in ``named_parameters`` order."""
    return [(name, p) for name, p in _EncodedOutput(model).named_parameters() if p.requires_grad]


def per_example_gradients(model: MuonRegressor, x: torch.Tensor,
                          encoded_targets: torch.Tensor) -> torch.Tensor:
    """Gradient of each example's loss ``sum_j |f_j - t_j|`` w.r.t. all trainable parameters,
    flattened in ``named_parameters`` order: ``(b, n_parameters)`` float32. Eval mode."""
    from torch.func import functional_call, grad, vmap

    wrapper = _EncodedOutput(model)
    named = trainable_parameters(model)
    params = {name: p.detach() for name, p in named}
    buffers = dict(wrapper.named_buffers())

    def loss(p: dict[str, torch.Tensor], xi: torch.Tensor, ti: torch.Tensor) -> torch.Tensor:
        out = functional_call(wrapper, (p, buffers), (xi.unsqueeze(0),))
        return (out[0] - ti).abs().sum()

    grads = vmap(grad(loss), in_dims=(None, 0, 0))(params, x, encoded_targets)
    return torch.cat([grads[name].reshape(len(x), -1) for name, _ in named], dim=1)


# -- the store ---------------------------------------------------------------------------------
def _array_names(variant: str, i: int) -> dict[str, str]:
    if variant == "last-layer":
        return {"g": f"ckpt{i}.g.npy", "h": f"ckpt{i}.h.npy"}
    return {"grad": f"ckpt{i}.grad.npy", "sqnorm": f"ckpt{i}.sqnorm.npy"}


def _chunk_rows(n_queries: int) -> int:
    return int(min(MAX_CHUNK_ROWS, max(MIN_CHUNK_ROWS, CHUNK_ELEMENTS // max(n_queries, 1))))


@dataclass
class TopK:
    """Top-k of a batch of queries; ids are rows of the training file, best first."""

    proponent_ids: np.ndarray  # (b, k) int64
    proponent_scores: np.ndarray  # (b, k) float32, decreasing
    opponent_ids: np.ndarray  # (b, k) int64
    opponent_scores: np.ndarray  # (b, k) float32, increasing


class TracInStore:
    """A finished TracIn precompute: per-checkpoint training-set arrays plus their manifest.

    Build with :meth:`build` (or reuse: it returns the existing store when the settings match),
    open with :meth:`open`, then :meth:`influence` (top-k), :meth:`scores` (full matrix) and
    :meth:`self_influence`.
    """

    def __init__(self, directory: Path, manifest: dict[str, Any], reused: bool = False):
        self.directory = Path(directory)
        self.manifest = manifest
        self.reused = reused
        config = manifest["config"]
        self.variant: str = config["variant"]
        self.checkpoints = [CheckpointRef(**c) for c in config["checkpoints"]]
        self.train = config["train"]
        self.rows = np.load(self.directory / "rows.npy")
        self.projection_dim: int = int(config["projection"]["dim"])
        self.projection_seed: int = int(config["projection"]["seed"])
        self.has_bias: bool = bool(manifest["has_bias"])
        self._arrays: dict[tuple[int, str], np.ndarray] = {}
        self._models: dict[tuple[int, str], MuonRegressor] = {}
        self._last_layer: dict[tuple[int, str, bool], LastLayerFeatures] = {}
        self._projection: GaussianProjection | None = None

    # -- building -------------------------------------------------------------------------
    @classmethod
    def build(cls, checkpoints: Sequence[str | os.PathLike[str]],
              train_file: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
              variant: str = "last-layer", rows: np.ndarray | None = None,
              projection_dim: int = DEFAULT_PROJECTION_DIM, projection_seed: int = 0,
              batch_size: int | None = None, device: str = "cpu",
              overwrite: bool = False) -> TracInStore:
        """Precompute the training-set arrays of every checkpoint into ``out_dir``.

        Args:
            checkpoints: epoch checkpoints of one run (each with its ``learning_rate``).
            train_file: the run's training file (``train.h5``).
            out_dir: store directory; a finished store with the same settings is reused.
            variant: ``"last-layer"`` or ``"full"``.
            rows: training events (rows of ``train_file``); default: the first ``n_train``
                rows, ``n_train`` from the checkpoints (what ``hepxai train muon --max-events``
                trains on), else all.
            projection_dim: ``full`` only: projected dimension; 0 keeps exact gradients.
            projection_seed: seed of the projection matrix.
            batch_size: events per forward pass (default 1,024 last-layer, 64 full).
            device: ``"cpu"`` or ``"cuda[:N]"``.
            overwrite: replace a store of other settings in ``out_dir``.
        """
        if variant not in VARIANTS:
            raise HepxaiError(f"unknown TracIn variant {variant!r}; choose {' or '.join(VARIANTS)}")
        if projection_dim < 0:
            raise HepxaiError(f"--projection-dim {projection_dim}: use 0 (exact gradients) or a "
                              "positive dimension")
        refs = describe_checkpoints(checkpoints)
        train_path = Path(train_file)
        n_file = len(MuonFile(train_path))
        if rows is None:
            n_train = refs[0].n_train
            rows = np.arange(n_file if n_train is None or n_train > n_file else n_train)
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0 or rows.min() < 0 or rows.max() >= n_file:
            raise HepxaiError(f"training rows must be within 0..{n_file - 1} of {train_path}")
        config = {"variant": variant, "checkpoints": [asdict(r) for r in refs],
                  "train": training_identity(train_path, rows),
                  "projection": {"dim": projection_dim if variant == "full" else 0,
                                 "seed": projection_seed if variant == "full" else 0}}
        out = Path(out_dir)
        manifest_path = out / "manifest.json"
        manifest = _read_manifest(out) if manifest_path.exists() else None
        if manifest is not None and manifest["config"] != config:
            if not overwrite:
                differs = [k for k in ("variant", "checkpoints", "train", "projection")
                           if manifest["config"].get(k) != config[k]]
                raise HepxaiError(f"{out} holds a TracIn precompute with other "
                                  f"{', '.join(differs)}; pass --overwrite to replace it or "
                                  "choose another --store")
            _remove_store_files(out, manifest)
            manifest = None
        if manifest is not None and manifest.get("complete"):
            return cls.open(out)
        if manifest is None:
            out.mkdir(parents=True, exist_ok=True)
            with atomic_path(out / "rows.npy") as tmp, open(tmp, "wb") as handle:
                np.save(handle, rows)
            manifest = {"format": FORMAT, "format_version": FORMAT_VERSION,
                        "hepxai_version": __version__, "config": config, "done": [],
                        "complete": False, "has_bias": True, "feature_dim": None,
                        "n_parameters": None, "timings": []}
        dataset = MuonDataset(train_path, rows=rows)
        batch = batch_size or PRECOMPUTE_BATCH[variant]
        for i, ref in enumerate(refs):
            if i in manifest["done"]:
                continue  # resumed: this checkpoint's arrays were finished before
            timing = _precompute_checkpoint(out, manifest, i, len(refs), ref, dataset, batch,
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
    def open(cls, directory: str | os.PathLike[str], verify: bool = True) -> TracInStore:
        """Open a finished store; with ``verify`` (default) refuse one whose checkpoints or
        training file changed since the precompute."""
        directory = Path(directory)
        manifest = _read_manifest(directory)
        if not manifest.get("complete"):
            raise HepxaiError(f"{directory}: the TracIn precompute is unfinished; run the same "
                              "'hepxai influence muon precompute' command again to complete it")
        store = cls(directory, manifest, reused=True)
        if verify:
            store.verify()
        return store

    def verify(self) -> None:
        """One-line error if a checkpoint, the training file or an array no longer matches."""
        for ref in self.checkpoints:
            path = Path(ref.path)
            if not path.is_file():
                raise HepxaiError(f"{path}: checkpoint of the TracIn store {self.directory} is "
                                  "missing; restore it or precompute again with --overwrite")
            if _sha256(path) != ref.sha256:
                raise HepxaiError(f"{path} changed since the TracIn precompute in "
                                  f"{self.directory}; precompute again with --overwrite")
        saved = self.train
        path = Path(saved["path"])
        if not path.is_file():
            raise HepxaiError(f"{path}: the training file of the TracIn store {self.directory} "
                              "is missing; restore it or precompute again with --overwrite")
        now = training_identity(path, self.rows)
        differs = _differences(saved, now, ("size", "mtime_ns", "n_events", "split", "seed",
                                            "simulator_config_sha256", "rows_sha256"))
        if differs:
            raise HepxaiError(f"{path} changed since the TracIn precompute in {self.directory} "
                              f"({', '.join(differs)} differ); precompute again with "
                              "--overwrite")
        for i in range(len(self.checkpoints)):
            for key in _array_names(self.variant, i):
                array = self._array(i, key)
                if array.shape[0] != self.n_train:
                    raise HepxaiError(f"{self.directory}: {_array_names(self.variant, i)[key]} "
                                      f"has {array.shape[0]} rows, not {self.n_train}; the "
                                      "store is corrupt, precompute again with --overwrite")

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
                "learning_rates": self.learning_rates, "train_file": self.train["path"],
                "n_train": self.n_train, "projection_dim": self.projection_dim,
                "projection_seed": self.projection_seed,
                "loss": "sum_j |f_j(x) - t_j| in the encoded target space"}

    def model(self, i: int, device: str = "cpu") -> MuonRegressor:
        """The model of checkpoint ``i``, eval mode (cached per device)."""
        if (i, device) not in self._models:
            model = load_model(self.checkpoints[i].path, device=device)
            self._models[(i, device)] = model.eval()
        return self._models[(i, device)]

    def _array(self, i: int, key: str) -> np.ndarray:
        if (i, key) not in self._arrays:
            path = self.directory / _array_names(self.variant, i)[key]
            if not path.is_file():
                raise HepxaiError(f"{path}: missing array of the TracIn store; precompute again "
                                  "with --overwrite")
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

    # -- queries --------------------------------------------------------------------------
    def query_features(self, images: torch.Tensor, targets: torch.Tensor,
                       device: str = "cpu") -> list[tuple[torch.Tensor, ...]]:
        """Per checkpoint, the test side of the kernel, already weighted by ``eta_i``:
        last-layer ``(eta g' (b, 2), h' (b, d))``, full ``(eta p' (b, dim),)``.

        ``images`` ``(b, 1, 9, 384)``; ``targets`` ``(b, 2)`` physical (pT [GeV], |eta|).
        """
        features = []
        for i, ref in enumerate(self.checkpoints):
            model = self.model(i, device)
            x, t = images.to(device), model.encode_targets(targets.to(device).float())
            if self.variant == "last-layer":
                # tracing the inference copy costs more than it saves for a few events
                fused = len(x) >= FUSED_MIN_QUERIES
                if (i, device, fused) not in self._last_layer:
                    self._last_layer[(i, device, fused)] = LastLayerFeatures(model, fused=fused)
                g, h = self._last_layer[(i, device, fused)](x, t)
                features.append((g * ref.learning_rate, h))
            else:
                projection = self.projection()
                parts = []
                # per-example gradients in slices: vmap keeps every example's activations
                for start in range(0, len(x), PRECOMPUTE_BATCH["full"]):
                    stop = start + PRECOMPUTE_BATCH["full"]
                    p = per_example_gradients(model, x[start:stop], t[start:stop])
                    parts.append(projection(p) if projection is not None else p)
                features.append((torch.cat(parts) * ref.learning_rate,))
        return features

    def _chunk_scores(self, features: list[tuple[torch.Tensor, ...]], start: int,
                      stop: int, expanded: torch.Tensor | None = None) -> torch.Tensor:
        """Scores ``(b, stop - start)`` of the test events against training rows
        ``start:stop``. ``expanded``: the test side of :func:`_expand_last_layer` for the fused
        path (many test events)."""
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
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            scores = self._chunk_scores(features, start, stop, expanded)
            if matrix is not None:
                matrix[:, start:stop] = scores.cpu().numpy()
            if k:
                best = _merge_top(best, scores, start, k, largest=True)
                worst = _merge_top(worst, scores, start, k, largest=False)
        top = None
        if k:
            assert best is not None and worst is not None
            p_ids, p_scores = _ordered(best, descending=True)
            o_ids, o_scores = _ordered(worst, descending=False)
            top = TopK(self.rows[p_ids], p_scores, self.rows[o_ids], o_scores)
        return matrix, top

    def _batches(self, test: MuonDataset, positions: np.ndarray, batch_size: int):
        for start in range(0, positions.size, batch_size):
            chosen = positions[start:start + batch_size]
            images, targets = test.__getitems__(chosen)
            yield chosen, images, targets

    def _positions(self, test: MuonDataset, positions: Sequence[int] | np.ndarray | None
                   ) -> np.ndarray:
        positions = np.arange(len(test)) if positions is None else \
            np.atleast_1d(np.asarray(positions, dtype=np.int64))
        if positions.size == 0 or positions.min() < 0 or positions.max() >= len(test):
            raise HepxaiError(f"test events must be within 0..{len(test) - 1} of "
                              f"{test.file.path}")
        return positions

    def influence(self, test: MuonDataset, positions: Sequence[int] | np.ndarray | None = None,
                  k: int = 10, device: str = "cpu",
                  batch_size: int = QUERY_BATCH) -> Influence:
        """Top-``k`` proponents and opponents of test events.

        Args:
            test: the test events' dataset (e.g. ``MuonDataset("val.h5")`` or ``noise.h5``).
            positions: positions in ``test`` (default: all of it).
            k: proponents and opponents per event (at most the training-set size).
        Returns:
            :class:`Influence` with ``test_ids`` = rows of the test file, ``proponent_ids`` /
            ``opponent_ids`` = rows of the training file ``(n_test, k)``, scores in loss units.
        """
        if k < 1:
            raise HepxaiError(f"k = {k}: ask for at least 1 proponent and opponent")
        k = min(k, self.n_train)
        positions = self._positions(test, positions)
        parts: list[TopK] = []
        for _, images, targets in self._batches(test, positions, batch_size):
            _, top = self._scan(self.query_features(images, targets, device), k, False)
            assert top is not None
            parts.append(top)
        return Influence(
            test_ids=test.rows[positions], method=self.method,
            params={**self.params, "k": k, "test_file": str(test.file.path),
                    "test_split": test.file.split},
            proponent_ids=np.concatenate([p.proponent_ids for p in parts]),
            proponent_scores=np.concatenate([p.proponent_scores for p in parts]),
            opponent_ids=np.concatenate([p.opponent_ids for p in parts]),
            opponent_scores=np.concatenate([p.opponent_scores for p in parts]))

    def scores(self, test: MuonDataset, positions: Sequence[int] | np.ndarray | None = None,
               device: str = "cpu", batch_size: int = QUERY_BATCH) -> np.ndarray:
        """The full score matrix ``(n_test, n_train)`` float32 (columns in store order, i.e.
        training-file rows :attr:`rows`)."""
        positions = self._positions(test, positions)
        blocks = []
        for _, images, targets in self._batches(test, positions, batch_size):
            matrix, _ = self._scan(self.query_features(images, targets, device), None, True)
            blocks.append(matrix)
        return np.concatenate(blocks)

    def scores_for(self, images: torch.Tensor, targets: torch.Tensor,
                   device: str = "cpu") -> np.ndarray:
        """Score matrix ``(b, n_train)`` for in-memory test events (images ``(b, 1, 9, 384)``,
        physical targets ``(b, 2)``)."""
        matrix, _ = self._scan(self.query_features(images, targets, device), None, True)
        assert matrix is not None
        return matrix

    def top_k_for(self, images: torch.Tensor, targets: torch.Tensor, k: int = 10,
                  device: str = "cpu") -> TopK:
        """Top-``k`` for in-memory test events; ids are training-file rows."""
        _, top = self._scan(self.query_features(images, targets, device),
                            min(k, self.n_train), False)
        assert top is not None
        return top

    def self_influence(self) -> np.ndarray:
        """TracIn(z, z) of every training event ``(n_train,)`` float64, in store order.

        Exact for both variants (the full variant stores the unprojected squared norms).
        High values: events whose loss gradient is large and unusual - atypical or mislabelled
        candidates. With this MAE loss ``|g|^2`` is the number of outputs on the wrong side of
        their target, so the last-layer value is driven by the size of the head input ``h``.
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
                total[start:stop] += ref.learning_rate * value
        return total


def _expand_last_layer(g: torch.Tensor, h: torch.Tensor, bias: bool) -> torch.Tensor:
    """The last-layer gradient itself, ``vec(g [h, 1]^T)`` ``(n, 2 (d + 1))``: its dot products
    are ``(g . g') (h . h' + 1)``. Concatenated over checkpoints (``eta`` folded into the test
    side), the scores of many test events are one matrix product with no elementwise passes."""
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


def _ordered(top: tuple[torch.Tensor, torch.Tensor], descending: bool
             ) -> tuple[np.ndarray, np.ndarray]:
    """Sort each row by score (ties: lower training position first)."""
    values = top[0].cpu().numpy()
    index = top[1].cpu().numpy().astype(np.int64)
    order = np.stack([np.lexsort((i, -v if descending else v)) for v, i in zip(values, index,
                                                                               strict=True)])
    return (np.take_along_axis(index, order, 1),
            np.take_along_axis(values, order, 1).astype(np.float32))


def _precompute_checkpoint(out: Path, manifest: dict, i: int, n_checkpoints: int,
                           ref: CheckpointRef, dataset: MuonDataset, batch_size: int,
                           device: str) -> dict[str, Any]:
    """Write checkpoint ``i``'s arrays (one pass over the training set); returns its timing."""
    variant = manifest["config"]["variant"]
    model = load_model(ref.path, device=device).eval()
    n = len(dataset)
    names = _array_names(variant, i)
    if variant == "last-layer":
        head = check_last_layer(model)
        features = LastLayerFeatures(model)
        manifest["has_bias"] = head.bias is not None
        shapes = {"g": (n, len(model.outputs)), "h": (n, head.in_features)}
        manifest["feature_dim"] = head.in_features
    else:
        n_params = sum(p.numel() for _, p in trainable_parameters(model))
        manifest["n_parameters"] = n_params
        dim = int(manifest["config"]["projection"]["dim"])
        projection = GaussianProjection(n_params, dim, manifest["config"]["projection"]["seed"]) \
            if dim else None
        shapes = {"grad": (n, dim or n_params), "sqnorm": (n,)}
        manifest["feature_dim"] = dim or n_params
    first, second = names
    started = time.perf_counter()
    with atomic_path(out / names[first]) as tmp_first, \
            atomic_path(out / names[second]) as tmp_second:
        tmps = {first: tmp_first, second: tmp_second}
        # squared gradient norms in float64: they are sums of ~1e5 squares
        arrays = {key: np.lib.format.open_memmap(
            tmps[key], mode="w+", dtype=np.float64 if key == "sqnorm" else np.float32,
            shape=shapes[key]) for key in names}
        position = 0
        loader = muon_loader(dataset, batch_size=batch_size)
        bar = progress(loader, desc=f"TracIn {variant}: checkpoint {i + 1}/{n_checkpoints} "
                                    f"(epoch {ref.epoch})", unit="batch")
        for x, y in bar:
            x = x.to(device)
            t = model.encode_targets(y.to(device))
            stop = position + len(x)
            if variant == "last-layer":
                g, h = features(x, t)
                if h.shape[1] != shapes["h"][1]:
                    raise HepxaiError(f"{ref.path}: the head's input has {h.shape[1]} features, "
                                      f"its weight {shapes['h'][1]}; not a plain linear head")
                arrays["g"][position:stop] = g.cpu().numpy()
                arrays["h"][position:stop] = h.cpu().numpy()
            else:
                grads = per_example_gradients(model, x, t)
                arrays["sqnorm"][position:stop] = \
                    grads.double().pow(2).sum(1).cpu().numpy()
                if projection is not None:
                    grads = projection(grads)
                arrays["grad"][position:stop] = grads.cpu().numpy()
            position = stop
        for array in arrays.values():
            array.flush()
        del arrays
    seconds = time.perf_counter() - started
    return {"checkpoint": i, "epoch": ref.epoch, "events": n, "seconds": seconds,
            "events_per_second": n / seconds if seconds > 0 else float("nan")}


def _read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / "manifest.json"
    if not path.is_file():
        raise HepxaiError(f"{directory}: no TracIn store here (manifest.json missing); run "
                          "'hepxai influence muon precompute' first")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise HepxaiError(f"{path}: unreadable ({type(exc).__name__}); delete the store and "
                          "precompute again") from None
    if manifest.get("format") != FORMAT:
        raise HepxaiError(f"{path}: not a TracIn store manifest; choose another --store")
    if int(manifest.get("format_version", -1)) > FORMAT_VERSION:
        raise HepxaiError(f"{path}: store format {manifest['format_version']} is newer than "
                          f"this hepxai reads ({FORMAT_VERSION}); upgrade hepxai")
    return manifest


def _remove_store_files(directory: Path, manifest: dict[str, Any]) -> None:
    """Delete the files a store wrote (and only those): before an --overwrite."""
    variant = manifest["config"]["variant"]
    for i in range(len(manifest["config"]["checkpoints"])):
        for name in _array_names(variant, i).values():
            (directory / name).unlink(missing_ok=True)
    (directory / "rows.npy").unlink(missing_ok=True)
    (directory / "manifest.json").unlink(missing_ok=True)
