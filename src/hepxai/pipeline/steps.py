"""Resumable pipeline steps: each step is one ``hepxai`` command with declared outputs.

A step is skipped when its outputs exist, unchanged since it made them (size and modification
time), and its *fingerprint* (the command line and the size and modification time of every
input file) equals the one recorded when it last finished, so
an interrupted demo resumes where it stopped, and changing one step's inputs re-runs that step
and everything downstream of it (their inputs are its outputs).

:func:`run_steps` keeps two files in the run directory: ``demo_state.json`` (per step, the
fingerprints and seconds of the run that made its current outputs) and ``timings.json``, a flat
``{step name: seconds}`` in step order, rewritten after every finished step, that the reports
read. Every demo is a list of steps: ``hepxai demo muon``, ``darkjet`` and ``susy``.

    >>> steps = [Step("simulate", ["simulate", "muon", "--out", "run/data"],
    ...               outputs=["run/data/train.h5"])]
    >>> run_steps(steps, Path("run"))  # doctest: +SKIP
    {'simulate': 12.3}
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hepxai.core.atomic import output_directory, write_json_atomic
from hepxai.core.errors import HepxaiError, Interrupted
from hepxai.pipeline.cache import fingerprint

STATE = "demo_state.json"
TIMINGS = "timings.json"
INTERRUPTED = 130  # hepxai's exit code after Ctrl-C


@dataclass
class Step:
    """``argv`` for ``hepxai``; ``outputs`` prove it finished; ``inputs`` feed the fingerprint.

    ``argv`` items, ``outputs`` and ``inputs`` may be given as any ``str()``-able values and
    paths; they are stored as strings and paths. An input may be a directory (every file below
    it counts), so it must not be one that later steps write into.
    """

    name: str
    argv: list[str]
    outputs: list[Path]
    inputs: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.argv = [str(a) for a in self.argv]
        self.outputs = [Path(p) for p in self.outputs]
        self.inputs = [Path(p) for p in self.inputs]

    def fingerprint(self) -> str:
        """:func:`hepxai.pipeline.cache.fingerprint` of the command line and the inputs."""
        return fingerprint(self.argv, self.inputs)

    def outputs_fingerprint(self) -> str:
        """The size and modification time of every output: a finished step whose outputs were
        since truncated, replaced or touched is not up to date (a damaged ``best.pt`` would
        otherwise be skipped as finished)."""
        return fingerprint([], self.outputs)


def option(flag: str, value) -> list[str]:
    """``[flag, str(value)]``, or nothing when ``value`` is None (an option left at its
    default): ``["train", ..., *option("--epochs", epochs)]``."""
    return [] if value is None else [flag, str(value)]


def run_steps(steps: list[Step], run_dir: Path, echo: Callable[[str], object] = print
              ) -> dict[str, float]:
    """Run (or skip) every step in order, in this process, as ``hepxai ARGV`` would.

    Prints ``[demo] NAME: ...`` when a step starts, finishes or is skipped. After every
    finished or skipped step, ``RUN_DIR/timings.json`` holds the seconds of each step so far
    (a skipped step keeps the seconds of the run that made its outputs). A failing step
    raises a one-line :class:`HepxaiError` after its command printed its own error; the steps
    before it keep their outputs and are skipped next time.

    Returns the seconds each step took in this call (0.0 if skipped).
    """
    from hepxai.cli import app

    run_dir = Path(run_dir)
    output_directory(run_dir)
    names = [step.name for step in steps]
    if len(set(names)) != len(names):
        raise HepxaiError(f"demo steps need distinct names, got {names}")
    state_file, timings_file = run_dir / STATE, run_dir / TIMINGS
    state = {name: _record(entry) for name, entry in _read(state_file).items()}
    ran: dict[str, float] = {}
    timings: dict[str, float] = {}
    for step in steps:
        record = state.get(step.name)
        if record is not None and record["fingerprint"] == step.fingerprint() \
                and all(p.exists() for p in step.outputs) \
                and record["outputs"] == step.outputs_fingerprint():
            seconds = record["seconds"]
            echo(f"[demo] {step.name}: up to date, skipped (it ran in {seconds:.0f} s)")
            ran[step.name] = 0.0
            timings[step.name] = seconds
            write_json_atomic(timings_file, timings)
            continue
        if state.pop(step.name, None) is not None:  # outputs about to change: not finished
            write_json_atomic(state_file, state)
        echo(f"[demo] {step.name}: hepxai {' '.join(step.argv)}")
        started = time.perf_counter()
        code = _call(app.main, step.argv)
        seconds = time.perf_counter() - started
        if code == INTERRUPTED:  # the step printed the interruption; say it only once
            raise Interrupted
        if code not in (0, None):
            error = HepxaiError(f"demo step {step.name!r} failed (exit {code}) after "
                                f"{seconds:.0f} s; fix the message above and re-run the demo: "
                                "finished steps are kept")
            error.exit_code = 1 if code == 1 else 2  # a fault that is not the user's stays 1
            raise error
        missing = [str(p) for p in step.outputs if not p.exists()]
        if missing:
            raise HepxaiError(f"demo step {step.name!r} finished without {', '.join(missing)}")
        echo(f"[demo] {step.name}: done in {seconds:.0f} s")
        ran[step.name] = timings[step.name] = seconds
        # outputs now exist: fingerprint the inputs as they are after the step
        state[step.name] = {"fingerprint": step.fingerprint(), "seconds": seconds,
                            "outputs": step.outputs_fingerprint(),
                            "command": "hepxai " + " ".join(map(str, step.argv))}
        write_json_atomic(state_file, state)
        write_json_atomic(timings_file, timings)
    return ran


def finished(ran: dict[str, float], started: float, report: Path) -> str:
    """The demo's last line: ``demo finished in N s (R steps run, S reused): open REPORT``
    (``ran`` from :func:`run_steps`, ``started`` a ``time.perf_counter()`` value)."""
    n_run = sum(1 for seconds in ran.values() if seconds > 0)
    return (f"demo finished in {time.perf_counter() - started:.0f} s ({n_run} steps run, "
            f"{len(ran) - n_run} reused): open {report}")


def _call(main: Callable[[list[str]], int | None], argv: list[str]) -> int | None:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse: a bad option of the step (already printed)
        return exc.code if isinstance(exc.code, int) else 2


def _read(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):  # unreadable: the steps are simply not known to be done
        return {}
    return found if isinstance(found, dict) else {}


def _record(entry) -> dict:
    """A state entry: ``{"fingerprint", "seconds", "outputs"}``. A damaged entry, or one of an
    earlier runner (a bare fingerprint string, or no outputs' fingerprint, which cannot prove
    its outputs intact), is a step not known to be done: it runs again."""
    seconds = entry.get("seconds") if isinstance(entry, dict) else None
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return {"fingerprint": None, "seconds": None, "outputs": None}
    return {"fingerprint": entry.get("fingerprint"), "outputs": entry.get("outputs"),
            "seconds": float(seconds), "command": entry.get("command")}
