"""One folder per analysis under outputs/: processed audio, result.json, embedding.npy,
frames.csv for frame granularity, and for a segmented recording segments.csv and
segments.json. A batch gets a folder of its own with the table of its files and a ZIP of
their run folders.

Folder names come from the clock and a random suffix, never from user input, and are
created exclusively, so simultaneous requests never share or overwrite a folder.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import time
import zipfile
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import numpy as np
import soundfile as sf

from emotion2vec_app.audio import TARGET_RATE
from emotion2vec_app.results import SEGMENT_COLUMNS, Prediction
from emotion2vec_app.writers import (
    BATCH_FIELDS,
    EMOTION_KEYS,
    FileRecord,
    frame_records,
    score_columns,
    segment_fields,
    segment_records,
    write_table,
)

log = logging.getLogger("emotion2vec_app")

RUN_NAME = re.compile(r"^(outputs|batch|eval)_\d{8}_\d{6}_[0-9a-f]{6}$")
RESULT_FILE = "result.json"
AUDIO_FILE = "processed_audio.wav"
EMBEDDING_FILE = "embedding.npy"
FRAMES_CSV = "frames.csv"
SEGMENTS_CSV = "segments.csv"
SEGMENTS_JSON = "segments.json"
BATCH_CSV = "results.csv"
BATCH_ZIP = "runs.zip"


def default_output_root() -> Path:
    return Path(os.environ.get("E2V_OUTPUT_DIR", "outputs"))


@dataclass(frozen=True)
class Retention:
    """How many run folders to keep; None means no limit. Keeps a shared server's disk bounded."""

    max_runs: int | None = None
    max_age_s: float | None = None


@dataclass(frozen=True)
class RunFolder:
    path: Path
    result_file: Path
    audio_file: Path
    embedding_file: Path | None
    result: dict  # what result.json holds
    segment_files: tuple[Path, ...] = ()  # segments.csv and segments.json, when segmented
    frame_file: Path | None = None  # frames.csv, for frame granularity
    channel_files: tuple[Path, ...] = ()  # split: each channel's audio, in the channels' order

    @property
    def files(self) -> list[Path]:
        """What a user downloads: the result, the frame table, the embedding, the segment
        tables."""
        files = (self.result_file, self.frame_file, self.embedding_file, *self.segment_files)
        return [p for p in files if p]


def new_run_dir(root: Path, kind: str = "outputs") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d_%H%M%S")
    while True:
        path = root / f"{kind}_{stamp}_{secrets.token_hex(3)}"
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path


def _write_atomic(path: Path, write) -> None:
    """Write through a temp name so a reader never sees half a file."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        write(partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _save_npy(path: Path, array: np.ndarray) -> None:
    with path.open("wb") as handle:  # a handle, since np.save appends .npy to other names
        np.save(handle, array.astype(np.float32, copy=False))


def prune_runs(root: Path, retention: Retention) -> int:
    """Delete run folders beyond the retention; only folders named like runs, never others."""
    runs = sorted(
        (p for p in root.iterdir() if p.is_dir() and RUN_NAME.match(p.name)),
        key=lambda p: p.name,
        reverse=True,
    )
    doomed = runs[retention.max_runs :] if retention.max_runs is not None else []
    if retention.max_age_s is not None:
        cutoff = time.time() - retention.max_age_s
        doomed += [p for p in runs if p not in doomed and p.stat().st_mtime < cutoff]
    for path in doomed:
        shutil.rmtree(path, ignore_errors=True)
    return len(doomed)


def saved_result(prediction: Prediction, run: RunFolder | None) -> dict:
    """What result.json holds, or the same result unsaved when the disk refused the folder."""
    return run.result if run else prediction.to_json()


def try_save_run(
    prediction: Prediction, root: Path | None = None, retention: Retention | None = None
) -> RunFolder | None:
    """save_run, but a full or read-only disk costs the run folder, not the analysis."""
    try:
        run = save_run(prediction, root)
        if retention is not None:
            prune_runs(run.path.parent, retention)
        return run
    except OSError as error:
        log.warning("Run folder not written: %s", error)
        prediction.warnings.append(
            f"The run folder could not be written ({error.strerror or error}); "
            "the result is shown but not saved."
        )
        return None


def save_run(prediction: Prediction, root: Path | None = None) -> RunFolder:
    """Write the run folder; return it. `prediction` JSON gains run_dir and embedding file."""
    path = new_run_dir(root or default_output_root())
    audio_file = _save_wav(path / AUDIO_FILE, prediction.waveform.samples)
    channel_files = _save_channels(prediction, path)
    embedding_file = None
    if prediction.embedding is not None:
        embedding_file = path / EMBEDDING_FILE
        _write_atomic(embedding_file, lambda p: _save_npy(p, prediction.embedding))
    segment_files = _save_segments(prediction, path) if prediction.segments else ()
    result, frame_file = _save_result(prediction, path, embedding_file)
    return RunFolder(
        path, path / RESULT_FILE, audio_file, embedding_file, result, segment_files, frame_file,
        channel_files,
    )  # fmt: skip


def _save_wav(path: Path, samples: np.ndarray) -> Path:
    _write_atomic(path, lambda p: sf.write(p, samples, TARGET_RATE, subtype="PCM_16", format="WAV"))
    return path


def channel_file_name(number: int, name: str) -> str:
    """channel_1_agent.wav: the channel's number, then its name in letters, digits, - and _
    only (a name is the user's: no path, no odd character reaches the file system)."""
    safe = re.sub(r"[^\w-]+", "_", name, flags=re.ASCII).strip("_")[:40]
    return f"channel_{number}_{safe}.wav" if safe else f"channel_{number}.wav"


def _save_channels(prediction: Prediction, path: Path) -> tuple[Path, ...]:
    """Each split channel's own audio, so a page plays one speaker's segment alone. None
    when the channels were analysed as one (mono, or identical sides): the mix is theirs."""
    channels, sources = prediction.channels, prediction.waveform.channels
    if channels is None or sources is None or len(channels) != len(sources):
        return ()
    return tuple(
        _save_wav(path / channel_file_name(i + 1, c.name), sources[c.index])
        for i, c in enumerate(channels)
    )


def try_rewrite_run(run: RunFolder, prediction: Prediction) -> RunFolder | None:
    """The run's result.json and frames.csv anew for `prediction`, the same analysis under
    another smoothing: the downloads keep matching the page. None when the disk refuses."""
    try:
        result, frame_file = _save_result(prediction, run.path, run.embedding_file)
    except OSError as error:
        log.warning("Run folder not rewritten: %s", error)
        return None
    return replace(run, result=result, frame_file=frame_file)


def _save_result(
    prediction: Prediction, path: Path, embedding_file: Path | None
) -> tuple[dict, Path | None]:
    """result.json, and frames.csv (the table of its frames, with the same numbers)."""
    result = prediction.to_json(
        run_dir=str(path), embedding_file=EMBEDDING_FILE if embedding_file else None
    )
    frame_file = None
    if "frames" in result:
        frame_file = _write_csv(path / FRAMES_CSV, *frame_records(result["frames"]))
    _write_json(path / RESULT_FILE, result)
    return result, frame_file


def _write_json(path: Path, data: object) -> None:
    text = json.dumps(data, ensure_ascii=False, indent=2)
    _write_atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def _write_csv(path: Path, fields: list[str], records: list[dict]) -> Path:
    _write_atomic(path, lambda p: write_table(p, fields, records, "csv"))
    return path


def _save_segments(prediction: Prediction, path: Path) -> tuple[Path, Path]:
    table = _write_csv(path / SEGMENTS_CSV, segment_fields(prediction), segment_records(prediction))
    timeline = prediction.segments
    document = {
        "method": timeline.method,
        "summary": timeline.summary(),
        "segments": [dict(zip(SEGMENT_COLUMNS, row, strict=True)) for row in timeline.rows()],
    }
    _write_json(path / SEGMENTS_JSON, document)
    return table, path / SEGMENTS_JSON


def save_batch(root: Path, records: list[FileRecord], runs: list[RunFolder]) -> tuple[Path, Path]:
    """A batch folder with the table of its files (CSV) and a ZIP of their run folders."""
    path = new_run_dir(root, "batch")
    rows = [record.row() for record in records]
    keys = records[0].keys if records else EMOTION_KEYS
    table = _write_csv(path / BATCH_CSV, BATCH_FIELDS + score_columns(keys), rows)
    archive = path / BATCH_ZIP
    _write_atomic(archive, lambda p: _zip_runs(p, runs, table))
    return table, archive


def _zip_runs(dest: Path, runs: list[RunFolder], table: Path) -> None:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(table, BATCH_CSV)
        for run in runs:
            for file in sorted(run.path.iterdir()):
                if file.is_file() and not file.name.startswith("."):
                    archive.write(file, f"{run.path.name}/{file.name}")
