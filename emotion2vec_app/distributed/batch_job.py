"""A corpus on a Ray cluster: read -> decode (CPU tasks) -> analyse (model actors) -> write.

Every worker runs the same code as one process does: `decode_audio` in the decode tasks,
`Engine.analyze_batch` in the actors, so a row equals the single-process result of its
file. Ray Data restarts a dead actor and retries its tasks, so a lost worker loses nothing.
Output rows are flat (one column per emotion score, the embedding as a list, the whole
result as JSON), one part file per block; resuming skips files already in the output.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emotion2vec_app.audio import SourceInfo, Waveform, decode_audio
from emotion2vec_app.batch import expand_inputs
from emotion2vec_app.distributed import load_engine
from emotion2vec_app.engine import AnalysisOptions
from emotion2vec_app.labels import EMOTIONS

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
    max_duration_s: float | None = 3 * 3600.0

    def __post_init__(self) -> None:
        if self.output_format not in OUTPUT_FORMATS:
            raise ValueError(f"output format must be parquet or jsonl, not {self.output_format!r}")
        if self.workers < 1 or self.batch_size < 1:
            raise ValueError("workers and batch_size must be at least 1")


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


def finished_files(output: Path, output_format: str) -> set[str]:
    """Files the output already holds without an error (resume)."""
    if not output.is_dir():
        return set()
    if output_format == "parquet":
        import pyarrow.parquet as pq

        parts = sorted(output.glob("*.parquet"))
        rows = [r for p in parts for r in pq.read_table(p, columns=["file", "error"]).to_pylist()]
    else:
        rows = [
            json.loads(line)
            for p in sorted(output.glob("*.json*"))
            for line in p.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
    return {row["file"] for row in rows if not row.get("error")}


def _key(source: str) -> str:
    """Ray Data reports s3://bucket/key as bucket/key: compare sources without the scheme."""
    return source.split("://", 1)[-1]


def decode_row(row: dict[str, Any], max_duration_s: float | None) -> dict[str, Any]:
    """bytes -> 16 kHz samples, on a CPU task. A bad file becomes a row with its error."""
    path = row["path"]
    try:
        waveform = decode_audio(row["bytes"], name=Path(path).name, max_duration_s=max_duration_s)
    except ValueError as error:  # AudioError: the message names the file and the fix
        return {"file": path, "samples": np.zeros(0, np.float32), "info": "", "error": str(error)}
    info = {**waveform.info.to_json(), "warnings": waveform.warnings}
    return {"file": path, "samples": waveform.samples, "info": json.dumps(info), "error": ""}


def result_row(file: str, result: dict | None, embedding: np.ndarray | None, error: str) -> dict:
    """One output row: flat, typed the same whether the file succeeded or not."""
    scores = (result or {}).get("scores", {})
    return {
        "file": file,
        "emotion": result["emotion"] if result else "",
        "confidence": float(result["confidence"]) if result else float("nan"),
        "duration_s": float(result["audio"]["duration_s"]) if result else float("nan"),
        "segments": int(result["summary"]["segments"]) if result and "summary" in result else 0,
        **{f"score_{e.key}": float(scores.get(e.key, float("nan"))) for e in EMOTIONS},
        "embedding": None if embedding is None else embedding.astype(np.float32).tolist(),
        "result": json.dumps(result, ensure_ascii=False) if result else "",
        "error": error,
    }


class Analyzer:
    """A model actor: loads the engine once, then analyses batches of decoded rows."""

    def __init__(self, config: JobConfig) -> None:
        self.config = config
        self.engine = load_engine(config)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        rows = [
            dict(zip(batch, values, strict=True)) for values in zip(*batch.values(), strict=True)
        ]
        good = [r for r in rows if not r["error"]]
        waveforms = [_waveform(r) for r in good]
        predictions = iter(self.engine.analyze_batch(waveforms, self.config.options))
        out = []
        for row in rows:
            if row["error"]:
                out.append(result_row(row["file"], None, None, str(row["error"])))
                continue
            prediction = next(predictions)
            result = prediction.to_json()
            out.append(result_row(row["file"], result, prediction.embedding, ""))
        return {key: [row[key] for row in out] for key in out[0]} if out else {}


def _waveform(row: dict[str, Any]) -> Waveform:
    info = json.loads(row["info"])
    warnings = info.pop("warnings")
    return Waveform(np.asarray(row["samples"], np.float32), SourceInfo(**info), warnings)


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
    done = {_key(f) for f in finished_files(output, config.output_format)} if resume else set()
    todo = [s for s in sources if _key(s) not in done]
    report = JobReport(len(sources), len(sources) - len(todo), 0, 0, output)
    if not todo:
        return report
    ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    _check_room_to_read(config, ray.cluster_resources().get("CPU", 0.0))
    ds = ray.data.read_binary_files(todo, include_paths=True)
    ds = ds.map(decode_row, fn_kwargs={"max_duration_s": config.max_duration_s})
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
    written = {_key(f) for f in finished_files(output, config.output_format)}
    report.written = len({_key(s) for s in todo} & written)
    report.failed = len(todo) - report.written
    return report
