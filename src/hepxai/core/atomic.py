"""Atomic file writes: a reader never sees a half-written file, an interrupted writer leaves none.

Everything is written to a temporary sibling (same directory, so the final rename stays on one
file system) and moved into place with ``os.replace``, which is atomic on POSIX and Windows.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from hepxai.core.errors import HepxaiError


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success move it onto ``target``.

    On any exception (including KeyboardInterrupt) the temporary file is removed and ``target``
    is left untouched, so a previous complete file survives an interrupted rewrite.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def output_directory(path: str | os.PathLike[str]) -> Path:
    """``path`` as an output directory: a one-line :class:`HepxaiError` when it is an existing
    file (what every command's ``--out`` must not be); it need not exist yet.

    >>> output_directory("runs/new-study")
    PosixPath('runs/new-study')
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise HepxaiError(f"{path} is a file, not a directory; choose another --out")
    return path


def nearest_existing(path: str | os.PathLike[str]) -> Path:
    """``path`` itself when it exists, else its nearest ancestor that does: where a file or
    directory still to be made will live.

    >>> nearest_existing("/no/such/place/out") == Path("/")
    True
    """
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


#: what the figures and JSON of one evaluation or study take, generously (a few PNGs)
FIGURES_BYTES = 10_000_000


def check_free_space(directory: str | os.PathLike[str], needed: float, what: str) -> None:
    """A one-line :class:`HepxaiError` when the file system that will hold ``directory`` (it
    need not exist yet) has less than ``needed`` bytes free for ``what``: a big write refused
    before its work, not a full disk after it.

    >>> check_free_space(".", 1, "one byte")
    """
    import shutil

    free = shutil.disk_usage(nearest_existing(directory)).free
    if needed > free:
        raise HepxaiError(f"{directory}: {what} need about {_megabytes(needed)}, the file "
                          f"system holding it has {_megabytes(free)} free; free space or choose "
                          "another --out")


def _megabytes(n: float) -> str:
    return f"{n / 1e6:,.1f} MB" if n < 1e9 else f"{n / 1e9:,.2f} GB"


def write_json_atomic(target: str | os.PathLike[str], payload: Any) -> Path:
    """Write ``payload`` as indented JSON to ``target`` atomically; NaN and +-inf (e.g. an
    infinite background rejection) are written as null, so the file is strict JSON."""
    text = json.dumps(_nan_to_none(payload), indent=2, sort_keys=False)
    with atomic_path(target) as tmp:
        tmp.write_text(text + "\n")
    return Path(target)


def read_json(path: str | os.PathLike[str], made_by: str,
              require: Sequence[str] = ()) -> dict[str, Any]:
    """The JSON object a hepxai command wrote to ``path``, checked before it is trusted: a
    missing, unreadable, truncated or hand-damaged file, a value that is not an object, or one
    without the ``require``d keys is a one-line :class:`HepxaiError` naming ``made_by`` (the
    command that re-creates it), never a traceback from the code that reads it.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = write_json_atomic(Path(d) / "evaluation.json", {"models": []})
    ...     print(read_json(path, "'hepxai evaluate muon'", require=["models"]))
    ...     _ = path.write_text('{"models": [')  # truncated
    ...     try:
    ...         read_json(path, "'hepxai evaluate muon'")
    ...     except HepxaiError as error:
    ...         print("refused:", "not readable JSON" in str(error))
    {'models': []}
    refused: True
    """
    path = Path(path)
    remedy = f"re-create it with {made_by}"
    try:
        found = json.loads(path.read_text())
    except FileNotFoundError:
        raise HepxaiError(f"{path}: no such file; make it with {made_by}") from None
    except IsADirectoryError:
        raise HepxaiError(f"{path} is a directory, not a JSON file; {remedy}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise HepxaiError(f"{path}: not readable JSON ({type(exc).__name__}: damaged or "
                          f"truncated); {remedy}") from None
    if not isinstance(found, dict):
        raise HepxaiError(f"{path}: holds a JSON {type(found).__name__}, not the object "
                          f"{made_by} writes; {remedy}")
    missing = [key for key in require if key not in found]
    if missing:
        raise HepxaiError(f"{path}: lacks {', '.join(map(repr, missing))} (not written by "
                          f"{made_by}, or by another hepxai version); {remedy}")
    return found


def _nan_to_none(value: Any) -> Any:
    # JSON has no NaN or infinity; null is what other tools (jq, pandas, browsers) read back.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nan_to_none(v) for v in value]
    return value
