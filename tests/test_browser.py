"""The WebUI in headless Chromium: loading state, analysis, timeline, download, languages.

The server is the real Gradio app in this process, so the test can hold the model load
and see the page before the model is ready. Screenshots go to test-artifacts/browser/.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from browser_harness import (
    ARTIFACTS,
    PHONE,
    analyze_clip,
    chromium,
    new_page,
    screenshot,
    serving,
    wait_until_ready,
)

from emotion2vec_app.engine import Engine
from emotion2vec_app.labels import EMOTIONS
from emotion2vec_app.model import loader


class HeldLoad:
    """Holds the model load until released, so the page can be seen while loading."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.real = loader.load_model

    def __call__(self, *args, **kwargs):
        self.release.wait(60)
        return self.real(*args, **kwargs)


@pytest.fixture(scope="module")
def held_load() -> Iterator[HeldLoad]:
    held = HeldLoad()
    patch = pytest.MonkeyPatch()
    patch.setattr(loader, "load_model", held)
    yield held
    held.release.set()
    patch.undo()


@pytest.fixture(scope="module")
def demo_server(held_load, tmp_path_factory) -> Iterator[tuple[Engine, str, Path]]:
    engine = Engine("demo")
    outputs = tmp_path_factory.mktemp("outputs")
    with serving(engine, outputs) as url:
        yield engine, url, outputs


@pytest.fixture(scope="module")
def browser():
    # A synthetic microphone (a beep) for the recording test, granted without a prompt.
    with chromium(["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]) as b:
        yield b


def test_loading_then_ready_analysis_timeline_and_download(demo_server, held_load, browser, clips):
    engine, url, outputs = demo_server
    page = new_page(browser)
    page.goto(url)

    page.wait_for_selector("#model-status [data-state=loading]")
    assert page.locator("#analyze").is_disabled()
    status = page.inner_text("#model-status")
    assert "Loading the demo model (random weights) on the best available device" in status
    assert "auto · auto" not in status
    assert page.locator("#demo-banner").is_visible()
    assert "random" in page.inner_text("#demo-banner")
    screenshot(page, "01-loading")

    held_load.release.set()
    wait_until_ready(page)
    assert "Model ready" in page.inner_text("#model-status")

    clip = clips["wav"]
    expected = engine.analyze(clip).emotion.key
    assert analyze_clip(page, clip) == expected
    card = page.inner_text("#emotion-card")
    assert "confidence" in card and "%" in card
    page.wait_for_selector("#score-bars .e2v-bar")
    assert not page.locator("#timeline").is_visible()
    log = page.input_value("#processing-log textarea")
    assert "decode" in log
    (run,) = outputs.iterdir()
    assert f"run: {run.name} · downloads: result.json" in log, "the run by its id"
    assert str(outputs) not in log and "/" not in log, "no server path"
    screenshot(page, "02-utterance")

    page.locator("#granularity").get_by_text("Frame").click()
    page.locator("#embedding input").check()
    assert analyze_clip(page, clips["mp3"]) == engine.analyze(clips["mp3"]).emotion.key
    page.wait_for_selector("#timeline g.mark-line path", state="attached")
    assert page.locator("#timeline").is_visible()
    screenshot(page, "03-frame-timeline")

    link = page.locator("#downloads tr:has(td[aria-label='embedding.npy']) a[download]")
    with page.expect_download() as download_info:
        link.click()
    saved = ARTIFACTS / "embedding.npy"
    download_info.value.save_as(saved)
    embedding = np.load(saved)
    duration = engine.analyze(clips["mp3"]).audio.duration_s
    assert embedding.dtype == np.float32
    assert embedding.shape[1] == 64
    assert abs(embedding.shape[0] - duration * 50) <= 2
    assert len(list(outputs.iterdir())) == 2, "one run folder per analysis"
    page.context.close()


def test_microphone_recording_is_analysed(demo_server, held_load, browser):
    held_load.release.set()
    engine, url, outputs = demo_server
    page = new_page(browser)
    page.goto(url)
    wait_until_ready(page)
    page.click("#audio-input button[aria-label='Record audio']")
    page.locator("#audio-input button", has_text="Record").first.click()
    page.wait_for_timeout(2000)
    page.locator("#audio-input button", has_text="Stop").first.click()
    page.wait_for_selector("#audio-input audio", state="attached")
    page.click("#analyze")
    page.wait_for_function(
        "document.querySelector('#processing-log textarea').value.includes('run: ')"
    )
    log = page.input_value("#processing-log textarea")
    seconds = float(log.split(" s)")[0].rsplit(" ", 1)[1])
    assert 1.0 < seconds < 10.0, log
    shown = page.get_attribute("#emotion-card .e2v-card", "data-emotion")
    assert shown in {emotion.key for emotion in EMOTIONS}
    # The run's record says the same, and the engine, given the very file the page uploaded
    # (its download link), gives the same scores.
    run = outputs / re.search(r"run: (\S+)", log)[1]
    result = json.loads((run / "result.json").read_text(encoding="utf-8"))
    assert shown == result["emotion"]
    link = page.get_attribute("#audio-input a[download]", "href")
    uploaded = Path(unquote(link.split("/gradio_api/file=", 1)[1]))
    again = engine.analyze(uploaded)
    np.testing.assert_allclose(again.probs, list(result["scores"].values()), atol=1e-5)
    assert again.emotion.key == shown
    screenshot(page, "06-microphone")
    page.context.close()


def test_chinese_browser_gets_chinese_and_can_switch(demo_server, held_load, browser):
    held_load.release.set()
    _, url, _ = demo_server
    page = new_page(browser, locale="zh-CN")
    page.goto(url)
    page.wait_for_selector("#model-status [data-state=ready]")
    page.wait_for_function("document.querySelector('#analyze').innerText.includes('开始分析')")
    assert "语音情感识别" in page.inner_text("body")
    assert "演示模型" in page.inner_text("#demo-banner")
    assert "模型已就绪" in page.inner_text("#model-status")
    screenshot(page, "04-chinese")

    page.locator("#language").get_by_text("English").click()
    page.wait_for_function("document.querySelector('#analyze').innerText.includes('Analyze')")
    assert "Speech Emotion Recognition" in page.inner_text("body")
    assert "Model ready" in page.inner_text("#model-status")
    page.context.close()


@pytest.mark.parametrize(("locale", "analyze"), [("en-US", "Analyze"), ("zh-CN", "开始分析")])
def test_phone_width_result(demo_server, held_load, browser, clips, locale, analyze):
    held_load.release.set()
    _, url, _ = demo_server
    page = new_page(browser, locale=locale, viewport=PHONE)
    page.goto(url)
    wait_until_ready(page)
    page.wait_for_function(
        "text => document.querySelector('#analyze').innerText.includes(text)", arg=analyze
    )
    assert analyze_clip(page, clips["wav"])
    page.wait_for_selector("#score-bars .e2v-bar")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "nothing runs off the side of a phone"
    screenshot(page, f"07-phone-{locale[:2]}")
    page.context.close()


def test_failed_model_shows_the_reason_then_retry_loads_it(
    browser, held_load, tiny_model_dir, tmp_path
):
    held_load.release.set()
    target = tmp_path / "no-such-model"
    engine = Engine(str(target))
    with serving(engine, tmp_path / "outputs") as url:
        page = new_page(browser)
        page.goto(url)
        page.wait_for_selector("#model-status [data-state=failed]")
        status = page.inner_text("#model-status")
        assert "no-such-model" in status and "--demo" in status
        assert page.locator("#analyze").is_disabled()
        assert not page.locator("#demo-banner").is_visible()
        page.wait_for_selector("#retry", state="visible")
        screenshot(page, "05-failed")

        shutil.copytree(tiny_model_dir, target)  # the user fixes the cause
        page.click("#retry")
        wait_until_ready(page)
        assert not page.locator("#retry").is_visible()
        page.context.close()
