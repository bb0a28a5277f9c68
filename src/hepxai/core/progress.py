"""One progress-bar factory for every long loop, so they all look and behave the same."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(iterable: Iterable[T] | None = None, *, desc: str, total: int | None = None,
             unit: str = "it", **kwargs: Any) -> tqdm:
    """A tqdm bar on stderr; silent when ``HEPXAI_PROGRESS=0`` or stderr is not a terminal.

    Set ``HEPXAI_PROGRESS=1`` to force bars in logs (e.g. CI).
    """
    setting = os.environ.get("HEPXAI_PROGRESS", "")
    disable = setting == "0" or (setting != "1" and not sys.stderr.isatty())
    return tqdm(iterable, desc=desc, total=total, unit=unit, disable=disable,
                dynamic_ncols=True, file=sys.stderr, **kwargs)
