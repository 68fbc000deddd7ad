"""The Ray Serve deployment on a local 2-CPU Ray with the demo model: it answers the analyze
and status contract over HTTP with the single-process results, batches concurrent requests,
refuses bad input with specific errors, autoscales, and serves as the WebUI's backend (through
gradio_client and in Chromium). Also `emotion2vec-app ray-serve` itself."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from browser_harness import analyze_clip, chromium, new_page, screenshot, wait_until_ready
from clips import write_tone
from gradio_client import handle_file
from ray_harness import process_ids, require_ray
from server_harness import CLI, Client, free_port, running_server
from test_remote_engine import HEAD_LABELS, SPLIT, random_head, write_stereo_calls

from emotion2vec_app.audio import AudioTooLong, decode_audio
from emotion2vec_app.distributed.remote_engine import RemoteEngine
from emotion2vec_app.distributed.wire import ERROR_KIND_HEADER, read_arrays
from emotion2vec_app.engine import Engine
from emotion2vec_app.labels import EMOTIONS, emotions_for_labels
from emotion2vec_app.options import AnalysisOptions

require_ray()  # before the imports that need the extra
import ray  # noqa: E402
from ray import serve  # noqa: E402

from emotion2vec_app.distributed.serve_app import (  # noqa: E402
    BATCH_HEADER,
    REPLICA_HEADER,
    ServeConfig,
    app_builder,
    build_app,
    deploy,
)

UPLOAD_LIMIT_MB = 8.0
SCALING_PREFIX = "/scaling"


@pytest.fixture(scope="module")
def port(cluster) -> int:
    return free_port()


@pytest.fixture(scope="module")
def service(port) -> str:
    """One replica (half a CPU), as `emotion2vec-app ray-serve --demo` deploys it."""
    config = ServeConfig(model="demo", cpus_per_replica=0.5, max_upload_mb=UPLOAD_LIMIT_MB)
    return deploy(config, port=port)


@pytest.fixture(scope="module")
def local() -> Engine:
    engine = Engine("demo")
    engine.wait_ready()
    return engine


def post(url: str, path: Path, **form) -> httpx.Response:
    with path.open("rb") as audio:
        return httpx.post(
            f"{url}/analyze", files={"audio": (path.name, audio)}, data=form, timeout=120
        )


def assert_same(payload: dict, expected, options: AnalysisOptions) -> None:
    """The deployment's answer is the single-process Prediction (threads differ: 1e-5)."""
    result, arrays = payload["result"], read_arrays(payload)
    mine = expected.to_json()
    assert result["emotion"] == mine["emotion"]
    assert result["audio"] == mine["audio"]
    assert result["granularity"] == mine["granularity"]
    np.testing.assert_allclose(arrays["probs"], expected.probs, atol=1e-5)
    if options.granularity == "frame":
        np.testing.assert_allclose(arrays["frame_logits"], expected.frames.logits, atol=1e-4)
        assert result["frames"]["start_s"] == mine["frames"]["start_s"]
    if options.extract_embedding:
        np.testing.assert_allclose(arrays["embedding"], expected.embedding, atol=1e-5)
        assert result["embedding"]["shape"] == mine["embedding"]["shape"]
    if expected.segments is not None:
        assert result["summary"]["segments"] == mine["summary"]["segments"]
        np.testing.assert_allclose(arrays["segment_probs"], expected.segments.probs, atol=1e-5)


def test_status_is_the_health_check_with_the_engine_state(service):
    status = httpx.get(f"{service}/status", timeout=10).json()
    assert status["status"] == "running" and status["model_loaded"] is True
    assert status["state"] == "ready" and status["demo"] is True and status["model"] == "demo"
    assert status["device"] == "cpu" and status["error"] is None
    assert status["threads"] == 1  # Ray gives a half-CPU replica one torch thread
    assert status["classes"] == [emotion.key for emotion in EMOTIONS]


@pytest.mark.parametrize(
    ("fmt", "options"),
    [
        ("wav", AnalysisOptions()),
        ("mp3", AnalysisOptions("frame", extract_embedding=True)),
        ("flac", AnalysisOptions(extract_embedding=True)),
    ],
)
def test_analyze_answers_the_single_process_result(service, local, clips, fmt, options):
    response = post(
        service,
        clips[fmt],
        granularity=options.granularity,
        extract_embedding=str(options.extract_embedding).lower(),
    )
    assert response.status_code == 200, response.text
    assert response.headers[REPLICA_HEADER]
    assert_same(response.json(), local.analyze(clips[fmt], options), options)


def test_a_long_recording_is_segmented_as_in_one_process(service, local, call):
    path, _ = call
    options = AnalysisOptions("frame", extract_embedding=True)
    response = post(service, path, granularity="frame", extract_embedding="true")
    assert response.status_code == 200, response.text
    assert response.json()["result"]["segments"]["method"] == "vad"
    assert_same(response.json(), local.analyze(path, options), options)


def test_concurrent_requests_share_batches_and_keep_their_own_results(service, local, clips):
    paths = [clips[fmt] for fmt in ("wav", "mp3", "flac", "ogg")] * 4
    with ThreadPoolExecutor(len(paths)) as pool:
        responses = list(pool.map(lambda p: post(service, p), paths))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    assert max(int(r.headers[BATCH_HEADER]) for r in responses) > 1
    for path, response in zip(paths, responses, strict=True):
        assert_same(response.json(), local.analyze(path), AnalysisOptions())
    batching = httpx.get(f"{service}/status", timeout=10).json()["batching"]
    assert batching["largest_batch"] > 1 and batching["batches"] < batching["requests"]


@pytest.mark.parametrize(
    ("name", "body", "form", "status", "message"),
    [
        ("noise.wav", b"RIFF this is not audio at all" * 10, {}, 400, "could not be decoded"),
        ("empty.wav", b"", {}, 400, "empty"),
        ("ok.wav", None, {"granularity": "word"}, 422, "granularity must be one of"),
        ("ok.wav", None, {"segmentation": "magic"}, 422, "segmentation must be one of"),
        ("ok.wav", None, {"smooth_s": "99"}, 422, "smooth_s must be between"),
        ("ok.wav", None, {"emotions": "angry,calm"}, 422, "'calm' is not among the classes"),
        ("ok.wav", None, {"emotions": "angry"}, 422, "needs at least two emotions"),
        ("ok.wav", None, {"channels": "stereo"}, 422, "channels must be one of mix, split"),
        ("ok.wav", None, {"channels": "split", "channel_names": "a,a"}, 422, "distinct"),
        ("big.wav", b"\0" * int((UPLOAD_LIMIT_MB + 1) * 1024 * 1024), {}, 413, "limit of 8 MB"),
    ],
)
def test_bad_requests_get_specific_errors_and_the_service_serves_on(
    service, clips, name, body, form, status, message
):
    content = clips["wav"].read_bytes() if body is None else body
    response = httpx.post(
        f"{service}/analyze", files={"audio": (name, content)}, data=form, timeout=60
    )
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]
    assert post(service, clips["wav"]).status_code == 200


def test_a_subset_is_scored_alone_as_in_one_process(service, local, clips):
    options = AnalysisOptions(emotions="angry,happy,neutral,sad")
    response = post(service, clips["wav"], emotions="angry, happy,neutral,sad")
    assert response.status_code == 200, response.text
    assert list(response.json()["result"]["scores"]) == ["angry", "happy", "neutral", "sad"]
    assert_same(response.json(), local.analyze(clips["wav"], options), options)


def test_split_channels_are_analysed_apart_as_in_one_process(service, local, clip_dir, tmp_path):
    """/analyze with channels=split, and a RemoteEngine's split analysis: each channel's own
    segments, as the local engine finds and scores them."""
    path = write_stereo_calls(tmp_path)["call"]
    mine = local.analyze(path, SPLIT)
    response = post(service, path, channels="split", channel_names="agent,customer")
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert [c["name"] for c in result["channels"]] == ["agent", "customer"]
    assert result["summary"]["talk_s"] == mine.to_json()["summary"]["talk_s"]
    theirs = RemoteEngine(service).analyze(path, SPLIT)
    assert theirs.segment_channels == mine.segment_channels and theirs.warnings == mine.warnings
    for remote, alone in zip(theirs.channels, mine.channels, strict=True):
        assert remote.name == alone.name
        np.testing.assert_array_equal(remote.segments.start_s, alone.segments.start_s)
        np.testing.assert_array_equal(remote.segments.end_s, alone.segments.end_s)
        np.testing.assert_allclose(remote.segments.probs, alone.segments.probs, atol=1e-5)
    wrong = post(service, path, channels="split", channel_names="a,b,c")
    assert wrong.status_code == 422, wrong.text
    assert "3 channel names (a, b, c) for a recording with 2 channel(s)" in wrong.json()["detail"]


def test_a_deployment_with_a_head_scores_its_labels_through_a_remote_engine(
    cluster, service, local, clips, tmp_path
):
    """`ray-serve --head`: /status lists the head's labels, and a RemoteEngine's predictions
    (a subset of them too) have the Emotions a local engine with the head gives."""
    head = random_head(local)
    config = ServeConfig(
        model="demo", cpus_per_replica=0.5, head=str(head.save(tmp_path / "head.safetensors"))
    )
    serve.run(build_app(config), name="head", route_prefix="/head")
    try:
        remote = RemoteEngine(f"{service}/head")
        remote.wait_ready(timeout=60)
        assert remote.classes() == emotions_for_labels(HEAD_LABELS)
        with_head = Engine("demo", head=head)
        for options in (AnalysisOptions("frame"), AnalysisOptions(emotions="bored,calm")):
            mine = with_head.analyze(clips["wav"], options)
            theirs = remote.analyze(clips["wav"], options)
            assert theirs.emotions == mine.emotions
            np.testing.assert_allclose(theirs.probs, mine.probs, atol=1e-5)
    finally:
        serve.delete("head")


def test_a_too_long_recording_with_segmentation_off_gets_the_cores_refusal(service, tmp_path):
    path = write_tone(tmp_path / "long.wav", 70.0)
    with pytest.raises(AudioTooLong) as refusal:
        AnalysisOptions(segmentation="off").check(decode_audio(path), None)
    response = post(service, path, segmentation="off")
    assert response.status_code == 400, response.text
    assert response.json()["detail"] == str(refusal.value)
    assert response.headers[ERROR_KIND_HEADER] == "AudioTooLong"


def test_a_request_without_audio_is_refused(service):
    response = httpx.post(f"{service}/analyze", data={"granularity": "utterance"}, timeout=30)
    assert response.status_code == 422
    assert "audio" in response.text


def test_remote_engine_gives_the_local_engines_predictions(service, local, clips, call):
    remote = RemoteEngine(service)
    remote.wait_ready(timeout=30)
    assert remote.status().demo is True and "Ray Serve" in remote.status().device
    options = AnalysisOptions("frame", extract_embedding=True)
    for path in (clips["m4a"], call[0]):
        mine, theirs = local.analyze(path, options), remote.analyze(path, options)
        np.testing.assert_allclose(theirs.probs, mine.probs, atol=1e-5)
        np.testing.assert_allclose(theirs.frames.probs, mine.frames.probs, atol=1e-5)
        np.testing.assert_allclose(theirs.embedding, mine.embedding, atol=1e-5)
        np.testing.assert_array_equal(theirs.waveform.samples, mine.waveform.samples)
        assert theirs.audio == mine.audio  # the source's own format, rate and channels
        assert "transfer" in theirs.timings_ms
    waveforms = [local.decode(clips[f]) for f in ("wav", "mp3", "flac")]
    batch = remote.analyze_batch(waveforms)
    for waveform, outcome in zip(waveforms, batch, strict=True):
        np.testing.assert_allclose(outcome.unwrap().probs, local.analyze(waveform).probs, atol=1e-5)


def test_a_replica_killed_mid_batch_loses_no_request(service, local, clips):
    """Serve restarts the replica; RemoteEngine sends the requests it lost again."""
    waveforms = [local.decode(clips[f]) for f in ("wav", "mp3", "ogg")] * 20
    killed: list[float] = []

    def kill_the_replica() -> None:
        time.sleep(0.5)  # let it answer a few first
        pids = process_ids(b"ServeReplica:emotion2vec:Emotion2vec")
        os.kill(pids[0], signal.SIGKILL)
        killed.append(time.monotonic())

    killer = threading.Thread(target=kill_the_replica)
    killer.start()
    outcomes = RemoteEngine(service, in_flight=4).analyze_batch(waveforms)
    finished = time.monotonic()
    killer.join()
    assert killed and killed[0] < finished, "the replica was not killed while the batch ran"
    for waveform, outcome in zip(waveforms, outcomes, strict=True):
        np.testing.assert_allclose(outcome.unwrap().probs, local.analyze(waveform).probs, atol=1e-5)


def test_serve_builds_an_autoscaling_deployment_that_adds_a_replica_under_load(
    cluster, service, clips
):
    config = ServeConfig(
        model="demo", cpus_per_replica=0.5, max_replicas=2, target_ongoing_requests=1,
        upscale_delay_s=0, downscale_delay_s=600,
    )  # fmt: skip
    scaling = config.deployment_options()["autoscaling_config"]
    assert (scaling["min_replicas"], scaling["max_replicas"]) == (1, 2)
    serve.run(build_app(config), name="scaling", route_prefix=SCALING_PREFIX)
    url = service + SCALING_PREFIX
    replicas: set[str] = set()
    deadline = time.monotonic() + 120
    with ThreadPoolExecutor(8) as pool:
        while len(replicas) < 2 and time.monotonic() < deadline:
            responses = list(pool.map(lambda _: post(url, clips["wav"]), range(16)))
            replicas |= {r.headers[REPLICA_HEADER] for r in responses if r.status_code == 200}
    serve.delete("scaling")
    assert len(replicas) == 2, f"still one replica after 120 s of load: {replicas}"


def test_app_builder_reads_serve_run_arguments(cluster):
    app = app_builder({"model": "demo", "max_replicas": "4", "gpus_per_replica": "0.25"})
    assert app is not None
    with pytest.raises(ValueError, match="unknown settings"):
        app_builder({"modle": "demo"})
    options = ServeConfig(max_replicas=4, gpus_per_replica=0.25).deployment_options()
    assert options["ray_actor_options"]["num_gpus"] == 0.25
    assert options["autoscaling_config"]["max_replicas"] == 4
    assert "num_replicas" not in options


@pytest.fixture(scope="module")
def webui(service, tmp_path_factory):
    """The real `emotion2vec-app serve --backend URL` process: no model of its own."""
    with running_server(tmp_path_factory.mktemp("webui"), "--backend", service) as running:
        yield running


def test_the_webui_analyses_on_the_deployment(webui, local, clips, tmp_path):
    client = Client(webui.url, verbose=False, download_files=str(tmp_path))
    status = client.predict(api_name="/status")
    assert status["state"] == "ready" and status["demo"] is True
    assert "Ray Serve" in status["device"]
    result, embedding = client.predict(
        handle_file(str(clips["wav"])), "frame", True, api_name="/analyze"
    )
    mine = local.analyze(clips["wav"], AnalysisOptions("frame", extract_embedding=True))
    np.testing.assert_allclose(list(result["scores"].values()), mine.probs, atol=1e-5)
    np.testing.assert_allclose(np.load(embedding), mine.embedding, atol=1e-5)
    assert Path(result["run_dir"]).parent == webui.output_dir  # saved by the WebUI's host
    assert "transfer" in result["timings_ms"]
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not audio")
    results, files = client.predict(
        [handle_file(str(clips[f])) for f in ("mp3", "flac")] + [handle_file(str(broken))],
        "utterance", False, "auto", api_name="/analyze_batch",
    )  # fmt: skip
    assert [bool(r.get("error")) for r in results] == [False, False, True]
    for fmt, row in zip(("mp3", "flac"), results, strict=False):
        expected = local.analyze(clips[fmt]).probs
        np.testing.assert_allclose(list(row["scores"].values()), expected, atol=1e-5)
    assert [Path(f).name for f in files] == ["results.csv", "runs.zip"]


def test_the_webui_page_on_the_deployment(webui, local, clips):
    with chromium() as browser:
        page = new_page(browser)
        page.goto(webui.url)
        wait_until_ready(page)
        assert "Ray Serve" in page.inner_text("#model-status")
        assert page.is_visible("#demo-banner")  # the backend's demo model is said plainly
        assert analyze_clip(page, clips["wav"]) == local.analyze(clips["wav"]).emotion.key
        screenshot(page, "webui-on-ray-serve")


def test_the_ray_serve_command_deploys_and_prints_its_url(cluster, service, port):
    """Last: it redeploys the app the fixtures made, on the same cluster and port."""
    address = ray.get_runtime_context().gcs_address
    done = subprocess.run(
        [CLI, "ray-serve", "--ray", address, "--demo", "--port", str(port),
         "--cpus-per-replica", "0.5", "--detach"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    url = re.search(r"WebUI on it: emotion2vec-app serve --backend (\S+)", done.stdout).group(1)
    assert url == service
    assert httpx.get(f"{url}/status", timeout=10).json()["state"] == "ready"
