"""What the page is made of: its components, built in layout order and held by name.

Each part of the page is a dataclass of its components, so events are wired and results
shown by name (`view.card`), never by a position in a list. `Texts` keeps, for every
component whose words change with the language, how to reword it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import gradio as gr
from gradio.components import Component

from emotion2vec_app.dataset import MANIFEST_SUFFIXES
from emotion2vec_app.engine.live import DEFAULT_HOP_S, DEFAULT_WINDOW_S, MIN_HOP_S, WINDOW_RANGE_S
from emotion2vec_app.files import AUDIO_SUFFIXES
from emotion2vec_app.labels import EMOTIONS, Emotion
from emotion2vec_app.options import AnalysisOptions
from emotion2vec_app.ui import live_render
from emotion2vec_app.ui.evaluation import DEFAULT_FOLDS
from emotion2vec_app.ui.examples import example_clips
from emotion2vec_app.ui.render import emotion_label
from emotion2vec_app.ui.text import LANGUAGES, t

FIRST_LANGUAGE = "en"  # the page is built in English; the browser's language follows on load
BANNER = '<div class="e2v-banner">{}</div>'
CHANNEL_PLOTS = 4  # a split call's channels with a score chart each: beyond, the table says
# Gradio refuses a whole batch when one file's type is not allowed, and its "audio" goes by
# mimetype, which calls .webm (browser recordings) and .mp4 video: name our suffixes too.
BATCH_FILE_TYPES = ["audio", *sorted(AUDIO_SUFFIXES)]
EVAL_FILE_TYPES = [*BATCH_FILE_TYPES, *MANIFEST_SUFFIXES, ".zip"]
MAX_HOP_S = 5.0  # the hop slider's end: longer hops are hardly live


def granularity_choices(lang: str) -> list[tuple[str, str]]:
    return [(t("utterance", lang), "utterance"), (t("frame", lang), "frame")]


def segmentation_choices(lang: str) -> list[tuple[str, str]]:
    return [(t(f"seg_{key}", lang), key) for key in ("auto", "off", "vad", "fixed")]


def channel_choices(lang: str) -> list[tuple[str, str]]:
    return [(t(f"channels_{key}", lang), key) for key in ("mix", "split")]


def emotion_choices(classes: Sequence[Emotion], lang: str) -> list[tuple[str, str]]:
    return [(emotion_label(emotion, lang), emotion.key) for emotion in classes]


Update = Any  # what an event returns for one component: a value or a gr.update
Reword = Callable[[str], Update]  # language code -> the update that rewords a component


class Texts:
    """Components whose words change with the language: label, value or choices."""

    def __init__(self, lang: str = FIRST_LANGUAGE) -> None:
        self.lang = lang
        self.rewords: dict[Component, Reword] = {}

    def words(self, component: Any, **keys: str) -> Any:
        """Any of its texts (label, value, info, placeholder), each by its key."""
        self.rewords[component] = lambda lang: gr.update(
            **{name: t(key, lang) for name, key in keys.items()}
        )
        return component

    def label(self, component: Any, key: str) -> Any:
        return self.words(component, label=key)

    def value(self, component: Any, key: str) -> Any:
        return self.words(component, value=key)

    def choices(
        self, component: Any, key: str, make: Callable[[str], list], info: str | None = None
    ) -> Any:
        def reword(lang: str) -> Update:
            extra = {"info": t(info, lang)} if info else {}
            return gr.update(label=t(key, lang), choices=make(lang), **extra)

        self.rewords[component] = reword
        return component

    def components(self) -> list[Component]:
        return list(self.rewords)

    def relabel(self, lang: str) -> dict[Component, Update]:
        return {component: reword(lang) for component, reword in self.rewords.items()}


def merged_updates(parts: list[dict[Component, Update]]) -> dict[Component, Update]:
    """Several events' updates as one: a component in more than one (a chart's new label and
    its new value) gets all of its changes, the later winning where they disagree."""
    merged: dict[Component, dict] = {}
    for part in parts:
        for component, update in part.items():
            is_update = isinstance(update, dict) and update.get("__type__") == "update"
            change = update if is_update else gr.update(value=update)
            merged[component] = {**merged.get(component, {}), **change}
    return merged


def components_of(part: Any) -> list[Component]:
    """A view dataclass's components, in field order (a tuple field's in its order): the
    outputs of an event that fills it."""
    values = [getattr(part, field.name) for field in fields(part)]
    return [c for value in values for c in (value if isinstance(value, tuple) else (value,))]


# --- the header ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    language: gr.Radio
    banner: gr.HTML
    status: gr.HTML
    retry: gr.Button


def header(texts: Texts, demo_model: bool, status_html: str) -> Header:
    """Title and language, subtitle, the demo banner, the model's status and its retry."""
    lang0 = texts.lang
    with gr.Row():
        texts.value(gr.Markdown(t("title", lang0)), "title")
        language = gr.Radio(
            [(name, code) for code, name in LANGUAGES.items()],
            value=lang0, label=t("language", lang0), elem_id="language", scale=0,
            min_width=200,
        )  # fmt: skip
        texts.label(language, "language")
    texts.value(gr.Markdown(t("subtitle", lang0)), "subtitle")
    banner = gr.HTML(
        BANNER.format(t("demo_banner", lang0)), visible=demo_model, elem_id="demo-banner"
    )
    status = gr.HTML(status_html, elem_id="model-status")
    retry = gr.Button(t("retry", lang0), visible=False, size="sm", elem_id="retry")
    return Header(language, banner, status, retry)


# --- analysis options, as both tabs offer them --------------------------------------------


def _takes_comma_strings(choice: gr.CheckboxGroup) -> gr.CheckboxGroup:
    """As an API input, also take "angry,happy" (any case), as AnalysisOptions does. The
    instance's preprocess is wrapped: gradio writes a .pyi file beside any module that
    subclasses a component."""
    checked = choice.preprocess

    def preprocess(payload: list[str] | str | None) -> list[str]:
        items = payload.split(",") if isinstance(payload, str) else payload or []
        return checked([key for item in items if (key := str(item).strip().lower())])

    choice.preprocess = preprocess
    return choice


def advanced(texts: Texts, prefix: str) -> gr.Accordion:
    """The folded section of options most analyses leave as they are."""
    accordion = gr.Accordion(t("advanced", texts.lang), open=False, elem_id=f"{prefix}advanced")
    return texts.label(accordion, "advanced")


def emotion_choice(texts: Texts, prefix: str, classes: Sequence[Emotion]) -> gr.CheckboxGroup:
    """The engine's classes, all checked."""
    lang0 = texts.lang
    choice = texts.choices(
        gr.CheckboxGroup(emotion_choices(classes, lang0), value=[e.key for e in classes],
                         label=t("emotions", lang0), info=t("emotions_info", lang0),
                         elem_id=f"{prefix}emotions"),
        "emotions", lambda lang: emotion_choices(classes, lang), "emotions_info",
    )  # fmt: skip
    return _takes_comma_strings(choice)


def channel_choice(
    texts: Texts, prefix: str, defaults: AnalysisOptions
) -> tuple[gr.Radio, gr.Textbox]:
    """Mix or split a stereo call's channels, and the speakers' names, in channel order;
    first as the server was started (serve --channels, --channel-names)."""
    lang0 = texts.lang
    channels = texts.choices(
        gr.Radio(channel_choices(lang0), value=defaults.channels, label=t("channels", lang0),
                 info=t("channels_info", lang0), elem_id=f"{prefix}channels"),
        "channels", channel_choices, "channels_info",
    )  # fmt: skip
    names = texts.words(
        gr.Textbox(",".join(defaults.channel_names or ()), label=t("channel_names", lang0),
                   elem_id=f"{prefix}channel-names",
                   placeholder=t("channel_names_placeholder", lang0)),
        label="channel_names", placeholder="channel_names_placeholder",
    )  # fmt: skip
    return channels, names


@dataclass(frozen=True)
class Options:
    granularity: gr.Radio
    embedding: gr.Checkbox
    segmentation: gr.Radio
    emotions: gr.CheckboxGroup
    channels: gr.Radio
    channel_names: gr.Textbox
    smooth: gr.Slider | None = None  # the single view's frame timeline only


def options_column(
    texts: Texts,
    prefix: str,
    classes: Sequence[Emotion],
    defaults: AnalysisOptions,
    *,
    smooth: bool,
) -> Options:
    """Granularity, smoothing (when asked for), embedding, segmentation; folded: the emotions
    and the channels."""
    lang0 = texts.lang
    granularity = texts.choices(
        gr.Radio(granularity_choices(lang0), value="utterance", label=t("granularity", lang0),
                 elem_id=f"{prefix}granularity"),
        "granularity", granularity_choices,
    )  # fmt: skip
    smoothing = None
    if smooth:
        smoothing = texts.label(
            gr.Slider(0, 2, value=0.5, step=0.1, label=t("smooth", lang0), visible=False,
                      elem_id=f"{prefix}smooth"),
            "smooth",
        )  # fmt: skip
    embedding = texts.label(
        gr.Checkbox(False, label=t("embedding", lang0), elem_id=f"{prefix}embedding"), "embedding"
    )
    segmentation = texts.choices(
        gr.Radio(segmentation_choices(lang0), value="auto", label=t("segmentation", lang0),
                 info=t("long_note", lang0), elem_id=f"{prefix}segmentation"),
        "segmentation", segmentation_choices, "long_note",
    )  # fmt: skip
    with advanced(texts, prefix):
        emotions = emotion_choice(texts, prefix, classes)
        channels, names = channel_choice(texts, prefix, defaults)
    return Options(granularity, embedding, segmentation, emotions, channels, names, smoothing)


# --- the single-recording tab --------------------------------------------------------------


@dataclass(frozen=True)
class SingleInputs:
    audio: gr.Audio
    options: Options
    analyze: gr.Button
    clear: gr.Button
    examples: gr.Examples  # clicking one loads it and analyses it (wired in page.py)


@dataclass(frozen=True)
class SingleResults:
    """Everything one analysis shows; `handlers.page_outputs` fills each by name."""

    card: gr.HTML
    bars: gr.HTML  # every emotion's score as a row: emoji and name, bar, percentage
    long: gr.Group  # the segment view of a long recording: the four below
    summary: gr.Markdown
    strip: gr.HTML
    segment_plot: gr.Plot  # Vega-Lite charts (charts.py): whole legends, gaps kept
    channel_plots: tuple[gr.Plot, ...]  # split channels: the 2nd channel's on (segment_plot: 1st)
    segments: gr.Dataframe
    timeline: gr.Plot  # frame granularity
    timeline_note: gr.Markdown
    json: gr.JSON
    downloads: gr.File
    log: gr.Textbox
    code: gr.Code  # this analysis as a gradio_client call and a Python API call
    shown: gr.State  # the Analysis or Failure on view (handlers.Shown), to re-render it


@dataclass(frozen=True)
class SingleView:
    inputs: SingleInputs
    results: SingleResults


def single_view(texts: Texts, classes: Sequence[Emotion], defaults: AnalysisOptions) -> SingleView:
    with gr.Row():
        with gr.Column():
            inputs = _single_inputs(texts, classes, defaults)
        with gr.Column():
            results = SingleResults(
                **_score_parts(texts),
                **_long_parts(texts),
                **_timeline_parts(texts),
                **_run_parts(texts),
            )
    return SingleView(inputs, results)


def _single_inputs(
    texts: Texts, classes: Sequence[Emotion], defaults: AnalysisOptions
) -> SingleInputs:
    lang0 = texts.lang
    audio = texts.label(
        gr.Audio(sources=["upload", "microphone"], type="filepath", label=t("audio", lang0),
                 elem_id="audio-input"),
        "audio",
    )  # fmt: skip
    options = options_column(texts, "", classes, defaults, smooth=True)
    with gr.Row():
        analyze = gr.Button(
            t("analyze", lang0), variant="primary", interactive=False, elem_id="analyze"
        )
        clear = texts.value(gr.Button(t("clear", lang0), elem_id="clear"), "clear")
    examples = gr.Examples(
        [[p] for p in example_clips()],
        [audio],
        label=t("examples", lang0),
        api_visibility="private",
    )
    texts.label(examples.dataset, "examples")
    return SingleInputs(audio, options, analyze, clear, examples)


def _score_parts(texts: Texts) -> dict[str, Component]:
    """The emotion card and the score bars."""
    return {
        "card": gr.HTML(elem_id="emotion-card"),
        "bars": gr.HTML(elem_id="score-bars"),  # titled in its own HTML, in the page's language
    }  # fmt: skip


def _long_parts(texts: Texts) -> dict[str, Component]:
    """A long recording's segments: summary, strip, scores over time and the table."""
    lang0 = texts.lang
    with gr.Group(visible=False, elem_id="long-view") as long:
        summary = gr.Markdown(elem_id="segment-summary")
        strip = gr.HTML(elem_id="segment-strip")
        segment_plot = gr.Plot(
            label=t("segment_scores", lang0), elem_id="segment-plot", elem_classes="e2v-plot"
        )  # labelled by each result: with a channel's name when split
        channel_plots = tuple(
            gr.Plot(visible=False, elem_id=f"segment-plot-{i + 2}", elem_classes="e2v-plot")
            for i in range(CHANNEL_PLOTS - 1)
        )
        segments = texts.label(
            gr.Dataframe(label=t("segment_table", lang0), interactive=False,
                         elem_id="segment-table", max_height=320, wrap=True),
            "segment_table",
        )  # fmt: skip
    return {
        "long": long,
        "summary": summary,
        "strip": strip,
        "segment_plot": segment_plot,
        "channel_plots": channel_plots,
        "segments": segments,
    }


def _timeline_parts(texts: Texts) -> dict[str, Component]:
    """Frame granularity's timeline and the note under it."""
    return {
        "timeline": texts.label(
            gr.Plot(label=t("timeline", texts.lang), visible=False, elem_id="timeline"),
            "timeline",
        ),
        "timeline_note": texts.value(
            gr.Markdown(t("timeline_note", texts.lang), visible=False), "timeline_note"
        ),
    }  # fmt: skip


def _run_parts(texts: Texts) -> dict[str, Component]:
    """The result JSON, the run folder's files and the processing log."""
    lang0 = texts.lang
    return {
        "json": texts.label(gr.JSON(label=t("json", lang0), elem_id="result-json"), "json"),
        "downloads": texts.label(
            gr.File(label=t("downloads", lang0), file_count="multiple", interactive=False,
                    elem_id="downloads"),
            "downloads",
        ),
        "log": texts.label(
            gr.Textbox(label=t("log", lang0), lines=6, interactive=False,
                       elem_id="processing-log"),
            "log",
        ),
        "code": _code_part(texts),
        "shown": gr.State(None),
    }  # fmt: skip


def _code_part(texts: Texts) -> gr.Code:
    """Folded: the current analysis as code, with the Code component's own copy button."""
    with texts.label(gr.Accordion(t("code", texts.lang), open=False), "code"):
        return gr.Code(language="python", interactive=False, elem_id="analysis-code")


# --- the batch tab -------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchView:
    files: gr.File
    options: Options
    analyze: gr.Button
    summary: gr.HTML  # how many failed, and each failed file's whole reason
    table: gr.Dataframe
    downloads: gr.File
    json: gr.JSON


def batch_view(texts: Texts, classes: Sequence[Emotion], defaults: AnalysisOptions) -> BatchView:
    lang0 = texts.lang
    with gr.Row():
        with gr.Column():
            files = texts.label(
                gr.File(file_count="multiple", file_types=BATCH_FILE_TYPES, type="filepath",
                        label=t("batch_files", lang0), elem_id="batch-files"),
                "batch_files",
            )  # fmt: skip
            options = options_column(texts, "batch-", classes, defaults, smooth=False)
            analyze = gr.Button(
                t("analyze_all", lang0), variant="primary", interactive=False,
                elem_id="analyze-batch",
            )  # fmt: skip
        with gr.Column():
            summary, table, downloads, json = _batch_results(texts)
    return BatchView(files, options, analyze, summary, table, downloads, json)


def _batch_results(texts: Texts) -> tuple[gr.HTML, gr.Dataframe, gr.File, gr.JSON]:
    """The failures, the results table (both shown once a batch ran), results.csv and
    runs.zip, and the results' JSON (folded)."""
    lang0 = texts.lang
    summary = gr.HTML(visible=False, elem_id="batch-summary")
    table = texts.label(
        gr.Dataframe(label=t("batch_table", lang0), interactive=False, elem_id="batch-table",
                     max_height=480, visible=False),
        "batch_table",
    )  # fmt: skip
    downloads = texts.label(
        gr.File(label=t("batch_downloads", lang0), file_count="multiple", interactive=False,
                elem_id="batch-downloads"),
        "batch_downloads",
    )  # fmt: skip
    with gr.Accordion(t("batch_json", lang0), open=False) as accordion:
        json = gr.JSON(elem_id="batch-json")
    texts.label(accordion, "batch_json")
    return summary, table, downloads, json


# --- the evaluate tab ------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalInputs:
    files: gr.File  # a .zip of class folders, or audio files and one manifest
    label_map: gr.Textbox
    emotions: gr.CheckboxGroup
    train: gr.Checkbox
    folds: gr.Number
    run: gr.Button


@dataclass(frozen=True)
class EvalResults:
    """What an evaluation shows; `handlers.evaluation_outputs` fills each by name."""

    card: gr.HTML  # the demo note, n, WA, UA, macro-F1, the per-class table, the head's CV
    skipped: gr.HTML  # every file left out, and why
    heatmap: gr.Image  # the confusion matrix, as confusion.png draws it
    misclassified: gr.Dataframe
    downloads: gr.File
    json: gr.JSON  # the report: /evaluate's first output


@dataclass(frozen=True)
class EvalView:
    inputs: EvalInputs
    results: EvalResults


def evaluate_view(texts: Texts, classes: Sequence[Emotion]) -> EvalView:
    texts.value(gr.Markdown(t("eval_intro", texts.lang)), "eval_intro")
    with gr.Row():
        with gr.Column():
            inputs = _eval_inputs(texts, classes)
        with gr.Column():
            results = _eval_results(texts)
    return EvalView(inputs, results)


def _eval_inputs(texts: Texts, classes: Sequence[Emotion]) -> EvalInputs:
    lang0 = texts.lang
    files = texts.label(
        gr.File(file_count="multiple", file_types=EVAL_FILE_TYPES, type="filepath",
                label=t("eval_files", lang0), elem_id="eval-files"),
        "eval_files",
    )  # fmt: skip
    label_map = texts.words(
        gr.Textbox(label=t("label_map", lang0), placeholder=t("label_map_placeholder", lang0),
                   info=t("label_map_info", lang0), elem_id="eval-label-map"),
        label="label_map", placeholder="label_map_placeholder", info="label_map_info",
    )  # fmt: skip
    with advanced(texts, "eval-"):
        emotions = emotion_choice(texts, "eval-", classes)
    with gr.Row():
        train = texts.label(
            gr.Checkbox(False, label=t("train_head", lang0), elem_id="eval-train"), "train_head"
        )
        folds = texts.label(
            gr.Number(DEFAULT_FOLDS, precision=0, minimum=2, maximum=20, label=t("folds", lang0),
                      elem_id="eval-folds", min_width=120),
            "folds",
        )  # fmt: skip
    run = gr.Button(t("run_eval", lang0), variant="primary", interactive=False, elem_id="eval-run")
    return EvalInputs(files, label_map, emotions, train, folds, run)


def _eval_results(texts: Texts) -> EvalResults:
    lang0 = texts.lang
    card = gr.HTML(elem_id="eval-card")
    skipped = gr.HTML(visible=False, elem_id="eval-skipped")
    heatmap = texts.label(
        gr.Image(type="filepath", interactive=False, label=t("confusion", lang0), visible=False,
                 buttons=["download", "fullscreen"], elem_id="eval-heatmap"),
        "confusion",
    )  # fmt: skip
    misclassified = texts.label(
        gr.Dataframe(label=t("misclassified", lang0), interactive=False, visible=False,
                     elem_id="eval-misclassified", max_height=360, wrap=True),
        "misclassified",
    )  # fmt: skip
    downloads = texts.label(
        gr.File(label=t("eval_downloads", lang0), file_count="multiple", interactive=False,
                elem_id="eval-downloads"),
        "eval_downloads",
    )  # fmt: skip
    with texts.label(gr.Accordion(t("eval_json", lang0), open=False), "eval_json"):
        json = gr.JSON(elem_id="eval-json")
    return EvalResults(card, skipped, heatmap, misclassified, downloads, json)


# --- the live tab ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveShown:
    """What each chunk of the microphone updates (live.live_outputs fills each by name)."""

    card: gr.HTML  # the newest window's emotion, or no speech
    stats: gr.HTML  # updates, the achieved hop, latency p50/p95, windows skipped
    strip: gr.HTML  # the last minute, a block per stretch of one emotion
    plot: gr.Plot  # the last minute's scores


@dataclass(frozen=True)
class LiveResult:
    """The whole recording's analysis at Stop: its card and files, and a way to the rest of
    it (segments, JSON, log) in the single view, which shows it too."""

    box: gr.Column
    card: gr.HTML
    downloads: gr.File
    open: gr.Button


@dataclass(frozen=True)
class LiveView:
    audio: gr.Audio  # the microphone, streaming
    window: gr.Slider
    hop: gr.Slider
    settings: gr.HTML  # what the window and hop do, or why they cannot be used
    embedding: gr.Checkbox  # for the analysis at Stop
    shown: LiveShown
    result: LiveResult


def live_view(texts: Texts) -> LiveView:
    """The microphone, the live card right under it (a phone shows them together), then
    the settings; beside them the last minute, and the analysis at Stop."""
    lang0 = texts.lang
    texts.value(gr.Markdown(t("live_intro", lang0)), "live_intro")
    with gr.Row():
        with gr.Column():
            audio = texts.label(
                gr.Audio(sources=["microphone"], streaming=True, type="numpy",
                         label=t("live_audio", lang0), elem_id="live-audio"),
                "live_audio",
            )  # fmt: skip
            card = gr.HTML(live_render.card_html(None, lang0), elem_id="live-card")
            stats = gr.HTML(elem_id="live-stats")
            window, hop, settings, embedding = _live_settings(texts)
        with gr.Column():
            strip = gr.HTML(elem_id="live-strip")
            plot = texts.label(
                gr.Plot(label=t("live_plot", lang0), elem_id="live-plot", elem_classes="e2v-plot",
                        visible=False),
                "live_plot",
            )  # fmt: skip
            result = _live_result(texts)
    shown = LiveShown(card, stats, strip, plot)
    return LiveView(audio, window, hop, settings, embedding, shown, result)


def _live_settings(texts: Texts) -> tuple[gr.Slider, gr.Slider, gr.HTML, gr.Checkbox]:
    """The window and the hop, the note on what they do, and the embedding for Stop."""
    lang0 = texts.lang
    window = texts.label(
        gr.Slider(*WINDOW_RANGE_S, value=DEFAULT_WINDOW_S, step=0.5,
                  label=t("live_window", lang0), elem_id="live-window"),
        "live_window",
    )  # fmt: skip
    hop = texts.label(
        gr.Slider(MIN_HOP_S, MAX_HOP_S, value=DEFAULT_HOP_S, step=0.1,
                  label=t("live_hop", lang0), elem_id="live-hop"),
        "live_hop",
    )  # fmt: skip
    settings = gr.HTML(
        live_render.settings_html(DEFAULT_WINDOW_S, DEFAULT_HOP_S, lang0), elem_id="live-settings"
    )
    embedding = texts.label(
        gr.Checkbox(False, label=t("embedding", lang0), elem_id="live-embedding"), "embedding"
    )
    return window, hop, settings, embedding


def _live_result(texts: Texts) -> LiveResult:
    """Hidden until Stop: the whole recording's card, its files, the way to the rest."""
    lang0 = texts.lang
    with gr.Column(visible=False, elem_id="live-result") as box:
        texts.value(gr.Markdown(t("live_result", lang0)), "live_result")
        return LiveResult(
            box,
            gr.HTML(elem_id="live-result-card"),
            texts.label(
                gr.File(label=t("downloads", lang0), file_count="multiple", interactive=False,
                        elem_id="live-downloads"),
                "downloads",
            ),
            texts.value(
                gr.Button(t("live_open_result", lang0), elem_id="live-open-result"),
                "live_open_result",
            ),
        )  # fmt: skip


# --- the tabs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageTabs:
    tabs: gr.Tabs  # selected="single" shows the single view (the Live tab's Stop fills it)
    single: SingleView
    live: LiveView
    batch: BatchView
    evaluate: EvalView


def tabs(
    texts: Texts,
    classes: Sequence[Emotion] = EMOTIONS,
    defaults: AnalysisOptions | None = None,
) -> PageTabs:
    """One recording, live, a batch, and an evaluation; `classes` are those the engine
    scores. Tabs too wide for a phone wrap: a "more" menu would hide the Evaluate tab, and
    keeps a hidden copy of the labels that follows a change of language a moment late."""
    with gr.Tabs(overflow_behavior="wrap", elem_id="tabs") as all_tabs:
        with gr.Tab(t("tab_single", texts.lang), id="single") as single_tab:
            single = single_view(texts, classes, defaults or AnalysisOptions())
        with gr.Tab(t("tab_live", texts.lang), id="live", elem_id="live-tab") as live_tab:
            live = live_view(texts)
        with gr.Tab(t("tab_batch", texts.lang), id="batch") as batch_tab:
            batch = batch_view(texts, classes, defaults or AnalysisOptions())
        with gr.Tab(t("tab_evaluate", texts.lang), id="evaluate") as evaluate_tab:
            evaluate = evaluate_view(texts, classes)
    texts.label(single_tab, "tab_single")
    texts.label(live_tab, "tab_live")
    texts.label(batch_tab, "tab_batch")
    texts.label(evaluate_tab, "tab_evaluate")
    return PageTabs(all_tabs, single, live, batch, evaluate)
