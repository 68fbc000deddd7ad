"""The one model of a process: loads in the background at start, then serves analyses.

The page and the CLI start at once; `analyze()` waits for readiness (up to a timeout), and a
warm-up inference inside the load keeps the first real request as fast as the next ones.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from emotion2vec_app.analysis import (
    LONG_AUDIO_S,
    MAX_PASS_S,
    SEGMENTATIONS,
    AnalysisOptions,
    build_prediction,
    clip_prediction,
    decode_for,
)
from emotion2vec_app.audio import DEFAULT_MAX_DURATION_S, Waveform
from emotion2vec_app.model_source import DEFAULT_MODEL_ID, ModelError, resolve_model
from emotion2vec_app.results import Prediction

__all__ = [  # the analysis names are re-exported: callers import them with the Engine
    "LONG_AUDIO_S",
    "MAX_PASS_S",
    "SEGMENTATIONS",
    "AnalysisOptions",
    "Engine",
    "EngineState",
    "EngineStatus",
    "ModelLoadFailed",
    "ModelNotReady",
    "OutOfMemory",
]

if TYPE_CHECKING:  # torch and FunASR are imported by the load thread, not by importers
    from emotion2vec_app.loader import LoadedModel

log = logging.getLogger("emotion2vec_app")

DTYPE_CHOICES = ("auto", "float32", "float16", "bfloat16", "int8")
DEFAULT_WAIT_S = 120.0
WARMUP_S = 1.0
GPU_BATCH_SIZE = 16
VAD_SHARE = 0.1  # of a long analysis's progress bar; the segments take the rest

Progress = Callable[[float, str], None]  # fraction done (0..1), what is happening


class EngineState(str, Enum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


class ModelNotReady(RuntimeError):
    """The model did not finish loading within the wait."""


class ModelLoadFailed(RuntimeError):
    """Loading failed; the message says why and what to do."""


class OutOfMemory(RuntimeError):
    """One analysis did not fit in memory; the engine has recovered and serves on."""


def _out_of_memory(model: LoadedModel, seconds: float) -> OutOfMemory:
    """Free what the failed pass held, so the next request starts clean, and say what to do."""
    from emotion2vec_app import inference

    inference.release_cached_memory(model)
    return OutOfMemory(
        f"The {model.device} ran out of memory for this {seconds:.1f} s clip (attention memory "
        "grows with the square of the length). It has been freed and other requests are "
        "unaffected: use a shorter clip, lower --max-duration, or --device cpu."
    )


@dataclass(frozen=True)
class EngineStatus:
    state: EngineState
    model: str
    demo: bool
    device: str
    dtype: str
    load_seconds: float | None
    elapsed_s: float
    error: str | None
    # The Ray Serve URL when the model runs there (RemoteEngine); the page words its states by
    # it. Not in to_json: the /status contract is fixed, and `device` names the backend.
    backend: str | None = None

    def to_json(self) -> dict:
        return {
            "state": self.state.value,
            "model": self.model,
            "demo": self.demo,
            "device": self.device,
            "dtype": self.dtype,
            "load_seconds": None if self.load_seconds is None else round(self.load_seconds, 3),
            "elapsed_s": round(self.elapsed_s, 1),
            "error": self.error,
        }


class Engine:
    """Owns the model. Thread-safe; loads exactly once, in a background thread."""

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
        autostart: bool = True,
        on_log: Callable[[str], None] | None = None,
    ) -> None:
        self.model_spec = model
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
        self._infer_lock = threading.Lock()
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
            from emotion2vec_app import loader  # imports torch: ~1.3 s, off the caller's thread

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
            self._warm_up(model)
            if model.labels.warning:
                self._log(model.labels.warning)
            self._model = model
            self._state = EngineState.READY
        except Exception as error:  # any failure must surface in status, not kill a thread
            if isinstance(error, ModelError):  # expected and explained: no traceback
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
        from emotion2vec_app import inference, segmentation

        noise = np.random.default_rng(0).standard_normal(int(16000 * WARMUP_S)) * 0.05
        inference.score_clip(model, noise.astype(np.float32), frames=True, embedding=True)
        segmentation.load_vad()

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

    def wait_ready(self, timeout: float | None = DEFAULT_WAIT_S) -> LoadedModel:
        self.start()
        if not self._ready.wait(timeout):
            raise ModelNotReady(
                f"The model is still loading after {timeout:.0f} s; try again shortly."
            )
        if self._model is None:
            raise ModelLoadFailed(f"The model failed to load: {self._error}")
        return self._model

    def batch_size(self, model: LoadedModel) -> int:
        """Clips per forward pass: padded batches pay off on GPU; on CPU one at a time is
        faster, and exactly FunASR's own path."""
        if self.requested_batch_size is not None:
            return self.requested_batch_size
        return GPU_BATCH_SIZE if model.device.type == "cuda" else 1

    def decode(
        self,
        audio: str | Path | bytes | np.ndarray | Waveform,
        options: AnalysisOptions,
        *,
        sample_rate: int | None = None,
        name: str | None = None,
    ) -> Waveform:
        return decode_for(
            audio, options, max_duration_s=self.max_duration_s, sample_rate=sample_rate, name=name
        )

    def analyze(
        self,
        audio: str | Path | bytes | np.ndarray | Waveform,
        options: AnalysisOptions | None = None,
        *,
        sample_rate: int | None = None,
        name: str | None = None,
        timeout: float | None = DEFAULT_WAIT_S,
        progress: Progress | None = None,
    ) -> Prediction:
        """Decode (unless given a Waveform), wait for the model, infer, build the Prediction.

        Long recordings (see AnalysisOptions.segmentation) are analysed segment by segment;
        `progress` hears how far that has got.
        """
        options = options or AnalysisOptions()
        started = time.perf_counter()
        waveform = self.decode(audio, options, sample_rate=sample_rate, name=name)
        decoded = time.perf_counter()
        model = self.wait_ready(timeout)
        if options.segments(waveform.duration_s):
            return self._analyze_segments(model, waveform, options, (started, decoded), progress)
        from emotion2vec_app import inference

        with self._infer_lock:
            waited = time.perf_counter()  # for the model, then for other requests' passes
            try:
                scores = inference.score_clip(
                    model,
                    waveform.samples,
                    frames=options.granularity == "frame",
                    smooth_s=options.smooth_s,
                    embedding=options.extract_embedding,
                )
            except inference.OutOfMemoryError as error:
                raise _out_of_memory(model, waveform.duration_s) from error
        done = time.perf_counter()
        return clip_prediction(
            model,
            waveform,
            options,
            scores,
            {"decode": decoded - started, "wait": waited - decoded, "inference": done - waited},
        )

    def analyze_batch(
        self,
        waveforms: Sequence[Waveform],
        options: AnalysisOptions | None = None,
        *,
        decode_s: Sequence[float] | None = None,
        timeout: float | None = DEFAULT_WAIT_S,
        progress: Progress | None = None,
    ) -> list[Prediction]:
        """Several decoded recordings, in order. Short ones share padded forward passes of up
        to batch_size clips (one at a time on CPU); long ones are segmented one by one."""
        from emotion2vec_app import batching, inference

        options = options or AnalysisOptions()
        decode_s = decode_s or [0.0] * len(waveforms)
        model = self.wait_ready(timeout)
        results: list[Prediction | None] = [None] * len(waveforms)
        short = [i for i, w in enumerate(waveforms) if not options.segments(w.duration_s)]
        for i in sorted(set(range(len(waveforms))) - set(short)):
            prediction = self.analyze(waveforms[i], options, timeout=timeout, progress=progress)
            prediction.timings_ms["decode"] = decode_s[i] * 1000  # decoded by the caller
            prediction.timings_ms["total"] += decode_s[i] * 1000
            results[i] = prediction
        lengths = [len(waveforms[i].samples) for i in short]
        for group in batching.plan_batches(lengths, max_batch_size=self.batch_size(model)):
            indices = [short[g] for g in group]
            with self._infer_lock:
                started = time.perf_counter()
                try:
                    scores = batching.score_batch(
                        model,
                        [waveforms[i].samples for i in indices],
                        frames=options.granularity == "frame",
                        smooth_s=options.smooth_s,
                        embedding=options.extract_embedding,
                    )
                except inference.OutOfMemoryError as error:
                    longest = max(waveforms[i].duration_s for i in indices)
                    raise _out_of_memory(model, longest) from error
                share = (time.perf_counter() - started) / len(indices)
            for i, clip_scores in zip(indices, scores, strict=True):
                results[i] = clip_prediction(
                    model, waveforms[i], options, clip_scores,
                    {"decode": decode_s[i], "inference": share},
                )  # fmt: skip
        return results

    def _analyze_segments(
        self,
        model: LoadedModel,
        waveform: Waveform,
        options: AnalysisOptions,
        clock: tuple[float, float],
        progress: Progress | None,
    ) -> Prediction:
        started, decoded = clock
        ready = time.perf_counter()
        from emotion2vec_app import inference, long_audio, segmentation

        report = progress or (lambda fraction, message: None)
        method = options.segmentation_method
        report(0.0, f"Finding speech ({method})")
        cut = segmentation.segment(
            waveform.samples,
            method,
            progress=lambda f: report(f * VAD_SHARE, "Finding speech"),
        )
        segmented = time.perf_counter()
        count = len(cut.spans)

        def segment_progress(fraction: float) -> None:
            done = round(fraction * count)
            report(VAD_SHARE + (1 - VAD_SHARE) * fraction, f"Segment {done}/{count}")

        try:
            scores = long_audio.score_segments(
                model,
                waveform.samples,
                cut,
                lock=self._infer_lock,
                frames=options.granularity == "frame",
                smooth_s=options.smooth_s,
                embedding=options.extract_embedding,
                batch_size=self.batch_size(model),
                progress=segment_progress,
            )
        except inference.OutOfMemoryError as error:
            longest = max(span.duration_s for span in cut.spans)
            raise _out_of_memory(model, longest) from error
        done = time.perf_counter()
        return build_prediction(
            model,
            waveform,
            options,
            scores.timeline.distribution(),
            {
                "decode": decoded - started,
                "wait": ready - decoded,
                "segment": segmented - ready,
                "inference": done - segmented,
            },
            frames=scores.frames,
            embedding=scores.embedding,
            segments=scores.timeline,
            notes=cut.warnings,
        )
