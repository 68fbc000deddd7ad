"""Results and errors a person can trust at a glance (issue 13), in headless Chromium against
the real `emotion2vec-app serve` process on the tiny model: every format on the One recording
tab, errors where the result goes, no stale results, silence said as such, batch failures in
full. Screenshots in test-artifacts/browser/ (trust-*.png)."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_harness import DESKTOP, PHONE, analyze_clip, screenshot
from clips import write_silence
from gradio_client import handle_file

from emotion2vec_app.ui.text import t

CARD = "#emotion-card .e2v-card"
LOG = "#processing-log textarea"
FORMATS = ["wav", "flac", "ogg", "mp3", "opus", "m4a", "aac", "webm"]


# `browser` and `open_page(locale, viewport)` are browser_harness's fixtures.


@pytest.fixture
def broken(tmp_path) -> Path:
    path = tmp_path / "broken.mp3"
    path.write_text("this is text, not audio")
    return path


def upload(page, clip: Path) -> None:
    """Load a file into the audio input: into its drop area, or, once it holds a clip,
    through its own upload button (no Clear pressed)."""
    if not page.locator("#audio-input input[type=file]").count():
        page.click("#audio-input button[aria-label='Upload file']")
    page.set_input_files("#audio-input input[type=file]", str(clip))
    page.wait_for_selector("#audio-input audio, #audio-input .waveform-container", state="attached")


def test_every_listed_format_is_analysed_on_the_one_recording_tab(open_page, clips):
    """Chromium types .webm video/webm, which gr.Audio's upload refused."""
    page = open_page()
    for key in FORMATS:
        assert analyze_clip(page, clips[key]), key
        assert clips[key].name in page.inner_text(CARD), "the card names its file"
    screenshot(page, "trust-webm")


def test_an_error_stays_where_the_result_was(open_page, clips, broken):
    page = open_page()
    analyze_clip(page, clips["wav"])
    page.wait_for_selector("#score-bars .e2v-bar")
    upload(page, broken)
    page.click("#analyze")
    page.wait_for_selector(f"{CARD}[data-state=error]")
    page.wait_for_timeout(15_000)  # a toast would be gone by now
    card = page.inner_text("#emotion-card")
    assert "broken.mp3" in card and "could not be decoded" in card, card
    assert page.locator(f"{CARD}[data-state=error]").is_visible()
    assert not page.locator(f"{CARD}[data-emotion]").count(), "the old result is gone"
    assert not page.locator("#score-bars .e2v-bar").count(), "no old bars"
    assert page.input_value(LOG) == ""
    assert not page.locator("#downloads a[download]").count()
    screenshot(page, "trust-error")


def test_a_new_file_clears_the_old_result(open_page, clips):
    page = open_page()
    analyze_clip(page, clips["wav"])
    assert page.locator(CARD).count()
    upload(page, clips["mp3"])
    page.wait_for_function("!document.querySelector('#emotion-card .e2v-card')")
    assert page.input_value(LOG) == ""
    assert not page.locator("#score-bars .e2v-bar").count(), "no old bars"


def test_clicking_an_example_analyses_it(open_page):
    page = open_page()
    page.get_by_text("en_happy_news.wav").first.click()
    page.wait_for_function(
        "selector => document.querySelector(selector).value.includes('run: ')", arg=LOG
    )
    assert "en_happy_news.wav" in page.inner_text(CARD)
    assert page.get_attribute(CARD, "data-emotion")


@pytest.mark.parametrize(
    ("locale", "viewport"), [("en-US", DESKTOP), ("zh-CN", PHONE)], ids=["en", "zh-phone"]
)
def test_a_silent_file_says_no_speech_not_an_emotion(open_page, tmp_path, locale, viewport):
    lang = locale[:2]
    page = open_page(locale, viewport)
    silent = write_silence(tmp_path / "silence.wav", 3.0)
    assert analyze_clip(page, silent) is None, "no emotion on the card"
    card = page.inner_text("#emotion-card")
    assert t("no_speech", lang) in card and "silence.wav" in card
    assert page.locator(f"{CARD}[data-state=no-speech]").is_visible()
    assert t("confidence", lang) not in card
    assert not page.locator("#score-bars .e2v-bar").count(), "no scores of noise drawn"
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    screenshot(page, f"trust-silent-{lang}")


@pytest.mark.parametrize(
    ("locale", "viewport"), [("en-US", DESKTOP), ("zh-CN", PHONE)], ids=["en", "zh-phone"]
)
def test_batch_failures_are_counted_and_read_in_full(
    open_page, client, clips, broken, locale, viewport
):
    lang = locale[:2]
    page = open_page(locale, viewport)
    page.get_by_role("tab", name=t("tab_batch", lang)).click()
    assert not page.locator("#batch-table").first.is_visible(), "no empty table before a run"
    files = [clips["wav"], broken, clips["webm"]]
    page.set_input_files("#batch-files input[type=file]", [str(p) for p in files])
    for path in files:
        page.wait_for_selector(f"#batch-files td[aria-label='{path.name}']")
    page.click("#analyze-batch")
    summary = page.locator("#batch-summary .e2v-batch-summary")
    summary.wait_for()
    text = summary.inner_text()
    assert t("batch_failed", lang).format(failed=1, total=3) in text, text
    reason = page.locator("#batch-summary li")
    assert reason.count() == 1
    [expected], _ = client.predict(
        [handle_file(str(broken))], "utterance", False, "auto", api_name="/analyze_batch"
    )
    assert expected["error"].startswith("'broken.mp3' could not be decoded")
    assert expected["error"] in reason.inner_text(), "the whole reason, not cut short"
    box = reason.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], "not off-screen"
    assert page.locator("#batch-table").first.is_visible()
    summary.scroll_into_view_if_needed()
    screenshot(page, f"trust-batch-{lang}")
