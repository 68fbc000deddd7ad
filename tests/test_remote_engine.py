"""RemoteEngine and the prediction wire format, without Ray: a Prediction survives the trip
losslessly, server errors become the engine's own exceptions, and an unreachable backend is
"loading" and then "failed" with its address."""

from __future__ import annotations

import http.server
import json
import threading

import httpx
import numpy as np
import pytest
from browser_harness import chromium, new_page, screenshot, serve_ui, wait_until_ready
from server_harness import free_port

from emotion2vec_app import remote_engine
from emotion2vec_app.audio import AudioError
from emotion2vec_app.engine import AnalysisOptions, EngineState, ModelLoadFailed, OutOfMemory
from emotion2vec_app.prediction_wire import ERROR_KIND_HEADER, from_payload, to_payload
from emotion2vec_app.remote_engine import RemoteEngine, _remote_error

CLOSED = "http://127.0.0.1:9"  # nothing listens on the discard port


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
    """A stand-in for the deployment's GET /status, which can be stopped and started."""

    STATUS = json.dumps(
        {"status": "running", "model_loaded": True, "state": "ready", "model": "demo",
         "demo": True, "device": "cpu", "dtype": "float32", "load_seconds": 1.0,
         "elapsed_s": 1.0, "error": None}
    ).encode()  # fmt: skip

    def __init__(self) -> None:
        self.port = free_port()
        self.httpd = None

    def start(self) -> None:
        status = self.STATUS

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(status)

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_backend_that_drops_out_fails_and_recovers_without_a_retry(monkeypatch):
    monkeypatch.setattr(remote_engine, "STATUS_CACHE_S", 0.0)
    backend = FakeBackend()
    remote = RemoteEngine(f"http://127.0.0.1:{backend.port}", connect_timeout_s=600)
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
    demo, url = serve_ui(RemoteEngine(f"http://127.0.0.1:{backend.port}"), tmp_path / "outputs")
    try:
        with chromium() as browser:
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
        demo.close()
