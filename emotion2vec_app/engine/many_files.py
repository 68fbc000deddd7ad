"""Many recordings in one go: decode ahead on a worker thread, analyse in groups, in order.

Decoding the next files overlaps the model's work on the current ones; each group goes to the
one analysis core (`analyze_batch`), so a bad or too-long file is reported and skipped, never
the end of the batch. The WebUI, /analyze_batch and the CLI run their batches here.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from emotion2vec_app.audio import AudioError, Waveform, release_freed_memory
from emotion2vec_app.engine.interface import AnalysisEngine, Outcome, Progress
from emotion2vec_app.options import AnalysisOptions
from emotion2vec_app.results import Prediction

DECODE_AHEAD = 4  # files decoded beyond the current group; bounds the memory they hold


@dataclass
class BatchInput:
    """One recording of a batch: where to read it and the name to show for it."""

    path: Path
    name: str


@dataclass
class BatchItem:
    """What became of one recording of a batch."""

    index: int
    name: str
    path: Path
    outcome: Outcome

    @property
    def prediction(self) -> Prediction | None:
        return self.outcome.prediction

    @property
    def error(self) -> str | None:
        return self.outcome.reason


def as_inputs(paths: Sequence[Path]) -> list[BatchInput]:
    return [BatchInput(path, path.name) for path in paths]


Decoded = tuple[Waveform | AudioError, float]  # the waveform or why not, and seconds spent


def analyze_many(
    engine: AnalysisEngine,
    inputs: Sequence[BatchInput],
    options: AnalysisOptions | None = None,
    *,
    progress: Progress | None = None,
) -> Iterator[BatchItem]:
    """Analyse every input and yield its BatchItem in input order.

    Files are decoded on a worker thread up to DECODE_AHEAD beyond the current group of
    `engine.batch_size()`. `progress` hears the fraction of the whole batch done, within
    long recordings too, and what is being done.
    """
    options = options or AnalysisOptions()
    engine.wait_ready()
    group_size = engine.batch_size()
    total = len(inputs)
    done = 0
    with ThreadPoolExecutor(1, thread_name_prefix="e2v-decode") as pool:
        pending: deque[tuple[int, Future[Decoded]]] = deque()
        upcoming = iter(enumerate(inputs))

        def top_up() -> None:
            while len(pending) < group_size + DECODE_AHEAD:
                nxt = next(upcoming, None)
                if nxt is None:
                    return
                index, item = nxt
                pending.append((index, pool.submit(_decode, engine, item, options.split)))

        def within(fraction: float, message: str) -> None:  # inside a long recording
            if progress:
                progress((done + fraction) / total, f"{done + 1}/{total} · {message}")

        top_up()
        while pending:
            group = [pending.popleft() for _ in range(min(group_size, len(pending)))]
            top_up()
            decoded = [future.result() for _, future in group]
            outcomes = engine.analyze_batch(
                [waveform for waveform, _ in decoded],
                options,
                decode_s=[seconds for _, seconds in decoded],
                progress=within,
            )
            for (index, _), outcome in zip(group, outcomes, strict=True):
                item = inputs[index]
                done += 1
                if progress:
                    progress(done / total, f"{done}/{total} · {item.name}")
                yield BatchItem(index, item.name, item.path, outcome)
            release_freed_memory()


def _decode(engine: AnalysisEngine, item: BatchInput, keep_channels: bool) -> Decoded:
    started = time.perf_counter()
    try:
        waveform: Waveform | AudioError = engine.decode(
            item.path, name=item.name, keep_channels=keep_channels
        )
    except AudioError as error:
        waveform = error
    return waveform, time.perf_counter() - started
