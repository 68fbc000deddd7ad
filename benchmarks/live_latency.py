"""Live latency: a speech stream played at real speed into Engine.stream, as a microphone would.

    python benchmarks/live_latency.py                  # tiny 1 min, then full-size 5 min, CPU
    python benchmarks/live_latency.py --device cuda    # the same on a GPU (gpu_check.sh)
    python benchmarks/live_latency.py --quick          # tiny model, 20 s (CI smoke run)

espeak-ng sentences with pauses, looped, are fed in 20 ms chunks paced by the wall clock (a
browser microphone's buffer). For each model: update latency from the arrival of the chunk
that completed a window to its prediction (p50, p95, max), the achieved hop (wall seconds
between updates), windows skipped, and the p95 latency of each minute: a backlog would show as
latency growing minute by minute. Targets (issue 17): GPU p95 < 150 ms at a 0.5 s hop; 2 CPU
cores, full-size model: an update at least every 1.5 s, no growing backlog over 5 minutes.
The script exits 1 when the stream drops a window from its count (scored + skipped must equal
the windows the stream holds) or the latency grows without bound (last minute's p95 over 3x
the first's and over 2 s).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from clips import speak_with_pauses  # noqa: E402
from long_and_batch import SENTENCES, build_model  # noqa: E402

from emotion2vec_app.audio import TARGET_RATE, decode_audio  # noqa: E402
from emotion2vec_app.engine import Engine  # noqa: E402
from emotion2vec_app.engine.live import window_count  # noqa: E402
from emotion2vec_app.results import LiveStats, LiveUpdate  # noqa: E402

CHUNK_S = 0.02
PAUSES_S = [0.6, 1.2, 0.4, 2.0, 0.8, 0.5, 1.5, 0.7, 0.9, 1.1, 0.6]


def speech(work: Path) -> np.ndarray:
    path = work / "live-speech.wav"
    if not path.is_file():
        texts = SENTENCES[: len(PAUSES_S) + 1]
        speak_with_pauses(texts, PAUSES_S[: len(texts) - 1], path, noise=0.002)
    return decode_audio(path).samples


def microphone(samples: np.ndarray, seconds: float) -> Iterator[np.ndarray]:
    """`samples` looped to `seconds`, each 20 ms chunk released when it would be heard."""
    size = int(CHUNK_S * TARGET_RATE)
    total = int(seconds * TARGET_RATE)
    looped = np.resize(samples, total)
    started = time.perf_counter()
    for index, start in enumerate(range(0, total, size)):
        time.sleep(max(0.0, started + (index + 1) * CHUNK_S - time.perf_counter()))
        yield looped[start : start + size]


def run(model: Path, seconds: float, samples: np.ndarray, args: argparse.Namespace) -> dict:
    engine = Engine(str(model), device=args.device)
    engine.wait_ready(timeout=600)
    started = time.perf_counter()
    updates: list[LiveUpdate] = list(
        engine.stream(microphone(samples, seconds), args.window, args.hop)
    )
    stats = LiveStats.of(updates)
    by_minute = [
        [u.latency_s for u in updates if minute * 60 <= u.t_s < (minute + 1) * 60]
        for minute in range(int(np.ceil(seconds / 60)))
    ]
    expected = window_count(seconds, args.window, args.hop)
    return {
        "device": str(engine.loaded_model().device),
        "dtype": engine.status().dtype,
        "stream_s": seconds,
        "wall_s": round(time.perf_counter() - started, 1),
        "windows": expected,
        "updates": stats.updates,
        "skipped": stats.skipped,
        "counted": stats.updates + stats.skipped,
        "with_speech": sum(u.speech for u in updates),
        "latency_p50_ms": round(stats.latency_p50_s * 1000, 1),
        "latency_p95_ms": round(stats.latency_p95_s * 1000, 1),
        "latency_max_ms": round(max(u.latency_s for u in updates) * 1000, 1),
        "inference_p50_ms": round(float(np.median([u.inference_s for u in updates])) * 1000, 1),
        "achieved_hop_s": round(stats.achieved_hop_s or 0.0, 3),
        "latency_p95_ms_by_minute": [
            round(float(np.percentile(m, 95)) * 1000, 1) for m in by_minute if m
        ],
    }


def check(name: str, result: dict) -> list[str]:
    problems = []
    if result["counted"] != result["windows"]:
        problems.append(
            f"{name}: {result['updates']} updates + {result['skipped']} skipped "
            f"!= {result['windows']} windows"
        )
    minutes = result["latency_p95_ms_by_minute"]
    if len(minutes) > 1 and minutes[-1] > max(3 * minutes[0], 2000):
        problems.append(f"{name}: latency grew from p95 {minutes[0]} ms to {minutes[-1]} ms")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny model only, 20 s")
    parser.add_argument(
        "--seconds", type=float, help="stream length (default: tiny 60, full-size 300; quick 20)"
    )
    parser.add_argument("--window", type=float, default=3.0)
    parser.add_argument("--hop", type=float, default=0.5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--work", type=Path, default=HERE / ".work")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    samples = speech(args.work)
    tiny_s = args.seconds or (20 if args.quick else 60)
    models = {"tiny": (build_model(args.work, quick=True), tiny_s)}
    if not args.quick:
        models["full-size"] = (build_model(args.work, quick=False), args.seconds or 300)
    report = {
        "date": str(datetime.date.today()),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "window_s": args.window,
        "hop_s": args.hop,
        "chunk_s": CHUNK_S,
        "models": {name: run(path, s, samples, args) for name, (path, s) in models.items()},
    }
    print(json.dumps(report, indent=2))
    if not args.quick:
        args.out.mkdir(parents=True, exist_ok=True)
        name = f"live-latency-{args.device.split(':')[0]}-{report['date']}.json"
        (args.out / name).write_text(json.dumps(report, indent=2))
    problems = [p for name, result in report["models"].items() for p in check(name, result)]
    if problems:
        sys.exit("; ".join(problems))


if __name__ == "__main__":
    main()
