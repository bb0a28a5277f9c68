"""Argument types and checks shared by every ``hepxai`` command (one place, one wording).

argparse ``type=`` functions raise ``ArgumentTypeError``, which the parser turns into a one-line
error; :func:`checked_device` needs torch, so it runs after parsing (see
:func:`hepxai.cli.options.prepare`) and raises :class:`HepxaiError`. The options themselves are
declared in :mod:`hepxai.cli.options`. Nothing here imports anything heavy at import time.
"""

from __future__ import annotations

import argparse

from hepxai.core.errors import HepxaiError


def whole_number(text: str) -> int:
    """An integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def count(text: str) -> int:
    """A number of events or epochs: at least 1 (0 would select nothing)."""
    value = whole_number(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected at least 1, got 0")
    return value


def seed(text: str) -> int:
    """A random seed: an integer in [0, 2**63)."""
    value = whole_number(text)
    if value >= 2**63:
        raise argparse.ArgumentTypeError(f"expected a seed below 2**63, got {value}")
    return value


def int_list(text: str) -> list[int]:
    """Comma-separated whole numbers, e.g. ``5,15,25``."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got "
                                         f"{text!r}") from None
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected numbers >= 0, got {text!r}")
    return values


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = _number(text)
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0 (below 1e6)."""
    value = _number(text)
    if not 0 <= value < 1e6 or value != value:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def probability(text: str) -> float:
    """A number in [0, 1]."""
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a probability in [0, 1], got {text}")
    return value


def _number_list(text: str, parse, what: str) -> list[float]:
    """Comma-separated numbers, each read by ``parse`` (which refuses a bad one); ``what``
    names them in the error."""
    try:
        values = [parse(v) for v in text.split(",") if v.strip()]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got "
                                         f"{text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected at least one number, got {text!r}")
    return values


def positive_float_list(text: str) -> list[float]:
    """Comma-separated positive numbers, e.g. ``1e-3,3e-3``."""
    return _number_list(text, positive_float, "positive numbers")


def probability_list(text: str) -> list[float]:
    """Comma-separated probabilities, e.g. ``0.01,0.02,0.05``."""
    return _number_list(text, probability, "probabilities in [0, 1]")


def device_name(text: str) -> str:
    """``cpu``, ``cuda`` or ``cuda:N`` (the spelling only; :func:`checked_device` asks torch)."""
    if text in ("cpu", "cuda") or (text.startswith("cuda:") and text[5:].isdigit()):
        return text
    raise argparse.ArgumentTypeError(f"expected cpu, cuda or cuda:N, got {text!r}")


def checked_device(name: str) -> str:
    """``cpu``, ``cuda`` or ``cuda:N``, checked against what this machine has."""
    import torch

    if name.startswith("cuda") and not torch.cuda.is_available():
        raise HepxaiError(f"--device {name}: no CUDA device is available here; use --device cpu")
    if not (name == "cpu" or name.startswith("cuda")):
        raise HepxaiError(f"--device {name!r}: use cpu, cuda or cuda:N")
    index = name.partition(":")[2]
    if index.isdigit() and int(index) >= torch.cuda.device_count():
        raise HepxaiError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA "
                          f"device(s), cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    return name
