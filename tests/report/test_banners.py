"""Every report names, in its banner, the models too weak for their numbers: a dark-jet or SUSY
classifier whose AUC is within two standard errors of 0.5 on its test events; a learned one is
not named. The muon banner is tested on the quick demo (tests/usecases/muon/test_demo.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hepxai.report.render import render
from hepxai.usecases.darkjet import report as darkjet_report
from hepxai.usecases.susy import report as susy_report


def test_a_blind_tagger_is_named_and_a_learned_one_is_not(tmp_path: Path) -> None:
    labels = np.r_[np.ones(150), np.zeros(250)]
    np.savez(tmp_path / "p.npz", labels=labels, logits=np.zeros(400))
    ctx = {"evaluation": {"models": [
        {"label": "resgnn (blind)", "metrics": {"auc": 0.52},
         "predictions": str(tmp_path / "p.npz")},
        {"label": "gatv2 (learned)", "metrics": {"auc": 0.86},
         "predictions": str(tmp_path / "p.npz")}]}}
    found = darkjet_report.warnings(ctx)
    assert len(found) == 1 and found[0].startswith("resgnn (blind): AUC 0.520 +- 0.03")
    assert "150 + 250 test events" in found[0]


def test_a_blind_susy_classifier_is_named(tmp_path: Path) -> None:
    ctx = {"evaluation": {"classes": ["signal", "ttbar", "wjets"], "models": {
        "bdt": {"auc": {"signal": 0.503}, "n_per_class": [100, 300, 600], "n_events": 1000},
        "mlp": {"auc": {"signal": 0.71}, "n_per_class": [100, 300, 600], "n_events": 1000}}}}
    found = susy_report.warnings(ctx)
    assert len(found) == 1 and found[0].startswith("bdt: AUC 0.503")
    assert "100 + 900 test events" in found[0]


def test_the_banner_is_above_the_content_of_every_page(tmp_path: Path) -> None:
    # any page of the report base: a use case's template extends it
    (tmp_path / "page.html.j2").write_text('{% extends "base.html.j2" %}'
                                           '{% block content %}<h1>results</h1>{% endblock %}')
    page = render(tmp_path, "page.html.j2", {"warnings": ["m predicts <almost> one value"]})
    banner = page.index('id="warnings"')
    assert "m predicts &lt;almost&gt; one value" in page[banner:]  # escaped
    assert banner < page.index("<h1>results</h1>")
    assert 'id="warnings"' not in render(tmp_path, "page.html.j2", {})  # none: no banner


def test_an_undefined_auc_and_a_moved_run(tmp_path: Path) -> None:
    from hepxai.metrics.classification import blind_tagger

    assert "its AUC is undefined" in blind_tagger("m", float("nan"), 0, 40)
    # predictions recorded at a path that no longer exists: found in RUN/evaluation/predictions
    folder = tmp_path / "run" / "evaluation" / "predictions"
    folder.mkdir(parents=True)
    np.savez(folder / "m.npz", labels=np.r_[np.ones(50), np.zeros(50)], logits=np.zeros(100))
    ctx = {"run_dir": str(tmp_path / "run"), "evaluation": {"models": [
        {"label": "m", "metrics": {"auc": 0.5}, "predictions": "elsewhere/predictions/m.npz"}]}}
    assert darkjet_report.warnings(ctx)[0].startswith("m: AUC 0.500")
