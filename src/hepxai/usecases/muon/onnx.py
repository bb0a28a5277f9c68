"""What the ONNX export (:mod:`hepxai.models.onnx_export`) needs to know of the muon models:
images ``(b, 1, 9, 384)`` -> ``(b, 2)`` pT [GeV], |eta|, checked on ``val.h5``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hepxai.models.onnx_export import IMAGES, Exportable

CHECK_FILE = "val.h5"


def exportable(model: Any, record: dict[str, Any], data: Path, n: int) -> Exportable:
    """The model with its first ``n`` validation events of ``data``."""
    from hepxai.usecases.muon.loader import MuonDataset
    from hepxai.usecases.muon.store import MuonFile, split_path

    file = MuonFile(split_path(data, "val"))
    dataset = MuonDataset(file, rows=np.arange(min(n, len(file))))
    return Exportable(model, record["model"], "muon", record["preset"], IMAGES, "events",
                      len(dataset), lambda rows: (dataset.__getitems__(rows)[0],), file.path)
