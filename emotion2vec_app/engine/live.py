"""Live: the last few seconds of a stream re-scored at a steady hop.

emotion2vec scores utterances, so "live" is a rolling window: the last `window_s` seconds,
scored every `hop_s` seconds as an utterance of its own, through the engine's one analysis
(the same checks, the same passes, and turns at the model shared with every other request).

Windows end at `window_s`, `window_s + hop_s`, `window_s + 2 hop_s`, ... of stream time, and
only whole windows are scored: a stream of D seconds has floor((D - window_s) / hop_s) + 1 of
them, none when it is shorter than one window.

A live source (a microphone, a pipe) is read by a thread of its own while a window is scored.
When scoring is slower than the hop, the next window scored is the newest whole one: those in
between are skipped and counted, so the latency stays bounded instead of a backlog growing. A
source that is not live (a file read as fast as it decodes) gets every window, exactly as if
each were analysed offline.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from emotion2vec_app.audio import TARGET_RATE, InvalidSamples
from emotion2vec_app.options import AnalysisOptions
from emotion2vec_app.results import LiveUpdate

if TYPE_CHECKING:
    from emotion2vec_app.engine.interface import AnalysisEngine

DEFAULT_WINDOW_S = 3.0
DEFAULT_HOP_S = 0.5
WINDOW_RANGE_S = (1.0, 30.0)  # one utterance: long enough to judge, short enough for one pass
MIN_HOP_S = 0.1


def window_sizes(window_s: float, hop_s: float) -> tuple[int, int]:
    """The window and the hop in samples, after checking them."""
    low, high = WINDOW_RANGE_S
    if not low <= window_s <= high:
        raise ValueError(f"the window must be {low:g} to {high:g} s, not {window_s:g} s")
    if not MIN_HOP_S <= hop_s <= window_s:
        raise ValueError(
            f"the hop must be {MIN_HOP_S:g} s to the window ({window_s:g} s), not {hop_s:g} s"
        )
    return round(window_s * TARGET_RATE), round(hop_s * TARGET_RATE)


def window_count(duration_s: float, window_s: float, hop_s: float) -> int:
    """How many windows a stream of `duration_s` seconds has (the edge rule above)."""
    window, hop = window_sizes(window_s, hop_s)
    samples = round(duration_s * TARGET_RATE)
    return 0 if samples < window else (samples - window) // hop + 1


def updates(
    engine: AnalysisEngine,
    chunks: Iterable[np.ndarray],
    window: int,
    hop: int,
    options: AnalysisOptions,
    live: bool,
    timeout: float | None,
) -> Iterator[LiveUpdate]:
    """One LiveUpdate per hop (`window` and `hop` in samples) over 16 kHz mono float32
    `chunks` of any size. `live`: they arrive in real time, so skip to the newest window when
    behind; otherwise score every window of the recording."""
    engine.wait_ready(timeout)  # a source is read from a ready model: latency is not the load
    scorer = _Scorer(engine, window, options, timeout)
    received = _Received()
    source = _Reader(chunks, received) if live else _Puller(chunks, received)
    due = window
    try:
        while source.wait_for(due):
            end = due + (received.total - due) // hop * hop if live else due
            samples, arrived = received.window(end, window)
            received.forget_before(end + hop - window)
            yield scorer.score(samples, end, arrived, skipped=(end - due) // hop)
            due = end + hop
    finally:
        source.close()


class _Scorer:
    """A stream's windows as utterances; one without speech is not scored (silence is
    reported as silence). Speech is tracked across windows: each sample is heard once."""

    def __init__(
        self,
        engine: AnalysisEngine,
        window: int,
        options: AnalysisOptions,
        timeout: float | None,
    ) -> None:
        from emotion2vec_app.model.vad import SpeechTracker

        self.engine, self.window, self.options, self.timeout = engine, window, options, timeout
        self.speech = SpeechTracker()

    def score(self, samples: np.ndarray, end: int, arrived: float, skipped: int) -> LiveUpdate:
        started = time.perf_counter()
        begin = end - self.window
        heard = max(self.speech.position, begin)  # what the tracker has not heard yet
        self.speech.hear(samples[heard - begin :], heard)
        emotions = self.options.scored(self.engine.classes())
        probs = None
        if self.speech.has_speech(begin, end):  # silence is neither decoded nor scored
            prediction = self.engine.analyze(
                samples,
                self.options,
                sample_rate=TARGET_RATE,
                name=f"window at {end / TARGET_RATE:.2f} s",
                timeout=self.timeout,
            )
            emotions, probs = prediction.emotions, prediction.probs
        done = time.perf_counter()
        return LiveUpdate(
            t_s=end / TARGET_RATE,
            window_s=self.window / TARGET_RATE,
            speech=probs is not None,
            emotions=emotions,
            probs=probs,
            skipped=skipped,
            latency_s=done - arrived,
            inference_s=done - started,
            done_at=done,
        )


class _Received:
    """The newest samples of a stream, enough for its next window, and when each arrived."""

    def __init__(self) -> None:
        self.total = 0  # samples received since the start
        self.finished = False
        self.error: BaseException | None = None
        self.changed = threading.Condition()
        self._chunks: deque[tuple[int, np.ndarray, float]] = deque()  # (start, samples, arrival)

    def add(self, chunk: np.ndarray) -> None:
        samples = _as_samples(chunk)
        with self.changed:
            if len(samples):
                self._chunks.append((self.total, samples, time.perf_counter()))
                self.total += len(samples)
            self.changed.notify_all()

    def finish(self, error: BaseException | None = None) -> None:
        with self.changed:
            self.finished, self.error = True, error
            self.changed.notify_all()

    def window(self, end: int, length: int) -> tuple[np.ndarray, float]:
        """Samples [end - length, end), and when the chunk that completed them arrived."""
        with self.changed:
            start = end - length
            parts, arrived = [], 0.0
            for first, samples, arrival in self._chunks:
                last = first + len(samples)
                if last > start and first < end:
                    parts.append(samples[max(start - first, 0) : end - first])
                if first < end <= last:
                    arrived = arrival
            return np.concatenate(parts), arrived

    def forget_before(self, start: int) -> None:
        with self.changed:
            while self._chunks and self._chunks[0][0] + len(self._chunks[0][1]) <= start:
                self._chunks.popleft()


def _as_samples(chunk: np.ndarray) -> np.ndarray:
    samples = np.asarray(chunk, dtype=np.float32)
    if samples.ndim == 2 and samples.shape[1] == 1:
        samples = samples[:, 0]
    if samples.ndim != 1:
        raise ValueError(
            f"a live chunk must be 16 kHz mono samples of shape (n,), not {samples.shape}"
        )
    if not np.isfinite(samples).all():
        raise InvalidSamples("a live chunk contains NaN or infinite samples")
    return samples


class _Puller:
    """A recording read on demand: every window is scored, none skipped."""

    def __init__(self, chunks: Iterable[np.ndarray], received: _Received) -> None:
        self._chunks = iter(chunks)
        self._received = received

    def wait_for(self, total: int) -> bool:
        """Read until `total` samples are in; False when the recording ends first."""
        while self._received.total < total:
            chunk = next(self._chunks, None)
            if chunk is None:
                return False
            self._received.add(chunk)
        return True

    def close(self) -> None:
        pass


class _Reader:
    """A live source read by a thread of its own, so chunks keep arriving while a window is
    scored, and the oldest ones no window will need again are dropped as they do."""

    def __init__(self, chunks: Iterable[np.ndarray], received: _Received) -> None:
        self._received = received
        self._closed = threading.Event()
        self._thread = threading.Thread(
            target=self._read, args=(chunks,), name="e2v-live-reader", daemon=True
        )
        self._thread.start()

    def _read(self, chunks: Iterable[np.ndarray]) -> None:
        try:
            for chunk in chunks:
                if self._closed.is_set():
                    break
                self._received.add(chunk)
        except BaseException as error:  # the source's failure is the stream's, raised there
            self._received.finish(error)
        else:
            self._received.finish()

    def wait_for(self, total: int) -> bool:
        received = self._received
        with received.changed:
            received.changed.wait_for(lambda: received.total >= total or received.finished)
            if received.error is not None:
                raise received.error
            return received.total >= total

    def close(self) -> None:
        self._closed.set()
