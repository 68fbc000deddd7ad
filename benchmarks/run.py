"""The benchmark: this app against FunASR's own path, side by side, each case in a fresh process.

    python benchmarks/run.py                  # full-size synthetic checkpoint (1.95 GB)
    python benchmarks/run.py --quick          # tiny model, few repeats: CI's smoke run

Prints a Markdown report and writes it, with the raw JSON, to benchmarks/results/. Then checks
parity (benchmarks/parity.py) and exits 1 when it is broken: this app's scores against FunASR's
(within 1e-5 in float32, also on a GPU, where an extra float32 case runs beside float16), a
padded batch of mixed lengths against the same clips one at a time, and CPU int8 against
float32 (within 0.03, every top emotion kept).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from parity import (  # benchmarks/ is on sys.path when this runs as a script
    INT8_PROB_LIMIT,
    INT8_TOP1_AGREEMENT,
    Metric,
    agreement,
    enforce,
    prob_limit,
)
from report import render

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHON = sys.executable
CLI = str(Path(PYTHON).with_name("emotion2vec-app"))


def evict_page_cache(paths: list[Path]) -> str:
    """Drop the files' pages (cold start) without root where /proc/sys is read-only."""
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return "drop_caches"
    except OSError:
        pass
    for path in paths:
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
    return "posix_fadvise(DONTNEED) on the model files"


def run_case(path: str, model_dir: Path, env: dict, **options: object) -> dict:
    command = [PYTHON, str(HERE / "case.py"), "--path", path, "--model-dir", str(model_dir)]
    for key, value in options.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    command += ["--t0", repr(time.time())]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise RuntimeError(f"{path} case failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def time_to_page(command: list[str], port: int, env: dict, ready_url: str | None) -> dict:
    """Seconds from process start to HTTP 200 on /, and to a ready model if it says so."""
    started = time.time()
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT
    )
    result: dict = {}
    try:
        while time.time() - started < 600 and process.poll() is None:
            with contextlib.suppress(OSError):
                if "page_s" not in result:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
                    result["page_s"] = time.time() - started
                if ready_url is None:
                    result["ready_s"] = result["page_s"]
                    break
                with urllib.request.urlopen(ready_url, timeout=2) as answer:
                    if json.load(answer).get("state") == "ready":
                        result["ready_s"] = time.time() - started
                        break
            time.sleep(0.05)
    finally:
        process.terminate()
        process.wait(30)
    return result


def ui_cases(model_dir: Path, env: dict) -> dict:
    port = free_port()
    ours = time_to_page(
        [CLI, "serve", "--model", str(model_dir), "--port", str(port)],
        port,
        env,
        f"http://127.0.0.1:{port}/status",
    )
    port = free_port()
    funasr = time_to_page(
        [PYTHON, str(HERE / "funasr_webui.py"), str(model_dir), str(port)], port, env, None
    )
    return {"engine": ours, "funasr": funasr}


def build_models(work: Path, quick: bool) -> Path:
    sys.path.insert(0, str(ROOT))
    from emotion2vec_app.model.synthetic import build_model_dir

    model_dir = work / ("tiny-model" if quick else "full-model")
    if not (model_dir / "model.pt").is_file():
        print(f"Building {'tiny' if quick else 'full-size'} synthetic checkpoint in {model_dir}")
        build_model_dir(model_dir, size="tiny" if quick else "full", seed=0)
    return model_dir


def int8_deviation(model_dir: Path, env: dict) -> dict:
    command = [PYTHON, str(HERE / "int8_deviation.py"), str(model_dir)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def parity_metrics(report: dict) -> list[Metric]:
    """Every deviation this run computed, with its limit."""
    cases = report["cases"]
    funasr = cases["funasr_warm"]["parity"]["single"]
    metrics = []
    for name in ("engine_float32", "engine_warm"):
        if name not in cases:
            continue
        case = cases[name]
        parity, limit = case["parity"], prob_limit(case["precision"])
        label = f"{case['device']} {case['precision']}"
        metrics += agreement(f"scores vs FunASR ({label})", funasr, parity["single"], limit)
        metrics += agreement(f"padded batch vs single clips ({label})", parity["single"],
                             parity["padded"], limit)  # fmt: skip
    if "engine_float32" in cases:  # a GPU: its default precision against float32
        case = cases["engine_warm"]
        metrics += agreement(
            f"{case['precision']} vs float32 on {case['device']}",
            cases["engine_float32"]["parity"]["single"],
            case["parity"]["single"],
            prob_limit(case["precision"]),
        )
    if "int8" in report:
        int8 = report["int8"]
        metrics += [
            Metric("int8 vs float32, max prob diff", int8["max_prob_diff"], INT8_PROB_LIMIT),
            Metric("int8 vs float32, top-1 agreement", int8["top1_agreement"],
                   INT8_TOP1_AGREEMENT, at_least=True),
        ]  # fmt: skip
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny model, 2 repeats (CI)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--work", type=Path, default=HERE / ".work")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()

    args.work.mkdir(parents=True, exist_ok=True)
    model_dir = build_models(args.work, args.quick)
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "E2V_CACHE_DIR": str(args.work / "cache"), "PYTHONPATH": pythonpath}
    options = {"device": args.device, "repeats": 2 if args.quick else 5}
    if args.quick:
        options["durations"] = "1,8"
    import torch

    if torch.cuda.is_available() and args.device != "cpu":
        options["batch"] = 16  # the engine's padded batch on a GPU (GPU_BATCH_SIZE)

    cases: dict = {}
    for path in ("engine", "funasr"):
        run_case(path, model_dir, env, **options)  # fills our weight cache; warms the disk
        method = evict_page_cache([model_dir / "model.pt", *args.work.glob("cache/weights/*")])
        cases[f"{path}_cold"] = run_case(path, model_dir, env, **options)
        cases[f"{path}_warm"] = run_case(path, model_dir, env, **options)
    if cases["engine_warm"]["precision"] != "float32":  # a GPU: FunASR's parity in float32 too
        cases["engine_float32"] = run_case("engine", model_dir, env, **options, dtype="float32")
    if not torch.cuda.is_available() or args.device == "cpu":
        cases["engine_int8"] = run_case("engine", model_dir, env, **{**options, "dtype": "int8"})
    report = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.node()}: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, torch {torch.__version__}",
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "model": "tiny synthetic" if args.quick else "full-size synthetic (1.95 GB model.pt)",
        "cold_cache_method": method,
        "cases": cases,
        "ui": ui_cases(model_dir, env),
    }
    if "engine_int8" in cases:
        report["int8"] = int8_deviation(model_dir, env)
    text = render(report)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = (
        f"{'quick' if args.quick else 'full'}-{'gpu' if report['gpu'] else 'cpu'}-{report['date']}"
    )
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=2))
    (args.out / f"{stem}.md").write_text(text)
    enforce(parity_metrics(report), f"benchmarks/run.py{' --quick' if args.quick else ''}")


if __name__ == "__main__":
    main()
