"""The report base page and its one renderer: the number filters, the navigation from a section
list, the run's step times, autoescaping, block rendering and the atomic write."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from report_checks import CHROMIUM, check_in_browser, check_page

from hepxai.core.errors import HepxaiError
from hepxai.report import (
    Section,
    duration,
    markdown_rows,
    number,
    percent,
    plus_minus,
    present,
    read_timings,
    render,
    render_block,
    render_report,
)

ROOT = Path(__file__).resolve().parents[2]
PAGE = """{% extends "base.html.j2" %}
{% block title %}test page{% endblock %}
{% block content %}
<h1>{{ heading }}</h1>
{% block part %}<section id="a"><h2>A</h2><h3 id="a-1">one</h3><h3 id="a-2">two</h3>
<p>{{ value | num }} {{ share | pct(1) }} {{ change | pm(0.0021, 4, signed=True) }}</p>
</section>{% endblock %}
<h2 id="b">B</h2><p>{{ boom() }}</p>
{% endblock %}
{% block notes %}Made for a test. {% endblock %}
"""


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "page.html.j2").write_text(PAGE)
    return folder


def context(**extra):
    return {"heading": "Test", "value": 1234567, "share": 0.4567, "change": 0.0151,
            "boom": lambda: "fine",
            "sections": [Section("a", "A", (Section("a-1", "one"), Section("a-2", "two"))),
                         Section("b", "B")], **extra}


def test_filters_on_known_values():
    assert [number(0.12345), number(2.0, 1), number(12345), number(12345, 1)] == \
        ["0.123", "2.0", "12,345", "12,345"]
    assert [number(None), number(float("nan")), number(float("inf")), number(None, missing="n/a")] \
        == ["–", "–", "–", "n/a"]
    assert [percent(0.01234), percent(0.5, 0), percent(1e-4, 3), percent(None)] == \
        ["1.23%", "50%", "0.010%", "–"]
    assert plus_minus(0.0151, 0.0021, 4, signed=True) == "+0.0151 ± 0.0021"
    assert plus_minus(-0.0012, 0.0004, 4, signed=True) == "-0.0012 ± 0.0004"
    assert plus_minus(12.58, 4.5, 2) == "12.58 ± 4.50"
    assert plus_minus(0.25, 4) == "0.250 ± 4.000"  # an int error still gets the decimals
    assert plus_minus(None, 0.1, missing="n/a") == "n/a ± 0.100"
    assert [duration(0.04), duration(12.345), duration(59.96), duration(75.4), duration(3599.6),
            duration(7384), duration(None)] == \
        ["0.0 s", "12.3 s", "1 min 00 s", "1 min 15 s", "1 h 00 min", "2 h 03 min", "–"]


def test_sections_and_markdown_rows():
    assert [s.id for s in present(Section("x", "X"), None, Section("y", "Y"))] == ["x", "y"]
    assert markdown_rows("text\n| a | b |\n| --- | ---: |\n| 1 | 2 |\n") == [["a", "b"],
                                                                            ["1", "2"]]


def test_the_page_has_its_navigation_and_the_run_times(templates, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    assert read_timings(run) is None
    html = render(templates, "page.html.j2", context())
    assert "Run" not in html[html.index("<nav>"):html.index("</nav>")]
    assert 'id="run"' not in html and "<title>test page</title>" in html
    assert check_page(html) == ["a", "a-1", "a-2", "b"]
    assert re.findall(r'<a class="sub" href="#([^"]+)">([^<]+)</a>', html) == [("a-1", "one"),
                                                                               ("a-2", "two")]
    assert "<p>1,234,567 45.7% +0.0151 ± 0.0021</p>" in html
    assert "Made for a test. Written by hepxai" in html

    (run / "timings.json").write_text(json.dumps({"simulate": 1.25, "train cnn": 120.0,
                                                  "report": 0.0}))
    timings = read_timings(run)
    assert list(timings.steps) == ["simulate", "train cnn", "report"]  # step order kept
    assert timings.total == 121.25
    html = render(templates, "page.html.j2", context(timings=timings))
    assert check_page(html)[-1] == "run"
    table = re.search(r'<table id="timings">(.*?)</table>', html, re.S).group(1)
    rows = [re.findall(r"<t[dh]>(.*?)</t[dh]>", r, re.S)
            for r in re.findall(r"<tr>(.*?)</tr>", table, re.S)]
    assert rows == [["step", "wall time [s]", "share"], ["simulate", "1.2", "1%"],
                    ["train cnn", "120.0", "99%"], ["report", "0.0", "0%"],
                    ["total", "121.2", "100%"]]
    assert "2 min 01 s in all" in html and "0 s: the step did not run this time" in html
    # the step runner's bookkeeping: each step's command line beside its time
    (run / "demo_state.json").write_text(json.dumps({
        "simulate": {"fingerprint": "x", "seconds": 1.25, "outputs": "y",
                     "command": "hepxai simulate muon --out <data>"}, "broken": "old"}))
    timings = read_timings(run)
    assert timings.commands == {"simulate": "hepxai simulate muon --out <data>"}
    html = render(templates, "page.html.j2", context(timings=timings))
    assert "<code>hepxai simulate muon --out &lt;data&gt;</code>" in html


def test_bad_timings_are_one_line_errors(tmp_path):
    for text in ('{"simulate": "fast"}', '[1, 2]', '{"simulate": 1', '{"a": {"b": 1}}'):
        (tmp_path / "timings.json").write_text(text)
        with pytest.raises(HepxaiError, match="timings.json") as info:
            read_timings(tmp_path)
        assert "\n" not in str(info.value)


def test_text_from_the_run_is_escaped(templates):
    script = "<script>alert('x')</script>"
    html = render(templates, "page.html.j2",
                  context(heading=script, sections=[Section("a", script)]))
    assert "<script>alert" not in html  # the page's own script only
    assert html.count("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;") == 2  # heading and nav


def test_one_block_alone(templates):
    part = render_block(templates, "page.html.j2", "part", context())
    assert part.startswith('<section id="a">') and part.endswith("</section>")
    assert "<nav>" not in part and "<html" not in part and "1,234,567" in part


def test_an_error_while_rendering_leaves_the_earlier_report(templates, tmp_path):
    target = tmp_path / "out" / "report.html"
    assert render_report(templates, "page.html.j2", context(), target) == target
    before = target.read_text()

    def boom():
        raise RuntimeError("figure missing")

    with pytest.raises(RuntimeError, match="figure missing"):
        render_report(templates, "page.html.j2", context(boom=boom), target)
    assert target.read_text() == before
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]  # no partial file
    fresh = tmp_path / "fresh" / "report.html"
    with pytest.raises(RuntimeError):
        render_report(templates, "page.html.j2", context(boom=boom), fresh)
    assert not fresh.exists()


def test_every_template_is_package_data():
    """A wheel without a template renders nothing: every ``*.j2`` under src/ matches a
    ``[tool.setuptools.package-data]`` glob of its package."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]
    src = ROOT / "src"
    templates = sorted(src.rglob("*.j2"))
    assert {"base.html.j2", "macros.html.j2", "muon.html.j2", "darkjet.html.j2",
            "susy.html.j2"} <= {p.name for p in templates}
    for path in templates:
        covered = False
        for folder in path.relative_to(src).parents:
            package = ".".join(folder.parts)
            rest = path.relative_to(src / folder)
            covered |= any(rest.match(g) and len(rest.parts) == len(Path(g).parts)
                           for g in globs.get(package, []))
        assert covered, f"{path.relative_to(ROOT)} is not in the package data"


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_the_page_opens_in_a_browser(templates, tmp_path):
    (tmp_path / "timings.json").write_text('{"simulate": 2.5}')
    path = render_report(templates, "page.html.j2",
                         context(timings=read_timings(tmp_path)), tmp_path / "report.html")
    check_in_browser(path)


def test_the_footer_names_the_commit_of_a_checkout(templates):
    import importlib
    import subprocess

    # the module (the package re-exports its function ``render`` under the same name)
    render_module = importlib.import_module("hepxai.report.render")

    render_module.source_commit.cache_clear()
    try:
        found = render_module.source_commit()
        inside = subprocess.run(["git", "-C", str(Path(render_module.__file__).parent),
                                 "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        assert (found or "").rstrip("+") == inside  # the checkout's HEAD, or none outside one
        html = render(templates, "page.html.j2", context())
        assert (f"(commit <code>{found}</code>)" in html) == bool(found)
    finally:
        render_module.source_commit.cache_clear()
