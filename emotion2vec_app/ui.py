"""The Gradio Blocks WebUI and its client API (/status, /analyze) over one Engine.

The page is served before the model is ready: a gr.Timer polls the engine, shows the
loading state and enables analysis once the model is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import gradio as gr
import pandas as pd
from gradio.data_classes import FileData

from emotion2vec_app.audio import AudioError
from emotion2vec_app.engine import (
    AnalysisOptions,
    Engine,
    ModelLoadFailed,
    ModelNotReady,
    OutOfMemory,
)
from emotion2vec_app.labels import EMOTIONS, Emotion
from emotion2vec_app.outputs import Retention, RunFolder, default_output_root, try_save_run
from emotion2vec_app.results import Prediction
from emotion2vec_app.server import EXAMPLES
from emotion2vec_app.ui_text import LANGUAGES, STATE_KEYS, browser_language, t

TIMELINE_POINTS = 600  # per emotion: enough for the eye, light for the browser
STATUS_POLL_S = 1.0
UI_WAIT_S = 30.0  # an analysis waits this long for a loading model before saying so

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
"""


def example_clips() -> list[str]:
    return sorted(str(p) for p in EXAMPLES.iterdir() if p.name.endswith((".wav", ".mp3", ".m4a")))


def emotion_label(emotion: Emotion, lang: str) -> str:
    return f"{emotion.emoji} {emotion.zh if lang == 'zh' else emotion.en}"


COLOUR_MAP = {emotion_label(e, lang): e.colour for e in EMOTIONS for lang in LANGUAGES}


def status_html(engine: Engine, lang: str) -> str:
    status = engine.status()
    state = status.state.value
    details = f"{status.model} · {status.device} · {status.dtype}"
    if state == "loading":
        details += f" · {status.elapsed_s:.0f} s"
    elif status.load_seconds is not None:
        details += f" · {status.load_seconds:.1f} s"
    body = f"<b>{t(STATE_KEYS[state], lang)}</b> — {details}"
    if status.error:
        body += f"<br>{_escape(status.error)}<br>{t('failed_hint', lang)}"
    return f'<div class="e2v-status" data-state="{state}">{body}</div>'


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def card_html(prediction: Prediction, lang: str) -> str:
    top = prediction.emotion
    names = f"{top.zh} · {top.en}" if lang == "zh" else f"{top.en} · {top.zh}"
    return (
        f'<div class="e2v-card" data-emotion="{top.key}" style="--e2v-colour:{top.colour}">'
        f'<div class="e2v-emoji">{top.emoji}</div><div><div class="e2v-label">{names}</div>'
        f"<div>{t('confidence', lang)} {prediction.confidence:.1%}</div></div></div>"
    )


def scores_frame(prediction: Prediction, lang: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "emotion": [emotion_label(e, lang) for e in prediction.emotions],
            "score": [float(p) for p in prediction.probs],
        }
    )


def timeline_frame(prediction: Prediction, lang: str) -> pd.DataFrame:
    frames = prediction.frames
    stride = max(1, -(-len(frames.probs) // TIMELINE_POINTS))
    times = frames.start_s[::stride]
    return pd.DataFrame(
        [
            {"time_s": round(float(time), 2), "probability": float(p), "emotion": label}
            for i, emotion in enumerate(frames.emotions)
            for label in [emotion_label(emotion, lang)]
            for time, p in zip(times, frames.probs[::stride, i], strict=True)
        ]
    )


def processing_log(prediction: Prediction, run: RunFolder | None) -> str:
    info, timings, model = prediction.audio, prediction.timings_ms, prediction.model
    lines = [
        f"file: {info.name} ({info.format}, {info.sample_rate} Hz, {info.channels} ch, "
        f"{info.duration_s:.2f} s)",
        f"decode {timings['decode']:.1f} ms | inference {timings['inference']:.1f} ms | "
        f"total {timings['total']:.1f} ms",
        f"model: {model.id}{' (demo, random weights)' if model.demo else ''} on {model.device} "
        f"({model.dtype})",
        f"run folder: {run.path if run else 'not written (see the warning)'}",
    ]
    lines += [f"warning: {w}" for w in prediction.warnings]
    return "\n".join(lines)


@dataclass
class Analysis:
    prediction: Prediction
    run: RunFolder | None  # None when the disk refused it (full, read-only)
    result: dict

    @property
    def embedding_file(self) -> Path | None:
        return self.run.embedding_file if self.run else None

    @property
    def downloads(self) -> list[str]:
        if self.run is None:
            return []
        return [str(p) for p in (self.run.result_file, self.run.embedding_file) if p]


class Handlers:
    """What the page and the API call; each maps user-facing failures to gr.Error."""

    def __init__(self, engine: Engine, output_root: Path, retention: Retention | None) -> None:
        self.engine = engine
        self.output_root = output_root
        self.retention = retention

    def run(self, audio_path: str | None, name: str | None, options: AnalysisOptions) -> Analysis:
        if not audio_path:
            raise gr.Error(f"{t('no_audio', 'en')} / {t('no_audio', 'zh')}", print_exception=False)
        try:
            prediction = self.engine.analyze(audio_path, options, name=name, timeout=UI_WAIT_S)
        except (AudioError, ModelNotReady, ModelLoadFailed, OutOfMemory) as error:
            raise gr.Error(str(error), print_exception=False) from error
        run = try_save_run(prediction, self.output_root, self.retention)
        return Analysis(prediction, run, run.result if run else prediction.to_json())

    def status(self) -> dict:
        """Model state: loading, ready or failed, with model, device, dtype, load time, error."""
        return self.engine.status().to_json()

    def analyze(
        self,
        audio: FileData,
        granularity: Literal["utterance", "frame"] = "utterance",
        extract_embedding: bool = False,
    ) -> tuple[dict, FileData | None]:
        """Emotion of one audio file: result dict (result.json) and the embedding .npy or None."""
        try:
            options = AnalysisOptions(granularity, bool(extract_embedding))
        except ValueError as error:
            raise gr.Error(str(error), print_exception=False) from error
        upload = audio or {}
        analysis = self.run(upload.get("path"), upload.get("orig_name"), options)
        embedding = analysis.embedding_file
        return analysis.result, FileData(path=str(embedding)) if embedding else None

    def analyze_page(
        self, audio_path: str | None, granularity: str, smooth_s: float, embedding: bool, lang: str
    ) -> tuple:
        try:
            options = AnalysisOptions(
                granularity, embedding, smooth_s if granularity == "frame" else 0
            )
        except ValueError as error:
            raise gr.Error(str(error), print_exception=False) from error
        analysis = self.run(audio_path, None, options)
        prediction = analysis.prediction
        shown = dict(analysis.result)
        if "frames" in shown:
            shown["frames"] = t("frames_in_file", lang)
        has_frames = prediction.frames is not None
        bars = scores_frame(prediction, lang)
        return (
            card_html(prediction, lang),
            gr.update(
                value=bars,
                sort=list(bars["emotion"]),  # the model's label order, not alphabetical
                x_title=t("emotion_axis", lang),
                y_title=t("score_axis", lang),
            ),
            gr.update(
                value=timeline_frame(prediction, lang) if has_frames else None,
                visible=has_frames,
                x_title=t("time_axis", lang),
                y_title=t("score_axis", lang),
                color_title=t("emotion_axis", lang),
            ),
            gr.update(visible=has_frames),
            shown,
            analysis.downloads,
            processing_log(prediction, analysis.run),
        )


def build_ui(
    engine: Engine, output_root: Path | None = None, retention: Retention | None = None
) -> gr.Blocks:
    """The WebUI; also registers the /status and /analyze API endpoints."""
    handlers = Handlers(engine, output_root or default_output_root(), retention)
    lang0 = "en"
    # Gradio's upload cache is swept hourly of files older than a day.
    with gr.Blocks(title="emotion2vec+ WebUI", delete_cache=(3600, 86400)) as demo:
        with gr.Row():
            title = gr.Markdown(t("title", lang0))
            lang = gr.Radio(
                [(name, code) for code, name in LANGUAGES.items()],
                value=lang0,
                label=t("language", lang0),
                elem_id="language",
                scale=0,
                min_width=200,
            )
        subtitle = gr.Markdown(t("subtitle", lang0))
        banner = gr.HTML(
            f'<div class="e2v-banner">{t("demo_banner", lang0)}</div>',
            visible=engine.status().demo,
            elem_id="demo-banner",
        )
        status = gr.HTML(status_html(engine, lang0), elem_id="model-status")
        retry = gr.Button(t("retry", lang0), visible=False, size="sm", elem_id="retry")
        with gr.Row():
            with gr.Column():
                audio = gr.Audio(
                    sources=["upload", "microphone"],
                    type="filepath",
                    label=t("audio", lang0),
                    elem_id="audio-input",
                )
                granularity = gr.Radio(
                    [(t("utterance", lang0), "utterance"), (t("frame", lang0), "frame")],
                    value="utterance",
                    label=t("granularity", lang0),
                    elem_id="granularity",
                )
                smooth = gr.Slider(
                    0, 2, value=0.5, step=0.1, label=t("smooth", lang0), visible=False,
                    elem_id="smooth",
                )  # fmt: skip
                embedding = gr.Checkbox(False, label=t("embedding", lang0), elem_id="embedding")
                with gr.Row():
                    analyze = gr.Button(
                        t("analyze", lang0), variant="primary", interactive=False, elem_id="analyze"
                    )
                    clear = gr.Button(t("clear", lang0), elem_id="clear")
                gr.Examples(
                    [[p] for p in example_clips()],
                    [audio],
                    label=f"{t('examples', 'en')} / {t('examples', 'zh')}",
                )
            with gr.Column():
                card = gr.HTML(elem_id="emotion-card")
                bars = gr.BarPlot(
                    x="emotion", y="score", color="emotion", color_map=COLOUR_MAP, y_lim=[0, 1],
                    label=t("scores", lang0), elem_id="score-bars", height=260,
                )  # fmt: skip
                timeline = gr.LinePlot(
                    x="time_s", y="probability", color="emotion", color_map=COLOUR_MAP,
                    y_lim=[0, 1], label=t("timeline", lang0), visible=False, elem_id="timeline",
                )  # fmt: skip
                timeline_note = gr.Markdown(t("timeline_note", lang0), visible=False)
                result_json = gr.JSON(label=t("json", lang0), elem_id="result-json")
                downloads = gr.File(
                    label=t("downloads", lang0), file_count="multiple", interactive=False,
                    elem_id="downloads",
                )  # fmt: skip
                log_box = gr.Textbox(
                    label=t("log", lang0), lines=6, interactive=False, elem_id="processing-log"
                )
        timer = gr.Timer(STATUS_POLL_S)

        # Analyses queue: 4 at once (decoding overlaps; the engine runs one forward pass at a
        # time), 64 waiting, then "Queue is full". The page's chores skip the queue, so a full
        # queue never freezes the page; gradio_client always queues, so /status waits its turn
        # there, and plain GET /status is the health check that always answers.
        gr.api(handlers.status, api_name="status")
        gr.api(handlers.analyze, api_name="analyze", concurrency_id="analysis", concurrency_limit=4)

        def poll(lang_code: str) -> tuple:
            state = engine.status().state.value
            return (
                status_html(engine, lang_code),
                gr.update(value=t("analyze", lang_code), interactive=state == "ready"),
                gr.Timer(active=state == "loading"),
                gr.update(value=t("retry", lang_code), visible=state == "failed"),
            )

        private: dict[str, Any] = {"api_visibility": "private", "queue": False}  # page chores
        polled = [status, analyze, timer, retry]
        timer.tick(poll, lang, polled, show_progress="hidden", **private)

        def retry_load(lang_code: str) -> tuple:
            engine.retry()
            return poll(lang_code)

        retry.click(retry_load, lang, polled, **private)

        def relabel(lang_code: str) -> tuple:
            def label(key: str) -> dict:
                return gr.update(label=t(key, lang_code))

            return (
                gr.update(value=t("title", lang_code)),
                gr.update(value=t("subtitle", lang_code)),
                gr.update(value=f'<div class="e2v-banner">{t("demo_banner", lang_code)}</div>'),
                label("language"),
                label("audio"),
                gr.update(
                    label=t("granularity", lang_code),
                    choices=[
                        (t("utterance", lang_code), "utterance"),
                        (t("frame", lang_code), "frame"),
                    ],
                ),
                label("smooth"),
                label("embedding"),
                gr.update(value=t("clear", lang_code)),
                label("scores"),
                label("timeline"),
                gr.update(value=t("timeline_note", lang_code)),
                label("json"),
                label("downloads"),
                label("log"),
                *poll(lang_code),
            )

        lang.change(
            relabel,
            lang,
            [title, subtitle, banner, lang, audio, granularity, smooth, embedding, clear, bars,
             timeline, timeline_note, result_json, downloads, log_box, *polled],
            show_progress="hidden",
            **private,
        )  # fmt: skip

        def initial_language(request: gr.Request) -> str:
            return browser_language(request.headers.get("accept-language"))

        demo.load(initial_language, None, lang, show_progress="hidden", **private)
        # The status HTML was rendered when the page was built: refresh it on every visit.
        demo.load(poll, lang, polled, show_progress="hidden", **private)

        granularity.change(
            lambda g: gr.update(visible=g == "frame"), granularity, smooth, **private
        )
        analyze.click(
            handlers.analyze_page,
            [audio, granularity, smooth, embedding, lang],
            [card, bars, timeline, timeline_note, result_json, downloads, log_box],
            concurrency_id="analysis",
            concurrency_limit=4,
            api_visibility="private",  # queued, unlike the page chores
        )
        clear.click(
            lambda: (None, "", None, gr.update(value=None, visible=False),
                     gr.update(visible=False), None, None, ""),
            None,
            [audio, card, bars, timeline, timeline_note, result_json, downloads, log_box],
            **private,
        )  # fmt: skip
    return demo
