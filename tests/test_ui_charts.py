"""The score bars, the two charts, the phone layout and the emoji (issue 13, items 8, 9, 12),
in headless Chromium against the real `emotion2vec-app serve` process on the tiny model: a
long (segmented) recording at frame granularity on a 390x844 phone and on a desktop, in
English and 中文. Screenshots in test-artifacts/browser/ (charts-*.png); the `browser` and
`open_page` fixtures are browser_harness's."""

from __future__ import annotations

import io
import subprocess
from itertools import combinations

import numpy as np
import pytest
import soundfile as sf
from browser_harness import DESKTOP, PHONE, screenshot

from emotion2vec_app.labels import EMOTIONS
from emotion2vec_app.ui.render import emotion_label
from emotion2vec_app.ui.text import t

LEGEND_LABELS = "#timeline .role-legend-label text"
LINE_PIECES = "#timeline g.mark-line path"
BAR_TEXTS = "#score-bars .e2v-bar-name, #score-bars .e2v-bar-value"


def analyze_frames(page, clip, lang: str, segmented: bool = True) -> None:
    """Analyse `clip` at frame granularity and wait for the bars and the charts."""
    page.locator("#granularity").get_by_text(t("frame", lang)).click()
    page.set_input_files("#audio-input input[type=file]", str(clip))
    page.wait_for_selector("#audio-input audio, #audio-input .waveform-container", state="attached")
    page.click("#analyze")
    page.wait_for_selector("#score-bars .e2v-bar")
    page.wait_for_selector(LINE_PIECES, state="attached")
    if segmented:
        page.wait_for_selector("#segment-plot g.mark-line path", state="attached")


def boxes(page, selector: str) -> list[dict[str, float]]:
    return page.eval_on_selector_all(
        selector,
        "nodes => nodes.map(n => { const r = n.getBoundingClientRect();"
        " return {x: r.left, y: r.top, right: r.right, bottom: r.bottom}; })",
    )


def overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        a["x"] < b["right"]
        and b["x"] < a["right"]
        and a["y"] < b["bottom"]
        and b["y"] < a["bottom"]
    )


def assert_inside(inner: dict[str, float], outer: dict[str, float], what: str) -> None:
    assert outer["x"] - 0.5 <= inner["x"] and inner["right"] <= outer["right"] + 0.5, what
    assert outer["y"] - 0.5 <= inner["y"] and inner["bottom"] <= outer["bottom"] + 0.5, what


def assert_charts_read_whole(page, lang: str, duration_s: float) -> None:
    """Bars that never collide; every legend label whole, inside its chart; one line piece
    per emotion and segment; the time axis ending where the recording does."""
    bars = boxes(page, BAR_TEXTS)
    assert len(bars) == 2 * len(EMOTIONS)
    assert not [(a, b) for a, b in combinations(bars, 2) if overlap(a, b)], "labels collide"
    names = page.locator("#score-bars .e2v-bar-name").all_inner_texts()
    assert [n.strip() for n in names] == [emotion_label(e, lang) for e in EMOTIONS]

    chart = boxes(page, "#timeline")[0]
    labels = page.locator(LEGEND_LABELS).all_text_contents()
    assert labels == [emotion_label(e, lang) for e in EMOTIONS], "all 9, none cut short"
    for label in boxes(page, LEGEND_LABELS):
        assert_inside(label, chart, "a legend label outside its chart")
    texts = page.locator("#timeline svg text").all_text_contents()
    assert t("time_axis", lang) in texts and t("score_axis", lang) in texts

    segments = page.locator("#segment-strip .e2v-seg").count()
    assert segments > 1
    assert page.locator(LINE_PIECES).count() == len(EMOTIONS) * segments, "a piece per segment"
    assert page.locator("#segment-plot g.mark-line path").count() <= len(EMOTIONS) * segments
    # The x axis is [0, duration]: the last frames are drawn at its right end, not short of it.
    axis = boxes(page, "#timeline .role-axis-domain line, #timeline .role-axis-domain path")
    right = max(b["right"] for b in axis)
    lines_right = max(b["right"] for b in boxes(page, LINE_PIECES))
    plot_width = right - min(b["x"] for b in axis)
    assert abs(right - lines_right) < 0.02 * plot_width + 2, (right, lines_right)
    assert page.get_attribute("#timeline .role-axis[aria-label*='X-axis']", "aria-label").endswith(
        f"to {duration_s:.0f}"
    )


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"], ids=["en", "zh"])
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_long_frame_result_reads_whole_and_fits(open_page, call, locale, viewport):
    lang = locale[:2]
    page = open_page(locale, viewport)
    analyze_frames(page, call[0], lang)
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    assert_charts_read_whole(page, lang, sf.info(str(call[0])).duration)
    # The segment table's last column shows whole, inside the page.
    header = boxes(page, "#segment-table thead th")[-1]
    assert header["right"] <= viewport["width"], "the confidence column is cut"
    assert page.locator("#segment-table thead th").last.inner_text().strip() == t(
        "col_confidence", lang
    )
    # The title breaks between words only.
    title = page.locator("h1").first
    words = title.inner_text().split()
    assert title.evaluate("h => getComputedStyle(h).overflowWrap") == "break-word"
    assert all(len(word) < 20 for word in words)
    kind = "phone" if viewport is PHONE else "desktop"
    screenshot(page, f"charts-{kind}-{lang}")
    if viewport is DESKTOP:  # narrowed to a phone, the legend takes fewer columns and fits
        page.set_viewport_size(PHONE)
        page.wait_for_timeout(500)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        chart = boxes(page, "#timeline")[0]
        for label in boxes(page, LEGEND_LABELS):
            assert_inside(label, chart, "a legend label outside its chart after a resize")


def test_the_batch_tab_fits_a_phone(open_page, clips, call):
    page = open_page("en-US", PHONE)
    page.get_by_role("tab", name=t("tab_batch", "en")).click()
    files = [clips["wav"], call[0]]
    page.set_input_files("#batch-files input[type=file]", [str(p) for p in files])
    for path in files:
        page.wait_for_selector(f"#batch-files td[aria-label='{path.name}']")
    page.click("#analyze-batch")
    page.locator("#batch-summary .e2v-batch-summary").wait_for()
    page.wait_for_selector("#batch-table [data-testid=cell-1-0]")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "charts-phone-batch-en")


def colour_emoji_font() -> bool:
    fonts = subprocess.run(["fc-list"], capture_output=True, text=True, check=False).stdout
    return "Noto Color Emoji" in fonts


def coloured(png: bytes) -> bool:
    """Whether a screenshot has any saturated pixel: a colour emoji, not a black outline."""
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return bool((pixels.max(axis=2) - pixels.min(axis=2) > 80).any())


def test_emoji_are_in_colour_or_dots_in_their_colour(open_page, clips):
    page = open_page()
    analyze_frames(page, clips["wav"], "en", segmented=False)
    fallback = page.evaluate("document.documentElement.classList.contains('e2v-no-colour-emoji')")
    assert fallback is not colour_emoji_font(), "the script finds the colour emoji font"
    family = page.eval_on_selector("#score-bars .e2v-emo", "e => getComputedStyle(e).fontFamily")
    assert family.startswith('"E2V Emoji"')
    font = page.get_attribute(f"{LEGEND_LABELS} >> nth=0", "font-family")
    assert font.startswith('"E2V Emoji"'), font
    if colour_emoji_font():
        # The card's emoji on a neutral background: colour means the colour font drew it.
        emoji = page.locator("#emotion-card .e2v-emoji")
        assert coloured(emoji.screenshot()), "the emoji is drawn in colour"

    # Without a colour emoji font (forced here): dots in each emotion's colour, no emoji in
    # the charts' labels, and the legend still names all 9.
    page = open_page(query="?emoji=mono")
    analyze_frames(page, clips["wav"], "en", segmented=False)
    assert page.evaluate("document.documentElement.classList.contains('e2v-no-colour-emoji')")
    dot = page.eval_on_selector(
        "#score-bars .e2v-bar[data-emotion=happy] .e2v-emo",
        "e => [getComputedStyle(e).fontSize, getComputedStyle(e).backgroundColor,"
        " e.getBoundingClientRect().width]",
    )
    assert dot[0] == "0px" and dot[1] == "rgb(241, 196, 15)" and 8 <= dot[2] <= 16, dot
    card = page.eval_on_selector("#emotion-card .e2v-emoji", "e => getComputedStyle(e).fontSize")
    assert card == "0px", "the card shows a disc in the emotion's colour, not the emoji"
    page.wait_for_function(
        "selector => [...document.querySelectorAll(selector)].every("
        " n => !/\\p{Extended_Pictographic}/u.test(n.textContent))",
        arg=LEGEND_LABELS,
    )
    assert page.locator(LEGEND_LABELS).all_text_contents() == [e.en for e in EMOTIONS]
    screenshot(page, "charts-emoji-fallback")
