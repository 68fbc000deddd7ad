"""One folder per analysis under outputs/: processed audio, result.json, embedding.npy.

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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import soundfile as sf

from emotion2vec_app.audio import TARGET_RATE
from emotion2vec_app.results import Prediction

log = logging.getLogger("emotion2vec_app")

RUN_NAME = re.compile(r"^outputs_\d{8}_\d{6}_[0-9a-f]{6}$")
RESULT_FILE = "result.json"
AUDIO_FILE = "processed_audio.wav"
EMBEDDING_FILE = "embedding.npy"


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


def new_run_dir(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d_%H%M%S")
    while True:
        path = root / f"outputs_{stamp}_{secrets.token_hex(3)}"
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
    audio_file = path / AUDIO_FILE
    _write_atomic(
        audio_file,
        lambda p: sf.write(
            p, prediction.waveform.samples, TARGET_RATE, subtype="PCM_16", format="WAV"
        ),
    )
    embedding_file = None
    if prediction.embedding is not None:
        embedding_file = path / EMBEDDING_FILE
        _write_atomic(embedding_file, lambda p: _save_npy(p, prediction.embedding))
    result = prediction.to_json(
        run_dir=str(path), embedding_file=EMBEDDING_FILE if embedding_file else None
    )
    text = json.dumps(result, ensure_ascii=False, indent=2)
    _write_atomic(path / RESULT_FILE, lambda p: p.write_text(text, encoding="utf-8"))
    return RunFolder(path, path / RESULT_FILE, audio_file, embedding_file, result)
