"""The installed `emotion2vec-app` command, run as a user runs it."""

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from emotion2vec_app import writers
from emotion2vec_app.cli import main
from emotion2vec_app.engine import Engine

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
    # The good file is still analysed: its one summary line, as the demo engine here sees it.
    expected = Engine("demo").analyze(clips["wav"])
    top, audio = expected.emotion, expected.audio
    info = f"{audio.duration_s:.2f} s {audio.format} {audio.sample_rate} Hz {audio.channels} ch"
    (line,) = done.stdout.splitlines()
    fields = re.fullmatch(
        re.escape(f"{clips['wav']}: {top.emoji} {top.key} ({top.zh}) ") + r"(\d\.\d{3})"
        + re.escape(f" | {info} | ") + r"\d+ ms \| (\S+)",
        line,
    )  # fmt: skip
    assert fields, line
    assert float(fields[1]) == pytest.approx(expected.confidence, abs=1e-3)
    run = json.loads((tmp_path / fields[2] / "result.json").read_text(encoding="utf-8"))
    assert run["emotion"] == top.key and run["audio"]["name"] == clips["wav"].name


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


# --- batches: folders, globs, tables, resume -----------------------------------------------

BAR_DONE = r"100%\|[^\n]*\| {n}/{n} \["  # tqdm's last bar line, e.g. "100%|████| 6/6 [00:01<..."


def place(clips: dict[str, Path], root: Path, layout: dict[str, str]) -> list[str]:
    """Copy clips to root/<name> (a name -> clip key layout); returns the names."""
    for name, key in layout.items():
        dest = root / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if key == "text":
            dest.write_text("this is text, not audio")
        else:
            shutil.copyfile(clips[key], dest)
    return list(layout)


def summary_files(stdout: str) -> list[str]:
    """The file of each summary line ('calls/a.wav: 😢 sad ...')."""
    return [line.split(": ", 1)[0] for line in stdout.splitlines()]


def test_folder_and_glob_to_a_csv_table_with_a_progress_bar(clips, tmp_path):
    place(clips, tmp_path, {
        "calls/a.wav": "wav", "calls/B.WAV": "stereo48k", "calls/notes.txt": "text",
        "calls/sub/c.flac": "flac", "calls/sub/deeper/d.mp3": "mp3",
        "extra/e.ogg": "ogg", "extra/f.ogg": "ogg", "extra/g.flac": "flac",
    })  # fmt: skip
    done = run_cli(
        "predict", "calls", "extra/*.ogg", "--model", "demo", "--out", "results.csv", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    expected = [
        "calls/B.WAV", "calls/a.wav", "calls/sub/c.flac", "calls/sub/deeper/d.mp3",
        "extra/e.ogg", "extra/f.ogg",
    ]  # fmt: skip
    assert summary_files(done.stdout) == expected
    assert re.search(BAR_DONE.format(n=6), done.stderr), done.stderr
    assert "Traceback" not in done.stderr

    with (tmp_path / "results.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == writers.BATCH_FIELDS + writers.SCORE_COLUMNS
    assert [row["file"] for row in rows] == expected
    for row in rows:
        scores = {column: float(row[column]) for column in writers.SCORE_COLUMNS}
        assert sum(scores.values()) == pytest.approx(1, abs=1e-4)
        assert row["emotion"] == max(scores, key=scores.get).removeprefix("score_")
        assert float(row["confidence"]) == max(scores.values())
        assert row["error"] == ""
        assert (row["model_id"], row["model_demo"]) == ("demo", "True")
        result = json.loads((tmp_path / row["run_dir"] / "result.json").read_text("utf-8"))
        assert result["audio"]["name"] == Path(row["file"]).name
        assert result["emotion"] == row["emotion"]
    assert len(list((tmp_path / "outputs").iterdir())) == 6


def test_quiet_shows_no_progress_bar_and_no_summaries(clips, tmp_path):
    place(clips, tmp_path, {"calls/a.wav": "wav", "calls/b.mp3": "mp3", "calls/c.ogg": "ogg"})
    done = run_cli("predict", "calls", "-q", "--no-save", "--model", "demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "3/3" not in done.stderr and "file/s" not in done.stderr


def run_resume(tmp_path: Path, table: str, *more: str) -> subprocess.CompletedProcess:
    return run_cli(
        "predict", "calls", "--out", table, "--resume", "--model", "demo",
        "--output-dir", "runs", *more, cwd=tmp_path,
    )  # fmt: skip


def test_resume_analyses_only_the_files_the_table_lacks(clips, tmp_path):
    first_files = place(clips, tmp_path, {
        "calls/a.wav": "wav", "calls/b.mp3": "mp3", "calls/sub/c.flac": "flac",
        "calls/sub/d.m4a": "m4a",
    })  # fmt: skip
    first = run_resume(tmp_path, "results.jsonl")
    assert first.returncode == 0, first.stderr
    assert "Resuming" not in first.stderr
    assert summary_files(first.stdout) == first_files
    assert len(list((tmp_path / "runs").iterdir())) == 4

    new_files = place(clips, tmp_path, {"calls/aa.ogg": "ogg", "calls/sub/e.wav": "stereo48k"})
    second = run_resume(tmp_path, "results.jsonl")
    assert second.returncode == 0, second.stderr
    assert "Resuming: 4 file(s) already in results.jsonl" in second.stderr
    assert summary_files(second.stdout) == new_files
    assert re.search(BAR_DONE.format(n=2), second.stderr), second.stderr
    assert len(list((tmp_path / "runs").iterdir())) == 6

    lines = (tmp_path / "results.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert sorted(r["file"] for r in records) == sorted(first_files + new_files)  # each once
    assert all("error" not in r and Path(tmp_path, r["run_dir"]).is_dir() for r in records)

    third = run_resume(tmp_path, "results.jsonl")  # nothing left: no model is even loaded
    assert third.returncode == 0, third.stderr
    assert "Resuming: 6 file(s) already in results.jsonl" in third.stderr
    assert third.stdout == "" and "random weights" not in third.stderr
    assert (tmp_path / "results.jsonl").read_text(encoding="utf-8").splitlines() == lines


def test_resume_retries_the_files_that_failed(clips, tmp_path):
    place(clips, tmp_path, {"calls/a.wav": "wav", "calls/b.mp3": "text"})
    first = run_resume(tmp_path, "results.csv", "--no-save")
    assert first.returncode == 1
    assert "Skipping calls/b.mp3: 'b.mp3' could not be decoded as audio" in first.stderr

    place(clips, tmp_path, {"calls/b.mp3": "mp3"})  # the user fixes the file
    second = run_resume(tmp_path, "results.csv", "--no-save")
    assert second.returncode == 0, second.stderr
    assert "Resuming: 1 file(s) already in results.csv" in second.stderr
    assert summary_files(second.stdout) == ["calls/b.mp3"]

    with (tmp_path / "results.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))  # a second header would read as a row
    assert [(row["file"], bool(row["error"])) for row in rows] == [
        ("calls/a.wav", False), ("calls/b.mp3", True), ("calls/b.mp3", False),
    ]  # fmt: skip
    assert rows[2]["emotion"] and rows[2]["score_happy"]


def test_resume_needs_a_table(clips, capsys):
    code = main(["predict", str(clips["wav"]), "--resume", "--model", "demo"])
    assert code == 2
    assert "error: --resume needs --out FILE" in capsys.readouterr().err


def test_a_glob_matching_nothing_is_a_warning_beside_other_files(clips, tmp_path):
    done = run_cli(
        "predict", str(clips["wav"]), "nothing/*.wav", "--model", "demo", "--no-save",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "warning: nothing/*.wav: no audio files match" in done.stderr
    assert summary_files(done.stdout) == [str(clips["wav"])]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nothing/*.wav", "missing.wav"], "error: no audio files to analyse"),
        (["{wav}", "--smooth", "-1"], "error: smooth_s must be between 0 and 10"),
        (["{wav}", "--batch-size", "0"], "error: batch_size must be at least 1"),
    ],
    ids=["nothing-found", "bad-option", "bad-batch-size"],
)
def test_a_refused_run_exits_2_and_leaves_the_table_alone(
    args, message, clips, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    table = tmp_path / "results.csv"
    table.write_text("file,emotion\nold.wav,happy\n", encoding="utf-8")
    argv = [arg.format(wav=clips["wav"]) for arg in args]
    code = main(["predict", *argv, "--model", "demo", "--out", str(table)])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert table.read_text(encoding="utf-8") == "file,emotion\nold.wav,happy\n"


def test_nothing_found_names_each_pattern(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["predict", "nothing/*.wav", "missing.wav", "--model", "demo"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.splitlines() == [
        "warning: nothing/*.wav: no audio files match",
        "warning: missing.wav: not found",
        "error: no audio files to analyse",
    ]


def test_resume_with_everything_done_is_not_an_error(clips, tmp_path, capsys, monkeypatch):
    """A pattern that matches nothing beside files all done before: a warning, exit 0."""
    monkeypatch.chdir(tmp_path)
    table = tmp_path / "results.jsonl"
    table.write_text(json.dumps({"file": str(clips["wav"]), "emotion": "happy"}) + "\n")
    code = main(
        ["predict", str(clips["wav"]), "nothing/*.wav", "--out", str(table), "--resume",
         "--model", "demo"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0
    assert "warning: nothing/*.wav: no audio files match" in err
    assert f"Resuming: 1 file(s) already in {table}" in err
    assert "error" not in err
