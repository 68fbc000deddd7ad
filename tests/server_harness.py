"""Run the real `emotion2vec-app serve` process for tests: start, wait, stop, talk to it.

Also a pytest plugin (conftest.py): `server` is one real server on the tiny model per test
module, `client` a gradio_client for it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

CLI = shutil.which("emotion2vec-app", path=str(Path(sys.executable).parent))
START_TIMEOUT_S = 120.0


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log_file: Path
    output_dir: Path

    def log(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str) -> tuple[int, str, str]:
    """(status code, content type, body) of a plain GET; no Gradio involved."""
    with urllib.request.urlopen(url, timeout=10) as response:
        body = response.read().decode("utf-8", errors="replace")
        return response.status, response.headers.get("content-type", ""), body


def eventually(check: Callable[[], bool], seconds: float = 30.0) -> bool:
    """Poll `check` until it holds or `seconds` pass; for output that arrives a bit later."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)
    return True


def health(url: str) -> dict | None:
    """The plain `GET /status` JSON, or None while the server does not answer it yet."""
    try:
        code, _, body = http_get(url + "status")
        return json.loads(body) if code == 200 else None
    except (OSError, ValueError):  # refused, reset, HTTP errors, not JSON yet
        return None


@contextmanager
def running_server(
    workdir: Path,
    *args: str,
    until: tuple[str, ...] = ("ready",),
) -> Iterator[Server]:
    """Run `emotion2vec-app serve ARGS` until plain /status reports a state in `until`.

    Fails with the server's log when the process exits, reaches another final state, or
    never gets there. Stops the process afterwards.
    """
    assert CLI, "emotion2vec-app is not installed in this environment"
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    output_dir = workdir / "outputs"
    log_file = workdir / "server.log"
    env = os.environ.copy()  # E2V_CACHE_DIR and the closed hub endpoints of model_fixtures
    env["GRADIO_TEMP_DIR"] = str(workdir / "gradio-tmp")
    # As under systemd, docker or nohup: stdout is a file and nothing forces unbuffered
    # output, so the log shows what a user's log file would.
    env.pop("PYTHONUNBUFFERED", None)
    command = [CLI, "serve", *args, "--port", str(port), "--output-dir", str(output_dir)]
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, env=env
        )
    server = Server(url, process, log_file, output_dir)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited with {process.returncode}:\n{server.log()}")
            state = (health(url) or {}).get("state")
            if state in until:
                break
            if state in {"ready", "failed"}:
                pytest.fail(f"server state {state!r}, expected {until}:\n{server.log()}")
            if time.monotonic() > deadline:
                pytest.fail(f"server not in {until} after {START_TIMEOUT_S:.0f} s:\n{server.log()}")
            time.sleep(0.25)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def analyze(
    client: Client, path: Path, granularity: str = "utterance", embedding: bool = False
) -> tuple[dict, str | None]:
    return client.predict(handle_file(str(path)), granularity, embedding, api_name="/analyze")


@pytest.fixture(scope="module")
def server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("server")
    with running_server(workdir, "--model", str(tiny_model_dir)) as running:
        yield running


@pytest.fixture
def client(server: Server, tmp_path: Path) -> Client:
    return Client(server.url, verbose=False, download_files=str(tmp_path))
