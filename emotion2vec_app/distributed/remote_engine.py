"""An engine whose model runs on a Ray Serve deployment (distributed/serve_app), over HTTP.

`emotion2vec-app serve --backend URL` gives the WebUI this instead of a local Engine: decoding,
run folders, the page and its API stay in this process; every forward pass is done by the
cluster's replicas. Audio is decoded here once and sent as 16 kHz float32 WAV (for channels
split, a channel each), which the server decodes bit for bit back to the same samples, so
results equal a local engine's.
Only httpx is needed here, not Ray.
"""

from __future__ import annotations

import contextlib
import io
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import soundfile as sf

from emotion2vec_app.audio import DEFAULT_MAX_DURATION_S, TARGET_RATE, AudioError, Waveform
from emotion2vec_app.distributed.wire import ERROR_KIND_HEADER, from_payload
from emotion2vec_app.engine import (
    DEFAULT_WAIT_S,
    AnalysisCore,
    EngineState,
    EngineStatus,
    ModelLoadFailed,
    ModelNotReady,
    OutOfMemory,
    Progress,
)
from emotion2vec_app.labels import Emotion, emotions_for_labels
from emotion2vec_app.options import AnalysisOptions
from emotion2vec_app.results import Prediction

STATUS_TIMEOUT_S = 5.0
STATUS_CACHE_S = 1.0  # every open page polls; one GET a second is plenty
POLL_S = 0.5
IN_FLIGHT = 8  # requests a batch keeps open, so the deployment can batch and spread them
RETRY_DELAYS_S = (1.0, 3.0, 10.0)  # a replica's restart takes seconds (it loads the model)
ERRORS_BY_KIND = {
    "OutOfMemory": OutOfMemory,
    "ModelNotReady": ModelNotReady,
    "ModelLoadFailed": ModelLoadFailed,
}


class RemoteEngine(AnalysisCore):
    """An AnalysisEngine whose passes are answered by a Ray Serve deployment at `url`.

    Decoding, the length checks and the outcome of every input are the one analysis core's,
    here; each clip is one POST /analyze.

    While the deployment has never answered, the state is "loading" (its replicas may still be
    loading the model) for up to `connect_timeout_s`, then "failed". Once it has answered, it
    is "failed" while unreachable and "ready" again as soon as it answers.
    """

    watch_after_ready = True  # so the page shows a backend that drops out, and its return

    def __init__(
        self,
        url: str,
        *,
        max_duration_s: float | None = DEFAULT_MAX_DURATION_S,
        connect_timeout_s: float = 600.0,
        request_timeout_s: float = 3600.0,
        in_flight: int = IN_FLIGHT,
    ) -> None:
        if in_flight < 1:
            raise ValueError(f"in_flight must be at least 1, not {in_flight}")
        self.url = url.rstrip("/")
        self.max_duration_s = max_duration_s
        self.connect_timeout_s = connect_timeout_s
        self.in_flight = in_flight
        self._http = httpx.Client(timeout=httpx.Timeout(request_timeout_s, connect=10.0))
        self._lock = threading.Lock()
        self._started_at = time.perf_counter()
        self._cached: tuple[float, EngineStatus] | None = None
        self._reached = False
        self._classes: tuple[Emotion, ...] | None = None  # as the deployment's /status says

    # The Engine's lifecycle: nothing loads here.
    def start(self) -> None:
        pass

    def retry(self) -> bool:
        """Give a backend that never answered another connect window; False if not failed."""
        if self.status().state is not EngineState.FAILED:
            return False
        with self._lock:
            self._started_at, self._cached, self._reached = time.perf_counter(), None, False
        return True

    def status(self) -> EngineStatus:
        with self._lock:
            now = time.perf_counter()
            if self._cached is not None and now - self._cached[0] < STATUS_CACHE_S:
                return self._cached[1]
            status = self._fetch_status(now - self._started_at)
            self._cached = (now, status)
            return status

    def _fetch_status(self, elapsed_s: float) -> EngineStatus:
        try:
            response = self._http.get(f"{self.url}/status", timeout=STATUS_TIMEOUT_S)
            response.raise_for_status()
            remote = response.json()
            self._reached = True
            if remote.get("classes"):
                self._classes = emotions_for_labels(tuple(remote["classes"]))
        except (httpx.HTTPError, ValueError) as error:
            # Replicas may still be loading at first; a backend that answered before and
            # stops answering has failed (until it answers again).
            timed_out = self._reached or elapsed_s > self.connect_timeout_s
            return EngineStatus(
                state=EngineState.FAILED if timed_out else EngineState.LOADING,
                model=f"Ray Serve at {self.url}",
                demo=False,
                device="remote",
                dtype="-",
                load_seconds=None,
                elapsed_s=elapsed_s,
                error=_unreachable(self.url, error) if timed_out else None,
                backend=self.url,
            )
        return EngineStatus(
            state=EngineState(remote["state"]),
            model=remote["model"],
            demo=bool(remote["demo"]),
            device=f"{remote['device']} · Ray Serve {self.url}",
            dtype=remote["dtype"],
            load_seconds=remote["load_seconds"],
            elapsed_s=elapsed_s,
            error=remote["error"],
            backend=self.url,
        )

    def wait_ready(self, timeout: float | None = DEFAULT_WAIT_S) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.status()
            if status.state is EngineState.READY:
                return
            if status.state is EngineState.FAILED:
                raise ModelLoadFailed(f"The model backend is not available: {status.error}")
            if deadline is not None and time.monotonic() >= deadline:
                raise ModelNotReady(
                    f"The Ray Serve backend at {self.url} is not ready after {timeout:.0f} s; "
                    "try again shortly."
                )
            time.sleep(POLL_S)

    def classes(self) -> tuple[Emotion, ...]:
        """The deployment's classes (its head's labels, or its model's emotions), as its
        /status says, so a subset is offered and checked here as a local engine would;
        the model's nine until it has answered."""
        if self._classes is None:
            self.status()
        return self._classes or super().classes()

    def batch_size(self) -> int:
        """Files a batch hands over at once: all in flight together."""
        return self.in_flight

    def score_embeddings(
        self, embeddings: np.ndarray, options: AnalysisOptions | None = None
    ) -> np.ndarray:
        raise ValueError(
            "Evaluation and head training score embeddings with the model's head, which the "
            f"Ray Serve deployment at {self.url} does not offer over HTTP: run them with the "
            "model in this process (emotion2vec-app evaluate, or serve without --backend)."
        )

    def _plan(self, lengths: Sequence[int]) -> list[list[int]]:
        """Consecutive rounds of `in_flight` requests: grouping by length saves nothing over
        HTTP, where each clip is its own request and the deployment batches them itself."""
        count = len(lengths)
        return [
            list(range(i, min(i + self.in_flight, count))) for i in range(0, count, self.in_flight)
        ]

    def _score_clips(
        self, waveforms: list[Waveform], options: AnalysisOptions
    ) -> list[Prediction | Exception]:
        """All at once, so the deployment's replicas and `serve.batch` share them out. A clip
        the server refuses or cannot fit fails alone; a backend that stays away is raised."""
        with ThreadPoolExecutor(max(1, min(self.in_flight, len(waveforms)))) as pool:
            return list(pool.map(lambda w: self._remote_or_error(w, options), waveforms))

    def _analyze_segmented(
        self, waveform: Waveform, options: AnalysisOptions, progress: Progress
    ) -> Prediction:
        """One request: the replica segments the recording with the same options."""
        progress(0.0, f"Analysing on the Ray Serve backend ({waveform.duration_s:.0f} s)")
        return self._remote(waveform, options)

    def _remote_or_error(
        self, waveform: Waveform, options: AnalysisOptions
    ) -> Prediction | Exception:
        try:
            return self._remote(waveform, options)
        except (AudioError, OutOfMemory) as error:
            return error

    def _remote(self, waveform: Waveform, options: AnalysisOptions) -> Prediction:
        started = time.perf_counter()
        response = self._post_analyze(_upload(waveform, options), _form(options))
        round_trip_ms = (time.perf_counter() - started) * 1000
        payload = response.json()
        server_ms = payload["result"]["timings_ms"]["total"]
        return from_payload(payload, waveform, {"transfer": max(0.0, round_trip_ms - server_ms)})

    def _post_analyze(self, audio: tuple[str, bytes, str], form: dict[str, str]) -> httpx.Response:
        """POST /analyze; an analysis has no side effects there, so a request lost with its
        replica (killed, out of host memory, restarting) is sent again, after a pause."""
        for delay in RETRY_DELAYS_S:
            with contextlib.suppress(_Lost):
                return self._post_once(audio, form)
            time.sleep(delay)
        try:
            return self._post_once(audio, form)
        except _Lost as lost:
            raise lost.error from None

    def _post_once(self, audio: tuple[str, bytes, str], form: dict[str, str]) -> httpx.Response:
        try:
            response = self._http.post(f"{self.url}/analyze", files={"audio": audio}, data=form)
        except httpx.TransportError as error:
            raise _Lost(ModelNotReady(_unreachable(self.url, error))) from error
        if response.status_code == 200:
            return response
        error = _remote_error(response)
        if response.status_code >= 500 and ERROR_KIND_HEADER not in response.headers:
            raise _Lost(error)  # not an answer of the app's: the replica or proxy failed
        raise error


def _upload(waveform: Waveform, options: AnalysisOptions) -> tuple[str, bytes, str]:
    """The decoded 16 kHz audio as a float WAV, which the server reads back bit for bit: for
    channels split, every channel kept apart (C channels), so the replica splits them as a
    local engine does. It keeps the source's name, so the server's notes name it alike."""
    apart = options.split and waveform.channels is not None
    buffer = io.BytesIO()
    audio = waveform.channels.T if apart else waveform.samples  # (N, C) or (N,)
    sf.write(buffer, audio, TARGET_RATE, subtype="FLOAT", format="WAV")
    return waveform.info.name, buffer.getvalue(), "audio/wav"


def _form(options: AnalysisOptions) -> dict[str, str]:
    """The options as /analyze's form fields; a subset and channel names only when given."""
    form = {
        "granularity": options.granularity,
        "extract_embedding": str(options.extract_embedding).lower(),
        "segmentation": options.segmentation,
        "smooth_s": str(options.smooth_s),
        "channels": options.channels,
    }
    if options.emotions is not None:
        form["emotions"] = ",".join(options.emotions)
    if options.channel_names is not None:
        form["channel_names"] = ",".join(options.channel_names)
    return form


class _Lost(Exception):
    """A request that never got the app's answer; `error` is what to raise if it stays lost."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _unreachable(url: str, error: Exception) -> str:
    return (
        f"The Ray Serve backend at {url} cannot be reached ({type(error).__name__}: {error}): "
        "check that `emotion2vec-app ray-serve` is running there."
    )


def _remote_error(response: httpx.Response) -> Exception:
    """The server's error as the exception a local engine would raise."""
    try:
        message = str(response.json()["detail"])
    except (ValueError, KeyError, TypeError):
        message = response.text[:500]
    kind = response.headers.get(ERROR_KIND_HEADER, "")
    if kind in ERRORS_BY_KIND:
        return ERRORS_BY_KIND[kind](message)
    if response.status_code in (400, 413, 422):
        return AudioError(message)
    return RuntimeError(f"The Ray Serve backend answered {response.status_code}: {message}")
