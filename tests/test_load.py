"""Load, soak and walk-away clients against the real `emotion2vec-app serve` process.

CI-sized and bounded: every loop has a fixed count, every request a timeout, and each burst a
generous wall-clock cap that only catches a hang. Nothing here asserts on speed; the larger,
recorded run with throughput and latencies is benchmarks/load.py.
"""

from __future__ import annotations

import json
import queue
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import combinations
from pathlib import Path

import httpx
import pytest
from clips import write_tone
from gradio_client import Client, handle_file
from gradio_client.utils import Status
from server_harness import Server, eventually, health, http_get, running_server

CLIENTS = 16
ROUNDS = 3  # requests per client in the concurrent burst
SCORE_TOL = 1e-6  # scores are rounded to 6 decimals; inference is serialised and repeatable
DISTINCT_MIN = 1e-3  # clips whose scores differ less could hide a swapped result
REQUEST_TIMEOUT_S = 60.0  # one request, however long the queue in front of it
HTTP_TIMEOUT_S = 60.0  # one HTTP call of gradio_client (upload, join, stream read)
HANG_CAP_S = 240.0  # a whole burst or soak; far above what it needs, only catches a stall

SOAK_REQUESTS = 300
SOAK_THREADS = 4
SOAK_WARMUP = 50
RSS_GROWTH_MAX_MB = 100.0  # a leak check: steady state grows by a few MB at most

ABANDON_ROUNDS = 6  # more than the 4 analysis slots: a leaked slot per round would show
LONG_CLIP_S = 10.0  # long enough to be mid-inference when the client walks away
# Gradio's upload route (not ours) logs a traceback when a client breaks off an upload.
UPSTREAM_DISCONNECT = "starlette.requests.ClientDisconnect"


@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """16 clips that differ in pitch and length, so each has its own scores and duration."""
    directory = tmp_path_factory.mktemp("tones")
    return [
        write_tone(
            directory / f"tone_{i:02d}_{200 + 150 * i}hz.wav", 0.5 + 0.1 * i, freq=200 + 150 * i
        )
        for i in range(CLIENTS)
    ]


def new_client(server: Server, downloads: Path | bool) -> Client:
    """A client whose uploads may wait on a busy CI machine: 60 s, not httpx's 5 s default."""
    return Client(
        server.url,
        verbose=False,
        download_files=str(downloads) if downloads else False,
        httpx_kwargs={"timeout": HTTP_TIMEOUT_S},
    )


def analyze_within(
    client: Client,
    path: Path,
    granularity: str = "utterance",
    embedding: bool = False,
    timeout: float = REQUEST_TIMEOUT_S,
):
    """Like server_harness.analyze, but gives up after `timeout` instead of hanging."""
    job = client.submit(handle_file(str(path)), granularity, embedding, api_name="/analyze")
    return job.result(timeout=timeout)


def run_dirs(server: Server) -> set[Path]:
    return set(server.output_dir.iterdir()) if server.output_dir.is_dir() else set()


def rss_mb(pid: int) -> float:
    """Resident set size of a process, from /proc (Linux)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE).group(1)) / 1024


def run_bounded(
    workers: int, tasks: list[Callable[[], object]], barrier: bool = False
) -> tuple[list[object], list[BaseException]]:
    """Run `tasks` on `workers` threads; (results in task order, errors). Stops at HANG_CAP_S.

    With `barrier`, all workers start their first task together, for a real burst.
    """
    deadline = time.monotonic() + HANG_CAP_S
    start = threading.Barrier(workers, timeout=30) if barrier else None
    results: list[object] = [None] * len(tasks)
    errors: list[BaseException] = []
    next_task = iter(range(len(tasks)))
    lock = threading.Lock()

    def worker() -> None:
        if start:
            start.wait()
        while time.monotonic() < deadline:
            with lock:
                index = next(next_task, None)
            if index is None:
                return
            try:
                results[index] = tasks[index]()
            except Exception as error:  # every failure is reported, none stops the others
                with lock:
                    errors.append(error)

    with ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(worker) for _ in range(workers)]:
            future.result()
    return results, errors


def server_tracebacks(log: str) -> list[str]:
    """Tracebacks in the server log, less Gradio's own for uploads the client broke off."""
    blocks = log.split("Traceback (most recent call last):")[1:]
    return [block for block in blocks if UPSTREAM_DISCONNECT not in block]


def test_concurrent_clients_get_their_own_results(server, tones, tmp_path):
    """16 clients at once, each with its own clip: no result, score or folder crosses over."""
    clients = [new_client(server, tmp_path) for _ in tones]
    try:
        alone = [analyze_within(clients[0], path)[0] for path in tones]
        for (a, first), (b, second) in combinations(enumerate(alone), 2):
            gap = max(abs(first["scores"][k] - second["scores"][k]) for k in first["scores"])
            assert gap > DISTINCT_MIN, f"clips {a} and {b} score alike: cross-talk could hide"
        runs_before = run_dirs(server)

        tasks = [
            lambda i=i: (i, analyze_within(clients[i], tones[i])[0])
            for _ in range(ROUNDS)
            for i in range(CLIENTS)
        ]
        done, errors = run_bounded(CLIENTS, tasks, barrier=True)
    finally:
        for client in clients:
            client.close()

    assert not errors, f"{len(errors)} failed requests, e.g. {errors[0]!r}\n{server.log()}"
    assert all(done), "stalled: not every request finished"
    for i, result in done:
        expected = alone[i]
        assert result["audio"]["name"] == tones[i].name
        assert result["audio"]["duration_s"] == expected["audio"]["duration_s"]
        assert result["scores"] == pytest.approx(expected["scores"], abs=SCORE_TOL), tones[i].name
        assert result["emotion"] == expected["emotion"]
        saved = json.loads((Path(result["run_dir"]) / "result.json").read_text(encoding="utf-8"))
        assert saved == result, "the run folder holds this request's result"

    folders = [Path(result["run_dir"]) for _, result in done]
    assert len(set(folders)) == len(done) == CLIENTS * ROUNDS, "one run folder per request"
    assert set(folders) == run_dirs(server) - runs_before
    assert health(server.url)["state"] == "ready"
    assert "Traceback" not in server.log()


def test_soak_memory_and_run_folders(tiny_model_dir, tones, tmp_path):
    """Hundreds of mixed requests on one process: RSS levels off, one folder per request."""
    with running_server(tmp_path / "soak", "--model", str(tiny_model_dir)) as server:
        # Embeddings stay on the server: the client's CPU is the bottleneck on 2 cores, and
        # the server's memory is what is measured.
        clients = [new_client(server, False) for _ in range(SOAK_THREADS)]
        idle: queue.SimpleQueue[Client] = queue.SimpleQueue()  # one client per busy thread
        for client in clients:
            idle.put(client)

        def request(k: int) -> tuple[int, dict]:
            client = idle.get(timeout=REQUEST_TIMEOUT_S)
            try:
                granularity = "frame" if k % 3 == 0 else "utterance"
                result, _ = analyze_within(client, tones[k % CLIENTS], granularity, k % 4 == 0)
            finally:
                idle.put(client)
            return k, result

        try:
            warm, warm_errors = run_bounded(
                SOAK_THREADS, [lambda k=k: request(k) for k in range(SOAK_WARMUP)]
            )
            rss_warm = rss_mb(server.process.pid)
            rest, rest_errors = run_bounded(
                SOAK_THREADS,
                [lambda k=k: request(k) for k in range(SOAK_WARMUP, SOAK_REQUESTS)],
            )
            rss_end = rss_mb(server.process.pid)
        finally:
            for client in clients:
                client.close()

        errors = warm_errors + rest_errors
        assert not errors, f"{len(errors)} failed requests, e.g. {errors[0]!r}\n{server.log()}"
        done = warm + rest
        assert all(done), "stalled: not every request finished"
        for k, result in done:
            assert result["audio"]["name"] == tones[k % CLIENTS].name
            assert ("frames" in result) == (k % 3 == 0)
            assert ("embedding" in result) == (k % 4 == 0)
        growth = rss_end - rss_warm
        assert growth < RSS_GROWTH_MAX_MB, (
            f"server RSS grew {growth:.0f} MB over {SOAK_REQUESTS - SOAK_WARMUP} requests "
            f"({rss_warm:.0f} -> {rss_end:.0f} MB)"
        )
        folders = run_dirs(server)
        assert len(folders) == SOAK_REQUESTS
        assert all((folder / "result.json").is_file() for folder in folders)
        assert health(server.url)["state"] == "ready"
        assert "Traceback" not in server.log()


def abandon_with_client(server: Server, clip: Path, downloads: Path) -> None:
    """gradio_client: queue a few jobs, wait until one runs, cancel them all, drop the client."""
    client = new_client(server, downloads)
    try:
        jobs = [
            client.submit(handle_file(str(clip)), "utterance", False, api_name="/analyze")
            for _ in range(3)
        ]
        eventually(
            lambda: (
                any(job.status().code == Status.PROCESSING for job in jobs)
                or all(job.done() for job in jobs)
            ),
            20,
        )
        for job in jobs:
            job.cancel()
    finally:
        client.close()


def abandon_stream(server: Server, clip: Path) -> None:
    """Raw queue protocol: join three events, close the event stream once one has started."""
    config = json.loads(http_get(server.url + "config")[2])
    fn_index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == "analyze")
    api = server.url + config.get("api_prefix", "/gradio_api").strip("/") + "/"
    session = uuid.uuid4().hex[:11]
    with httpx.Client(timeout=20) as http:
        upload = http.post(api + "upload", files={"files": (clip.name, clip.read_bytes())})
        upload.raise_for_status()
        audio = {
            "path": upload.json()[0],
            "orig_name": clip.name,
            "meta": {"_type": "gradio.FileData"},
        }
        for _ in range(3):
            body = {
                "data": [audio, "utterance", False],
                "fn_index": fn_index,
                "session_hash": session,
            }
            http.post(api + "queue/join", json=body).raise_for_status()
        params = {"session_hash": session}
        with http.stream("GET", api + "queue/data", params=params) as stream:
            for count, line in enumerate(stream.iter_lines()):
                if "process_starts" in line or count > 100:
                    break  # leaving the block drops the connection mid-request


def abandon_upload(server: Server, clip: Path) -> None:
    """Raw socket: announce a whole file, send a part of it, hang up."""
    port = int(server.url.rstrip("/").rsplit(":", 1)[1])
    data = clip.read_bytes()
    boundary = "e2vloadtest"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{clip.name}"'
        "\r\nContent-Type: audio/wav\r\n\r\n"
    ).encode()
    request = (
        f"POST /gradio_api/upload HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(head) + len(data) + 64}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request + head + data[: len(data) // 4])
        time.sleep(0.2)  # let the server start reading the body


def test_clients_that_walk_away_leave_the_server_healthy(server, tones, tmp_path):
    """Cancelled jobs, dropped event streams and broken uploads: slots free, server serves."""
    clip = write_tone(tmp_path / "long.wav", LONG_CLIP_S, freq=330)
    for _ in range(ABANDON_ROUNDS):
        abandon_with_client(server, clip, tmp_path)
        abandon_stream(server, clip)
        abandon_upload(server, clip)
        assert health(server.url)["state"] == "ready"

    # All four analysis slots still work: four requests at once, each from its own client.
    clients = [new_client(server, tmp_path) for _ in range(4)]
    try:
        alone = analyze_within(clients[0], tones[0])[0]
        tasks = [lambda c=c: analyze_within(c, tones[0])[0] for c in clients]
        done, errors = run_bounded(len(clients), tasks, barrier=True)
    finally:
        for client in clients:
            client.close()
    assert not errors, f"{len(errors)} failed requests, e.g. {errors[0]!r}\n{server.log()}"
    for result in done:
        assert result["audio"]["name"] == tones[0].name
        assert result["scores"] == pytest.approx(alone["scores"], abs=SCORE_TOL)

    # Abandoned work that did run left whole run folders, never half-written ones.
    def complete() -> bool:
        return all((folder / "result.json").is_file() for folder in run_dirs(server))

    assert eventually(complete, 60), [f.name for f in run_dirs(server)]
    assert health(server.url) == {"status": "running", "model_loaded": True, "state": "ready"}
    assert server_tracebacks(server.log()) == []


def test_health_check_answers_while_the_analysis_queue_is_full(server, tmp_path):
    """A full queue refuses new analyses with Gradio's "Queue is full", but the plain
    GET /status that load balancers poll still answers, and a slot frees up afterwards."""
    long_clip = write_tone(tmp_path / "long.wav", 40.0, freq=300.0)
    busy = [new_client(server, tmp_path / f"busy{i}") for i in range(4)]
    jobs = [
        client.submit(handle_file(str(long_clip)), "frame", True, api_name="/analyze")
        for client in busy
        for _ in range(30)
    ]

    def refused(job) -> bool:
        return job.done() and "Queue is full" in str(job.exception(timeout=0))

    try:
        assert eventually(lambda: any(refused(job) for job in jobs), 60), "queue never filled"
        assert health(server.url) == {"status": "running", "model_loaded": True, "state": "ready"}
    finally:
        for job in jobs:
            job.cancel()
        for client in busy:
            client.close()
    # Jobs already queued still run (a client's cancel does not reach them): this request
    # waits behind up to 64 segmented 40 s clips, about 1 s each with the tiny model.
    result = analyze_within(new_client(server, tmp_path / "after"), long_clip, timeout=300)
    assert result[0]["audio"]["name"] == "long.wav"
