"""Checkpoints are read with ``torch.load(weights_only=True)``: a file that carries a pickled
object is refused before anything in it runs (a colleague's checkpoint is data, not code), and
every hepxai checkpoint, the scikit-learn decision tree included, loads that way."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_checks import user_error

from hepxai.core.errors import HepxaiError
from hepxai.core.sparse import SparseImages
from hepxai.io.checkpoint import FORMAT, load_model, read_checkpoint


class _Payload:
    """Unpickling this creates a file: what a crafted checkpoint could do instead."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _crafted(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "code-ran"
    path = tmp_path / "crafted.pt"
    torch.save({"format": FORMAT, "use_case": "muon", "model": "attribution-cnn",
                "payload": _Payload(marker)}, path)
    return path, marker


def test_a_crafted_pickle_is_refused_and_runs_nothing(tmp_path):
    path, marker = _crafted(tmp_path)
    with pytest.raises(HepxaiError, match="never unpickles") as error:
        read_checkpoint(path)
    assert "\n" not in str(error.value)
    assert not marker.exists()
    # the test itself is live: an unrestricted load does run the payload
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_evaluate_refuses_a_crafted_checkpoint_in_one_line(tmp_path, capsys, muon_dir):
    path, marker = _crafted(tmp_path)
    line = user_error(capsys, ["evaluate", "muon", "--checkpoint", path, "--data", muon_dir,
                               "--out", tmp_path / "out"])
    assert "pickled Python objects" in line and not marker.exists()


def test_the_decision_tree_round_trips_as_tensors(tmp_path):
    from hepxai.usecases.muon.models.decision_tree import DecisionTreeModel

    rng = np.random.default_rng(0)
    n, pixels = 400, 9 * 384
    counts = rng.integers(3, 12, n)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    indices = np.concatenate([np.sort(rng.choice(pixels, c, replace=False)) for c in counts])
    images = SparseImages(offsets.astype(np.int64), indices.astype(np.uint16), (9, 384))
    targets = np.stack([rng.uniform(5, 40, n), rng.uniform(0, 1, n)], 1)
    model = DecisionTreeModel(min_samples_leaf=5).fit(images, targets)
    path = model.save(tmp_path / "tree.pt", identity={"test": True})
    state = torch.load(path, weights_only=True)  # loads without unpickling anything
    assert "tree" in state
    again = load_model(path, use_case="muon")
    np.testing.assert_array_equal(again.predict_images(images), model.predict_images(images))
    assert again.n_parameters() == model.n_parameters() > 10


def _saved_cnn(tmp_path: Path) -> Path:
    from hepxai.io.checkpoint import save_checkpoint
    from hepxai.usecases.muon.models import create

    return save_checkpoint(tmp_path / "best.pt", create("attribution-cnn", "fast", seed=0))


def test_a_flipped_bit_in_the_weights_is_refused_though_torch_loads_it(tmp_path):
    path = _saved_cnn(tmp_path)
    original = read_checkpoint(path)["model_state"]
    data = bytearray(path.read_bytes())
    # a byte inside the largest tensor's stored bytes (the archive's biggest member)
    with zipfile.ZipFile(path) as archive:
        member = max(archive.infolist(), key=lambda info: info.file_size)
    with open(path, "rb") as handle:  # local header: 30 bytes + name + extra field
        handle.seek(member.header_offset + 26)
        name_len, extra_len = np.frombuffer(handle.read(4), "<u2")
    data[member.header_offset + 30 + int(name_len) + int(extra_len) + member.file_size // 2] ^= 1
    path.write_bytes(bytes(data))
    # the test is live: torch itself loads the damaged file and gets other weights
    loaded = torch.load(path, weights_only=True)["model_state"]
    assert any(not torch.equal(loaded[k], original[k]) for k in original)
    with pytest.raises(HepxaiError, match="fail their checksum") as error:
        read_checkpoint(path)
    assert "\n" not in str(error.value)


def test_a_truncated_checkpoint_is_refused_in_one_line(tmp_path):
    path = _saved_cnn(tmp_path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(HepxaiError, match="damaged") as error:
        read_checkpoint(path)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("damage,message", [
    (lambda s: s.pop("model"), "without its 'model' entry"),
    (lambda s: s.update(preset=3), "'preset' entry is a int, not a str"),
    (lambda s: s.pop("model_state"), "without its weights"),
    (lambda s: s["model_state"].update(extra=[1, 2]), "model_state entry 'extra' is not a tensor"),
    (lambda s: s["recipe"].update(warp_factor=9), "unknown training-recipe fields warp_factor"),
    (lambda s: s.update(model="transformer-xxl"), "unknown model 'transformer-xxl'"),
    (lambda s: (s.pop("model"), s.update(hepxai_version="99.0")),
     "newer than this"),
])
def test_a_checkpoint_off_its_schema_is_one_line_naming_what_is_wrong(tmp_path, damage,
                                                                      message):
    state = read_checkpoint(_saved_cnn(tmp_path))
    damage(state)
    path = tmp_path / "damaged.pt"
    torch.save(state, path)
    with pytest.raises(HepxaiError, match=message) as error:
        load_model(path)
    assert str(error.value).startswith(str(path)) and "\n" not in str(error.value)


def test_evaluate_refuses_a_checkpoint_with_an_unknown_recipe_field(tmp_path, capsys, muon_dir):
    state = read_checkpoint(_saved_cnn(tmp_path))
    state["recipe"]["warp_factor"] = 9
    torch.save(state, tmp_path / "future.pt")
    line = user_error(capsys, ["evaluate", "muon", "--checkpoint", tmp_path / "future.pt",
                               "--data", muon_dir, "--out", tmp_path / "out"])
    assert "unknown training-recipe fields warp_factor" in line


def test_a_damaged_compressed_archive_is_refused_in_one_line(tmp_path):
    """A deflated member whose stream is broken raises zlib.error, not BadZipFile."""
    path = tmp_path / "compressed.pt"
    np.savez_compressed(path.with_suffix(".npz"), weights=np.arange(20_000, dtype=np.float32))
    data = bytearray(path.with_suffix(".npz").read_bytes())
    data[len(data) // 2: len(data) // 2 + 64] = bytes(64)  # zeros inside the deflate stream
    path.write_bytes(bytes(data))
    with pytest.raises(HepxaiError, match="damaged") as error:
        read_checkpoint(path)
    assert "\n" not in str(error.value)
