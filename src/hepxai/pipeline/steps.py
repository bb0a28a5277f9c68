"""Resumable pipeline steps: each step is one ``hepxai`` command with declared outputs.

A step is skipped when its outputs exist and its *fingerprint* (the command line and the size
and modification time of every input file) equals the one recorded when it last finished, so
an interrupted demo resumes where it stopped, and changing one step's inputs re-runs that step
and everything downstream of it (their inputs are its outputs).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from hepxai.core.atomic import write_json_atomic
from hepxai.core.errors import HepxaiError


@dataclass
class Step:
    """``argv`` for ``hepxai``; ``outputs`` prove it finished; ``inputs`` feed the fingerprint."""

    name: str
    argv: list[str]
    outputs: list[Path]
    inputs: list[Path] = field(default_factory=list)

    def fingerprint(self) -> str:
        parts = [" ".join(self.argv)]
        for path in self.inputs:
            files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() \
                else [path]
            for f in files:
                if f.exists():
                    stat = f.stat()
                    parts.append(f"{f}:{stat.st_size}:{stat.st_mtime_ns}")
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def run_steps(steps: list[Step], state_file: Path, echo=print) -> dict[str, float]:
    """Run (or skip) every step in order; returns the seconds each step took (0 if skipped)."""
    from hepxai.cli.app import main

    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    timings: dict[str, float] = {}
    for step in steps:
        fingerprint = step.fingerprint()
        done = state.get(step.name) == fingerprint and all(p.exists() for p in step.outputs)
        if done:
            echo(f"[demo] {step.name}: up to date, skipped")
            timings[step.name] = 0.0
            continue
        echo(f"[demo] {step.name}: hepxai {' '.join(step.argv)}")
        started = time.perf_counter()
        code = main(step.argv)
        if code not in (0, None):
            raise HepxaiError(f"demo step {step.name!r} failed (exit {code}); fix the message "
                              "above and re-run the demo: finished steps are kept")
        missing = [str(p) for p in step.outputs if not p.exists()]
        if missing:
            raise HepxaiError(f"demo step {step.name!r} finished without {', '.join(missing)}")
        timings[step.name] = time.perf_counter() - started
        echo(f"[demo] {step.name}: done in {timings[step.name]:.0f} s")
        state[step.name] = step.fingerprint()  # outputs now exist: fingerprint them as they are
        write_json_atomic(state_file, state)
    return timings
