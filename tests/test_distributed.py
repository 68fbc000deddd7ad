"""The Ray batch job on a local 2-CPU cluster with the demo model: rows equal the
single-process results, bad files keep their reason, resume skips finished files, and a
worker killed mid-job loses nothing."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from clips import write_wav
from ray_harness import process_ids, require_ray
from test_remote_engine import HEAD_LABELS, SPLIT, random_head, write_stereo_calls

from emotion2vec_app.audio import decode_audio
from emotion2vec_app.cli import main
from emotion2vec_app.engine import Engine
from emotion2vec_app.options import AnalysisOptions
from emotion2vec_app.writers import EMOTION_KEYS, SCORE_COLUMNS, FileRecord, score_columns

require_ray()  # before the imports that need the extra
import ray  # noqa: E402

from emotion2vec_app.distributed import batch_job  # noqa: E402

CLI = shutil.which("emotion2vec-app", path=str(Path(sys.executable).parent))


@pytest.fixture(scope="module")
def corpus(clips, tmp_path_factory) -> Path:
    """50 files of 0.6-3 s cut from speech, in WAV, FLAC and MP3, plus one broken file."""
    folder = tmp_path_factory.mktemp("corpus")
    speech = decode_audio(clips["wav"]).samples
    rng = np.random.default_rng(0)
    for i in range(50):
        start = int(rng.integers(0, len(speech) - 16000))
        piece = speech[start : start + int(rng.integers(9600, 48000))]
        write_wav(folder / f"clip-{i:02d}.wav", piece, 16000)
    (folder / "broken.wav").write_bytes(b"RIFF not really a wave file")
    return folder


@pytest.fixture(scope="module")
def single_process(corpus) -> dict[str, np.ndarray]:
    engine = Engine("demo")
    return {str(p.resolve()): engine.analyze(p).probs for p in sorted(corpus.glob("clip-*.wav"))}


def read_rows(output: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return [r for p in sorted(output.glob("*.parquet")) for r in pq.read_table(p).to_pylist()]


def config(**changes) -> batch_job.JobConfig:
    return batch_job.JobConfig(**{"model": "demo", "batch_size": 8, **changes})


def test_actors_that_would_hold_every_cpu_are_refused_before_the_job_hangs(
    cluster, corpus, tmp_path
):
    with pytest.raises(ValueError, match="leave less than one to read"):
        batch_job.run([str(corpus)], tmp_path / "out", config(workers=2, cpus_per_worker=1.0))
    assert not (tmp_path / "out").exists()


def test_rows_equal_single_process_results(cluster, corpus, single_process, tmp_path):
    report = batch_job.run([str(corpus)], tmp_path / "out", config())
    assert (report.inputs, report.skipped, report.written, report.failed) == (51, 0, 50, 1)
    rows = read_rows(tmp_path / "out")
    assert len(rows) == 51 and len({r["file"] for r in rows}) == 51
    for row in rows:
        if row["file"].endswith("broken.wav"):
            assert "'broken.wav'" in row["error"] and row["emotion"] is None
            continue
        assert row["error"] is None
        probs = np.array([row[c] for c in SCORE_COLUMNS])
        np.testing.assert_allclose(probs, single_process[row["file"]], atol=1e-6)
        result = json.loads(row["result"])
        assert result["emotion"] == row["emotion"] and result["model"]["demo"] is True


def test_blocks_of_failed_files_keep_the_columns_and_types_of_the_others(corpus):
    """Batch-table rows (FileRecord) plus the embedding and the result, typed by one schema:
    a block whose files all failed is not all-null columns of no type."""
    analyzer = batch_job.Analyzer(config(options=AnalysisOptions(extract_embedding=True)))

    def block(*names: str) -> dict[str, np.ndarray]:
        rows = [
            batch_job.decode_row(
                {"path": str(corpus / n), "bytes": (corpus / n).read_bytes()}, None
            )
            for n in names
        ]
        return {key: np.array([row[key] for row in rows], dtype=object) for key in rows[0]}

    failed = analyzer(block("broken.wav"))
    good = analyzer(block("clip-00.wav", "clip-01.wav"))
    assert failed.schema == good.schema == batch_job.row_schema(EMOTION_KEYS)
    assert failed.column_names == [*FileRecord("", None).row(), "embedding", "result"]
    (row,) = failed.to_pylist()
    assert "'broken.wav'" in row["error"]
    assert row["emotion"] is row["confidence"] is row["embedding"] is None and row["result"] == ""
    assert row["model_id"] is row["model_demo"] is None
    assert all(len(r["embedding"]) == 64 and r["error"] is None for r in good.to_pylist())
    assert {(r["model_id"], r["model_demo"]) for r in good.to_pylist()} == {("demo", True)}


def test_resume_skips_finished_files_and_retries_failed_ones(cluster, corpus, tmp_path):
    out = tmp_path / "out"
    batch_job.run([str(corpus)], out, config())
    again = batch_job.run([str(corpus)], out, config())
    assert (again.skipped, again.written, again.failed) == (50, 0, 1)  # broken.wav retried
    new = tmp_path / "new.wav"
    write_wav(new, decode_audio(corpus / "clip-00.wav").samples, 16000)
    third = batch_job.run([str(corpus), str(new)], out, config())
    assert (third.skipped, third.written) == (50, 1)
    files = [r["file"] for r in read_rows(out) if not r["error"]]
    assert len(files) == len(set(files)) == 51


def test_jsonl_output_with_embeddings(cluster, corpus, tmp_path):
    out = tmp_path / "jsonl"
    options = AnalysisOptions(extract_embedding=True)
    batch_job.run(
        [str(corpus / "clip-0*.wav")], out, config(output_format="jsonl", options=options)
    )
    rows = [json.loads(line) for p in out.glob("*.json*") for line in p.read_text().splitlines()]
    assert len(rows) == 10
    assert all(len(r["embedding"]) == 64 for r in rows)  # the demo model's embed_dim


@pytest.fixture(scope="module")
def head_file(tmp_path_factory) -> Path:
    engine = Engine("demo")
    engine.wait_ready()
    return random_head(engine).save(tmp_path_factory.mktemp("head") / "head.safetensors")


def test_a_subset_has_a_score_column_per_emotion_that_sum_to_one(
    cluster, corpus, single_process, tmp_path
):
    subset = ("angry", "happy", "neutral", "sad")
    options = AnalysisOptions(emotions=",".join(subset))
    batch_job.run([str(corpus / "clip-0*.wav")], tmp_path / "out", config(options=options))
    rows = read_rows(tmp_path / "out")
    assert len(rows) == 10
    assert [c for c in rows[0] if c.startswith("score_")] == score_columns(subset)
    chosen = [EMOTION_KEYS.index(key) for key in subset]
    for row in rows:
        probs = np.array([row[c] for c in score_columns(subset)])
        assert probs.sum() == pytest.approx(1.0, abs=1e-5)  # of scores rounded to 6 decimals
        expected = single_process[row["file"]][chosen]  # masked logits: renormalised
        np.testing.assert_allclose(probs, expected / expected.sum(), atol=2e-6)


def test_the_cli_runs_a_job_with_a_head_and_a_column_per_label(
    cluster, corpus, head_file, tmp_path, capsys
):
    out = tmp_path / "out"
    command = ["batch", str(corpus / "clip-2*.wav"), "--out", str(out), "--model", "demo",
               "--files-per-call", "4", "--head", str(head_file)]  # fmt: skip
    assert main(command) == 0, capsys.readouterr().err
    rows = read_rows(out)
    assert len(rows) == 10
    assert [c for c in rows[0] if c.startswith("score_")] == score_columns(HEAD_LABELS)
    for row in rows:
        assert row["emotion"] in HEAD_LABELS and json.loads(row["result"])["emotion"] in HEAD_LABELS
        assert sum(row[c] for c in score_columns(HEAD_LABELS)) == pytest.approx(1.0, abs=1e-5)


def test_a_split_job_writes_one_row_per_call_with_each_channels_summary(
    cluster, clip_dir, tmp_path, capsys
):
    """`batch --channels split`: the actors get both channels and analyse each apart, as
    one process does; the row's result holds the channels and the talk summary."""
    path = write_stereo_calls(tmp_path)["call"]
    command = ["batch", str(path), "--out", str(tmp_path / "out"), "--model", "demo",
               "--channels", "split", "--channel-names", "agent,customer"]  # fmt: skip
    assert main(command) == 0, capsys.readouterr().err
    (row,) = read_rows(tmp_path / "out")
    result, mine = json.loads(row["result"]), Engine("demo").analyze(path, SPLIT).to_json()
    assert [c["name"] for c in result["channels"]] == ["agent", "customer"]
    assert row["segments"] == len(result["segments"]["rows"]) == len(mine["segments"]["rows"])
    assert result["summary"]["talk_s"] == mine["summary"]["talk_s"]
    for theirs, alone in zip(result["channels"], mine["channels"], strict=True):
        summary, expected = theirs["summary"], alone["summary"]
        assert summary["segments"] == expected["segments"] >= 1
        assert summary["distribution"] == pytest.approx(expected["distribution"], abs=1e-5)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--head", "missing.safetensors"], "missing.safetensors does not exist"),
        (["--emotions", "angry,calm"], "'calm' is not among the classes"),
        (["--channels", "split", "--channel-names", "a,a"], "distinct"),
    ],
)
def test_a_bad_head_or_subset_is_refused_before_ray_starts(
    corpus, tmp_path, capsys, monkeypatch, flags, message
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(ray, "init", lambda *a, **k: pytest.fail("Ray was started"))
    out = tmp_path / "out"
    assert main(["batch", str(corpus), "--out", str(out), "--model", "demo", *flags]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_a_manifest_lists_the_inputs(cluster, corpus, tmp_path):
    manifest = tmp_path / "manifest.txt"
    manifest.write_text(f"# three files\n{corpus / 'clip-01.wav'}\n\n{corpus / 'clip-02.wav'}\n")
    report = batch_job.run([str(manifest)], tmp_path / "out", config())
    assert (report.inputs, report.written) == (2, 2)


def test_a_worker_killed_mid_job_loses_nothing(cluster, corpus, single_process, tmp_path):
    """Ray restarts the model actor and retries its batches: every file is still written once."""
    killed: list[float] = []  # when

    def kill_the_model_actor_once() -> None:
        """SIGKILL while it runs a batch, which Ray shows in the process title
        ("...(Analyzer)).submit"; ".__init__" while it loads): a fixed wait after the actor
        appears missed the job on a fast machine, where all its batches take about 1 s."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for pid in process_ids(b"MapWorker", b"Analyzer", b".submit"):
                with contextlib.suppress(ProcessLookupError):  # it may just have finished
                    os.kill(pid, signal.SIGKILL)
                    killed.append(time.monotonic())
                    return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_the_model_actor_once)
    killer.start()
    report = batch_job.run([str(corpus)], tmp_path / "out", config(batch_size=2))
    finished = time.monotonic()
    killer.join()
    assert killed and killed[0] < finished, "the model actor was not killed while the job ran"
    assert (report.written, report.failed) == (50, 1)
    rows = read_rows(tmp_path / "out")
    good = [r for r in rows if not r["error"]]
    assert len(good) == len({r["file"] for r in good}) == 50
    for row in good:
        probs = np.array([row[c] for c in SCORE_COLUMNS])
        np.testing.assert_allclose(probs, single_process[row["file"]], atol=1e-6)


def test_the_cli_runs_the_job_on_a_given_cluster(cluster, corpus, tmp_path):
    """`emotion2vec-app batch --ray ADDRESS` joins the running cluster and says what it did."""
    address = ray.get_runtime_context().gcs_address
    done = subprocess.run(
        [CLI, "batch", str(corpus / "clip-1*.wav"), str(corpus / "broken.wav"), "--ray", address,
         "--out", str(tmp_path / "out"), "--format", "jsonl", "--model", "demo"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr[-2000:]  # the broken file failed
    assert "11 inputs: 0 already in" in done.stdout and "10 written, 1 failed" in done.stdout
    again = subprocess.run(
        [CLI, "batch", str(corpus / "clip-1*.wav"), "--ray", address,
         "--out", str(tmp_path / "out"), "--format", "jsonl", "--model", "demo"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert again.returncode == 0 and "10 inputs: 10 already in" in again.stdout
