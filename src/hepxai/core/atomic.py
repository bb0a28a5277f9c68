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
from collections.abc import Iterator
from pathlib import Path
from typing import Any


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


def write_json_atomic(target: str | os.PathLike[str], payload: Any) -> Path:
    """Write ``payload`` as indented JSON to ``target`` atomically; NaN and +-inf (e.g. an
    infinite background rejection) are written as null, so the file is strict JSON."""
    text = json.dumps(_nan_to_none(payload), indent=2, sort_keys=False)
    with atomic_path(target) as tmp:
        tmp.write_text(text + "\n")
    return Path(target)


def _nan_to_none(value: Any) -> Any:
    # JSON has no NaN or infinity; null is what other tools (jq, pandas, browsers) read back.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nan_to_none(v) for v in value]
    return value
