"""A result that follows the page (issue 13, items 4, 5 and 10, segment playback and the
code snippet), in headless Chromium against the real Gradio app in this process, so the
test can count the engine's forward passes. Screenshots in test-artifacts/browser/."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from browser_harness import PHONE, analyze_clip, pages_of, screenshot, serving
from server_harness import eventually

from emotion2vec_app.ui.text import TEXT, t

LOG = "#processing-log textarea"
CODE = "#analysis-code"
# Data, code and file names, not words: English in every language.
NOT_WORDS = [
    "#result-json",
    "#batch-json",
    CODE,
    "#processing-log",
    "#downloads",
    "#batch-downloads",
]


@pytest.fixture(scope="module")
def passes(engine) -> dict[str, int]:
    """The engine's forward passes so far, counted around its one pass method."""
    counted = {"passes": 0}
    original = engine._pass

    def counting(clips, options):
        counted["passes"] += 1
        return original(clips, options)

    engine._pass = counting
    yield counted
    del engine._pass


@pytest.fixture(scope="module")
def app(engine, passes, tmp_path_factory):
    outputs = tmp_path_factory.mktemp("outputs")
    with serving(engine, outputs) as url:
        yield url, outputs


@pytest.fixture
def open_page(browser, app):
    """Pages of this module's in-process app (see pages_of)."""
    with pages_of(browser, app[0]) as make:
        yield make


def choose_frames(page, lang: str = "en") -> None:
    page.locator("#granularity").get_by_text(t("frame", lang)).click()
    page.wait_for_selector("#smooth input[type=number]")


def set_smoothing(page, seconds: float) -> None:
    box = page.locator("#smooth input[type=number]")
    box.fill(str(seconds))
    box.press("Enter")


def smoothing_of(run: Path) -> float:
    """As result.json says: written whole, through a temp name."""
    return json.loads((run / "result.json").read_text())["frames"]["smooth_s"]


def latest_run(outputs: Path) -> Path:
    return max(outputs.glob("outputs_*"), key=lambda p: p.stat().st_mtime_ns)


def test_smoothing_re_renders_without_a_forward_pass(open_page, app, passes, call):
    page = open_page()
    choose_frames(page)
    set_smoothing(page, 0)
    analyze_clip(page, call[0])
    lines = "#timeline g.mark-line path"
    page.wait_for_selector(lines)
    drawn = "sel => [...document.querySelectorAll(sel)].map((p) => p.getAttribute('d')).join()"
    chart = page.evaluate(drawn, lines)
    run = latest_run(app[1])
    before = passes["passes"]
    started = time.perf_counter()
    set_smoothing(page, 1.5)
    page.wait_for_function(f"([sel, chart]) => ({drawn})(sel) !== chart", arg=[lines, chart])
    assert eventually(lambda: smoothing_of(run) == 1.5, 10), "the downloads follow the chart"
    seconds = time.perf_counter() - started
    assert passes["passes"] == before, "no new forward pass for a new smoothing"
    result = json.loads((run / "result.json").read_text())
    rows = (run / "frames.csv").read_text().splitlines()
    assert len(rows) == len(result["frames"]["start_s"]) + 1
    assert latest_run(app[1]) == run, "the same run, no new folder"
    print(f"smoothing re-rendered a {result['audio']['duration_s']:.0f} s call in {seconds:.2f} s")
    screenshot(page, "results-smoothed")


def english_left(page) -> list[str]:
    """The string table's English words still on the page (data and code aside)."""
    text = page.evaluate(
        """(skip) => {
          const parts = skip.flatMap((selector) => [...document.querySelectorAll(selector)]);
          const shown = parts.map((part) => part.style.display);
          parts.forEach((part) => { part.style.display = 'none'; });
          const words = document.body.innerText + ' ' + [...document.querySelectorAll(
            'svg text')].filter((node) => !parts.some((part) => part.contains(node)))
            .map((node) => node.textContent).join(' ');
          parts.forEach((part, i) => { part.style.display = shown[i]; });
          return words;
        }""",
        NOT_WORDS,
    )
    left = []
    for key, entry in TEXT.items():
        for line in re.split(r"\{[a-z_]+\}|\n", entry["en"]):
            line = line.strip(" *#·:()|,.")
            words = len(line) >= 4 and re.search("[a-z]{3}", line)
            alone = rf"(?<![A-Za-z0-9]){re.escape(line)}(?![A-Za-z0-9])"  # not emotion2vec
            if words and line not in entry["zh"] and re.search(alone, text):
                left.append(f"{key}: {line}")
    return left


def test_the_language_switch_re_renders_every_result(open_page, call, clips):
    page = open_page(viewport=PHONE)
    choose_frames(page)
    analyze_clip(page, call[0])
    page.wait_for_selector("#segment-strip .e2v-seg")
    page.get_by_role("tab", name=t("tab_batch", "en")).click()
    page.set_input_files("#batch-files input[type=file]", [str(clips["wav"])])
    page.wait_for_selector(f"#batch-files td[aria-label='{clips['wav'].name}']")
    page.click("#analyze-batch")
    page.wait_for_selector("#batch-summary .e2v-batch-summary")
    page.get_by_role("tab", name=t("tab_batch", "en")).click()
    page.locator("#language").get_by_text("中文").click()

    page.wait_for_function(
        "text => document.querySelector('#batch-summary').innerText.includes(text)",
        arg=t("batch_all_done", "zh").format(total=1),
    )
    assert not english_left(page), english_left(page)
    checked = "sel => document.querySelector(sel + ' input:checked')?.value"
    assert page.evaluate(checked, "#batch-granularity") == "utterance", "choices kept"
    assert page.evaluate(checked, "#batch-segmentation") == "auto"
    assert page.evaluate(checked, "#language") == "zh"
    screenshot(page, "results-zh-batch")
    page.get_by_role("tab", name=t("tab_single", "zh")).click()
    page.wait_for_selector("#emotion-card .e2v-card")
    card = page.inner_text("#emotion-card")
    assert t("result_for", "zh").format(name=call[0].name) in card
    assert t("confidence", "zh") in card
    assert page.evaluate(checked, "#granularity") == "frame", "the chosen granularity kept"
    log = page.input_value(LOG)
    assert log.startswith("文件：") and "运行编号：" in log and "模型：" in log, log
    assert "run:" not in log and "decode" not in log
    assert t("summary", "zh").split("**")[2].split("·")[0].strip() in page.inner_text(
        "#segment-summary"
    )
    assert not english_left(page), english_left(page)
    screenshot(page, "results-zh-phone")
    page.locator("#language").get_by_text("English").click()
    page.wait_for_function(
        "text => document.querySelector('#emotion-card').innerText.includes(text)",
        arg=t("result_for", "en").format(name=call[0].name),
    )
    assert page.input_value(LOG).startswith("file: ")


def test_a_segment_click_plays_that_segment(open_page, call):
    page = open_page()
    analyze_clip(page, call[0])
    page.wait_for_selector("#segment-strip .e2v-seg")
    blocks = page.locator("#segment-strip .e2v-seg")
    assert blocks.count() >= 3
    third = blocks.nth(2)
    start = float(third.get_attribute("data-start"))
    third.click()
    player = "#e2v-player"
    page.wait_for_function(
        "([selector, start]) => Math.abs(document.querySelector(selector).currentTime - start)"
        " < 0.05",
        arg=[player, start],
    )
    row = page.locator("#segment-table [role=row][data-index='1']")
    row_start = next(
        float(m) * 60 + float(s) for m, s in re.findall(r"(\d+):(\d{2}(?:\.\d)?)", row.inner_text())
    )  # the row's start clock, m:ss.s
    row.locator("[role=gridcell]").last.click()
    page.wait_for_function(
        "([selector, start]) => Math.abs(document.querySelector(selector).currentTime - start)"
        " < 0.1",
        arg=[player, row_start],
    )
    second = float(blocks.nth(1).get_attribute("data-start"))
    assert abs(second - row_start) < 0.1, "row 2 is segment 2"
    screenshot(page, "results-segment-playback")


def test_the_code_snippet_runs_this_analysis(open_page, app, clips, tmp_path):
    page = open_page()
    choose_frames(page)
    page.locator("#embedding input").check()
    analyze_clip(page, clips["wav"])
    page.get_by_text(t("code", "en")).click()
    page.wait_for_selector(f"{CODE} .cm-content")
    code = page.evaluate(
        "selector => [...document.querySelectorAll(selector + ' .cm-line')]"
        ".map((line) => line.innerText).join('\\n')",
        CODE,
    )
    assert f"Client({app[0]!r})" in code or f"Client({app[0] + '/'!r})" in code, code
    assert f"handle_file({clips['wav'].name!r})" in code and "'frame'" in code
    client_part = code.split("# or in Python")[0]
    script = client_part + "\nimport json; print(json.dumps(result))\n"
    ran = subprocess.run(
        [sys.executable, "-c", script], cwd=clips["wav"].parent, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout.strip().splitlines()[-1])
    shown = json.loads((latest_run(app[1]) / "result.json").read_text())
    assert result["granularity"] == "frame" and result["scores"] == shown["scores"]
    assert result["embedding"]["shape"] == shown["embedding"]["shape"]


def test_analyze_is_disabled_during_its_run_with_one_progress_display(open_page, engine, call):
    page = open_page()
    gate = threading.Event()
    original = engine._pass

    def held(clips, options):
        gate.wait(30)
        return original(clips, options)

    engine._pass = held
    try:
        page.set_input_files("#audio-input input[type=file]", str(call[0]))
        page.wait_for_selector("#audio-input audio, #audio-input .waveform-container",
                               state="attached")  # fmt: skip
        page.click("#analyze")
        page.wait_for_function("document.querySelector('#analyze').disabled === true")
        page.wait_for_selector(".progress-text, .eta-bar, .progress-level", state="attached")
        shown = page.evaluate(
            "[...document.querySelectorAll('.wrap.default')]"
            ".filter((e) => e.querySelector('.progress-text, .eta-bar, .meta-text, .loader'))"
            ".filter((e) => e.offsetParent !== null).length"
        )
        screenshot(page, "results-progress")
        assert shown <= 1, f"{shown} progress displays"
    finally:
        gate.set()
        engine._pass = original
    page.wait_for_function("document.querySelector('#processing-log textarea').value !== ''")
    page.wait_for_function("document.querySelector('#analyze').disabled === false")
