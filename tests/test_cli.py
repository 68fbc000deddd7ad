"""The installed `emotion2vec-app` command, run as a user runs it."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from emotion2vec_app.cli import main

CLI = shutil.which("emotion2vec-app", path=str(Path(sys.executable).parent))


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    assert CLI, "emotion2vec-app is not installed in this environment"
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=300, env=os.environ.copy()
    )


def test_predict_demo_on_wav_mp3_m4a(clips, tmp_path):
    files = [str(clips[k]) for k in ("wav", "mp3", "m4a")]
    done = run_cli("predict", *files, "--model", "demo", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["audio"]["format"] for r in results] == ["wav", "mp3", "m4a"]
    for result in results:
        assert result["model"] == {"id": "demo", "demo": True, "device": "cpu", "dtype": "float32"}
        assert abs(sum(result["scores"].values()) - 1) < 1e-4
        assert Path(tmp_path, result["run_dir"], "result.json").is_file()
    assert "random weights" in done.stderr
    assert len(list((tmp_path / "outputs").iterdir())) == 3
    assert "Traceback" not in done.stderr


def test_frame_granularity_and_embedding(clips, tmp_path):
    done = run_cli(
        "predict", str(clips["flac"]), "--model", "demo", "--granularity", "frame",
        "--embedding", "--json", "--output-dir", str(tmp_path / "runs"), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    embedding = np.load(Path(result["run_dir"]) / "embedding.npy")
    assert embedding.ndim == 2 and embedding.shape[0] == len(result["frames"]["start_s"])
    assert result["embedding"]["shape"] == list(embedding.shape)


def test_bad_file_is_skipped_with_a_reason_and_a_nonzero_exit(clips, tmp_path):
    bad = tmp_path / "notes.mp3"
    bad.write_text("this is text, not audio")
    done = run_cli("predict", str(bad), str(clips["wav"]), "--model", "demo", cwd=tmp_path)
    assert done.returncode == 1
    assert f"Skipping {bad}:" in done.stderr
    assert "Traceback" not in done.stderr
    assert clips["wav"].name in done.stdout, "the good file is still analysed"
    assert "😊" in done.stdout or "|" in done.stdout


def test_missing_model_exits_2_without_a_traceback(clips, tmp_path, capsys):
    code = main(["predict", str(clips["wav"]), "--model", str(tmp_path / "none")])
    captured = capsys.readouterr()
    assert code == 2
    assert "neither 'demo', an existing directory" in captured.err
    assert "Traceback" not in captured.err


def test_offline_hub_exits_2_with_advice(clips, tmp_path, capsys):
    """The test session points the hubs at a closed local port (see model_fixtures)."""
    code = main(["predict", str(clips["wav"]), "--no-save"])
    captured = capsys.readouterr()
    assert code == 2
    assert "Cannot reach" in captured.err and "--model demo" in captured.err


def test_plain_output_line(tiny_model_dir, clips, tmp_path, capsys):
    code = main(["predict", str(clips["ogg"]), "--model", str(tiny_model_dir), "--no-save"])
    line = capsys.readouterr().out.strip()
    assert code == 0
    assert line.startswith(f"{clips['ogg']}: ")
    assert "ogg" in line and " Hz " in line and " ms" in line


@pytest.mark.parametrize("flag", [["--smooth", "-1"], ["--granularity", "word"]])
def test_bad_options_exit_2(flag, clips, tmp_path):
    done = run_cli("predict", str(clips["wav"]), "--model", "demo", *flag, cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr


def test_int8_on_cpu(tiny_model_dir, clips, capsys):
    code = main(
        ["predict", str(clips["wav"]), "--model", str(tiny_model_dir), "--dtype", "int8",
         "--json", "--no-save"]
    )  # fmt: skip
    assert code == 0
    assert json.loads(capsys.readouterr().out)["model"]["dtype"] == "int8"
