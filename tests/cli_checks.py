"""The command-line user-error contract, checked the same way by every test module, and a
small file system to run commands out of space on."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hepxai.cli import main as cli


def user_error(capsys: pytest.CaptureFixture[str], argv: list) -> str:
    """Run ``hepxai argv`` in-process: exit code 2 and exactly one error line on stderr, no
    traceback. Returns that line."""
    code = None
    try:
        code = cli([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "error" in err[0] and "Traceback" not in err[0], err
    return err[0]


@contextlib.contextmanager
def small_filesystem(where: Path, size: str, read_only: bool = False) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``where`` for the block (skips the test where this
    process may not mount one: it needs root and a kernel that lets the container mount)."""
    where.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    if shutil.which("mount") is None or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
            capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root and mount permission)")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)
