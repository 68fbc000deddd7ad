"""Headless Debian Chromium through Playwright, for the browser tests and the benchmarks.

Never `playwright install`: the browser is Debian's chromium (./run.sh test installs it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
WAIT_MS = 30_000
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


@contextmanager
def serving(engine: Any, outputs: Path) -> Iterator[str]:
    """The real Gradio app in this process (so a test can steer its engine), at the URL
    yielded; closed after."""
    from server_harness import free_port

    from emotion2vec_app.ui.assets import PAGE_ASSETS
    from emotion2vec_app.ui.page import build_ui

    demo = build_ui(engine, outputs)
    demo.queue()
    _, url, _ = demo.launch(
        server_port=free_port(),
        prevent_thread_lock=True,
        quiet=True,
        **PAGE_ASSETS,
        allowed_paths=[str(outputs)],
    )
    try:
        yield url
    finally:
        demo.close()


DESKTOP = {"width": 1400, "height": 1000}
PHONE = {"width": 390, "height": 844}  # an iPhone 12-15's CSS pixels


def new_page(browser, locale: str = "en-US", viewport: dict[str, int] = DESKTOP):
    context = browser.new_context(
        locale=locale,
        accept_downloads=True,
        viewport=viewport,
        permissions=["microphone"],
    )
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    return page


def wait_until_ready(page) -> None:
    page.wait_for_selector("#model-status [data-state=ready]")
    # A model that is ready already shows in the first render, maybe before the button does.
    page.wait_for_function("document.querySelector('#analyze')?.disabled === false")


# Fixtures for any test module (conftest.py loads this file as a plugin); a module may still
# define its own of the same name.


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@contextmanager
def pages_of(browser, url: str) -> Iterator:
    """make(locale, viewport, query): a page of the app at `url`, ready to analyse, its words
    in the locale's language; every page made is closed at the end."""
    from emotion2vec_app.ui.text import t

    pages = []

    def make(locale: str = "en-US", viewport: dict[str, int] = DESKTOP, query: str = ""):
        page = new_page(browser, locale=locale, viewport=viewport)
        pages.append(page)
        page.goto(url + query)
        page.wait_for_selector("#model-status [data-state=ready]")
        page.wait_for_function(
            "text => document.querySelector('#analyze')?.disabled === false"
            " && document.querySelector('#analyze').innerText.includes(text)",
            arg=t("analyze", locale[:2]),
        )
        return page

    try:
        yield make
    finally:
        for page in pages:
            page.context.close()


@pytest.fixture
def open_page(browser, server):
    """Pages of the `server` fixture's app (see pages_of)."""
    with pages_of(browser, server.url) as make:
        yield make


def analyze_clip(page, clip: Path) -> str:
    """Upload, click Analyze, and return the emotion key the result card shows.

    Each analysis names a new run in the processing log: that marks the new result.
    """
    log = "#processing-log textarea"
    if not page.locator("#audio-input input[type=file]").count():
        page.click("#clear")  # a loaded clip replaces the upload area with a player
    before = page.input_value(log)
    page.set_input_files("#audio-input input[type=file]", str(clip))
    page.wait_for_selector("#audio-input audio, #audio-input .waveform-container", state="attached")
    page.click("#analyze")
    page.wait_for_function(
        "([selector, before]) => {"
        " const value = document.querySelector(selector).value;"
        " return value !== '' && value !== before; }",
        arg=[log, before],
    )
    return page.get_attribute("#emotion-card .e2v-card", "data-emotion")
