"""`emotion2vec-app`: predict emotions of audio files from the shell."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from tqdm import tqdm

from emotion2vec_app import live_cli, writers
from emotion2vec_app.audio import DEFAULT_MAX_DURATION_S
from emotion2vec_app.distributed import cli as ray_cli
from emotion2vec_app.engine import (
    DTYPE_CHOICES,
    AnalysisEngine,
    Engine,
    ModelLoadFailed,
    ModelNotReady,
)
from emotion2vec_app.engine.many_files import analyze_many, as_inputs
from emotion2vec_app.files import expand_inputs
from emotion2vec_app.model.source import DEFAULT_MODEL_ID, HUBS
from emotion2vec_app.options import CHANNEL_MODES, LONG_AUDIO_S, SEGMENTATIONS, AnalysisOptions
from emotion2vec_app.outputs import Retention, default_output_root, saved_result, try_save_run
from emotion2vec_app.research import cli as research_cli
from emotion2vec_app.results import GRANULARITIES, Prediction
from emotion2vec_app.ui import server

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
        "--batch-size",
        type=int,
        metavar="N",
        help="clips per forward pass (default: 16 on GPU, 1 on CPU, where batches are slower)",
    )
    group.add_argument(
        "--head",
        type=Path,
        metavar="FILE",
        help="a head from train-head (.safetensors): score its classes instead of the "
        "model's 9 emotions, for utterances, frames and segments alike",
    )
    group.add_argument(
        "--max-duration",
        type=float,
        default=DEFAULT_MAX_DURATION_S,
        help="longest recording in seconds; longer ones are refused before decoding "
        f"(default {DEFAULT_MAX_DURATION_S:.0f})",
    )


def add_channel_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("stereo calls")
    group.add_argument(
        "--channels",
        choices=CHANNEL_MODES,
        default="mix",
        help="mix: downmix to mono (default); split: each channel is a speaker, analysed "
        "apart with its own segments (a stereo call's agent and customer)",
    )
    group.add_argument(
        "--channel-names",
        metavar="NAMES",
        help="names of the channels in order, e.g. agent,customer (default: left,right)",
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
        batch_size=args.batch_size,
        head=args.head,
        on_log=lambda message: print(message, file=sys.stderr),
        autostart=autostart,
    )


def serve_engine(args: argparse.Namespace) -> AnalysisEngine:
    """The WebUI's engine: a local model, or a Ray Serve deployment's with --backend."""
    if args.backend is None:
        return engine_from_args(args, autostart=False)
    if args.demo or args.model != DEFAULT_MODEL_ID:
        raise ValueError(
            "--backend serves the Ray Serve deployment's model: choose the model (or --demo) "
            "with `emotion2vec-app ray-serve`, not here"
        )
    from emotion2vec_app.distributed.remote_engine import RemoteEngine

    return RemoteEngine(args.backend, max_duration_s=args.max_duration)


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
    # Everything that can be refused is checked before the table is opened (and emptied).
    if args.resume and args.out is None:
        raise ValueError("--resume needs --out FILE: the table that records finished files")
    if args.out is not None:
        writers.table_format(args.out, args.format)
    options = AnalysisOptions(
        args.granularity,
        args.embedding,
        args.smooth,
        args.segmentation,
        args.emotions,
        args.channels,
        args.channel_names,
    )
    files, problems = expand_inputs(args.files)
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    if not files:  # before the table is opened: a mistyped glob must not empty it
        print("error: no audio files to analyse", file=sys.stderr)
        return 2
    if args.resume:
        finished = {Path(f).resolve() for f in writers.finished_files(args.out, args.format)}
        skipped = [f for f in files if f.resolve() in finished]
        files = [f for f in files if f.resolve() not in finished]
        if skipped:
            print(f"Resuming: {len(skipped)} file(s) already in {args.out}", file=sys.stderr)
        if not files:
            return 0  # all done before
    engine = engine_from_args(args)
    keys = tuple(emotion.key for emotion in options.scored(engine.classes()))
    table = _open_table(args, keys)
    bar = tqdm(
        total=len(files), unit="file", file=sys.stderr, disable=args.quiet,
        dynamic_ncols=True, mininterval=0.5,
    )  # fmt: skip
    try:
        failures = _run_batch(args, engine, files, options, table, bar, keys)
    except (ModelLoadFailed, ModelNotReady) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        bar.close()
        if table is not None:
            table.close()
    return 1 if failures else 0


def _open_table(args: argparse.Namespace, keys: tuple[str, ...]) -> writers.TableWriter | None:
    if args.out is None:
        return None
    fmt = writers.table_format(args.out, args.format)
    fields = writers.BATCH_FIELDS + writers.score_columns(keys) if fmt == "csv" else []
    return writers.get_writer(args.out, fields, fmt, append=args.resume)


def _run_batch(
    args: argparse.Namespace,
    engine: AnalysisEngine,
    files: list[Path],
    options: AnalysisOptions,
    table: writers.TableWriter | None,
    bar: tqdm,
    keys: tuple[str, ...],
) -> int:
    failures = 0
    retention = retention_from_args(args)
    demo_noted = False

    def on_progress(fraction: float, message: str) -> None:
        bar.set_postfix_str(message.split(" · ", 1)[-1])

    for item in analyze_many(engine, as_inputs(files), options, progress=on_progress):
        shown = str(item.path)
        bar.update(1)
        prediction = item.prediction
        if prediction is None:
            failures += 1
            bar.write(f"Skipping {shown}: {item.error}", file=sys.stderr)
            if table is not None:
                table.write_file(writers.FileRecord(shown, None, item.error, keys))
            continue
        if prediction.model.demo and not demo_noted:
            bar.write(DEMO_NOTE, file=sys.stderr)
            demo_noted = True
        for warning in prediction.warnings:
            bar.write(f"warning: {shown}: {warning}", file=sys.stderr)
        run = None if args.no_save else try_save_run(prediction, args.output_dir, retention)
        result = saved_result(prediction, run)
        if table is not None:
            table.write_file(writers.FileRecord(shown, result, keys=keys))
        if args.json:
            bar.write(json.dumps(result, ensure_ascii=False), file=sys.stdout)
        elif not args.quiet:
            bar.write(summary_line(shown, prediction, run.path if run else None), file=sys.stdout)
    return failures


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emotion2vec-app", description="Speech emotion recognition with emotion2vec+."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log model loading")
    commands = parser.add_subparsers(dest="command", required=True)

    predict_parser = commands.add_parser(
        "predict",
        help="predict the emotion of audio files, folders or globs",
        description="Analyse audio files; folders are searched recursively, globs expanded "
        "(quote them: 'calls/**/*.mp3'). Recordings longer than "
        f"{LONG_AUDIO_S:g} s get a segment timeline.",
    )
    predict_parser.add_argument("files", nargs="+", metavar="FILE|FOLDER|GLOB")
    predict_parser.add_argument("--granularity", choices=GRANULARITIES, default="utterance")
    predict_parser.add_argument(
        "--embedding", action="store_true", help="save embedding.npy ((D,) or (T, D))"
    )
    predict_parser.add_argument(
        "--smooth", type=float, default=0.0, metavar="SECONDS", help="frame-score smoothing window"
    )
    predict_parser.add_argument(
        "--segmentation",
        choices=SEGMENTATIONS,
        default="auto",
        help=f"cut recordings into speech segments: auto (above {LONG_AUDIO_S:g} s), off, "
        "vad (Silero), fixed (10 s windows)",
    )
    predict_parser.add_argument(
        "--emotions",
        metavar="LIST",
        help="score only these classes, e.g. angry,happy,neutral,sad: the others' logits are "
        "masked and the softmax runs over these",
    )
    add_channel_options(predict_parser)
    predict_parser.add_argument("--json", action="store_true", help="one JSON result per line")
    predict_parser.add_argument(
        "--out", type=Path, metavar="TABLE", help="also write one row per file to TABLE"
    )
    predict_parser.add_argument(
        "--format", choices=writers.TABLE_FORMATS, help="TABLE format (default: from its name)"
    )
    predict_parser.add_argument(
        "--resume",
        action="store_true",
        help="skip files TABLE already holds (failed ones are retried) and append to it",
    )
    predict_parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar and no summary lines"
    )
    predict_parser.add_argument("--no-save", action="store_true", help="write no run folder")
    add_output_options(predict_parser)
    add_model_options(predict_parser)
    predict_parser.set_defaults(run=predict)

    serve_parser = commands.add_parser("serve", help="start the WebUI and its API (port 7860)")
    server.add_serve_arguments(serve_parser)
    add_channel_options(serve_parser)
    add_output_options(serve_parser)
    add_model_options(serve_parser)
    serve_parser.set_defaults(
        run=lambda args: server.serve(args, serve_engine(args), retention_from_args(args))
    )

    ray_cli.add_commands(commands, add_model_options, add_channel_options)
    research_cli.add_commands(commands, add_model_options, engine_from_args)
    live_cli.add_command(commands, add_model_options, engine_from_args, DEMO_NOTE)

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
