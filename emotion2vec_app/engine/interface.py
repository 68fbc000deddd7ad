"""What every front end relies on: the AnalysisEngine protocol, its status, its errors, and
the one outcome per input that a batch returns.

The WebUI, the CLI, the batch pipelines and Ray are typed against AnalysisEngine; the local
Engine and the Ray Serve client (distributed.remote_engine) both implement it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Protocol, TypeAlias

import numpy as np

from emotion2vec_app.audio import Waveform
from emotion2vec_app.labels import Emotion
from emotion2vec_app.options import AnalysisOptions
from emotion2vec_app.progress import Progress
from emotion2vec_app.results import LiveUpdate, Prediction

DEFAULT_WAIT_S = 120.0

AudioSource: TypeAlias = "str | Path | bytes | np.ndarray | Waveform"


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


@dataclass(frozen=True)
class Outcome:
    """What became of one input: its Prediction, or the error that refused or failed it
    (an AudioError or OutOfMemory; its message is meant for the user)."""

    prediction: Prediction | None = None
    error: Exception | None = None

    @property
    def reason(self) -> str | None:
        return None if self.error is None else str(self.error)

    def unwrap(self) -> Prediction:
        if self.prediction is None:
            raise self.error or RuntimeError("an outcome with neither prediction nor error")
        return self.prediction


class AnalysisEngine(Protocol):
    """The model of a process, wherever it runs.

    `analyze_batch` is the one analysis: inputs are decoded waveforms or the error that
    decoding raised, and every input gets one Outcome, in input order. `analyze` is one
    input of it. Errors of the whole engine (ModelNotReady, ModelLoadFailed) are raised.
    """

    watch_after_ready: bool  # whether the page keeps polling the status once ready
    max_duration_s: float | None

    def start(self) -> None: ...

    def retry(self) -> bool: ...

    def status(self) -> EngineStatus: ...

    def wait_ready(self, timeout: float | None = DEFAULT_WAIT_S) -> None: ...

    def batch_size(self) -> int:
        """Clips that share a pass; a file batch decodes this many at a time."""
        ...

    def classes(self) -> tuple[Emotion, ...]:
        """The classes it scores: the model's emotions, or a trained head's labels."""
        ...

    def score_embeddings(
        self, embeddings: np.ndarray, options: AnalysisOptions | None = None
    ) -> np.ndarray:
        """Class probabilities of utterance embeddings, as `analyze` scores their clips."""
        ...

    def decode(
        self,
        audio: AudioSource,
        *,
        sample_rate: int | None = None,
        name: str | None = None,
        keep_channels: bool = False,
    ) -> Waveform: ...

    def analyze(
        self,
        audio: AudioSource,
        options: AnalysisOptions | None = None,
        *,
        sample_rate: int | None = None,
        name: str | None = None,
        timeout: float | None = DEFAULT_WAIT_S,
        progress: Progress | None = None,
    ) -> Prediction: ...

    def analyze_batch(
        self,
        inputs: Sequence[Waveform | Exception],
        options: AnalysisOptions | None = None,
        *,
        decode_s: Sequence[float] | None = None,
        timeout: float | None = DEFAULT_WAIT_S,
        progress: Progress | None = None,
    ) -> list[Outcome]: ...

    def stream(
        self,
        chunks: Iterable[np.ndarray],
        window_s: float = 3.0,
        hop_s: float = 0.5,
        *,
        emotions: Sequence[str] | None = None,
        live: bool = True,
        timeout: float | None = DEFAULT_WAIT_S,
    ) -> Iterator[LiveUpdate]:
        """A rolling window over 16 kHz chunks, one LiveUpdate per hop (engine.live)."""
        ...
