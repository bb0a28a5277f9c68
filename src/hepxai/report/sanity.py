"""The sanity-check section every report shares: what ``hepxai sanity USE-CASE`` wrote
(``sanity.json`` and ``sanity.png``, :mod:`hepxai.explain.judging.sanity`) as table rows, one
entry per checked model; the template side is ``sanity_section`` in ``macros.html.j2``.

>>> import json, tempfile
>>> from pathlib import Path
>>> run = Path(tempfile.mkdtemp())
>>> (run / "sanity" / "cnn").mkdir(parents=True)
>>> summary = {"threshold": 0.2, "n_examples": 12, "target": "pt", "layers": ["a", "b"],
...            "methods": {"ig": {"cascading": {
...                "verdict": "pass", "steps": ["b", "a"],
...                "similarity": {"spearman": {"mean": [0.4, 0.05],
...                                            "interval": [[0.3, 0.5], [-0.1, 0.15]]}}}}},
...            "seed_stability": {}}
>>> _ = (run / "sanity" / "cnn" / "sanity.json").write_text(json.dumps(summary))
>>> [entry["rows"][0]["cascading"] for entry in read_sanity(run)]
[{'mean': 0.05, 'interval': [-0.1, 0.15], 'verdict': 'pass'}]
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hepxai.core.atomic import read_json


def _final(result: dict[str, Any] | None) -> dict[str, Any] | None:
    """The last step's Spearman mean, interval and the verdict of one randomization."""
    if result is None:
        return None
    spearman = result["similarity"]["spearman"]
    return {"mean": spearman["mean"][-1], "interval": spearman["interval"][-1],
            "verdict": result["verdict"]}


def sanity_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Per method: the similarity after the full cascade and to the shuffled-label model
    (mean, interval, verdict; ``None`` where not run) and the layers whose randomization alone
    leaves its maps unchanged (``None`` without the independent order)."""
    rows = []
    for method, per in summary["methods"].items():
        independent = per.get("independent")
        rows.append({"method": method, "cascading": _final(per.get("cascading")),
                     "labels": _final(per.get("labels")),
                     "blind": None if independent is None else independent["insensitive_layers"],
                     "n_layers": None if independent is None else len(independent["steps"])})
    return rows


def read_sanity(run_dir: str | os.PathLike[str], pattern: str = "sanity/*/sanity.json"
                ) -> list[dict[str, Any]]:
    """One entry per ``sanity.json`` under ``run_dir`` matching ``pattern`` (its folder is the
    checked model's name): the summary, its rows (:func:`sanity_rows`), the seed stability and
    the figure's path relative to ``run_dir`` (``None`` when missing)."""
    run = Path(run_dir)
    entries = []
    for path in sorted(run.glob(pattern)):
        summary = read_json(path, "'hepxai sanity'", ("methods", "threshold"))
        figure = path.parent / "sanity.png"
        entries.append({"name": path.parent.name, "summary": summary,
                        "rows": sanity_rows(summary),
                        "stability": summary.get("seed_stability") or {},
                        "figure": str(figure.relative_to(run)) if figure.exists() else None})
    return entries


__all__ = ["read_sanity", "sanity_rows"]
