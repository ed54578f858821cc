"""A real browser for the sandbox tests: Debian's Chromium driven by Playwright.

Playwright's own browser download cannot work here, so it is pointed at /usr/bin/chromium
(`.ci/run` installs it when missing). The sandbox and its screenshots share this code path,
including the README's screenshot (`CROWDTUNE_README_SCREENSHOT=docs/sandbox.png`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = Path(os.environ.get("CROWDTUNE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",  # root in a container: Chromium's own sandbox cannot start
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless system Chromium; skipped (failed on CI) when it is not installed."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def person_page(browser: Browser, url: str, user: str, where: str = "home") -> Page:
    """A page of its own (own storage) for one person, opened on `where`."""
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    page = context.new_page()
    page.goto(f"{url}?as={user}&in={where}")
    return page
