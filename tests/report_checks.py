"""Checks every test module makes of a written report page the same way: no template leftovers,
one navigation whose links all land, and (in headless chromium) every image loads without a
console error."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def check_page(html: str) -> list[str]:
    """No jinja syntax left and a ``<nav>`` whose every ``#id`` link has its target; returns the
    navigation's hrefs."""
    for leftover in ("{{", "{%", "{#"):
        assert leftover not in html, f"template syntax {leftover!r} left in the page"
    assert html.count("<nav>") == 1 and "<main>" in html
    nav = html[html.index("<nav>"):html.index("</nav>")]
    links = re.findall(r'<a[^>]* href="#([^"]+)"', nav)
    assert links
    for target in links:
        assert html.count(f'id="{target}"') == 1, f"navigation link #{target}: no single target"
    return links


def check_in_browser(path: Path, screenshot: Path | None = None) -> None:
    """Open ``path`` in headless chromium: every ``<img>`` decodes, every navigation link finds
    its element, no console or page error (caller skips when :data:`CHROMIUM` is None)."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(Path(path).as_uri())
            page.wait_for_load_state("load")
            images = page.eval_on_selector_all(
                "img", "els => els.map(e => [e.getAttribute('alt'), "
                "e.complete && e.naturalWidth])")
            assert all(width > 0 for _, width in images), images
            links = page.eval_on_selector_all("nav a",
                                              "els => els.map(e => e.getAttribute('href'))")
            assert links
            for href in links:
                assert page.query_selector(href) is not None, f"navigation link {href} broken"
            if screenshot is not None:
                page.screenshot(path=str(screenshot), full_page=False)
        finally:
            browser.close()
    assert not errors, errors
