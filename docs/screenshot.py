"""Screenshot of a run's report in headless Chromium (Debian's ``chromium``), for the README.

    .venv/bin/python docs/screenshot.py runs/demo-muon/report.html docs/report.png
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def main() -> None:
    from playwright.sync_api import sync_playwright

    report, target = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("screenshot: Debian's chromium is not installed (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1366, "height": 860})
        page.goto(report.as_uri())
        page.wait_for_load_state("load")
        anchor = sys.argv[3] if len(sys.argv) > 3 else None
        if anchor:
            page.locator(f"#{anchor}").scroll_into_view_if_needed()
        page.screenshot(path=str(target))
        browser.close()
    print(f"written: {target}")


if __name__ == "__main__":
    main()
