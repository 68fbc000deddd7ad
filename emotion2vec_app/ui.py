"""The Gradio Blocks WebUI and its client API (/status, /analyze, /analyze_batch).

The page is served before the model is ready: a gr.Timer polls the engine, shows the
loading state and enables analysis once the model is loaded. Two tabs: one recording (with
a segment timeline for long ones) and a batch of many files.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from emotion2vec_app import ui_render as render
from emotion2vec_app.batch import AUDIO_SUFFIXES
from emotion2vec_app.outputs import Retention, default_output_root
from emotion2vec_app.server import EXAMPLES
from emotion2vec_app.ui_handlers import Handlers
from emotion2vec_app.ui_text import LANGUAGES, browser_language, t

if TYPE_CHECKING:
    from emotion2vec_app.remote_engine import AnyEngine

STATUS_POLL_S = 1.0
ANALYSIS_CONCURRENCY = 4  # decoding overlaps; the engine runs one forward pass at a time
BATCH_CONCURRENCY = 2  # a batch holds its worker for minutes; single analyses keep theirs
# Gradio refuses a whole batch when one file's type is not allowed, and its "audio" goes by
# mimetype, which calls .webm (browser recordings) and .mp4 video: name our suffixes too.
BATCH_FILE_TYPES = ["audio", *sorted(AUDIO_SUFFIXES)]

CSS = """
.e2v-card {display:flex; align-items:center; gap:1rem; padding:0.8rem 1rem;
  border-radius:12px; border-left:8px solid var(--e2v-colour, #999);
  background:var(--block-background-fill);}
.e2v-emoji {font-size:3rem; line-height:1;}
.e2v-label {font-size:1.5rem; font-weight:600;}
.e2v-status {padding:0.5rem 0.8rem; border-radius:8px; background:var(--block-background-fill);}
.e2v-status[data-state=failed] {color:#c0392b;}
.e2v-banner {padding:0.6rem 1rem; border-radius:8px; background:#fff3cd; color:#664d03;
  font-weight:600;}
.e2v-strip {position:relative; height:28px; border-radius:6px; overflow:hidden;
  background:var(--block-background-fill); border:1px solid var(--border-color-primary);}
.e2v-seg {position:absolute; top:0; bottom:0; min-width:1px;}
.e2v-strip-axis {display:flex; justify-content:space-between; font-size:0.8rem; opacity:0.7;}
.e2v-legend {display:inline-block; margin-right:0.8rem; padding-left:0.3rem;
  border-left:12px solid var(--e2v-colour);}
/* A gr.Group sets its children's border to none, but a plot's inline border-style: solid
   brings back a 3px border in the text colour: give it no width. */
#segment-plot {border-width:0;}
#segment-summary {padding:0.4rem 0.8rem;}
"""


def example_clips() -> list[str]:
    return sorted(str(p) for p in EXAMPLES.iterdir() if p.name.endswith((".wav", ".mp3", ".m4a")))


def granularity_choices(lang: str) -> list[tuple[str, str]]:
    return [(t("utterance", lang), "utterance"), (t("frame", lang), "frame")]


def segmentation_choices(lang: str) -> list[tuple[str, str]]:
    return [(t(f"seg_{key}", lang), key) for key in ("auto", "off", "vad", "fixed")]


class _Texts:
    """Components whose words change with the language: label, value or choices."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.updaters: dict[Any, Any] = {}  # component -> function(lang) -> gr.update

    def label(self, component: Any, key: str) -> Any:
        self.updaters[component] = lambda lang: gr.update(label=t(key, lang))
        return component

    def value(self, component: Any, key: str, wrap: str = "{}") -> Any:
        self.updaters[component] = lambda lang: gr.update(value=wrap.format(t(key, lang)))
        return component

    def choices(self, component: Any, key: str, make: Any, info: str | None = None) -> Any:
        def update(lang: str) -> Any:
            extra = {"info": t(info, lang)} if info else {}
            return gr.update(label=t(key, lang), choices=make(lang), **extra)

        self.updaters[component] = update
        return component

    def relabel(self, lang: str) -> list:
        return [update(lang) for update in self.updaters.values()]


BANNER = '<div class="e2v-banner">{}</div>'


def build_ui(
    engine: AnyEngine, output_root: Path | None = None, retention: Retention | None = None
) -> gr.Blocks:
    """The WebUI; also registers the /status, /analyze and /analyze_batch API endpoints."""
    handlers = Handlers(engine, output_root or default_output_root(), retention)
    lang0 = "en"
    texts = _Texts(lang0)
    label, value = texts.label, texts.value
    # Gradio's upload cache is swept hourly of files older than a day.
    with gr.Blocks(title="emotion2vec+ WebUI", delete_cache=(3600, 86400)) as demo:
        with gr.Row():
            value(gr.Markdown(t("title", lang0)), "title")
            lang = gr.Radio(
                [(name, code) for code, name in LANGUAGES.items()],
                value=lang0, label=t("language", lang0), elem_id="language", scale=0,
                min_width=200,
            )  # fmt: skip
            label(lang, "language")
        value(gr.Markdown(t("subtitle", lang0)), "subtitle")
        banner = gr.HTML(
            BANNER.format(t("demo_banner", lang0)), visible=engine.status().demo,
            elem_id="demo-banner",
        )  # fmt: skip
        status = gr.HTML(render.status_html(engine, lang0), elem_id="model-status")
        retry = gr.Button(t("retry", lang0), visible=False, size="sm", elem_id="retry")
        with gr.Tabs():
            with gr.Tab(t("tab_single", lang0), id="single") as single_tab:
                single = _single_view(handlers, texts)
            with gr.Tab(t("tab_batch", lang0), id="batch") as batch_tab:
                batch = _batch_view(handlers, texts)
        label(single_tab, "tab_single")
        label(batch_tab, "tab_batch")
        timer = gr.Timer(STATUS_POLL_S)

        # The page's chores skip the queue, so a full queue never freezes the page;
        # gradio_client always queues, so /status waits its turn there, and plain GET /status
        # is the health check that always answers.
        gr.api(handlers.status, api_name="status")
        gr.api(
            handlers.analyze, api_name="analyze", concurrency_id="analysis",
            concurrency_limit=ANALYSIS_CONCURRENCY,
        )  # fmt: skip

        def poll(lang_code: str) -> tuple:
            status_now = engine.status()
            state = status_now.state.value
            ready = state == "ready"
            return (
                # A Ray Serve backend says which model it runs only once it answers.
                gr.update(
                    value=BANNER.format(t("demo_banner", lang_code)), visible=status_now.demo
                ),
                render.status_html(engine, lang_code),
                gr.update(value=t("analyze", lang_code), interactive=ready),
                gr.update(value=t("analyze_all", lang_code), interactive=ready),
                gr.Timer(active=state == "loading" or engine.watch_after_ready),
                gr.update(
                    value=t("retry_backend" if status_now.backend else "retry", lang_code),
                    visible=state == "failed",
                ),
            )

        private: dict[str, Any] = {"api_visibility": "private", "queue": False}  # page chores
        polled = [banner, status, single["analyze"], batch["analyze"], timer, retry]
        timer.tick(poll, lang, polled, show_progress="hidden", **private)

        def retry_load(lang_code: str) -> tuple:
            engine.retry()
            return poll(lang_code)

        retry.click(retry_load, lang, polled, **private)
        relabelled = list(texts.updaters)
        lang.change(
            lambda code: (*texts.relabel(code), *poll(code)),
            lang, [*relabelled, *polled], show_progress="hidden", **private,
        )  # fmt: skip

        def initial_language(request: gr.Request) -> str:
            return browser_language(request.headers.get("accept-language"))

        demo.load(initial_language, None, lang, show_progress="hidden", **private)
        # The status HTML was rendered when the page was built: refresh it on every visit.
        demo.load(poll, lang, polled, show_progress="hidden", **private)
        _wire_single(handlers, single, lang, private)
        _wire_batch(handlers, batch, lang, private)
    return demo


def _options_column(texts: _Texts, prefix: str, *, smooth: bool) -> dict[str, Any]:
    """Granularity, smoothing, embedding and segmentation, as both tabs offer them."""
    lang0 = texts.lang
    parts: dict[str, Any] = {}
    parts["granularity"] = texts.choices(
        gr.Radio(granularity_choices(lang0), value="utterance", label=t("granularity", lang0),
                 elem_id=f"{prefix}granularity"),
        "granularity", granularity_choices,
    )  # fmt: skip
    if smooth:
        parts["smooth"] = texts.label(
            gr.Slider(0, 2, value=0.5, step=0.1, label=t("smooth", lang0), visible=False,
                      elem_id=f"{prefix}smooth"),
            "smooth",
        )  # fmt: skip
    parts["embedding"] = texts.label(
        gr.Checkbox(False, label=t("embedding", lang0), elem_id=f"{prefix}embedding"), "embedding"
    )
    parts["segmentation"] = texts.choices(
        gr.Radio(segmentation_choices(lang0), value="auto", label=t("segmentation", lang0),
                 info=t("long_note", lang0), elem_id=f"{prefix}segmentation"),
        "segmentation", segmentation_choices, "long_note",
    )  # fmt: skip
    return parts


def _single_view(handlers: Handlers, texts: _Texts) -> dict[str, Any]:
    lang0 = texts.lang
    label, value = texts.label, texts.value
    view: dict[str, Any] = {}
    with gr.Row():
        with gr.Column():
            view["audio"] = label(
                gr.Audio(sources=["upload", "microphone"], type="filepath",
                         label=t("audio", lang0), elem_id="audio-input"),
                "audio",
            )  # fmt: skip
            view.update(_options_column(texts, "", smooth=True))
            with gr.Row():
                view["analyze"] = gr.Button(
                    t("analyze", lang0), variant="primary", interactive=False, elem_id="analyze"
                )
                view["clear"] = value(gr.Button(t("clear", lang0), elem_id="clear"), "clear")
            gr.Examples(
                [[p] for p in example_clips()],
                [view["audio"]],
                label=f"{t('examples', 'en')} / {t('examples', 'zh')}",
            )
        with gr.Column():
            view["card"] = gr.HTML(elem_id="emotion-card")
            view["bars"] = label(
                gr.BarPlot(x="emotion", y="score", color="emotion", color_map=render.COLOUR_MAP,
                           y_lim=[0, 1], label=t("scores", lang0), elem_id="score-bars",
                           height=260),
                "scores",
            )  # fmt: skip
            with gr.Group(visible=False, elem_id="long-view") as view["long"]:
                view["summary"] = gr.Markdown(elem_id="segment-summary")
                view["strip"] = gr.HTML(elem_id="segment-strip")
                view["segment_plot"] = label(
                    gr.LinePlot(x="time_s", y="probability", color="emotion",
                                color_map=render.COLOUR_MAP, y_lim=[0, 1],
                                label=t("segment_scores", lang0), elem_id="segment-plot"),
                    "segment_scores",
                )  # fmt: skip
                view["segments"] = label(
                    gr.Dataframe(label=t("segment_table", lang0), interactive=False,
                                 elem_id="segment-table", max_height=320),
                    "segment_table",
                )  # fmt: skip
            view["timeline"] = label(
                gr.LinePlot(x="time_s", y="probability", color="emotion",
                            color_map=render.COLOUR_MAP, y_lim=[0, 1], label=t("timeline", lang0),
                            visible=False, elem_id="timeline"),
                "timeline",
            )  # fmt: skip
            view["timeline_note"] = value(
                gr.Markdown(t("timeline_note", lang0), visible=False), "timeline_note"
            )
            view["json"] = label(gr.JSON(label=t("json", lang0), elem_id="result-json"), "json")
            view["downloads"] = label(
                gr.File(label=t("downloads", lang0), file_count="multiple", interactive=False,
                        elem_id="downloads"),
                "downloads",
            )  # fmt: skip
            view["log"] = label(
                gr.Textbox(label=t("log", lang0), lines=6, interactive=False,
                           elem_id="processing-log"),
                "log",
            )  # fmt: skip
    return view


SINGLE_OUTPUTS = ("card", "bars", "long", "summary", "strip", "segment_plot", "segments",
                  "timeline", "timeline_note", "json", "downloads", "log")  # fmt: skip


def _wire_single(handlers: Handlers, view: dict[str, Any], lang: Any, private: dict) -> None:
    view["granularity"].change(
        lambda g: gr.update(visible=g == "frame"), view["granularity"], view["smooth"], **private
    )
    outputs = [view[key] for key in SINGLE_OUTPUTS]
    view["analyze"].click(
        handlers.analyze_page,
        [view[k] for k in ("audio", "granularity", "smooth", "embedding", "segmentation")] + [lang],
        outputs,
        concurrency_id="analysis",
        concurrency_limit=ANALYSIS_CONCURRENCY,
        api_visibility="private",  # queued, unlike the page chores
    )
    empty = {
        "card": "", "bars": None, "long": gr.update(visible=False), "summary": "", "strip": "",
        "segment_plot": None, "segments": None, "timeline": gr.update(value=None, visible=False),
        "timeline_note": gr.update(visible=False), "json": None, "downloads": None, "log": "",
    }  # fmt: skip
    view["clear"].click(
        lambda: (None, *(empty[key] for key in SINGLE_OUTPUTS)),
        None,
        [view["audio"], *outputs],
        **private,
    )


def _batch_view(handlers: Handlers, texts: _Texts) -> dict[str, Any]:
    lang0 = texts.lang
    label = texts.label
    view: dict[str, Any] = {}
    with gr.Row():
        with gr.Column():
            view["files"] = label(
                gr.File(file_count="multiple", file_types=BATCH_FILE_TYPES, type="filepath",
                        label=t("batch_files", lang0), elem_id="batch-files"),
                "batch_files",
            )  # fmt: skip
            view.update(_options_column(texts, "batch-", smooth=False))
            view["analyze"] = gr.Button(
                t("analyze_all", lang0), variant="primary", interactive=False,
                elem_id="analyze-batch",
            )  # fmt: skip
        with gr.Column():
            view["table"] = label(
                gr.Dataframe(label=t("batch_table", lang0), interactive=False,
                             elem_id="batch-table", max_height=480),
                "batch_table",
            )  # fmt: skip
            view["downloads"] = label(
                gr.File(label=t("batch_downloads", lang0), file_count="multiple",
                        interactive=False, elem_id="batch-downloads"),
                "batch_downloads",
            )  # fmt: skip
            with gr.Accordion(t("batch_json", lang0), open=False) as accordion:
                view["json"] = gr.JSON(elem_id="batch-json")
            label(accordion, "batch_json")
    return view


def _wire_batch(handlers: Handlers, view: dict[str, Any], lang: Any, private: dict) -> None:
    # This button is also the public /analyze_batch endpoint: clients get its progress.
    view["analyze"].click(
        handlers.analyze_batch,
        [view[k] for k in ("files", "granularity", "embedding", "segmentation")],
        [view["json"], view["downloads"]],
        api_name="analyze_batch",
        concurrency_id="batch",
        concurrency_limit=BATCH_CONCURRENCY,
    ).success(render.batch_frame, [view["json"], lang], view["table"], **private)
