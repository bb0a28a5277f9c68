"""SUSY classifiers: an XGBoost multi-class BDT (the slides' model) and an MLP on the same inputs.

Both map a table ``(n, F)`` of high-level variables in physical units (order and units of
:data:`hepxai.usecases.susy.simulator.FEATURES`) to one score per process ``(n, K)``:

* :meth:`predict_margin` -- the raw, additive outputs: the BDT's summed leaf values per class
  (what TreeSHAP decomposes) and the MLP's logits (what IG and GradientSHAP decompose);
* :meth:`predict_proba` -- class probabilities, softmax of the margins.

Both train with *balanced* class weights by default (every class carries the same total weight)
because the physical weights differ by 10^4 between signal and W+jets; physical weights enter
the significance, not the fit. A model is saved to a run directory as ``model.json`` (identity,
preset, training record) plus ``booster.json`` (XGBoost's own format) or ``mlp.pt``.

Presets (``quick`` for tests, ``fast`` for a laptop study, ``full`` for the benchmark):

| preset | BDT | MLP |
| --- | --- | --- |
| quick | 40 rounds, depth 4, eta 0.3 | 64-64, 4 epochs |
| fast | 200 rounds, depth 6, eta 0.15 | 128-128-64, 12 epochs |
| full | 300 rounds, depth 6, eta 0.1 | 128-128-64, 20 epochs |
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hepxai import __version__
from hepxai.core.atomic import atomic_path, read_json, write_json_atomic
from hepxai.core.errors import HepxaiError
from hepxai.core.progress import progress
from hepxai.usecases.susy.names import MODEL_KINDS, PRESETS, WEIGHTINGS


@dataclass(frozen=True)
class BDTPreset:
    n_rounds: int
    max_depth: int
    learning_rate: float
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    min_child_weight: float = 1.0
    reg_lambda: float = 1.0
    max_bin: int = 256


@dataclass(frozen=True)
class MLPPreset:
    hidden: tuple[int, ...]
    epochs: int
    batch_size: int = 1024
    learning_rate: float = 2e-3
    weight_decay: float = 1e-5
    validation_fraction: float = 0.1


BDT_PRESETS = {"quick": BDTPreset(40, 4, 0.3), "fast": BDTPreset(200, 6, 0.15),
               "full": BDTPreset(300, 6, 0.1)}
MLP_PRESETS = {"quick": MLPPreset((64, 64), 4), "fast": MLPPreset((128, 128, 64), 12),
               "full": MLPPreset((128, 128, 64), 20)}


def check_table(x: np.ndarray, n_features: int, what: str = "inputs") -> np.ndarray:
    """Validate a feature table: 2-D, ``n_features`` columns, finite; returns float32."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != n_features:
        raise HepxaiError(f"{what} must be a table (n_events, {n_features}), got shape {x.shape}")
    if len(x) == 0:
        raise HepxaiError(f"{what}: no events; select at least one event")
    if not np.issubdtype(x.dtype, np.number):
        raise HepxaiError(f"{what} must be numbers, got dtype {x.dtype}")
    x = x.astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        raise HepxaiError(f"{what} hold {int((~np.isfinite(x)).sum())} NaN or infinite values; "
                          "clean the table first")
    return x


#: the random stream of the label permutation of a shuffled-label training (with the run's seed)


def shuffled_labels(y: np.ndarray, weight: np.ndarray, seed: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The labels ``y`` permuted over the events, each carrying its training weight along
    (:func:`hepxai.explain.judging.sanity.label_permutation`): every event gets another event's
    label, the class counts and each class's total weight stay as they were, and what the
    label says about the event is gone. The model of the data-randomization sanity check
    (``hepxai train susy --shuffle-labels``, :mod:`hepxai.usecases.susy.sanity`)."""
    from hepxai.explain.judging.sanity import label_permutation

    order = label_permutation(len(y), seed)
    return np.asarray(y)[order], np.asarray(weight)[order]


def class_weights(y: np.ndarray, n_classes: int, weighting: str = "balanced") -> np.ndarray:
    """Per-event training weights ``(n,)``: each class sums to n / K (``balanced``) or 1 each."""
    if weighting not in WEIGHTINGS:
        raise HepxaiError(f"unknown weighting {weighting!r}; choose one of {', '.join(WEIGHTINGS)}")
    counts = np.bincount(y, minlength=n_classes)
    if np.any(counts == 0):
        missing = np.flatnonzero(counts == 0).tolist()
        raise HepxaiError(f"no training event of class index {missing}; simulate more events or "
                          "lower the preselection")
    if weighting == "none":
        return np.ones(len(y))
    return (len(y) / (n_classes * counts))[y]


class SusyModel:
    """What the evaluation and the explainers need from a SUSY classifier."""

    kind = "model"
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]
    meta: dict[str, Any]

    def predict_margin(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        margin = self.predict_margin(x)
        margin = margin - margin.max(axis=1, keepdims=True)
        p = np.exp(margin)
        return p / p.sum(axis=1, keepdims=True)

    @property
    def sample(self) -> str:
        """The reconstruction the model was trained on (``simplified`` or ``full``)."""
        return str(self.meta.get("sample", "?"))

    @property
    def label(self) -> str:
        return f"{self.kind.upper()} ({self.sample})"

    def _check(self, x: np.ndarray) -> np.ndarray:
        return check_table(x, len(self.feature_names))


# -- BDT --------------------------------------------------------------------------------------
class SusyBDT(SusyModel):
    """Multi-class XGBoost BDT (``multi:softprob``, one tree per class and round, ``hist``)."""

    kind = "bdt"

    def __init__(self, preset: str = "fast", *, feature_names: tuple[str, ...],
                 class_names: tuple[str, ...], seed: int = 1, n_jobs: int | None = None,
                 n_rounds: int | None = None):
        if preset not in BDT_PRESETS:
            raise HepxaiError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        self.preset = BDT_PRESETS[preset]
        if n_rounds is not None:
            self.preset = BDTPreset(**{**asdict(self.preset), "n_rounds": n_rounds})
        self.feature_names, self.class_names = tuple(feature_names), tuple(class_names)
        self.seed, self.n_jobs = seed, n_jobs
        self.booster = None
        self.meta: dict[str, Any] = {"kind": self.kind, "preset": preset,
                                     "hyperparameters": asdict(self.preset)}

    def params(self) -> dict[str, Any]:
        p = self.preset
        return {"objective": "multi:softprob", "num_class": len(self.class_names),
                "eval_metric": "mlogloss", "tree_method": "hist", "max_depth": p.max_depth,
                "eta": p.learning_rate, "subsample": p.subsample,
                "colsample_bytree": p.colsample_bytree, "min_child_weight": p.min_child_weight,
                "lambda": p.reg_lambda, "max_bin": p.max_bin, "seed": self.seed,
                "nthread": self.n_jobs or os.cpu_count() or 1}

    def fit(self, x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None,
            x_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
            weight_val: np.ndarray | None = None, *,
            shuffle_seed: int | None = None) -> SusyBDT:
        """Train; records the multi-class log-loss per round (train and, if given, validation)
        and the wall time of the boosting itself in ``meta``. ``shuffle_seed``: train on the
        labels permuted over the training events (:func:`shuffled_labels`); the validation
        labels stay true."""
        import xgboost as xgb

        x = self._check(x)
        if shuffle_seed is not None:
            y, weight = shuffled_labels(y, np.ones(len(y)) if weight is None else weight,
                                        shuffle_seed)
        train = xgb.DMatrix(x, label=y, weight=weight, feature_names=list(self.feature_names))
        evals = [(train, "train")]
        if x_val is not None:
            evals.append((xgb.DMatrix(self._check(x_val), label=y_val, weight=weight_val,
                                      feature_names=list(self.feature_names)), "validation"))
        record: dict[str, dict[str, list[float]]] = {}
        with progress(desc="boosting", total=self.preset.n_rounds, unit="round") as bar:
            callback = _ProgressCallback(bar.update)
            start = time.perf_counter()
            self.booster = xgb.train(self.params(), train, num_boost_round=self.preset.n_rounds,
                                     evals=evals, evals_result=record, verbose_eval=False,
                                     callbacks=[callback])
            seconds = time.perf_counter() - start
        self.meta.update({"train_seconds": seconds, "n_train": len(x),
                          "history": {k: v["mlogloss"] for k, v in record.items()}})
        return self

    def _dmatrix(self, x: np.ndarray):
        import xgboost as xgb

        if self.booster is None:
            raise HepxaiError("the BDT is not trained; train it or load a run directory")
        return xgb.DMatrix(self._check(x), feature_names=list(self.feature_names))

    def predict_margin(self, x: np.ndarray) -> np.ndarray:
        """Raw class scores ``(n, K)`` (sum of leaf values + base score); softmax = proba."""
        margin = self.booster_predict(x, output_margin=True)
        return margin.reshape(len(margin), len(self.class_names)).astype(np.float64)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.booster_predict(x).astype(np.float64)

    def booster_predict(self, x: np.ndarray, **kwargs: Any) -> np.ndarray:
        return self.booster.predict(self._dmatrix(x), **kwargs)

    def save(self, out: str | os.PathLike[str], identity: dict[str, Any]) -> Path:
        out = Path(out)
        with atomic_path(out / "booster.json") as tmp:
            tmp.write_bytes(bytes(self.booster.save_raw("json")))
        return _write_meta(out, self, identity)

    @classmethod
    def load(cls, out: Path, meta: dict[str, Any]) -> SusyBDT:
        import xgboost as xgb

        model = cls(meta["preset"], feature_names=tuple(meta["features"]),
                    class_names=tuple(meta["classes"]), seed=meta.get("seed", 1),
                    n_rounds=meta["hyperparameters"]["n_rounds"])
        model.booster = xgb.Booster()
        try:
            model.booster.load_model(str(out / "booster.json"))
        except xgb.core.XGBoostError as exc:
            raise HepxaiError(f"{out / 'booster.json'}: not a readable XGBoost model "
                              f"({str(exc).splitlines()[0][:120]}); retrain with "
                              "'hepxai train susy'") from None
        model.meta = meta
        return model


class _ProgressCallback:
    """XGBoost callback that advances a progress bar once per boosting round."""

    def __new__(cls, update: Callable[[int], Any]):
        import xgboost as xgb

        class Callback(xgb.callback.TrainingCallback):
            def after_iteration(self, model, epoch, evals_log) -> bool:
                update(1)
                return False

        return Callback()


# -- MLP --------------------------------------------------------------------------------------
class MLPNet(nn.Module):
    """Raw features ``(b, F)`` -> logits ``(b, K)``.

    The input transform lives inside the network (log1p for the GeV-valued, heavy-tailed
    variables, then standardisation with training-set statistics), so gradients and
    attributions are taken with respect to the physical variables a user reads.
    SiLU activations keep the network smooth for the path-integral explainers.
    """

    def __init__(self, n_features: int, n_classes: int, hidden: tuple[int, ...],
                 log_mask: np.ndarray | None = None):
        super().__init__()
        mask = np.zeros(n_features, bool) if log_mask is None else np.asarray(log_mask, bool)
        self.register_buffer("log_mask", torch.as_tensor(mask))
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))
        layers: list[nn.Module] = []
        width = n_features
        for size in hidden:
            layers += [nn.Linear(width, size), nn.SiLU()]
            width = size
        layers.append(nn.Linear(width, n_classes))
        self.body = nn.Sequential(*layers)

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.where(self.log_mask, torch.log1p(x.clamp_min(0.0)), x)
        return (x - self.mean) / self.std

    def fit_scaler(self, x: np.ndarray) -> None:
        with torch.no_grad():
            z = torch.where(self.log_mask, torch.log1p(torch.as_tensor(x).clamp_min(0.0)),
                            torch.as_tensor(x))
            self.mean.copy_(z.mean(0))
            self.std.copy_(z.std(0).clamp_min(1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.transform(x))


class SusyMLP(SusyModel):
    """A fully connected classifier trained with Adam on balanced cross-entropy."""

    kind = "mlp"

    def __init__(self, preset: str = "fast", *, feature_names: tuple[str, ...],
                 class_names: tuple[str, ...], seed: int = 1, n_jobs: int | None = None,
                 epochs: int | None = None, log_features: tuple[str, ...] = ()):
        if preset not in MLP_PRESETS:
            raise HepxaiError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        self.preset = MLP_PRESETS[preset]
        if epochs is not None:
            self.preset = MLPPreset(**{**asdict(self.preset), "epochs": epochs})
        self.feature_names, self.class_names = tuple(feature_names), tuple(class_names)
        self.seed, self.n_jobs = seed, n_jobs
        mask = np.array([name in log_features for name in self.feature_names])
        torch.manual_seed(seed)
        self.net = MLPNet(len(self.feature_names), len(self.class_names), self.preset.hidden,
                          mask)
        self.meta: dict[str, Any] = {"kind": self.kind, "preset": preset,
                                     "hyperparameters": asdict(self.preset),
                                     "log_features": list(log_features)}

    def fit(self, x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None, *,
            shuffle_seed: int | None = None) -> SusyMLP:
        """Train on ``x`` (a fixed ``validation_fraction`` of it held out to pick the best
        epoch by weighted validation loss); records losses and wall time in ``meta``.
        ``shuffle_seed``: train on the labels permuted over the training part
        (:func:`shuffled_labels`); the held-out part keeps its true labels, so the validation
        loss shows what the model did not learn."""
        x = self._check(x)
        p = self.preset
        generator = torch.Generator().manual_seed(self.seed)
        weight = np.ones(len(x)) if weight is None else np.asarray(weight, np.float64)
        order = torch.randperm(len(x), generator=generator).numpy()
        n_val = int(round(p.validation_fraction * len(x))) if len(x) >= 20 else 0
        val, train = order[:n_val], order[n_val:]
        self.net.fit_scaler(x[train])
        y_train, w_train = y[train], weight[train]
        if shuffle_seed is not None:
            y_train, w_train = shuffled_labels(y_train, w_train, shuffle_seed)
        xt = torch.as_tensor(x[train])
        yt = torch.as_tensor(y_train, dtype=torch.long)
        wt = torch.as_tensor(w_train, dtype=torch.float32)
        xv, yv = torch.as_tensor(x[val]), torch.as_tensor(y[val], dtype=torch.long)
        wv = torch.as_tensor(weight[val], dtype=torch.float32)
        optimizer = torch.optim.Adam(self.net.parameters(), lr=p.learning_rate,
                                     weight_decay=p.weight_decay)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(p.epochs, 1))
        history: dict[str, list[float]] = {"train": [], "validation": []}
        best, best_state = np.inf, None
        threads = torch.get_num_threads()
        if self.n_jobs:
            torch.set_num_threads(self.n_jobs)
        start = time.perf_counter()
        try:
            for _ in progress(range(p.epochs), desc="epochs", total=p.epochs, unit="epoch"):
                self.net.train()
                perm = torch.randperm(len(xt), generator=generator)
                total, norm = 0.0, 0.0
                for i in range(0, len(xt), p.batch_size):
                    idx = perm[i:i + p.batch_size]
                    loss_each = nn.functional.cross_entropy(self.net(xt[idx]), yt[idx],
                                                            reduction="none")
                    loss = (loss_each * wt[idx]).sum() / wt[idx].sum()
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    total += loss.item() * float(wt[idx].sum())
                    norm += float(wt[idx].sum())
                scheduler.step()
                history["train"].append(total / norm)
                if n_val:
                    val_loss = self._loss(xv, yv, wv)
                    history["validation"].append(val_loss)
                    if val_loss < best:
                        best = val_loss
                        best_state = {k: v.clone() for k, v in self.net.state_dict().items()}
        finally:
            torch.set_num_threads(threads)
        if best_state is not None:
            self.net.load_state_dict(best_state)
        self.meta.update({"train_seconds": time.perf_counter() - start, "n_train": len(x),
                          "history": history,
                          "best_epoch": int(np.argmin(history["validation"])) + 1
                          if history["validation"] else p.epochs})
        return self

    def _loss(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> float:
        self.net.eval()
        with torch.no_grad():
            loss = nn.functional.cross_entropy(self.net(x), y, reduction="none")
        return float((loss * w).sum() / w.sum())

    def predict_margin(self, x: np.ndarray) -> np.ndarray:
        """Logits ``(n, K)``, in batches of 65,536 events."""
        x = self._check(x)
        self.net.eval()
        out = []
        with torch.no_grad():
            for i in range(0, len(x), 65_536):
                out.append(self.net(torch.as_tensor(x[i:i + 65_536])).double().numpy())
        return np.concatenate(out)

    def save(self, out: str | os.PathLike[str], identity: dict[str, Any]) -> Path:
        out = Path(out)
        with atomic_path(out / "mlp.pt") as tmp:
            torch.save({"state_dict": self.net.state_dict(), "hidden": self.preset.hidden}, tmp)
        return _write_meta(out, self, identity)

    @classmethod
    def load(cls, out: Path, meta: dict[str, Any]) -> SusyMLP:
        model = cls(meta["preset"], feature_names=tuple(meta["features"]),
                    class_names=tuple(meta["classes"]), seed=meta.get("seed", 1),
                    epochs=meta["hyperparameters"]["epochs"],
                    log_features=tuple(meta.get("log_features", ())))
        try:
            state = torch.load(out / "mlp.pt", map_location="cpu", weights_only=True)
            model.net = MLPNet(len(model.feature_names), len(model.class_names),
                               tuple(state["hidden"]), model.net.log_mask.numpy())
            model.net.load_state_dict(state["state_dict"])
        except (OSError, RuntimeError, KeyError, EOFError) as exc:
            raise HepxaiError(f"{out / 'mlp.pt'}: not a readable MLP checkpoint "
                              f"({str(exc).splitlines()[0][:120]}); retrain with "
                              "'hepxai train susy'") from None
        model.net.eval()
        model.meta = meta
        return model


# -- construction and run directories ---------------------------------------------------------
def create(kind: str, preset: str, *, feature_names: tuple[str, ...],
           class_names: tuple[str, ...], seed: int = 1, n_jobs: int | None = None,
           log_features: tuple[str, ...] = (), size: int | None = None) -> SusyModel:
    """A fresh model: ``kind`` ``bdt`` or ``mlp``; ``size`` overrides rounds (BDT) or epochs."""
    if kind == "bdt":
        return SusyBDT(preset, feature_names=feature_names, class_names=class_names, seed=seed,
                       n_jobs=n_jobs, n_rounds=size)
    if kind == "mlp":
        return SusyMLP(preset, feature_names=feature_names, class_names=class_names, seed=seed,
                       n_jobs=n_jobs, epochs=size, log_features=log_features)
    raise HepxaiError(f"unknown model {kind!r}; choose one of {', '.join(MODEL_KINDS)}")


def _write_meta(out: Path, model: SusyModel, identity: dict[str, Any]) -> Path:
    meta = {**model.meta, **identity, "kind": model.kind, "features": list(model.feature_names),
            "classes": list(model.class_names), "seed": model.seed,
            "hepxai_version": __version__}
    model.meta = meta
    return write_json_atomic(out / "model.json", meta)


def load_model(run: str | os.PathLike[str]) -> SusyModel:
    """The model of a run directory written by ``hepxai train susy``."""
    run = Path(run)
    path = run / "model.json"
    if not path.is_file():
        raise HepxaiError(f"{run}: no trained SUSY model here (model.json missing); train one "
                          "with 'hepxai train susy --out DIR'")
    meta = read_json(path, "'hepxai train susy'", ("kind",))
    kind = meta["kind"]
    if kind == "bdt":
        return SusyBDT.load(run, meta)
    if kind == "mlp":
        return SusyMLP.load(run, meta)
    raise HepxaiError(f"{path}: unknown model kind {kind!r}; expected one of "
                      f"{', '.join(MODEL_KINDS)}")
