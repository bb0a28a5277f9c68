"""Thesis table 7.1: the tree models the thesis tried before ConvSDT, trained and evaluated on
the same data, beside the thesis' published numbers.

Eight models: a scikit-learn decision tree, a neural decision tree (NDT), a soft decision tree
(SDT) and an ensemble of 6 SDTs, and their versions distilled from a teacher (the Attribution
CNN): the distilled decision tree, SDT, SDT ensemble and a "big" ensemble of 15 SDTs. Every
model is one ``hepxai train muon`` run into ``OUT/NAME`` and all are evaluated together by
``hepxai evaluate muon`` into ``OUT/evaluation``, as resumable steps
(:func:`hepxai.pipeline.steps.run_steps`): a rerun trains only what is missing.

The thesis' numbers are on its own (real) data and its full training; on hepxai's simulated
data and a short training they set the order of the rows, not values to reproduce.

Example::

    hepxai trees muon --data runs/demo-muon/data \\
        --teacher runs/demo-muon/models/attribution-cnn/checkpoints/epoch_002.pt --out trees
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hepxai.core.atomic import read_json


@dataclass(frozen=True)
class TreeRow:
    """One row of table 7.1: the run's name, the ``--model``, whether it is distilled, and the
    thesis' spread [GeV] and efficiency at 15 GeV."""

    name: str
    thesis_name: str
    model: str
    distilled: bool
    thesis_spread: float
    thesis_efficiency: float


#: thesis table 7.1, in its order
TABLE_7_1 = (
    TreeRow("dectree", "DecTree", "decision-tree", False, 3.4228, 0.5236),
    TreeRow("dectree-distilled", "Distilled DecTree", "decision-tree", True, 3.4249, 0.6194),
    TreeRow("ndt", "NDT", "ndt", False, 2.4248, 0.6155),
    TreeRow("sdt", "SDT", "sdt", False, 2.6006, 0.5612),
    TreeRow("sdt-ensemble", "SDT Ensemble", "sdt-ensemble", False, 2.1619, 0.5819),
    TreeRow("sdt-distilled", "Distilled SDT", "sdt", True, 2.7082, 0.6392),
    TreeRow("sdt-ensemble-distilled", "Distilled SDT Ensemble", "sdt-ensemble", True,
            2.1593, 0.6443),
    TreeRow("sdt-big-ensemble-distilled", "Big Distilled SDT Ensemble", "sdt-big-ensemble",
            True, 2.0421, 0.6521),
)


def tree_steps(out: Path, data: Path, teacher: Path, train: Sequence[str], *,
               eval_events: int | None = None, rows: Sequence[TreeRow] = TABLE_7_1) -> list:
    """The steps that train every row into ``out/NAME`` (``train``: the options every training
    shares, e.g. ``--max-events``, ``--epochs``, ``--seed``) and evaluate them all into
    ``out/evaluation``."""
    from hepxai.pipeline.steps import Step

    splits = [data / f"{s}.h5" for s in ("train", "val")]
    steps = []
    for row in rows:
        taught = ["--teacher", str(teacher)] if row.distilled else []
        steps.append(Step(f"train {row.name}",
                          ["train", "muon", "--model", row.model, *taught, "--data", str(data),
                           "--out", str(out / row.name), *train],
                          [out / row.name / "best.pt"],
                          [*splits, *([teacher] if row.distilled else [])]))
    evaluate = ["evaluate", "muon", "--data", str(data), "--out", str(out / "evaluation"),
                *(["--max-events", str(eval_events)] if eval_events else [])]
    for row in rows:
        evaluate += ["--checkpoint", str(out / row.name / "best.pt")]
    steps.append(Step("evaluate the tree models", evaluate,
                      [out / "evaluation" / "evaluation.json"],
                      [out / row.name / "best.pt" for row in rows]))
    return steps


def tree_table(out: Path, rows: Sequence[TreeRow] = TABLE_7_1) -> list[dict[str, Any]] | None:
    """The rows of ``out/evaluation/evaluation.json`` in table 7.1's order, each with the
    thesis' numbers: ``None`` before the evaluation exists."""
    path = out / "evaluation" / "evaluation.json"
    if not path.exists():
        return None
    found = read_json(path, "'hepxai trees muon'", ("models",))
    by_run = {Path(m["checkpoint"]).parent.name: m for m in found["models"]}
    table = []
    for row in rows:
        m = by_run.get(row.name)
        if m is None:
            continue
        table.append({"name": row.thesis_name, "run": row.name, "model": row.model,
                      "distilled": row.distilled, "spread": m.get("spread"),
                      "efficiency_15": m.get("efficiency_15"),
                      "parameters": m.get("parameters"),
                      "thesis_spread": row.thesis_spread,
                      "thesis_efficiency": row.thesis_efficiency})
    return table


def format_tree_table(table: list[dict[str, Any]]) -> str:
    """Table 7.1 as text: ours beside the thesis'."""
    lines = [f"{'model':<28}{'spread [GeV]':>14}{'eff@15':>9}{'thesis spread':>15}"
             f"{'thesis eff':>12}", "-" * 78]
    for r in table:
        spread = "-" if r["spread"] is None else f"{r['spread']:.4f}"
        efficiency = "-" if r["efficiency_15"] is None else f"{r['efficiency_15']:.4f}"
        lines.append(f"{r['name']:<28}{spread:>14}{efficiency:>9}{r['thesis_spread']:>15.4f}"
                     f"{r['thesis_efficiency']:>12.4f}")
    return "\n".join(lines)
