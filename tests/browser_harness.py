"""Headless Debian Chromium through Playwright, for the browser tests and the benchmarks.

Never `playwright install`: the browser is Debian's chromium (./run.sh test installs it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Without the networking flags Chromium keeps calling Google's hosts on a closed network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "browser"


@contextmanager
def chromium(extra_args: Sequence[str] = ()) -> Iterator:
    """A launched browser; a skip without chromium, but a failure in CI, where a skip would
    hide the untested WebUI."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        (pytest.fail if os.environ.get("CI") else pytest.skip)("needs Debian chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *extra_args]
        )
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page, name: str, folder: Path = ARTIFACTS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name if name.endswith(".png") else f"{name}.png")
    page.screenshot(path=str(path), full_page=True)
    return path
