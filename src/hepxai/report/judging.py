"""The judging report of any model: what :func:`hepxai.explain.judging.judge` measured, as
``judging.json``, figures and one ``report.html`` (on the shared page skeleton).

>>> result = judge(explainers, images, truth=truth, categories=groups)   # doctest: +SKIP
>>> write_judging_report(result, "out/", title="my detector", images=images, truth=truth)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from hepxai.core.atomic import write_json_atomic
from hepxai.report.render import TEMPLATES, render_report
from hepxai.report.sections import Section, data_uri


def write_judging_report(result: Any, out_dir: str | os.PathLike[str], *, title: str,
                         target: int | str = 0, output: str | None = None, unit: str = "",
                         items: str = "items",
                         images: np.ndarray | None = None, truth: np.ndarray | None = None,
                         gallery: int = 3) -> Path:
    """Write ``judging.json``, ``agreement.png``, ``deletion_curves.png`` (and, given the
    ``images`` ``(n, [C,] H, W)``, ``maps.png`` of the first ``gallery`` examples) and
    ``report.html`` into ``out_dir``; returns the report's path. ``output`` names the
    explained output in the figures (default: ``target``), ``unit`` its unit."""
    from hepxai.viz.explain import plot_agreement, plot_deletion_curves, plot_maps

    out = Path(out_dir)
    summary = result.summary()
    write_json_atomic(out / "judging.json", summary)
    figures = {"agreement": plot_agreement(summary, out / "agreement.png"),
               "deletion": plot_deletion_curves(summary, out / "deletion_curves.png",
                                                output or str(target), unit=unit,
                                                items=items)}
    if images is not None:
        rows = np.arange(min(gallery, len(images)))
        figures["maps"] = plot_maps(images, truth, result.attributions, rows, target,
                                    out / "maps.png", title=title)
    share = next(key for key in next(iter(summary["scores"].values()))["all"]
                 if key.endswith("_share"))
    sections = [Section("scores", "Scores"), Section("agreement", "Agreement"),
                Section("deletion", "Deletion curves")]
    if "maps" in figures:
        sections.append(Section("maps", "Maps"))
    context = {**summary, "title": title, "unit": unit, "share": share, "sections": sections,
               "timings": None, "figures": {k: data_uri(v) for k, v in figures.items()}}
    return render_report(TEMPLATES, "judging.html.j2", context, out / "report.html")
