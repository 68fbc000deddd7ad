"""The bad-input catalogue, sent to a real server: each case gets its own specific answer.

Throughout, the server stays up, a good request right after still works, and nothing is
written outside the server's outputs/ and upload folders.
"""

from __future__ import annotations

import json
import struct
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from clips import tone, write_silence, write_wav
from gradio_client import Client
from gradio_client.exceptions import AppError
from server_harness import analyze, health, running_server

MAX_UPLOAD_MB = 1
MAX_DURATION_S = 10
SERVER_FILES = {"gradio-tmp", "outputs", "server.log"}


@pytest.fixture(scope="module")
def server(tiny_model_dir, tmp_path_factory):
    work = tmp_path_factory.mktemp("bad-input-server")
    with running_server(
        work,
        "--model", str(tiny_model_dir),
        "--max-upload-mb", str(MAX_UPLOAD_MB),
        "--max-duration", str(MAX_DURATION_S),
    ) as running:  # fmt: skip
        yield running


@pytest.fixture(scope="module")
def client(server, tmp_path_factory) -> Client:
    return Client(server.url, verbose=False, download_files=str(tmp_path_factory.mktemp("dl")))


def _noise(seconds: float, rate: int = 16000, channels: int = 1) -> np.ndarray:
    shape = (int(seconds * rate), channels) if channels > 1 else (int(seconds * rate),)
    return (np.random.default_rng(7).standard_normal(shape) * 0.1).astype(np.float32)


def _truncated(source: Path, dest: Path, keep: float) -> Path:
    data = source.read_bytes()
    dest.write_bytes(data[: int(len(data) * keep)])
    return dest


def _header_only_wav(path: Path) -> Path:
    """A WAV header promising 1 s of audio, and no audio after it."""
    data_size = 32000
    header = b"RIFF" + struct.pack("<I", 36 + data_size) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16)
    header += b"data" + struct.pack("<I", data_size)
    path.write_bytes(header)
    return path


PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000")

# name -> (make the file in a folder, given the speech clips; the expected error text)
ERRORS: dict[str, tuple[Callable[[Path, dict], Path], str]] = {
    "empty file": (lambda d, c: _write(d / "empty.wav", b""), "is empty (0 bytes)"),
    "0 samples": (
        lambda d, c: write_wav(d / "zero.wav", np.zeros(0, np.float32), 16000),
        "contains no audio samples",
    ),
    "10 ms": (
        lambda d, c: write_wav(d / "blip.wav", tone(0.01), 16000),
        "shorter than the 0.1 s minimum",
    ),
    "header-only WAV": (lambda d, c: _header_only_wav(d / "header.wav"), "no audio samples"),
    "random bytes named .wav": (
        lambda d, c: _write(d / "noise.wav", np.random.default_rng(1).bytes(4096)),
        "could not be decoded",
    ),
    "text named .mp3": (
        lambda d, c: _write(d / "notes.mp3", b"just some notes, not audio\n" * 40),
        "could not be decoded",
    ),
    "PNG named .wav": (lambda d, c: _write(d / "picture.wav", PNG * 50), "'picture.wav'"),
    "over the duration limit": (
        lambda d, c: write_wav(d / "long.wav", _noise(MAX_DURATION_S + 2), 16000),
        f"above the {MAX_DURATION_S} s limit for one recording",
    ),
    "NaN in a float WAV": (
        lambda d, c: write_wav(d / "nan.wav", _with(tone(1.0), np.nan), 16000, "FLOAT"),
        "NaN or infinite samples",
    ),
    "Inf in a float WAV": (
        lambda d, c: write_wav(d / "inf.wav", _with(tone(1.0), np.inf), 16000, "FLOAT"),
        "NaN or infinite samples",
    ),
}

# name -> (make the file; a check on the successful result, given the speech clips)
ACCEPTED: dict[str, tuple[Callable[[Path, dict], Path], Callable[[dict, dict], bool]]] = {
    "truncated WAV": (
        lambda d, c: _truncated(c["wav"], d / "cut.wav", 0.6),
        # what is there is analysed: about 60 % of the clip
        lambda r, c: 0.5 < r["audio"]["duration_s"] / sf.info(str(c["wav"])).duration < 0.7,
    ),
    "truncated MP3": (
        lambda d, c: _truncated(c["mp3"], d / "cut.mp3", 0.6),
        lambda r, c: r["audio"]["format"] == "mp3",
    ),
    "96 kHz with 8 channels": (
        lambda d, c: _multichannel(d / "wide.wav"),
        lambda r, c: (r["audio"]["sample_rate"], r["audio"]["channels"]) == (96000, 8),
    ),
    "pure silence": (
        lambda d, c: write_silence(d / "silence.wav", 1.0),
        lambda r, c: any("silent" in w for w in r["warnings"]),
    ),
    "DC offset": (
        lambda d, c: write_wav(d / "dc.wav", tone(1.0, amplitude=0.2) + 0.3, 16000, "FLOAT"),
        lambda r, c: any("DC offset" in w for w in r["warnings"]),
    ),
    "heavy clipping": (
        lambda d, c: write_wav(d / "loud.wav", np.clip(3 * tone(1.0), -1, 1), 16000),
        lambda r, c: any("clipped" in w for w in r["warnings"]),
    ),
    "wrong extension (WAV named .mp3)": (
        lambda d, c: _write(d / "actually-wav.mp3", c["wav"].read_bytes()),
        lambda r, c: r["audio"]["format"] == "wav",
    ),
    "unicode name with spaces": (
        lambda d, c: _write(d / "情绪 测试 clip (1).wav", c["wav"].read_bytes()),
        lambda r, c: r["audio"]["name"] == "情绪 测试 clip (1).wav",
    ),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _with(samples: np.ndarray, value: float) -> np.ndarray:
    samples = samples.copy()
    samples[100] = value
    return samples


def _multichannel(path: Path) -> Path:
    sf.write(path, _noise(0.5, rate=96000, channels=8), 96000, subtype="PCM_16")  # 768 kB
    return path


def _runs(server) -> set[Path]:
    return set(server.output_dir.iterdir()) if server.output_dir.exists() else set()


def _assert_server_still_serves(server, client, clips, log_from: int | None) -> None:
    """Healthy, still analysing, nothing written outside its folders, no new traceback."""
    assert health(server.url)["state"] == "ready"
    result, _ = analyze(client, clips["wav"])
    assert result["audio"]["name"] == clips["wav"].name
    assert {p.name for p in server.output_dir.parent.iterdir()} == SERVER_FILES
    if log_from is not None:
        assert "Traceback" not in server.log()[log_from:]


@pytest.mark.parametrize("case", list(ERRORS))
def test_bad_input_gets_its_specific_error(case, server, client, clips, tmp_path):
    make, message = ERRORS[case]
    path = make(tmp_path, clips)
    runs, log_from = _runs(server), len(server.log())
    with pytest.raises(AppError) as raised:
        analyze(client, path)
    assert message in str(raised.value)
    assert _runs(server) == runs, "a refused file leaves no run folder"
    _assert_server_still_serves(server, client, clips, log_from)


@pytest.mark.parametrize("case", list(ACCEPTED))
def test_odd_but_valid_input_is_analysed(case, server, client, clips, tmp_path):
    make, check = ACCEPTED[case]
    path = make(tmp_path, clips)
    log_from = len(server.log())
    result, _ = analyze(client, path)
    assert check(result, clips), result
    assert Path(result["run_dir"]).parent == server.output_dir
    _assert_server_still_serves(server, client, clips, log_from)


def test_over_the_upload_limit(server, client, clips, tmp_path):
    log_from = len(server.log())
    big = write_wav(tmp_path / "big.wav", _noise(40), 16000)  # 1.28 MB of 16-bit PCM
    assert big.stat().st_size > MAX_UPLOAD_MB * 1024 * 1024
    with pytest.raises(ValueError, match="exceeds the maximum file size"):
        analyze(client, big)  # the client checks the server's advertised limit
    status = _raw_upload(server.url, big.name, big.read_bytes())[0]
    assert status == 413, "the server refuses it too"
    _assert_server_still_serves(server, client, clips, log_from)


def test_path_like_names_stay_inside_outputs(server, client, clips):
    log_from = len(server.log())
    status, body = _raw_upload(server.url, "../../escape me.wav", clips["wav"].read_bytes())
    assert status == 200
    uploaded = json.loads(body)[0]
    result = _raw_analyze(server.url, {"path": uploaded, "orig_name": "../../escape me.wav"})
    assert result["audio"]["name"] == "escape me.wav"
    assert Path(result["run_dir"]).parent == server.output_dir
    _assert_server_still_serves(server, client, clips, log_from)


def test_paths_outside_the_upload_folder_are_refused(server, client, clips):
    result = _raw_analyze(server.url, {"path": "/etc/passwd", "orig_name": "passwd.wav"})
    assert result is None, "the file is never read"
    # Gradio logs its own refusal of the path with a traceback: not checked here.
    _assert_server_still_serves(server, client, clips, log_from=None)


def _raw_upload(url: str, filename: str, data: bytes) -> tuple[int, str]:
    """Gradio's upload route with a filename of our choosing, as a hostile client sends it."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
            f'filename="{filename}"\r\nContent-Type: audio/wav\r\n\r\n'
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        url + "gradio_api/upload",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def _raw_analyze(url: str, file: dict) -> dict | None:
    """/analyze over Gradio's REST protocol; None when the call ends in an error event."""
    payload = {"data": [{**file, "meta": {"_type": "gradio.FileData"}}, "utterance", False]}
    request = urllib.request.Request(
        url + "gradio_api/call/analyze",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        event_id = json.load(response)["event_id"]
    with urllib.request.urlopen(f"{url}gradio_api/call/analyze/{event_id}", timeout=60) as stream:
        events = stream.read().decode()
    if "event: complete" not in events:
        return None
    data = events.split("event: complete", 1)[1].split("data:", 1)[1].strip().splitlines()[0]
    outputs = json.loads(data)[0]  # gr.api sends its (result, embedding) tuple as one list
    return outputs[0] if isinstance(outputs, list) else outputs
