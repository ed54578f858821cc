"""Chromium from Debian for tests that open a page in a real browser (Playwright drives it)."""

from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
# No sandbox (CI runs as root); nothing in the background may reach for the network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
