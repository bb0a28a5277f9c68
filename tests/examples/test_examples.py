"""Every script in ``examples/`` runs as a user would run it, and what it writes is right."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# quicker settings than the defaults, so the suite stays short
QUICK = {"explain_your_own_model.py": ["--seconds", "4", "--events", "12"],
         "import_your_own_ntuple.py": ["--events", "1500"]}


def _run(script: Path, out: Path) -> str:
    result = subprocess.run([sys.executable, str(script), "--out", str(out),
                             *QUICK.get(script.name, [])], capture_output=True, text=True,
                            timeout=600, env={"HEPXAI_PROGRESS": "0", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_every_example_is_run_here():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(QUICK)


@pytest.mark.slow
def test_explain_your_own_model(tmp_path: Path):
    printed = _run(EXAMPLES / "explain_your_own_model.py", tmp_path)
    assert "tree-shap: explains table inputs, not images" in printed  # refused, one line
    summary = json.loads((tmp_path / "judging.json").read_text())
    assert set(summary["methods"]) == {"saliency", "ig", "ig-binary", "ig-binary-exact",
                                       "shapley", "smoothgrad", "ram", "gradient-shap"}
    scores = {m: summary["scores"][m]["all"] for m in summary["methods"]}
    # the slope lives in the track's hits: the path methods find them, far above a blind map
    for method in ("ig", "ig-binary-exact", "shapley", "ram"):
        assert scores[method]["track_share"] > scores[method]["base_rate"] + 0.15, method
        assert scores[method]["auroc"] > 0.7, method
    # exact methods add up to F(x) - F(baseline)
    for method in ("ig-binary-exact", "shapley", "ram"):
        assert summary["completeness_median"][method] < 1e-3, method
    page = (tmp_path / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("data:image/png;base64,") == 3
    assert "{{" not in page and "saliency" in page


def test_import_your_own_ntuple(tmp_path: Path):
    import numpy as np
    import uproot

    from hepxai.usecases.muon.store import MuonFile

    printed = _run(EXAMPLES / "import_your_own_ntuple.py", tmp_path)
    assert "hits of 1,500 events arrived" in printed
    files = [MuonFile(tmp_path / "data" / f"{s}.h5") for s in ("train", "val")]
    assert sum(len(f) for f in files) == 1500
    # the user's signed eta went to |eta| + sign, and the export gives the signed value back
    tree = uproot.open(tmp_path / "open-data" / "train.root")["events"]
    np.testing.assert_allclose(tree["eta"].array(library="np"),
                               files[0].labels["eta"] * files[0].eta_sign)
    source = uproot.open(tmp_path / "my_ntuple.root")["CollectionTree"]
    assert (source["mu_eta"].array(library="np") < 0).any()
