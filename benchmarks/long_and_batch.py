"""Long recordings and batches through the CLI, the API and the WebUI, with memory and speed.

    python benchmarks/long_and_batch.py                # full-size checkpoint: 1 h + 200 files
    python benchmarks/long_and_batch.py --quick        # tiny model, 5 min + 20 files (CI)
    python benchmarks/long_and_batch.py --interfaces cli,api --hours 0.5 --files 50

The recording is espeak-ng speech with pauses, tiled to length and encoded as 44.1 kHz stereo
MP3 (the decoder's worst memory case); the folder holds short clips in WAV, MP3 and M4A. Each
interface runs in a fresh process: peak RSS is that process's VmHWM (the server's for the
API and the WebUI, the CLI's own), the real-time factor is wall time / audio time, and the
results of every interface are compared with one-at-a-time /analyze calls, file by file: the
run exits 1 when a file is missing, a score is off by more than 1e-5 (float32) or a top
emotion differs (benchmarks/parity.py).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import zipfile
from importlib.metadata import version
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))  # the tests' server harness and audio helpers
sys.path.insert(0, str(ROOT))

from browser_harness import chromium, screenshot  # noqa: E402
from clips import convert, encode_with_av, speak_with_pauses  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402
from parity import Metric, enforce, prob_limit  # noqa: E402
from server_harness import running_server  # noqa: E402

CLI = str(Path(sys.executable).with_name("emotion2vec-app"))
SHOTS = ROOT / "test-artifacts" / "benchmarks"  # screenshots of the WebUI runs
SENTENCES = [
    "Good morning, thank you for calling, how can I help you today?",
    "I have been waiting for over an hour and nobody has called me back.",
    "I am so sorry to hear that, let me look into it right away.",
    "This is the third time this month that my order has gone missing!",
    "I completely understand your frustration, and I will fix it now.",
    "Well, that is good news, thank you so much for your help.",
    "Could you please confirm the address we have on file for you?",
    "Yes, it is twenty two Baker Street, the flat on the second floor.",
    "Wonderful, the new parcel will arrive tomorrow before noon.",
    "Thank you, you have been very kind, I really appreciate it.",
]
PAUSES_S = [0.8, 1.4, 0.6, 1.1, 0.9, 1.6, 0.7, 1.2, 1.0]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny model, 5 min, 20 files")
    parser.add_argument("--hours", type=float, help="length of the long recording (default 1)")
    parser.add_argument("--files", type=int, help="files in the batch folder (default 200)")
    parser.add_argument("--interfaces", default="cli,api,ui", help="any of cli,api,ui")
    parser.add_argument("--cases", default="long,batch", help="any of long,batch")
    parser.add_argument("--model", help="model dir (default: the synthetic checkpoint)")
    parser.add_argument("--work", type=Path, default=HERE / ".work")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    args.hours = args.hours or (5 / 60 if args.quick else 1.0)
    args.files = args.files or (20 if args.quick else 200)
    return args


def build_model(work: Path, quick: bool) -> Path:
    from emotion2vec_app.model.synthetic import build_model_dir

    model_dir = work / ("tiny-model" if quick else "full-model")
    if not (model_dir / "model.pt").is_file():
        print(f"Building the synthetic checkpoint in {model_dir}", file=sys.stderr)
        build_model_dir(model_dir, size="tiny" if quick else "full", seed=0)
    return model_dir


def long_recording(work: Path, hours: float) -> Path:
    """Speech with pauses, tiled to `hours`, as a 44.1 kHz stereo MP3."""
    import soundfile as sf

    path = work / f"call-{hours * 60:g}min.mp3"
    if path.is_file():
        return path
    print(f"Making a {hours * 60:g} min recording...", file=sys.stderr)
    unit = work / "sentences" / "call-unit.wav"
    unit.parent.mkdir(parents=True, exist_ok=True)
    speak_with_pauses(SENTENCES, PAUSES_S, unit, noise=0.002)
    speech, rate = sf.read(str(unit), dtype="float32")
    pause = np.zeros(rate, np.float32)  # 1 s between repeats
    block = np.concatenate([speech, pause])
    tiled = np.resize(block, int(hours * 3600 * rate))
    wav = work / "call-long.wav"
    sf.write(str(wav), tiled, rate, subtype="PCM_16")
    convert(wav, path, rate=44100, channels=2)
    wav.unlink()
    return path


def batch_folder(work: Path, count: int) -> Path:
    """`count` clips of 1-12 s: sentences alone and in pairs, in WAV, MP3 and M4A."""
    folder = work / f"batch-{count}"
    if folder.is_dir() and len(list(folder.iterdir())) == count:
        return folder
    print(f"Making {count} clips...", file=sys.stderr)
    folder.mkdir(parents=True, exist_ok=True)
    import soundfile as sf

    sources = []
    for i, text in enumerate(SENTENCES):
        wav = work / "sentences" / f"sentence-{i}.wav"
        wav.parent.mkdir(parents=True, exist_ok=True)
        speak_with_pauses([text], [], wav)
        sources.append(sf.read(str(wav), dtype="float32")[0])
    rng = np.random.default_rng(0)
    for n in range(count):
        picks = rng.choice(len(sources), size=1 + n % 3, replace=False)
        samples = np.concatenate([sources[i] for i in picks])[: 12 * 16000]
        wav = folder / f"clip-{n:03d}.wav"
        sf.write(str(wav), samples, 16000, subtype="PCM_16")
        if n % 3 == 1:
            convert(wav, wav.with_suffix(".mp3"), rate=44100)
            wav.unlink()
        elif n % 3 == 2:
            encode_with_av(wav, wav.with_suffix(".m4a"), "aac", "mp4")
            wav.unlink()
    return folder


def audio_seconds(paths: list[Path]) -> float:
    from emotion2vec_app.audio import decode_audio

    return sum(decode_audio(p, max_duration_s=None).duration_s for p in paths)


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE).group(1)) / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far: unlike wall time, barely moved by other work beside it."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scores_of(results: list[dict]) -> dict[str, np.ndarray]:
    return {
        Path(r["file"]).name: np.array(list(r["scores"].values())) for r in results if "scores" in r
    }


def via_cli(model: str, paths: list[Path], work: Path, env: dict) -> dict:
    """`emotion2vec-app predict` in a fresh process; its peak RSS read until it exits.

    Wall time includes the process start and the model load."""
    table = work / f"cli-{time.time_ns()}.jsonl"
    work.mkdir(parents=True, exist_ok=True)
    log = work / "cli-stderr.txt"
    started = time.perf_counter()
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [CLI, "predict", *map(str, paths), "--model", model, "--out", str(table), "--no-save"],
            stdout=subprocess.DEVNULL, stderr=stderr, env=env,
        )  # fmt: skip
        peak = 0.0
        while process.poll() is None:
            with contextlib.suppress(OSError, AttributeError):  # it may exit between polls
                peak = peak_rss_mb(process.pid)
            time.sleep(0.1)
    wall = time.perf_counter() - started
    output = log.read_bytes()
    if process.returncode:
        raise RuntimeError(f"CLI failed:\n{output[-3000:].decode(errors='replace')}")
    return {
        "wall_s": wall,
        "peak_rss_mb": peak,
        "progress_updates": output.count(b"\r"),  # tqdm redraws its bar after a carriage return
        "results": [json.loads(line) for line in table.read_text().splitlines()],
    }


def via_api(url: str, pid: int, paths: list[Path]) -> dict:
    """/analyze_batch with gradio_client; progress updates as the client sees them."""
    client = Client(url, verbose=False)
    started = time.perf_counter()
    job = client.submit(
        [handle_file(str(p)) for p in paths], "utterance", False, "auto",
        api_name="/analyze_batch",
    )  # fmt: skip
    seen = set()
    while not job.done():
        status = job.status()
        for unit in status.progress_data or []:
            seen.add((unit.index, unit.length, unit.progress, unit.desc))
        time.sleep(0.2)
    results, files = job.result()
    wall = time.perf_counter() - started
    with zipfile.ZipFile(files[1]) as archive:
        runs = sum(name.endswith("/result.json") for name in archive.namelist())
    client.close()
    return {
        "wall_s": wall,
        "peak_rss_mb": peak_rss_mb(pid),
        "progress_updates": len(seen),
        "zip_runs": runs,
        "results": results,
    }


def via_ui(url: str, pid: int, paths: list[Path], output_dir: Path, shots: Path) -> dict:
    """The WebUI in headless Chromium: the batch tab for many files, the single tab for one.

    Results are read back from the run folders the page's analysis wrote."""
    progress_texts: set[str] = set()
    many = len(paths) > 1
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        if many:
            page.get_by_role("tab", name="Batch").click()
            page.locator("#batch-files input[type=file]").set_input_files([str(p) for p in paths])
            button, done = "#analyze-batch", "#batch-downloads a"
        else:
            page.locator("#audio-input input[type=file]").set_input_files(str(paths[0]))
            button, done = "#analyze", "#long-view"
        page.wait_for_selector(f"{button}:not([disabled])", timeout=600_000)
        started = time.perf_counter()
        page.locator(button).click()
        while not page.locator(done).first.is_visible():
            for text in page.locator(".progress-text").all_inner_texts():
                progress_texts.add(text.strip())
            page.wait_for_timeout(500)
        wall = time.perf_counter() - started
        screenshot(page, f"ui-{'batch' if many else 'long'}", shots)
    return {
        "wall_s": wall,
        "peak_rss_mb": peak_rss_mb(pid),
        "progress_updates": len(progress_texts - {""}),
        "results": results_from_outputs(output_dir, many),
    }


def results_from_outputs(output_dir: Path, batch: bool) -> list[dict]:
    """What the page's run wrote: the batch table, or the one run folder's result.json."""
    if not batch:
        (result,) = [json.loads(p.read_text()) for p in output_dir.glob("outputs_*/result.json")]
        return [{"file": result["audio"]["name"], **result}]
    (table,) = output_dir.glob("batch_*/results.csv")
    with table.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [
        {
            "file": row["file"],
            "scores": {k[6:]: float(v) for k, v in row.items() if k.startswith("score_")},
        }
        for row in rows
        if not row["error"]
    ]


def one_at_a_time(url: str, paths: list[Path]) -> list[dict]:
    client = Client(url, verbose=False)
    results = []
    for path in paths:
        result, _ = client.predict(handle_file(str(path)), "utterance", False, "auto",
                                   api_name="/analyze")  # fmt: skip
        results.append({"file": path.name, **result})
    client.close()
    return results


def precision_of(results: list[dict]) -> str:
    """The model's dtype, from the first result that says it (batch table rows do not)."""
    return next((r["model"]["dtype"] for r in results if "model" in r), "float32")


def compare(results: list[dict], reference: dict[str, np.ndarray]) -> dict:
    """Largest score difference from one-at-a-time, and files whose top emotion differs."""
    ours = scores_of(results)
    missing = sorted(set(reference) - set(ours))
    diffs = [
        float(np.abs(ours[name] - ref).max()) for name, ref in reference.items() if name in ours
    ]
    flips = sum(
        int(ours[name].argmax() != ref.argmax()) for name, ref in reference.items() if name in ours
    )
    return {"files": len(ours), "missing": missing, "max_abs_diff": max(diffs, default=None),
            "top1_differs": flips}  # fmt: skip


def run_case(name: str, paths: list[Path], model: str, args: argparse.Namespace, env: dict) -> dict:
    interfaces = args.interfaces.split(",")
    seconds = audio_seconds(paths)
    case: dict = {"files": len(paths), "audio_s": seconds, "interfaces": {}}
    work = args.work / f"{name}-{time.strftime('%H%M%S')}"
    serve = ("--model", model, "--max-upload-mb", "1000", "--max-duration", "14400")
    reference = None
    if len(paths) > 1:  # a long recording's reference is the first interface's result
        with running_server(work / "reference", *serve) as server:
            print(f"{name}: one at a time through /analyze...", file=sys.stderr)
            started = time.perf_counter()
            singles = one_at_a_time(server.url, paths)
            reference = scores_of(singles)
            case["one_at_a_time_s"] = time.perf_counter() - started
            case["precision"] = precision_of(singles)
    for interface in interfaces:
        print(f"{name}: {interface}...", file=sys.stderr)
        if interface == "cli":
            measured = via_cli(model, paths, work, env)
        else:
            with running_server(work / interface, *serve) as server:
                pid = server.process.pid
                if interface == "api":
                    measured = via_api(server.url, pid, paths)
                else:
                    measured = via_ui(server.url, pid, paths, server.output_dir, SHOTS)
        results = measured.pop("results")
        if reference is None:
            reference = scores_of(results)
            case["precision"] = precision_of(results)
        measured["rtf"] = measured["wall_s"] / seconds
        measured["x_real_time"] = seconds / measured["wall_s"]
        measured["identity"] = compare(results, reference)
        if name == "long":
            measured["segments"] = results[0].get("summary", {}).get("segments")
        case["interfaces"][interface] = measured
    shutil.rmtree(work, ignore_errors=True)  # an hour's run folders hold ~0.3 GB
    return case


def render(report: dict) -> str:
    lines = [
        f"### Long recordings and batches ({report['date']}, {report['machine']})",
        "",
        f"Model: {report['model']}. Each interface in a fresh process; peak RSS is that "
        "process's VmHWM (the server's for API and WebUI, including the model load). Reference: "
        "one-at-a-time /analyze calls for the batch; the first interface's result for the long "
        "recording (whose segments are each checked against one-at-a-time in the tests).",
        "",
        "| case | interface | audio | wall | x real time | peak RSS | progress updates | "
        "max diff vs reference | top-1 differs |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, case in report["cases"].items():
        for interface, m in case["interfaces"].items():
            identity = m["identity"]
            diff = identity["max_abs_diff"]
            rss = m["peak_rss_mb"]
            lines.append(
                f"| {name} ({case['files']} file{'s' if case['files'] > 1 else ''}) | {interface} "
                f"| {case['audio_s'] / 60:.1f} min | {m['wall_s']:.1f} s | {m['x_real_time']:.1f}x "
                f"| {'n/a' if rss is None else f'{rss:.0f} MB'} | {m['progress_updates']} "
                f"| {'n/a' if diff is None else f'{diff:.1e}'} "
                f"| {identity['top1_differs']} of {identity['files']} |"
            )
    return "\n".join(lines)


def parity_metrics(report: dict) -> list[Metric]:
    """Each interface against the reference: no file lost, scores equal, top emotions kept."""
    metrics = []
    for name, case in report["cases"].items():
        limit = prob_limit(case["precision"])
        for interface, measured in case["interfaces"].items():
            identity, label = measured["identity"], f"{name} via {interface}"
            metrics += [
                Metric(f"{label}: files missing", len(identity["missing"]), 0),
                Metric(f"{label}: max abs diff vs reference", identity["max_abs_diff"], limit),
                Metric(f"{label}: top-1 differs", identity["top1_differs"], 0),
            ]
    return metrics


def main() -> None:
    args = parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("E2V_CACHE_DIR", str(args.work / "cache"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    model = args.model or str(build_model(args.work, args.quick))
    inputs = {}
    if "long" in args.cases:
        inputs["long"] = [long_recording(args.work, args.hours)]
    if "batch" in args.cases:
        inputs["batch"] = sorted(batch_folder(args.work, args.files).iterdir())
    report = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.node()}: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, torch {version('torch')}",
        "model": "tiny synthetic" if args.quick else (args.model or "full-size synthetic"),
        "cases": {name: run_case(name, paths, model, args, env) for name, paths in inputs.items()},
    }
    text = render(report)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"long-batch-{'quick' if args.quick else 'full'}-{args.cases.replace(',', '-')}"
    stem += f"-{args.interfaces.replace(',', '-')}-{report['date']}"
    (args.out / f"{stem}.json").write_text(json.dumps({**report, "markdown": text}, indent=2))
    enforce(parity_metrics(report), "benchmarks/long_and_batch.py")


if __name__ == "__main__":
    main()
