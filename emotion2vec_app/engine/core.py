"""The one analysis core: every engine, and through them every front end, analyses here.

Single files, file batches, the WebUI, the CLI, Ray Data and Ray Serve all reach
`AnalysisCore.analyze_batch`, so a recording gets the same checks, the same grouping into
padded passes and the same out-of-memory handling wherever it is sent. An engine supplies
only how the model is reached: one pass over a group of short clips, and one segmented
recording.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

import numpy as np

from emotion2vec_app.audio import AudioError, Waveform, decode_audio
from emotion2vec_app.engine import live as rolling
from emotion2vec_app.engine.interface import (
    DEFAULT_WAIT_S,
    AudioSource,
    Outcome,
    OutOfMemory,
    Progress,
)
from emotion2vec_app.labels import EMOTIONS, Emotion
from emotion2vec_app.options import AnalysisOptions
from emotion2vec_app.results import LiveUpdate, Prediction

MAX_BATCH_SAMPLES = 16 * 15 * 16000  # padded audio in one pass: 16 clips of 15 s
INPUT_ERRORS = (AudioError, OutOfMemory)  # what fails one input, never its batch

Item = TypeVar("Item")
Result = TypeVar("Result")


def plan_batches(
    lengths: Sequence[int],
    *,
    max_batch_size: int = 16,
    max_padding_fraction: float = 0.2,
    max_batch_samples: int | None = MAX_BATCH_SAMPLES,
) -> list[list[int]]:
    """Indices of clips grouped into batches of similar length, longest first.

    A batch costs its size times its longest clip (attention: times its square), so a short
    clip next to a long one is mostly padding. Clips are sorted by length and a batch is
    closed before padding would exceed `max_padding_fraction` of it, or its padded size
    would exceed `max_batch_samples` (attention memory: 16 clips of 15 s hold ~1.2 GB of fp32
    scores per layer; a longer clip goes alone). Callers put the results back in input order
    with the indices.
    """
    if max_batch_size < 1:
        raise ValueError("max_batch_size must be at least 1.")
    batches: list[list[int]] = []
    current: list[int] = []
    total = 0
    for index in sorted(range(len(lengths)), key=lengths.__getitem__, reverse=True):
        size = len(current) + 1
        padded = size * lengths[current[0]] if current else 0
        if current and (
            size > max_batch_size
            or total + lengths[index] < (1 - max_padding_fraction) * padded
            or (max_batch_samples is not None and padded > max_batch_samples)
        ):
            batches.append(current)
            current, total = [], 0
        current.append(index)
        total += lengths[index]
    if current:
        batches.append(current)
    return batches


def fit_in_memory(
    items: list[Item], run: Callable[[list[Item]], list[Result]]
) -> list[Result | OutOfMemory]:
    """`run(items)`; a group that runs out of memory is split in halves until the parts
    fit, and only an item that does not fit alone gets the OutOfMemory, in its place."""
    try:
        return list(run(items))
    except OutOfMemory as error:
        if len(items) == 1:
            return [error]
        half = len(items) // 2
        return fit_in_memory(items[:half], run) + fit_in_memory(items[half:], run)


class AnalysisCore(ABC):
    """Decoding, checks, grouping and out-of-memory splits: written once for every engine."""

    max_duration_s: float | None

    @abstractmethod
    def wait_ready(self, timeout: float | None = DEFAULT_WAIT_S) -> None: ...

    @abstractmethod
    def batch_size(self) -> int: ...

    def classes(self) -> tuple[Emotion, ...]:
        """The classes this engine scores, in its order; a subset picks among them."""
        return EMOTIONS

    @abstractmethod
    def _score_clips(
        self, waveforms: list[Waveform], options: AnalysisOptions
    ) -> list[Prediction | Exception]:
        """Short recordings in one pass (or one round of requests). Raises OutOfMemory when
        the group as a whole does not fit; an error of one clip takes that clip's place."""

    @abstractmethod
    def _analyze_segmented(
        self, waveform: Waveform, options: AnalysisOptions, progress: Progress
    ) -> Prediction:
        """A recording cut into segments, each scored as a clip of its own."""

    def _plan(self, lengths: Sequence[int]) -> list[list[int]]:
        """Which short clips share a pass."""
        return plan_batches(lengths, max_batch_size=self.batch_size())

    def decode(
        self,
        audio: AudioSource,
        *,
        sample_rate: int | None = None,
        name: str | None = None,
        keep_channels: bool = False,
    ) -> Waveform:
        """A file path, file bytes or sample array as a Waveform, within this engine's limit;
        `keep_channels` keeps each channel apart too (AnalysisOptions.split)."""
        if isinstance(audio, Waveform):
            return audio
        return decode_audio(
            audio,
            sample_rate=sample_rate,
            name=name,
            max_duration_s=self.max_duration_s,
            keep_channels=keep_channels,
        )

    def analyze(
        self,
        audio: AudioSource,
        options: AnalysisOptions | None = None,
        *,
        sample_rate: int | None = None,
        name: str | None = None,
        timeout: float | None = DEFAULT_WAIT_S,
        progress: Progress | None = None,
    ) -> Prediction:
        """One recording: a batch of one. Raises its AudioError or OutOfMemory."""
        started = time.perf_counter()
        options = options or AnalysisOptions()
        waveform = self.decode(
            audio, sample_rate=sample_rate, name=name, keep_channels=options.split
        )
        (outcome,) = self.analyze_batch(
            [waveform],
            options,
            decode_s=[time.perf_counter() - started],
            timeout=timeout,
            progress=progress,
        )
        return outcome.unwrap()

    def stream(
        self,
        chunks: Iterable[np.ndarray],
        window_s: float = rolling.DEFAULT_WINDOW_S,
        hop_s: float = rolling.DEFAULT_HOP_S,
        *,
        emotions: Sequence[str] | None = None,
        live: bool = True,
        timeout: float | None = DEFAULT_WAIT_S,
    ) -> Iterator[LiveUpdate]:
        """The last `window_s` seconds of 16 kHz mono float32 `chunks` (any size), scored as
        an utterance every `hop_s` (engine.live): skipping to the newest window when behind a
        live source, every window of a recording (`live=False`). `emotions`: a subset, as in
        AnalysisOptions. Bad settings are refused here, not at the first hop."""
        window, hop = rolling.window_sizes(window_s, hop_s)
        options = AnalysisOptions(segmentation="off", emotions=emotions)
        return rolling.updates(self, chunks, window, hop, options, live, timeout)

    def analyze_batch(
        self,
        inputs: Sequence[Waveform | Exception],
        options: AnalysisOptions | None = None,
        *,
        decode_s: Sequence[float] | None = None,
        timeout: float | None = DEFAULT_WAIT_S,
        progress: Progress | None = None,
    ) -> list[Outcome]:
        """One Outcome per input, in input order.

        An input that is an error (decoding failed) or breaks a length rule is refused with
        its reason. Recordings to be segmented are analysed one by one; the others share
        passes of similar length. A pass that runs out of memory is split until the clip
        that does not fit alone fails, alone.
        """
        options = options or AnalysisOptions()
        decode_s = list(decode_s or [0.0] * len(inputs))
        outcomes: dict[int, Outcome] = {}
        waveforms: dict[int, Waveform] = {}
        for index, item in enumerate(inputs):
            try:
                if isinstance(item, Exception):
                    raise item
                options.check(item, self.max_duration_s)
                waveforms[index] = item
            except AudioError as error:
                outcomes[index] = Outcome(error=error)
        if waveforms:
            started = time.perf_counter()
            self.wait_ready(timeout)
            waited = time.perf_counter() - started
            report = progress or _quiet
            long = [i for i, w in waveforms.items() if options.segments(w.duration_s)]
            for index in long:
                try:
                    result = self._analyze_segmented(waveforms[index], options, report)
                except INPUT_ERRORS as error:
                    result = error
                outcomes[index] = _outcome(result)
            short = [i for i in waveforms if i not in long]
            for group in self._plan([len(waveforms[i].samples) for i in short]):
                indices = [short[g] for g in group]
                results = fit_in_memory(
                    [waveforms[i] for i in indices], lambda part: self._score_clips(part, options)
                )
                for index, result in zip(indices, results, strict=True):
                    outcomes[index] = _outcome(result)
            for index in waveforms:
                if outcomes[index].prediction is not None:
                    _add_timings(outcomes[index].prediction, decode_s[index], waited)
        return [outcomes[i] for i in range(len(inputs))]


def _quiet(fraction: float, message: str) -> None:
    pass


def _outcome(result: Prediction | Exception) -> Outcome:
    """An input's own failure becomes its Outcome; any other error fails the whole call."""
    if isinstance(result, Prediction):
        return Outcome(prediction=result)
    if isinstance(result, INPUT_ERRORS):
        return Outcome(error=result)
    raise result


def _add_timings(prediction: Prediction, decode_s: float, wait_s: float) -> None:
    """Decoding (done by the caller) first, the wait for the model added, then the total."""
    steps = prediction.timings_ms
    waited = steps.get("wait", 0.0) + wait_s * 1000
    timings = {"decode": decode_s * 1000, "wait": waited}
    timings.update((k, v) for k, v in steps.items() if k not in ("decode", "wait", "total"))
    timings["total"] = sum(timings.values())
    prediction.timings_ms = timings
