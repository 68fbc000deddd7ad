"""What the page and the client API call: options in, results and files out.

Every failure a user can cause or fix becomes a gr.Error with its specific message (the
client sees AppError); anything else is a bug and keeps its traceback in the server log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import gradio as gr
from gradio.components.plot import PlotData
from gradio.data_classes import FileData

from emotion2vec_app.audio import AudioError, Waveform
from emotion2vec_app.engine import ModelLoadFailed, ModelNotReady, OutOfMemory
from emotion2vec_app.engine.many_files import BatchInput, BatchItem, analyze_many
from emotion2vec_app.options import AnalysisOptions, parse_names
from emotion2vec_app.outputs import (
    Retention,
    RunFolder,
    prune_runs,
    save_batch,
    saved_result,
    try_rewrite_run,
    try_save_run,
)
from emotion2vec_app.progress import Progress
from emotion2vec_app.results import Prediction
from emotion2vec_app.ui import charts, eval_render, render
from emotion2vec_app.ui.evaluation import (
    DEFAULT_FOLDS,
    EvalRequest,
    EvaluationError,
    run_evaluation,
    shown_files,
)
from emotion2vec_app.ui.text import t
from emotion2vec_app.ui.uploads import UploadProblem
from emotion2vec_app.writers import FileRecord

if TYPE_CHECKING:
    from gradio.components import Component

    from emotion2vec_app.engine import AnalysisEngine
    from emotion2vec_app.ui.views import BatchView, EvalResults, SingleResults

DEFAULT_PAGE_URL = "http://127.0.0.1:7860/"
UI_WAIT_S = 30.0  # an analysis waits this long for a loading model before saying so
MAX_BATCH_FILES = 500
USER_ERRORS = (AudioError, ModelNotReady, ModelLoadFailed, OutOfMemory)


def both_languages(key: str, **values: Any) -> str:
    """A message in both languages: the API has no language setting."""
    return f"{t(key, 'en').format(**values)} / {t(key, 'zh').format(**values)}"


def user_error(key: str, **values: Any) -> gr.Error:
    return gr.Error(both_languages(key, **values), print_exception=False)


def batch_problem(files: list[str] | None) -> tuple[str, dict[str, Any]] | None:
    """Why a batch cannot start (a text key and its values), or None: asked by the endpoint,
    and by the page first, to say it in the page's language."""
    if not files:
        return "no_files", {}
    if len(files) > MAX_BATCH_FILES:
        return "too_many_files", {"count": len(files), "limit": MAX_BATCH_FILES}
    return None


def channel_problem(
    granularity: str, segmentation: str, channels: str, names: str | None
) -> tuple[str, dict[str, Any]] | None:
    """The page's own check of the channel options (as batch_problem's), in words it can
    say in its language: AnalysisOptions refuses the same in English."""
    if channels == "split" and granularity == "frame":
        return "split_frame", {}
    if channels == "split" and segmentation in ("off", "fixed"):
        return "split_segmentation", {}
    try:
        parse_names(names)
    except ValueError:
        return "channel_names_bad", {}
    return None


def subset_problem(emotions: list[str] | None) -> tuple[str, dict[str, Any]] | None:
    """The page's own check of the emotions checked (as batch_problem's): an API call that
    leaves them out scores every class, but a page with fewer than two checked asks for more."""
    return ("too_few_emotions", {}) if len(emotions or ()) < 2 else None


@dataclass
class Analysis:
    prediction: Prediction
    run: RunFolder | None  # None when the disk refused it (full, read-only)
    result: dict
    options: AnalysisOptions
    page_url: str = DEFAULT_PAGE_URL  # where the page was opened, for its API call snippet

    @property
    def embedding_file(self) -> Path | None:
        return self.run.embedding_file if self.run else None

    @property
    def downloads(self) -> list[str]:
        return [str(p) for p in self.run.files] if self.run else []


@dataclass(frozen=True)
class Failure:
    """A single analysis that failed: its error card, in whichever language is chosen."""

    name: str | None
    reason: str


Shown = Analysis | Failure | None  # what the single view shows now: kept to re-render it


def _options(
    granularity: str,
    embedding: bool,
    smooth_s: float = 0.0,
    segmentation: str = "auto",
    emotions: tuple[str, ...] | None = None,
    channels: str = "mix",
    channel_names: str | tuple[str, ...] | None = None,
) -> AnalysisOptions:
    try:
        return AnalysisOptions(
            granularity, bool(embedding), smooth_s, segmentation, emotions, channels,
            channel_names or None,
        )  # fmt: skip
    except ValueError as error:
        raise gr.Error(str(error), print_exception=False) from error


class Handlers:
    """One per page; shares the process's Engine."""

    def __init__(
        self,
        engine: AnalysisEngine,
        output_root: Path,
        retention: Retention | None,
        defaults: AnalysisOptions | None = None,
    ) -> None:
        self.engine = engine
        self.output_root = output_root
        self.retention = retention
        self.defaults = defaults or AnalysisOptions()  # serve --channels, --channel-names

    def run(
        self,
        audio: str | Waveform | None,
        name: str | None,
        options: AnalysisOptions,
        progress: Progress | None = None,
    ) -> Analysis:
        """One recording (a file, or the Live tab's whole recording) analysed and saved."""
        if not isinstance(audio, Waveform) and not audio:
            raise user_error("no_audio")
        try:
            prediction = self.engine.analyze(
                audio, options, name=name, timeout=UI_WAIT_S, progress=progress
            )
        except USER_ERRORS as error:
            raise gr.Error(str(error), print_exception=False) from error
        run = try_save_run(prediction, self.output_root, self.retention)
        return Analysis(prediction, run, saved_result(prediction, run), options)

    def subset(self, emotions: list[str] | None) -> tuple[str, ...] | None:
        """The emotions checked, as AnalysisOptions takes them: None when every class is
        checked, or none is (an API call that leaves them out)."""
        chosen = tuple(emotions or ())
        every = {emotion.key for emotion in self.engine.classes()}
        return None if not chosen or set(chosen) == every else chosen

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
        options = _options(
            granularity, extract_embedding, channels=self.defaults.channels,
            channel_names=self.defaults.channel_names,
        )  # fmt: skip
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
        emotions: list[str] | None = None,
        channels: Literal["mix", "split"] = "mix",
        channel_names: str | None = None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (gradio's way to ask for progress)
    ) -> tuple[list[dict], list[str]]:
        """Several recordings: one result per file (or its error), and results.csv + runs.zip.
        `emotions`: score only these (keys, or "angry,happy"); empty scores every class.
        `channels` "split": each channel of a stereo call its own speaker, named in order by
        `channel_names` ("agent,customer"); the result then has "channels"."""
        options = _options(
            granularity, extract_embedding, segmentation=segmentation,
            emotions=self.subset(emotions), channels=channels, channel_names=channel_names,
        )  # fmt: skip
        problem = batch_problem(files)
        if problem:
            raise user_error(problem[0], **problem[1])
        inputs = [BatchInput(Path(f), Path(f).name) for f in files]
        progress((0, len(inputs)), desc=t("starting", "en"), unit="files")
        records: list[FileRecord] = []
        runs: list[RunFolder] = []
        try:
            for item in analyze_many(
                self.engine,
                inputs,
                options,
                progress=lambda fraction, message: progress(fraction, desc=message),
            ):
                record, run = self._save(item)
                records.append(record)
                runs += [run] if run else []
        except (ModelNotReady, ModelLoadFailed) as error:
            raise gr.Error(str(error), print_exception=False) from error
        table, archive = save_batch(self.output_root, records, runs)
        return [r.document() for r in records], [str(table), str(archive)]

    def _save(self, item: BatchItem) -> tuple[FileRecord, RunFolder | None]:
        """A batch file's record, and its run folder when it has a result the disk took."""
        if item.prediction is None:
            return FileRecord(item.name, None, item.error), None
        run = try_save_run(item.prediction, self.output_root, self.retention)
        return FileRecord(item.name, saved_result(item.prediction, run)), run

    def analyze_page(
        self,
        audio: str | Waveform | None,
        granularity: str,
        smooth_s: float,
        embedding: bool,
        segmentation: str,
        progress: Progress,
        page_url: str | None = None,
        emotions: list[str] | None = None,
        channels: str = "mix",
        channel_names: str | None = None,
    ) -> Analysis:
        """The single view's analysis; smoothing applies to the frame timeline only."""
        smooth_s = smooth_s if granularity == "frame" else 0
        options = _options(
            granularity, embedding, smooth_s, segmentation, self.subset(emotions), channels,
            channel_names,
        )  # fmt: skip
        analysis = self.run(audio, None, options, progress)
        prediction = analysis.prediction.without_samples()
        return replace(analysis, prediction=prediction, page_url=page_url or DEFAULT_PAGE_URL)

    def resmooth(self, analysis: Analysis, smooth_s: float) -> Analysis:
        """The shown analysis under another smoothing: no forward pass, and its run folder's
        result.json and frames.csv rewritten to match what the chart shows."""
        shown = analysis.options  # the window is checked as an analysis's would be
        options = _options(
            shown.granularity, shown.extract_embedding, smooth_s, shown.segmentation,
            shown.emotions, shown.channels, shown.channel_names,
        )  # fmt: skip
        prediction = analysis.prediction
        prediction = replace(prediction, frames=prediction.frames.smoothed(options.smooth_s))
        run = try_rewrite_run(analysis.run, prediction) if analysis.run else None
        result = saved_result(prediction, run)
        return replace(analysis, prediction=prediction, run=run, result=result, options=options)

    def evaluate(
        self,
        files: list[str] | None,
        label_map: str | None = None,
        emotions: list[str] | None = None,
        train_head: bool = False,
        folds: float = DEFAULT_FOLDS,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (gradio's way to ask for progress)
    ) -> tuple[dict, list[str]]:
        """A labelled set (a .zip of class folders, or audio files and one path,label
        manifest) scored by the model: metrics.json's WA, UA, macro-F1, per class and
        confusion, with "training" (cv_wa, cv_ua, cv_macro_f1) when a head is trained too;
        and the files: metrics, tables, the heatmap, the head."""
        options = _options("utterance", False, emotions=self.subset(emotions))
        request = EvalRequest(label_map or "", options, int(folds) if train_head else None)
        progress(0, desc=t("starting", "en"))
        try:
            result = run_evaluation(
                self.engine, [Path(f) for f in files or ()], request, self.output_root,
                lambda fraction, message: progress(fraction, desc=message),
            )  # fmt: skip
        except UploadProblem as problem:
            raise _lasting_error(both_languages(problem.key, **problem.values)) from problem
        except (EvaluationError, ModelNotReady, ModelLoadFailed) as error:
            raise _lasting_error(str(error)) from error
        if self.retention is not None:
            prune_runs(self.output_root, self.retention)
        return result.report, [str(path) for path in result.files]


def _lasting_error(message: str) -> gr.Error:
    """An error that stays until closed: an evaluation's says what to fix in a whole set."""
    return gr.Error(message, duration=None, print_exception=False)


def plot(spec: dict[str, Any] | None) -> PlotData | None:
    """A Vega-Lite spec (charts.py) as gr.Plot draws it: with Altair's renderer."""
    return None if spec is None else PlotData(type="altair", plot=json.dumps(spec))


def page_outputs(view: SingleResults, analysis: Analysis, lang: str) -> dict[Component, Any]:
    """What the single view shows of an analysis, component by component."""
    prediction = analysis.prediction
    return {
        view.card: render.card_html(prediction, lang),
        view.bars: ""
        if render.is_silent(prediction)
        else render.score_bars_html(prediction.emotions, prediction.probs, lang),
        **_long_outputs(view, prediction, lang, _audio_urls(analysis.run)),
        **_timeline_outputs(view, prediction, lang),
        view.json: _shown_json(analysis, lang),
        view.downloads: analysis.downloads,
        view.log: render.processing_log(prediction, analysis.run, lang),
        view.code: render.code_snippet(prediction.audio.name, analysis.options, analysis.page_url),
        view.shown: analysis,
    }


def _audio_urls(run: RunFolder | None) -> list[str]:
    """The run's audio as the page fetches it (relative: the page may sit under a proxy's
    path), for the segment player: each split channel's own, else the processed audio."""
    if run is None:
        return []
    files = run.channel_files or (run.audio_file,)
    return [f"gradio_api/file={file.resolve()}" for file in files]


def _long_outputs(
    view: SingleResults, prediction: Prediction, lang: str, audio_urls: list[str] | None = None
) -> dict[Component, Any]:
    """The segment view: shown and filled for a segmented recording, else hidden and empty;
    a split recording's channels each get a strip and a chart, on the same time axis."""
    timeline = prediction.segments
    duration = prediction.audio.duration_s
    lanes = render.lanes_of(prediction, audio_urls or []) if timeline else []
    names = None
    if prediction.channels is not None and prediction.segment_channels is not None:
        by_index = {c.index: c.name for c in prediction.channels}
        names = [by_index[i] for i in prediction.segment_channels]
    return {
        view.long: gr.update(visible=timeline is not None),
        view.summary: (
            render.summary_markdown(timeline, duration, lang, prediction.channels)
            if timeline
            else ""
        ),
        view.strip: render.segment_strip_html(lanes, duration, lang) if timeline else "",
        **_plot_outputs((view.segment_plot, *view.channel_plots), lanes, duration, lang),
        view.segments: render.segment_frame(timeline, lang, names) if timeline else None,
    }


def _plot_outputs(
    plots: tuple[Component, ...], lanes: list[render.Lane], duration_s: float, lang: str
) -> dict[Component, Any]:
    """A score chart per lane, on the recording's time axis, labelled with its channel's
    name when split; the plots left over hidden."""
    updates: dict[Component, Any] = {}
    for i, shown in enumerate(plots):
        lane = lanes[i] if i < len(lanes) else None
        label = t("segment_scores", lang)
        if lane is not None and lane.name is not None:
            label = f"{label} · {lane.name}"
        chart = charts.segment_chart(lane.timeline, duration_s, lang) if lane else None
        updates[shown] = gr.update(value=plot(chart), label=label, visible=i == 0 or bool(lane))
    return updates


def _timeline_outputs(
    view: SingleResults, prediction: Prediction, lang: str
) -> dict[Component, Any]:
    """The frame timeline and its note: shown for frame granularity only."""
    frames = prediction.frames
    chart = charts.timeline_chart(frames, prediction.audio.duration_s, lang) if frames else None
    return {
        view.timeline: gr.update(value=plot(chart), visible=frames is not None),
        view.timeline_note: gr.update(visible=frames is not None),
    }


def _shown_json(analysis: Analysis, lang: str) -> dict:
    """result.json as the page shows it: frames and segments are too long, and said so; the
    run folder is named by its id, as a server path means nothing in a browser."""
    shown = dict(analysis.result)
    if "run_dir" in shown:
        shown["run_dir"] = Path(shown["run_dir"]).name
    if "frames" in shown:
        shown["frames"] = t("frames_in_file", lang)
    if analysis.prediction.segments is not None:
        shown["segments"] = t("segments_in_file", lang)
    if "channels" in shown:
        in_file = t("segments_in_file", lang)
        shown["channels"] = [{**channel, "segments": in_file} for channel in shown["channels"]]
    return shown


def error_outputs(
    view: SingleResults, name: str | None, reason: str, lang: str
) -> dict[Component, Any]:
    """A failed analysis: its error card where the result goes, and no old result left."""
    return {
        **cleared_outputs(view),
        view.card: render.error_card_html(name, reason, lang),
        view.shown: Failure(name, reason),
    }


def shown_outputs(view: SingleResults, shown: Shown, lang: str) -> dict[Component, Any]:
    """The single view afresh from what it shows: after a change of language."""
    if isinstance(shown, Analysis):
        return page_outputs(view, shown, lang)
    if isinstance(shown, Failure):
        return error_outputs(view, shown.name, shown.reason, lang)
    return cleared_outputs(view)


def smoothing_outputs(view: SingleResults, analysis: Analysis, lang: str) -> dict[Component, Any]:
    """What a new smoothing changes: the frame timeline, the JSON and the kept analysis."""
    return {
        **_timeline_outputs(view, analysis.prediction, lang),
        view.json: _shown_json(analysis, lang),
        view.shown: analysis,
    }


def batch_outputs(view: BatchView, results: list[dict], lang: str) -> dict[Component, Any]:
    """A finished batch: how many failed and why, over the table of every file."""
    return {
        view.summary: gr.update(value=render.batch_summary_html(results, lang), visible=True),
        view.table: gr.update(value=render.batch_frame(results, lang), visible=True),
    }


def cleared_outputs(view: SingleResults) -> dict[Component, Any]:
    """The single view with no result: everything empty, the optional parts hidden."""
    return {
        view.card: "",
        view.bars: "",
        view.long: gr.update(visible=False),
        view.summary: "",
        view.strip: "",
        view.segment_plot: None,
        **{shown: gr.update(value=None, visible=False) for shown in view.channel_plots},
        view.segments: None,
        view.timeline: gr.update(value=None, visible=False),
        view.timeline_note: gr.update(visible=False),
        view.json: None,
        view.downloads: None,
        view.log: "",
        view.code: "",
        view.shown: None,
    }


def evaluation_outputs(
    view: EvalResults, report: dict, files: list[str] | None, lang: str
) -> dict[Component, Any]:
    """A finished evaluation: its card, what was left out, the heatmap and the misclassified
    files (drawn from the report and its downloads: again after a change of language)."""
    shown = shown_files(files or [])
    skipped = report["skipped"]
    return {
        view.card: eval_render.metrics_card_html(report, lang),
        view.skipped: gr.update(
            value=eval_render.skipped_html(skipped, lang) if skipped else "", visible=bool(skipped)
        ),
        view.heatmap: gr.update(value=shown.heatmap, visible=shown.heatmap is not None),
        view.misclassified: gr.update(
            value=eval_render.misclassified_frame(shown.misclassified, lang),
            visible=bool(shown.misclassified),
        ),
    }


def cleared_evaluation(view: EvalResults) -> dict[Component, Any]:
    """The Evaluate tab with no result: nothing of a previous run left while a new one runs."""
    return {
        view.card: "",
        view.skipped: gr.update(value="", visible=False),
        view.heatmap: gr.update(value=None, visible=False),
        view.misclassified: gr.update(value=None, visible=False),
        view.downloads: None,
        view.json: None,
    }
