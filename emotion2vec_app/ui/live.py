"""The Live tab's state: each browser session's recording and its stream, and the events.

A page's microphone sends a chunk every STREAM_EVERY_S. Its session (by Gradio's session
hash) keeps the whole recording (audio.LiveRecording) and feeds the new 16 kHz samples to a
thread of its own, which runs `engine.stream(..., live=True)` and keeps every update; each
chunk's event answers with the newest of them. Sessions share nothing but the engine, whose
turns at the model go in arrival order. Stop ends the stream and hands the whole recording
to the single view's analysis (Handlers.analyze_page): the same checks, run folder and files.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import gradio as gr
import numpy as np

from emotion2vec_app.audio import AudioError, AudioTooLong, LiveRecording
from emotion2vec_app.results import LiveUpdate
from emotion2vec_app.ui import live_render, render
from emotion2vec_app.ui.handlers import UI_WAIT_S, USER_ERRORS, Analysis, Failure, Handlers, plot
from emotion2vec_app.ui.live_render import LiveState, Problem
from emotion2vec_app.ui.text import t

if TYPE_CHECKING:
    from gradio.components import Component

    from emotion2vec_app.engine import AnalysisEngine
    from emotion2vec_app.progress import Progress
    from emotion2vec_app.ui.views import LiveResult, LiveShown

LIVE_MAX_S = 30 * 60.0  # one live recording, kept whole in memory (16 kHz: 115 MB)
STREAM_EVERY_S = 0.25  # how often the browser sends a chunk: the card is at most this late
STOP_WAIT_S = 30.0  # Stop lets a window being scored finish, up to this long
logger = logging.getLogger(__name__)


class LiveSession:
    """One page's live recording: the audio kept whole for Stop, and the updates of a
    stream of its own. A problem (audio refused, scoring failed) ends the updates; what
    was recorded before it stays, for Stop to analyse."""

    def __init__(
        self, engine: AnalysisEngine, window_s: float, hop_s: float, max_duration_s: float
    ) -> None:
        self.window_s, self.hop_s = window_s, hop_s
        self.max_duration_s = max_duration_s
        self.recording: LiveRecording | None = LiveRecording(max_duration_s=max_duration_s)
        self.updates: list[LiveUpdate] = []
        self.problem: Problem | None = None
        self.result: Analysis | Failure | None = None  # the analysis at Stop
        self._shown: tuple[int, Problem | None] = (0, None)  # what the page was last sent
        self._lock = threading.Lock()  # a late chunk against Stop's handover
        self._chunks: queue.SimpleQueue[np.ndarray | None] = queue.SimpleQueue()
        # engine.stream refuses a bad window or hop here, in the caller's thread.
        stream = engine.stream(self._source(), window_s, hop_s, live=True, timeout=UI_WAIT_S)
        self._thread = threading.Thread(
            target=self._score, args=(stream,), name="e2v-live-session", daemon=True
        )
        self._thread.start()

    def push(self, rate: int, samples: np.ndarray) -> None:
        """A browser chunk: kept, and its new 16 kHz samples handed to the stream."""
        with self._lock:
            if self.recording is None or self.problem is not None:
                return
            try:
                new = self.recording.add(rate, samples)
            except AudioTooLong:
                self._fail(("live_too_long", {"minutes": f"{self.max_duration_s / 60:g}"}))
                return
            except AudioError as error:  # the rate changed, a chunk is not audio
                self._fail(("live_audio_error", {"reason": str(error)}))
                return
        if len(new):
            self._chunks.put(new)

    @property
    def stopped(self) -> bool:
        return self.recording is None

    def stop(self) -> LiveRecording | None:
        """End the stream; the recording, handed over once (None when already stopped)."""
        with self._lock:
            recording, self.recording = self.recording, None
        self._chunks.put(None)
        self._thread.join(STOP_WAIT_S)
        return recording

    def state(self, demo: bool) -> LiveState:
        return LiveState(tuple(self.updates), self.window_s, self.hop_s, demo, self.problem)

    def news(self) -> tuple[bool, Problem | None]:
        """Whether there is something the page has not been sent yet, and the problem that
        ended the updates when it is new."""
        now = (len(self.updates), self.problem)
        before, self._shown = self._shown, now
        return now != before, self.problem if before[1] is None else None

    def _source(self) -> Iterator[np.ndarray]:
        while (chunk := self._chunks.get()) is not None:
            yield chunk

    def _score(self, stream: Iterator[LiveUpdate]) -> None:
        try:
            for update in stream:
                self.updates.append(update)
        except Exception as error:  # said on the page; a bug keeps its traceback in the log
            if not isinstance(error, USER_ERRORS):
                logger.exception("a live stream failed")
            self._fail(("live_stream_error", {"reason": str(error)}))

    def _fail(self, problem: Problem) -> None:
        """The first problem ends the updates; the stream's source is closed with it."""
        if self.problem is None:
            self.problem = problem
        self._chunks.put(None)


class LiveSessions:
    """Every open page's live session, by Gradio's session hash; one each, kept after Stop
    (its last minute and result still shown, and reworded) until the page records again or
    is closed."""

    def __init__(self, engine: AnalysisEngine, max_duration_s: float = LIVE_MAX_S) -> None:
        self._engine = engine
        limit = engine.max_duration_s
        self.max_duration_s = max_duration_s if limit is None else min(limit, max_duration_s)
        self._sessions: dict[str, LiveSession] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._sessions))

    def get(self, key: str) -> LiveSession | None:
        return self._sessions.get(key)

    def open(self, key: str, window_s: float, hop_s: float) -> LiveSession:
        """The page's session, started with this window and hop when it has none (a
        ValueError says why they cannot be used)."""
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                session = LiveSession(self._engine, window_s, hop_s, self.max_duration_s)
                self._sessions[key] = session
            return session

    def drop(self, key: str) -> None:
        """Forget the page's session (it records again, or is closed)."""
        with self._lock:
            session = self._sessions.pop(key, None)
        if session is not None:
            session.stop()


class LiveHandlers:
    """The Live tab's events, without their components (page.py wires those)."""

    def __init__(self, handlers: Handlers, sessions: LiveSessions) -> None:
        self.handlers = handlers
        self.sessions = sessions

    @property
    def demo(self) -> bool:
        return self.handlers.engine.status().demo

    def state(self, key: str) -> LiveState | None:
        session = self.sessions.get(key)
        return session.state(self.demo) if session else None

    def start(self, key: str, window_s: float, hop_s: float) -> LiveState:
        """Record pressed: the page's last session goes; a new one starts with the first
        chunk. What the card shows meanwhile: listening, or why the settings cannot be."""
        self.sessions.drop(key)
        problem = live_render.settings_problem(window_s, hop_s)
        return LiveState((), window_s, hop_s, self.demo, problem)

    def chunk(
        self, key: str, chunk: tuple[int, np.ndarray] | None, window_s: float, hop_s: float
    ) -> tuple[LiveState | None, Problem | None]:
        """A chunk into the page's session; what to show when there is something new (else
        None), and the problem that ended the updates when it is new (to say it aloud too).
        Bad settings were said at Record: their chunks are dropped."""
        try:
            session = self.sessions.open(key, window_s, hop_s)
        except ValueError:
            return None, None
        if chunk is not None:
            session.push(*chunk)
        changed, problem = session.news()
        return (session.state(self.demo) if changed else None), problem

    def stop(
        self, key: str, embedding: bool, progress: Progress, page_url: str | None
    ) -> LiveSession | None:
        """Stop pressed: the stream ends, and the whole recording is analysed as the single
        view analyses a file; the result (or why there is none) is kept on the session.
        None when the page never recorded."""
        session = self.sessions.get(key)
        recording = session.stop() if session else None
        if recording is None:
            return session
        try:
            waveform = recording.waveform()
            session.result = self.handlers.analyze_page(
                waveform, "utterance", 0.0, embedding, "auto", progress, page_url
            )
        except AudioError as error:  # too little recorded
            session.result = Failure(recording.name, str(error))
        except gr.Error as error:  # the model not ready, out of memory
            session.result = Failure(recording.name, error.message)
        return session

    def unload(self, key: str) -> None:
        self.sessions.drop(key)


def live_outputs(view: LiveShown, state: LiveState | None, lang: str) -> dict[Component, Any]:
    """The newest window's card, the stats and the last minute (its chart hidden until
    there is one)."""
    chart = live_render.chart(state, lang) if state else None
    return {
        view.card: live_render.card_html(state, lang),
        view.stats: live_render.stats_html(state, lang) if state else "",
        view.strip: live_render.strip_html(state, lang) if state else "",
        view.plot: gr.update(value=plot(chart), visible=chart is not None),
    }


def result_outputs(
    view: LiveResult, result: Analysis | Failure | None, stopped: bool, lang: str
) -> dict[Component, Any]:
    """The analysis at Stop: its card and files, and the way to the whole of it in the
    single view; hidden while recording, and before (`stopped`: Stop was pressed)."""
    if isinstance(result, Analysis):
        card, files = render.card_html(result.prediction, lang), result.downloads
    elif isinstance(result, Failure):
        card, files = render.error_card_html(result.name, result.reason, lang), None
    else:
        card, files = render.error_card_html(None, t("live_nothing", lang), lang), None
    return {
        view.box: gr.update(visible=stopped),
        view.card: card if stopped else "",
        view.downloads: files if stopped else None,
        view.open: gr.update(visible=isinstance(result, Analysis)),
    }
