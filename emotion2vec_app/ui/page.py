"""The Gradio Blocks WebUI and its client API (/status, /analyze, /analyze_batch, /evaluate).

The page is served before the model is ready: a gr.Timer polls the engine, shows the
loading state and enables analysis once the model is loaded. Four tabs: one recording (with
a segment timeline for long ones), live from the microphone, a batch of many files, and the
evaluation of a labelled set. The components are built in views.py; here they are wired,
each event updating its components by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
from gradio.components import Component  # at run time: gradio reads the events' hints

from emotion2vec_app.options import AnalysisOptions
from emotion2vec_app.outputs import Retention, default_output_root
from emotion2vec_app.ui import render, views
from emotion2vec_app.ui.handlers import (
    Analysis,
    Handlers,
    Shown,
    batch_outputs,
    batch_problem,
    channel_problem,
    cleared_evaluation,
    cleared_outputs,
    error_outputs,
    evaluation_outputs,
    page_outputs,
    shown_outputs,
    smoothing_outputs,
    subset_problem,
)
from emotion2vec_app.ui.live import (
    LIVE_MAX_S,
    STREAM_EVERY_S,
    LiveHandlers,
    LiveSessions,
    live_outputs,
    result_outputs,
)
from emotion2vec_app.ui.live_render import problem_words, settings_html
from emotion2vec_app.ui.text import browser_language, progress_words, t
from emotion2vec_app.ui.uploads import upload_problem
from emotion2vec_app.ui.views import (
    BANNER,
    BatchView,
    EvalView,
    Header,
    LiveView,
    PageTabs,
    SingleView,
    Texts,
    components_of,
    merged_updates,
)

if TYPE_CHECKING:
    from emotion2vec_app.engine import AnalysisEngine

STATUS_POLL_S = 1.0
ANALYSIS_CONCURRENCY = 4  # decoding overlaps; the engine runs one forward pass at a time
BATCH_CONCURRENCY = 2  # a batch holds its worker for minutes; single analyses keep theirs
# Each recording page holds a worker of its own for as long as it records: live pages wait
# neither for each other nor behind analyses (their windows queue for the model in turn).
LIVE_CONCURRENCY = 8
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
    """What the model's state steers: the banner, the status, the Analyze and Run buttons,
    the status timer and the retry button."""

    banner: gr.HTML
    status: gr.HTML
    analyze: gr.Button
    analyze_batch: gr.Button
    evaluate: gr.Button
    timer: gr.Timer
    retry: gr.Button


def refuse(problem: tuple[str, dict[str, Any]] | None, lang: str) -> None:
    """Say why the page cannot start a run (a text key and its values), in its language,
    before the endpoint is called; nothing when there is no problem."""
    if problem:
        key, values = problem
        message = t(key, lang).format(**values)
        raise gr.Error(message, title=t("error_toast", lang), print_exception=False)


def build_ui(
    engine: AnalysisEngine,
    output_root: Path | None = None,
    retention: Retention | None = None,
    defaults: AnalysisOptions | None = None,
) -> gr.Blocks:
    """The WebUI; also registers the /status, /analyze, /analyze_batch and /evaluate API
    endpoints. `defaults`: the channel mode and names the server was started with."""
    defaults = defaults or AnalysisOptions()
    handlers = Handlers(engine, output_root or default_output_root(), retention, defaults)
    live = LiveHandlers(handlers, LiveSessions(engine))
    texts = Texts()
    # Gradio's upload cache is swept hourly of files older than a day.
    with gr.Blocks(title="emotion2vec+ WebUI", delete_cache=(3600, 86400)) as demo:
        top = views.header(texts, engine.status().demo, render.status_html(engine, texts.lang))
        page_tabs = views.tabs(texts, engine.classes(), defaults)
        single, batch, evaluation = page_tabs.single, page_tabs.batch, page_tabs.evaluate
        timer = gr.Timer(STATUS_POLL_S)
        _register_api(handlers)
        steered = StatusOutputs(
            top.banner, top.status, single.inputs.analyze, batch.analyze, evaluation.inputs.run,
            timer, top.retry,
        )  # fmt: skip
        # On load the browser's language is asked for before the status: keep this order.
        _wire_language(demo, engine, texts, top.language, steered, page_tabs, live)
        _wire_status(demo, engine, top, steered)
        _wire_single(handlers, single, top.language)
        _wire_live(demo, live, page_tabs, top.language)
        _wire_batch(handlers, batch, top.language)
        _wire_evaluate(handlers, evaluation, top.language)
    return demo


def _register_api(handlers: Handlers) -> None:
    """/status and /analyze (/analyze_batch and /evaluate are their tabs' buttons)."""
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
        shown.evaluate: gr.update(value=t("run_eval", lang), interactive=ready),
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
    demo: gr.Blocks,
    engine: AnalysisEngine,
    texts: Texts,
    language: gr.Radio,
    shown: StatusOutputs,
    page_tabs: PageTabs,
    live: LiveHandlers,
) -> None:
    """The browser's language on load; every word of the page, results included, follows a
    change of it."""
    single, batch, evaluation = page_tabs.single, page_tabs.batch, page_tabs.evaluate
    results, evaluated, live_view = single.results, evaluation.results, page_tabs.live

    def initial_language(request: gr.Request) -> str:
        return browser_language(request.headers.get("accept-language"))

    def relabel(
        lang: str,
        on_view: Shown,
        batch_results: list[dict] | None,
        report: dict | None,
        report_files: list[str] | None,
        window_s: float,
        hop_s: float,
        request: gr.Request,
    ) -> dict:
        updates = [texts.relabel(lang), status_updates(engine, shown, lang)]
        updates.append(shown_outputs(results, on_view, lang))
        if batch_results:
            updates.append(batch_outputs(batch, batch_results, lang))
        if report:
            updates.append(evaluation_outputs(evaluated, report, report_files, lang))
        updates.append(_live_now(live, live_view, request.session_hash, lang))
        updates.append({live_view.settings: settings_html(window_s, hop_s, lang)})
        return merged_updates(updates)

    outputs = [*texts.components(), *components_of(shown), *components_of(results),
               batch.summary, batch.table, evaluated.card, evaluated.skipped, evaluated.heatmap,
               evaluated.misclassified, live_view.settings, *components_of(live_view.shown),
               *components_of(live_view.result)]  # fmt: skip
    inputs = [language, results.shown, batch.json, evaluated.json, evaluated.downloads,
              live_view.window, live_view.hop]  # fmt: skip
    language.change(
        relabel,
        inputs,
        list(dict.fromkeys(outputs)),
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
        emotions: list[str],
        channels: str,
        channel_names: str,
        lang: str,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (gradio's way to ask for progress)
    ) -> dict[Component, Any]:
        if not audio_path:
            return error_outputs(results, None, t("no_audio", lang), lang)
        problem = subset_problem(emotions) or channel_problem(
            granularity, segmentation, channels, channel_names
        )
        if problem:
            return error_outputs(results, Path(audio_path).name, t(problem[0], lang), lang)
        progress(0, desc=t("progress_analysing", lang))
        try:
            analysis = handlers.analyze_page(
                audio_path, granularity, smooth_s, embedding, segmentation,
                lambda fraction, message: progress(fraction, desc=progress_words(message, lang)),
                request.headers.get("referer"),  # the page's own address, for the API snippet
                emotions, channels, channel_names,
            )  # fmt: skip
        except gr.Error as error:  # shown where the result goes, not in a passing toast
            return error_outputs(results, Path(audio_path).name, error.message, lang)
        return page_outputs(results, analysis, lang)

    def resmooth(smooth_s: float, shown: Shown, lang: str) -> dict[Component, Any]:
        if not isinstance(shown, Analysis) or shown.prediction.frames is None:
            return {results.shown: shown}  # no timeline on view: nothing to re-render
        return smoothing_outputs(results, handlers.resmooth(shown, smooth_s), lang)

    def clear_results() -> dict[Component, Any]:
        return cleared_outputs(results)

    analysis_inputs = [inputs.audio, options.granularity, options.smooth, options.embedding,
                       options.segmentation, options.emotions, options.channels,
                       options.channel_names, language]  # fmt: skip
    outputs = components_of(results)

    def run_analysis(trigger: Any) -> None:
        """Analyze greyed out while its own run goes, one progress display on the card."""
        trigger.then(lambda: gr.update(interactive=False), None, inputs.analyze, **PAGE_CHORE).then(
            analyze, analysis_inputs, outputs, show_progress_on=results.card, **PAGE_ANALYSIS
        ).then(lambda: gr.update(interactive=True), None, inputs.analyze, **PAGE_CHORE)

    run_analysis(inputs.analyze.click(clear_results, None, outputs, **PAGE_CHORE))
    # A new recording's old result is gone as it arrives; a clicked example is analysed.
    gr.on([inputs.audio.upload, inputs.audio.start_recording, inputs.audio.clear],
          clear_results, None, outputs, **PAGE_CHORE)  # fmt: skip
    run_analysis(inputs.examples.load_input_event.then(clear_results, None, outputs, **PAGE_CHORE))
    options.smooth.change(
        resmooth, [options.smooth, results.shown, language],
        [results.timeline, results.timeline_note, results.json, results.shown],
        trigger_mode="always_last", show_progress="hidden", **PAGE_CHORE,
    )  # fmt: skip
    inputs.clear.click(
        lambda: {inputs.audio: None, **clear_results()},
        None,
        [inputs.audio, *outputs],
        **PAGE_CHORE,
    )


def _live_now(
    live: LiveHandlers, view: LiveView, key: str, lang: str, stopped: bool | None = None
) -> dict[Component, Any]:
    """The page's live session as it stands, in `lang`: its last minute, and the result of
    its Stop (`stopped`: whether Stop was pressed, when not as the session says)."""
    session = live.sessions.get(key)
    if stopped is None:
        stopped = session is not None and session.stopped
    result = session.result if session else None
    return {
        **live_outputs(view.shown, live.state(key), lang),
        **result_outputs(view.result, result, stopped, lang),
    }


def _wire_live(
    demo: gr.Blocks, live: LiveHandlers, page_tabs: PageTabs, language: gr.Radio
) -> None:
    """Record starts the page's session; each chunk goes into it and brings back its newest
    update; Stop analyses the whole recording as the single view does, and shows the result
    here and there; a closed page's session goes."""
    view, single = page_tabs.live, page_tabs.single
    settings = [view.window, view.hop]

    def say(problem: tuple[str, dict[str, Any]], lang: str) -> None:
        gr.Warning(problem_words(problem, lang))

    def start(window_s: float, hop_s: float, lang: str, request: gr.Request) -> dict:
        state = live.start(request.session_hash, window_s, hop_s)
        if state.problem is not None:
            say(state.problem, lang)
        return {
            **live_outputs(view.shown, state, lang),
            **result_outputs(view.result, None, False, lang),
            **{slider: gr.update(interactive=False) for slider in settings},
        }

    def chunk(
        audio: tuple[int, Any] | None, window_s: float, hop_s: float, lang: str,
        request: gr.Request,
    ) -> dict:  # fmt: skip
        state, problem = live.chunk(request.session_hash, audio, window_s, hop_s)
        if problem is not None:
            say(problem, lang)
        return gr.skip() if state is None else live_outputs(view.shown, state, lang)

    def stop(
        embedding: bool,
        lang: str,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (gradio's way to ask for progress)
    ) -> dict:
        progress(0, desc=t("progress_analysing", lang))
        key = request.session_hash
        session = live.stop(
            key, embedding,
            lambda fraction, message: progress(fraction, desc=progress_words(message, lang)),
            request.headers.get("referer"),
        )  # fmt: skip
        result = session.result if session else None
        updates = {
            **_live_now(live, view, key, lang, stopped=True),
            **{slider: gr.update(interactive=True) for slider in settings},
        }
        if isinstance(result, Analysis):  # the single view shows it whole, its audio too
            audio = str(result.run.audio_file) if result.run else None
            updates |= {**page_outputs(single.results, result, lang), single.inputs.audio: audio}
        return updates

    shown = components_of(view.shown)
    view.window.change(
        settings_html, [view.window, view.hop, language], view.settings, **PAGE_CHORE
    )
    view.hop.change(settings_html, [view.window, view.hop, language], view.settings, **PAGE_CHORE)
    # Queued, unlike the page's other chores: a toast needs the queue, and this one is quick.
    view.audio.start_recording(
        start, [*settings, language], [*shown, *components_of(view.result), *settings],
        api_visibility="private", concurrency_limit=None, show_progress="hidden",
    )  # fmt: skip
    view.audio.stream(
        chunk, [view.audio, *settings, language], shown, stream_every=STREAM_EVERY_S,
        time_limit=int(LIVE_MAX_S) + 60, concurrency_id="live",
        concurrency_limit=LIVE_CONCURRENCY, show_progress="hidden", api_visibility="private",
    )  # fmt: skip
    view.audio.stop_recording(
        stop, [view.embedding, language],
        [*shown, *components_of(view.result), *settings, *components_of(single.results),
         single.inputs.audio],
        show_progress_on=view.result.card, **PAGE_ANALYSIS,
    )  # fmt: skip
    view.result.open.click(lambda: gr.Tabs(selected="single"), None, page_tabs.tabs, **PAGE_CHORE)

    def unload(request: gr.Request) -> None:
        live.unload(request.session_hash)

    demo.unload(unload)


def _wire_batch(handlers: Handlers, view: BatchView, language: gr.Radio) -> None:
    options = view.options

    def check(
        files: list[str] | None,
        emotions: list[str],
        granularity: str,
        segmentation: str,
        channels: str,
        channel_names: str,
        lang: str,
    ) -> None:
        channels_checked = channel_problem(granularity, segmentation, channels, channel_names)
        refuse(batch_problem(files) or subset_problem(emotions) or channels_checked, lang)

    checked = [view.files, options.emotions, options.granularity, options.segmentation,
               options.channels, options.channel_names, language]  # fmt: skip
    # This button's second step is the public /analyze_batch endpoint: clients get its
    # progress, and its own check in both languages.
    view.analyze.click(check, checked, None, **PAGE_CHORE).success(
        handlers.analyze_batch,
        [
            view.files,
            options.granularity,
            options.embedding,
            options.segmentation,
            options.emotions,
            options.channels,
            options.channel_names,
        ],
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


def _wire_evaluate(handlers: Handlers, view: EvalView, language: gr.Radio) -> None:
    inputs, results = view.inputs, view.results

    def check(files: list[str] | None, emotions: list[str], lang: str) -> None:
        names = [Path(f).name for f in files or ()]
        refuse(upload_problem(names) or subset_problem(emotions), lang)

    # As for the batch: the second step is the public /evaluate endpoint; the first clears
    # the previous result and checks the upload in the page's language.
    inputs.run.click(
        lambda: cleared_evaluation(results), None, components_of(results), **PAGE_CHORE
    ).then(check, [inputs.files, inputs.emotions, language], None, **PAGE_CHORE).success(
        handlers.evaluate,
        [inputs.files, inputs.label_map, inputs.emotions, inputs.train, inputs.folds],
        [results.json, results.downloads],
        api_name="evaluate",
        concurrency_id="batch",
        concurrency_limit=BATCH_CONCURRENCY,
    ).success(
        lambda report, files, lang: evaluation_outputs(results, report, files, lang),
        [results.json, results.downloads, language],
        [results.card, results.skipped, results.heatmap, results.misclassified],
        **PAGE_CHORE,
    )
