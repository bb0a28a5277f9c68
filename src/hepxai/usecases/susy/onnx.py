"""What the ONNX export (:mod:`hepxai.models.onnx_export`) needs to know of the SUSY MLP: the
16 variables ``(b, 16)`` -> ``(b, K)`` class logits, checked on ``test.h5`` (SUSY keeps no
validation split) in the reconstruction the model was trained on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hepxai.models.onnx_export import TABLE, Exportable

CHECK_FILE = "test.h5"


def exportable(model: Any, record: dict[str, Any], data: Path, n: int) -> Exportable:
    """The network with its first ``n`` preselected test events of ``data``."""
    import torch

    from hepxai.usecases.susy.store import SusyFile, split_path

    path = split_path(data, "test")
    table = SusyFile(path).table(record["sample"], max_events=n)
    x = torch.from_numpy(table.x)
    return Exportable(model, record["kind"], "susy", record["preset"], TABLE, "events",
                      len(x), lambda rows: (x[rows],), path)
