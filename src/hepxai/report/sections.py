"""What a report page is built from: its sections (for the navigation), the run's step times,
figures embedded as data URIs and Markdown tables as rows."""

from __future__ import annotations

import base64
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from hepxai.core.errors import HepxaiError


@dataclass(frozen=True)
class Section:
    """One entry of a page's left navigation: the ``id`` of the element it links to, its title,
    and sub-entries (indented, one level).

    >>> Section("explain", "4. Attributions", (Section("explain-cnn", "cnn"),)).children[0].id
    'explain-cnn'
    """

    id: str
    title: str
    children: tuple[Section, ...] = ()


def present(*entries: Section | None) -> list[Section]:
    """The entries that are there (a section the run lacks is passed as ``None``).

    >>> [s.id for s in present(Section("data", "Data"), None, Section("run", "Run"))]
    ['data', 'run']
    """
    return [e for e in entries if e is not None]


@dataclass(frozen=True)
class Timings:
    """Wall time per step of the run that wrote a directory, in step order."""

    steps: dict[str, float]
    #: the command line of each step, where the run's ``demo_state.json`` recorded it
    commands: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.steps.values())


def read_timings(run_dir: str | os.PathLike[str]) -> Timings | None:
    """``RUN/timings.json`` (a flat JSON object ``{step name: seconds}`` in step order, written
    by the demo's step runner), or ``None`` when the run has none."""
    path = Path(run_dir) / "timings.json"
    if not path.exists():
        return None
    try:
        steps = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise HepxaiError(f"{path}: not JSON ({e.msg}, line {e.lineno})") from None
    if not isinstance(steps, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in steps.values()):
        raise HepxaiError(f"{path}: expected a flat JSON object of step name -> seconds, "
                          f"got {json.dumps(steps)[:80]}")
    commands = {}
    state = Path(run_dir) / "demo_state.json"
    if state.exists():
        try:
            found = json.loads(state.read_text())
        except (OSError, ValueError):  # the bookkeeping is optional: a damaged one shows none
            found = {}
        commands = {str(k): v["command"] for k, v in found.items()
                    if isinstance(v, dict) and isinstance(v.get("command"), str)}
    return Timings({str(k): float(v) for k, v in steps.items()}, commands)


def data_uri(path: str | os.PathLike[str] | None) -> str | None:
    """A PNG as a ``data:`` URI (the page stays one self-contained file), or ``None`` when the
    figure is missing."""
    if path is None or not Path(path).is_file():
        return None
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def markdown_rows(table: str) -> list[list[str]]:
    """A Markdown table as rows of cells, the header first (the separator row dropped); the
    template macro ``table(rows)`` of ``macros.html.j2`` renders them.

    >>> markdown_rows("| a | b |\\n|---|---|\\n| 1 | 2 |")
    [['a', 'b'], ['1', '2']]
    """
    rows = [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in table.splitlines() if line.strip().startswith("|")]
    return [r for i, r in enumerate(rows) if i != 1]
