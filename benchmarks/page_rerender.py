"""What the WebUI redraws without a new analysis: a new smoothing and a change of language.

    python benchmarks/page_rerender.py            # full-size checkpoint: 60 s and 10 min
    python benchmarks/page_rerender.py --quick    # the tiny model (CI smoke run)

The server's side of each event, in this process, on the page's own handlers: a fresh
frame-granularity analysis (the forward passes), then the smoothing slider's handler
(re-smoothed logits, result.json and frames.csv rewritten, the chart's spec) and the language
switch's (every result component rendered again). The browser's own redraw adds ~0.3 s
(tests/test_ui_results.py prints the whole round trip). Target: a new smoothing of a 60 s
recording within a second.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from case import RATE, clip  # noqa: E402
from long_and_batch import build_model  # noqa: E402

REPEATS = 5


def median_s(action) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--work", type=Path, default=HERE / ".work")
    args = parser.parse_args()

    import gradio as gr
    import soundfile as sf

    from emotion2vec_app.engine import Engine
    from emotion2vec_app.ui import views
    from emotion2vec_app.ui.handlers import Handlers

    engine = Engine(str(build_model(args.work, args.quick)), device="cpu")
    engine.wait_ready(timeout=600)
    with gr.Blocks():
        single = views.tabs(views.Texts()).single
    work = Path(tempfile.mkdtemp(prefix="rerender-"))
    handlers = Handlers(engine, work / "outputs", None)
    lengths = (60.0, 120.0) if args.quick else (60.0, 600.0)
    print(f"# {datetime.date.today()} · {platform.processor() or platform.machine()}")
    for seconds in lengths:
        path = work / f"clip-{seconds:g}s.wav"
        sf.write(path, clip(seconds), RATE)
        print(json.dumps(measure(handlers, single.results, path, seconds)), flush=True)


def measure(handlers, results, path: Path, seconds: float) -> dict:
    """One recording: its analysis, then a new smoothing and a change of language of it."""
    from emotion2vec_app.ui.handlers import shown_outputs, smoothing_outputs

    started = time.perf_counter()
    analysis = handlers.analyze_page(str(path), "frame", 0.5, False, "auto", lambda *_: None)
    analysed_s = time.perf_counter() - started
    windows = iter([1.0, 0.3, 1.5, 0.0, 0.8])
    smoothing_s = median_s(
        lambda: smoothing_outputs(results, handlers.resmooth(analysis, next(windows)), "en")
    )
    language_s = median_s(lambda: shown_outputs(results, analysis, "zh"))
    return {
        "audio_s": seconds,
        "frames": len(analysis.prediction.frames.logits),
        "analysis_s": round(analysed_s, 3),
        "new_smoothing_s": round(smoothing_s, 3),
        "language_switch_s": round(language_s, 3),
    }


if __name__ == "__main__":
    main()
