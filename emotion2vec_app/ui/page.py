"""The Gradio Blocks WebUI and its client API (/status, /analyze, /analyze_batch).

The page is served before the model is ready: a gr.Timer polls the engine, shows the
loading state and enables analysis once the model is loaded. Two tabs: one recording (with
a segment timeline for long ones) and a batch of many files. The components are built in
views.py; here they are wired, each event updating its components by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from emotion2vec_app.outputs import Retention, default_output_root
from emotion2vec_app.ui import render, views
from emotion2vec_app.ui.handlers import (
    Handlers,
    batch_outputs,
    cleared_outputs,
    error_outputs,
    page_outputs,
)
from emotion2vec_app.ui.text import browser_language, t
from emotion2vec_app.ui.views import BANNER, BatchView, Header, SingleView, Texts, components_of

if TYPE_CHECKING:
    from gradio.components import Component

    from emotion2vec_app.engine import AnalysisEngine

STATUS_POLL_S = 1.0
ANALYSIS_CONCURRENCY = 4  # decoding overlaps; the engine runs one forward pass at a time
BATCH_CONCURRENCY = 2  # a batch holds its worker for minutes; single analyses keep theirs
# The page's chores skip the queue, so a full queue never freezes the page; gradio_client
# always queues, so /status waits its turn there, and plain GET /status is the health check
# that always answers.
PAGE_CHORE: dict[str, Any] = {"api_visibility": "private", "queue": False}
# The page's own analysis: queued beside /analyze, not an endpoint of its own.
PAGE_ANALYSIS: dict[str, Any] = {
    "concurrency_id": "analysis",
    "concurrency_limit": ANALYSIS_CONCURRENCY,
    "api_visibility": "private",
}


@dataclass(frozen=True)
class StatusOutputs:
    """What the model's state steers: the banner, the status, both Analyze buttons, the
    status timer and the retry button."""

    banner: gr.HTML
    status: gr.HTML
    analyze: gr.Button
    analyze_batch: gr.Button
    timer: gr.Timer
    retry: gr.Button


def build_ui(
    engine: AnalysisEngine, output_root: Path | None = None, retention: Retention | None = None
) -> gr.Blocks:
    """The WebUI; also registers the /status, /analyze and /analyze_batch API endpoints."""
    handlers = Handlers(engine, output_root or default_output_root(), retention)
    texts = Texts()
    # Gradio's upload cache is swept hourly of files older than a day.
    with gr.Blocks(title="emotion2vec+ WebUI", delete_cache=(3600, 86400)) as demo:
        top = views.header(texts, engine.status().demo, render.status_html(engine, texts.lang))
        single, batch = views.tabs(texts)
        timer = gr.Timer(STATUS_POLL_S)
        _register_api(handlers)
        steered = StatusOutputs(
            top.banner, top.status, single.inputs.analyze, batch.analyze, timer, top.retry
        )
        # On load the browser's language is asked for before the status: keep this order.
        _wire_language(demo, engine, texts, top.language, steered)
        _wire_status(demo, engine, top, steered)
        _wire_single(handlers, single, top.language)
        _wire_batch(handlers, batch, top.language)
    return demo


def _register_api(handlers: Handlers) -> None:
    """/status and /analyze (/analyze_batch is the batch tab's button, in _wire_batch)."""
    gr.api(handlers.status, api_name="status")
    gr.api(
        handlers.analyze,
        api_name="analyze",
        concurrency_id="analysis",
        concurrency_limit=ANALYSIS_CONCURRENCY,
    )


def status_updates(engine: AnalysisEngine, shown: StatusOutputs, lang: str) -> dict:
    """The page as the model's state has it now, in `lang`."""
    status = engine.status()
    state = status.state.value
    ready = state == "ready"
    return {
        # A Ray Serve backend says which model it runs only once it answers.
        shown.banner: gr.update(value=BANNER.format(t("demo_banner", lang)), visible=status.demo),
        shown.status: render.status_html(engine, lang),
        shown.analyze: gr.update(value=t("analyze", lang), interactive=ready),
        shown.analyze_batch: gr.update(value=t("analyze_all", lang), interactive=ready),
        shown.timer: gr.Timer(active=state == "loading" or engine.watch_after_ready),
        shown.retry: gr.update(
            value=t("retry_backend" if status.backend else "retry", lang),
            visible=state == "failed",
        ),
    }


def _wire_status(
    demo: gr.Blocks, engine: AnalysisEngine, top: Header, shown: StatusOutputs
) -> None:
    """Poll the model's state while it loads (or always, for a backend that can drop out),
    retry a failed load, and show the state afresh on every visit."""
    outputs = components_of(shown)

    def poll(lang: str) -> dict:
        return status_updates(engine, shown, lang)

    def retry_load(lang: str) -> dict:
        engine.retry()
        return poll(lang)

    shown.timer.tick(poll, top.language, outputs, show_progress="hidden", **PAGE_CHORE)
    top.retry.click(retry_load, top.language, outputs, **PAGE_CHORE)
    # The status HTML was rendered when the page was built: refresh it on every visit.
    demo.load(poll, top.language, outputs, show_progress="hidden", **PAGE_CHORE)


def _wire_language(
    demo: gr.Blocks, engine: AnalysisEngine, texts: Texts, language: gr.Radio, shown: StatusOutputs
) -> None:
    """The browser's language on load; every word of the page follows a change of it."""

    def initial_language(request: gr.Request) -> str:
        return browser_language(request.headers.get("accept-language"))

    def relabel(lang: str) -> dict[Component, Any]:
        return {**texts.relabel(lang), **status_updates(engine, shown, lang)}

    language.change(
        relabel,
        language,
        [*texts.components(), *components_of(shown)],
        show_progress="hidden",
        **PAGE_CHORE,
    )
    demo.load(initial_language, None, language, show_progress="hidden", **PAGE_CHORE)


def _wire_single(handlers: Handlers, view: SingleView, language: gr.Radio) -> None:
    inputs, results = view.inputs, view.results
    options = inputs.options
    options.granularity.change(
        lambda g: gr.update(visible=g == "frame"), options.granularity, options.smooth,
        **PAGE_CHORE,
    )  # fmt: skip

    def analyze(
        audio_path: str | None,
        granularity: str,
        smooth_s: float,
        embedding: bool,
        segmentation: str,
        lang: str,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (gradio's way to ask for progress)
    ) -> dict[Component, Any]:
        if not audio_path:
            return error_outputs(results, None, t("no_audio", lang), lang)
        try:
            analysis = handlers.analyze_page(
                audio_path, granularity, smooth_s, embedding, segmentation, progress
            )
        except gr.Error as error:  # shown where the result goes, not in a passing toast
            return error_outputs(results, Path(audio_path).name, error.message, lang)
        return page_outputs(results, analysis, lang)

    def clear_results() -> dict[Component, Any]:
        return cleared_outputs(results)

    analysis_inputs = [inputs.audio, options.granularity, options.smooth, options.embedding,
                       options.segmentation, language]  # fmt: skip
    outputs = components_of(results)
    inputs.analyze.click(analyze, analysis_inputs, outputs, **PAGE_ANALYSIS)
    # A new recording's old result is gone as it arrives; a clicked example is analysed.
    gr.on([inputs.audio.upload, inputs.audio.start_recording, inputs.audio.clear],
          clear_results, None, outputs, **PAGE_CHORE)  # fmt: skip
    inputs.examples.load_input_event.then(clear_results, None, outputs, **PAGE_CHORE).then(
        analyze, analysis_inputs, outputs, **PAGE_ANALYSIS
    )
    inputs.clear.click(
        lambda: {inputs.audio: None, **clear_results()},
        None,
        [inputs.audio, *outputs],
        **PAGE_CHORE,
    )


def _wire_batch(handlers: Handlers, view: BatchView, language: gr.Radio) -> None:
    options = view.options
    # This button is also the public /analyze_batch endpoint: clients get its progress.
    view.analyze.click(
        handlers.analyze_batch,
        [view.files, options.granularity, options.embedding, options.segmentation],
        [view.json, view.downloads],
        api_name="analyze_batch",
        concurrency_id="batch",
        concurrency_limit=BATCH_CONCURRENCY,
    ).success(
        lambda results, lang: batch_outputs(view, results, lang),
        [view.json, language],
        [view.summary, view.table],
        **PAGE_CHORE,
    )
