"""`emotion2vec-app`: predict emotions of audio files from the shell."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from emotion2vec_app import server
from emotion2vec_app.audio import DEFAULT_MAX_DURATION_S, AudioError
from emotion2vec_app.engine import (
    DTYPE_CHOICES,
    AnalysisOptions,
    Engine,
    ModelLoadFailed,
    ModelNotReady,
    OutOfMemory,
)
from emotion2vec_app.model_source import DEFAULT_MODEL_ID, HUBS
from emotion2vec_app.outputs import Retention, default_output_root, try_save_run
from emotion2vec_app.results import GRANULARITIES, Prediction

DEMO_NOTE = "Demo model: random weights. These predictions mean nothing."


def add_model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument(
        "--model",
        default=DEFAULT_MODEL_ID,
        help=f"hub id, local model dir, or 'demo' (default {DEFAULT_MODEL_ID})",
    )
    group.add_argument(
        "--hub", choices=HUBS, default="ms", help="ms = ModelScope, hf = Hugging Face"
    )
    group.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    group.add_argument("--dtype", choices=DTYPE_CHOICES, default="auto")
    group.add_argument(
        "--max-duration",
        type=float,
        default=DEFAULT_MAX_DURATION_S,
        help=f"longest clip in seconds for one pass (default {DEFAULT_MAX_DURATION_S:.0f})",
    )


def add_output_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("run folders")
    group.add_argument("--output-dir", type=Path, default=default_output_root())
    group.add_argument(
        "--keep-runs", type=int, metavar="N", help="keep only the newest N run folders"
    )
    group.add_argument(
        "--keep-days", type=float, metavar="D", help="delete run folders older than D days"
    )


def retention_from_args(args: argparse.Namespace) -> Retention:
    days = args.keep_days
    return Retention(args.keep_runs, None if days is None else days * 86400)


def engine_from_args(args: argparse.Namespace, autostart: bool = True) -> Engine:
    return Engine(
        "demo" if getattr(args, "demo", False) else args.model,
        hub=args.hub,
        device=args.device,
        dtype=args.dtype,
        max_duration_s=args.max_duration,
        on_log=lambda message: print(message, file=sys.stderr),
        autostart=autostart,
    )


def summary_line(path: str, prediction: Prediction, run_dir: Path | None) -> str:
    top = prediction.emotion
    info = prediction.audio
    parts = [
        f"{path}: {top.emoji} {top.key} ({top.zh}) {prediction.confidence:.3f}",
        f"{info.duration_s:.2f} s {info.format} {info.sample_rate} Hz {info.channels} ch",
        f"{prediction.timings_ms['total']:.0f} ms",
    ]
    if prediction.frames is not None:
        parts.append(f"{len(prediction.frames.probs)} frames")
    if run_dir is not None:
        parts.append(str(run_dir))
    return " | ".join(parts)


def predict(args: argparse.Namespace) -> int:
    engine = engine_from_args(args)
    options = AnalysisOptions(args.granularity, args.embedding, args.smooth)
    failures = 0
    for path in args.files:
        try:
            prediction = engine.analyze(path, options)
        except (AudioError, OutOfMemory) as error:
            failures += 1
            print(f"Skipping {path}: {error}", file=sys.stderr)
            continue
        except (ModelLoadFailed, ModelNotReady) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        if prediction.model.demo and path == args.files[0]:
            print(DEMO_NOTE, file=sys.stderr)
        for warning in prediction.warnings:
            print(f"warning: {path}: {warning}", file=sys.stderr)
        run = (
            None
            if args.no_save
            else try_save_run(prediction, args.output_dir, retention_from_args(args))
        )
        if args.json:
            result = run.result if run else prediction.to_json()
            print(json.dumps(result, ensure_ascii=False))
        else:
            print(summary_line(path, prediction, run.path if run else None))
    return 1 if failures else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emotion2vec-app", description="Speech emotion recognition with emotion2vec+."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log model loading")
    commands = parser.add_subparsers(dest="command", required=True)

    predict_parser = commands.add_parser("predict", help="predict the emotion of audio files")
    predict_parser.add_argument("files", nargs="+", metavar="FILE")
    predict_parser.add_argument("--granularity", choices=GRANULARITIES, default="utterance")
    predict_parser.add_argument(
        "--embedding", action="store_true", help="save embedding.npy ((D,) or (T, D))"
    )
    predict_parser.add_argument(
        "--smooth", type=float, default=0.0, metavar="SECONDS", help="frame-score smoothing window"
    )
    predict_parser.add_argument("--json", action="store_true", help="one JSON result per line")
    predict_parser.add_argument("--no-save", action="store_true", help="write no run folder")
    add_output_options(predict_parser)
    add_model_options(predict_parser)
    predict_parser.set_defaults(run=predict)

    serve_parser = commands.add_parser("serve", help="start the WebUI and its API (port 7860)")
    server.add_serve_arguments(serve_parser)
    add_output_options(serve_parser)
    add_model_options(serve_parser)
    serve_parser.set_defaults(
        run=lambda args: server.serve(
            args, engine_from_args(args, autostart=False), retention_from_args(args)
        )
    )

    warmup_parser = commands.add_parser(
        "warmup", help="wait for a running server's model, then analyse an example clip"
    )
    warmup_parser.add_argument("--url", default=f"http://127.0.0.1:{server.DEFAULT_PORT}")
    warmup_parser.add_argument("--auth", metavar="USER:PASS")
    warmup_parser.add_argument("--timeout", type=float, default=900.0, metavar="SECONDS")
    warmup_parser.set_defaults(
        run=lambda args: server.warm_up(args.url, server.parse_auth(args.auth), args.timeout)
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    # Each result and the server's URL reach logs and pipes at once, not at exit.
    sys.stdout.reconfigure(line_buffering=True)
    args = build_parser().parse_args(argv)
    # Without -v the CLI reports every problem itself, once, without tracebacks.
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.CRITICAL,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.run(args)
    except ValueError as error:  # bad option values, e.g. --smooth out of range
        print(f"error: {error}", file=sys.stderr)
        return 2
