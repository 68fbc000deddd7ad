"""Serving the WebUI: launch, health route, share link; and the client-side warm-up.

gradio is imported inside the functions, so `emotion2vec-app predict` never pays for it.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from emotion2vec_app.options import AnalysisOptions
from emotion2vec_app.outputs import Retention
from emotion2vec_app.ui.examples import EXAMPLE_FOR_WARMUP, EXAMPLES

if TYPE_CHECKING:
    from fastapi import FastAPI

    from emotion2vec_app.engine import AnalysisEngine

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
QUEUE_MAX_SIZE = 64


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("server")
    group.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help="interface to bind (default 127.0.0.1: this machine only)",
    )
    group.add_argument(
        "--listen", action="store_true", help="bind 0.0.0.0: reachable from other machines"
    )
    group.add_argument("--port", type=int, default=DEFAULT_PORT)
    group.add_argument("--share", action="store_true", help="also make a public gradio.live link")
    group.add_argument("--auth", metavar="USER:PASS", help="require this login")
    group.add_argument("--demo", action="store_true", help="use the tiny random-weight model")
    group.add_argument(
        "--backend",
        metavar="URL",
        help="analyse on a Ray Serve deployment (`emotion2vec-app ray-serve`) instead of "
        "loading the model here",
    )
    group.add_argument(
        "--max-upload-mb", type=float, default=200.0, help="largest upload accepted (default 200)"
    )


def parse_auth(value: str | None) -> tuple[str, str] | None:
    if value is None:
        return None
    user, sep, password = value.partition(":")
    if not (sep and user and password):
        raise ValueError("--auth takes USER:PASS, both non-empty")
    return user, password


def add_health_route(app: FastAPI, engine: AnalysisEngine) -> None:
    """Plain `GET /status` for load balancers and scripts; no Gradio client needed."""
    from fastapi.routing import APIRoute

    def health() -> dict:
        state = engine.status().state.value
        return {"status": "running", "model_loaded": state == "ready", "state": state}

    app.router.routes.insert(0, APIRoute("/status", health, methods=["GET"]))


def serve(
    args: argparse.Namespace, engine: AnalysisEngine, retention: Retention | None = None
) -> int:
    """Serve the WebUI first, then load the model in the engine's thread."""
    from emotion2vec_app.ui.assets import PAGE_ASSETS
    from emotion2vec_app.ui.page import build_ui

    auth = parse_auth(args.auth)
    host = "0.0.0.0" if args.listen else args.host
    output_dir = Path(args.output_dir)
    defaults = AnalysisOptions(channels=args.channels, channel_names=args.channel_names)
    demo = build_ui(engine, output_dir, retention, defaults)
    demo.queue(max_size=QUEUE_MAX_SIZE)
    try:
        app, local_url, share_url = demo.launch(
            server_name=host,
            server_port=args.port,
            share=args.share,
            auth=auth,
            prevent_thread_lock=True,
            allowed_paths=[str(output_dir.resolve())],
            max_file_size=int(args.max_upload_mb * 1024 * 1024),
            **PAGE_ASSETS,
            quiet=True,
        )
    except OSError as error:
        print(f"error: cannot serve on {host}:{args.port}: {error}", file=sys.stderr)
        return 2
    add_health_route(app, engine)
    # Loading only now keeps torch's import from competing with gradio's for the GIL:
    # the page answers ~1.8 s sooner and the model is ready as soon as before.
    engine.start()
    _announce(args, host, local_url, share_url)
    threading.Thread(target=_report_load, args=(engine,), daemon=True).start()
    try:
        demo.block_thread()
    except KeyboardInterrupt:
        pass
    finally:
        demo.close()
    return 0


def _announce(args: argparse.Namespace, host: str, local_url: str, share_url: str | None) -> None:
    """Where the WebUI can be reached."""
    print(f"emotion2vec WebUI: {local_url}")
    if host == "0.0.0.0":
        print(f"Listening on all interfaces: http://<this machine's address>:{args.port}/")
    if not args.share:
        return
    if share_url:
        print(f"Public link: {share_url}")
    else:
        print(
            "Share link could not be created (no internet, or the gradio.live tunnel "
            "is blocked); the local server keeps serving.",
            file=sys.stderr,
        )


def _report_load(engine: AnalysisEngine) -> None:
    """Say in the console how the load ended; the page shows it too."""
    try:
        engine.wait_ready(timeout=None)
    except Exception as error:  # ModelLoadFailed: its message has the reason and the advice
        print(f"error: {error}", file=sys.stderr, flush=True)
        return
    status = engine.status()
    print(f"Model ready: {status.model} on {status.device} ({status.load_seconds:.1f} s).")


def warm_up(url: str, auth: tuple[str, str] | None = None, timeout_s: float = 900.0) -> int:
    """Wait for the model through the API, then send a real clip through /analyze."""
    from gradio_client import Client, handle_file

    client = Client(url, auth=auth, verbose=False)
    deadline = time.monotonic() + timeout_s
    last_note = 0.0
    while True:
        status = client.predict(api_name="/status")
        if status["state"] == "failed":
            print(f"Model failed to load: {status['error']}", file=sys.stderr)
            return 1
        if status["state"] == "ready":
            break
        if time.monotonic() > deadline:
            print(f"Model still loading after {timeout_s:.0f} s.", file=sys.stderr)
            return 1
        if time.monotonic() - last_note > 5:
            print(f"Loading {status['model']} ({status['elapsed_s']:.0f} s)...")
            last_note = time.monotonic()
        time.sleep(0.5)
    started = time.perf_counter()
    result, _ = client.predict(
        handle_file(str(EXAMPLES / EXAMPLE_FOR_WARMUP)), "utterance", False, api_name="/analyze"
    )
    elapsed = (time.perf_counter() - started) * 1000
    print(
        f"Warm-up: model {status['model']} on {status['device']} loaded in "
        f"{status['load_seconds']:.1f} s; example clip -> {result['emotion']} in {elapsed:.0f} ms."
    )
    return 0
