"""One analysis core behind every front end, across processes: the Ray batch job and the Ray
Serve deployment refuse, fail and answer each file as `emotion2vec-app predict` and the WebUI
do in one process. The corpus holds what tells them apart: a 70 s recording (refused with
segmentation off, segmented otherwise), a 40 s call, a broken file, and short clips of similar
length, one of which runs out of memory in any pass that holds it.

Ray workers and Serve replicas are other processes: the module's cluster injects the
out-of-memory clip there through its runtime_env (tests/oom_injection.py), this process
through monkeypatch.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import oom_injection
import pytest
from clips import write_wav
from ray_harness import require_ray
from server_harness import free_port

from emotion2vec_app.audio import decode_audio
from emotion2vec_app.cli import main
from emotion2vec_app.distributed.remote_engine import RemoteEngine
from emotion2vec_app.engine import Engine, OutOfMemory
from emotion2vec_app.options import AnalysisOptions
from emotion2vec_app.writers import SCORE_COLUMNS, FileRecord

require_ray()  # before the imports that need the extra
import ray  # noqa: E402
from ray import serve  # noqa: E402

from emotion2vec_app.distributed import batch_job  # noqa: E402
from emotion2vec_app.distributed.serve_app import ServeConfig, deploy  # noqa: E402

OOM_SAMPLES = 17011
OOM_FILE = "short-3.wav"
# Similar lengths, so that the clip that does not fit shares padded passes with others.
SHORT_SAMPLES = [16000, 16480, 16720, OOM_SAMPLES, 17280, 17600, 15800]
TOO_LONG = "above the 60 s that one pass of the model takes"


@pytest.fixture(scope="module")
def corpus(clips, call, tmp_path_factory) -> Path:
    """10 files: 7 short clips, a 70 s recording, a 40 s call and a broken file."""
    folder = tmp_path_factory.mktemp("corpus")
    speech = decode_audio(clips["wav"]).samples
    for i, count in enumerate(SHORT_SAMPLES):
        write_wav(folder / f"short-{i}.wav", speech[i * 1600 : i * 1600 + count], 16000)
    assert len(decode_audio(folder / OOM_FILE).samples) == OOM_SAMPLES
    write_wav(folder / "long.wav", np.resize(speech, 70 * 16000), 16000)
    shutil.copy(call[0], folder / "call.wav")
    (folder / "broken.wav").write_bytes(b"RIFF not really a wave file")
    return folder


@pytest.fixture(scope="module")
def oom_log(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("oom") / "failed-passes.log"
    path.touch()
    return path


@pytest.fixture(scope="module")
def injected_cluster(isolated_cache, oom_log) -> None:
    """A local 2-CPU Ray whose every worker runs out of memory on the OOM clip."""
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env=oom_injection.runtime_env(OOM_SAMPLES, oom_log),
    )
    yield
    serve.shutdown()
    ray.shutdown()


@pytest.fixture(scope="module")
def service(injected_cluster) -> str:
    """Padded passes of up to 4 clips, and a batch wait long enough for concurrent requests
    to meet in one `serve.batch` call."""
    config = ServeConfig(model="demo", batch_size=4, batch_wait_s=0.3, cpus_per_replica=0.5)
    return deploy(config, port=free_port())


@pytest.fixture(scope="module")
def local() -> Engine:
    engine = Engine("demo")
    engine.wait_ready()
    return engine


def run_job(corpus: Path, out: Path, segmentation: str) -> dict[str, dict[str, Any]]:
    """The Ray job's rows by file name; half-CPU actors leave room for the Serve replica."""
    config = batch_job.JobConfig(
        model="demo",
        batch_size=10,
        cpus_per_worker=0.5,
        options=AnalysisOptions(segmentation=segmentation),
    )
    batch_job.run([str(corpus)], out, config)
    import pyarrow.parquet as pq

    rows = [r for p in sorted(out.glob("*.parquet")) for r in pq.read_table(p).to_pylist()]
    assert len(rows) == 10
    return {Path(row["file"]).name: row for row in rows}


@pytest.fixture(scope="module")
def job_off(service, corpus, tmp_path_factory) -> dict[str, dict[str, Any]]:
    return run_job(corpus, tmp_path_factory.mktemp("job-off") / "rows", "off")


@pytest.fixture(scope="module")
def job_auto(service, corpus, tmp_path_factory) -> dict[str, dict[str, Any]]:
    return run_job(corpus, tmp_path_factory.mktemp("job-auto") / "rows", "auto")


def record(document: dict[str, Any]) -> FileRecord:
    """A batch table's document (JSON Lines, /analyze_batch) as its FileRecord."""
    if "error" in document:
        return FileRecord(document["file"], None, document["error"])
    return FileRecord(document["file"], {k: v for k, v in document.items() if k != "file"})


def table_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row as every front end's table has it: by file name, without its run folder."""
    columns = FileRecord("", None).row()
    return {key: row[key] for key in columns if key != "run_dir"} | {"file": Path(row["file"]).name}


def assert_same_rows(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> None:
    """Equal rows; scores may differ by what threads and padded passes change (< 1e-5)."""
    mine = {row["file"]: row for row in map(table_row, expected)}
    theirs = {row["file"]: row for row in map(table_row, actual)}
    assert sorted(mine) == sorted(theirs)
    for name, row in mine.items():
        other = theirs[name]
        assert row.keys() == other.keys()
        for key, value in row.items():
            if isinstance(value, float):
                assert other[key] == pytest.approx(value, abs=1e-5), (name, key)
            else:
                assert other[key] == value, (name, key)


def test_the_job_refuses_a_too_long_recording_with_segmentation_off_as_predict_does(
    job_off, corpus, tmp_path, monkeypatch
):
    oom_injection.patch(monkeypatch, OOM_SAMPLES)  # as in the job's workers
    table = tmp_path / "table.csv"
    command = ["predict", str(corpus), "--segmentation", "off", "--model", "demo",
               "--out", str(table), "--no-save", "-q"]  # fmt: skip
    assert main(command) == 1
    with table.open(encoding="utf-8", newline="") as handle:
        cli = {Path(row["file"]).name: row["error"] or None for row in csv.DictReader(handle)}
    assert TOO_LONG in cli["long.wav"] and "'long.wav' is 70.0 s long" in cli["long.wav"]
    assert job_off["long.wav"]["error"] == cli["long.wav"]
    assert job_off["long.wav"]["emotion"] is None and job_off["long.wav"]["result"] == ""
    assert {name: row["error"] for name, row in job_off.items()} == cli
    assert {name for name, error in cli.items() if error} == {"long.wav", "broken.wav", OOM_FILE}
    assert job_off["call.wav"]["segments"] is None  # 40 s: one pass with segmentation off


def test_a_clip_out_of_memory_fails_alone_in_a_ray_block(job_auto, local, corpus):
    assert "ran out of memory" in job_auto[OOM_FILE]["error"]
    assert job_auto[OOM_FILE]["embedding"] is None and job_auto[OOM_FILE]["confidence"] is None
    failed = {name for name, row in job_auto.items() if row["error"]}
    assert failed == {OOM_FILE, "broken.wav"}
    for name in ("short-2.wav", "short-4.wav"):  # its neighbours in length
        scores = [job_auto[name][column] for column in SCORE_COLUMNS]
        np.testing.assert_allclose(scores, local.analyze(corpus / name).probs, atol=1e-5)


def test_a_clip_out_of_memory_fails_alone_in_a_serve_batch(service, local, corpus, oom_log):
    remote = RemoteEngine(service, in_flight=8)
    remote.wait_ready(timeout=60)
    paths = sorted(corpus.glob("short-*.wav"))
    waveforms = [remote.decode(path) for path in paths]
    logged = len(oom_log.read_text().split())
    outcomes = remote.analyze_batch(waveforms)
    failed = [p.name for p, outcome in zip(paths, outcomes, strict=True) if outcome.error]
    assert failed == [OOM_FILE]
    error = outcomes[paths.index(corpus / OOM_FILE)].error
    assert isinstance(error, OutOfMemory) and "1.1 s clip" in str(error)
    for path, outcome in zip(paths, outcomes, strict=True):
        if outcome.prediction is not None:
            expected = local.analyze(path).probs
            np.testing.assert_allclose(outcome.prediction.probs, expected, atol=1e-5)
    passes = [int(size) for size in oom_log.read_text().split()[logged:]]
    # The padded pass that held it failed first and was split down to the clip alone.
    assert max(passes) > 1 and passes[-1] == 1, passes


def test_every_front_end_gives_the_same_rows(
    job_auto, service, local, corpus, tmp_path, monkeypatch
):
    """CLI, WebUI batch, Ray batch job and Ray Serve: the same FileRecord rows."""
    from emotion2vec_app.ui.handlers import Handlers

    oom_injection.patch(monkeypatch, OOM_SAMPLES)  # as in the Ray workers
    files = sorted(corpus.iterdir())
    table = tmp_path / "table.jsonl"
    command = ["predict", str(corpus), "--model", "demo", "--out", str(table), "--no-save", "-q"]
    assert main(command) == 1  # the broken file and the one out of memory
    lines = table.read_text(encoding="utf-8").splitlines()
    cli = [record(json.loads(line)).row() for line in lines]

    documents, _ = Handlers(local, tmp_path / "webui", None).analyze_batch(
        [str(path) for path in files], progress=lambda *args, **kwargs: None
    )
    webui = [record(document).row() for document in documents]

    served = []
    for path in files:
        response = httpx.post(
            f"{service}/analyze", files={"audio": (path.name, path.read_bytes())}, timeout=120
        )
        if response.status_code == 200:
            served.append(FileRecord(path.name, response.json()["result"]).row())
        else:
            served.append(FileRecord(path.name, None, response.json()["detail"]).row())

    ray_rows = list(job_auto.values())
    assert len(cli) == len(webui) == len(served) == len(ray_rows) == 10
    assert {r["file"]: r["error"] for r in map(table_row, cli)}[OOM_FILE]
    assert {r["file"]: r["segments"] for r in map(table_row, cli)}["long.wav"] > 1
    for rows in (webui, ray_rows, served):
        assert_same_rows(cli, rows)
