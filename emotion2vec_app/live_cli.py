"""`emotion2vec-app stream FILE|-`: the rolling live analysis from the shell.

A file is decoded as `predict` decodes it and read as fast as it can be scored: every window,
each exactly its offline analysis. `--realtime` plays it at the speed of real time instead, to
try the latency a microphone would see. `-` reads raw 16 kHz mono float32 (little-endian)
PCM from stdin, e.g. `sox -d -t raw -r 16000 -c 1 -e float -b 32 - | emotion2vec-app stream -`:
a live source, so windows are skipped when scoring falls behind.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from typing import BinaryIO

import numpy as np

from emotion2vec_app.audio import TARGET_RATE, decode_audio
from emotion2vec_app.engine.interface import AnalysisEngine, ModelLoadFailed, ModelNotReady
from emotion2vec_app.engine.live import DEFAULT_HOP_S, DEFAULT_WINDOW_S, window_sizes
from emotion2vec_app.results import LiveStats, LiveUpdate

CHUNK_S = 0.1  # what a file or stdin is read in: a microphone's typical buffer
EngineFactory = Callable[[argparse.Namespace], AnalysisEngine]


def add_command(
    commands: argparse._SubParsersAction,
    add_model_options: Callable[[argparse.ArgumentParser], None],
    engine_from_args: EngineFactory,
    demo_note: str,
) -> None:
    parser = commands.add_parser(
        "stream",
        help="rolling emotion over a file or raw PCM on stdin, one update per hop",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("source", metavar="FILE|-")
    parser.add_argument(
        "--window", type=float, default=DEFAULT_WINDOW_S, metavar="SECONDS",
        help=f"seconds scored at each update (default {DEFAULT_WINDOW_S:g})",
    )  # fmt: skip
    parser.add_argument(
        "--hop", type=float, default=DEFAULT_HOP_S, metavar="SECONDS",
        help=f"seconds between updates (default {DEFAULT_HOP_S:g})",
    )  # fmt: skip
    parser.add_argument("--emotions", metavar="LIST", help="score only these classes")
    parser.add_argument("--json", action="store_true", help="one JSON object per update")
    parser.add_argument(
        "--realtime", action="store_true", help="play FILE at real speed (try the latency)"
    )
    add_model_options(parser)
    parser.set_defaults(run=lambda args: stream(args, engine_from_args, demo_note))


def stream(args: argparse.Namespace, engine_from_args: EngineFactory, demo_note: str) -> int:
    window, _ = window_sizes(args.window, args.hop)  # a bad setting before the model loads
    from_stdin = args.source == "-"
    if from_stdin and args.realtime:
        raise ValueError("--realtime paces a FILE; stdin arrives at its own pace")
    if from_stdin:
        chunks = _raw_pcm(sys.stdin.buffer)
    else:
        samples = decode_audio(args.source, max_duration_s=args.max_duration).samples
        chunks = _paced(samples) if args.realtime else _pieces(samples)
    counted = _Counted(chunks)
    engine = engine_from_args(args)
    emotions = args.emotions.split(",") if args.emotions else None
    updates: list[LiveUpdate] = []
    try:
        for update in engine.stream(
            counted, args.window, args.hop, emotions=emotions, live=from_stdin or args.realtime
        ):
            if not updates and engine.status().demo:
                print(demo_note, file=sys.stderr)
            updates.append(update)
            print(json.dumps(update.to_json()) if args.json else _line(update))
    except (ModelLoadFailed, ModelNotReady) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not updates:
        print(
            f"error: the stream is {counted.samples / TARGET_RATE:.2f} s long, shorter than the "
            f"{window / TARGET_RATE:g} s window: nothing to score (try a shorter --window)",
            file=sys.stderr,
        )
        return 1
    print(LiveStats.of(updates).line(), file=sys.stderr)
    return 0


def _line(update: LiveUpdate) -> str:
    skipped = f"  ({update.skipped} skipped)" if update.skipped else ""
    timing = f"{update.latency_s * 1000:5.0f} ms{skipped}"
    top = update.emotion
    if top is None:
        return f"{update.t_s:8.2f} s  ·  no speech{'':14}{timing}"
    return f"{update.t_s:8.2f} s  {top.emoji} {top.key:<10} {update.confidence:6.1%}  {timing}"


class _Counted:
    """Chunks passed through, counting their samples (for the too-short message)."""

    def __init__(self, chunks: Iterator[np.ndarray]) -> None:
        self._chunks = chunks
        self.samples = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        for chunk in self._chunks:
            self.samples += len(chunk)
            yield chunk


def _pieces(samples: np.ndarray) -> Iterator[np.ndarray]:
    size = int(CHUNK_S * TARGET_RATE)
    for start in range(0, len(samples), size):
        yield samples[start : start + size]


def _paced(samples: np.ndarray) -> Iterator[np.ndarray]:
    """The file at the speed of real time: each chunk when its last sample would be heard."""
    started = time.perf_counter()
    for index, chunk in enumerate(_pieces(samples)):
        time.sleep(max(0.0, started + (index + 1) * CHUNK_S - time.perf_counter()))
        yield chunk


def _raw_pcm(pipe: BinaryIO) -> Iterator[np.ndarray]:
    """float32 little-endian samples as they arrive; a sample split across reads is kept."""
    size = 4 * int(CHUNK_S * TARGET_RATE)
    rest = b""
    while block := pipe.read1(size) if hasattr(pipe, "read1") else pipe.read(size):
        data = rest + block
        whole = len(data) // 4 * 4
        rest = data[whole:]
        if whole:
            yield np.frombuffer(data[:whole], dtype="<f4").astype(np.float32)
