"""The real `emotion2vec-app serve` process, driven over plain HTTP and with gradio_client."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from clips import speak, write_tone
from gradio_client import Client
from gradio_client.exceptions import AppError, AuthenticationError
from server_harness import analyze, eventually, health, http_get, running_server

STATUS_KEYS = {"state", "model", "demo", "device", "dtype", "load_seconds", "error"}
TINY_EMBED_DIM = 64  # synthetic.build_model_dir(size="tiny")


def test_plain_status_and_page(server):
    assert health(server.url) == {"status": "running", "model_loaded": True, "state": "ready"}
    code, content_type, body = http_get(server.url)
    assert code == 200
    assert content_type.startswith("text/html")
    assert "<html" in body.lower()
    # It is printed after the health route exists: allow it a moment to reach the log.
    assert eventually(lambda: f"emotion2vec WebUI: {server.url}" in server.log()), server.log()


def test_status_endpoint(client, tiny_model_dir):
    status = client.predict(api_name="/status")
    assert STATUS_KEYS <= set(status) <= STATUS_KEYS | {"elapsed_s"}
    assert status["state"] == "ready"
    assert status["demo"] is False
    assert status["device"] == "cpu"
    assert status["model"] == str(tiny_model_dir)
    assert status["error"] is None
    assert status["load_seconds"] > 0


@pytest.mark.parametrize("granularity", ["utterance", "frame"])
@pytest.mark.parametrize("key", ["wav", "mp3", "m4a"])
def test_analyze_formats(client, server, clips, key, granularity):
    result, embedding = analyze(client, clips[key], granularity)
    assert embedding is None
    assert result["audio"]["format"] == key
    assert result["audio"]["name"] == clips[key].name
    assert result["granularity"] == granularity
    assert result["model"]["demo"] is False and result["model"]["device"] == "cpu"

    scores = result["scores"]
    assert len(scores) == 9
    assert all(0.0 <= p <= 1.0 for p in scores.values())
    assert sum(scores.values()) == pytest.approx(1.0, abs=1e-4)
    assert result["emotion"] == max(scores, key=scores.get)
    assert result["confidence"] == scores[result["emotion"]]

    if granularity == "frame":
        frames = result["frames"]
        steps = len(frames["start_s"])
        assert steps > 1
        assert set(frames["scores"]) == set(scores)
        assert all(len(series) == steps for series in frames["scores"].values())
        assert len(frames["emotion"]) == steps
    else:
        assert "frames" not in result

    run_dir = Path(result["run_dir"])
    assert run_dir.parent == server.output_dir, "runs go under --output-dir"
    assert json.loads((run_dir / "result.json").read_text(encoding="utf-8")) == result
    assert (run_dir / "processed_audio.wav").is_file()
    assert not (run_dir / "embedding.npy").exists()


@pytest.mark.parametrize("granularity", ["utterance", "frame"])
def test_embedding(client, clips, granularity):
    result, path = analyze(client, clips["wav"], granularity, embedding=True)
    assert isinstance(path, str) and Path(path).is_file()
    embedding = np.load(path)
    assert embedding.dtype == np.float32
    if granularity == "frame":
        assert embedding.shape == (len(result["frames"]["start_s"]), TINY_EMBED_DIM)
    else:
        assert embedding.shape == (TINY_EMBED_DIM,)
    assert np.isfinite(embedding).all() and np.abs(embedding).sum() > 0
    assert result["embedding"] == {"file": "embedding.npy", "shape": list(embedding.shape)}
    saved = np.load(Path(result["run_dir"]) / "embedding.npy")
    np.testing.assert_array_equal(saved, embedding)

    result, path = analyze(client, clips["wav"], granularity, embedding=False)
    assert path is None
    assert "embedding" not in result


def write_input(directory: Path, name: str) -> Path:
    """The test inputs of test_bad_input, by file name."""
    path = directory / name
    if name == "notes.mp3":
        path.write_text("this is text, not audio")
    elif name == "empty.wav":
        path.write_bytes(b"")
    else:
        write_tone(path, {"blip.wav": 0.01, "fine.wav": 1.0}[name])
    return path


@pytest.mark.parametrize(
    ("name", "granularity", "message"),
    [
        ("notes.mp3", "utterance", "'notes.mp3' could not be decoded"),
        ("blip.wav", "utterance", "shorter than the 0.1 s minimum"),
        ("empty.wav", "utterance", "'empty.wav' is empty"),
        ("fine.wav", "word", "granularity must be one of utterance, frame"),
    ],
)
def test_bad_input_is_a_specific_app_error(
    client, server, clips, tmp_path, name, granularity, message
):
    path = write_input(tmp_path, name)
    runs_before = set(server.output_dir.iterdir())
    with pytest.raises(AppError) as caught:
        analyze(client, path, granularity)
    assert set(server.output_dir.iterdir()) == runs_before, "a failed request saves no run"
    assert message in str(caught.value)
    assert "Traceback" not in str(caught.value)
    assert str(server.output_dir) not in str(caught.value)
    assert "gradio-tmp" not in str(caught.value), "no server paths in user messages"

    assert health(server.url)["state"] == "ready"
    result, _ = analyze(client, clips["wav"])
    assert result["audio"]["name"] == clips["wav"].name
    assert "Traceback" not in server.log(), "a user's bad file is no server error"


def test_two_clients_at_once(server, clips, tmp_path):
    other = speak("The train was cancelled again and nobody told us why.", tmp_path / "late.wav")
    paths = [clips["stereo48k"], other]
    clients = [
        Client(server.url, verbose=False, download_files=str(tmp_path / f"c{i}")) for i in (0, 1)
    ]
    expected = [analyze(c, p)[0]["scores"] for c, p in zip(clients, paths, strict=True)]
    assert expected[0] != expected[1], "the two clips must be told apart"
    rounds = 3
    barrier = threading.Barrier(2)

    def work(index: int) -> list[dict]:
        barrier.wait(timeout=60)
        return [analyze(clients[index], paths[index])[0] for _ in range(rounds)]

    with ThreadPoolExecutor(2) as pool:
        outcomes = [f.result(timeout=300) for f in [pool.submit(work, i) for i in (0, 1)]]

    run_dirs = set()
    for path, scores, results in zip(paths, expected, outcomes, strict=True):
        assert len(results) == rounds
        for result in results:
            assert result["audio"]["name"] == path.name
            assert result["scores"].keys() == scores.keys()
            for key, p in scores.items():
                assert result["scores"][key] == pytest.approx(p, abs=1e-6)
            run_dirs.add(result["run_dir"])
    assert len(run_dirs) == 2 * rounds, "every request gets its own run folder"


# --- servers of their own ---------------------------------------------------------------


def test_share_without_internet_keeps_serving(tmp_path):
    notes = ("Public link:", "Share link could not be created")
    with running_server(tmp_path, "--demo", "--share", until=("loading", "ready")) as server:
        assert eventually(lambda: any(note in server.log() for note in notes)), server.log()
        assert server.process.poll() is None, server.log()
        assert health(server.url)["status"] == "running"
        assert http_get(server.url)[0] == 200


def test_auth(tiny_model_dir, tmp_path):
    # running_server waits on plain GET /status: health checks need no login.
    with running_server(tmp_path, "--model", str(tiny_model_dir), "--auth", "user:pass") as server:
        assert health(server.url) == {"status": "running", "model_loaded": True, "state": "ready"}
        with pytest.raises(urllib.error.HTTPError) as config:
            http_get(server.url + "config")
        assert config.value.code == 401, "the app itself is behind the login"
        with pytest.raises(AuthenticationError, match="credentials were not provided"):
            Client(server.url, verbose=False)
        with pytest.raises(ValueError, match="Could not login"):
            Client(server.url, verbose=False, auth=("user", "wrong"))
        client = Client(server.url, verbose=False, auth=("user", "pass"))
        assert client.predict(api_name="/status")["state"] == "ready"


def test_model_that_cannot_load(clips, tmp_path):
    missing = tmp_path / "no-such-model"
    with running_server(tmp_path / "work", "--model", str(missing), until=("failed",)) as server:
        assert health(server.url) == {"status": "running", "model_loaded": False, "state": "failed"}
        assert http_get(server.url)[0] == 200
        client = Client(server.url, verbose=False, download_files=str(tmp_path / "downloads"))
        status = client.predict(api_name="/status")
        assert status["state"] == "failed"
        assert str(missing) in status["error"]
        with pytest.raises(AppError, match="failed to load") as caught:
            analyze(client, clips["wav"])
        assert str(missing) in str(caught.value)
        assert server.process.poll() is None
        assert eventually(lambda: "error: The model failed to load" in server.log(), seconds=5)
