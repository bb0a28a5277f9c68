"""ONNX export of every torch model: the file passes onnx.checker, onnxruntime gives PyTorch's
outputs on real validation events (< 1e-5 relative), the GNNs on graphs of sizes other than
the traced example, and what cannot be exported is refused in one line.

The checks here are the test's own: the validation events are read again from the data files
and fed to a fresh onnxruntime session and to the model loaded from its checkpoint, whatever
the export's own summary says. Models are tiny (one epoch on a few hundred events, or untrained
with real BatchNorm statistics) and timing is switched off (``repeats=0``) except once.
"""

from __future__ import annotations

import doctest
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from hepxai.core.errors import HepxaiError
from hepxai.io.checkpoint import load_model, save_checkpoint
from hepxai.models import onnx_export
from hepxai.models.onnx_export import Signature, export_onnx

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MUON = ("attribution-cnn", "tracin-cnn", "convsdt")
DARKJET = ("resgnn", "gatv2", "cnn3d")
#: trained through the real training loops (the others are saved by the test): their export
#: finds the data directory from what training recorded
TRAINED = {"tracin-cnn", "resgnn"}
#: the smallest layer stacks that keep every kind of layer of the model
DARKJET_CONFIG = {"resgnn": {"n_graphconv": 1, "n_gcn": 1}, "gatv2": {"n_layers": 1},
                  "cnn3d": {}}


def _identity(train_file: Path, **extra) -> dict:
    return {"identity": {**extra, "data": str(train_file.resolve())}}


@pytest.fixture(scope="module")
def darkjet_dir(tmp_path_factory) -> Path:
    """80 validation jets: two parity calls of different node counts."""
    from hepxai.usecases.darkjet.store import simulate_dataset

    out = tmp_path_factory.mktemp("darkjet") / "data"
    simulate_dataset(out, n_per_class=400, seed=3)
    return out


@pytest.fixture(scope="module")
def susy_dir(tmp_path_factory) -> Path:
    """A data directory and a quick MLP and BDT trained one round / epoch on it."""
    from hepxai.usecases.susy.generate import SplitSizes, simulate_dataset
    from hepxai.usecases.susy.models import class_weights, create
    from hepxai.usecases.susy.store import SusyFile, split_path
    from hepxai.usecases.susy.task import MLP_LOG_FEATURES

    root = tmp_path_factory.mktemp("susy")
    simulate_dataset(root / "data", SplitSizes(train=2000, test=600), seed=3)
    train = SusyFile(split_path(root / "data", "train"))
    table = train.table("simplified")
    for kind in ("mlp", "bdt"):
        model = create(kind, "quick", feature_names=table.feature_names,
                       class_names=table.class_names, size=1,
                       log_features=MLP_LOG_FEATURES if kind == "mlp" else ())
        model.fit(table.x, table.y, class_weights(table.y, len(table.class_names)))
        model.save(root / kind, {"model": kind, "sample": "simplified", "preset": "quick",
                                 "data": str(train.path)})
    return root


def _muon_checkpoint(name: str, data: Path, out: Path) -> Path:
    from hepxai.usecases.muon.loader import MuonDataset
    from hepxai.usecases.muon.models import create
    from hepxai.usecases.muon.task import train, training_sets

    if name in TRAINED:
        train_set, val_set = training_sets(data, max_events=128, val_events=32)
        train(create(name, "fast"), train_set, val_set, out / name, epochs=1)
        return out / name / "best.pt"
    model = create(name, "fast")
    train_set = MuonDataset(data / "train.h5")
    model.fit_target_encoding(train_set.targets)
    with torch.no_grad():  # real BatchNorm statistics: an untrained BN would be the identity
        model.train()(train_set.__getitems__(np.arange(256))[0])
    return save_checkpoint(out / f"{name}.pt", model.eval(), _identity(data / "train.h5"))


def _darkjet_checkpoint(name: str, data: Path, out: Path) -> Path:
    from hepxai.usecases.darkjet.graphs import GraphSettings
    from hepxai.usecases.darkjet.models import create
    from hepxai.usecases.darkjet.study import train_run

    if name in TRAINED:
        train_run(data, out / name, name, "quick", GraphSettings(), epochs=1, max_jets=128,
                  val_jets=32, config=DARKJET_CONFIG[name], quiet=True)
        return out / name / "best.pt"
    model = create(name, "quick", seed=2, **DARKJET_CONFIG[name])
    return save_checkpoint(out / f"{name}.pt", model.eval(),
                           _identity(data / "train.h5", graphs=GraphSettings().to_dict()))


@pytest.fixture(scope="module")
def exported(muon_dir, darkjet_dir, susy_dir, tmp_path_factory):
    """name -> (checkpoint, summary) of each model, exported once on first use."""
    out = tmp_path_factory.mktemp("onnx")
    done: dict[str, tuple[Path, dict]] = {}

    def get(name: str) -> tuple[Path, dict]:
        if name not in done:
            if name in MUON:
                checkpoint, data = _muon_checkpoint(name, muon_dir, out), muon_dir
            elif name in DARKJET:
                checkpoint, data = _darkjet_checkpoint(name, darkjet_dir, out), darkjet_dir
            else:
                checkpoint, data = susy_dir / "mlp", susy_dir / "data"
            # a trained model (and the SUSY run) finds its data in what training recorded
            given = None if name in TRAINED or name == "mlp" else data
            summary = export_onnx(checkpoint, out / f"{name}.onnx", data=given, events=200,
                                  repeats=0)
            done[name] = checkpoint, summary
        return done[name]

    return get


def _validation_inputs(name: str, checkpoint: Path, muon_dir: Path, darkjet_dir: Path,
                       susy_dir: Path) -> tuple[list[tuple[np.ndarray, ...]], torch.nn.Module,
                                                int]:
    """The test's own reading of the held-out events (one list entry per onnxruntime call),
    the model loaded afresh and the number of events."""
    if name in MUON:
        from hepxai.usecases.muon.store import MuonFile

        val = MuonFile(muon_dir / "val.h5")
        images = val.images.to_dense(np.arange(len(val)))[:, None].astype(np.float32)
        return [(images[:100],), (images[100:],)], load_model(checkpoint), len(images)
    if name == "mlp":
        from hepxai.models import load
        from hepxai.usecases.susy.store import SusyFile

        x = SusyFile(susy_dir / "data" / "test.h5").table("simplified").x[:200]
        return [(x,)], load(checkpoint).net, len(x)
    from hepxai.io.checkpoint import read_checkpoint
    from hepxai.usecases.darkjet.graphs import GraphSettings, load_graphs
    from hepxai.usecases.darkjet.voxels import voxelise

    settings = GraphSettings(**read_checkpoint(checkpoint)["identity"]["graphs"])
    graphs = load_graphs(darkjet_dir / "val.h5", settings, use_cache=False)
    model = load_model(checkpoint)
    if name == "cnn3d":
        return [(voxelise(graphs, np.arange(len(graphs))).numpy(),)], model, len(graphs)
    return [_graph_inputs(graphs, rows) for rows in np.array_split(np.arange(len(graphs)), 3)], \
        model, len(graphs)


def _graph_inputs(graphs, rows: np.ndarray) -> tuple[np.ndarray, ...]:
    b = graphs.batch(rows)
    return b.x.numpy(), b.edge_index.numpy(), b.edge_weight.numpy(), b.batch.numpy()


def _torch(model: torch.nn.Module, inputs: tuple[np.ndarray, ...]) -> np.ndarray:
    with torch.no_grad():
        return model(*(torch.from_numpy(a) for a in inputs)).numpy()


def _session(path: str | Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _run(session: ort.InferenceSession, inputs: tuple[np.ndarray, ...]) -> np.ndarray:
    return session.run(None, dict(zip([i.name for i in session.get_inputs()], inputs,
                                      strict=True)))[0]


@pytest.mark.parametrize("name", [*MUON, *DARKJET, "mlp"])
def test_onnxruntime_equals_torch_on_validation_events(name, exported, muon_dir, darkjet_dir,
                                                       susy_dir):
    checkpoint, summary = exported(name)
    path = Path(summary["onnx"])
    onnx.checker.check_model(str(path), full_check=True)
    batches, model, n_events = _validation_inputs(name, checkpoint, muon_dir, darkjet_dir,
                                                  susy_dir)
    session = _session(path)
    for inputs in batches:
        expected, got = _torch(model, inputs), _run(session, inputs)
        assert got.shape == expected.shape
        # |a - b| <= 1e-5 max(|a|, 1): the export's definition of 1e-5 relative
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert summary["n_events"] == n_events
    assert summary["parity_ok"] and summary["max_rel_diff"] < 1e-5
    assert summary["model"] == name and summary["latency_ms"] is None
    # every axis that varies is dynamic in the file, by name
    declared = {"images": ["batch", 1, 9, 384], "voxels": ["batch", 1, 7, 16, 16],
                "features": ["batch", 16], "x": ["nodes", 4], "edge_index": [2, "edges"],
                "edge_weight": ["edges"], "batch": ["nodes"]}
    assert summary["inputs"] == {k: declared[k] for k in summary["inputs"]}
    stored = onnx.load(str(path)).graph
    assert [i.name for i in stored.input] == list(summary["inputs"])
    assert stored.output[0].type.tensor_type.shape.dim[0].dim_param == \
        ("graphs" if name in ("resgnn", "gatv2") else "batch")
    on_disk = json.loads(path.with_name(path.name + ".json").read_text())
    assert on_disk["max_rel_diff"] == summary["max_rel_diff"]


@pytest.mark.parametrize("name", ["resgnn", "gatv2"])
def test_graph_models_take_graphs_of_every_size(name, exported, darkjet_dir):
    """One jet of each node count the validation set holds, one call per jet, then all of them
    in one call, and a lone cluster without edges: none of these is the traced example."""
    from hepxai.io.checkpoint import read_checkpoint
    from hepxai.usecases.darkjet.graphs import GraphSettings, load_graphs

    checkpoint, summary = exported(name)
    settings = GraphSettings(**read_checkpoint(checkpoint)["identity"]["graphs"])
    graphs = load_graphs(darkjet_dir / "val.h5", settings, use_cache=False)
    _, first = np.unique(graphs.n_nodes, return_index=True)
    assert first.size >= 5  # many sizes
    model, session = load_model(checkpoint), _session(summary["onnx"])
    lone = (np.array([[0.5, 0.01, -0.02, 0.5]], np.float32), np.zeros((2, 0), np.int64),
            np.zeros(0, np.float32), np.zeros(1, np.int64))
    calls = [_graph_inputs(graphs, np.array([row])) for row in first]
    calls += [_graph_inputs(graphs, first), lone]
    traced = summary["export_example"]["x"][0]
    assert len({len(inputs[0]) for inputs in calls} - {traced}) >= 5
    for inputs in calls:
        np.testing.assert_allclose(_run(session, inputs), _torch(model, inputs), rtol=1e-5,
                                   atol=1e-5)


def test_the_speed_of_both_runtimes_and_the_command(susy_dir, tmp_path, capsys):
    from hepxai.cli import main

    out = tmp_path / "mlp.onnx"
    # no use case on the command line: read from the run directory's model.json
    assert main(["export-model", "--checkpoint", str(susy_dir / "mlp"), "--out", str(out),
                 "--events", "100"]) == 0
    printed = capsys.readouterr().out
    assert "| PyTorch |" in printed and "| onnxruntime |" in printed and str(out) in printed
    summary = json.loads((tmp_path / "mlp.onnx.json").read_text())
    for key in ("torch", "onnxruntime"):
        assert summary["latency_ms"][key] > 0 and summary["throughput_per_s"][key] > 0
    assert summary["throughput_batch"] == 1024 and summary["n_events"] == 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlp.onnx", "mlp.onnx.json"]


def test_the_bdt_is_refused_in_one_line(susy_dir, tmp_path):
    for given in (susy_dir / "bdt", susy_dir / "bdt" / "booster.json"):
        with pytest.raises(HepxaiError) as error:
            export_onnx(given, tmp_path / "bdt.onnx")
        message = str(error.value)
        assert "\n" not in message and "XGBoost" in message and "torch" in message
        assert str(susy_dir / "bdt" / "booster.json") in message
    assert not any(tmp_path.iterdir())


class _Eigenvalues(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.linalg.eigvalsh(x.transpose(0, 1) @ x)


def test_an_unsupported_operator_is_one_line_naming_it():
    signature = Signature({"x": {0: "batch"}}, {"eigenvalues": {}})
    with pytest.raises(HepxaiError) as error:
        onnx_export._export(_Eigenvalues(), (torch.rand(5, 3),), signature, "eigen")
    message = str(error.value)
    assert "\n" not in message and "aten._linalg_eigh" in message
    assert message.startswith("eigen: cannot export to ONNX: operator aten._linalg_eigh has no "
                              "ONNX implementation")


def test_bad_inputs_are_one_line_errors(exported, muon_dir, tmp_path):
    checkpoint, _ = exported("attribution-cnn")
    (tmp_path / "folder.onnx").mkdir()
    cases = {"must end in .onnx": dict(out=tmp_path / "model.pt"),
             "is a directory": dict(out=tmp_path / "folder.onnx"),
             "at least 2": dict(out=tmp_path / "m.onnx", events=1),
             "no such checkpoint": dict(checkpoint=tmp_path / "none.pt",
                                        out=tmp_path / "m.onnx")}
    for expected, kwargs in cases.items():
        with pytest.raises(HepxaiError, match=expected) as error:
            export_onnx(kwargs.pop("checkpoint", checkpoint), kwargs.pop("out"), **kwargs)
        assert "\n" not in str(error.value)
    # a checkpoint that records no data directory, without --data
    from hepxai.usecases.muon.models import create

    bare = save_checkpoint(tmp_path / "bare.pt", create("tracin-cnn-tiny", "fast"))
    with pytest.raises(HepxaiError, match="records no data directory; pass --data"):
        export_onnx(bare, tmp_path / "m.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bare.pt", "folder.onnx"]


def test_help_imports_nothing_heavy():
    code = ("import argparse, sys; from hepxai.models import onnx_export as m; "
            "m.add_arguments(argparse.ArgumentParser()); "
            "print(sorted({'torch', 'onnx', 'onnxruntime', 'numpy'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_the_examples_run():
    result = doctest.testmod(onnx_export, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
