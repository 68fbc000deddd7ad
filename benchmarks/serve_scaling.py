"""How the Ray paths scale on this machine: Serve replicas over HTTP and the Ray Data batch job,
against one process running the same clips one after another.

    python benchmarks/serve_scaling.py            # full-size checkpoint, 32 clips of 8 s
    python benchmarks/serve_scaling.py --quick    # tiny model, 8 clips (CI smoke run)

A local Ray gets --cpus CPUs. Each Serve layout is deployed fresh (its deploy time includes
loading the model in every replica), warmed with two requests, then sent every clip with
--concurrency requests in flight. Throughput is audio seconds per wall second (x real time);
results are checked against the single-process scores: the run exits 1 when any layout is off
by more than 1e-5 in float32 (benchmarks/parity.py). No timing is asserted.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from case import clip  # noqa: E402
from long_and_batch import build_model  # noqa: E402
from parity import Metric, enforce, prob_limit  # noqa: E402

CLIP_S = 8.0
RATE = 16000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny model, 8 clips")
    parser.add_argument("--requests", type=int, help="clips to analyse (default 32; quick 8)")
    parser.add_argument("--concurrency", type=int, default=4, help="HTTP requests in flight")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray")
    parser.add_argument("--work", type=Path, default=HERE / ".work")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    return parser.parse_args()


def write_clips(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"clip-{i:03d}.wav" for i in range(count)]
    for i, path in enumerate(paths):
        if not path.exists():
            sf.write(path, clip(CLIP_S, seed=i), RATE, subtype="FLOAT")
    return paths


def single_process(model_dir: Path, paths: list[Path]) -> tuple[dict, dict[str, np.ndarray]]:
    from emotion2vec_app.engine import Engine

    engine = Engine(str(model_dir))
    engine.wait_ready(timeout=None)
    engine.analyze(paths[0])  # as warm as the deployments are
    started = time.perf_counter()
    probs = {p.name: engine.analyze(p).probs for p in paths}
    wall = time.perf_counter() - started
    import torch

    case = {
        "layout": f"one process, {torch.get_num_threads()} threads, sequential",
        "precision": engine.loaded_model(timeout=None).precision,
        "wall_s": round(wall, 2),
        "x_real_time": round(len(paths) * CLIP_S / wall, 2),
        "per_clip_s": round(wall / len(paths), 3),
    }
    return case, probs


def post(url: str, path: Path) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    with path.open("rb") as audio:
        response = httpx.post(f"{url}/analyze", files={"audio": (path.name, audio)}, timeout=600)
    return time.perf_counter() - started, response


def serve_case(
    model_dir: Path,
    paths: list[Path],
    expected: dict[str, np.ndarray],
    *,
    replicas: int,
    cpus: float,
    concurrency: int,
    port: int,
) -> dict:
    from emotion2vec_app.distributed.serve_app import BATCH_HEADER, REPLICA_HEADER, ServeConfig
    from emotion2vec_app.distributed.serve_app import deploy as deploy_app
    from emotion2vec_app.distributed.wire import read_arrays

    config = ServeConfig(model=str(model_dir), replicas=replicas, cpus_per_replica=cpus)
    started = time.perf_counter()
    url = deploy_app(config, port=port)
    deploy_s = time.perf_counter() - started
    for path in paths[:2]:
        post(url, path)
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        answers = list(pool.map(lambda p: post(url, p), paths))
    wall = time.perf_counter() - started
    failed = [r.text for _, r in answers if r.status_code != 200]
    if failed:
        raise RuntimeError(f"{len(failed)} requests failed: {failed[:2]}")
    deviation = max(
        float(np.abs(read_arrays(r.json())["probs"] - expected[p.name]).max())
        for p, (_, r) in zip(paths, answers, strict=True)
    )
    latencies = sorted(seconds for seconds, _ in answers)
    status = httpx.get(f"{url}/status", timeout=10).json()
    return {
        "layout": f"Serve: {replicas} replica(s) x {cpus:g} CPU",
        "replicas": replicas,
        "cpus_per_replica": cpus,
        "threads_per_replica": status["threads"],
        "deploy_s": round(deploy_s, 1),
        "wall_s": round(wall, 2),
        "x_real_time": round(len(paths) * CLIP_S / wall, 2),
        "p50_s": round(statistics.median(latencies), 2),
        "p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 2),
        "replicas_seen": len({r.headers[REPLICA_HEADER] for _, r in answers}),
        "largest_batch": max(int(r.headers[BATCH_HEADER]) for _, r in answers),
        "max_deviation": deviation,
    }


def batch_case(
    model_dir: Path, paths: list[Path], expected: dict, *, workers: int, cpus: float
) -> dict:
    """Model actors must leave a CPU for the read tasks: 2 actors on 2 CPUs get half each."""
    import pyarrow.parquet as pq

    from emotion2vec_app.distributed import batch_job
    from emotion2vec_app.labels import EMOTIONS

    config = batch_job.JobConfig(
        model=str(model_dir), workers=workers, cpus_per_worker=cpus, batch_size=4
    )
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        report = batch_job.run([str(p) for p in paths], Path(out) / "rows", config, resume=False)
        wall = time.perf_counter() - started
        rows = [
            r for f in Path(out, "rows").glob("*.parquet") for r in pq.read_table(f).to_pylist()
        ]
    deviation = max(
        float(np.abs(np.array([r[f"score_{e.key}"] for e in EMOTIONS]) - expected[name]).max())
        for r in rows
        for name in [Path(r["file"]).name]
    )
    return {
        "layout": f"Ray Data batch job: {workers} model actor(s) x {cpus:g} CPU",
        "workers": workers,
        "cpus_per_worker": cpus,
        "wall_s": round(wall, 2),
        "x_real_time": round(len(paths) * CLIP_S / wall, 2),
        "written": report.written,
        "max_deviation": deviation,
    }


def main() -> None:
    args = parse_args()
    count = args.requests or (8 if args.quick else 32)
    model_dir = build_model(args.work, args.quick)
    paths = write_clips(args.work / "serve-clips", count)
    print(f"{count} clips of {CLIP_S:g} s; model {model_dir}", flush=True)
    baseline, expected = single_process(model_dir, paths)
    print(json.dumps(baseline), flush=True)

    import ray
    from ray import serve
    from server_harness import free_port

    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    port = free_port()
    cases = [baseline]
    layouts = [(1, float(args.cpus)), (1, 1.0), (args.cpus, 1.0)]
    for replicas, cpus in layouts:
        cases.append(
            serve_case(model_dir, paths, expected, replicas=replicas, cpus=cpus,
                       concurrency=args.concurrency, port=port)
        )  # fmt: skip
        print(json.dumps(cases[-1]), flush=True)
    serve.shutdown()  # the batch job needs the CPUs
    for workers, cpus in ((1, 1.0), (args.cpus, (args.cpus - 1) / args.cpus)):
        cases.append(batch_case(model_dir, paths, expected, workers=workers, cpus=cpus))
        print(json.dumps(cases[-1]), flush=True)
    ray.shutdown()

    report = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.node()}, {os.cpu_count()} CPUs, {platform.machine()}",
        "ray_cpus": args.cpus,
        "model": "tiny synthetic" if args.quick else "full-size synthetic (1.95 GB model.pt)",
        "clips": count,
        "clip_s": CLIP_S,
        "concurrency": args.concurrency,
        "ray": ray.__version__,
        "cases": cases,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"serve-scaling-{'tiny' if args.quick else 'full'}-{report['date']}.json"
    (args.out / name).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print("\n| layout | wall | x real time | p50 | p95 | notes |\n|---|---|---|---|---|---|")
    for case in cases:
        keys = ("deploy_s", "replicas_seen", "largest_batch", "max_deviation")
        notes = ", ".join(f"{k} {case[k]}" for k in keys if k in case)
        print(
            f"| {case['layout']} | {case['wall_s']} s | {case['x_real_time']}x | "
            f"{case.get('p50_s', '-')} | {case.get('p95_s', '-')} | {notes} |"
        )
    print(f"\nwrote {args.out / name}")
    limit = prob_limit(baseline["precision"])
    deviations = [(c["layout"], c["max_deviation"]) for c in cases[1:]]
    metrics = [Metric(f"{layout}: max diff from one process", d, limit) for layout, d in deviations]
    enforce(metrics, "benchmarks/serve_scaling.py")


if __name__ == "__main__":
    main()
