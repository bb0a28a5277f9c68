"""One jinja2 renderer for every use case's report.

A use case's page template ``{% extends "base.html.j2" %}`` (this folder: head, the shared
style, the left navigation, ``<main>``, the run's step times and a footer) and fills its blocks
(``title``, ``style``, ``content``, ``notes``). Templates are looked up in the use case's folder
first, then here (``base.html.j2``, ``macros.html.j2``). Every template is autoescaped, an
undefined name is an error, and the filters of :mod:`hepxai.report.format` are there
(``num``, ``pct``, ``pm``, ``duration``).

The page context may carry ``sections`` (a list of :class:`~hepxai.report.sections.Section`,
the navigation) and ``timings`` (:func:`~hepxai.report.sections.read_timings`; the "Run"
section is shown when it is not ``None``); :func:`page_context` sets both for a run directory.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from hepxai import __version__
from hepxai.core.atomic import atomic_path
from hepxai.report.format import FILTERS
from hepxai.report.sections import Section, read_timings

TEMPLATES = Path(__file__).resolve().parent


@functools.lru_cache(maxsize=8)
def _environment(template_dir: str) -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader([template_dir, str(TEMPLATES)]),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined)
    environment.filters.update(FILTERS)
    return environment


def environment(template_dir: str | os.PathLike[str]) -> jinja2.Environment:
    """The jinja2 environment of the templates in ``template_dir`` (one per folder, cached)."""
    return _environment(str(Path(template_dir).resolve()))


def page_context(run_dir: str | os.PathLike[str], sections: list[Section],
                 **context: Any) -> dict[str, Any]:
    """``context`` with the page's navigation and the step times of ``run_dir``."""
    return {"sections": sections, "timings": read_timings(run_dir), **context}


def _page_context(context: Mapping[str, Any]) -> dict[str, Any]:
    return {"sections": [], "timings": None, "hepxai_version": __version__,
            "hepxai_commit": source_commit(), "warnings": [], **context}


@functools.cache
def source_commit() -> str | None:
    """The git commit of the hepxai source that runs, when it runs from a checkout (its
    short hash, ``+`` when the checkout has uncommitted changes), else ``None``: a report
    says which code wrote it."""
    import subprocess

    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "-C", str(here), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=5)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--",
                                str(here.parent)], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):  # no git, or it hangs
        return None
    return head.stdout.strip() + ("+" if dirty.stdout.strip() else "")


def render(template_dir: str | os.PathLike[str], template_name: str,
           context: Mapping[str, Any]) -> str:
    """The page ``template_name`` rendered with ``context`` (as text)."""
    template = environment(template_dir).get_template(template_name)
    return template.render(_page_context(context))


def render_block(template_dir: str | os.PathLike[str], template_name: str, block: str,
                 context: Mapping[str, Any]) -> str:
    """One block of a page alone, e.g. a use case's section for a page that embeds it."""
    template = environment(template_dir).get_template(template_name)
    return "".join(template.blocks[block](template.new_context(_page_context(context))))


def render_report(template_dir: str | os.PathLike[str], template_name: str,
                  context: Mapping[str, Any], out_path: str | os.PathLike[str]) -> Path:
    """Render the page and write it to ``out_path`` atomically (an error while rendering
    leaves no file and an earlier report untouched); returns ``out_path``."""
    text = render(template_dir, template_name, context)
    target = Path(out_path)
    with atomic_path(target) as tmp:
        tmp.write_text(text)
    return target
