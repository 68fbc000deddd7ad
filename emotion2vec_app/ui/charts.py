"""The WebUI's charts of scores over time: Vega-Lite specs, built with Altair, for gr.Plot.

Pure functions of results; no gradio here. Unlike gr.LinePlot, they keep every legend label
whole (below the chart, in as many columns as fit), end the time axis at the recording's
end, fit a phone's width, and break their lines where a segmented recording has no speech.

Altair builds and checks the chart; its points go into the spec afterwards, as Altair's
check of 600 rows of 9 scores costs half a second on two cores. Altair is imported when a
chart is first made, so the page's start does not wait for it.
"""

from __future__ import annotations

import copy
import functools
import json
from typing import TYPE_CHECKING, Any

import numpy as np

from emotion2vec_app.ui.render import emotion_label
from emotion2vec_app.ui.text import t

if TYPE_CHECKING:
    from emotion2vec_app.labels import Emotion
    from emotion2vec_app.results import FrameTimeline, SegmentTimeline

TIMELINE_POINTS = 600  # per emotion: enough for the eye, light for the browser
HEIGHT_PX = 200
LEGEND_COLUMN_PX = 80  # one legend entry, "😲 Surprised" and its symbol: as many as fit
SEGMENT_JOIN_S = 0.05  # segments closer than this are one stretch of speech, one line
# An emoji-only face first (assets.CSS: the colour emoji fonts, for emoji only), then the
# page's font (Gradio's default theme): labels get colour emoji and the page's letters.
FONT = '"E2V Emoji", "Source Sans Pro", ui-sans-serif, system-ui, sans-serif'


def timeline_chart(frames: FrameTimeline, duration_s: float, lang: str) -> dict[str, Any]:
    """Each emotion's score per frame: one line piece per stretch of back-to-back frames
    (a segmented recording's frames have gaps where there is no speech)."""
    starts = frames.start_s
    runs = frames.runs()  # the stretches smoothing stays inside, too
    pieces = np.repeat(np.arange(len(runs)), [run.stop - run.start for run in runs])
    # Every TIMELINE_POINTS-th frame, and each piece's first and last: no piece is lost.
    keep = np.zeros(len(starts), bool)
    keep[:: max(1, -(-len(starts) // TIMELINE_POINTS))] = True
    for run in runs:
        keep[[run.start, run.stop - 1]] = True
    rows = [_row(starts[i], pieces[i], frames.probs[i]) for i in np.flatnonzero(keep)]
    return _chart(rows, frames.emotions, (0.0, duration_s), lang)


def segment_chart(
    timeline: SegmentTimeline, duration_s: float, lang: str, start_s: float = 0.0
) -> dict[str, Any]:
    """Each emotion's score per segment, level from the segment's start to its end; lines
    join adjacent segments only, never across a pause. The time axis runs from `start_s`
    (a live view's last minute) to `duration_s`."""
    pieces = _pieces(timeline.start_s[1:] - timeline.end_s[:-1], SEGMENT_JOIN_S)
    stride = max(1, -(-2 * len(timeline) // TIMELINE_POINTS))
    rows = [
        _row(time, pieces[i], timeline.probs[i])
        for i in range(0, len(timeline), stride)
        for time in (timeline.start_s[i], timeline.end_s[i])
    ]
    return _chart(rows, timeline.emotions, (start_s, duration_s), lang)


def _pieces(gaps: np.ndarray, join: float) -> np.ndarray:
    """Which line piece each segment is on, from the pauses between segments: a pause over
    `join` starts the next piece."""
    return np.concatenate([[0], np.cumsum(gaps > join)]).astype(int)


def _row(time: float, piece: int, probs: np.ndarray) -> dict[str, Any]:
    """One point of every emotion's line, wide: score i under "s{i}"; the chart folds them."""
    return {
        "time_s": round(float(time), 3),
        "piece": int(piece),
        **{f"s{i}": round(float(p), 4) for i, p in enumerate(probs)},
    }


def _chart(
    rows: list[dict[str, Any]],
    emotions: tuple[Emotion, ...],
    span_s: tuple[float, float],
    lang: str,
) -> dict[str, Any]:
    """The Vega-Lite spec of one line per emotion and piece over the time span `span_s`."""
    spec = copy.deepcopy(_skeleton(emotions, lang))
    spec["encoding"]["x"]["scale"]["domain"] = [round(float(s), 3) for s in span_s]
    return {**spec, "data": {"values": rows}}


@functools.lru_cache(maxsize=32)
def _skeleton(emotions: tuple[Emotion, ...], lang: str) -> dict[str, Any]:
    """The chart without its points and its time span: built once per classes and language
    (Altair takes ~40 ms on two cores; the Live tab redraws its chart every hop)."""
    import altair as alt

    labels = [emotion_label(e, lang) for e in emotions]
    columns = [f"s{i}" for i in range(len(emotions))]
    label_of_column = f"{json.dumps(labels, ensure_ascii=False)}[toNumber(slice(datum.key, 1))]"
    legend = alt.Legend(
        title=None, orient="bottom", labelLimit=0, labelFontSize=11, symbolType="stroke",
        symbolStrokeWidth=3, symbolSize=120, rowPadding=3, columnPadding=8,
        columns=alt.ExprRef(f"max(1, min({len(labels)}, floor(width / {LEGEND_COLUMN_PX})))"),
    )  # fmt: skip
    x = alt.X(
        "time_s:Q",
        title=t("time_axis", lang),
        scale=alt.Scale(domain=[0, 1], nice=False, zero=True),  # _chart sets the span
        axis=alt.Axis(tickCount=alt.ExprRef("ceil(width / 70)")),  # a label every ~70 px
    )
    y = alt.Y(
        "score:Q", title=t("score_axis", lang), scale=alt.Scale(domain=[0, 1]),
        axis=alt.Axis(format="%", tickCount=5),
    )  # fmt: skip
    colour = alt.Color(
        "emotion:N", legend=legend,
        scale=alt.Scale(domain=labels, range=[e.colour for e in emotions]),
    )  # fmt: skip
    chart = (
        alt.Chart(alt.Data(values=[]))
        .transform_fold(columns, as_=["key", "score"])
        .transform_calculate(emotion=label_of_column)
        .mark_line(strokeWidth=1.5, clip=True, aria=False)  # thousands of points: no labels
        .encode(x=x, y=y, color=colour, detail="piece:N")
        .properties(
            width="container",
            height=HEIGHT_PX,
            background="transparent",  # the block's, light or dark; the page's CSS colours text
            autosize=alt.AutoSizeParams(type="fit-x", contains="padding"),
            # SVG: the page's CSS can colour its text, and tests can read it.
            usermeta={"embedOptions": {"renderer": "svg", "actions": False}},
        )
        .configure(font=FONT)
        .configure_axis(labelFontSize=11, titleFontSize=12, titleFontWeight="normal")
        .configure_view(stroke=None)
    )
    spec = chart.to_dict()
    # Gradio's page compiles with its own Vega-Lite (5.x): no $schema, no version warning.
    del spec["$schema"]
    return spec
