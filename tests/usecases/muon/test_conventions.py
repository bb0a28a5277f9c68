"""The thesis' code conventions of the muon explanations: the summed target pT + |eta| (against
Captum on the summed forward, and IG's linearity), the thesis code's RAM variant (against its
formula written out), and ``hepxai explain muon --conventions thesis`` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import captum.attr
import numpy as np
import pytest
import torch

from hepxai.cli import main
from hepxai.explain.attribution.cam import ThesisCodeRAM
from hepxai.explain.attribution.integrated_gradients import IntegratedGradients
from hepxai.models.outputs import WithOutputSum
from hepxai.usecases.muon.models import create

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return (torch.rand(3, 1, 9, 384, generator=torch.Generator().manual_seed(2)) < 0.02).float()


def test_the_summed_target_is_captum_ig_of_the_summed_forward(images: torch.Tensor) -> None:
    model = create("tracin-cnn", "fast", seed=3).eval()
    summed = WithOutputSum(model)
    ours = IntegratedGradients(summed, n_steps=16, fused=False).attribute(images,
                                                                         target="pt+eta")
    reference = captum.attr.IntegratedGradients(lambda x: model(x).sum(1)).attribute(
        images, n_steps=16)  # both Gauss-Legendre
    np.testing.assert_allclose(ours.values, reference.detach().numpy(), rtol=1e-4, atol=1e-6)
    # IG is linear in the output: the sum's map is the sum of the two maps
    both = IntegratedGradients(summed, n_steps=16, fused=False).attribute(
        images, target=["pt", "eta"])
    np.testing.assert_allclose(ours.values, both.values.sum(1), rtol=1e-4, atol=1e-6)


def test_the_thesis_code_ram_is_its_formula(images: torch.Tensor) -> None:
    model = create("attribution-cnn", "paper", seed=1).eval()
    with pytest.warns(UserWarning, match="not a class-activation map"):
        explainer = ThesisCodeRAM(WithOutputSum(model), fused=False)
    maps = explainer.attribute(images, target=["pt", "eta", "pt+eta"]).values  # (3, 3, 1, 9, 384)
    with torch.no_grad():
        features = model.body(images)  # the last conv block's ReLU maps (n, 128, 9, 384)
    weights = model.final[0].weight.detach()  # Dense(1024): (1024, 128); Keras (128, 1024)
    for target, units in ((0, [0]), (1, [1]), (2, [0, 1])):
        expected = torch.einsum("nkhw,k->nhw", features, weights[units].sum(0))
        np.testing.assert_allclose(maps[:, target, 0], expected.numpy(), rtol=1e-4, atol=1e-5)


def test_explain_with_the_thesis_conventions(muon_dir: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "muon", "--model", "attribution-cnn", "--data", str(muon_dir),
                 "--out", str(tmp_path / "run"), "--epochs", "1", "--max-events", "200",
                 "--val-events", "50"]) == 0
    capsys.readouterr()
    with pytest.warns(UserWarning, match="ram-thesis-code weights the maps"):
        assert main(["explain", "muon", "--checkpoint", str(tmp_path / "run" / "best.pt"),
                     "--data", str(muon_dir), "--out", str(tmp_path / "explain"),
                     "--conventions", "thesis", "--events-per-category", "1", "--pool", "100",
                     "--copies", "3"]) == 0
    captured = capsys.readouterr()
    assert "target pt+eta" in captured.out
    summary = json.loads((tmp_path / "explain" / "judging.json").read_text())
    assert summary["conventions"] == "thesis" and summary["target"] == "pt+eta"
    assert summary["methods"] == ["ram-thesis-code", "ig-binary", "smoothgrad"]
    assert summary["method_params"]["ig-binary"]["params"]["mode"] == "thesis"
    assert summary["method_params"]["smoothgrad"]["params"]["n_samples"] == 3  # --copies
    # --noise-rate 0: every noisy copy is the event itself, so SmoothGrad is the binary IG it
    # averages, exactly
    assert main(["explain", "muon", "--checkpoint", str(tmp_path / "run" / "best.pt"),
                 "--data", str(muon_dir), "--out", str(tmp_path / "noiseless"), "--methods",
                 "ig-binary,smoothgrad", "--noise-rate", "0", "--copies", "2",
                 "--events-per-category", "1", "--pool", "100"]) == 0
    noiseless = json.loads((tmp_path / "noiseless" / "judging.json").read_text())
    assert noiseless["method_params"]["smoothgrad"]["params"]["rate"] == 0.0
    from hepxai.explain.types import Attribution

    maps = {m: Attribution.load(tmp_path / "noiseless" / "attributions" / f"{m}.npz").values
            for m in ("ig-binary", "smoothgrad")}
    np.testing.assert_allclose(maps["smoothgrad"], maps["ig-binary"], rtol=1e-5, atol=1e-6)
    assert np.abs(maps["ig-binary"]).max() > 0
    # --seeds 3: SmoothGrad runs with three seeds, binary IG (deterministic) once, with the
    # numbers it has without --seeds
    assert main(["explain", "muon", "--checkpoint", str(tmp_path / "run" / "best.pt"),
                 "--data", str(muon_dir), "--out", str(tmp_path / "seeded"), "--methods",
                 "ig-binary,smoothgrad", "--copies", "2", "--seeds", "3",
                 "--events-per-category", "1", "--pool", "100"]) == 0
    seeded = json.loads((tmp_path / "seeded" / "judging.json").read_text())
    assert seeded["seeds_per_method"] == {"ig-binary": 1, "smoothgrad": 3}
    assert seeded["intervals"]["seeds"] == {"ig-binary": 1, "smoothgrad": 3}
    assert seeded["scores"]["ig-binary"] == noiseless["scores"]["ig-binary"]
    share = seeded["scores"]["smoothgrad"]["all"]["muon_share"]
    lo, hi = seeded["intervals"]["scores"]["smoothgrad"]["all"]["muon_share"]
    assert lo <= share <= hi


def test_warnings_on_the_command_line_are_one_line() -> None:
    from hepxai.cli.app import _one_line_warning

    assert _one_line_warning(UserWarning("not a CAM"), UserWarning, "cam.py", 120) == \
        "hepxai: warning: not a CAM\n"
