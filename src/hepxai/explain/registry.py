"""Explanation methods by name, so the CLI, the report and the convergence analysis iterate over
methods instead of hard-coding them. Adding a method is one module with one ``@register`` call.

A method is a class built as ``Method(model, **params)`` whose ``explain(inputs, ...)`` returns an
:class:`~hepxai.explain.types.Attribution` (or another explanation type), in the spirit of
Captum's one-class-per-method ``attribute`` API.
"""

from __future__ import annotations

from collections.abc import Callable

from hepxai.core.errors import HepxaiError

METHODS: dict[str, type] = {}
USE_CASES: dict[str, tuple[str, ...]] = {}


def register(name: str, *use_cases: str) -> Callable[[type], type]:
    """Class decorator: make ``cls`` available as method ``name`` for ``use_cases``."""

    def decorate(cls: type) -> type:
        if name in METHODS and METHODS[name] is not cls:
            raise RuntimeError(f"explanation method {name!r} registered twice")
        METHODS[name] = cls
        USE_CASES[name] = use_cases
        cls.method_name = name
        return cls

    return decorate


def methods_for(use_case: str) -> list[str]:
    """Names of the methods registered for ``use_case``, in registration order."""
    return [name for name, cases in USE_CASES.items() if use_case in cases]


def get(name: str, use_case: str | None = None) -> type:
    """The method class registered as ``name``; a one-line error naming the choices otherwise."""
    if name not in METHODS or (use_case is not None and use_case not in USE_CASES[name]):
        choices = methods_for(use_case) if use_case else sorted(METHODS)
        raise HepxaiError(f"unknown explanation method {name!r}; choose from "
                          f"{', '.join(choices) or '(none registered)'}")
    return METHODS[name]
