"""The command-line user-error contract, checked the same way by every test module."""

from __future__ import annotations

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
