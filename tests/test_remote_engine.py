"""RemoteEngine and the prediction wire format, without Ray: a Prediction survives the trip
losslessly, server errors become the engine's own exceptions, and an unreachable backend is
"loading" and then "failed" with its address."""

from __future__ import annotations

import http.server
import io
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import numpy as np
import pytest
import soundfile as sf
import test_stereo as stereo
from browser_harness import chromium, new_page, screenshot, serving, wait_until_ready
from server_harness import free_port

from emotion2vec_app.audio import DEFAULT_MAX_DURATION_S, AudioError, decode_audio
from emotion2vec_app.distributed import remote_engine
from emotion2vec_app.distributed.remote_engine import RemoteEngine, _remote_error
from emotion2vec_app.distributed.wire import (
    ERROR_KIND_HEADER,
    MAX_UPLOAD_MB,
    from_payload,
    to_payload,
)
from emotion2vec_app.engine import (
    Engine,
    EngineState,
    ModelLoadFailed,
    ModelNotReady,
    OutOfMemory,
)
from emotion2vec_app.heads import LinearHead
from emotion2vec_app.labels import EMOTIONS, emotions_for_labels
from emotion2vec_app.model.inference import embedding_dim
from emotion2vec_app.options import AnalysisOptions

CLOSED = "http://127.0.0.1:9"  # nothing listens on the discard port
HEAD_LABELS = ("calm", "tense", "bored")
SPLIT = AnalysisOptions(channels="split", channel_names="agent,customer")


def random_head(engine: Engine, labels: tuple[str, ...] = HEAD_LABELS) -> LinearHead:
    """An untrained head for the engine's model (a ready one): its labels are what matters."""
    dim = embedding_dim(engine.loaded_model())
    return LinearHead(
        labels=labels,
        weight=np.random.default_rng(0).standard_normal((len(labels), dim)).astype(np.float32),
        bias=np.zeros(len(labels), np.float32),
        mean=np.zeros(dim, np.float32),
        scale=np.ones(dim, np.float32),
        model_id=engine.status().model,
        precision="float32",
    )


def write_stereo_calls(folder: Path) -> dict[str, Path]:
    """Stereo calls as tests/test_stereo makes them, each side leaking faintly into the other:
    "call", an agent on the left and then a customer on the right; "one-sided", the agent
    alone. Callers ask for `clip_dir`, which skips where espeak-ng is missing."""
    agent = stereo.speech(folder, "Good morning, how can I help you today?", "en", 10.0)
    customer = stereo.speech(folder, "I have been waiting for over an hour.", "en+f3", 10.0)
    layouts = {
        "call": stereo.call([(0.0, agent)], [(11.0, customer)], 22.0),
        "one-sided": stereo.call([(0.0, agent)], [], 12.0),
    }
    return {name: stereo.write(folder / f"{name}.wav", frames) for name, frames in layouts.items()}


@pytest.fixture(scope="module")
def stereo_calls(clip_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_stereo_calls(tmp_path_factory.mktemp("stereo"))


def round_trip(prediction):
    payload = json.loads(json.dumps(to_payload(prediction)))  # as it crosses HTTP
    return from_payload(payload, prediction.waveform)


def without_timings(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "timings_ms"}


def test_a_segmented_frame_prediction_survives_the_wire(engine, call):
    path, _ = call
    options = AnalysisOptions("frame", extract_embedding=True)
    prediction = engine.analyze(path, options)
    assert prediction.segments is not None and prediction.frames.offsets_s is not None
    back = round_trip(prediction)
    assert without_timings(back.to_json()) == without_timings(prediction.to_json())
    np.testing.assert_array_equal(back.probs, prediction.probs)
    np.testing.assert_array_equal(back.embedding, prediction.embedding)
    np.testing.assert_array_equal(back.frames.probs, prediction.frames.probs)
    np.testing.assert_array_equal(back.frames.start_s, prediction.frames.start_s)
    np.testing.assert_array_equal(back.segments.probs, prediction.segments.probs)
    np.testing.assert_array_equal(back.segments.start_s, prediction.segments.start_s)
    assert back.emotions == prediction.emotions
    assert back.timestamp.replace(microsecond=0) == prediction.timestamp.replace(microsecond=0)


def test_an_utterance_prediction_has_no_optional_arrays(engine, clips):
    prediction = engine.analyze(clips["wav"])
    back = round_trip(prediction)
    assert back.frames is None and back.segments is None and back.embedding is None
    assert back.to_json()["scores"] == prediction.to_json()["scores"]


def test_a_subset_of_a_heads_classes_survives_the_wire_with_their_colours(
    engine, tiny_model_dir, clips, tmp_path
):
    """ "bored" keeps the neutral colour of its place in the head (the third), not of its place
    in the subset, so the WebUI colours a backend's classes as a local engine's."""
    head = random_head(engine)
    with_head = Engine(str(tiny_model_dir), head=head, cache_dir=tmp_path)
    prediction = with_head.analyze(clips["wav"], AnalysisOptions("frame", emotions="calm,bored"))
    calm, _, bored = emotions_for_labels(HEAD_LABELS)
    assert prediction.emotions == (calm, bored)
    back = round_trip(prediction)
    assert back.emotions == back.frames.emotions == (calm, bored)
    assert without_timings(back.to_json()) == without_timings(prediction.to_json())
    np.testing.assert_array_equal(back.frames.probs, prediction.frames.probs)


def test_a_subset_of_the_models_emotions_survives_the_wire(engine, clips):
    options = AnalysisOptions(emotions="angry,happy,neutral,sad")
    prediction = engine.analyze(clips["wav"], options)
    back = round_trip(prediction)
    assert back.emotions == options.scored(EMOTIONS) == prediction.emotions
    assert list(back.to_json()["scores"]) == ["angry", "happy", "neutral", "sad"]
    np.testing.assert_array_equal(back.probs, prediction.probs)


@pytest.mark.parametrize("layout", ["call", "one-sided"])
def test_a_split_prediction_survives_the_wire(engine, stereo_calls, layout):
    """Each channel's timeline, name and note, and the channel of every merged segment."""
    prediction = engine.analyze(stereo_calls[layout], SPLIT)
    assert any(c.note for c in prediction.channels) == (layout == "one-sided")
    back = round_trip(prediction)
    assert without_timings(back.to_json()) == without_timings(prediction.to_json())
    assert back.segment_channels == prediction.segment_channels
    for theirs, mine in zip(back.channels, prediction.channels, strict=True):
        assert (theirs.index, theirs.name, theirs.note) == (mine.index, mine.name, mine.note)
        for array in ("start_s", "end_s", "probs"):
            np.testing.assert_array_equal(
                getattr(theirs.segments, array), getattr(mine.segments, array)
            )


def test_the_longest_split_call_a_backend_may_send_fits_the_servers_default_limit():
    rng = np.random.default_rng(0)
    stereo = rng.uniform(-0.5, 0.5, (16000, 2)).astype(np.float32)
    second = decode_audio(stereo, sample_rate=16000, keep_channels=True)
    _, body, _ = remote_engine._upload(second, SPLIT)
    longest = len(body) * DEFAULT_MAX_DURATION_S  # bytes: the WAV header counted every second
    assert longest <= MAX_UPLOAD_MB * 2**20 < 1.1 * longest


@pytest.mark.parametrize(
    ("status", "kind", "expected"),
    [
        (503, "OutOfMemory", OutOfMemory),
        (503, "ModelLoadFailed", ModelLoadFailed),
        (400, "AudioTooLong", AudioError),
        (422, "", AudioError),
        (413, "", AudioError),
        (500, "", RuntimeError),
    ],
)
def test_server_errors_become_the_engines_exceptions(status, kind, expected):
    response = httpx.Response(
        status, json={"detail": "what went wrong"}, headers={ERROR_KIND_HEADER: kind}
    )
    error = _remote_error(response)
    assert type(error) is expected
    assert "what went wrong" in str(error)


def test_an_unreachable_backend_is_loading_then_failed_until_retried(clips):
    patient = RemoteEngine(CLOSED, connect_timeout_s=600)
    assert patient.status().state is EngineState.LOADING
    assert patient.status().error is None
    impatient = RemoteEngine(CLOSED, connect_timeout_s=0)
    status = impatient.status()
    assert status.state is EngineState.FAILED
    assert CLOSED in status.error and "cannot be reached" in status.error
    with pytest.raises(ModelLoadFailed, match="cannot be reached"):
        impatient.analyze(clips["wav"], timeout=1)
    assert impatient.retry() is True
    assert patient.retry() is False  # only a failed backend is retried


def test_bad_audio_is_refused_before_any_request(tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really")
    with pytest.raises(AudioError, match=r"broken\.wav"):
        RemoteEngine(CLOSED, connect_timeout_s=0).analyze(broken)


def test_serve_with_a_backend_refuses_a_model_of_its_own(capsys):
    from emotion2vec_app.cli import main

    assert main(["serve", "--backend", CLOSED, "--demo"]) == 2
    error = capsys.readouterr().err
    assert "choose the model (or --demo) with `emotion2vec-app ray-serve`" in error


class FakeBackend:
    """A stand-in for the deployment's GET /status (with `classes`, when given), which can be
    stopped and started, and for POST /analyze: `answer(body)` gives the status, headers and
    JSON of each request."""

    STATUS: ClassVar[dict[str, Any]] = {
        "status": "running", "model_loaded": True, "state": "ready", "model": "demo",
        "demo": True, "device": "cpu", "dtype": "float32", "load_seconds": 1.0,
        "elapsed_s": 1.0, "error": None,
    }  # fmt: skip

    def __init__(
        self,
        answer: Callable[[bytes], tuple[int, dict, dict]] | None = None,
        classes: tuple[str, ...] = (),
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.httpd = None
        self.answer = answer
        self.status = {**self.STATUS, **({"classes": list(classes)} if classes else {})}

    def start(self) -> None:
        status, answer = json.dumps(self.status).encode(), self.answer

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.reply(200, {}, status)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                code, headers, content = answer(body)
                self.reply(code, headers, json.dumps(content).encode())

            def reply(self, code: int, headers: dict, content: bytes) -> None:
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(content)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def backend(engine, clips) -> Iterator[FakeBackend]:
    """Answers every clip with a prediction, but a clip named huge* with the deployment's
    out-of-memory error and one named unready* with its model-not-ready error."""
    payload = to_payload(engine.analyze(clips["wav"]))

    def answer(body: bytes) -> tuple[int, dict, dict]:
        for name, kind in ((b"huge", "OutOfMemory"), (b"unready", "ModelNotReady")):
            if b'filename="' + name in body:
                return 503, {ERROR_KIND_HEADER: kind}, {"detail": f"{kind} for this clip"}
        return 200, {}, payload

    fake = FakeBackend(answer)
    fake.start()
    yield fake
    fake.stop()


def test_a_clip_the_backend_cannot_fit_fails_alone_and_the_others_are_answered(backend, clips):
    remote = RemoteEngine(backend.url, in_flight=2)
    waveforms = [remote.decode(clips["wav"], name=n) for n in ("a", "b", "huge", "c", "d")]
    outcomes = remote.analyze_batch(waveforms, decode_s=[0.5] * 5)
    assert [o.prediction is None for o in outcomes] == [False, False, True, False, False]
    error = outcomes[2].error
    assert isinstance(error, OutOfMemory) and str(error) == "OutOfMemory for this clip"
    for waveform, outcome in zip(waveforms, outcomes, strict=True):
        if outcome.prediction is not None:
            assert outcome.prediction.waveform is waveform  # results stay in input order
            timings = outcome.prediction.timings_ms
            assert timings["decode"] == 500.0 and "transfer" in timings


def test_a_backend_without_its_model_fails_the_whole_batch(backend, clips):
    remote = RemoteEngine(backend.url)
    waveforms = [remote.decode(clips["wav"], name=n) for n in ("a", "unready", "b")]
    with pytest.raises(ModelNotReady, match="ModelNotReady for this clip"):
        remote.analyze_batch(waveforms)


def test_a_subset_is_sent_as_a_form_field_and_the_classes_are_the_deployments(
    engine, clips, monkeypatch
):
    """A head's labels from /status, as the local engine would have them; "emotions" only
    when a subset is asked for."""
    monkeypatch.setattr(remote_engine, "STATUS_CACHE_S", 0.0)
    payload = to_payload(engine.analyze(clips["wav"]))
    bodies: list[bytes] = []
    backend = FakeBackend(lambda body: bodies.append(body) or (200, {}, payload), HEAD_LABELS)
    remote = RemoteEngine(backend.url)
    assert remote.classes() == EMOTIONS  # not answered yet: the model's own
    backend.start()
    try:
        assert remote.classes() == emotions_for_labels(HEAD_LABELS)
        remote.analyze(clips["wav"], AnalysisOptions(emotions=" Calm, bored"))
        remote.analyze(clips["wav"])
    finally:
        backend.stop()
    assert b'name="emotions"\r\n\r\ncalm,bored\r\n' in bodies[0]
    assert b'name="emotions"' not in bodies[1]


def test_split_sends_each_channel_apart_and_the_channel_names(engine, stereo_calls):
    """The deployment gets both channels bit for bit, not their mix, so it can split them."""
    prediction = engine.analyze(stereo_calls["call"], SPLIT)
    payload = to_payload(prediction)
    bodies: list[bytes] = []
    backend = FakeBackend(lambda body: bodies.append(body) or (200, {}, payload))
    backend.start()
    try:
        back = RemoteEngine(backend.url).analyze(stereo_calls["call"], SPLIT)
    finally:
        backend.stop()
    (body,) = bodies
    sent, rate = sf.read(io.BytesIO(body[body.index(b"RIFF") :]), dtype="float32")
    assert rate == 16000
    np.testing.assert_array_equal(sent.T, prediction.waveform.channels)
    assert b'name="channels"\r\n\r\nsplit\r\n' in body
    assert b'name="channel_names"\r\n\r\nagent,customer\r\n' in body
    assert b'filename="call.wav"' in body
    assert [c.name for c in back.channels] == ["agent", "customer"]


def test_a_long_recording_is_one_request_with_its_progress(backend, call):
    heard: list[str] = []
    remote = RemoteEngine(backend.url)
    prediction = remote.analyze(call[0], progress=lambda fraction, message: heard.append(message))
    seconds = remote.decode(call[0]).duration_s
    assert heard == [f"Analysing on the Ray Serve backend ({seconds:.0f} s)"]
    assert prediction.waveform.info.name == "call.wav"


def test_what_the_core_refuses_never_reaches_the_backend(clips):
    """The length checks and decoding errors are the core's, here: no request is sent (to a
    backend that cannot be reached, it would fail)."""
    remote = RemoteEngine(CLOSED, connect_timeout_s=0)
    long = remote.decode(np.zeros(61 * 16000, np.float32), sample_rate=16000, name="long")
    outcomes = remote.analyze_batch(
        [long, AudioError("'x.wav' could not be decoded")], AnalysisOptions(segmentation="off")
    )
    assert "'long' is 61.0 s long, above the 60 s" in outcomes[0].reason
    assert outcomes[1].reason == "'x.wav' could not be decoded"


def test_a_backend_that_drops_out_fails_and_recovers_without_a_retry(monkeypatch):
    monkeypatch.setattr(remote_engine, "STATUS_CACHE_S", 0.0)
    backend = FakeBackend()
    remote = RemoteEngine(backend.url, connect_timeout_s=600)
    assert remote.status().state is EngineState.LOADING  # not up yet: replicas loading
    backend.start()
    assert remote.status().state is EngineState.READY
    assert remote.status().demo is True
    backend.stop()
    dropped = remote.status()
    assert dropped.state is EngineState.FAILED and "cannot be reached" in dropped.error
    backend.start()
    assert remote.status().state is EngineState.READY
    backend.stop()


def test_the_page_shows_a_backend_drop_out_and_its_return(tmp_path):
    """The page keeps watching a backend after ready: failed (Analyze disabled), then ready."""
    backend = FakeBackend()
    backend.start()
    engine = RemoteEngine(f"http://127.0.0.1:{backend.port}")
    try:
        with serving(engine, tmp_path / "outputs") as url, chromium() as browser:
            page = new_page(browser)
            page.goto(url)
            wait_until_ready(page)
            assert "Ray Serve" in page.inner_text("#model-status")
            assert page.is_visible("#demo-banner")
            backend.stop()
            page.wait_for_selector("#model-status [data-state=failed]")
            assert "not reachable" in page.inner_text("#model-status")
            assert "cannot be reached" in page.inner_text("#model-status")
            assert page.is_disabled("#analyze")
            assert "Check the backend again" in page.inner_text("#retry")
            screenshot(page, "webui-backend-dropped")
            backend.start()
            wait_until_ready(page)
    finally:
        backend.stop()
