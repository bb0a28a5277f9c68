"""Number formatting shared by every report, as plain functions and as jinja2 filters.

Missing values (``None``, NaN, +-inf: JSON writes NaN as null) print as a dash, or as the
``missing`` text a report chooses; nothing here raises on a missing number.
"""

from __future__ import annotations

import math
from typing import Any

DASH = "–"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def number(value: Any, digits: int = 3, missing: str = DASH) -> str:
    """``value`` with ``digits`` decimals; an ``int`` with thousands separators instead.

    >>> number(0.12345), number(12345), number(None), number(float("nan"), missing="n/a")
    ('0.123', '12,345', '–', 'n/a')
    """
    if _missing(value):
        return missing
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return f"{value:.{digits}f}"


def significant(value: Any, digits: int = 3, missing: str = DASH) -> str:
    """``value`` to ``digits`` significant figures (for scores spanning decades).

    >>> significant(0.000123456), significant(-42.4242), significant(None)
    ('0.000123', '-42.4', '–')
    """
    return missing if _missing(value) else f"{value:.{digits}g}"


def percent(value: Any, digits: int = 2, missing: str = DASH) -> str:
    """A fraction as a percentage.

    >>> percent(0.01234), percent(0.5, 0), percent(None)
    ('1.23%', '50%', '–')
    """
    return missing if _missing(value) else f"{100 * value:.{digits}f}%"


def plus_minus(value: Any, error: Any, digits: int = 3, signed: bool = False,
               missing: str = DASH) -> str:
    """``value ± error`` with ``digits`` decimals on both; ``signed`` puts a + on a positive
    value (for changes).

    >>> plus_minus(0.0151, 0.0021, 4, signed=True), plus_minus(12.58, 4.5, 2)
    ('+0.0151 ± 0.0021', '12.58 ± 4.50')
    """
    sign = "+" if signed else ""
    shown = missing if _missing(value) else f"{value:{sign}.{digits}f}"
    return f"{shown} ± {missing if _missing(error) else f'{error:.{digits}f}'}"


def with_interval(value: Any, interval: Any, digits: int = 3, missing: str = DASH) -> str:
    """``value [lo, hi]``: a mean with its (bootstrap) interval; the value alone when there is
    no interval.

    >>> with_interval(0.5123, [0.48, 0.551]), with_interval(0.5, None), with_interval(None, None)
    ('0.512 [0.480, 0.551]', '0.500', '–')
    """
    shown = number(value, digits, missing)
    if _missing(value) or not interval or any(_missing(v) for v in interval):
        return shown
    return f"{shown} [{interval[0]:.{digits}f}, {interval[1]:.{digits}f}]"


def duration(seconds: Any, missing: str = DASH) -> str:
    """A wall time: ``12.3 s`` below a minute, ``2 min 05 s`` below an hour, else ``1 h 02 min``.

    >>> duration(0.04), duration(75.4), duration(3599.6)
    ('0.0 s', '1 min 15 s', '1 h 00 min')
    """
    if _missing(seconds):
        return missing
    if round(seconds, 1) < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


#: the filters every report template has
FILTERS = {"num": number, "sig": significant, "pct": percent, "pm": plus_minus,
           "ci": with_interval, "duration": duration}
