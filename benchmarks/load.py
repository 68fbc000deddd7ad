"""Load and soak benchmark of the real WebUI server: many clients at once, then a long soak.

    python benchmarks/load.py                                  # tiny synthetic model
    python benchmarks/load.py --clients 16,32 --requests 200 --soak 500
    python benchmarks/load.py --model demo --clip speech.wav
    python benchmarks/load.py --model /path/to/model_dir      # e.g. the full-size checkpoint

Starts `emotion2vec-app serve` in its own process (tests/server_harness.py), drives /analyze
with one gradio_client `Client` per thread in this process, prints a Markdown report and
writes the raw numbers to benchmarks/results/load-<date>.json. Load generator and server
share the machine: the client and server CPU columns say which of them was the limit.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))  # the tests' server harness: start, wait, stop
sys.path.insert(0, str(ROOT))

from gradio_client import Client, handle_file  # noqa: E402
from server_harness import Server, health, running_server  # noqa: E402

CLIP_SECONDS = 8.0
EXAMPLE = ROOT / "emotion2vec_app" / "examples" / "en_happy_news.wav"
REQUEST_TIMEOUT_S = 300.0
SOAK_SAMPLES = 10  # RSS and latency are sampled after each tenth of the soak
SERVER_CONCURRENCY, SERVER_QUEUE = 4, 64  # emotion2vec_app/ui/page.py, ui/server.py


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model dir or 'demo' (default: tiny synthetic model)")
    parser.add_argument("--clients", default="16,32", help="client counts, comma-separated")
    parser.add_argument("--requests", type=int, default=400, help="requests per client count")
    parser.add_argument("--soak", type=int, default=2000, help="requests in the soak (0: none)")
    parser.add_argument("--soak-clients", type=int, default=4)
    parser.add_argument("--clip", type=Path, help=f"audio to send (default {CLIP_SECONDS:.0f} s)")
    parser.add_argument(
        "--max-seconds", type=float, default=3600.0, help="cap per phase; the rest is not sent"
    )
    parser.add_argument("--work", type=Path, default=HERE / ".work")
    parser.add_argument(
        "--keep", action="store_true", help="keep the servers' run folders, uploads and logs"
    )
    parser.add_argument("--out", type=Path, default=HERE / "results")
    return parser.parse_args()


def tiny_model(work: Path) -> Path:
    from emotion2vec_app.model.synthetic import build_model_dir

    model_dir = work / "tiny-model"
    if not (model_dir / "model.pt").is_file():
        print(f"Building the tiny synthetic checkpoint in {model_dir}", file=sys.stderr)
        build_model_dir(model_dir, size="tiny", seed=0)
    return model_dir


def default_clip(work: Path) -> Path:
    """The packaged English example, repeated to 8 s: real speech of a typical length."""
    path = work / f"load-clip-{CLIP_SECONDS:.0f}s.wav"
    if not path.is_file():
        speech, rate = sf.read(str(EXAMPLE), dtype="float32")
        count = round(CLIP_SECONDS * rate)
        sf.write(str(path), np.resize(speech, count), rate, subtype="PCM_16")
    return path


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{key}:\s+(\d+) kB", status, re.MULTILINE).group(1)) / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def folder_mb(path: Path) -> float:
    files = (p for p in path.rglob("*") if p.is_file()) if path.is_dir() else ()
    return sum(p.stat().st_size for p in files) / 1e6


def percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def run_requests(
    clients: list[Client], calls: list[Callable[[Client], dict]], deadline: float
) -> dict:
    """Each client on its own thread takes calls until none are left; all start together.

    Returns latencies (s), server timings, errors, wall time and CPU of both processes.
    """
    start = threading.Barrier(len(clients) + 1, timeout=60)
    lock = threading.Lock()
    pending = iter(calls)
    out: dict = {"latency_s": [], "server_ms": [], "errors": [], "not_sent": 0}

    def worker(client: Client) -> None:
        start.wait()
        while True:
            with lock:
                call = next(pending, None)
            if call is None:
                return
            if time.monotonic() > deadline:
                with lock:
                    out["not_sent"] += 1
                continue
            began = time.perf_counter()
            try:
                result = call(client)
            except Exception as error:  # counted and shown, never stops the run
                with lock:
                    out["errors"].append(f"{type(error).__name__}: {str(error)[:200]}")
                continue
            with lock:
                out["latency_s"].append(time.perf_counter() - began)
                out["server_ms"].append(result["timings_ms"])

    with ThreadPoolExecutor(len(clients)) as pool:
        futures = [pool.submit(worker, client) for client in clients]
        start.wait()
        began, client_cpu = time.perf_counter(), time.process_time()
        for future in futures:
            future.result()
    out["wall_s"] = time.perf_counter() - began
    out["client_cpu_s"] = time.process_time() - client_cpu
    return out


def analyze_call(clip: Path, granularity: str = "utterance", embedding: bool = False):
    def call(client: Client) -> dict:
        job = client.submit(handle_file(str(clip)), granularity, embedding, api_name="/analyze")
        result, _ = job.result(timeout=REQUEST_TIMEOUT_S)
        return result

    return call


def open_clients(server: Server, count: int) -> list[Client]:
    # download_files=False: embeddings stay on the server, the client only gets their paths.
    return [Client(server.url, verbose=False, download_files=False) for _ in range(count)]


def close_clients(clients: list[Client]) -> None:
    for client in clients:
        client.close()


def summarize(run: dict, requests: int, clip_s: float) -> dict:
    ok = len(run["latency_s"])
    wall = run["wall_s"]
    inference = [t["inference"] for t in run["server_ms"]]
    return {
        "requests": requests,
        "ok": ok,
        "errors": len(run["errors"]),
        "error_examples": sorted(set(run["errors"]))[:5],
        "not_sent": run["not_sent"],
        "wall_s": wall,
        "requests_per_s": ok / wall if wall else None,
        "x_real_time": ok * clip_s / wall if wall else None,
        "latency_p50_s": percentile(run["latency_s"], 50),
        "latency_p95_s": percentile(run["latency_s"], 95),
        "latency_max_s": max(run["latency_s"], default=None),
        "server_inference_p50_ms": percentile(inference, 50),
        "client_cpu_s": run["client_cpu_s"],
        "server_cpu_s": run.get("server_cpu_s"),
    }


def throughput(server: Server, clip: Path, clip_s: float, args: argparse.Namespace) -> list:
    rows = []
    for count in [int(c) for c in args.clients.split(",")]:
        clients = open_clients(server, count)
        try:
            # One unmeasured request per client: connections, upload cache, first-call costs.
            run_requests(clients, [analyze_call(clip)] * count, time.monotonic() + 600)
            cpu_before = cpu_seconds(server.process.pid)
            deadline = time.monotonic() + args.max_seconds
            run = run_requests(clients, [analyze_call(clip)] * args.requests, deadline)
            run["server_cpu_s"] = cpu_seconds(server.process.pid) - cpu_before
        finally:
            close_clients(clients)
        row = {"clients": count, **summarize(run, args.requests, clip_s)}
        print(f"  {count} clients: {row['requests_per_s']:.1f} req/s", file=sys.stderr)
        rows.append(row)
    return rows


def soak_call(clip: Path, k: int) -> Callable[[Client], dict]:
    """Every code path in the mix: frames every 3rd request, an embedding every 4th."""
    return analyze_call(clip, "frame" if k % 3 == 0 else "utterance", k % 4 == 0)


def soak(server: Server, clip: Path, clip_s: float, args: argparse.Namespace) -> dict:
    pid = server.process.pid
    samples = [{"after": 0, "rss_mb": rss_mb(pid), "p50_s": None}]
    clients = open_clients(server, args.soak_clients)
    deadline = time.monotonic() + args.max_seconds
    runs = []
    cpu_before = cpu_seconds(pid)
    try:
        sent = 0
        for part in range(SOAK_SAMPLES):
            upto = args.soak * (part + 1) // SOAK_SAMPLES
            calls = [soak_call(clip, k) for k in range(sent, upto)]
            run = run_requests(clients, calls, deadline) if calls else None
            sent = upto
            if run:
                runs.append(run)
                p50 = percentile(run["latency_s"], 50)
                samples.append({"after": upto, "rss_mb": rss_mb(pid), "p50_s": p50})
    finally:
        close_clients(clients)
    merged = {
        "latency_s": [x for r in runs for x in r["latency_s"]],
        "server_ms": [x for r in runs for x in r["server_ms"]],
        "errors": [x for r in runs for x in r["errors"]],
        "not_sent": sum(r["not_sent"] for r in runs),
        "wall_s": sum(r["wall_s"] for r in runs),
        "client_cpu_s": sum(r["client_cpu_s"] for r in runs),
        "server_cpu_s": cpu_seconds(pid) - cpu_before,
    }
    workdir = server.output_dir.parent
    return {
        "clients": args.soak_clients,
        **summarize(merged, args.soak, clip_s),
        "samples": samples,
        "rss_start_mb": samples[0]["rss_mb"],
        "rss_middle_mb": samples[len(samples) // 2]["rss_mb"],
        "rss_end_mb": samples[-1]["rss_mb"],
        "rss_peak_mb": rss_mb(pid, "VmHWM"),
        "run_folders": sum(1 for p in server.output_dir.iterdir() if p.is_dir())
        if server.output_dir.is_dir()
        else 0,
        "outputs_mb": folder_mb(server.output_dir),
        "uploads_mb": folder_mb(workdir / "gradio-tmp"),
        "log_tracebacks": server.log().count("Traceback"),
        "state_after": (health(server.url) or {}).get("state"),
    }


def fmt(value: float | None, spec: str, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{unit}"


def render(report: dict) -> str:
    lines = [
        f"### Load: {report['model']}, {report['date']}",
        "",
        f"Machine: {report['machine']}. Server: `emotion2vec-app serve` in its own process, "
        f"/analyze concurrency {SERVER_CONCURRENCY}, queue {SERVER_QUEUE}. Clip: "
        f"{report['clip']} ({report['clip_s']:.1f} s). One gradio_client `Client` per thread, "
        "in one process on the same machine; each client count after one unmeasured request "
        "per client.",
        "",
        "| clients | requests | errors | req/s | x real time | p50 | p95 | max "
        "| server inference p50 | server CPU | client CPU |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["throughput"]:
        lines.append(
            f"| {row['clients']} | {row['ok']}/{row['requests']} | {row['errors']} "
            f"| {fmt(row['requests_per_s'], '.1f')} | {fmt(row['x_real_time'], '.0f', 'x')} "
            f"| {fmt(row['latency_p50_s'], '.2f', ' s')} "
            f"| {fmt(row['latency_p95_s'], '.2f', ' s')} "
            f"| {fmt(row['latency_max_s'], '.2f', ' s')} "
            f"| {fmt(row['server_inference_p50_ms'], '.0f', ' ms')} "
            f"| {fmt(row['server_cpu_s'], '.0f', ' s')} | {fmt(row['client_cpu_s'], '.0f', ' s')} |"
        )
    lines += [
        "",
        "Latency is the client's, upload to result. Server inference is the result's "
        "`timings_ms.inference`, the forward pass alone; waiting for other requests' passes "
        "is in `timings_ms.wait`.",
    ]
    for row in report["throughput"]:
        if row["error_examples"]:
            lines.append(f"\n{row['clients']} clients, errors: {'; '.join(row['error_examples'])}")
    if report.get("soak"):
        lines += ["", *render_soak(report["soak"])]
    return "\n".join(lines) + "\n"


def render_soak(soak: dict) -> list[str]:
    tenths = [s for s in soak["samples"] if s["p50_s"] is not None]
    lines = [
        f"Soak: {soak['ok']}/{soak['requests']} requests from {soak['clients']} clients on a "
        f"fresh server (frames every 3rd, an embedding every 4th), "
        f"{fmt(soak['requests_per_s'], '.1f')} req/s, {soak['errors']} errors.",
        "",
        "| server | start (ready) | middle | end | peak |",
        "|---|---|---|---|---|",
        f"| RSS | {soak['rss_start_mb']:.0f} MB | {soak['rss_middle_mb']:.0f} MB "
        f"| {soak['rss_end_mb']:.0f} MB | {soak['rss_peak_mb']:.0f} MB |",
    ]
    if tenths:
        lines.append(
            f"| p50 latency (first / middle / last tenth) | {fmt(tenths[0]['p50_s'], '.2f', ' s')} "
            f"| {fmt(tenths[len(tenths) // 2]['p50_s'], '.2f', ' s')} "
            f"| {fmt(tenths[-1]['p50_s'], '.2f', ' s')} | |"
        )
    lines += [
        "",
        f"Run folders: {soak['run_folders']} for {soak['ok']} answered requests "
        f"({soak['outputs_mb']:.1f} MB under outputs/; Gradio's upload folder "
        f"{soak['uploads_mb']:.1f} MB). Tracebacks in the server log: {soak['log_tracebacks']}. "
        f"State after: {soak['state_after']}.",
    ]
    if soak["error_examples"]:
        lines.append(f"Soak errors: {'; '.join(soak['error_examples'])}")
    return lines


def main() -> None:
    args = parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    # The demo model and the weight caches of this run stay in the work folder.
    os.environ.setdefault("E2V_CACHE_DIR", str(args.work / "cache"))
    model = args.model or str(tiny_model(args.work))
    clip = args.clip or default_clip(args.work)
    clip_s = sf.info(str(clip)).duration
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    serve_args = ("--model", model)

    report = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.node()}: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, torch {version('torch')}",
        "model": "tiny synthetic model" if args.model is None else model,
        "clip": clip.name,
        "clip_s": clip_s,
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    workdir = args.work / f"load-{stamp}"
    try:
        print("Throughput...", file=sys.stderr)
        with running_server(workdir / "throughput", *serve_args) as server:
            report["server"] = health(server.url)
            report["throughput"] = throughput(server, clip, clip_s, args)
        if args.soak:
            print(f"Soak of {args.soak} requests...", file=sys.stderr)
            with running_server(workdir / "soak", *serve_args) as server:
                report["soak"] = soak(server, clip, clip_s, args)
    finally:
        if not args.keep:  # a 2000-request soak leaves ~0.6 GB of run folders
            shutil.rmtree(workdir, ignore_errors=True)
    text = render(report)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"load-{report['date']}.json"
    path.write_text(json.dumps({**report, "markdown": text}, indent=2))
    print(f"Wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}", file=sys.stderr)


if __name__ == "__main__":
    main()
