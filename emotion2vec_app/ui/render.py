"""What the WebUI shows, as HTML strings and data frames: pure functions of results.

No gradio here, so every view can be tested without a server.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from emotion2vec_app.audio import SILENT
from emotion2vec_app.labels import Emotion, emotion_for_token
from emotion2vec_app.options import AnalysisOptions
from emotion2vec_app.outputs import RunFolder
from emotion2vec_app.results import (
    ChannelTimeline,
    Prediction,
    SegmentTimeline,
    channels_summary,
)
from emotion2vec_app.ui.text import TEXT, t

if TYPE_CHECKING:
    from emotion2vec_app.engine import AnalysisEngine, EngineStatus


def emotion_label(emotion: Emotion, lang: str) -> str:
    return f"{emotion.emoji} {emotion.zh if lang == 'zh' else emotion.en}"


def model_words(model: str, demo: bool, lang: str) -> str:
    """A model as a person names it: the demo, a hub id's model (iic/emotion2vec_plus_large:
    emotion2vec+ large), or a local folder's name, never its server path."""
    if demo:
        return t("model_demo", lang)
    name = re.split(r"[\\/]", model.rstrip("/\\"))[-1] or model
    hub_id = model.count("/") == 1 and not model.startswith(("/", ".", "~")) and "\\" not in model
    if hub_id and name.startswith("emotion2vec_plus_"):
        return f"emotion2vec+ {name.removeprefix('emotion2vec_plus_')}"
    return name


def device_words(device: str, lang: str) -> str:
    """auto (not known yet): the best available device; cpu: CPU; cuda:0: GPU cuda:0."""
    if device == "auto":
        return t("device_auto", lang)
    if device == "cpu":
        return "CPU"
    return f"GPU {device}" if device.startswith(("cuda", "mps")) else device


def _backend_line(status: EngineStatus, lang: str) -> str:
    """A Ray Serve backend's state: its URL, model, device and dtype as the backend says."""
    details = f"{status.model} · {status.device} · {status.dtype}"
    if status.state.value == "loading":
        details += f" · {status.elapsed_s:.0f} s"
    elif status.load_seconds is not None:
        details += f" · {status.load_seconds:.1f} s"
    return f"<b>{t(f'state_{status.state.value}_backend', lang)}</b> — {html.escape(details)}"


def _status_line(status: EngineStatus, lang: str) -> str:
    """This process's model, in words: which model, on what, and how long it took."""
    state = status.state.value
    words = {
        "model": model_words(status.model, status.demo, lang),
        "device": device_words(status.device, lang),
        "dtype": status.dtype,
    }
    if state == "loading":
        line = t("status_loading", lang).format(**words, seconds=f"{status.elapsed_s:.0f}")
    else:
        line = t(f"status_{state}", lang).format(**words)
    if state == "ready" and status.load_seconds is not None:
        line += t("status_loaded_in", lang).format(seconds=f"{status.load_seconds:.1f}")
    return f"<b>{html.escape(line)}</b>"


def status_html(engine: AnalysisEngine, lang: str) -> str:
    status = engine.status()
    remote = status.backend is not None
    body = _backend_line(status, lang) if remote else _status_line(status, lang)
    if status.error:
        hint = t("failed_hint_backend" if remote else "failed_hint", lang)
        body += f"<br>{html.escape(status.error)}<br>{hint}"
    return f'<div class="e2v-status" data-state="{status.state.value}">{body}</div>'


def title_line(words: str, demo: bool, lang: str) -> str:
    """A card's first line (which file, which window), with a badge when the demo model's
    random weights made the result."""
    badge = f'<span class="e2v-badge">{t("demo_badge", lang)}</span>' if demo else ""
    return f'<div class="e2v-file">{html.escape(words)}{badge}</div>'


def _file_line(prediction: Prediction, lang: str) -> str:
    words = t("result_for", lang).format(name=prediction.audio.name)
    return title_line(words, prediction.model.demo, lang)


def _warning_list(warnings: list[str], lang: str) -> str:
    if not warnings:
        return ""
    items = "".join(f"<li>{html.escape(w)}</li>" for w in warnings)
    return f'<div class="e2v-warnings"><b>⚠️ {t("warnings", lang)}</b><ul>{items}</ul></div>'


def is_silent(prediction: Prediction) -> bool:
    """No speech to read an emotion from: the card says so, and no scores are drawn."""
    return any(w.startswith(SILENT) for w in prediction.warnings)


def card_frame(body: str, colour: str, emoji: str, attributes: str, classes: str = "") -> str:
    """The box every card is drawn in: a big emoji beside the words, edged in a colour;
    `attributes` (data-*) say what it shows, for the page's tests and scripts."""
    return (
        f'<div class="e2v-card{classes}" {attributes} style="--e2v-colour:{colour}">'
        f'<div class="e2v-emoji">{emoji}</div><div>{body}</div></div>'
    )


def emotion_card_html(
    emotion: Emotion,
    confidence: float,
    title: str,
    lang: str,
    attributes: str = "",
    extra: str = "",
) -> str:
    """An emotion and its confidence under a title line: a result's, or a live window's."""
    names = f"{emotion.zh} · {emotion.en}" if lang == "zh" else f"{emotion.en} · {emotion.zh}"
    body = (
        f'{title}<div class="e2v-label">{html.escape(names)}</div>'
        f"<div>{t('confidence', lang)} {confidence:.1%}</div>{extra}"
    )
    data = f'data-emotion="{html.escape(emotion.key)}" {attributes}'.strip()
    return card_frame(body, emotion.colour, emotion.emoji, data)


def no_speech_card_html(
    title: str, hint: str, lang: str, attributes: str = "", extra: str = ""
) -> str:
    """No speech, so no emotion: never a made-up one for silence."""
    body = f'{title}<div class="e2v-label">{t("no_speech", lang)}</div><div>{hint}</div>{extra}'
    return card_frame(body, "#888", "🔇", f'data-state="no-speech" {attributes}'.strip())


def card_html(prediction: Prediction, lang: str) -> str:
    """The result card: the file, its emotion and confidence (or that it has no speech),
    and every warning the analysis gave."""
    others = [w for w in prediction.warnings if not w.startswith(SILENT)]
    warnings = _warning_list(others, lang)
    title = _file_line(prediction, lang)
    if is_silent(prediction):  # the hint says so in `lang`
        return no_speech_card_html(title, t("no_speech_hint", lang), lang, extra=warnings)
    return emotion_card_html(prediction.emotion, prediction.confidence, title, lang, extra=warnings)


def error_card_html(name: str | None, reason: str, lang: str) -> str:
    """Where the result would be: which file failed, why, and what to do."""
    title = t("error_title", lang).format(name=name) if name else t("error_no_file", lang)
    body = (
        f'<div class="e2v-label">{html.escape(title)}</div>'
        f'<div class="e2v-reason">{html.escape(reason)}</div><div>{t("error_hint", lang)}</div>'
    )
    return card_frame(body, "#c0392b", "⛔", 'data-state="error"', " e2v-error")


def emoji_html(emotion: Emotion) -> str:
    """An emotion's emoji in a colour emoji font; where the browser has none, the page's
    script turns it into a dot in the emotion's colour (assets.EMOJI_JS)."""
    return (
        f'<span class="e2v-emo" style="--e2v-colour:{emotion.colour}" aria-hidden="true">'
        f"{html.escape(emotion.emoji)}</span>"
    )


def score_bars_html(emotions: Sequence[Emotion], probs: Sequence[float], lang: str) -> str:
    """Every emotion's score as a row, in the model's label order: its emoji and name, a bar
    in its colour, the percentage. Rows of a grid, so labels never collide at any width."""
    rows = "".join(
        f'<div class="e2v-bar" data-emotion="{html.escape(emotion.key)}" '
        f'data-score="{float(p):.4f}" style="--e2v-colour:{emotion.colour}">'
        f'<span class="e2v-bar-name">{emoji_html(emotion)} '
        f"{html.escape(emotion.zh if lang == 'zh' else emotion.en)}</span>"
        f'<span class="e2v-bar-track"><span class="e2v-bar-fill" '
        f'style="width:{100 * float(p):.2f}%"></span></span>'
        f'<span class="e2v-bar-value">{float(p):.1%}</span></div>'
        for emotion, p in zip(emotions, probs, strict=True)
    )
    title = html.escape(t("scores", lang))
    return (
        f'<div class="e2v-bars" role="figure" aria-label="{title}">'
        f'<div class="e2v-bars-title">{title}</div><div class="e2v-bar-rows">{rows}</div></div>'
    )


def _run_line(run: RunFolder | None, lang: str) -> str:
    """The run by its id (the folder's name) and its downloads' names: a browser user has no
    use for the server's path, and should not see it."""
    if run is None:
        return t("log_no_run", lang)
    files = ", ".join(p.name for p in run.files)
    return t("log_run", lang).format(run=run.path.name, files=files)


def _step_word(step: str, lang: str) -> str:
    return t(f"step_{step}", lang) if f"step_{step}" in TEXT else step


def processing_log(prediction: Prediction, run: RunFolder | None, lang: str) -> str:
    info, timings, model = prediction.audio, prediction.timings_ms, prediction.model
    file_line = t("log_file", lang).format(
        name=info.name, format=info.format, rate=info.sample_rate, channels=info.channels,
        duration=f"{info.duration_s:.2f}",
    )  # fmt: skip
    lines = [
        file_line,
        " | ".join(
            f"{_step_word(step, lang)} {ms:.1f} ms"
            for step, ms in timings.items()
            if step != "wait"
        ),
        t("log_model", lang).format(
            model=model_words(model.id, model.demo, lang),
            device=device_words(model.device, lang),
            dtype=model.dtype,
        ),
        _run_line(run, lang),
    ]
    if prediction.segments is not None:
        segments = prediction.segments
        count_line = t("log_segments", lang).format(count=len(segments), method=segments.method)
        lines.insert(2, count_line)
    lines += [t("log_warning", lang).format(warning=w) for w in prediction.warnings]
    return "\n".join(lines)


def code_snippet(name: str, options: AnalysisOptions, page_url: str) -> str:
    """This analysis as code: the gradio_client call of this server, then the same analysis,
    every option as chosen, with the Python API."""
    file = repr(name)
    subset = f"    {list(options.emotions)!r},  # emotions\n" if options.emotions else ""
    split = ""
    if options.split:  # after the emotions, as /analyze_batch takes them
        names = ",".join(options.channel_names or ())
        emotions_line = subset or "    None,  # emotions\n"
        split = f"{emotions_line}    'split',  # channels\n"
        split += f"    {names!r},  # channel_names\n" if names else ""
    if options.segmentation == "auto" and not subset and not split:
        call = (
            f"result, embedding = client.predict(\n    handle_file({file}),\n"
            f"    {options.granularity!r},  # granularity\n"
            f"    {options.extract_embedding!r},  # extract_embedding\n"
            '    api_name="/analyze",\n)'
        )
    else:  # /analyze keeps its three inputs: segmentation and emotions are /analyze_batch's
        call = (
            f"[result], files = client.predict(\n    [handle_file({file})],\n"
            f"    {options.granularity!r},  # granularity\n"
            f"    {options.extract_embedding!r},  # extract_embedding\n"
            f"    {options.segmentation!r},  # segmentation\n{split or subset}"
            '    api_name="/analyze_batch",\n)'
        )
    emotions = f", emotions={options.emotions!r}" if options.emotions else ""
    if options.split:
        emotions += f", channels='split', channel_names={options.channel_names!r}"
    smoothing = ""
    if options.granularity == "frame" and options.smooth_s:
        smoothing = f"  # the API's frames are unsmoothed; smoothing {options.smooth_s:g} s below\n"
    return (
        "# pip install gradio_client\n"
        "from gradio_client import Client, handle_file\n\n"
        f"client = Client({page_url!r})\n{call}\n{smoothing}\n"
        "# or in Python, without a server (pip install the emotion2vec_app project):\n"
        "from emotion2vec_app import AnalysisOptions, Engine\n\n"
        "engine = Engine()  # iic/emotion2vec_plus_large\n"
        f"prediction = engine.analyze({file}, AnalysisOptions({options.granularity!r}, "
        f"{options.extract_embedding!r}, {options.smooth_s:g}, {options.segmentation!r}"
        f"{emotions}))\n"
        "print(prediction.to_json())\n"
    )


def clock(seconds: float) -> str:
    """m:ss.s, or h:mm:ss for an hour and more."""
    # Round to tenths before splitting, so 59.96 s reads 1:00.0, never 0:60.0.
    minutes, tenths = divmod(round(float(seconds) * 10), 600)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{tenths // 10:02d}"
    return f"{minutes}:{tenths / 10:04.1f}"


@dataclass(frozen=True)
class Lane:
    """One strip of the segment view: a recording's segments, or one channel's, with the
    audio its blocks play."""

    timeline: SegmentTimeline
    name: str | None = None  # a split channel's; None for the one strip of a mix
    audio_url: str | None = None


def lanes_of(prediction: Prediction, audio_urls: Sequence[str | None]) -> list[Lane]:
    """A split recording's channels, each with its own audio (`audio_urls` in the channels'
    order), else the recording's one timeline with the first audio."""
    if prediction.channels is None:
        return [Lane(prediction.segments, None, audio_urls[0] if audio_urls else None)]
    return [
        Lane(c.segments, c.name, audio_urls[i] if i < len(audio_urls) else None)
        for i, c in enumerate(prediction.channels)
    ]


def _blocks(timeline: SegmentTimeline, start_s: float, end_s: float, lang: str) -> str:
    """Each segment a block in its emotion's colour, where it is on [start_s, end_s]."""
    span = end_s - start_s
    blocks = []
    for start, end, emotion, probs in zip(
        timeline.start_s, timeline.end_s, timeline.top, timeline.probs, strict=True
    ):
        tip = f"{clock(start)}–{clock(end)} {emotion_label(emotion, lang)} {probs.max():.0%}"
        left, width = 100 * (start - start_s) / span, 100 * (end - start) / span
        blocks.append(
            f'<div class="e2v-seg" data-emotion="{html.escape(emotion.key)}" '
            f'data-start="{start:.2f}" data-end="{end:.2f}" title="{html.escape(tip)}" '
            f'style="left:{left:.3f}%;width:{width:.3f}%;background:{emotion.colour}"></div>'
        )
    return "".join(blocks)


def _lane_html(lane: Lane, start_s: float, end_s: float, lang: str) -> str:
    """A strip, under its channel's name when split; a channel without speech says so. Its
    audio rides on it, for the page's script to play its segments."""
    src = f' data-src="{html.escape(lane.audio_url)}"' if lane.audio_url else ""
    strip = f'<div class="e2v-strip" title="{clock(end_s)}">'
    strip += f"{_blocks(lane.timeline, start_s, end_s, lang)}</div>"
    if lane.name is None:
        return f'<div class="e2v-lane"{src}>{strip}</div>'
    quiet = "" if len(lane.timeline) else (
        f'<span class="e2v-lane-note">{t("channel_no_speech", lang)}</span>'
    )  # fmt: skip
    name = html.escape(lane.name)
    return (
        f'<div class="e2v-lane" data-name="{name}"{src}><div class="e2v-lane-name">'
        f"<b>{name}</b>{quiet}</div>{strip}</div>"
    )


def segment_strip_html(
    lanes: Sequence[Lane], duration_s: float, lang: str, start_s: float = 0.0
) -> str:
    """The recording as a bar per lane on one time axis, each segment a block in its
    emotion's colour; with audio, a click on a block (or a table row) plays that segment.
    The axis runs from `start_s` (a live view's last minute) to `duration_s`."""
    legend = " ".join(
        f'<span class="e2v-legend" style="--e2v-colour:{e.colour}">'
        f"{html.escape(emotion_label(e, lang))}</span>"
        for e in dict.fromkeys(e for lane in lanes for e in lane.timeline.top)
    )
    first_url = next((lane.audio_url for lane in lanes if lane.audio_url), None)
    player = ""
    if first_url:
        player = (
            f'<div class="e2v-player"><span>{t("play_hint", lang)}</span>'
            f'<audio id="e2v-player" controls preload="auto" '
            f'src="{html.escape(first_url)}"></audio></div>'
        )
    strips = "".join(_lane_html(lane, start_s, duration_s, lang) for lane in lanes)
    axis = f"<span>{clock(start_s)}</span><span>{clock(duration_s)}</span>"
    return f'{strips}<div class="e2v-strip-axis">{axis}</div><div>{legend}</div>{player}'


MAX_CHANGES_LISTED = 8  # a split summary's merged changes: the table has every segment


def summary_markdown(
    timeline: SegmentTimeline,
    duration_s: float,
    lang: str,
    channels: list[ChannelTimeline] | None = None,
) -> str:
    """Segments, speech and the dominant emotions; for split channels, who talked how long,
    how long both did, and each one's emotion changes (a merged timeline's are not a
    speaker's: they count each channel's own)."""
    summary = timeline.summary()
    dominant = emotion_label(emotion_for_token(summary["dominant"]), lang)
    shares = sorted(summary["distribution"].items(), key=lambda kv: -kv[1])[:3]
    top3 = ", ".join(f"{emotion_label(emotion_for_token(k), lang)} {p:.0%}" for k, p in shares)
    split = channels_summary(channels) if channels is not None else None
    changes = split["changes"] if split else summary["changes"]
    text = t("summary", lang).format(
        segments=summary["segments"],
        speech=clock(summary["speech_s"]),
        duration=clock(duration_s),
        dominant=dominant,
        top=top3,
        changes=len(changes),
        method=timeline.method,
    )
    return text + _channels_lines(split, lang) if split else text


def _channels_lines(split: dict[str, Any], lang: str) -> str:
    """Talk time per channel and overlap; emotion changes per channel, then the first of
    them in time order, each with whose it is."""
    talk = ", ".join(f"{name} {clock(s)}" for name, s in split["talk_s"].items())
    counts = ", ".join(
        t("changes_count", lang).format(name=name, count=count)
        for name, count in split["changes_per_channel"].items()
    )
    listed = [
        f"{clock(c['time_s'])} {c['channel']}: {_label(c['from'], lang)} → {_label(c['to'], lang)}"
        for c in split["changes"][:MAX_CHANGES_LISTED]
    ]
    more = " …" if len(split["changes"]) > MAX_CHANGES_LISTED else ""
    return (
        "  \n" + t("summary_talk", lang).format(talk=talk, overlap=clock(split["overlap_s"]))
        + "  \n" + t("summary_channel_changes", lang).format(changes=counts)
        + "".join(f"  \n· {line}" for line in listed) + more
    )  # fmt: skip


def _label(key: str, lang: str) -> str:
    return emotion_label(emotion_for_token(key), lang)


def segment_frame(
    timeline: SegmentTimeline, lang: str, channel_names: list[str] | None = None
) -> pd.DataFrame:
    """The segment table: one row per segment, in time order, with each one's channel when
    split. No "#" column: the start says which, and four columns fit a phone."""
    channel = {t("col_channel", lang): channel_names} if channel_names is not None else {}
    return pd.DataFrame(
        {
            t("col_start", lang): [clock(s) for s in timeline.start_s],
            t("col_end", lang): [clock(e) for e in timeline.end_s],
            **channel,
            t("col_emotion", lang): [emotion_label(e, lang) for e in timeline.top],
            t("col_confidence", lang): [round(float(p.max()), 3) for p in timeline.probs],
        }
    )


def batch_summary_html(results: list[dict[str, Any]], lang: str) -> str:
    """Above the batch table: how many files failed, and each one's whole reason."""
    failed = [r for r in results if r.get("error")]
    total = len(results)
    if not failed:
        done = t("batch_all_done", lang).format(total=total)
        return f'<div class="e2v-batch-summary">✅ {html.escape(done)}</div>'
    items = "".join(
        f"<li><b>{html.escape(r['file'])}</b>: {html.escape(r['error'])}</li>" for r in failed
    )
    headline = t("batch_failed", lang).format(failed=len(failed), total=total)
    return (
        f'<div class="e2v-batch-summary" data-failed="{len(failed)}">'
        f"<b>⚠️ {html.escape(headline)}</b><ul>{items}</ul></div>"
    )


def batch_frame(results: list[dict[str, Any]], lang: str) -> pd.DataFrame:
    """The batch table: one row per file; a skipped file shows why."""
    rows = []
    for result in results:
        error = result.get("error")
        emotion = None if error else emotion_for_token(result["emotion"])
        rows.append(
            {
                t("col_file", lang): result["file"],
                t("col_emotion", lang): emotion_label(emotion, lang) if emotion else "—",
                t("col_confidence", lang): None if error else round(result["confidence"], 3),
                t("col_duration", lang): None if error else result["audio"]["duration_s"],
                t("col_segments", lang): result.get("summary", {}).get("segments", ""),
                t("col_error", lang): error or "",
            }
        )
    return pd.DataFrame(rows)
