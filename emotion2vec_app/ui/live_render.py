"""What the Live tab shows, as HTML and a chart: pure functions of a stream's updates.

The card says what the newest window holds; the strip and the chart show the last minute,
each update drawn from the update before it to its own end (speech only: silence is a gap);
the stats say how well the stream keeps up. The cards, the strip and the chart are the
single view's (render.py, charts.py), fed live updates. No gradio here.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from emotion2vec_app.engine.live import window_sizes
from emotion2vec_app.results import LiveStats, LiveUpdate, SegmentTimeline
from emotion2vec_app.ui import charts, render
from emotion2vec_app.ui.text import t

VIEW_S = 60.0  # the strip and the chart: the last minute
Problem = tuple[str, dict[str, Any]]  # a text key and its values: said in any language


@dataclass(frozen=True)
class LiveState:
    """One recording as the tab shows it: its updates so far, and why they stopped early."""

    updates: Sequence[LiveUpdate]
    window_s: float
    hop_s: float
    demo: bool  # the demo model's random weights: every card says so
    problem: Problem | None = None


def problem_words(problem: Problem, lang: str) -> str:
    key, values = problem
    return t(key, lang).format(**values)


def _state_card(
    emoji: str, label: str, lines: Sequence[str], state: str, demo: bool, lang: str
) -> str:
    """A card with no emotion in it: not recording, listening, stopped by a problem."""
    title = render.title_line("", demo, lang) if demo else ""
    text = "".join(f"<div>{html.escape(line)}</div>" for line in lines)
    body = f'{title}<div class="e2v-label">{html.escape(label)}</div>{text}'
    return render.card_frame(body, "#888", emoji, f'data-state="{state}" data-updates="0"')


def card_html(state: LiveState | None, lang: str) -> str:
    """The newest window's emotion and confidence, or that it holds no speech; before the
    first window, what is coming; after a problem, what it was and what still works. It
    carries the count of updates and the newest one's time (data-updates, data-t)."""
    if state is None:
        hint = [t("live_idle_hint", lang)]
        return _state_card("🎙️", t("live_idle", lang), hint, "idle", False, lang)
    if state.problem is not None:
        # What was recorded is kept for Stop: said when there was something to keep.
        lines = [problem_words(state.problem, lang)]
        lines += [t("live_error_hint", lang)] if state.updates else []
        return _state_card("⛔", t("live_error_title", lang), lines, "error", state.demo, lang)
    if not state.updates:
        hint = [t("live_listening_hint", lang).format(window=f"{state.window_s:g}")]
        return _state_card("👂", t("live_listening", lang), hint, "listening", state.demo, lang)
    last = state.updates[-1]
    words = t("live_window_title", lang).format(
        window=f"{last.window_s:g}", time=render.clock(last.t_s)
    )
    title = render.title_line(words, state.demo, lang)
    attributes = f'data-updates="{len(state.updates)}" data-t="{last.t_s:.2f}"'
    if last.emotion is None:
        return render.no_speech_card_html(title, t("live_no_speech_hint", lang), lang, attributes)
    return render.emotion_card_html(last.emotion, last.confidence, title, lang, attributes)


def recent(state: LiveState) -> tuple[SegmentTimeline, float, float]:
    """The speech of the last minute as segments, and the minute's span (the first minute's
    from 0, filling from the left): each update from the one before it to its own end."""
    updates = state.updates
    end = max(updates[-1].t_s, VIEW_S)
    start = end - VIEW_S
    starts = [updates[i - 1].t_s if i else u.t_s - state.hop_s for i, u in enumerate(updates)]
    shown = [(s, u) for s, u in zip(starts, updates, strict=True) if u.speech and u.t_s > start]
    emotions = updates[-1].emotions
    probs = np.array([u.probs for _, u in shown], np.float32).reshape(-1, len(emotions))
    starts_s, ends_s = np.array([s for s, _ in shown]), np.array([u.t_s for _, u in shown])
    return SegmentTimeline("live", emotions, starts_s, ends_s, probs), start, end


def stretches(timeline: SegmentTimeline) -> SegmentTimeline:
    """Back-to-back windows of one emotion as one segment, with their mean scores: a
    strip of whole blocks, no seam at every hop."""
    if not len(timeline):
        return timeline
    top = timeline.probs.argmax(axis=1)
    breaks = (top[1:] != top[:-1]) | (timeline.start_s[1:] > timeline.end_s[:-1])
    first = np.flatnonzero(np.concatenate([[True], breaks]))
    last = np.append(first[1:], len(top)) - 1
    probs = [timeline.probs[a : b + 1].mean(axis=0) for a, b in zip(first, last, strict=True)]
    probs = np.array(probs, np.float32).reshape(-1, len(timeline.emotions))
    return SegmentTimeline(
        timeline.method, timeline.emotions, timeline.start_s[first], timeline.end_s[last], probs
    )


def strip_html(state: LiveState, lang: str) -> str:
    """The last minute as the single view's segment strip: a block per stretch of one
    emotion in its colour, a gap where nobody spoke."""
    if not state.updates:
        return ""
    timeline, start, end = recent(state)
    lane = render.Lane(stretches(timeline))
    return render.segment_strip_html([lane], end, lang, start_s=start)


def chart(state: LiveState, lang: str) -> dict[str, Any] | None:
    """Every emotion's score over the last minute, as the single view charts segments."""
    if not state.updates:
        return None
    timeline, start, end = recent(state)
    return charts.segment_chart(timeline, end, lang, start_s=start)


def stats_html(state: LiveState, lang: str) -> str:
    """How the stream keeps up: updates, the achieved hop against the one asked for, the
    latency from a chunk's arrival to its update, and the windows skipped to keep up."""
    stats = LiveStats.of(list(state.updates))
    if not stats.updates:
        return ""
    every = "—" if stats.achieved_hop_s is None else f"{stats.achieved_hop_s:.2f}"
    words = t("live_stats", lang).format(
        updates=stats.updates, every=every, hop=f"{state.hop_s:g}",
        p50=f"{stats.latency_p50_s * 1000:.0f}", p95=f"{stats.latency_p95_s * 1000:.0f}",
        skipped=stats.skipped,
    )  # fmt: skip
    return (
        f'<div class="e2v-live-stats" data-updates="{stats.updates}" '
        f'data-skipped="{stats.skipped}" title="{html.escape(t("live_skipped_hint", lang))}">'
        f"{html.escape(words)}</div>"
    )


def settings_problem(window_s: float, hop_s: float) -> Problem | None:
    """Why a window and hop cannot be used (the core's own check), or None."""
    try:
        window_sizes(window_s, hop_s)
    except ValueError as error:
        return "live_bad_settings", {"reason": str(error)}
    return None


def settings_html(window_s: float, hop_s: float, lang: str) -> str:
    """Under the sliders: what the window and hop do, or why they cannot be used."""
    problem = settings_problem(window_s, hop_s)
    if problem is not None:
        words = html.escape(problem_words(problem, lang))
        return f'<div class="e2v-live-settings" data-state="error">⚠️ {words}</div>'
    words = t("live_settings", lang).format(window=f"{window_s:g}", hop=f"{hop_s:g}")
    return f'<div class="e2v-live-settings">{html.escape(words)}</div>'
