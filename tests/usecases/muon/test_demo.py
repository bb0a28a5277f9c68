"""The quick muon demo end to end: every report section, summary numbers equal to the metric
functions on the saved predictions, resumable steps, and the report in a real browser."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from report_checks import check_page

from hepxai.metrics.trigger import trigger_summary
from hepxai.usecases.muon.demo import run_demo

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, float]]:
    out = tmp_path_factory.mktemp("demo") / "run"
    return out, run_demo(out, quick=True, seed=1)


def test_the_report_has_every_section(demo_run):
    out, timings = demo_run
    assert all(t > 0 for t in timings.values())  # a fresh directory runs every step
    html = (out / "report.html").read_text()
    for anchor in ("data", "models", "metrics", "tree-models", "explanations", "tree",
                   "influence", "convergence",
                   "explain-attribution-cnn", "explain-tracin-cnn", "tree-convsdt",
                   "tree-convsdt-distilled", "sanity", "sanity-attribution-cnn"):
        assert f'id="{anchor}"' in html
    for method in ("ram", "saliency", "ig-binary-exact", "shapley", "smoothgrad"):
        assert f"<td>{method}</td>" in html
    # the judging table's header names the events its numbers are over
    for name in ("attribution-cnn", "tracin-cnn"):
        scores = json.loads((out / "explain" / name / "judging.json").read_text())["scores"]
        section = html[html.index(f'id="explain-{name}"'):]
        header = "muon share (TP)" if all("TP" in s for s in scores.values()) else \
            "muon share (all events: this sample has no true-positive event)"
        assert section.index(header) < section.index("</table>")
    assert check_page(html) == ["data", "models", "metrics", "tree-models", "explanations",
                                "explain-attribution-cnn", "explain-tracin-cnn", "tree",
                                "tree-convsdt", "tree-convsdt-distilled", "influence",
                                "convergence", "sanity", "sanity-attribution-cnn",
                                *(["run"] if (out / "timings.json").exists() else [])]


def test_the_sanity_section_shows_the_checks_of_sanity_json(demo_run):
    from hepxai.explain.judging.sanity import THRESHOLD
    from hepxai.explain.judging.uncertainty import verdict
    from hepxai.io.checkpoint import read_checkpoint
    from hepxai.report.format import with_interval

    out, _ = demo_run
    shuffled = read_checkpoint(out / "sanity" / "attribution-cnn-shuffled" / "best.pt")
    assert shuffled["identity"]["shuffled_labels"] is True
    sanity = json.loads((out / "sanity" / "attribution-cnn" / "sanity.json").read_text())
    # how much both learned: their best epochs' validation MAE, as the checkpoints hold it
    trained = read_checkpoint(out / "models" / "attribution-cnn" / "best.pt")
    for key, state in (("trained", trained), ("shuffled", shuffled)):
        entry = next(h for h in state["history"] if h["epoch"] == state["epoch"])
        assert sanity["quality"][key] == pytest.approx(entry["mae"])
    assert set(sanity["methods"]) == {"ram", "saliency", "ig", "ig-binary-exact", "shapley"}
    assert list(sanity["seed_stability"]) == ["shapley"]
    html = (out / "report.html").read_text()
    section = html[html.index('id="sanity-attribution-cnn"'):]
    for method, per in sanity["methods"].items():
        for check in ("cascading", "labels"):
            spearman = per[check]["similarity"]["spearman"]
            shown = with_interval(spearman["mean"][-1], spearman["interval"][-1], 2)
            assert per[check]["verdict"] == verdict(spearman["interval"][-1], THRESHOLD)
            assert f"<td>{shown}</td><td>{per[check]['verdict']}</td>" in section, (method,
                                                                                   check)
    summary = json.loads((out / "summary.json").read_text())
    assert [r["method"] for r in summary["sanity"]["attribution-cnn"]] == list(
        sanity["methods"])
    # the explanations average as many Shapley orders as the seed stability asks for
    judging = json.loads((out / "explain" / "attribution-cnn" / "judging.json").read_text())
    needed = sanity["seed_stability"]["shapley"]["samples_needed"]
    assert judging["method_params"]["shapley"]["params"]["orders"] == max(10, needed)


def test_summary_numbers_equal_the_metrics_on_the_saved_predictions(demo_run):
    out, _ = demo_run
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["models"]) == 4
    evaluation = json.loads((out / "evaluation" / "evaluation.json").read_text())
    files = {m["label"]: m["predictions"] for m in evaluation["models"]}
    for model in summary["models"]:
        saved = np.load(files[model["label"]])
        expected = trigger_summary(saved["targets"][:, 0], saved["val"][:, 0],
                                   saved["targets"][:, 1], saved["val"][:, 1],
                                   saved["noise"][:, 0])
        for key in ("spread", "efficiency_15", "efficiency_10"):
            assert model[key] == pytest.approx(expected[key], nan_ok=True)
        assert model["only_noise"]["rate"] == pytest.approx(expected["only_noise"]["rate"])
        # a distilled model's loss is in its teacher's units: flagged, never read as the others'
        assert ("not comparable" in model["loss_space"]) == model["label"].startswith("distilled")
    # both conventions of every model, side by side in the report: the thesis column is the
    # thesis code's numbers on the same saved predictions
    from hepxai.metrics.thesis_code import thesis_code_summary

    html = (out / "report.html").read_text()
    assert "hepxai's conventions vs the thesis' code" in html and "ram-thesis-code" in html
    for model in summary["models"]:
        saved = np.load(files[model["label"]])
        theirs = thesis_code_summary(saved["targets"][:, 0], saved["val"][:, 0],
                                     saved["targets"][:, 1], saved["val"][:, 1])
        rows = {r["quantity"]: r for r in model["conventions"]}
        assert rows["efficiency at 15 GeV"]["thesis"] == pytest.approx(theirs["efficiency_15"])
        assert rows["MAE"]["thesis"] == pytest.approx(theirs["mae"])
    judging = summary["judging"]["tracin-cnn"]
    assert set(judging["scores"]) >= {"ram", "ig", "shapley"}
    # thesis table 7.1: the eight tree models, each row the evaluation of its own run
    rows = summary["tree_models"]
    assert [r["name"] for r in rows] == [
        "DecTree", "Distilled DecTree", "NDT", "SDT", "SDT Ensemble", "Distilled SDT",
        "Distilled SDT Ensemble", "Big Distilled SDT Ensemble"]
    trees = json.loads((out / "trees" / "evaluation" / "evaluation.json").read_text())
    for row in rows:
        found = next(m for m in trees["models"] if f"/trees/{row['run']}/" in m["checkpoint"])
        assert row["spread"] == pytest.approx(found["spread"], nan_ok=True)
        assert row["distilled"] == (
            found["label"].startswith("distilled"))
    # thesis table 5.1: the labels' mean and standard deviation per split, from the files
    from hepxai.usecases.muon.store import MuonFile

    for row in summary["data"]:
        labels = MuonFile(out / "data" / f"{row['split']}.h5").labels
        if row["split"] == "noise":
            assert row["mean_pt"] is None and row["std_eta"] is None
            continue
        assert row["std_pt"] == pytest.approx(float(np.std(labels["pt"])))
        assert row["mean_eta"] == pytest.approx(float(np.mean(labels["eta"])))
    explained = out / "explain" / "attribution-cnn"
    assert {p.name for p in explained.glob("panel_*.png")} >= {  # thesis figures 7.3-7.5
        "panel_only-noise_high.png", "panel_only-noise_low.png"}
    for name in ("interpolation_set", "noise_examples"):  # thesis figures 6.1 and 6.2
        assert (out / "explain" / "attribution-cnn" / f"{name}.png").exists()
        assert f"explain/attribution-cnn/{name}.png" in html or "data:image/png" in html
    # TracIn: the report's table is the category study's JSON, and every explained event of a
    # set has top-k proponents whose scores are positive and sorted
    sets = summary["influence"]["sets"]
    assert sets == json.loads((out / "influence" / "categories_last-layer.json").read_text())[
        "sets"]
    explained = [name for name, s in sets.items() if s.get("n_events")]
    assert explained
    for name in explained:
        saved = np.load(out / "influence" / f"category_{name}_last-layer.npz")
        scores = saved["proponent_scores"]
        assert (np.diff(scores, axis=1) <= 0).all() and (scores[:, 0] > 0).all()


def test_a_degenerate_model_gets_the_banner(demo_run, tmp_path):
    from hepxai.usecases.muon.report import build_muon_report

    out, _ = demo_run
    html = (out / "report.html").read_text()
    attribution = next(m for m in json.loads((out / "summary.json").read_text())["models"]
                       if m["label"].startswith("attribution-cnn"))
    banner = html[html.index('id="warnings"'):html.index("</div>", html.index('id="warnings"'))] \
        if 'id="warnings"' in html else ""
    assert attribution["label"] not in banner  # the quick demo's Attribution CNN has learned
    # the same run with that model's predictions made constant: the banner names it
    copy = tmp_path / "run"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("data"))
    (copy / "data").symlink_to(out / "data")
    evaluation = json.loads((copy / "evaluation" / "evaluation.json").read_text())
    for m in evaluation["models"]:
        m["predictions"] = m["predictions"].replace(str(out), str(copy))
    (copy / "evaluation" / "evaluation.json").write_text(json.dumps(evaluation))
    model = next(m for m in evaluation["models"] if m["label"] == attribution["label"])
    saved = dict(np.load(model["predictions"]))
    saved["val"] = np.full_like(saved["val"], 11.9)
    np.savez(model["predictions"], **saved)
    page = build_muon_report(copy).read_text()
    banner = page[page.index('id="warnings"'):page.index("</div>", page.index('id="warnings"'))]
    assert f"{attribution['label']} predicts almost one value" in banner
    assert "selects no event at 15 GeV" in banner


def test_the_report_shows_tracin_checked_by_retraining(demo_run, tmp_path):
    """lsor.json and datamodels.json (written here in the studies' formats) get their tables,
    and a TracIn variant's lead over random removal is claimed only beyond two standard
    errors."""
    from hepxai.usecases.muon.report import build_muon_report

    out, _ = demo_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("data"))
    (copy / "data").symlink_to(out / "data")
    lsor = {"config": {"model": "tracin-cnn-tiny", "n_train": 2000, "n_test": 50, "k": 100,
                       "seeds": [1, 2]},
            "random": {"delta_mean": 0.001, "delta_se": 0.0005},
            "variants": {"last-layer": {"delta_mean": 0.02, "delta_se": 0.003, "ratio": 20.0,
                                        "ratio_se": 5.0, "difference_mean": 0.019,
                                        "difference_se": 0.003},
                         "full": {"delta_mean": 0.002, "delta_se": 0.002, "ratio": 2.0,
                                  "ratio_se": 1.5, "difference_mean": 0.001,
                                  "difference_se": 0.002}}}
    (copy / "influence" / "lsor.json").write_text(json.dumps(lsor))
    (copy / "influence" / "datamodels.json").write_text(json.dumps(
        {"lds": {"datamodel": {"mean": 0.31, "se": 0.04}, "last-layer": {"mean": 0.12,
                                                                         "se": 0.05}}}))
    html = build_muon_report(copy).read_text()
    assert 'id="influence-validation"' in html and 'href="#influence-validation"' in html
    assert ("removing the top last-layer proponents raises the test loss +0.0190 +- 0.0030 "
            "more than removing random events;") in html
    assert ("removing the top full proponents raises the test loss +0.0010 +- 0.0020 more "
            "than removing random events: within two standard errors, not established") in html
    assert "<td>datamodel</td><td>0.310 &plusmn; 0.040</td>" in html


def test_the_quick_attribution_cnn_learns(demo_run):
    """Honest at every scale: the quick demo's explained model is no constant."""
    out, _ = demo_run
    summary = json.loads((out / "summary.json").read_text())
    model = next(m for m in summary["models"] if m["label"].startswith("attribution-cnn"))
    assert 0.3 <= model["efficiency_15"] <= 0.95, model["efficiency_15"]
    confusion = np.asarray(model["confusion_15"])
    evaluation = json.loads((out / "evaluation" / "evaluation.json").read_text())
    saved = np.load(next(m["predictions"] for m in evaluation["models"]
                         if m["label"] == model["label"]))
    true, selected = saved["targets"][:, 0] > 15, saved["val"][:, 0] > 15
    for category in (true & selected, true & ~selected, ~true & selected, ~true & ~selected):
        assert category.any()  # TP, FN, FP and TN all present
    assert confusion.shape == (2, 2)


def test_report_reads_the_use_case_from_the_run_directory(demo_run, capsys):
    from hepxai.cli.app import main

    out, _ = demo_run
    assert main(["report", str(out)]) == 0  # no use case named: read from data/*.h5
    assert str(out / "report.html") in capsys.readouterr().out


def test_rerun_skips_and_a_deleted_output_reruns_only_its_step(demo_run):
    out, first = demo_run
    recorded = json.loads((out / "timings.json").read_text())
    assert recorded == first  # every step, in step order, with the seconds it ran
    assert list(recorded) == list(first)
    # an earlier test re-rendered report.html by hand: outputs changed since the step made them
    # are not trusted, so only the report step runs again
    settle = run_demo(out, quick=True, seed=1)
    assert {name for name, t in settle.items() if t > 0} <= {"report"}
    recorded = json.loads((out / "timings.json").read_text())
    assert all(t == 0 for t in run_demo(out, quick=True, seed=1).values())
    assert json.loads((out / "timings.json").read_text()) == recorded
    (out / "explain" / "tracin-cnn" / "judging.json").unlink()
    timings = run_demo(out, quick=True, seed=1)
    assert {name for name, t in timings.items() if t > 0} == {"explain tracin-cnn", "report"}
    now = json.loads((out / "timings.json").read_text())
    assert list(now) == list(recorded)
    assert {name for name in now if now[name] != recorded[name]} == {"explain tracin-cnn",
                                                                      "report"}


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                    "('make test' installs it)")
def test_the_report_opens_in_a_real_browser(demo_run):
    from playwright.sync_api import sync_playwright

    out, _ = demo_run
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((out / "report.html").as_uri())
        page.wait_for_load_state("load")
        images = page.eval_on_selector_all(
            "img", "els => els.map(e => [e.getAttribute('src'), e.complete && e.naturalWidth])")
        assert images and all(width > 0 for _, width in images), images
        links = page.eval_on_selector_all("nav a", "els => els.map(e => e.getAttribute('href'))")
        for href in links:
            assert page.query_selector(href) is not None, f"table of contents link {href} broken"
        page.screenshot(path=str(out / "report_screenshot.png"), full_page=False)
        browser.close()
    assert not errors, errors
    assert (out / "report_screenshot.png").stat().st_size > 10_000


def test_the_distilled_convsdt_learns_from_the_teachers_last_epoch(tmp_path):
    from hepxai.usecases.muon.demo import SIZES, muon_steps

    for size in SIZES.values():
        step = next(s for s in muon_steps(tmp_path, size, 1)
                    if s.name == "train convsdt-distilled")
        teacher = Path(step.argv[step.argv.index("--teacher") + 1])
        # not best.pt, which the efficiency criterion can set to an early, biased epoch
        assert teacher == (tmp_path / "models" / "attribution-cnn" / "checkpoints"
                           / f"epoch_{size.epochs:03d}.pt")
        assert teacher in step.inputs
