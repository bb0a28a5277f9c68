"""SUSY models and their explanations against independent references: TreeSHAP against XGBoost's
own margins and ``pred_contribs``, IG against Captum, GradientSHAP against Captum and exact
values of a linear model."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import torch
import xgboost as xgb
from sklearn.metrics import roc_auc_score
from susy_samples import data_dir

from hepxai.core.errors import HepxaiError
from hepxai.explain import registry
from hepxai.explain.attribution.gradient_shap import GradientShap
from hepxai.explain.attribution.tree_shap import TreeShap, parse_booster, shap_values
from hepxai.explain.modality import Table
from hepxai.explain.types import Attribution
from hepxai.usecases.susy.models import class_weights, create, load_model
from hepxai.usecases.susy.store import SusyFile, split_path
from hepxai.usecases.susy.study import METHODS_BY_KIND, explain_model

LOG = ("met", "met_sig", "lep_pt", "mt", "ht", "jet1_pt", "mbb", "mct", "pt_bb", "mlb")


@functools.lru_cache(maxsize=1)
def tables():
    train = SusyFile(split_path(data_dir(), "train")).table("full")
    test = SusyFile(split_path(data_dir(), "test")).table("full")
    return train, test


@functools.lru_cache(maxsize=1)
def bdt():
    train, _ = tables()
    model = create("bdt", "quick", feature_names=train.feature_names,
                   class_names=train.class_names, n_jobs=1, size=25)
    return model.fit(train.x, train.y, class_weights(train.y, 5))


@functools.lru_cache(maxsize=1)
def mlp():
    train, _ = tables()
    model = create("mlp", "quick", feature_names=train.feature_names,
                   class_names=train.class_names, n_jobs=1, log_features=LOG, size=6)
    return model.fit(train.x, train.y, class_weights(train.y, 5))


def _gradient_shap(model, **options) -> GradientShap:
    return GradientShap(model.net, modality=Table(feature_names=model.feature_names),
                        output_names=model.class_names, **options)


def _all(model) -> list[str]:
    return list(model.class_names)


def test_methods_are_registered_for_susy() -> None:
    names = registry.names()
    assert {"tree-shap", "ig", "gradient-shap"} <= set(names)
    assert {m for kind in METHODS_BY_KIND.values() for m in kind} <= set(names)
    assert registry.get("tree-shap") is TreeShap


def test_models_learn() -> None:
    _, test = tables()
    for model, floor in ((bdt(), 0.95), (mlp(), 0.85)):
        proba = model.predict_proba(test.x)
        np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-5)
        assert roc_auc_score(test.y == 0, proba[:, 0]) > floor, model.kind


def test_treeshap_is_additive_to_the_bdt_margin() -> None:
    _, test = tables()
    model = bdt()
    attribution = explain_model(model, "tree-shap", test.x[:500], test.event_id[:500],
                                engine="fast", n_jobs=1)
    names = list(test.feature_names)
    margin = model.booster.predict(xgb.DMatrix(test.x[:500], feature_names=names),
                                   output_margin=True)
    total = attribution.values.astype(np.float64).sum(-1) + attribution.baseline_outputs
    np.testing.assert_allclose(total, margin, atol=2e-5)
    assert attribution.completeness_error().max() < 2e-5
    assert attribution.kind == "feature" and attribution.targets == test.class_names
    assert attribution.item_names == test.feature_names


@pytest.mark.parametrize("engine", ["fast", "shap"])
def test_treeshap_matches_xgboost_pred_contribs(engine: str) -> None:
    _, test = tables()
    model = bdt()
    x = test.x[:300]
    ours = explain_model(model, "tree-shap", x, engine=engine, n_jobs=2)
    contribs = model.booster.predict(xgb.DMatrix(x, feature_names=list(test.feature_names)),
                                     pred_contribs=True)  # (n, K, F + 1)
    np.testing.assert_allclose(ours.values, contribs[:, :, :-1], atol=2e-5)
    np.testing.assert_allclose(ours.baseline_outputs[0], contribs[0, :, -1], atol=2e-5)


def test_fast_treeshap_with_repeated_split_features_and_logistic_objective() -> None:
    # two features, deep trees: every path splits the same feature several times
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3000, 2)).astype(np.float32)
    y = ((x[:, 0] > 0.3) ^ (np.sin(3 * x[:, 1]) > 0)).astype(int)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 6, "nthread": 1,
                         "base_score": 0.3}, xgb.DMatrix(x, label=y), num_boost_round=15)
    tables_ = parse_booster(booster)
    assert tables_.leaf_k.max() == 2 and (tables_.n_leaves > 15 * 16)
    ours = shap_values(tables_, x[:400], n_jobs=1)[:, 0]
    contribs = booster.predict(xgb.DMatrix(x[:400]), pred_contribs=True)
    np.testing.assert_allclose(ours, contribs[:, :-1], atol=2e-5)
    np.testing.assert_allclose(tables_.expected[0], contribs[0, -1], atol=2e-5)


def test_ig_matches_captum() -> None:
    from captum.attr import IntegratedGradients

    train, test = tables()
    model = mlp()
    attribution = explain_model(model, "ig", test.x[:64], reference=train.x, steps=32)
    baseline = torch.as_tensor(train.x.astype(np.float64).mean(0), dtype=torch.float32)[None]
    captum = IntegratedGradients(model.net)
    for k in range(len(test.class_names)):
        reference = captum.attribute(torch.as_tensor(test.x[:64]), baselines=baseline, target=k,
                                     n_steps=32, method="gausslegendre")
        np.testing.assert_allclose(attribution.values[:, k], reference.numpy(), atol=2e-5,
                                   rtol=1e-4)
    relative = attribution.completeness_error() / np.abs(
        attribution.outputs - attribution.baseline_outputs)
    assert np.median(relative) < 1e-3


def test_gradient_shap_is_exact_on_a_linear_model() -> None:
    train, test = tables()
    linear = create("mlp", "quick", feature_names=train.feature_names,
                    class_names=train.class_names, size=1)
    linear.net = type(linear.net)(16, 5, (), None)  # no hidden layer: an affine map
    linear.net.fit_scaler(train.x)
    method = _gradient_shap(linear, n_baselines=1, n_samples=3)
    attribution = method.attribute(test.x[:50], target=_all(linear), baselines=train.x)
    weight = linear.net.body[0].weight.detach().double().numpy() / \
        linear.net.std.double().numpy()  # d logit_k / d x_j
    expected = weight[None] * (test.x[:50, None, :].astype(np.float64)
                               - method.reference(train.x).double().numpy()[0])
    np.testing.assert_allclose(attribution.values, expected, rtol=2e-4, atol=2e-5)
    assert attribution.completeness_error().max() < 1e-4


def test_gradient_shap_agrees_with_captum_in_expectation() -> None:
    from captum.attr import GradientShap

    train, test = tables()
    model = mlp()
    x = test.x[:8]
    ours = _gradient_shap(model, n_baselines=1, n_samples=3000).attribute(
        x, target=_all(model), baselines=train.x)
    baseline = _gradient_shap(model, n_baselines=1).reference(train.x)
    torch.manual_seed(0)
    theirs = np.stack([GradientShap(model.net).attribute(
        torch.as_tensor(x), baselines=baseline, n_samples=3000, target=k).numpy()
        for k in range(5)], axis=1)
    # with one baseline both estimate the same path integral (= IG from that baseline)
    ig = explain_model(model, "ig", x, reference=baseline.numpy(), steps=64).values
    scale = np.abs(ig).max()
    assert np.abs(ours.values - ig).max() < 0.05 * scale
    assert np.abs(theirs - ig).max() < 0.05 * scale
    # and GradientSHAP's draws do not depend on the batch size
    a = _gradient_shap(model, batch_size=3).attribute(test.x[:10], target=_all(model),
                                                      baselines=train.x)
    b = _gradient_shap(model, batch_size=10).attribute(test.x[:10], target=_all(model),
                                                       baselines=train.x)
    np.testing.assert_allclose(a.values, b.values, atol=1e-6)


def test_save_and_load_keep_predictions(tmp_path: Path) -> None:
    _, test = tables()
    for model in (bdt(), mlp()):
        model.save(tmp_path / model.kind, {"sample": "full"})
        loaded = load_model(tmp_path / model.kind)
        np.testing.assert_allclose(loaded.predict_margin(test.x[:100]),
                                   model.predict_margin(test.x[:100]), atol=1e-6)
        assert loaded.sample == "full" and loaded.feature_names == test.feature_names


def test_attribution_round_trip(tmp_path: Path) -> None:
    _, test = tables()
    attribution = explain_model(bdt(), "tree-shap", test.x[:20], test.event_id[:20], n_jobs=1)
    loaded = Attribution.load(attribution.save(tmp_path / "a.npz"))
    np.testing.assert_array_equal(loaded.values, attribution.values)
    np.testing.assert_array_equal(loaded.event_ids, test.event_id[:20])
    assert loaded.item_names == attribution.item_names and loaded.kind == "feature"


@pytest.mark.parametrize("call, message", [
    (lambda: TreeShap(mlp()), "explains a BDT"),
    (lambda: explain_model(bdt(), "ig", np.zeros((3, 16)), reference=np.zeros((3, 16))),
     "explains a MLP"),
    (lambda: explain_model(mlp(), "ig", np.zeros((3, 16))), "reference events"),
    (lambda: TreeShap(bdt(), engine="magic"), "unknown TreeSHAP engine"),
    (lambda: explain_model(bdt(), "tree-shap", np.zeros((4, 15))), r"\(n_events, 16\)"),
    (lambda: explain_model(bdt(), "tree-shap", np.full((4, 16), np.nan)), "NaN"),
    (lambda: bdt().predict_proba(np.zeros((0, 16))), "no events"),
])
def test_bad_input_one_line_errors(call, message: str) -> None:
    with pytest.raises(HepxaiError, match=message) as info:
        call()
    assert "\n" not in str(info.value)
