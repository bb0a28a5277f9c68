"""The SUSY explanation study: the simplified-vs-full comparison is computed from the two samples
of the same events, and the convergence measures behave as rank statistics should."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from susy_samples import data_dir

from hepxai.core.errors import HepxaiError
from hepxai.explain.types import Attribution
from hepxai.usecases.susy.store import SusyFile, split_path
from hepxai.usecases.susy.study import centred, compare_samples, convergence, explain_runs
from hepxai.usecases.susy.task import train_run

FEATURES = tuple(f"f{i}" for i in range(6))
CLASSES = ("signal", "b1", "b2")


def attribution(values: np.ndarray, ids: np.ndarray | None = None) -> Attribution:
    n = len(values)
    return Attribution(values=values, targets=CLASSES, method="test", kind="feature",
                       event_ids=np.arange(n) if ids is None else ids, item_names=FEATURES)


def test_convergence_of_identical_and_reversed_explanations() -> None:
    rng = np.random.default_rng(0)
    # importance grows with the feature index; per event the same order plus noise
    values = rng.normal(size=(200, 3, 6)) * np.arange(1, 7) * 2
    same = convergence({"a": attribution(values), "b": attribution(values.copy())})[0]
    assert same["spearman"] == pytest.approx(1.0) and same["kendall"] == pytest.approx(1.0)
    assert same["top5_overlap"] == 1.0 and same["event_top3_overlap"] == 1.0
    assert same["event_cosine_mean"] == pytest.approx(1.0)
    reversed_ = attribution(values[:, :, ::-1].copy())
    rows = convergence({"a": attribution(values), "b": reversed_})[0]
    assert rows["spearman"] == pytest.approx(-1.0)
    assert rows["top5_overlap"] == pytest.approx(4 / 5)  # 6 features: two top-5 share 4


def test_convergence_ignores_a_term_shared_by_all_classes() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(size=(100, 3, 6))
    shifted = values + rng.normal(size=(100, 1, 6)) * 5  # softmax-invisible common part
    rows = convergence({"a": attribution(values), "b": attribution(shifted)})[0]
    assert rows["spearman"] == pytest.approx(1.0)
    assert rows["event_cosine_mean"] == pytest.approx(1.0)
    np.testing.assert_allclose(centred(shifted), centred(values), atol=1e-12)


def test_convergence_intervals_match_a_bootstrap_by_loop() -> None:
    from scipy import stats

    from hepxai.explain.judging.uncertainty import bootstrap_interval

    rng = np.random.default_rng(3)
    # two noisy explanations sharing a feature order: the global Spearman is high but not 1
    a = rng.normal(size=(150, 3, 6)) * np.linspace(1, 1.25, 6)
    b = a * rng.uniform(0.3, 1.7, size=a.shape) + rng.normal(0, 0.5, size=a.shape)
    row = convergence({"a": attribution(a), "b": attribution(b)})[0]
    lo, hi = row["spearman_interval"]
    assert lo < row["spearman"] < 1.0 and hi <= 1.0 and hi - lo > 0.2
    # the same bootstrap written as a loop over resampled events, with its own generator
    ea, eb = np.abs(centred(a)[:, 0]), np.abs(centred(b)[:, 0])
    draws = np.random.default_rng(11).integers(0, len(ea), size=(2000, len(ea)))
    loop = [stats.spearmanr(ea[d].mean(0), eb[d].mean(0)).statistic for d in draws]
    expected = np.percentile(loop, [2.5, 97.5])
    np.testing.assert_allclose([lo, hi], expected, atol=0.06)
    # per-event means: the interval of the mean of the per-event values
    per_event = np.array([stats.spearmanr(x, y).statistic for x, y in zip(ea, eb, strict=True)])
    assert row["event_spearman_mean"] == pytest.approx(per_event.mean())
    np.testing.assert_allclose(row["event_spearman_interval"], bootstrap_interval(per_event))


def test_convergence_over_seeds_matches_a_two_stage_bootstrap_by_loop() -> None:
    rng = np.random.default_rng(5)
    a = rng.normal(size=(120, 3, 6)) * np.linspace(1, 1.3, 6)
    seeds = [a * rng.uniform(0.4, 1.6, size=a.shape) for _ in range(3)]  # a noisy method
    row = convergence({"a": attribution(a), "b": attribution(seeds[0])},
                      replicas={"b": [attribution(v) for v in seeds[1:]]})[0]
    assert row["seeds"] == 3
    ea = np.abs(centred(a)[:, 0])
    eb = [np.abs(centred(v)[:, 0]) for v in seeds]
    # the point estimates: importances averaged over seeds, per-event means over seeds
    assert row["spearman"] == pytest.approx(
        stats.spearmanr(ea.mean(0), np.mean([e.mean(0) for e in eb], 0)).statistic)
    per_seed = [np.mean([stats.spearmanr(x, y).statistic for x, y in zip(ea, e, strict=True)])
                for e in eb]
    assert row["event_spearman_mean"] == pytest.approx(np.mean(per_seed))
    # the interval: resample the events, then the seeds, by loop with its own generator
    loop_rng = np.random.default_rng(12)
    loop = []
    for _ in range(1500):
        d = loop_rng.integers(0, len(ea), len(ea))
        s = loop_rng.integers(0, 3, 3)
        loop.append(stats.spearmanr(ea[d].mean(0),
                                    np.mean([eb[i][d].mean(0) for i in s], 0)).statistic)
    np.testing.assert_allclose(row["spearman_interval"], np.percentile(loop, [2.5, 97.5]),
                               atol=0.06)
    # with one seed, the seeds add nothing: the same row as without replicas
    alone = convergence({"a": attribution(a), "b": attribution(seeds[0])})[0]
    single = convergence({"a": attribution(a), "b": attribution(seeds[0])}, replicas={})[0]
    assert alone == single and alone["seeds"] == 1


def test_convergence_needs_the_same_events() -> None:
    values = np.ones((10, 3, 6))
    with pytest.raises(HepxaiError, match="different events"):
        convergence({"a": attribution(values), "b": attribution(values, np.arange(10) + 1)})


def test_compare_samples_by_hand() -> None:
    rng = np.random.default_rng(2)
    phi_s, phi_f = rng.normal(size=(300, 3, 6)), rng.normal(size=(300, 3, 6))
    phi_f[:, 0, 2] = phi_s[:, 0, 2]  # feature 2: same explanation in both samples
    x_s = rng.normal(size=(300, 6))
    x_f = x_s + rng.normal(size=(300, 6)) * np.arange(6) * 0.1
    rows = {r["feature"]: r for r in compare_samples(attribution(phi_s), attribution(phi_f),
                                                     x_s, x_f)}
    for j, name in enumerate(FEATURES):
        row = rows[name]
        assert row["importance_simplified"] == pytest.approx(np.abs(phi_s[:, 0, j]).mean(),
                                                             rel=1e-6)
        assert row["mean_abs_difference"] == pytest.approx(
            np.abs(phi_f[:, 0, j] - phi_s[:, 0, j]).mean(), rel=1e-5)
        shift = np.sqrt(np.mean((x_f[:, j] - x_s[:, j]) ** 2)) / x_s[:, j].std()
        assert row["variable_rms_shift"] == pytest.approx(shift, rel=1e-9)
        assert row["variable_ks"] == pytest.approx(stats.ks_2samp(x_s[:, j], x_f[:, j]).statistic)
    assert rows["f2"]["mean_abs_difference"] == 0.0
    assert rows["f2"]["shap_correlation"] == pytest.approx(1.0, abs=1e-12)  # summation order
    assert rows["f0"]["variable_rms_shift"] == 0.0
    ordered = compare_samples(attribution(phi_s), attribution(phi_f), x_s, x_f)
    assert ordered[-1]["feature"] == "f2"  # sorted by the paired difference


def test_compare_samples_refuses_different_events() -> None:
    values = np.zeros((5, 3, 6))
    with pytest.raises(HepxaiError, match="different events"):
        compare_samples(attribution(values), attribution(values, np.arange(5)[::-1].copy()),
                        np.zeros((5, 6)), np.zeros((5, 6)))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("susy-runs")
    paths = []
    for kind, size in (("bdt", 10), ("mlp", 2)):
        for sample in ("simplified", "full"):
            path = out / f"{kind}-{sample}"
            train_run(kind, sample, "quick", data_dir(), path, size=size, jobs=1,
                      echo=lambda *_: None)
            paths.append(path)
    return paths


def test_explain_runs_compares_the_same_events(runs: list[Path], tmp_path: Path) -> None:
    summary = explain_runs(runs, data_dir(), tmp_path, max_events=300, n_jobs=1, figures=False)
    test = SusyFile(split_path(data_dir(), "test"))
    rows = test.selection(("simplified", "full"))[:300]
    saved = sorted((tmp_path / "attributions").glob("*.npz"))
    assert len(saved) == 6  # 2 BDT x TreeSHAP, 2 MLP x (GradientSHAP, IG)
    for path in saved:
        loaded = Attribution.load(path)
        np.testing.assert_array_equal(loaded.event_ids, test.event_id[rows])
    comparison = {r["feature"]: r for r in summary["comparison"]["rows"]}
    simplified = Attribution.load(tmp_path / "attributions" / "bdt-simplified.tree-shap.npz")
    full = Attribution.load(tmp_path / "attributions" / "bdt-full.tree-shap.npz")
    j = test.feature_names.index("mbb")
    assert comparison["mbb"]["mean_abs_difference"] == pytest.approx(
        np.abs(full.values[:, 0, j].astype(float) - simplified.values[:, 0, j]).mean(), rel=1e-5)
    xs, xf = test.features["simplified"][rows, j], test.features["full"][rows, j]
    assert comparison["mbb"]["variable_rms_shift"] == pytest.approx(
        np.sqrt(np.mean((xf.astype(float) - xs) ** 2)) / xs.std(), rel=1e-5)
    assert len(summary["convergence"]) == 15  # 6 explanations, every pair
    assert {(r["a"], r["b"]): r["seeds"] for r in summary["convergence"]} == {
        (r["a"], r["b"]): 1 for r in summary["convergence"]}
    stored = json.loads((tmp_path / "explain.json").read_text())
    assert stored["n_events"] == 300
    for info in stored["attributions"].values():
        if info["method"] == "tree-shap":
            assert info["completeness_rel_median"] < 1e-4  # exact


def test_explain_runs_with_seeds_of_gradient_shap(runs: list[Path], tmp_path: Path) -> None:
    mlp = [r for r in runs if "mlp" in r.name]
    summary = explain_runs(mlp, data_dir(), tmp_path, max_events=100, n_jobs=1, figures=False,
                           n_seeds=2, seed=4)
    seeds = {name: info["seeds"] for name, info in summary["attributions"].items()}
    assert sorted(seeds.values()) == [1, 1, 2, 2]  # GradientSHAP twice, IG once
    for row in summary["convergence"]:
        stochastic = "GradientSHAP" in row["a"] or "GradientSHAP" in row["b"]
        assert row["seeds"] == (2 if stochastic else 1)
    # the first seed is the run with --seed itself: the saved attribution is seed 4's
    single = explain_runs(mlp, data_dir(), tmp_path / "single", max_events=100, n_jobs=1,
                          figures=False, seed=4)
    for name, info in single["attributions"].items():
        np.testing.assert_array_equal(Attribution.load(info["path"]).values,
                                      Attribution.load(summary["attributions"][name]["path"])
                                      .values)
