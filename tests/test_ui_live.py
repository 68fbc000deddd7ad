"""The Live tab (issue 17, item 3): each page's session and its stream, the card, strip,
chart and stats in both languages, Stop as a normal analysis; and in headless Chromium with
a fake microphone fed from a wav, against the real Gradio app in this process on the demo
model. Screenshots in test-artifacts/browser/ (live-*.png)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import soundfile as sf
from browser_harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    PHONE,
    chromium,
    pages_of,
    screenshot,
    serving,
)
from clips import convert, speak, write_wav
from gradio_client import Client, handle_file
from server_harness import eventually

from emotion2vec_app.engine import Engine
from emotion2vec_app.labels import EMOTIONS
from emotion2vec_app.results import LiveUpdate
from emotion2vec_app.ui import live_render, views
from emotion2vec_app.ui.handlers import Analysis, Handlers
from emotion2vec_app.ui.live import LiveHandlers, LiveSessions, live_outputs, result_outputs
from emotion2vec_app.ui.live_render import LiveState
from emotion2vec_app.ui.page import LIVE_CONCURRENCY, build_ui
from emotion2vec_app.ui.render import clock
from emotion2vec_app.ui.text import t

SPEECH = (
    "Good morning. I have been waiting for an hour, and nobody has helped me. "
    "Well, that is good news, thank you so much for your help."
)
LANGS = ["en", "zh"]
LIVE_WAIT_MS = 180_000  # two loaded cores: the first windows wait for Silero and the model


def nothing(*args, **kwargs) -> None:
    """Stands in for gr.Progress outside a request."""


@pytest.fixture(scope="module")
def demo_engine() -> Engine:
    """The demo model (random weights): every live card must say so."""
    engine = Engine("demo")
    engine.wait_ready(timeout=120)
    return engine


@pytest.fixture(scope="module")
def speech_48k(clip_dir: Path) -> Path:
    """About 9 s of espeak-ng speech at 48 kHz, as a browser's microphone records it."""
    spoken = speak(SPEECH, clip_dir / "live-speech-22k.wav")
    return convert(spoken, clip_dir / "live-speech.wav", rate=48000)


def int16(path: Path) -> tuple[int, np.ndarray]:
    samples, rate = sf.read(str(path), dtype="int16")
    return rate, samples


@pytest.fixture
def live(demo_engine: Engine, tmp_path: Path) -> Iterator[LiveHandlers]:
    handlers = LiveHandlers(
        Handlers(demo_engine, tmp_path / "outputs", None), LiveSessions(demo_engine)
    )
    yield handlers
    for key in handlers.sessions:
        handlers.unload(key)


def feed(
    live: LiveHandlers, key: str, rate: int, samples: np.ndarray, window_s: float = 3.0
) -> None:
    """A browser's chunks of 0.25 s, 2.5 times faster than real time."""
    step = rate // 4
    for start in range(0, len(samples), step):
        live.chunk(key, (rate, samples[start : start + step]), window_s, 0.5)
        time.sleep(0.1)


# --- sessions ----------------------------------------------------------------------------------


def test_a_session_takes_chunks_and_stop_analyses_the_whole_recording(live, speech_48k):
    rate, samples = int16(speech_48k)
    assert live.start("page", 3.0, 0.5).problem is None
    feed(live, "page", rate, samples)
    session = live.sessions.get("page")
    assert eventually(lambda: len(session.updates) >= 1, 60), session.problem
    assert any(u.speech for u in session.updates)

    stopped = live.stop("page", embedding=True, progress=nothing, page_url=None)
    assert stopped is session and session.stopped
    result = session.result
    assert isinstance(result, Analysis), result
    assert result.prediction.audio.duration_s == pytest.approx(len(samples) / rate, abs=0.01)
    assert result.prediction.audio.sample_rate == rate
    assert {Path(f).name for f in result.downloads} == {"result.json", "embedding.npy"}
    assert result.run.audio_file.exists(), "the recording, for the single view's player"
    assert live.stop("page", True, nothing, None) is session, "a second Stop analyses nothing new"
    assert len(live.sessions) == 1, "kept after Stop: its last minute and result stay shown"

    live.unload("page")
    assert len(live.sessions) == 0
    assert not session._thread.is_alive()


def test_four_sessions_at_once_each_see_their_own_audio(live, speech_48k):
    rate, speech = int16(speech_48k)
    stereo = np.stack([speech, speech // 2], axis=1)
    sources = {
        "speech-48k": (rate, speech),
        "silence-48k": (48000, np.zeros(6 * 48000, np.int16)),
        "speech-stereo": (rate, stereo[: 7 * rate]),
        "silence-44k-float": (44100, np.zeros(5 * 44100, np.float32)),
    }
    for key in sources:
        live.start(key, 3.0, 0.5)
    feeders = [
        threading.Thread(target=feed, args=(live, key, *source)) for key, source in sources.items()
    ]
    for feeder in feeders:
        feeder.start()
    for feeder in feeders:
        feeder.join()
    sessions = {key: live.sessions.get(key) for key in sources}
    assert eventually(lambda: all(len(s.updates) >= 2 for s in sessions.values()), 90)

    for key, (source_rate, samples) in sources.items():
        updates = sessions[key].updates
        assert max(u.t_s for u in updates) <= len(samples) / source_rate + 1e-6, "its own stream"
        if key.startswith("speech"):
            assert any(u.speech for u in updates), key
        else:
            assert not any(u.speech for u in updates), key
            card = live_render.card_html(live.state(key), "zh")
            assert t("no_speech", "zh") in card and "data-emotion" not in card
    for key in sources:
        live.stop(key, False, nothing, None)
    runs = {sessions[key].result.run.path for key in sources}
    assert len(runs) == 4, "a run folder each"
    assert sessions["silence-48k"].result.result["audio"]["duration_s"] == pytest.approx(6.0)


def test_record_drops_the_page_s_last_session_and_unload_ends_it(live, speech_48k):
    rate, samples = int16(speech_48k)
    live.start("page", 3.0, 0.5)
    live.chunk("page", (rate, samples[:rate]), 3.0, 0.5)
    first = live.sessions.get("page")
    live.start("page", 3.0, 0.5)
    assert live.sessions.get("page") is None and first.stopped
    live.chunk("page", (rate, samples[:rate]), 3.0, 0.5)
    second = live.sessions.get("page")
    assert second is not first
    live.unload("page")
    assert live.sessions.get("page") is None
    assert eventually(lambda: not second._thread.is_alive(), 10)


@pytest.mark.parametrize("lang", LANGS)
def test_bad_settings_are_said_with_the_core_s_reason_and_start_nothing(live, lang):
    state = live.start("page", 3.0, 5.0)
    assert state.problem is not None
    reason = state.problem[1]["reason"]
    assert "the hop must be" in reason
    card = live_render.card_html(state, lang)
    assert t("live_error_title", lang) in card and reason in card
    assert live.chunk("page", (48000, np.zeros(12000, np.int16)), 3.0, 5.0) == (None, None)
    assert live.sessions.get("page") is None
    note = live_render.settings_html(3.0, 5.0, lang)
    assert 'data-state="error"' in note and reason in note
    assert t("live_bad_settings", lang).split("{")[0] in note


@pytest.mark.parametrize("lang", LANGS)
def test_a_recording_past_the_limit_ends_the_updates_and_keeps_what_came_first(
    demo_engine, tmp_path, speech_48k, lang
):
    live = LiveHandlers(Handlers(demo_engine, tmp_path, None), LiveSessions(demo_engine, 2.0))
    rate, samples = int16(speech_48k)
    live.start("page", 1.0, 0.5)
    state, problem = live.chunk("page", (rate, samples[:rate]), 1.0, 0.5)
    assert problem is None
    state, problem = live.chunk("page", (rate, samples[rate : 3 * rate]), 1.0, 0.5)
    assert problem == state.problem and problem[0] == "live_too_long"
    assert live.chunk("page", (rate, samples[: rate // 4]), 1.0, 0.5)[1] is None, "said once"
    card = live_render.card_html(state, lang)
    assert t("live_too_long", lang).format(minutes=f"{2 / 60:g}") in card
    session = live.stop("page", False, nothing, None)
    assert session.result.prediction.audio.duration_s == pytest.approx(1.0, abs=0.01)


def test_a_rate_change_ends_the_updates_with_the_reason(live):
    live.start("page", 3.0, 0.5)
    live.chunk("page", (48000, np.zeros(12000, np.int16)), 3.0, 0.5)
    state, problem = live.chunk("page", (44100, np.zeros(11025, np.int16)), 3.0, 0.5)
    assert problem == state.problem and problem[0] == "live_audio_error"
    assert "48000 Hz to 44100 Hz" in live_render.card_html(state, "zh")
    assert t("live_audio_error", "zh").split("{")[0] in live_render.card_html(state, "zh")


def test_stop_with_nothing_recorded_says_so(live):
    assert live.stop("never-recorded", False, nothing, None) is None
    live.start("page", 3.0, 0.5)
    live.chunk("page", (48000, np.zeros(100, np.int16)), 3.0, 0.5)
    session = live.stop("page", False, nothing, None)
    assert session.result.name == "microphone" and "shorter than" in session.result.reason


# --- what the tab shows ------------------------------------------------------------------------


def update(t_s: float, top: int | None = 3, done_at: float | None = None, **kw) -> LiveUpdate:
    """A window ending at t_s: `top` the emotion at 85 %, None for no speech."""
    probs = None
    if top is not None:
        probs = np.full(len(EMOTIONS), 0.15 / (len(EMOTIONS) - 1), np.float32)
        probs[top] = 0.85
    fields = {"skipped": 0, "latency_s": 0.05, "inference_s": 0.02} | kw
    return LiveUpdate(
        t_s, 3.0, probs is not None, EMOTIONS, probs, done_at=done_at or t_s, **fields
    )


def state(*updates: LiveUpdate, demo: bool = False) -> LiveState:
    return LiveState(updates, 3.0, 0.5, demo)


@pytest.mark.parametrize("lang", LANGS)
def test_the_card_shows_no_speech_never_an_emotion_for_silence(lang):
    card = live_render.card_html(state(update(3.0), update(3.5, None)), lang)
    assert 'data-state="no-speech"' in card and "data-emotion" not in card
    assert t("no_speech", lang) in card and t("live_no_speech_hint", lang) in card
    assert 'data-updates="2"' in card and 'data-t="3.50"' in card


def test_the_card_shows_the_newest_window_s_emotion_in_the_page_language():
    both = state(update(3.0, 0), update(3.5, 3))
    assert "Happy · 开心" in live_render.card_html(both, "en")
    assert "开心 · Happy" in live_render.card_html(both, "zh")
    assert "85.0%" in live_render.card_html(both, "en")
    assert t("live_window_title", "zh").format(
        window="3", time=clock(3.5)
    ) in live_render.card_html(both, "zh")


@pytest.mark.parametrize("lang", LANGS)
def test_every_live_card_says_when_the_demo_model_made_it(lang):
    shown = [
        LiveState((), 3.0, 0.5, True),
        state(update(3.0), demo=True),
        state(update(3.0, None), demo=True),
        LiveState((update(3.0),), 3.0, 0.5, True, ("live_stream_error", {"reason": "x"})),
    ]
    for each in shown:
        assert t("demo_badge", lang) in live_render.card_html(each, lang)
    assert t("demo_badge", lang) not in live_render.card_html(state(update(3.0)), lang)


def test_the_stats_line_says_the_achieved_hop_the_latency_and_the_skipped_windows():
    updates = [
        update(3.0 + 0.5 * i, done_at=100 + 0.6 * i, latency_s=0.1 * (i + 1)) for i in range(5)
    ]
    updates[-1] = update(5.5, done_at=102.4, latency_s=0.5, skipped=2)
    shown = state(*updates)
    en, zh = live_render.stats_html(shown, "en"), live_render.stats_html(shown, "zh")
    assert 'data-updates="5"' in en and 'data-skipped="2"' in en
    assert "5 updates · one every 0.60 s (hop 0.5 s) · latency p50 300 ms, p95 480 ms" in en
    assert "2 windows skipped" in en
    assert "每 0.60 秒一次（步长 0.5 秒）" in zh and "跳过 2 个窗口" in zh
    assert live_render.stats_html(state(), "en") == ""


def test_the_strip_and_the_chart_show_the_last_minute():
    first = state(*(update(3.0 + 0.5 * i) for i in range(10)))
    assert f"<span>{clock(0)}</span><span>{clock(60)}</span>" in live_render.strip_html(first, "en")
    later = state(*(update(3.0 + 0.5 * i, None if i % 10 == 0 else 3) for i in range(175)))
    strip = live_render.strip_html(later, "zh")
    assert f"<span>{clock(30)}</span><span>{clock(90)}</span>" in strip
    timeline, start, end = live_render.recent(later)
    assert (start, end) == (30.0, 90.0)
    assert timeline.start_s.min() >= 29.5 and timeline.end_s.max() == 90.0
    assert len(timeline) == len([u for u in later.updates if u.speech and u.t_s > 30])
    assert strip.count('class="e2v-seg"') == 13, "a block per stretch of speech"
    chart = live_render.chart(later, "zh")
    assert chart["encoding"]["x"]["scale"]["domain"] == [30.0, 90.0]
    assert chart["encoding"]["x"]["title"] == t("time_axis", "zh")


@pytest.fixture(scope="module")
def live_view():
    with gr.Blocks():
        return views.tabs(views.Texts()).live


@pytest.mark.parametrize("lang", LANGS)
def test_the_live_outputs_name_every_component_they_fill(live_view, lang):
    shown = live_outputs(live_view.shown, state(update(3.0)), lang)
    assert list(shown) == views.components_of(live_view.shown)
    idle = live_outputs(live_view.shown, None, lang)
    assert t("live_idle", lang) in idle[live_view.shown.card]
    result = result_outputs(live_view.result, None, True, lang)
    assert list(result) == views.components_of(live_view.result)
    assert t("live_nothing", lang) in result[live_view.result.card]
    assert result[live_view.result.open]["visible"] is False
    assert (
        result_outputs(live_view.result, None, False, lang)[live_view.result.box]["visible"]
        is False
    )


def test_live_streams_have_their_own_queue_with_room_for_several_pages(demo_engine, tmp_path):
    demo = build_ui(demo_engine, tmp_path)
    streams = [fn for fn in demo.fns.values() if fn.connection == "stream"]
    assert len(streams) == 1
    assert streams[0].concurrency_id == "live" and streams[0].concurrency_limit >= 4
    assert LIVE_CONCURRENCY >= 4
    stops = [fn for fn in demo.fns.values() if any(e == "stop_recording" for _, e in fn.targets)]
    assert [fn.concurrency_id for fn in stops] == ["analysis"], "Stop queues as an analysis"
    assert any(e == "unload" for fn in demo.fns.values() for _, e in fn.targets)


# --- in Chromium, with a fake microphone -----------------------------------------------------


@pytest.fixture(scope="module")
def app(demo_engine, tmp_path_factory):
    """The WebUI on the demo model, in this process: its URL and outputs folder."""
    outputs = tmp_path_factory.mktemp("live-outputs")
    with serving(demo_engine, outputs) as url:
        yield url, outputs


def fake_microphone(wav: Path) -> list[str]:
    """Chromium's microphone plays `wav`, looped, and asks no permission."""
    return [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}",
    ]


@pytest.fixture(scope="module")
def mic_browser(speech_48k):
    with chromium(fake_microphone(speech_48k)) as launched:
        yield launched


@pytest.fixture(scope="module")
def quiet_browser(mic_browser, clip_dir):
    """A second Chromium, its microphone silent (Playwright runs one instance per thread:
    launched by the first's)."""
    silence = write_wav(clip_dir / "live-silence.wav", np.zeros(5 * 48000, np.int16), 48000)
    launched = mic_browser.browser_type.launch(
        executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *fake_microphone(silence)]
    )
    yield launched
    launched.close()


# Each distinct window time the card showed, gathered as the page changes.
WATCH_JS = """() => {
  window.liveTimes = new Set();
  new MutationObserver(() => {
    const t = document.querySelector('#live-card .e2v-card')?.dataset.t;
    if (t) window.liveTimes.add(t);
  }).observe(document.body, {childList: true, subtree: true, attributes: true});
}"""


def record(page, lang: str) -> None:
    page.get_by_role("tab", name=t("tab_live", lang)).click()
    page.evaluate(WATCH_JS)
    page.click("#live-audio button.record-button")
    page.wait_for_selector("#live-card [data-state=listening], #live-card [data-updates]")


def wait_for_updates(page, count: int) -> None:
    page.wait_for_function(f"window.liveTimes.size >= {count}", timeout=LIVE_WAIT_MS)


def stop(page) -> None:
    page.click("#live-audio button.stop-button")
    page.wait_for_selector("#live-result-card .e2v-card", timeout=LIVE_WAIT_MS)


def no_side_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_the_live_card_follows_the_microphone_and_stop_gives_a_normal_result(app, mic_browser):
    url, outputs = app
    with pages_of(mic_browser, url) as make:
        page = make(viewport=DESKTOP)
        record(page, "en")
        wait_for_updates(page, 5)
        card = page.locator("#live-card .e2v-card")
        assert int(card.get_attribute("data-updates")) >= 5
        assert t("demo_badge", "en") in card.inner_text(), "the demo model's cards say so"
        assert "one every" in page.inner_text("#live-stats")
        page.wait_for_selector("#live-strip .e2v-strip")
        page.wait_for_selector("#live-plot svg")
        assert page.is_disabled("#live-window input[type=range]"), "settings wait for Stop"
        screenshot(page, "live-desktop-en-updating")

        page.locator("#language").get_by_text("中文").click()
        page.wait_for_function(
            "text => document.querySelector('#live-stats').innerText.includes(text)",
            arg="次更新",
        )
        assert t("live_plot", "zh") in page.inner_text("#live-plot")
        screenshot(page, "live-desktop-zh-updating")

        runs_before = set(outputs.glob("outputs_*"))
        stop(page)
        result = page.locator("#live-result-card .e2v-card")
        assert result.get_attribute("data-emotion") or result.get_attribute("data-state")
        assert t("result_for", "zh").format(name="microphone") in result.inner_text()
        page.wait_for_function(
            "() => document.querySelector('#live-downloads').innerText.includes('result.json')"
        )
        new_runs = set(outputs.glob("outputs_*")) - runs_before
        assert len(new_runs) == 1 and (new_runs.pop() / "result.json").exists()
        assert not page.is_disabled("#live-window input[type=range]")
        screenshot(page, "live-desktop-zh-stopped")

        page.locator("#language").get_by_text("English").click()
        page.wait_for_function(
            "text => document.querySelector('#live-result-card').innerText.includes(text)",
            arg=t("result_for", "en").format(name="microphone"),
        )
        screenshot(page, "live-desktop-en-stopped")

        page.click("#live-open-result")
        page.wait_for_selector("#emotion-card .e2v-card", state="visible")
        assert "microphone" in page.inner_text("#emotion-card")
        assert "result.json" in page.inner_text("#downloads")
        player = "#audio-input audio, #audio-input .waveform-container"
        page.wait_for_selector(player, state="attached")  # the recording, to analyse again
        screenshot(page, "live-desktop-en-whole-analysis")


def test_bad_settings_are_said_before_and_at_record_and_nothing_is_analysed(app, mic_browser):
    with pages_of(mic_browser, app[0]) as make:
        page = make(locale="zh-CN")
        page.get_by_role("tab", name=t("tab_live", "zh")).click()
        hop = page.locator("#live-hop input[type=number]")
        hop.fill("5")
        hop.press("Enter")
        page.wait_for_selector("#live-settings [data-state=error]")
        assert "the hop must be" in page.inner_text("#live-settings")
        page.click("#live-audio button.record-button")
        page.wait_for_selector("#live-card [data-state=error]")
        toast = page.get_by_text(t("live_bad_settings", "zh").split("{")[0]).first
        toast.wait_for()
        screenshot(page, "live-desktop-zh-bad-settings")
        stop(page)
        assert t("live_nothing", "zh") in page.inner_text("#live-result-card")


@pytest.mark.parametrize("lang", LANGS)
def test_the_live_tab_fits_a_phone(app, mic_browser, lang):
    with pages_of(mic_browser, app[0]) as make:
        page = make(locale="zh-CN" if lang == "zh" else "en-US", viewport=PHONE)
        record(page, lang)
        wait_for_updates(page, 2)
        page.wait_for_selector("#live-plot svg")
        assert no_side_scroll(page), "no horizontal page scroll at 390 px"
        screenshot(page, f"live-phone-{lang}-updating")
        stop(page)
        assert no_side_scroll(page)
        screenshot(page, f"live-phone-{lang}-stopped")


def test_two_pages_live_at_once_see_their_own_audio_while_analyze_answers(
    app, mic_browser, quiet_browser, clips, tmp_path
):
    url = app[0]
    with pages_of(mic_browser, url) as speaking, pages_of(quiet_browser, url) as quiet:
        talker, silent = speaking(), quiet()
        record(talker, "en")
        record(silent, "en")
        wait_for_updates(talker, 2)
        wait_for_updates(silent, 2)

        client = Client(url, verbose=False, download_files=str(tmp_path))
        result, _ = client.predict(
            handle_file(str(clips["wav"])), "utterance", False, api_name="/analyze"
        )
        assert result["emotion"] and result["run_dir"], "/analyze answers during live sessions"
        seen = talker.evaluate("window.liveTimes.size")
        wait_for_updates(talker, seen + 2)  # and the live pages go on

        assert talker.get_attribute("#live-card .e2v-card", "data-emotion") is not None
        assert silent.get_attribute("#live-card .e2v-card", "data-state") == "no-speech"
        assert t("no_speech", "en") in silent.inner_text("#live-card")
        stop(talker)
        stop(silent)
        assert talker.get_attribute("#live-result-card .e2v-card", "data-emotion") is not None
        assert silent.get_attribute("#live-result-card .e2v-card", "data-state") == "no-speech"
