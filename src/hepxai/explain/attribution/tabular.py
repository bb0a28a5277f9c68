"""Attributions for tabular classifiers (the SUSY BDT and MLP), as shared
:class:`~hepxai.explain.types.Attribution` objects with ``kind="feature"``.

Every method explains the models' *margins* ``(n, K)`` (BDT: summed leaf values; MLP: logits),
the additive outputs whose softmax is the class probability, for every class at once: values
are ``(n_events, n_classes, n_features)`` in margin units, ``targets`` the class names and
``item_names`` the feature names (inputs stay in their physical units). ``outputs`` holds the
margins at the events and ``baseline_outputs`` the reference each method is complete against,
so ``values.sum(-1) == outputs - baseline_outputs`` is checkable
(:meth:`Attribution.completeness_error`).

| registry name | model | reference | completeness |
| --- | --- | --- | --- |
| ``shap-tree`` | BDT | training data via the trees' covers | exact |
| ``ig-tabular`` | MLP | one baseline event (default: training mean) | up to quadrature |
| ``gradient-shap-tabular`` | MLP | a sample of training events | in expectation |

Importing this module registers the three methods for the ``susy`` use case.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hepxai.core.errors import HepxaiError
from hepxai.core.progress import progress
from hepxai.explain.registry import register
from hepxai.explain.types import Attribution
from hepxai.usecases.susy.models import SusyBDT, SusyMLP, SusyModel, check_table

TREE_ENGINES = ("fast", "shap", "xgboost")


class TabularMethod:
    """Shared plumbing: model check, input validation, class targets, Attribution assembly."""

    method_name = "tabular"
    model_type: type = SusyModel

    def __init__(self, model: SusyModel, **params: Any):
        if not isinstance(model, self.model_type):
            raise HepxaiError(f"method {self.method_name!r} explains a "
                              f"{self.model_type.kind.upper()}, got a {model.kind.upper()}")
        self.model = model
        self.params = params

    def explain(self, x: np.ndarray, event_ids: np.ndarray | None = None) -> Attribution:
        """Attributions of every class margin for the events ``x`` ``(n, F)``."""
        x = check_table(x, len(self.model.feature_names), "events to explain")
        values, baseline = self._attribute(x)
        outputs = self.model.predict_margin(x)
        return Attribution(values=values.astype(np.float32), targets=self.model.class_names,
                           method=self.method_name, params=self.params, kind="feature",
                           outputs=outputs, baseline_outputs=np.broadcast_to(
                               baseline, outputs.shape).copy(),
                           event_ids=event_ids, item_names=self.model.feature_names)

    def _attribute(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        raise NotImplementedError


@register("shap-tree", "susy")
class TreeShap(TabularMethod):
    """Exact path-dependent TreeSHAP of the BDT's class margins.

    ``engine``: ``fast`` (:mod:`hepxai.explain.attribution.treeshap`, tabulated per leaf,
    parallel), ``shap`` (``shap.TreeExplainer``) or ``xgboost`` (``pred_contribs=True``); all
    three give the same numbers up to float rounding. ``n_jobs``: threads (default: all cores).
    """

    model_type = SusyBDT

    def __init__(self, model: SusyBDT, engine: str = "fast", n_jobs: int | None = None):
        if engine not in TREE_ENGINES:
            raise HepxaiError(f"unknown TreeSHAP engine {engine!r}; choose one of "
                              f"{', '.join(TREE_ENGINES)}")
        super().__init__(model, engine=engine)
        self.engine, self.n_jobs = engine, n_jobs
        self._tables = None

    @property
    def expected_value(self) -> np.ndarray:
        """The expected margin per class ``(K,)`` (the SHAP base value)."""
        return self._tree_tables().expected.copy()

    def _tree_tables(self):
        from hepxai.explain.attribution.treeshap import parse_booster

        if self._tables is None:
            self._tables = parse_booster(self.model.booster)
        return self._tables

    def _attribute(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n_classes = len(self.model.class_names)
        if self.engine == "fast":
            from hepxai.explain.attribution.treeshap import shap_values

            tables = self._tree_tables()
            return shap_values(tables, x, self.n_jobs), tables.expected
        if self.engine == "xgboost":
            contribs = self.model.booster_predict(x, pred_contribs=True)
            contribs = contribs.reshape(len(x), n_classes, -1)
            return contribs[:, :, :-1], contribs[0, :, -1]
        import shap

        explainer = shap.TreeExplainer(self.model.booster)
        values = np.asarray(explainer.shap_values(x))  # (n, F, K) for multi-class
        if values.ndim == 2:
            values = values[:, :, None]
        return np.moveaxis(values, 2, 1), np.atleast_1d(explainer.expected_value)


def _gauss_legendre(steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the ``steps``-point Gauss-Legendre rule on [0, 1]."""
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    return 0.5 * (nodes + 1.0), 0.5 * weights


def _reference_mean(reference: np.ndarray | None, n_features: int) -> np.ndarray:
    if reference is None:
        raise HepxaiError("this method needs reference events (e.g. training events) to build "
                          "its baseline; pass reference=")
    reference = check_table(reference, n_features, "reference events")
    return reference.astype(np.float64).mean(axis=0)


@register("ig-tabular", "susy")
class TabularIG(TabularMethod):
    """Integrated Gradients of the MLP logits on the straight line from a baseline event.

    ``IG_i = (x_i - b_i) * integral_0^1 dF/dx_i(b + a (x - b)) da`` with a ``steps``-point
    Gauss-Legendre rule (Captum's default quadrature); every class from one forward pass of all
    path points of a batch. ``baseline``: an event ``(F,)``; default: the mean of ``reference``
    (training events), a neutral, data-like point for tables where an all-zero event (no MET,
    no lepton) is unphysical.
    """

    model_type = SusyMLP

    def __init__(self, model: SusyMLP, baseline: np.ndarray | None = None,
                 reference: np.ndarray | None = None, steps: int = 32, batch_size: int = 512):
        if steps < 1 or batch_size < 1:
            raise HepxaiError(f"steps and batch size must be >= 1, got {steps}, {batch_size}")
        n_features = len(model.feature_names)
        if baseline is None:
            baseline = _reference_mean(reference, n_features)
        baseline = np.asarray(baseline, np.float64).reshape(-1)
        if baseline.shape != (n_features,) or not np.all(np.isfinite(baseline)):
            raise HepxaiError(f"the IG baseline must be {n_features} finite feature values, got "
                              f"shape {baseline.shape}")
        super().__init__(model, steps=steps, baseline=baseline.tolist())
        self.baseline, self.steps, self.batch_size = baseline, steps, batch_size

    def _attribute(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        net = self.model.net.eval()
        alphas, weights = _gauss_legendre(self.steps)
        alphas_t = torch.as_tensor(alphas, dtype=torch.float32)
        weights_t = torch.as_tensor(weights, dtype=torch.float32)
        base = torch.as_tensor(self.baseline, dtype=torch.float32)
        n_classes = len(self.model.class_names)
        out = np.empty((len(x), n_classes, x.shape[1]))
        for start in progress(range(0, len(x), self.batch_size), desc="integrated gradients",
                              total=-(-len(x) // self.batch_size)):
            xb = torch.as_tensor(x[start:start + self.batch_size])
            delta = xb - base
            # (b, steps, F) path points, all through the network at once
            path = (base + alphas_t[None, :, None] * delta[:, None, :]).reshape(-1, x.shape[1])
            path.requires_grad_(True)
            logits = net(path)
            grads = []
            for k in range(n_classes):
                (g,) = torch.autograd.grad(logits[:, k].sum(), path, retain_graph=True)
                grads.append(g.reshape(len(xb), self.steps, -1))
            grad = torch.stack(grads, 1)  # (b, K, steps, F)
            integral = (grad * weights_t[None, None, :, None]).sum(2)
            out[start:start + len(xb)] = (integral * delta[:, None, :]).double().numpy()
        with torch.no_grad():
            baseline_out = net(base[None]).double().numpy()[0]
        return out, baseline_out


@register("gradient-shap-tabular", "susy")
class TabularGradientShap(TabularMethod):
    """GradientSHAP (expected gradients; Lundberg & Lee 2017, Erion et al. 2021) of the MLP
    logits, the estimator of ``captum.attr.GradientShap`` (no input noise).

    For each event and each of ``n_samples`` draws: a baseline ``b`` from ``n_baselines``
    reference (training) events and ``a ~ U(0, 1)``; the attribution is the mean over draws of
    ``dF/dx(b + a (x - b)) * (x - b)``, every class from one pass (Captum needs one call per
    class). Complete in expectation: ``sum(values) ~ F(x) - mean F(reference)``, which is what
    ``baseline_outputs`` records. Uses the same background distribution as TreeSHAP (the
    training data), which makes the two comparable. Draws come from a ``seed``-ed generator per
    batch, so results do not depend on the batch size or on torch's global random state.
    """

    model_type = SusyMLP

    def __init__(self, model: SusyMLP, reference: np.ndarray | None = None,
                 n_baselines: int = 200, n_samples: int = 32, seed: int = 0,
                 batch_size: int = 256):
        if reference is None:
            raise HepxaiError("gradient-shap-tabular needs reference events (e.g. training "
                              "events); pass reference=")
        reference = check_table(reference, len(model.feature_names), "reference events")
        if n_baselines < 1 or n_samples < 1 or batch_size < 1:
            raise HepxaiError("n_baselines, n_samples and batch size must be >= 1")
        rng = np.random.default_rng(seed)
        rows = rng.choice(len(reference), size=min(n_baselines, len(reference)), replace=False)
        super().__init__(model, n_baselines=len(rows), n_samples=n_samples, seed=seed)
        self.baselines = reference[np.sort(rows)]
        self.n_samples, self.seed, self.batch_size = n_samples, seed, batch_size

    def draws(self, start: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Baseline indices and path fractions ``(n, n_samples)`` of events ``start:start+n``,
        drawn per event from ``SeedSequence(seed, spawn_key=(event,))`` (batch-independent)."""
        index = np.empty((n, self.n_samples), np.int64)
        alpha = np.empty((n, self.n_samples))
        for i in range(n):
            rng = np.random.default_rng(np.random.SeedSequence(self.seed,
                                                               spawn_key=(start + i,)))
            index[i] = rng.integers(0, len(self.baselines), self.n_samples)
            alpha[i] = rng.random(self.n_samples)
        return index, alpha

    def _attribute(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        net = self.model.net.eval()
        baselines = torch.as_tensor(self.baselines)
        n_classes = len(self.model.class_names)
        out = np.empty((len(x), n_classes, x.shape[1]))
        for start in progress(range(0, len(x), self.batch_size), desc="gradient SHAP",
                              total=-(-len(x) // self.batch_size)):
            xb = torch.as_tensor(x[start:start + self.batch_size])
            index, alpha = self.draws(start, len(xb))
            base = baselines[torch.as_tensor(index)]  # (b, S, F)
            delta = xb[:, None, :] - base
            points = (base + torch.as_tensor(alpha, dtype=torch.float32)[..., None] * delta)
            points = points.reshape(-1, x.shape[1]).requires_grad_(True)
            logits = net(points)
            for k in range(n_classes):
                (g,) = torch.autograd.grad(logits[:, k].sum(), points, retain_graph=True)
                values = (g.reshape(delta.shape) * delta).mean(1)
                out[start:start + len(xb), k] = values.double().numpy()
        with torch.no_grad():
            baseline_out = net(baselines).double().mean(0).numpy()
        return out, baseline_out
