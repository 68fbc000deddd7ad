"""The Ray subcommands of `emotion2vec-app` (optional extra: pip install '.[distributed]').

batch INPUT... --out DIR [--ray [ADDRESS]]   a corpus as a Ray Data job
ray-serve [--ray [ADDRESS]]                  the engine as a Ray Serve deployment (HTTP)
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emotion2vec_app.distributed.wire import MAX_UPLOAD_MB
from emotion2vec_app.options import SEGMENTATIONS, AnalysisOptions
from emotion2vec_app.results import GRANULARITIES

SERVE_PORT = 8000


def _ray_address(value: str | None) -> str | None:
    return None if value in (None, "local") else value


def _add_ray_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        default=None,
        metavar="ADDRESS",
        help=f"run on the cluster at ADDRESS (bare --ray: the one `ray start` made here); "
        f"without --ray a local Ray is started for the {what}",
    )


def _add_demo_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--demo", action="store_true", help="use the tiny random-weight model")


def _missing_extra(error: ImportError) -> int:
    print(f"error: {error.name} is missing: pip install '.[distributed]'", file=sys.stderr)
    return 2


def _model_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The model options both commands share, as JobConfig and ServeConfig name them."""
    return {
        "model": "demo" if args.demo else args.model,
        "hub": args.hub,
        "device": args.device,
        "dtype": args.dtype,
        "max_duration_s": args.max_duration,
        "head": _head_path(args.head),
    }


def _head_path(head: Path | None) -> str | None:
    """A path string travels to every actor and replica (each loads the head itself), and an
    absolute one means the same file there, whatever their working directory."""
    return None if head is None else str(head.expanduser().resolve())


def run_batch(args: argparse.Namespace) -> int:
    try:
        from emotion2vec_app.distributed import batch_job
    except ImportError as error:
        return _missing_extra(error)
    config = batch_job.JobConfig(
        **_model_settings(args),
        options=AnalysisOptions(
            args.granularity,
            args.embedding,
            0.0,
            args.segmentation,
            args.emotions,
            channels=args.channels,
            channel_names=args.channel_names,
        ),
        workers=args.workers,
        gpus_per_worker=args.gpus_per_worker,
        cpus_per_worker=args.cpus_per_worker,
        batch_size=args.files_per_call,
        output_format=args.format,
    )
    report = batch_job.run(
        args.files, args.out, config, address=_ray_address(args.ray), resume=not args.no_resume
    )
    print(
        f"{report.inputs} inputs: {report.skipped} already in {report.output}, "
        f"{report.written} written, {report.failed} failed (their rows hold the reason)"
    )
    return 1 if report.failed else 0


def run_serve(args: argparse.Namespace) -> int:
    try:
        from ray import serve

        from emotion2vec_app.distributed import serve_app
    except ImportError as error:
        return _missing_extra(error)
    autoscaling = args.max_replicas is not None
    config = serve_app.ServeConfig(
        **_model_settings(args),
        batch_size=args.batch_size,
        max_upload_mb=args.max_upload_mb,
        replicas=args.replicas,
        min_replicas=args.min_replicas if autoscaling else 1,
        max_replicas=args.max_replicas,
        target_ongoing_requests=args.target_ongoing_requests,
        gpus_per_replica=args.gpus_per_replica,
        cpus_per_replica=args.cpus_per_replica,
        max_batch_size=args.max_batch_size,
        batch_wait_s=args.batch_wait_ms / 1000,
    )
    host = "0.0.0.0" if args.listen else args.host
    scaling = (
        f"{config.min_replicas}-{config.max_replicas} replicas (autoscaling)"
        if autoscaling
        else f"{config.replicas} replica(s)"
    )
    print(f"Deploying {config.model} on Ray Serve: {scaling}; every replica loads the model...")
    started = time.perf_counter()
    url = serve_app.deploy(config, address=_ray_address(args.ray), host=host, port=args.port)
    print(f"emotion2vec on Ray Serve: {url}/analyze, {url}/status, {url}/docs "
          f"(ready in {time.perf_counter() - started:.1f} s)")  # fmt: skip
    print(f"WebUI on it: emotion2vec-app serve --backend {url}")
    if args.detach:
        return 0
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        serve.delete(serve_app.APP_NAME)
    return 0


def add_commands(
    commands: Any,
    add_model_options: Callable[[argparse.ArgumentParser], None],
    add_channel_options: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Add `batch` and `ray-serve` to the CLI's subcommands, with the CLI's own model and
    channel options (passed in: the CLI imports this module, not the other way round)."""
    batch = commands.add_parser(
        "batch",
        help="analyse a corpus on a Ray cluster (pip install .[distributed])",
        description="Decode on CPU tasks, analyse on model actors, write Parquet or JSON Lines. "
        "Inputs: files, folders, globs, manifests (.txt/.csv, one path or URI a line), URIs.",
    )
    batch.add_argument("files", nargs="+", metavar="INPUT")
    _add_ray_option(batch, "job")
    batch.add_argument("--out", type=Path, required=True, metavar="DIR")
    batch.add_argument("--format", choices=("parquet", "jsonl"), default="parquet")
    batch.add_argument("--workers", type=int, default=1, help="model actors")
    batch.add_argument("--gpus-per-worker", type=float, default=0.0, metavar="F", help="e.g. 0.25")
    batch.add_argument(
        "--cpus-per-worker", type=float, default=1.0, metavar="F",
        help="CPUs each model actor holds (also its torch threads on CPU)",
    )  # fmt: skip
    batch.add_argument("--files-per-call", type=int, default=16, metavar="N")
    batch.add_argument("--no-resume", action="store_true", help="redo files in --out")
    batch.add_argument("--granularity", choices=GRANULARITIES, default="utterance")
    batch.add_argument("--embedding", action="store_true", help="store the embedding")
    batch.add_argument("--segmentation", choices=SEGMENTATIONS, default="auto")
    batch.add_argument(
        "--emotions",
        metavar="LIST",
        help="score only these classes, e.g. angry,happy,neutral,sad: a score column each",
    )
    add_channel_options(batch)
    _add_demo_option(batch)
    add_model_options(batch)
    batch.set_defaults(run=run_batch)

    serve = commands.add_parser(
        "ray-serve",
        help="serve the model over HTTP from Ray Serve replicas (pip install .[distributed])",
        description="POST /analyze (multipart: audio, granularity, extract_embedding, "
        "segmentation, smooth_s, emotions, channels, channel_names) and GET /status, from "
        "replicas that batch concurrent requests. A WebUI uses it with "
        "`emotion2vec-app serve --backend URL`.",
    )
    _add_ray_option(serve, "deployment")
    serve.add_argument("--host", default="127.0.0.1", help="HTTP interface (default: this machine)")
    serve.add_argument("--listen", action="store_true", help="bind 0.0.0.0")
    serve.add_argument("--port", type=int, default=SERVE_PORT)
    serve.add_argument("--replicas", type=int, default=1, help="a fixed number of replicas")
    serve.add_argument(
        "--max-replicas", type=int, metavar="N", help="autoscale between --min-replicas and N"
    )
    serve.add_argument("--min-replicas", type=int, default=1, metavar="N")
    serve.add_argument(
        "--target-ongoing-requests",
        type=float,
        default=4.0,
        metavar="R",
        help="requests per replica the autoscaler aims for",
    )
    serve.add_argument("--gpus-per-replica", type=float, default=0.0, metavar="F")
    serve.add_argument("--cpus-per-replica", type=float, default=1.0, metavar="F")
    serve.add_argument(
        "--max-batch-size", type=int, default=16, metavar="N", help="requests batched together"
    )
    serve.add_argument(
        "--batch-wait-ms", type=float, default=10.0, metavar="MS",
        help="how long a batch waits to fill",
    )  # fmt: skip
    serve.add_argument("--max-upload-mb", type=float, default=MAX_UPLOAD_MB, metavar="MB")
    _add_demo_option(serve)
    serve.add_argument(
        "--detach", action="store_true", help="leave the deployment running on the cluster and exit"
    )
    add_model_options(serve)
    serve.set_defaults(run=run_serve)
