"""A corpus on a Ray cluster: read -> decode (CPU tasks) -> analyse (model actors) -> write.

Every worker runs the same code as one process does: `decode_audio` in the decode tasks,
the one analysis core (`Engine.analyze_batch`, with the same length limit) in the actors, so
a row equals the single-process result of its file, refusals and failures included. Ray Data
restarts a dead actor and retries its tasks, so a lost worker loses nothing. Output rows are
a batch table's (`writers.FileRecord.row`) plus the embedding as a list and the whole result
as JSON, one part file per block, typed alike whether a block's files failed or not; resuming
skips files already in the output (`writers.finished_files`).

With channels split a file is still one row: its channels' timelines and summaries are in its
result (`channels`, and `talk_s`, `overlap_s` in its `summary`), not in columns of their own,
so every job writes the one schema of a batch table. Decode tasks hand the actors each
channel at 16 kHz, (C, N), instead of the mix, which the actor derives from them as decoding
does: a stereo file travels as twice its mono size, not three times.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emotion2vec_app.audio import (
    DEFAULT_MAX_DURATION_S,
    AudioError,
    SourceInfo,
    Waveform,
    decode_audio,
)
from emotion2vec_app.distributed import load_engine
from emotion2vec_app.engine import Outcome
from emotion2vec_app.files import expand_inputs
from emotion2vec_app.heads import load_head
from emotion2vec_app.labels import EMOTIONS
from emotion2vec_app.options import AnalysisOptions
from emotion2vec_app.writers import BATCH_FIELDS, FileRecord, finished_files, score_columns

if TYPE_CHECKING:
    import pyarrow as pa

OUTPUT_FORMATS = ("parquet", "jsonl")
MANIFEST_SUFFIXES = (".txt", ".lst", ".csv")
URI_SCHEMES = ("s3://", "gs://", "gcs://", "abfs://", "az://", "hdfs://", "http://", "https://")


@dataclass(frozen=True)
class JobConfig:
    """What the job runs: the model and its placement, the analysis, the output."""

    model: str = "iic/emotion2vec_plus_large"
    hub: str = "ms"
    device: str = "auto"
    dtype: str = "auto"
    options: AnalysisOptions = field(default_factory=AnalysisOptions)
    workers: int = 1  # model actors
    gpus_per_worker: float = 0.0  # e.g. 0.25: four actors share one GPU
    cpus_per_worker: float = 1.0
    batch_size: int = 16  # files per actor call
    output_format: str = "parquet"
    max_duration_s: float | None = DEFAULT_MAX_DURATION_S  # decode tasks and actors alike
    head: str | None = None  # a train-head file, at this path on every node
    keys: tuple[str, ...] = field(init=False)  # the classes scored: a score column each

    def __post_init__(self) -> None:
        if self.output_format not in OUTPUT_FORMATS:
            raise ValueError(f"output format must be parquet or jsonl, not {self.output_format!r}")
        if self.workers < 1 or self.batch_size < 1:
            raise ValueError("workers and batch_size must be at least 1")
        object.__setattr__(self, "keys", scored_keys(self.head, self.options))


def scored_keys(head: str | None, options: AnalysisOptions) -> tuple[str, ...]:
    """The classes every row scores, known in the driver before Ray starts (a bad head file
    or subset is refused there, not by each actor): the head's labels or the model's
    emotions, cut to the options' subset. Actors get them with the pickled config."""
    classes = EMOTIONS if head is None else load_head(head).emotions
    return tuple(emotion.key for emotion in options.scored(classes))


@dataclass
class JobReport:
    inputs: int
    skipped: int  # already in the output (resume)
    written: int
    failed: int
    output: Path


def read_manifest(path: Path) -> list[str]:
    """One path or URI a line (a CSV's first column); blank lines and # comments skipped."""
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = line.split(",")[0].strip() if path.suffix == ".csv" else line.strip()
        if entry and not entry.startswith("#") and entry.lower() not in ("path", "file"):
            entries.append(entry)
    return entries


def collect_sources(patterns: Iterable[str]) -> tuple[list[str], list[str]]:
    """Local files, folders and globs (as `predict` takes them), manifests, and URIs."""
    sources, problems, local = [], [], []
    for pattern in patterns:
        if pattern.startswith(URI_SCHEMES):
            sources.append(pattern)
        elif pattern.endswith(MANIFEST_SUFFIXES) and Path(pattern).is_file():
            entries = read_manifest(Path(pattern))
            sources += [e for e in entries if e.startswith(URI_SCHEMES)]
            local += [e for e in entries if not e.startswith(URI_SCHEMES)]
        else:
            local.append(pattern)
    files, problems = expand_inputs(local)
    return [str(f.resolve()) for f in files] + sources, problems


def _key(source: str) -> str:
    """Ray Data reports s3://bucket/key as bucket/key: compare sources without the scheme."""
    return source.split("://", 1)[-1]


def decode_row(
    row: dict[str, Any], max_duration_s: float | None, keep_channels: bool = False
) -> dict[str, Any]:
    """bytes -> 16 kHz samples, on a CPU task. A bad file becomes a row with its error.

    With `keep_channels` (channels split) a file of several channels carries them, (C, N),
    and no mix; every other row has an empty (0, 0) `channels`, so blocks share one type."""
    path = row["path"]
    started = time.perf_counter()
    samples, channels, reason = np.zeros(0, np.float32), np.zeros((0, 0), np.float32), ""
    try:
        waveform = decode_audio(
            row["bytes"],
            name=Path(path).name,
            max_duration_s=max_duration_s,
            keep_channels=keep_channels,
        )
    except ValueError as error:  # AudioError: the message names the file and the fix
        info, reason = "", str(error)
    else:
        info = json.dumps({**waveform.info.to_json(), "warnings": waveform.warnings})
        if waveform.channels is None:
            samples = waveform.samples
        else:
            channels = waveform.channels
    return {
        "file": path,
        "samples": samples,
        "channels": channels,
        "info": info,
        "error": reason,
        "decode_s": time.perf_counter() - started,
    }


def row_schema(keys: Sequence[str]) -> pa.Schema:
    """Every block's columns and types, so a block whose files all failed (all nulls) is
    written with the same types as the others; a score column per class of `keys`."""
    import pyarrow as pa

    scores = score_columns(keys)
    types = {
        "segments": pa.int64(),
        "model_demo": pa.bool_(),
        **dict.fromkeys(["confidence", "duration_s", *scores], pa.float64()),
    }
    columns = [(name, types.get(name, pa.string())) for name in BATCH_FIELDS + scores]
    return pa.schema([*columns, ("embedding", pa.list_(pa.float32())), ("result", pa.string())])


def output_row(file: str, outcome: Outcome, keys: tuple[str, ...]) -> dict[str, Any]:
    """A batch table's row of the file (a score per class of `keys`), its embedding (flat:
    its shape is in the result's "embedding") and its whole result as JSON."""
    prediction = outcome.prediction
    result = None if prediction is None else prediction.to_json()
    embedding = None if prediction is None else prediction.embedding
    return {
        **FileRecord(file, result, outcome.reason, keys).row(),
        "embedding": None if embedding is None else embedding.astype(np.float32).ravel().tolist(),
        "result": "" if result is None else json.dumps(result, ensure_ascii=False),
    }


class Analyzer:
    """A model actor: loads the engine once, then analyses batches of decoded rows."""

    def __init__(self, config: JobConfig) -> None:
        self.config = config
        self.engine = load_engine(config, head=config.head)

    def __call__(self, batch: dict[str, np.ndarray]) -> pa.Table:
        import pyarrow as pa

        rows = [
            dict(zip(batch, values, strict=True)) for values in zip(*batch.values(), strict=True)
        ]
        inputs = [AudioError(str(r["error"])) if r["error"] else _waveform(r) for r in rows]
        outcomes = self.engine.analyze_batch(
            inputs, self.config.options, decode_s=[float(r["decode_s"]) for r in rows]
        )
        keys = self.config.keys
        out = [output_row(str(r["file"]), o, keys) for r, o in zip(rows, outcomes, strict=True)]
        return pa.Table.from_pylist(out, schema=row_schema(keys))


def _waveform(row: dict[str, Any]) -> Waveform:
    """The decoded row as decoding made it: a file's samples, or its channels if kept."""
    info = json.loads(row["info"])
    warnings = info.pop("warnings")
    channels = np.ascontiguousarray(row["channels"], np.float32) if row["channels"].size else None
    samples = np.asarray(row["samples"], np.float32) if channels is None else None
    return Waveform(samples, SourceInfo(**info), warnings, channels)


def _check_room_to_read(config: JobConfig, cluster_cpus: float) -> None:
    """Model actors that hold every CPU leave none for the read tasks: the job would hang."""
    held = config.workers * config.cpus_per_worker
    if held > cluster_cpus - 1:
        raise ValueError(
            f"{config.workers} model actors x {config.cpus_per_worker:g} CPU hold {held:g} of "
            f"the cluster's {cluster_cpus:g} CPUs and leave less than one to read and decode "
            "files, so the job could not start: use fewer --workers or a smaller "
            "--cpus-per-worker (e.g. 0.5), or add nodes."
        )


def run(
    patterns: Iterable[str],
    output: Path,
    config: JobConfig,
    *,
    address: str | None = None,
    resume: bool = True,
) -> JobReport:
    """Run the job on the cluster at `address` (None: a local Ray started for the job)."""
    import ray

    sources, problems = collect_sources(patterns)
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    done = {_key(f) for f in finished_files(output)} if resume else set()
    todo = [s for s in sources if _key(s) not in done]
    report = JobReport(len(sources), len(sources) - len(todo), 0, 0, output)
    if not todo:
        return report
    ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    _check_room_to_read(config, ray.cluster_resources().get("CPU", 0.0))
    ds = ray.data.read_binary_files(todo, include_paths=True)
    ds = ds.map(
        decode_row,
        fn_kwargs={"max_duration_s": config.max_duration_s, "keep_channels": config.options.split},
    )
    ds = ds.map_batches(
        Analyzer,
        fn_constructor_kwargs={"config": config},
        batch_size=config.batch_size,
        batch_format="numpy",
        concurrency=config.workers,
        num_gpus=config.gpus_per_worker,
        num_cpus=config.cpus_per_worker,
    )
    output.mkdir(parents=True, exist_ok=True)
    if config.output_format == "parquet":
        ds.write_parquet(str(output))
    else:
        ds.write_json(str(output))
    written = {_key(f) for f in finished_files(output)}
    report.written = len({_key(s) for s in todo} & written)
    report.failed = len(todo) - report.written
    return report
