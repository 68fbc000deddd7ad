"""A stereo call analysed with its channels apart (--channels split), against the same call mixed.

    python benchmarks/stereo_call.py            # full-size checkpoint, a 1-hour call
    python benchmarks/stereo_call.py --quick    # tiny model, 3 minutes (CI smoke run)

The call is espeak-ng speech in turns: the agent on the left channel, the customer on the
right, every fifth turn overlapping the one before by 1 s, each side leaking into the other at
-30 dB over a faint noise floor; 44.1 kHz stereo FLAC. Each run is `emotion2vec-app predict`
in a fresh process (model load included): wall time, CPU time (user + system, read until it
exits: the ratio to trust when other work shares the machine), real-time factor, peak RSS
(VmHWM). The split run must find both speakers and about the overlap that was built in: the
script exits 1 when a channel has no segment or the overlap is off by more than half.
Targets (issue 16): the split hour within 2x the mixed hour's time, and under 2 GB (exit 1
when over).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from clips import speak_with_pauses  # noqa: E402
from long_and_batch import CLI, SENTENCES, build_model, cpu_seconds, peak_rss_mb  # noqa: E402

RATE, SOURCE_RATE = 16000, 44100
LEAK = 10 ** (-30 / 20)
PAUSE_S, OVERLAP_S, OVERLAP_EVERY = 0.8, 1.0, 5
MAX_SPLIT_BYTES = 2e9  # issue 16: the split hour under 2 GB


def turns(work: Path) -> tuple[np.ndarray, float]:
    """One round of the conversation, (2, N) at 16 kHz, and the overlap it holds in seconds."""
    import soundfile as sf

    sides: list[list[tuple[int, np.ndarray]]] = [[], []]
    cursor, overlap = 0, 0.0
    for i, text in enumerate(SENTENCES):
        wav = work / "sentences" / f"turn-{i}.wav"
        wav.parent.mkdir(parents=True, exist_ok=True)
        speak_with_pauses([text], [], wav)
        speech = sf.read(str(wav), dtype="float32")[0]
        if i and i % OVERLAP_EVERY == 0:
            cursor -= int((PAUSE_S + OVERLAP_S) * RATE)
            overlap += OVERLAP_S
        sides[i % 2].append((cursor, speech))
        cursor += len(speech) + int(PAUSE_S * RATE)
    block = np.zeros((2, cursor), np.float32)
    for side, parts in enumerate(sides):
        for start, speech in parts:
            block[side, start : start + len(speech)] += speech
    return block, overlap


def make_call(work: Path, seconds: float) -> tuple[Path, float]:
    """The call as 44.1 kHz stereo FLAC, written block by block; and its built-in overlap."""
    import soundfile as sf
    import soxr

    block, overlap = turns(work)
    leaked = block + LEAK * block[::-1]
    leaked += np.random.default_rng(0).standard_normal(leaked.shape).astype(np.float32) * 1e-4
    source = soxr.resample(leaked.T, RATE, SOURCE_RATE).astype(np.float32)
    repeats = int(seconds * RATE // block.shape[1])
    path = work / f"stereo-call-{seconds / 60:g}min.flac"
    if not path.is_file():
        with sf.SoundFile(path, "w", SOURCE_RATE, 2, subtype="PCM_16") as out:
            for _ in range(repeats):
                out.write(source)
    return path, overlap * repeats


def run_cli(model: Path, path: Path, *options: str) -> dict:
    """`emotion2vec-app predict` in a fresh process; its result, wall time and peak RSS.

    Its JSON goes to a file: an hour's result is larger than a pipe holds, and a child that
    waits for the pipe to drain never exits while this loop waits for it."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(
            [CLI, "predict", str(path), "--model", str(model), "--no-save", "--json", "-q",
             *options],
            stdout=out, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        peak = cpu = 0.0
        while process.poll() is None:
            with contextlib.suppress(OSError, AttributeError, IndexError):
                peak, cpu = peak_rss_mb(process.pid), cpu_seconds(process.pid)
            time.sleep(0.1)
        out.seek(0)
        output = out.read().decode()
    if process.returncode:
        raise RuntimeError(f"predict {' '.join(options)} failed with {process.returncode}")
    return {"wall_s": time.perf_counter() - started, "cpu_s": cpu, "peak_rss_mb": peak,
            "result": json.loads(output.splitlines()[-1])}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--minutes", type=float, help="length of the call (default 60; 3 quick)")
    parser.add_argument(
        "--split-only", action="store_true", help="only the split run (the mixed one is known)"
    )
    parser.add_argument("--work", type=Path, default=HERE / ".work")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    seconds = 60 * (args.minutes or (3 if args.quick else 60))
    model = build_model(args.work, args.quick)
    path, built_overlap = make_call(args.work, seconds)
    mixed = None if args.split_only else run_cli(model, path)
    split = run_cli(model, path, "--channels", "split", "--channel-names", "agent,customer")
    runs = {"split": split} if mixed is None else {"mixed": mixed, "split": split}
    summary = split["result"]["summary"]
    report = {
        "date": str(datetime.date.today()),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "model": "tiny" if args.quick else "full-size",
        "audio_s": seconds,
        "built_overlap_s": round(built_overlap, 1),
        "talk_s": summary["talk_s"],
        "overlap_s": summary["overlap_s"],
        "segments": {c["name"]: c["summary"]["segments"] for c in split["result"]["channels"]},
        **{
            f"{name}_{key}": round(run[key], 1)
            for name, run in runs.items()
            for key in ("wall_s", "cpu_s", "peak_rss_mb")
        },
        "split_real_time_factor": round(split["wall_s"] / seconds, 3),
    }
    if mixed is not None:
        report["split_over_mixed"] = round(split["wall_s"] / mixed["wall_s"], 2)
        report["split_over_mixed_cpu"] = round(split["cpu_s"] / max(mixed["cpu_s"], 1e-9), 2)
    print(json.dumps(report))
    if not args.quick:
        args.out.mkdir(parents=True, exist_ok=True)
        name = f"stereo-call-{seconds / 60:g}min-{report['date']}.json"
        (args.out / name).write_text(json.dumps(report, indent=2))
    found = report["segments"]
    if min(found.values()) == 0 or abs(summary["overlap_s"] - built_overlap) > built_overlap / 2:
        sys.exit(f"split found {found} segments and {summary['overlap_s']} s of overlap; "
                 f"the call has both speakers and {built_overlap:.1f} s of overlap")  # fmt: skip
    if not args.quick and split["peak_rss_mb"] * 2**20 >= MAX_SPLIT_BYTES:
        sys.exit(f"the split run peaked at {split['peak_rss_mb']:.0f} MiB, over the 2 GB target")


if __name__ == "__main__":
    main()
