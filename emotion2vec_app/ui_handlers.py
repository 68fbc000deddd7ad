"""What the page and the client API call: options in, results and files out.

Every failure a user can cause or fix becomes a gr.Error with its specific message (the
client sees AppError); anything else is a bug and keeps its traceback in the server log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import gradio as gr
from gradio.data_classes import FileData

from emotion2vec_app import ui_render as render
from emotion2vec_app.audio import AudioError
from emotion2vec_app.batch import BatchInput, analyze_many
from emotion2vec_app.engine import (
    AnalysisOptions,
    ModelLoadFailed,
    ModelNotReady,
    OutOfMemory,
)
from emotion2vec_app.outputs import Retention, RunFolder, save_batch, try_save_run
from emotion2vec_app.results import Prediction
from emotion2vec_app.ui_text import t
from emotion2vec_app.writers import batch_record

if TYPE_CHECKING:
    from emotion2vec_app.remote_engine import AnyEngine

UI_WAIT_S = 30.0  # an analysis waits this long for a loading model before saying so
MAX_BATCH_FILES = 500
USER_ERRORS = (AudioError, ModelNotReady, ModelLoadFailed, OutOfMemory)


def user_error(key: str, **values: Any) -> gr.Error:
    """A gr.Error in both languages: the API has no language setting."""
    return gr.Error(
        f"{t(key, 'en').format(**values)} / {t(key, 'zh').format(**values)}",
        print_exception=False,
    )


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
        return [str(p) for p in self.run.files] if self.run else []


def _options(
    granularity: str, embedding: bool, smooth_s: float = 0.0, segmentation: str = "auto"
) -> AnalysisOptions:
    try:
        return AnalysisOptions(granularity, bool(embedding), smooth_s, segmentation)
    except ValueError as error:
        raise gr.Error(str(error), print_exception=False) from error


class Handlers:
    """One per page; shares the process's Engine."""

    def __init__(self, engine: AnyEngine, output_root: Path, retention: Retention | None) -> None:
        self.engine = engine
        self.output_root = output_root
        self.retention = retention

    def run(
        self,
        audio_path: str | None,
        name: str | None,
        options: AnalysisOptions,
        progress: Callable[[float, str], None] | None = None,
    ) -> Analysis:
        if not audio_path:
            raise user_error("no_audio")
        try:
            prediction = self.engine.analyze(
                audio_path, options, name=name, timeout=UI_WAIT_S, progress=progress
            )
        except USER_ERRORS as error:
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
        """Emotion of one recording: result dict (result.json) and the embedding .npy or None.

        Recordings longer than 30 s are cut into speech segments; the result then has
        "segments" rows and a "summary". (Its three inputs are a stable contract: raw HTTP
        callers send exactly three values. /analyze_batch also takes the segmentation.)
        """
        options = _options(granularity, extract_embedding)
        upload = audio or {}
        analysis = self.run(upload.get("path"), upload.get("orig_name"), options)
        embedding = analysis.embedding_file
        return analysis.result, FileData(path=str(embedding)) if embedding else None

    def analyze_batch(
        self,
        files: list[str] | None,
        granularity: str = "utterance",
        extract_embedding: bool = False,
        segmentation: str = "auto",
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (gradio's way to ask for progress)
    ) -> tuple[list[dict], list[str]]:
        """Several recordings: one result per file (or its error), and results.csv + runs.zip."""
        options = _options(granularity, extract_embedding, segmentation=segmentation)
        if not files:
            raise user_error("no_files")
        if len(files) > MAX_BATCH_FILES:
            raise user_error("too_many_files", count=len(files), limit=MAX_BATCH_FILES)
        inputs = [BatchInput(Path(f), Path(f).name) for f in files]
        total, done = len(inputs), [0]

        def on_file(count: int, _: int, name: str) -> None:
            done[0] = count
            progress((count, total), desc=name, unit="files")

        def on_segment(fraction: float, message: str) -> None:
            progress((done[0] + fraction) / total, desc=f"{done[0] + 1}/{total} · {message}")

        progress((0, total), desc=t("starting", "en"), unit="files")
        results: list[dict] = []
        records: list[dict] = []
        runs: list[RunFolder] = []
        try:
            for item in analyze_many(
                self.engine, inputs, options, progress=on_file, segment_progress=on_segment
            ):
                if item.prediction is None:
                    results.append({"file": item.name, "error": item.error})
                    records.append(batch_record(item.name, None, item.error))
                    continue
                run = try_save_run(item.prediction, self.output_root, self.retention)
                runs += [run] if run else []
                result = run.result if run else item.prediction.to_json()
                results.append({"file": item.name, **result})
                records.append(batch_record(item.name, result, None))
        except (ModelNotReady, ModelLoadFailed) as error:
            raise gr.Error(str(error), print_exception=False) from error
        table, archive = save_batch(self.output_root, records, runs)
        return results, [str(table), str(archive)]

    def analyze_page(
        self,
        audio_path: str | None,
        granularity: str,
        smooth_s: float,
        embedding: bool,
        segmentation: str,
        lang: str,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple:
        options = _options(
            granularity, embedding, smooth_s if granularity == "frame" else 0, segmentation
        )
        analysis = self.run(
            audio_path, None, options, lambda fraction, message: progress(fraction, desc=message)
        )
        return page_outputs(analysis, lang)


def page_outputs(analysis: Analysis, lang: str) -> tuple:
    """Updates for the single-recording view, in build_ui's order of `single_outputs`."""
    prediction = analysis.prediction
    shown = dict(analysis.result)
    if "frames" in shown:
        shown["frames"] = t("frames_in_file", lang)
    timeline = prediction.segments
    if timeline is not None:
        shown["segments"] = t("segments_in_file", lang)
    has_frames = prediction.frames is not None
    duration = prediction.audio.duration_s
    bars = render.scores_frame(prediction, lang)
    return (
        render.card_html(prediction, lang),
        gr.update(
            value=bars,
            sort=list(bars["emotion"]),  # the model's label order, not alphabetical
            x_title=t("emotion_axis", lang),
            y_title=t("score_axis", lang),
        ),
        gr.update(visible=timeline is not None),
        render.summary_markdown(timeline, duration, lang) if timeline else "",
        render.segment_strip_html(timeline, duration, lang) if timeline else "",
        gr.update(
            value=render.segment_timeline_frame(timeline, lang) if timeline else None,
            x_title=t("time_axis", lang),
            y_title=t("score_axis", lang),
            color_title=t("emotion_axis", lang),
        ),
        render.segment_frame(timeline, lang) if timeline else None,
        gr.update(
            value=render.timeline_frame(prediction, lang) if has_frames else None,
            visible=has_frames,
            x_title=t("time_axis", lang),
            y_title=t("score_axis", lang),
            color_title=t("emotion_axis", lang),
        ),
        gr.update(visible=has_frames),
        shown,
        analysis.downloads,
        render.processing_log(prediction, analysis.run),
    )
