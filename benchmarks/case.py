"""One benchmark case in a fresh process; prints one JSON line. Run by benchmarks/run.py.

`--path engine` is this app's Engine; `--path funasr` is FunASR's own AutoModel path, as
the Docker image users copy today runs it. Times are from `--t0`, the parent's clock just
before it started this process, so interpreter start and imports count.

It also records the scores of a few clips of mixed lengths, one at a time and (this app) as
one padded batch: benchmarks/run.py checks them against FunASR's and each other's.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from collections.abc import Callable

import numpy as np

RATE = 16000
# The parity clips: lengths that differ, so a padded batch of them pads all but the longest.
PARITY_SECONDS = (0.5, 1.0, 2.5, 4.0, 8.0)


def clip(seconds: float, seed: int = 0) -> np.ndarray:
    """Speech-band noise: content does not change the cost of a forward pass."""
    return (np.random.default_rng(seed).standard_normal(int(RATE * seconds)) * 0.1).astype(
        np.float32
    )


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def engine_runner(args: argparse.Namespace):
    from emotion2vec_app.engine import Engine

    engine = Engine(args.model_dir, device=args.device, dtype=args.dtype, max_duration_s=None)
    model = engine.loaded_model(timeout=None)

    def one(samples: np.ndarray) -> np.ndarray:
        return engine.analyze(samples, sample_rate=RATE).probs

    def batch(clips: list[np.ndarray]) -> list[np.ndarray]:
        from emotion2vec_app.model.padding import score_batch

        return [scores.probs for scores in score_batch(model, clips)]

    info = {"device": str(model.device), "precision": model.precision}
    return one, batch, info


def funasr_runner(args: argparse.Namespace):
    import torch
    from funasr import AutoModel

    automodel = AutoModel(
        model=args.model_dir,
        disable_update=True,
        device=args.device if args.device != "auto" else "cpu",
        disable_pbar=True,
        log_level="ERROR",
        ncpu=torch.get_num_threads(),
    )

    def one(samples: np.ndarray) -> np.ndarray:
        return np.asarray(automodel.generate(samples, granularity="utterance")[0]["scores"])

    def batch(clips: list[np.ndarray]) -> list[np.ndarray]:
        results = automodel.generate(clips, granularity="utterance", batch_size=len(clips))
        return [np.asarray(result["scores"]) for result in results]

    info = {"device": str(automodel.kwargs.get("device")), "precision": "float32"}
    return one, batch, info


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--path", choices=("engine", "funasr"), required=True)
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--t0", type=float, required=True)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--durations", default="1,8,30")
    args = parser.parse_args()

    import torch  # first, on its own: the GPU target counts the load from when it is done

    torch_s = time.time() - args.t0
    cuda = torch.cuda.is_available() and args.device != "cpu"
    runner = engine_runner if args.path == "engine" else funasr_runner
    one, batch, info = runner(args)
    ready_s = time.time() - args.t0
    rss_at_ready_gb = peak_rss_gb()
    load_vram_gb = torch.cuda.max_memory_allocated() / 1e9 if cuda else None
    if cuda:  # from here the peak is the model's and one request's
        torch.cuda.reset_peak_memory_stats()
    first_s = timed(lambda: one(clip(8.0, seed=1)))
    one_clip_vram_gb = torch.cuda.max_memory_allocated() / 1e9 if cuda else None
    steady = {}
    for seconds in (float(d) for d in args.durations.split(",")):
        samples = clip(seconds, seed=2)
        one(samples)
        steady[f"{seconds:g}"] = statistics.median(
            timed(lambda samples=samples: one(samples)) for _ in range(args.repeats)
        )
    clips = [clip(8.0, seed=10 + i) for i in range(args.batch)]
    batch(clips)
    batch_s = min(timed(lambda: batch(clips)) for _ in range(max(1, args.repeats // 2)))
    result = {
        **info,
        "path": args.path,
        "torch_imported_s": torch_s,
        "ready_s": ready_s,
        "first_request_8s_s": first_s,
        "steady_s": steady,
        "batch": args.batch,
        "batch_8s_s": batch_s,
        "throughput_x_realtime": args.batch * 8.0 / batch_s,
        "rss_at_ready_gb": rss_at_ready_gb,
        "peak_rss_gb": peak_rss_gb(),
    }
    parity = [clip(seconds, seed=20 + i) for i, seconds in enumerate(PARITY_SECONDS)]
    result["parity"] = {
        "seconds": PARITY_SECONDS,
        "single": [one(samples).tolist() for samples in parity],
    }
    if args.path == "engine":  # FunASR has no padded batch: it loops over the clips
        result["parity"]["padded"] = [probs.tolist() for probs in batch(parity)]
    if cuda:
        result["peak_vram_one_8s_gb"] = one_clip_vram_gb
        result["peak_vram_gb"] = max(load_vram_gb, torch.cuda.max_memory_allocated() / 1e9)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
