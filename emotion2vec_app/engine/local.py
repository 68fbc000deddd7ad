"""The local engine: the one model of this process, loaded in the background at start.

The page and the CLI start at once; an analysis waits for readiness (up to a timeout), and a
warm-up inference inside the load keeps the first real request as fast as the next ones.
torch and FunASR are imported by the load thread (through model/), never by importers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from emotion2vec_app.audio import (
    DEFAULT_MAX_DURATION_S,
    TARGET_RATE,
    Waveform,
    release_freed_memory,
)
from emotion2vec_app.engine.core import AnalysisCore, fit_in_memory, plan_batches
from emotion2vec_app.engine.interface import (
    DEFAULT_WAIT_S,
    EngineState,
    EngineStatus,
    ModelLoadFailed,
    ModelNotReady,
    OutOfMemory,
    Progress,
)
from emotion2vec_app.engine.turns import TurnLock
from emotion2vec_app.heads import HeadError, LinearHead, load_head
from emotion2vec_app.labels import EMOTIONS, Emotion
from emotion2vec_app.model.source import DEFAULT_MODEL_ID, ModelError, resolve_model
from emotion2vec_app.options import AnalysisOptions
from emotion2vec_app.results import ChannelTimeline, Prediction, SegmentTimeline, merge_channels

if TYPE_CHECKING:
    from emotion2vec_app.model.inference import Classes, ClipScores
    from emotion2vec_app.model.loader import LoadedModel

log = logging.getLogger("emotion2vec_app")

DTYPE_CHOICES = ("auto", "float32", "float16", "bfloat16", "int8")
WARMUP_S = 1.0
GPU_BATCH_SIZE = 16
VAD_SHARE = 0.1  # of a long analysis's progress bar; the segments take the rest


class Engine(AnalysisCore):
    """Owns the model of this process. Thread-safe; loads exactly once, in a background thread."""

    # A loaded model stays loaded: the page stops watching the status once it is ready.
    watch_after_ready = False

    def __init__(
        self,
        model: str = DEFAULT_MODEL_ID,
        *,
        hub: str = "ms",
        device: str = "auto",
        dtype: str = "auto",
        max_duration_s: float | None = DEFAULT_MAX_DURATION_S,
        batch_size: int | None = None,
        cache_dir: Path | None = None,
        head: str | Path | LinearHead | None = None,
        autostart: bool = True,
        on_log: Callable[[str], None] | None = None,
    ) -> None:
        """`head`: a head file from `train-head` (or a LinearHead) that scores in place of
        the model's own 9 emotions; read here, so a bad file is refused before any load."""
        self.model_spec = model
        self.head = head if isinstance(head, LinearHead) or head is None else load_head(head)
        self.hub = hub
        self.requested_device = device
        self.requested_dtype = dtype
        self.max_duration_s = max_duration_s
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        self.requested_batch_size = batch_size
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._log = on_log or log.info
        self._state = EngineState.LOADING
        self._error: str | None = None
        self._model: LoadedModel | None = None
        self._started_at: float | None = None
        self._load_seconds: float | None = None
        self._ready = threading.Event()
        self._start_lock = threading.Lock()
        self._infer_lock = TurnLock()  # requests take turns pass by pass, in arrival order
        self._thread: threading.Thread | None = None
        if autostart:
            self.start()

    def start(self) -> None:
        """Start loading; later calls do nothing."""
        with self._start_lock:
            if self._thread is not None:
                return
            self._started_at = time.perf_counter()
            self._thread = threading.Thread(target=self._load, name="e2v-load", daemon=True)
            self._thread.start()

    def retry(self) -> bool:
        """Load again after a failure (a fixed file, a network back); False if not failed."""
        with self._start_lock:
            if self._state is not EngineState.FAILED:
                return False
            self._state, self._error, self._load_seconds = EngineState.LOADING, None, None
            self._ready.clear()
            self._thread = None
        self.start()
        return True

    def _load(self) -> None:
        try:
            from emotion2vec_app.model import loader  # torch: ~1.3 s, off the caller's thread

            device = loader.resolve_device(self.requested_device)
            dtype = loader.resolve_dtype(self.requested_dtype, device)
            model_dir = resolve_model(self.model_spec, self.hub, log=self._log)
            model = loader.load_model(
                model_dir,
                device=device,
                dtype=dtype,
                cache_dir=self.cache_dir,
                quantize=self.requested_dtype == "int8",
            )
            if self.head is not None:
                from emotion2vec_app.model.inference import embedding_dim

                self.head.check_model(model_dir.model_id, embedding_dim(model))
            self._warm_up(model)
            if model.labels.warning:
                self._log(model.labels.warning)
            self._model = model
            self._state = EngineState.READY
        except Exception as error:  # any failure must surface in status, not kill a thread
            if isinstance(error, ModelError | HeadError):  # explained: no traceback
                log.error("Model load failed: %s", error)
            else:
                log.exception("Model load failed")
            self._error = f"{type(error).__name__}: {error}"
            self._state = EngineState.FAILED
        finally:
            self._load_seconds = time.perf_counter() - (self._started_at or 0.0)
            self._ready.set()

    @staticmethod
    def _warm_up(model: LoadedModel) -> None:
        """Run every code path once, so the first user request is as fast as later ones.

        The VAD is loaded here too, before any request runs: importing silero_vad resets
        torch's thread count, which must not happen while another thread is inside a pass.
        """
        from emotion2vec_app.model import inference, vad

        noise = np.random.default_rng(0).standard_normal(int(TARGET_RATE * WARMUP_S)) * 0.05
        inference.score_clip(model, noise.astype(np.float32), frames=True, embedding=True)
        vad.load_vad()

    def status(self) -> EngineStatus:
        model = self._model
        now = time.perf_counter()
        return EngineStatus(
            state=self._state,
            model=model.model_dir.model_id if model else self.model_spec,
            demo=model.model_dir.demo if model else self.model_spec == "demo",
            device=str(model.device) if model else self.requested_device,
            dtype=model.precision if model else self.requested_dtype,
            load_seconds=self._load_seconds,
            elapsed_s=now - self._started_at if self._started_at else 0.0,
            error=self._error,
        )

    def wait_ready(self, timeout: float | None = DEFAULT_WAIT_S) -> None:
        self.loaded_model(timeout)

    def loaded_model(self, timeout: float | None = DEFAULT_WAIT_S) -> LoadedModel:
        """The loaded model itself, for code that works on it directly (tests, benchmarks);
        front ends go through the AnalysisEngine methods."""
        self.start()
        if not self._ready.wait(timeout):
            raise ModelNotReady(
                f"The model is still loading after {timeout:.0f} s; try again shortly."
            )
        if self._model is None:
            raise ModelLoadFailed(f"The model failed to load: {self._error}")
        return self._model

    def classes(self) -> tuple[Emotion, ...]:
        """What this engine scores: the head's labels, or the model's emotions (all nine
        until the model has loaded and said otherwise)."""
        if self.head is not None:
            return self.head.emotions
        return self._model.labels.emotions if self._model else EMOTIONS

    def _classes(self, options: AnalysisOptions) -> Classes:
        from emotion2vec_app.model.inference import model_classes

        return model_classes(self.loaded_model(timeout=0), self.head, options.emotions)

    def score_embeddings(
        self, embeddings: np.ndarray, options: AnalysisOptions | None = None
    ) -> np.ndarray:
        """(N, C) class probabilities of (N, D) utterance embeddings: what `analyze` gives the
        clips they came from, with the same head and subset, without their forward passes."""
        from emotion2vec_app.model import inference

        model = self.loaded_model()
        classes = self._classes(options or AnalysisOptions())
        features = inference.embeddings_as_features(model, embeddings)
        return inference.class_probabilities(model, features, classes)

    def batch_size(self) -> int:
        """Clips per forward pass: padded batches pay off on GPU; on CPU one at a time is
        faster, and exactly FunASR's own path."""
        if self.requested_batch_size is not None:
            return self.requested_batch_size
        device = str(self._model.device) if self._model else self.requested_device
        return GPU_BATCH_SIZE if device.startswith("cuda") else 1

    def _pass(
        self, clips: list[np.ndarray], options: AnalysisOptions
    ) -> tuple[list[ClipScores], float]:
        """One padded forward pass, and the seconds it waited for other requests' passes.
        The model is held for one pass only, so requests take turns between the passes of a
        long file."""
        from emotion2vec_app.model import inference, padding

        model = self.loaded_model(timeout=0)
        classes = self._classes(options)
        started = time.perf_counter()
        with self._infer_lock:
            waited = time.perf_counter() - started
            try:
                scores = padding.score_batch(
                    model,
                    clips,
                    frames=options.frames,
                    embedding=options.extract_embedding,
                    classes=classes,
                )
                return scores, waited
            except RuntimeError as error:
                if not inference.is_out_of_memory(error):
                    raise
                # Free what the failed pass held, so the next pass starts clean.
                inference.release_cached_memory(model)
                longest = max(len(clip) for clip in clips) / TARGET_RATE
                raise OutOfMemory(
                    f"The {model.device} ran out of memory for this {longest:.1f} s clip "
                    "(attention memory grows with the square of the length). It has been "
                    "freed and other requests are unaffected: use a shorter clip, lower "
                    "--max-duration, or --device cpu."
                ) from error

    def _score_clips(
        self, waveforms: list[Waveform], options: AnalysisOptions
    ) -> list[Prediction | Exception]:
        from emotion2vec_app.model.predictions import clip_prediction

        started = time.perf_counter()
        scores, waited = self._pass([w.samples for w in waveforms], options)
        share = (time.perf_counter() - started - waited) / len(waveforms)
        seconds = {"wait": waited, "inference": share}
        model = self.loaded_model(timeout=0)
        return [
            clip_prediction(model, waveform, options, clip_scores, seconds)
            for waveform, clip_scores in zip(waveforms, scores, strict=True)
        ]

    def _analyze_segmented(
        self, waveform: Waveform, options: AnalysisOptions, progress: Progress
    ) -> Prediction:
        from emotion2vec_app.model import long_audio, vad
        from emotion2vec_app.model.predictions import build_prediction

        if options.split:
            return self._analyze_channels(waveform, options, progress)
        model = self.loaded_model(timeout=0)
        classes = self._classes(options)  # a bad subset is refused before the VAD runs
        started = time.perf_counter()
        method = options.segmentation_method
        progress(0.0, f"Finding speech ({method})")
        cut = vad.segment(
            waveform.samples,
            method,
            progress=lambda fraction, message: progress(fraction * VAD_SHARE, message),
        )
        segmented = time.perf_counter()
        scores = self._score_spans(
            waveform.samples,
            cut.spans,
            options,
            lambda fraction, message: progress(VAD_SHARE + (1 - VAD_SHARE) * fraction, message),
        )
        whole = long_audio.assemble(cut, scores, options.smooth_s)
        return build_prediction(
            model,
            waveform,
            options,
            classes.emotions,
            whole.timeline.distribution(),
            {"segment": segmented - started, "inference": time.perf_counter() - segmented},
            frames=whole.frames,
            embedding=whole.embedding,
            segments=whole.timeline,
            notes=cut.warnings,
        )

    def _score_spans(
        self, samples: np.ndarray, spans: list, options: AnalysisOptions, progress: Progress
    ) -> list[ClipScores]:
        """Each span of `samples` scored as a clip of its own, in passes of similar length."""
        clips = [samples[span.start : span.end] for span in spans]
        scores: list[ClipScores | None] = [None] * len(clips)
        on_cpu = str(self.loaded_model(timeout=0).device) == "cpu"
        done = 0
        for group in plan_batches([len(c) for c in clips], max_batch_size=self.batch_size()):
            results = fit_in_memory(
                [clips[i] for i in group], lambda part: self._pass(part, options)[0]
            )
            for index, result in zip(group, results, strict=True):
                if isinstance(result, OutOfMemory):
                    raise result  # a segment that does not fit alone fails its recording
                scores[index] = result
            done += len(group)
            if on_cpu:  # a GPU pass leaves little in this process's heap
                # CPU passes over ever shorter segments leave their activations' heap in
                # pieces glibc keeps: 60 passes of the full model, 880 MiB anonymous memory
                # untrimmed, 289 MiB trimmed after each, for ~22 ms a trim.
                release_freed_memory()
            progress(done / len(clips), f"Segment {done}/{len(clips)}")
        return scores

    def _analyze_channel(
        self,
        samples: np.ndarray,
        heard: Iterable[np.ndarray],
        empty: ChannelTimeline,
        options: AnalysisOptions,
        progress: Progress,
    ) -> tuple[ChannelTimeline, np.ndarray | None]:
        """One channel's segments: found in `heard` (blocks of its own speech only), scored
        on `samples`; `empty` is its timeline when it has no speech."""
        from emotion2vec_app.model import long_audio, vad

        progress(0.0, "finding speech (vad)")
        spans = vad.vad_spans_of_blocks(
            heard, len(samples), progress=lambda f, m: progress(f * VAD_SHARE, m)
        )
        if not spans:
            return replace(empty, note=f"No speech of its own on channel {empty.name!r}."), None
        scores = self._score_spans(
            samples, spans, options,
            lambda f, m: progress(VAD_SHARE + (1 - VAD_SHARE) * f, m),
        )  # fmt: skip
        whole = long_audio.assemble(vad.Segmentation("vad", spans), scores)
        return replace(empty, segments=whole.timeline), whole.embedding

    def _analyze_channels(
        self, waveform: Waveform, options: AnalysisOptions, progress: Progress
    ) -> Prediction:
        """Each channel as a speaker of its own: its own speech (see model.channels), its own
        segments; the recording's scores are the duration-weighted mean of them all."""
        from emotion2vec_app.model import channels as speakers
        from emotion2vec_app.model.predictions import build_prediction

        model = self.loaded_model(timeout=0)
        classes = self._classes(options)
        started = time.perf_counter()
        sources, names, notes = _speakers(waveform, options)
        owned = speakers.own_frames(waveform.channels) if len(sources) > 1 else None
        timelines, embeddings = [], []
        share = 1 / len(sources)
        for index, (samples, name) in enumerate(zip(sources, names, strict=True)):
            heard = [samples] if owned is None else speakers.own_speech(samples, owned[index])
            timeline, embedding = self._analyze_channel(
                samples,
                heard,
                ChannelTimeline(index, name, _no_segments(classes.emotions)),
                options,
                partial(_within, progress, index * share, share, name),
            )
            timelines.append(timeline)
            embeddings.append(embedding)
        merged, order = merge_channels(timelines)
        if not order:  # no channel has speech of its own: the mix, as any silent recording
            mixed = self._analyze_segmented(waveform, replace(options, channels="mix"), progress)
            mixed.channels = timelines
            mixed.warnings += [*notes, *(t.note for t in timelines if t.note)]
            return mixed
        embedding = None
        if options.extract_embedding and order:
            embedding = np.stack([embeddings[c][i] for c, i in order])
        return build_prediction(
            model,
            waveform,
            options,
            classes.emotions,
            merged.distribution(),
            {"inference": time.perf_counter() - started},
            embedding=embedding,
            segments=merged,
            channels=timelines,
            segment_channels=[c for c, _ in order],
            notes=[*notes, *(t.note for t in timelines if t.note)],
        )


def _within(
    progress: Progress, base: float, share: float, name: str, fraction: float, message: str
) -> None:
    """One channel's progress as its share of the recording's."""
    progress(base + share * fraction, f"{name}: {message}")


def _speakers(
    waveform: Waveform, options: AnalysisOptions
) -> tuple[list[np.ndarray], tuple[str, ...], list[str]]:
    """The channels to analyse apart, their names, and notes when there is only one."""
    from emotion2vec_app.model import channels as speakers

    count = waveform.info.channels
    if waveform.channels is None:
        reason = f"'{waveform.info.name}' is mono: it was analysed as one channel."
    elif speakers.identical(waveform.channels):
        reason = (
            f"The {count} channels of '{waveform.info.name}' are identical (one signal saved "
            "as stereo, not a call with a speaker per channel): it was analysed once."
        )
    else:
        return list(waveform.channels), options.names_of(count), []
    name = " + ".join(options.channel_names) if options.channel_names else "mix"
    return [waveform.samples], (name,), [reason]


def _no_segments(emotions: tuple[Emotion, ...]) -> SegmentTimeline:
    empty = np.zeros(0, np.float64)
    return SegmentTimeline("vad", emotions, empty, empty, np.zeros((0, len(emotions)), np.float32))
