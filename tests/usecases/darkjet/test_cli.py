"""``hepxai ... darkjet`` end to end and its one-line errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from cli_checks import user_error
from report_checks import CHROMIUM, check_in_browser, check_page

from hepxai.cli import main as cli
from hepxai.core.errors import HepxaiError
from hepxai.explain.types import Attribution
from hepxai.metrics.classification import roc_auc

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("darkjet") / "data"
    assert cli(["simulate", "darkjet", "--out", str(out), "--n", "400", "--seed", "3"]) == 0
    return out


def test_train_evaluate_explain(data_dir, tmp_path, capsys):
    run = tmp_path / "run"
    assert cli(["train", "darkjet", "--model", "resgnn", "--preset", "quick", "--data",
                str(data_dir), "--out", str(run), "--epochs", "2", "--variant", "gnn-2"]) == 0
    assert (run / "best.pt").exists() and (run / "training_curves.png").exists()
    assert list((data_dir / "graphs").glob("train-gnn-2-*.npz"))  # cached graphs
    capsys.readouterr()
    out = tmp_path / "evaluation"
    assert cli(["evaluate", "darkjet", "--checkpoint", str(run / "best.pt"), "--data",
                str(data_dir), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| gnn-2 | resgnn |" in printed
    results = json.loads((out / "evaluation.json").read_text())
    (model,) = results["models"]
    saved = np.load(model["predictions"])
    assert model["metrics"]["auc"] == pytest.approx(roc_auc(saved["labels"], saved["logits"]))
    assert model["n_jets"] == 80 and model["variant"] == "gnn-2"
    for figure in ("roc.png", "scores.png"):
        assert (out / figure).stat().st_size > 5_000
    cnn = tmp_path / "cnn"
    assert cli(["train", "darkjet", "--model", "cnn3d", "--preset", "quick", "--data",
                str(data_dir), "--out", str(cnn), "--epochs", "1", "--variant", "gnn-1",
                "--max-jets", "200", "--val-jets", "50"]) == 0
    explained = tmp_path / "explain"
    assert cli(["explain", "darkjet", "--checkpoint", str(run / "best.pt"), "--data",
                str(data_dir), "--out", str(explained), "--methods",
                "saliency-graph,ig-graph", "--steps", "8", "--n-jets", "10", "--views", "1",
                "--cnn-checkpoint", str(cnn / "best.pt")]) == 0
    node = Attribution.load(explained / "saliency-graph.npz")
    assert node.kind == "node" and node.n_events == 10
    assert (explained / "saliency-graph-layers.png").exists()
    judging = json.loads((explained / "judging.json").read_text())
    assert judging["methods"] == ["saliency-graph", "ig-graph"] and judging["n_jets"] == 10
    assert np.array(judging["agreement"]["spearman"]["all"]).shape == (2, 2)
    assert judging["scores"]["ig-graph"]["all"]["completeness_error"] is not None
    cross = json.loads((explained / "cross_model.json").read_text())["methods"]
    assert set(cross) == {"saliency-graph", "ig-graph"}
    assert len(cross["saliency-graph"]["per_jet"]) == 10
    for figure in ("agreement.png", "deletion_curves.png", "cross_model.png"):
        assert (explained / figure).stat().st_size > 5_000
    html = next(explained.glob("saliency-graph-*-3d.html")).read_text()
    assert "<canvas" in html and '"edges"' in html
    # the report of this run directory, and its section alone for the global report
    assert cli(["report", "darkjet", "--run", str(tmp_path)]) == 0
    page = (tmp_path / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "| gnn-2 |" not in page
    assert "<td>gnn-2</td><td>resgnn</td>" in page and "saliency-graph" in page
    assert "Judging the explanations" in page and "shuffled" in page
    assert check_page(page) == ["darkjet-graphs", "darkjet-metrics", "darkjet-explain",
                                "darkjet-judging", "darkjet-cross-model",
                                "darkjet-method-saliency-graph", "darkjet-method-ig-graph"]
    if CHROMIUM:
        check_in_browser(tmp_path / "report.html")
    from hepxai.usecases.darkjet.report import render_section, section_context

    section = render_section(section_context(tmp_path))
    assert section.lstrip().startswith('<section id="darkjet">') and "<html" not in section


@pytest.mark.slow
def test_demo_writes_the_report(tmp_path, capsys):
    out = tmp_path / "demo"
    assert cli(["demo", "darkjet", "--out", str(out), "--n", "150", "--epochs", "1",
                "--n-explain", "6", "--views", "1", "--threads", "1"]) == 0
    report = (out / "report.html").read_text()
    for text in ("Dark-photon jets as graphs", "gnn-0", "gnn-1", "gnn-2", "cnn3d", "gatv2",
                 "saliency-graph", "ig-graph", "gnnexplainer", "data:image/png;base64"):
        assert text in report, text
    results = json.loads((out / "evaluation" / "evaluation.json").read_text())
    assert len(results["models"]) == 9 and len(results["claims"]) == 3
    # TracIn of the resgnn-gnn-1 run: the precompute, the category study and its section
    influence = out / "influence"
    assert (influence / "tracin" / "manifest.json").exists()
    study = json.loads((influence / "categories.json").read_text())
    assert study["explained_model"].endswith("resgnn-gnn-1/best.pt")
    assert sum(study["category_counts"].values()) == study["candidates"] == 30  # all test jets
    assert "Training-data influence (TracIn)" in report
    filled = {name: s for name, s in study["sets"].items() if s["n_jets"]}
    assert filled
    for name, s in study["sets"].items():  # the report's table row = the category JSON
        row = re.search(rf'<tr id="tracin-{name}">(.*?)</tr>', report, re.S)
        assert row, name
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
        if name not in filled:
            assert cells[:2] == [name, "0"]
            continue
        assert cells == [name, str(s["n_jets"]), f"{s['mean_probability']:.3f}",
                         f"{s['proponent_mean_score']:.3g}", f"{s['opponent_mean_score']:.3g}",
                         f"{s['proponent_same_class']:.2f}", f"{s['proponent_noise_share']:.3f}",
                         f"{s['train_noise_share']:.3f}", f"{s['proponent_mean_clusters']:.1f}",
                         f"{s['train_mean_clusters']:.1f}"], name
        # last-layer proponents (ReLU features) always have the test jet's class
        assert s["proponent_same_class"] == 1.0 and s["proponent_mean_score"] > 0
        assert (influence / f"category_{name}.png").stat().st_size > 5_000
        assert f'alt="TracIn {name}"' in report
    assert "On these test jets, the proponents hold more noise clusters" in report
    assert "tracin-kappa" not in report  # validation only with --influence-validation
    # the sanity checks of the explained ResGNN: the report's rows are sanity.json's
    from hepxai.report.format import with_interval

    sanity = json.loads((out / "sanity" / "resgnn-gnn-1" / "sanity.json").read_text())
    assert set(sanity["methods"]) == {"saliency-graph", "ig-graph", "gnnexplainer"}
    section = report[report.index('id="sanity-resgnn-gnn-1"'):]
    for method, per in sanity["methods"].items():
        for check in ("cascading", "labels"):
            spearman = per[check]["similarity"]["spearman"]
            shown = with_interval(spearman["mean"][-1], spearman["interval"][-1], 2)
            assert f"<td>{shown}</td><td>{per[check]['verdict']}</td>" in section, method
    # GNNExplainer's masks in the study average the restarts its seed stability asks for
    from hepxai.usecases.darkjet.names import MAX_RESTARTS
    from hepxai.usecases.darkjet.study import restarts_needed

    checked = out / "runs" / "resgnn-gnn-1" / "best.pt"
    restarts, _ = restarts_needed(out / "sanity" / "resgnn-gnn-1" / "sanity.json", checked)
    explained = json.loads((out / "explain" / "explain.json").read_text())
    assert explained["methods"]["gnnexplainer"]["params"].get("restarts", 1) == restarts
    # the rule on fixed studies: the seeds needed, capped, 1 when the seeds never agree
    fixed = out / "fixed-sanity.json"
    for needed, expected in ((12, (12, 12)), (40, (MAX_RESTARTS, 40)), (None, (1, None))):
        fixed.write_text(json.dumps({"checkpoint": str(checked), "seed_stability": {
            "gnnexplainer": {"seeds_needed": needed}}}))
        assert restarts_needed(fixed, checked) == expected
    with pytest.raises(HepxaiError, match="not .*cnn3d"):
        restarts_needed(fixed, out / "runs" / "cnn3d-gnn-1" / "best.pt")
    # one line of seconds per step, in step order; a re-run runs no step and keeps them
    from hepxai.usecases.darkjet.demo import DemoSettings, darkjet_steps

    names = [s.name for s in darkjet_steps(out, DemoSettings())]
    timings = json.loads((out / "timings.json").read_text())
    assert list(timings) == names and len(names) == 17 and all(t > 0 for t in timings.values())
    capsys.readouterr()
    assert cli(["demo", "darkjet", "--out", str(out), "--n", "150", "--epochs", "1",
                "--n-explain", "6", "--views", "1", "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("up to date, skipped") == 17 and "(0 steps run, 17 reused)" in printed
    assert json.loads((out / "timings.json").read_text()) == timings


def test_bad_input_is_one_line(data_dir, tmp_path, capsys):
    user_error(capsys, ["simulate", "darkjet", "--n", "0", "--out", tmp_path / "x"])
    user_error(capsys, ["simulate", "darkjet", "--n", "2", "--out", tmp_path / "x"])
    user_error(capsys, ["train", "darkjet", "--preset", "huge", "--data", data_dir])
    user_error(capsys, ["train", "darkjet", "--data", tmp_path / "none", "--out",
                         tmp_path / "r"])
    user_error(capsys, ["train", "darkjet", "--radius-factor", "-1", "--data", data_dir])
    assert "--methods: unknown bogus" in user_error(capsys, [
        "explain", "darkjet", "--checkpoint", tmp_path / "none.pt", "--data", data_dir,
        "--methods", "saliency-graph,bogus", "--out", tmp_path / "e"])
    user_error(capsys, ["train", "darkjet", "--model", "cnn3d", "--hidden", "8", "--data",
                         data_dir, "--out", tmp_path / "r"])
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    with h5py.File(wrong / "train.h5", "w") as f:
        f.attrs["format"] = "hepxai-muon"
    line = user_error(capsys, ["train", "darkjet", "--data", wrong, "--out", tmp_path / "r"])
    assert "not a hepxai darkjet file" in line
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint")
    user_error(capsys, ["evaluate", "darkjet", "--checkpoint", junk, "--data", data_dir,
                         "--out", tmp_path / "e"])
    user_error(capsys, ["explain", "darkjet", "--checkpoint", tmp_path / "missing.pt",
                         "--data", data_dir])
    user_error(capsys, ["explain", "darkjet", "--checkpoint", junk, "--data", data_dir,
                         "--cnn-checkpoint", tmp_path / "missing.pt"])
    user_error(capsys, ["report", "darkjet", "--run", tmp_path / "nothing"])
    assert not (tmp_path / "e").exists() and not (tmp_path / "r" / "best.pt").exists()


def test_sweep_trains_every_grid_point_and_ranks_them(data_dir, tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = ["sweep", "darkjet", "--data", str(data_dir), "--out", str(out), "--hidden", "4,8",
            "--graphconv", "1", "--gcn", "0,1", "--epochs", "1", "--max-jets", "200",
            "--val-jets", "100"]
    assert cli(argv) == 0
    points = json.loads((out / "sweep.json").read_text())["points"]
    assert sorted(p["name"] for p in points) == ["h4-graphconv1-gcn0", "h4-graphconv1-gcn1",
                                                 "h8-graphconv1-gcn0", "h8-graphconv1-gcn1"]
    aucs = [p["auc"] for p in points]
    assert aucs == sorted(aucs, reverse=True)
    for p in points:  # each point's number is its own run's best validation AUC
        history = json.loads((out / p["name"] / "history.json").read_text())["history"]
        assert p["auc"] == max(h["auc"] for h in history)
    capsys.readouterr()
    assert cli(argv) == 0  # finished points are reused, not retrained
    assert "training resgnn" not in capsys.readouterr().out
    # the report's sweep section: the ranked table with each AUC's error, the figure, and a
    # sentence that ranks the first two only beyond two standard errors of their difference
    from hepxai.metrics.classification import auc_standard_error
    from hepxai.usecases.darkjet.report import render_section, section_context
    from hepxai.usecases.darkjet.store import DarkJetFile

    found = json.loads((out / "sweep.json").read_text())
    labels = DarkJetFile(data_dir / "val.h5").labels[:100]  # --val-jets, or all the file has
    assert found["n_val"] == len(labels)
    signal = int((labels > 0.5).sum())
    for p in points:
        assert p["auc_se"] == pytest.approx(auc_standard_error(p["auc"], signal,
                                                               len(labels) - signal))
    # a finished point is not reused for other settings (another graph radius here)
    assert "holds a sweep point trained with another graphs" in user_error(
        capsys, [*argv, "--radius-factor", "2.0"])
    run = tmp_path / "run"
    run.mkdir()
    (run / "sweep").symlink_to(out)
    html = render_section(section_context(run))
    assert 'id="darkjet-sweep"' in html and "data:image/png" in html
    first, second = points[0], points[1]
    beyond = first["auc"] - second["auc"] > 2 * (first["auc_se"] ** 2
                                                  + second["auc_se"] ** 2) ** 0.5
    assert ("is beyond two standard errors" in html) == beyond
    assert ("do not rank them" in html) == (not beyond)


def test_the_sweep_varies_gatv2_learning_rate_and_radius(data_dir, tmp_path):
    out = tmp_path / "sweep"
    assert cli(["sweep", "darkjet", "--model", "gatv2", "--data", str(data_dir), "--out",
                str(out), "--hidden", "4", "--layers", "1", "--learning-rates", "1e-3,1e-2",
                "--radius-factors", "0.5,1.5", "--epochs", "1", "--max-jets", "100",
                "--val-jets", "60"]) == 0
    points = {p["name"]: p for p in json.loads((out / "sweep.json").read_text())["points"]}
    assert sorted(points) == [f"gatv2-h4-layers1-lr{lr}-r{r}" for lr in ("0.001", "0.01")
                              for r in ("0.5", "1.5")]
    for name, p in points.items():  # each point trained with its own recipe and graphs
        state = torch.load(out / name / "best.pt", weights_only=True)
        assert state["model"] == "gatv2"
        assert state["recipe"]["learning_rate"] == p["learning_rate"]
        assert state["identity"]["graphs"]["radius_factor"] == p["radius_factor"]
    # a larger radius connects more clusters: more edges in the cached graphs of one jet set
    from hepxai.usecases.darkjet.graphs import GraphSettings, load_graphs

    edges = {r: load_graphs(data_dir / "val.h5", GraphSettings(radius_factor=r),
                            max_jets=60).edge_index.shape[1] for r in (0.5, 1.5)}
    assert edges[1.5] > edges[0.5]


def test_report_shows_the_influence_validation_tables(tmp_path):
    """kappa.json / lsor.json (here written by hand in the studies' formats) get their tables;
    a run directory with influence results only is reportable."""
    from dataclasses import asdict

    from hepxai.core.atomic import write_json_atomic
    from hepxai.usecases.darkjet.influence_validation import GraphLSORConfig, KappaConfig
    from hepxai.usecases.darkjet.report import render_section, section_context

    rows = [{"kappa": 0.0, "mode": "none", "removed": 0, "removed_signal_share": float("nan"),
             "auc": 0.81234, "loss": 0.5, "accuracy": 0.7}]
    rows += [{"kappa": 0.3, "mode": mode, "removed": 1200, "removed_signal_share": 0.5,
              "auc": auc, "loss": 0.55, "accuracy": 0.69}
             for mode, auc in (("high", 0.79871), ("low", 0.80555), ("random", 0.80001))]
    write_json_atomic(tmp_path / "influence" / "kappa" / "kappa.json", {
        "config": asdict(KappaConfig(fractions=(0.3,))), "n_pool": 4000, "n_test": 1000,
        "score": "step-weighted gradient norm of the last layer (sqrt self-influence)",
        "rows": rows})
    write_json_atomic(tmp_path / "influence" / "lsor.json", {
        "config": {**asdict(GraphLSORConfig()), "seeds": [1, 2]}, "n_pool": 4000,
        "per_seed": [{"removed": 300}, {"removed": 320}],
        "random": {"delta_mean": 0.0012, "delta_se": 0.0004},
        "proponents": {"delta_mean": 0.0151, "delta_se": 0.0021, "ratio": 12.58,
                       "ratio_se": 4.5}})
    section = render_section(section_context(tmp_path))
    assert "Training-data influence (TracIn)" in section and "tracin-categories" not in section
    kappa = re.search(r'<table id="tracin-kappa">(.*?)</table>', section, re.S).group(1)
    assert [c for c in re.findall(r"<td>(.*?)</td>", kappa)][::7] == ["0", "0.3", "0.3", "0.3"]
    for auc in ("0.8123", "0.7987", "0.8055", "0.8000"):
        assert f"<td>{auc}</td>" in kappa
    lsor = re.search(r'<table id="tracin-lsor">(.*?)</table>', section, re.S).group(1)
    assert "+0.0151 ± 0.0021" in lsor and "+0.0012 ± 0.0004" in lsor and "12.58 ± 4.50" in lsor
    assert "310 jets on" in section  # mean removed over the seeds
    # the page: navigation to both tables, and the demo's step times
    from hepxai.usecases.darkjet.report import write_report

    (tmp_path / "timings.json").write_text('{"simulate": 2.0, "train": 61.5}')
    page = write_report(tmp_path).read_text()
    assert check_page(page) == ["darkjet-influence", "darkjet-kappa", "darkjet-lsor", "run"]
    assert "<td>train</td><td>61.5</td>" in page and "<th>63.5</th>" in page
