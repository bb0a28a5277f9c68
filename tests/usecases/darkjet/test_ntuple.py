"""Tests of dark-jet ROOT / open-data ntuples: export then import gives the same arrays, the jet
quantities computed from clusters follow their definitions, and every malformed file is refused
in one line before anything is written."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from hepxai.cli import main
from hepxai.core.errors import HepxaiError
from hepxai.usecases.darkjet.ntuple import export_ntuples, import_ntuples
from hepxai.usecases.darkjet.store import SPLITS, DarkJetFile, simulate_dataset, split_path

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("darkjet") / "data"
    simulate_dataset(out, 60, seed=5)
    return out


@pytest.mark.parametrize("fmt", ["root", "h5"])
def test_export_then_import_gives_the_same_arrays(data: Path, tmp_path: Path, fmt: str) -> None:
    written = export_ntuples(data, tmp_path / fmt, format=fmt)
    assert sorted(written) == sorted(SPLITS)
    import_ntuples([tmp_path / fmt], tmp_path / "back")
    for split in SPLITS:
        a, b = DarkJetFile(split_path(data, split)), DarkJetFile(split_path(tmp_path / "back",
                                                                            split))
        np.testing.assert_array_equal(a.offsets, b.offsets)
        for field in a.clusters.dtype.names:
            np.testing.assert_array_equal(a.clusters[field], b.clusters[field])
        for field in a.jets.dtype.names:  # decay_radius is NaN for QCD jets
            np.testing.assert_array_equal(a.jets[field], b.jets[field])


def _jets_file(path: Path, clusters: list[list[tuple[float, float, int, float]]],
               **overrides) -> Path:
    """A jet ntuple written with uproot directly: the default branch names, no derived jet
    quantities (hepxai computes them)."""
    n = len(clusters)
    columns = {f"cluster_{name}": ak.Array([[c[k] for c in jet] for jet in clusters])
               for k, name in enumerate(("eta", "phi", "layer", "energy"))}
    columns |= {"label": np.arange(n) % 2, "jet_pt": np.full(n, 50.0),
                "jet_eta": np.zeros(n), "jet_phi": np.zeros(n)}
    columns |= overrides
    with uproot.recreate(path) as f:
        f.mktree("jets", {k: v.type.content if isinstance(v, ak.Array) else np.asarray(v).dtype
                          for k, v in columns.items()})
        f["jets"].extend(columns)
    return path


def test_em_fraction_and_width_are_computed_from_the_clusters(data: Path, tmp_path: Path
                                                              ) -> None:
    # em_fraction: the simulator's definition; dropping the branch must give its values back
    export_ntuples(data, tmp_path / "root")
    (tmp_path / "map.toml").write_text('[branches]\nem_fraction = ""\nwidth = ""\n')
    import_ntuples([tmp_path / "root"], tmp_path / "computed", mapping=tmp_path / "map.toml")
    simulated = DarkJetFile(split_path(data, "train"))
    computed = DarkJetFile(split_path(tmp_path / "computed", "train"))
    np.testing.assert_array_equal(computed.jets["em_fraction"], simulated.jets["em_fraction"])
    # width: energy-weighted Delta R from the axis, phi wrapped; checked by hand on one jet
    jet = [(0.1, 3.1, 0, 10.0), (-0.1, -3.1, 5, 30.0)]  # across the phi = pi seam
    path = _jets_file(tmp_path / "one.root", [jet] * 30, jet_phi=np.full(30, np.pi))
    import_ntuples([path], tmp_path / "one")
    jets = np.concatenate([DarkJetFile(split_path(tmp_path / "one", s)).jets for s in SPLITS])
    dr = [np.hypot(0.1, 3.1 - np.pi), np.hypot(-0.1, -3.1 + np.pi)]
    np.testing.assert_allclose(jets["width"], (10 * dr[0] + 30 * dr[1]) / 40, rtol=1e-5)
    np.testing.assert_allclose(jets["em_fraction"], 0.25, rtol=1e-6)
    assert np.isnan(jets["decay_radius"]).all() and (jets["n_noise"] == 0).all()


GOOD = [(0.0, 0.0, 1, 5.0), (0.1, 0.1, 4, 2.0)]


@pytest.mark.parametrize("clusters,overrides,message", [
    ([GOOD, [], GOOD], {}, "entry 1: a jet without clusters"),
    ([GOOD, [(0.0, 0.0, 1, 0.0)], GOOD], {}, "entry 1: branch 'cluster_energy' .* is 0.0, "
                                             "not a positive number of GeV"),
    ([GOOD, GOOD, [(0.0, 0.0, 7, 1.0)]], {}, "entry 2: branch 'cluster_layer' .* is 7"),
    ([GOOD, [(np.nan, 0.0, 1, 1.0)], GOOD], {}, "entry 1: branch 'cluster_eta' .* is nan"),
    ([GOOD] * 3, {"label": np.array([0, 2, 1])}, "entry 1: branch 'label' .* is 2, not 0"),
    ([GOOD] * 3, {"jet_pt": np.array([1.0, -5.0, 1.0])}, "entry 1: branch 'jet_pt'"),
    ([GOOD] * 3, {"cluster_phi": ak.Array([[0.0, 0.0], [0.0], [0.0, 0.0]])},
     "entry 1: branch 'cluster_phi' and 'cluster_eta' hold different numbers of clusters"),
])
def test_a_malformed_file_is_one_line_and_writes_nothing(tmp_path: Path, clusters, overrides,
                                                         message: str) -> None:
    path = _jets_file(tmp_path / "bad.root", clusters, **overrides)
    with pytest.raises(HepxaiError, match=message):
        import_ntuples([path], tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_imported_jets_train_a_tagger_through_the_cli(data: Path, tmp_path: Path) -> None:
    export_ntuples(data, tmp_path / "root")
    files = [str(tmp_path / "root" / f"{split}.root") for split in SPLITS]
    assert main(["import", "darkjet", *files, "--out", str(tmp_path / "data")]) == 0
    assert main(["train", "darkjet", "--model", "resgnn", "--preset", "quick", "--data",
                 str(tmp_path / "data"), "--out", str(tmp_path / "run"), "--epochs", "1",
                 "--threads", "1"]) == 0
    assert (tmp_path / "run" / "best.pt").is_file()
