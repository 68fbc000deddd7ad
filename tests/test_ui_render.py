"""The WebUI's views as pure functions: clock times, the segment strip, summary, tables, the
model status line and the processing log."""

from __future__ import annotations

import html
import math
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from clips import write_silence

from emotion2vec_app.audio import SILENT, SourceInfo, Waveform, decode_audio
from emotion2vec_app.engine import EngineState, EngineStatus
from emotion2vec_app.labels import EMOTIONS, emotion_for_token
from emotion2vec_app.outputs import save_run
from emotion2vec_app.results import FrameTimeline, ModelInfo, Prediction, SegmentTimeline
from emotion2vec_app.ui.charts import TIMELINE_POINTS, segment_chart, timeline_chart
from emotion2vec_app.ui.render import (
    Lane,
    batch_frame,
    batch_summary_html,
    clock,
    emotion_label,
    processing_log,
    score_bars_html,
    segment_frame,
    segment_strip_html,
    status_html,
    summary_markdown,
)
from emotion2vec_app.ui.text import t

KEYS = [e.key for e in EMOTIONS]
BY_KEY = {e.key: e for e in EMOTIONS}


def timeline(spans: list[tuple[float, float, str, float]], method: str = "vad") -> SegmentTimeline:
    """Segments (start, end, top emotion, its probability); the rest shared evenly."""
    probs = np.zeros((len(spans), len(EMOTIONS)), np.float32)
    for row, (_, _, key, p) in zip(probs, spans, strict=True):
        row[:] = (1 - p) / (len(EMOTIONS) - 1)
        row[KEYS.index(key)] = p
    return SegmentTimeline(
        method,
        EMOTIONS,
        np.array([s[0] for s in spans]),
        np.array([s[1] for s in spans]),
        probs,
    )


# angry 3 s, happy 2 s, angry 4 s, sad 1 s: angry dominates (7 of 10 s); 3 changes.
SPANS = [(1.0, 4.0, "angry", 0.7), (5.5, 7.5, "happy", 0.6), (8.0, 12.0, "angry", 0.8),
         (40.0, 41.0, "sad", 0.9)]  # fmt: skip
DURATION_S = 50.0


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0:00.0"),
        (5, "0:05.0"),
        (5.04, "0:05.0"),
        (62.5, "1:02.5"),
        (600.2, "10:00.2"),
        (3605, "1:00:05"),
        (3605.7, "1:00:05"),
        (2 * 3600 + 61, "2:01:01"),
        (np.float64(12.3), "0:12.3"),
    ],
)
def test_clock(seconds, text):
    assert clock(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(59.96, "1:00.0"), (119.95, "2:00.0"), (3599.97, "1:00:00"), (9.99, "0:10.0")],
)
def test_clock_rounds_up_into_the_next_minute_not_to_60_seconds(seconds, text):
    assert clock(seconds) == text
    assert not re.search(r":6\d", clock(seconds))


class Blocks(HTMLParser):
    """The strip's segment blocks: their attributes, with the style parsed."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[dict[str, str]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "e2v-seg" in (attrs.get("class") or "").split():
            style = dict(
                (k.strip(), v.strip())
                for k, v in (part.split(":", 1) for part in attrs["style"].split(";") if part)
            )
            self.blocks.append({**attrs, **style})

    def handle_data(self, data):
        self.text.append(data)


def parse(markup: str) -> Blocks:
    parser = Blocks()
    parser.feed(markup)
    parser.close()
    return parser


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_segment_strip_places_one_block_per_segment(lang):
    parsed = parse(segment_strip_html([Lane(timeline(SPANS))], DURATION_S, lang))
    assert len(parsed.blocks) == len(SPANS)
    for block, (start, end, key, p) in zip(parsed.blocks, SPANS, strict=True):
        assert block["data-emotion"] == key
        assert float(block["left"].rstrip("%")) == pytest.approx(100 * start / DURATION_S, abs=1e-3)
        assert float(block["width"].rstrip("%")) == pytest.approx(
            100 * (end - start) / DURATION_S, abs=1e-3
        )
        assert block["background"] == BY_KEY[key].colour
        tip = block["title"]
        assert tip.startswith(f"{clock(start)}–{clock(end)}")
        assert f"{p:.0%}" in tip
        name = BY_KEY[key].zh if lang == "zh" else BY_KEY[key].en
        assert name in tip
    text = "".join(parsed.text)
    assert clock(DURATION_S) in text, "the axis ends at the recording's length"
    # The legend names each emotion that occurs, once.
    for key in ("angry", "happy", "sad"):
        name = BY_KEY[key].zh if lang == "zh" else BY_KEY[key].en
        assert text.count(name) == 1
    assert (BY_KEY["neutral"].en if lang == "en" else BY_KEY["neutral"].zh) not in text


def test_segment_strip_blocks_stay_inside_the_bar():
    spans = [(0.0, 20.0, "neutral", 0.5), (20.0, 3 * 3600.0, "sad", 0.5)]
    parsed = parse(segment_strip_html([Lane(timeline(spans))], 3 * 3600.0, "en"))
    right_edges = [float(b["left"][:-1]) + float(b["width"][:-1]) for b in parsed.blocks]
    assert right_edges[-1] == pytest.approx(100.0)
    assert all(0 <= float(b["left"][:-1]) <= 100 for b in parsed.blocks)
    assert "3:00:00" in "".join(parsed.text)


def test_segment_strip_escapes_a_models_own_labels():
    # A model's tokens.txt may name classes of its own: they land in attributes and text.
    odd = emotion_for_token('厌倦/Bored "&" <tired>')
    strip = SegmentTimeline(
        "fixed", (odd, *EMOTIONS[1:]), np.array([0.0]), np.array([5.0]),
        np.eye(len(EMOTIONS), dtype=np.float32)[:1],
    )  # fmt: skip
    parsed = parse(segment_strip_html([Lane(strip)], 10.0, "en"))
    assert len(parsed.blocks) == 1
    assert parsed.blocks[0]["data-emotion"] == odd.key
    assert 'Bored "&" <tired>' in parsed.blocks[0]["title"]
    assert 'Bored "&" <tired>' in "".join(parsed.text), "the legend shows it as text"


@pytest.mark.parametrize(
    ("lang", "dominant", "words"),
    [
        ("en", "😠 Angry", ["**4 segments**", "speech 0:10.0 of 0:50.0", "cut by vad",
                           "emotion changes: 3"]),
        ("zh", "😠 生气", ["**4 个片段**", "语音 0:10.0 / 总长 0:50.0", "分段方式 vad",
                          "情感变化：3 次"]),
    ],
)  # fmt: skip
def test_summary_names_the_dominant_emotion(lang, dominant, words):
    text = summary_markdown(timeline(SPANS), DURATION_S, lang)
    assert f"**{dominant}**" in text
    for word in words:
        assert word in text
    # The top three are the largest duration-weighted shares, largest first.
    top = text.split("·")[-2]
    assert top.index("Angry" if lang == "en" else "生气") < top.index(
        "Happy" if lang == "en" else "开心"
    )


def test_summary_dominant_is_by_duration_not_by_count():
    # Three short sad segments, one long happy one: happy holds most of the speech.
    spans = [(0, 1, "sad", 0.9), (2, 3, "sad", 0.9), (4, 5, "sad", 0.9), (6, 30, "happy", 0.9)]
    assert "**😊 Happy**" in summary_markdown(timeline(spans), 31.0, "en")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_segment_frame_has_a_row_per_segment(lang):
    frame = segment_frame(timeline(SPANS), lang)
    assert len(frame) == len(SPANS)
    assert list(frame.columns) == [
        t(k, lang) for k in ("col_start", "col_end", "col_emotion", "col_confidence")
    ], "four columns, no '#': they fit a phone"
    assert list(frame[t("col_start", lang)]) == ["0:01.0", "0:05.5", "0:08.0", "0:40.0"]
    assert list(frame[t("col_confidence", lang)]) == pytest.approx([0.7, 0.6, 0.8, 0.9])
    emotion = BY_KEY["sad"].zh if lang == "zh" else BY_KEY["sad"].en
    assert emotion in frame[t("col_emotion", lang)].iloc[-1]


# --- the score bars and the charts -------------------------------------------------------


class Bars(HTMLParser):
    """The score bars' rows: each row's attributes, name, fill width and percentage."""

    def __init__(self):
        super().__init__()
        self.rows: list[dict] = []
        self.part: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if "e2v-bar" in classes:
            self.rows.append({**attrs, "name": "", "emoji": "", "value": ""})
        elif "e2v-bar-fill" in classes:
            self.rows[-1]["width"] = attrs["style"]
        self.part = next((c for c in ("e2v-emo", "e2v-bar-name", "e2v-bar-value") if c in classes),
                         self.part)  # fmt: skip

    def handle_endtag(self, tag):
        self.part = "e2v-bar-name" if self.part == "e2v-emo" else None

    def handle_data(self, data):
        key = {"e2v-emo": "emoji", "e2v-bar-name": "name", "e2v-bar-value": "value"}.get(self.part)
        if key and self.rows:
            self.rows[-1][key] += data


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_score_bars_have_a_row_per_emotion_in_label_order(lang):
    probs = np.array([0.05, 0.0, 0.02, 0.853, 0.045, 0.01, 0.01, 0.005, 0.007])
    markup = score_bars_html(EMOTIONS, probs, lang)
    parser = Bars()
    parser.feed(markup)
    assert [row["data-emotion"] for row in parser.rows] == KEYS
    for row, emotion, p in zip(parser.rows, EMOTIONS, probs, strict=True):
        assert row["emoji"] == emotion.emoji
        assert row["name"].strip() == (emotion.zh if lang == "zh" else emotion.en)
        assert row["value"] == f"{p:.1%}"
        assert float(row["data-score"]) == pytest.approx(p)
        assert row["width"] == f"width:{100 * p:.2f}%"
        assert f"--e2v-colour:{emotion.colour}" in row["style"]
    assert t("scores", lang) in markup, "titled in the page's language"


def test_score_bars_escape_a_models_own_labels():
    odd = emotion_for_token('厌倦/Bored "&" <tired>')
    markup = score_bars_html((odd, *EMOTIONS[1:]), np.full(len(EMOTIONS), 1 / 9), "en")
    parser = Bars()
    parser.feed(markup)
    assert parser.rows[0]["name"].strip() == odd.en == '厌倦/Bored "&" <tired>'
    assert "<tired>" not in markup


def frames(values: np.ndarray, offsets: np.ndarray | None = None) -> FrameTimeline:
    """Frames 20 ms apart (or at `offsets`); positional, as FrameTimeline's score array
    changes name."""
    return FrameTimeline(0.02, values.astype(np.float32), EMOTIONS, 0.0, offsets)


def points(spec: dict) -> dict[int, list[dict]]:
    """A chart's points by line piece, in time order."""
    pieces: dict[int, list[dict]] = {}
    for row in spec["data"]["values"]:
        pieces.setdefault(row["piece"], []).append(row)
    return {piece: sorted(rows, key=lambda r: r["time_s"]) for piece, rows in pieces.items()}


def assert_chart_frame(spec: dict, duration_s: float, lang: str) -> None:
    """What every chart keeps: a valid Vega-Lite spec, the time axis over exactly the
    recording, scores 0-1, a whole legend below in columns, titles in `lang`, any width."""
    alt = pytest.importorskip("altair")
    alt.Chart.from_dict(spec)  # the Vega-Lite schema, the points included
    x, y, colour = (spec["encoding"][k] for k in ("x", "y", "color"))
    assert x["scale"]["domain"] == [0, pytest.approx(duration_s)] and x["scale"]["nice"] is False
    assert y["scale"]["domain"] == [0, 1]
    assert (x["title"], y["title"]) == (t("time_axis", lang), t("score_axis", lang))
    assert colour["scale"]["domain"] == [emotion_label(e, lang) for e in EMOTIONS]
    assert colour["scale"]["range"] == [e.colour for e in EMOTIONS]
    legend = colour["legend"]
    assert legend["orient"] == "bottom" and legend["labelLimit"] == 0  # whole labels
    assert "width" in legend["columns"]["expr"], "as many columns as the width takes"
    assert spec["encoding"]["detail"]["field"] == "piece"
    assert spec["width"] == "container"
    assert spec["usermeta"]["embedOptions"]["renderer"] == "svg"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_timeline_chart_of_a_clip_is_one_line_per_emotion(lang):
    values = np.random.default_rng(0).random((250, len(EMOTIONS)))
    shown = frames(values)
    spec = timeline_chart(shown, 5.0, lang)
    assert_chart_frame(spec, 5.0, lang)
    [rows] = points(spec).values()
    assert len(rows) == 250, "fewer frames than TIMELINE_POINTS: all of them"
    assert rows[0]["time_s"] == 0 and rows[-1]["time_s"] == pytest.approx(249 * 0.02)
    assert [rows[10][f"s{i}"] for i in range(9)] == pytest.approx(shown.probs[10], abs=1e-4)


def test_timeline_chart_of_a_segmented_recording_breaks_at_the_pauses():
    # Three segments, the middle one 0.1 s long, far too short for the stride to hit.
    spans = [(1.0, 20000), (500.0, 5), (900.0, 20000)]
    offsets = np.concatenate([start + np.arange(n) * 0.02 for start, n in spans])
    spec = timeline_chart(frames(np.random.default_rng(1).random((len(offsets), 9)), offsets),
                          1300.0, "en")  # fmt: skip
    assert_chart_frame(spec, 1300.0, "en")
    pieces = points(spec)
    assert len(pieces) == len(spans), "one line piece per segment"
    for rows, (start, n) in zip(pieces.values(), spans, strict=True):
        assert rows[0]["time_s"] == pytest.approx(start)
        assert rows[-1]["time_s"] == pytest.approx(start + (n - 1) * 0.02), "each piece whole"
    assert len(spec["data"]["values"]) <= TIMELINE_POINTS + 2 * len(spans)


def test_segment_chart_joins_adjacent_segments_only():
    # Fixed windows back to back, then a pause, then one more segment.
    spans = [(0.0, 10.0, "angry", 0.7), (10.0, 20.0, "happy", 0.6), (20.0, 25.0, "sad", 0.8),
             (31.0, 35.0, "angry", 0.9)]  # fmt: skip
    spec = segment_chart(timeline(spans), 40.0, "zh")
    assert_chart_frame(spec, 40.0, "zh")
    pieces = points(spec)
    assert [[r["time_s"] for r in rows] for rows in pieces.values()] == [
        [0, 10, 10, 20, 20, 25],
        [31, 35],
    ]
    angry = [r["s0"] for rows in pieces.values() for r in rows]
    assert angry == pytest.approx([0.7, 0.7, 0.05, 0.05, 0.025, 0.025, 0.9, 0.9], abs=1e-4), (
        "each segment's score level from its start to its end"
    )


def test_segment_chart_of_a_long_call_keeps_its_points_few():
    starts = np.arange(2000) * 5.0
    spans = [(s, s + 4.0, EMOTIONS[i % 9].key, 0.5) for i, s in enumerate(starts)]
    spec = segment_chart(timeline(spans), 10_000.0, "en")
    assert len(spec["data"]["values"]) <= TIMELINE_POINTS
    assert_chart_frame(spec, 10_000.0, "en")


def good(name: str, emotion: str, confidence: float, duration: float, **extra) -> dict:
    return {
        "file": name,
        "emotion": emotion,
        "confidence": confidence,
        "audio": {"duration_s": duration},
        **extra,
    }


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_batch_frame_shows_errors_and_a_dash(lang):
    results = [
        good("a.wav", "happy", 0.91234, 3.2),
        {"file": "broken.mp3", "error": "'broken.mp3' could not be decoded"},
        good("call.wav", "angry", 0.5, 41.0, summary={"segments": 8}),
    ]
    frame = batch_frame(results, lang)
    col = {k: t(f"col_{k}", lang) for k in ("file", "emotion", "confidence", "duration",
                                             "segments", "error")}  # fmt: skip
    assert list(frame.columns) == list(col.values())
    assert list(frame[col["file"]]) == ["a.wav", "broken.mp3", "call.wav"]
    assert list(frame[col["error"]]) == ["", "'broken.mp3' could not be decoded", ""]
    emotions = list(frame[col["emotion"]])
    assert emotions[1] == "—"
    assert (BY_KEY["happy"].zh if lang == "zh" else BY_KEY["happy"].en) in emotions[0]
    assert (BY_KEY["angry"].zh if lang == "zh" else BY_KEY["angry"].en) in emotions[2]
    confidence = list(frame[col["confidence"]])
    assert confidence[0] == 0.912 and confidence[2] == 0.5
    assert confidence[1] is None or math.isnan(confidence[1])
    duration = list(frame[col["duration"]])
    assert duration[0] == 3.2 and duration[2] == 41.0
    assert duration[1] is None or math.isnan(duration[1])
    assert list(frame[col["segments"]]) == ["", "", 8]


def test_batch_frame_of_only_errors():
    frame = batch_frame([{"file": "x.wav", "error": "'x.wav' is empty"}], "en")
    assert frame.iloc[0]["emotion"] == "—"
    assert frame.iloc[0]["error"] == "'x.wav' is empty"
    assert isinstance(frame, pd.DataFrame) and len(frame) == 1


def test_decoding_silence_warns_with_the_words_the_no_speech_card_looks_for(tmp_path):
    waveform = decode_audio(write_silence(tmp_path / "silence.wav", 1.0))
    assert any(w.startswith(SILENT) for w in waveform.warnings), waveform.warnings


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_batch_summary_counts_failures_and_keeps_each_reason_whole(lang):
    reason = "'b <1>.mp3' could not be decoded as audio: " + "a long reason " * 20
    results = [good("a.wav", "happy", 0.9, 2.0), {"file": "b <1>.mp3", "error": reason}]
    markup = batch_summary_html(results, lang)
    assert t("batch_failed", lang).format(failed=1, total=2) in markup
    assert html.escape(reason) in markup and "<1>" not in markup
    assert t("batch_all_done", lang).format(total=1) in batch_summary_html(results[:1], lang)


# --- the status line and the processing log (issue 13, items 11 and 14) ------------------


class FakeEngine:
    """Just enough engine for status_html: a fixed status."""

    def __init__(self, **fields) -> None:
        defaults = dict(model="iic/emotion2vec_plus_large", demo=False, device="auto",
                        dtype="auto", load_seconds=None, elapsed_s=3.2, error=None)  # fmt: skip
        self._status = EngineStatus(**{"state": EngineState.LOADING, **defaults, **fields})

    def status(self) -> EngineStatus:
        return self._status


def status_text(lang: str, **fields) -> str:
    return "".join(parse(status_html(FakeEngine(**fields), lang)).text)


@pytest.mark.parametrize(
    ("lang", "fields", "words"),
    [
        ("en", {}, "Loading emotion2vec+ large on the best available device… 3 s"),
        ("zh", {}, "正在加载 emotion2vec+ large（最佳可用设备）… 3 秒"),
        ("en", {"device": "cpu"}, "Loading emotion2vec+ large on CPU… 3 s"),
        ("zh", {"device": "cpu"}, "正在加载 emotion2vec+ large（CPU）… 3 秒"),
        ("en", {"device": "cuda:0"}, "Loading emotion2vec+ large on GPU cuda:0… 3 s"),
        ("en", {"model": "demo", "demo": True},
         "Loading the demo model (random weights) on the best available device… 3 s"),
        ("zh", {"model": "demo", "demo": True},
         "正在加载 随机权重的演示模型（最佳可用设备）… 3 秒"),
        ("en", {"model": "/srv/models/my-finetune/"}, "Loading my-finetune on"),
    ],
)  # fmt: skip
def test_status_while_loading_says_what_in_words(lang, fields, words):
    text = status_text(lang, **fields)
    assert words in text
    assert "auto · auto" not in text and " · " not in text, text
    assert "/srv" not in text and "iic/" not in text


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", "Model ready: emotion2vec+ large on GPU cuda:0 (float16), loaded in 12.3 s"),
        ("zh", "模型已就绪：emotion2vec+ large（GPU cuda:0，float16），加载用时 12.3 秒"),
    ],
)
def test_status_when_ready_names_model_device_dtype_and_load_time(lang, words):
    fields = {"state": EngineState.READY, "device": "cuda:0", "dtype": "float16"}
    assert words in status_text(lang, **fields, load_seconds=12.34)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_status_when_failed_keeps_the_error_and_the_advice(lang):
    error = "Model '/srv/no-such-model' is neither 'demo', an existing directory <x>, nor..."
    markup = status_html(
        FakeEngine(state=EngineState.FAILED, model="/srv/no-such-model", error=error), lang
    )
    assert 'data-state="failed"' in markup
    text = "".join(parse(markup).text)
    assert error in text and "<x>" not in markup, "the error, whole and escaped"
    assert t("failed_hint", lang) in markup
    assert ("failed to load: no-such-model" if lang == "en" else "加载失败：no-such-model") in text


def test_status_of_a_ray_serve_backend_keeps_the_backend_words():
    url = "http://head:8000"
    fields = dict(state=EngineState.READY, model="iic/emotion2vec_plus_large",
                  device=f"cuda:0 · Ray Serve {url}", dtype="float16", load_seconds=5.0,
                  backend=url)  # fmt: skip
    text = status_text("en", **fields)
    assert t("state_ready_backend", "en") in text
    assert f"Ray Serve {url}" in text and "5.0 s" in text


def prediction_for_log(model_id: str, demo: bool = False) -> Prediction:
    info = SourceInfo("talk.wav", "wav", 48000, 2, 2.0)
    return Prediction(
        emotions=EMOTIONS,
        probs=np.full(len(EMOTIONS), 1 / len(EMOTIONS), np.float32),
        granularity="utterance",
        waveform=Waveform(np.zeros(32000, np.float32), info),
        model=ModelInfo(model_id, demo, "cpu", "float32"),
        timings_ms={"decode": 1.5, "inference": 20.0},
        embedding=np.zeros(768, np.float32),
    )


def test_processing_log_names_the_run_and_its_downloads_not_server_paths(tmp_path):
    prediction = prediction_for_log(str(tmp_path / "models" / "my-finetune"))
    run = save_run(prediction, tmp_path / "outputs")
    log = processing_log(prediction, run, "en")
    assert run.path.name in log, "the run's id"
    for name in ("result.json", "embedding.npy"):
        assert name in log
    assert "model: my-finetune on CPU (float32)" in log
    assert str(tmp_path) not in log and "/" not in log, "no server path, nor any path"
    assert f"run: {run.path.name}" in log, "the browser tests wait for these words"
    chinese = processing_log(prediction, run, "zh")
    assert f"运行编号：{run.path.name}" in chinese
    assert "模型：my-finetune（CPU，float32）" in chinese
    assert "解码 1.5 ms | 推理 20.0 ms" in chinese


def test_processing_log_without_a_run_folder_says_so():
    log = processing_log(prediction_for_log("demo", demo=True), None, "en")
    assert "run folder: not written (see the warning)" in log
    assert "the demo model (random weights)" in log
