"""What a server exposes: the interface it binds, and which files it will hand out."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest
from gradio_client import Client
from server_harness import analyze, running_server

README = Path(__file__).resolve().parent.parent / "README.md"


def listening_addresses(port: int) -> set[str]:
    """IPv4 addresses with a listening socket on `port`, from /proc/net/tcp."""
    addresses = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        host, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
            addresses.add(".".join(str(int(host[i : i + 2], 16)) for i in (6, 4, 2, 0)))
    return addresses


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.parametrize(("flags", "address"), [((), "127.0.0.1"), (("--listen",), "0.0.0.0")])
def test_bind_address(flags, address, tmp_path):
    with running_server(tmp_path, "--demo", *flags, until=("loading", "ready")) as server:
        port = int(server.url.rstrip("/").rsplit(":", 1)[1])
        assert listening_addresses(port) == {address}


def test_only_outputs_and_uploads_are_served(tiny_model_dir, clips, tmp_path):
    with running_server(tmp_path, "--model", str(tiny_model_dir)) as server:
        client = Client(server.url, verbose=False, download_files=str(tmp_path / "downloads"))
        result, _ = analyze(client, clips["wav"])
        run_file = Path(result["run_dir"]) / "result.json"
        files = f"{server.url}gradio_api/file="
        assert status_of(files + str(run_file)) == 200, "run folders are downloadable"
        # 403 for every path outside the served folders, whether or not it exists (a 404 for
        # the missing ones would tell a caller which files are there).
        escape = f"{run_file.parent}/../../../../../../etc/passwd"
        missing = f"{run_file.parent.parent}/no-such-run/result.json"
        for private in ("/etc/passwd", str(README), str(server.log_file), escape, missing):
            assert status_of(files + private) == 403, private
