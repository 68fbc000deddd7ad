"""Cut long audio into speech segments the model can take one at a time.

Attention memory grows with the square of a clip's length, and the classifier head was
trained on utterances, so a call or a counselling session is analysed sentence by sentence.
Silero VAD (the pip package ships its weights: nothing is downloaded) finds the speech; fixed
windows are the fallback when it is not installed, finds no speech, or is not wanted.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from emotion2vec_app.audio import TARGET_RATE
from emotion2vec_app.progress import Progress

log = logging.getLogger("emotion2vec_app")

METHODS = ("vad", "fixed")
MAX_SEGMENT_S = 20.0  # longer speech is split at its longest pause (Silero's rule)
WINDOW_S = 10.0  # fixed windows
MIN_TAIL_S = 2.0  # a last fixed window shorter than this joins the one before
VAD_THRESHOLD = 0.5
MIN_SPEECH_MS = 250
MIN_SILENCE_MS = 300  # a pause this long ends a sentence
SPEECH_PAD_MS = 100
SILERO_WINDOW = 512  # samples Silero hears at a time at 16 kHz


@dataclass(frozen=True)
class Span:
    """Samples [start, end) of the 16 kHz waveform."""

    start: int
    end: int

    @property
    def start_s(self) -> float:
        return self.start / TARGET_RATE

    @property
    def end_s(self) -> float:
        return self.end / TARGET_RATE

    @property
    def duration_s(self) -> float:
        return (self.end - self.start) / TARGET_RATE


@dataclass(frozen=True)
class Segmentation:
    method: str  # what actually cut the audio: "vad" or "fixed"
    spans: list[Span]
    warnings: list[str] = field(default_factory=list)


def fixed_windows(num_samples: int, window_s: float = WINDOW_S) -> list[Span]:
    """Back-to-back windows covering everything; a short tail joins the window before it."""
    window = int(window_s * TARGET_RATE)
    starts = list(range(0, num_samples, window))
    if len(starts) > 1 and num_samples - starts[-1] < MIN_TAIL_S * TARGET_RATE:
        starts.pop()
    ends = [*starts[1:], num_samples]
    return [Span(start, end) for start, end in zip(starts, ends, strict=True)]


class _SileroVad:
    """The VAD network, loaded once per process; one caller at a time (it keeps state)."""

    def __init__(self) -> None:
        import torch

        threads = torch.get_num_threads()
        from silero_vad import load_silero_vad
        from silero_vad.utils_vad import get_speech_timestamps_from_probs

        # silero_vad sets torch to one thread at import; the emotion model needs them all.
        torch.set_num_threads(threads)
        self._model = load_silero_vad()
        self._segments_of = get_speech_timestamps_from_probs
        self._lock = threading.Lock()

    def speech(
        self,
        blocks: Iterable[np.ndarray],
        length: int,
        max_segment_s: float,
        progress: Progress | None,
    ) -> list[dict]:
        """Silero's get_speech_timestamps, fed a block at a time: its 32 ms windows in order
        from one state, then its own segment rules over their probabilities. The blocks can
        be made as they are heard (a channel's own speech), so no full-length copy exists."""
        import torch

        probabilities: list[float] = []
        whole_percents = -1
        with self._lock, torch.inference_mode():
            self._model.reset_states()
            for window in _windows(blocks):
                probabilities.append(self._model(torch.from_numpy(window), TARGET_RATE).item())
                heard = len(probabilities) * SILERO_WINDOW
                percent = int(100 * min(heard / max(length, 1), 1.0))
                if progress and percent > whole_percents:  # pass on whole percents
                    whole_percents = percent
                    progress(percent / 100, "Finding speech")
        return self._segments_of(
            probabilities,
            sampling_rate=TARGET_RATE,
            threshold=VAD_THRESHOLD,
            min_speech_duration_ms=MIN_SPEECH_MS,
            max_speech_duration_s=max_segment_s,
            min_silence_duration_ms=MIN_SILENCE_MS,
            speech_pad_ms=SPEECH_PAD_MS,
            audio_length_samples=length,
        )


def _windows(blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """Silero's 512-sample windows of the blocks' concatenation; the last padded with zeros."""
    pending = np.zeros(0, np.float32)
    for block in blocks:
        if len(pending):
            block = np.concatenate([pending, block])
        whole = len(block) // SILERO_WINDOW * SILERO_WINDOW
        yield from (block[i : i + SILERO_WINDOW] for i in range(0, whole, SILERO_WINDOW))
        pending = block[whole:]
    if len(pending):
        yield np.pad(pending, (0, SILERO_WINDOW - len(pending)))


@functools.lru_cache(maxsize=1)
def _vad() -> _SileroVad:
    return _SileroVad()


def load_vad() -> bool:
    """Load Silero VAD now; False when it is not installed (segments fall back then)."""
    try:
        _vad()
    except ImportError:
        return False
    return True


def vad_spans(
    samples: np.ndarray, max_segment_s: float = MAX_SEGMENT_S, progress: Progress | None = None
) -> list[Span]:
    """Speech segments found by Silero VAD, none longer than `max_segment_s`."""
    return vad_spans_of_blocks([samples], len(samples), max_segment_s, progress)


def vad_spans_of_blocks(
    blocks: Iterable[np.ndarray],
    length: int,
    max_segment_s: float = MAX_SEGMENT_S,
    progress: Progress | None = None,
) -> list[Span]:
    """vad_spans of the `length` samples the blocks make up, one block in memory at a time."""
    stamps = _vad().speech(blocks, length, max_segment_s, progress)
    return [Span(int(s["start"]), int(s["end"])) for s in stamps if s["end"] > s["start"]]


def segment(
    samples: np.ndarray,
    method: str = "vad",
    *,
    max_segment_s: float = MAX_SEGMENT_S,
    window_s: float = WINDOW_S,
    progress: Progress | None = None,
) -> Segmentation:
    """Spans to analyse one at a time; VAD falls back to fixed windows, with a warning why."""
    if method not in METHODS:
        raise ValueError(f"segmentation method must be one of {', '.join(METHODS)}, not {method!r}")
    if method == "vad":
        try:
            spans = vad_spans(samples, max_segment_s, progress)
        except ImportError:
            reason = "Silero VAD is not installed (pip install silero-vad)"
        else:
            if spans:
                return Segmentation("vad", spans)
            reason = "the voice activity detector found no speech"
        log.warning("Fixed windows instead of VAD: %s", reason)
        warning = f"{reason.capitalize()}: the audio was cut into fixed {window_s:g} s windows."
        return Segmentation("fixed", fixed_windows(len(samples), window_s), [warning])
    return Segmentation("fixed", fixed_windows(len(samples), window_s))


class SpeechTracker:
    """Whether a stream's newest seconds hold speech, for live windows.

    Running the VAD over a whole 3 s window at every 0.5 s hop would put each sample through
    it six times. Here Silero hears each 32 ms block once, in order, with a state of its own
    (one tracker per stream), and a window holds speech when at least MIN_SPEECH_MS of its
    blocks are over VAD_THRESHOLD: Silero's own thresholds, without its segment rules."""

    def __init__(self) -> None:
        import torch

        threads = torch.get_num_threads()
        from silero_vad import load_silero_vad

        torch.set_num_threads(threads)  # as in _SileroVad: the import may reset it
        self._model = load_silero_vad()
        self._model.reset_states()
        self.position = 0  # stream samples heard so far
        self._pending = np.zeros(0, np.float32)
        self._speech: list[tuple[int, bool]] = []  # (block end, over the threshold)

    def hear(self, samples: np.ndarray, start: int) -> None:
        """Stream samples [start, start + len); after a gap (windows skipped) the state is
        reset and the blocks before the gap forgotten."""
        import torch

        if start != self.position:
            self._model.reset_states()
            self._pending, self._speech = np.zeros(0, np.float32), []
            self.position = start
        base = self.position - len(self._pending)  # the stream sample of pending[0]
        pending = np.concatenate([self._pending, samples])
        whole = len(pending) // SILERO_WINDOW * SILERO_WINDOW
        with torch.inference_mode():
            for offset in range(0, whole, SILERO_WINDOW):
                block = torch.from_numpy(pending[offset : offset + SILERO_WINDOW])
                speech = self._model(block, TARGET_RATE).item() >= VAD_THRESHOLD
                self._speech.append((base + offset + SILERO_WINDOW, speech))
        self._pending = pending[whole:]
        self.position += len(samples)

    def has_speech(self, start: int, end: int) -> bool:
        """At least MIN_SPEECH_MS of speech blocks in stream samples [start, end)."""
        self._speech = [(e, s) for e, s in self._speech if e > start]  # older: never asked again
        blocks = sum(s for e, s in self._speech if e <= end)
        return blocks * SILERO_WINDOW * 1000 >= MIN_SPEECH_MS * TARGET_RATE
