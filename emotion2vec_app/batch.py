"""Many recordings in one go: expand folders and globs, decode ahead, analyse in order.

Decoding the next files overlaps the model's work on the current ones; one bad file is
reported and skipped, never the end of the batch. The UI, the CLI and /analyze_batch all
run batches through `analyze_many`.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from emotion2vec_app.audio import AudioError, Waveform
from emotion2vec_app.engine import AnalysisOptions, OutOfMemory
from emotion2vec_app.engine import Progress as EngineProgress
from emotion2vec_app.results import Prediction

if TYPE_CHECKING:
    from emotion2vec_app.remote_engine import AnyEngine

AUDIO_SUFFIXES = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".mp4", ".aac", ".webm", ".wma"}
)
DECODE_AHEAD = 4  # files decoded beyond the current group; bounds the memory they hold

Progress = Callable[[int, int, str], None]  # files done, files in all, the file just done


@dataclass
class BatchInput:
    """One recording of a batch: where to read it and the name to show for it."""

    path: Path
    name: str


@dataclass
class BatchItem:
    """What became of one recording: a prediction, or the reason it was skipped."""

    index: int
    name: str
    path: Path
    prediction: Prediction | None = None
    error: str | None = None


def is_audio_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES


def expand_inputs(patterns: Iterable[str]) -> tuple[list[Path], list[str]]:
    """Files, folders (searched recursively for audio) and globs, in order, each file once.

    Returns the files and one problem per pattern that matched nothing. A file named
    directly is kept whatever its suffix: the decoder decides, and says why if it cannot.
    """
    files: list[Path] = []
    problems: list[str] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if is_audio_file(p))
            if not found:
                problems.append(f"{pattern}: no audio files in this folder")
        elif path.exists():
            found = [path]
        elif glob.has_magic(pattern):
            found = sorted(
                p for p in map(Path, glob.glob(pattern, recursive=True)) if is_audio_file(p)
            )
            if not found:
                problems.append(f"{pattern}: no audio files match")
        else:
            found = []
            problems.append(f"{pattern}: not found")
        files.extend(found)
    seen: set[Path] = set()
    unique = []
    for path in files:  # the first mention of a file wins
        if path.resolve() not in seen:
            seen.add(path.resolve())
            unique.append(path)
    return unique, problems


def as_inputs(paths: Iterable[Path]) -> list[BatchInput]:
    return [BatchInput(path, path.name) for path in paths]


def analyze_many(
    engine: AnyEngine,
    inputs: Sequence[BatchInput],
    options: AnalysisOptions | None = None,
    *,
    progress: Progress | None = None,
    segment_progress: EngineProgress | None = None,
) -> Iterator[BatchItem]:
    """Analyse every input and yield its BatchItem in input order.

    Files are decoded on a worker thread up to DECODE_AHEAD ahead; each group of decoded
    files goes to `Engine.analyze_batch`, which batches short clips on GPU.
    `segment_progress` hears how far a long recording has got.
    """
    options = options or AnalysisOptions()
    group_size = engine.batch_size(engine.wait_ready())
    done = 0
    with ThreadPoolExecutor(1, thread_name_prefix="e2v-decode") as pool:
        pending: deque[tuple[int, Future]] = deque()
        upcoming = iter(enumerate(inputs))

        def top_up() -> None:
            while len(pending) < group_size + DECODE_AHEAD:
                nxt = next(upcoming, None)
                if nxt is None:
                    return
                index, item = nxt
                pending.append((index, pool.submit(_decode, engine, item, options)))

        top_up()
        while pending:
            group = [pending.popleft() for _ in range(min(group_size, len(pending)))]
            top_up()
            for item in _analyze_group(engine, inputs, group, options, segment_progress):
                done += 1
                if progress:
                    progress(done, len(inputs), item.name)
                yield item
            release_freed_memory()


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to trim
        return None


def release_freed_memory() -> None:
    """Hand freed heap memory back to the system.

    Waveforms are decoded on a worker thread and freed on this one; glibc keeps such memory
    in the worker's arena, and without a trim RSS creeps up file after file (200 files with
    the full model: 1.15 -> 1.9 GB; trimmed after each group it stays flat).
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _decode(
    engine: AnyEngine, item: BatchInput, options: AnalysisOptions
) -> tuple[Waveform, float]:
    started = time.perf_counter()
    waveform = engine.decode(item.path, options, name=item.name)
    return waveform, time.perf_counter() - started


def _analyze_group(
    engine: AnyEngine,
    inputs: Sequence[BatchInput],
    group: list[tuple[int, Future]],
    options: AnalysisOptions,
    segment_progress: EngineProgress | None,
) -> list[BatchItem]:
    items = [BatchItem(index, inputs[index].name, inputs[index].path) for index, _ in group]
    decoded: list[tuple[BatchItem, Waveform, float]] = []
    for item, (_, future) in zip(items, group, strict=True):
        try:
            waveform, seconds = future.result()
        except AudioError as error:
            item.error = str(error)
        else:
            decoded.append((item, waveform, seconds))
    if not decoded:
        return items
    waveforms, seconds = [w for _, w, _ in decoded], [s for _, _, s in decoded]
    try:
        predictions = engine.analyze_batch(
            waveforms, options, decode_s=seconds, progress=segment_progress
        )
    except OutOfMemory as error:
        if len(decoded) == 1:
            decoded[0][0].error = str(error)
        else:  # a clip that did not fit even alone: analyse singly, so only its file fails
            for one in decoded:
                _analyze_group_of_one(engine, one, options, segment_progress)
        return items
    for (item, _, _), prediction in zip(decoded, predictions, strict=True):
        item.prediction = prediction
    return items


def _analyze_group_of_one(
    engine: AnyEngine,
    decoded: tuple[BatchItem, Waveform, float],
    options: AnalysisOptions,
    segment_progress: EngineProgress | None,
) -> None:
    item, waveform, seconds = decoded
    try:
        (item.prediction,) = engine.analyze_batch(
            [waveform], options, decode_s=[seconds], progress=segment_progress
        )
    except OutOfMemory as error:
        item.error = str(error)
