"""The WebUI's handlers in process (tiny model, no server): a batch where one file runs out of
memory, and the single view's updates, which name every component they fill."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import gradio as gr
import numpy as np
import oom_injection
import pytest
from clips import write_wav

from emotion2vec_app.engine import Engine, EngineState
from emotion2vec_app.options import AnalysisOptions
from emotion2vec_app.ui import render, views
from emotion2vec_app.ui.handlers import Handlers, cleared_outputs, page_outputs
from emotion2vec_app.ui.page import StatusOutputs, status_updates
from emotion2vec_app.ui.text import t

RATE = 16000


def no_progress(*args, **kwargs) -> None:
    """Stands in for gr.Progress outside a request."""


@pytest.fixture(scope="module")
def engine4(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """Four clips a pass, as on a GPU: the batch's files share one padded pass."""
    engine = Engine(
        str(tiny_model_dir), batch_size=4, cache_dir=tmp_path_factory.mktemp("engine4-cache")
    )
    engine.wait_ready(timeout=120)
    return engine


def noise_file(path: Path, samples: int, seed: int) -> Path:
    noise = np.random.default_rng(seed).standard_normal(samples).astype(np.float32) * 0.1
    return write_wav(path, noise, RATE)


def test_out_of_memory_in_a_webui_batch_fails_that_file_only(engine4, tmp_path, monkeypatch):
    # Four clips of similar length: one padded pass of four. A pass fails whenever it holds
    # the 1.04 s clip; the core halves the pass until that clip fails alone.
    lengths = [16000, 16320, 16640, 16960]
    files = [noise_file(tmp_path / f"clip{i}.wav", n, i) for i, n in enumerate(lengths)]
    failed_passes = tmp_path / "failed_passes.log"  # clips held by each pass that failed
    oom_injection.patch(monkeypatch, lengths[2], str(failed_passes))

    handlers = Handlers(engine4, tmp_path / "outputs", None)
    results, downloads = handlers.analyze_batch(
        [str(f) for f in files], "utterance", False, "auto", progress=no_progress
    )

    assert [r["file"] for r in results] == [f.name for f in files]
    failed = results[2]
    assert set(failed) == {"file", "error"}
    assert "ran out of memory for this 1.0 s clip" in failed["error"], "its own length"
    for result in results[:2] + results[3:]:
        assert "error" not in result, result
        assert result["emotion"] in result["scores"]
        assert Path(result["run_dir"]).is_dir()

    table = Path(downloads[0])
    assert table.name == "results.csv"
    with table.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["file"] for row in rows] == [f.name for f in files]
    assert "memory" in rows[2]["error"] and rows[2]["emotion"] == ""
    assert all(row["error"] == "" and row["emotion"] for row in rows[:2] + rows[3:])
    assert engine4.status().state is EngineState.READY, "the engine serves on"
    # The padded pass of four failed first; the core halved it, then halved the half with
    # the big clip, until that clip failed alone.
    assert failed_passes.read_text().split() == ["4", "2", "1"]


# --- the single view, by name -----------------------------------------------------------


@pytest.fixture(scope="module")
def page_parts():
    """The single view's and the status's components, built as the page builds them."""
    texts = views.Texts()
    with gr.Blocks():
        tabs = views.tabs(texts)
        header = views.header(texts, False, "")
        status = StatusOutputs(
            header.banner, header.status, tabs.single.inputs.analyze, tabs.batch.analyze,
            tabs.evaluate.inputs.run, gr.Timer(), header.retry,
        )  # fmt: skip
    return tabs.single, status


@pytest.mark.parametrize("granularity", ["utterance", "frame"])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_analysis_fills_every_result_component(engine, page_parts, tmp_path, granularity, lang):
    single, _ = page_parts
    clip = noise_file(tmp_path / "clip.wav", RATE, 0)
    analysis = Handlers(engine, tmp_path, None).run(str(clip), None, AnalysisOptions(granularity))
    shown = page_outputs(single.results, analysis, lang)
    assert list(shown) == views.components_of(single.results)
    frames = granularity == "frame"
    assert shown[single.results.timeline]["visible"] is frames
    assert shown[single.results.timeline_note]["visible"] is frames
    assert shown[single.results.long]["visible"] is False
    assert shown[single.results.json]["emotion"] == analysis.result["emotion"]
    assert shown[single.results.json]["run_dir"] == analysis.run.path.name  # an id, no path
    assert str(tmp_path) not in str(shown[single.results.json])
    assert analysis.prediction.emotion.key in shown[single.results.card]


def test_clear_empties_every_result_component(page_parts):
    single, _ = page_parts
    assert list(cleared_outputs(single.results)) == views.components_of(single.results)


def test_status_updates_name_every_component_the_status_steers(engine, page_parts):
    _, status = page_parts
    updates = status_updates(engine, status, "zh")
    assert list(updates) == views.components_of(status)
    assert updates[status.analyze]["interactive"] is True
    assert updates[status.analyze]["value"] == "开始分析"
    assert updates[status.retry]["visible"] is False


def test_the_page_keeps_no_samples_and_re_smooths_without_a_pass(engine, tmp_path, monkeypatch):
    clip = noise_file(tmp_path / "clip.wav", 3 * RATE, 1)
    handlers = Handlers(engine, tmp_path / "outputs", None)
    analysis = handlers.analyze_page(str(clip), "frame", 0.0, False, "auto", no_progress)
    assert analysis.prediction.waveform.samples.size == 0, "no audio held per open page"
    monkeypatch.setattr(engine, "_pass", lambda *args: pytest.fail("a forward pass"))
    smoothed = handlers.resmooth(analysis, 1.0)
    assert smoothed.options.smooth_s == 1.0 and smoothed.run.path == analysis.run.path
    monkeypatch.undo()
    fresh = engine.analyze(clip, AnalysisOptions("frame", smooth_s=1.0))
    np.testing.assert_allclose(smoothed.prediction.frames.probs, fresh.frames.probs, atol=1e-6)
    saved = json.loads(analysis.run.result_file.read_text())
    assert saved["frames"] == smoothed.result["frames"] and saved["frames"]["smooth_s"] == 1.0
    with analysis.run.frame_file.open(encoding="utf-8", newline="") as handle:
        first = next(csv.DictReader(handle))
    assert float(first["score_angry"]) == saved["frames"]["scores"]["angry"][0]


def test_the_demo_badge_and_the_code_snippet_follow_the_analysis(engine, tmp_path):
    clip = noise_file(tmp_path / "clip.wav", RATE, 2)
    analysis = Handlers(engine, tmp_path, None).run(str(clip), None, AnalysisOptions())
    real = analysis.prediction
    demo = replace(real, model=replace(real.model, demo=True))
    assert "e2v-badge" not in render.card_html(real, "en")
    assert t("demo_badge", "zh") in render.card_html(demo, "zh")
    plain = render.code_snippet("a.wav", AnalysisOptions("frame", True), "http://host:7860/")
    assert "handle_file('a.wav')" in plain and 'api_name="/analyze"' in plain
    assert "Client('http://host:7860/')" in plain
    assert "AnalysisOptions('frame', True, 0, 'auto')" in plain
    cut = render.code_snippet("a.wav", AnalysisOptions("frame", False, 0.5, "vad"), "u")
    assert 'api_name="/analyze_batch"' in cut and "'vad',  # segmentation" in cut
    assert "smoothing 0.5 s" in cut and "AnalysisOptions('frame', False, 0.5, 'vad')" in cut


def test_merged_updates_keep_every_change_of_a_component():
    label, value = gr.update(label="分数"), gr.update(value=None, visible=False)
    merged = views.merged_updates([{"bars": label}, {"bars": value, "log": "text"}])
    assert merged["bars"] == {"__type__": "update", "label": "分数", "value": None,
                              "visible": False}  # fmt: skip
    assert merged["log"] == {"__type__": "update", "value": "text"}


def test_a_smoothing_window_out_of_range_is_refused_like_an_analysis_option(engine, tmp_path):
    clip = noise_file(tmp_path / "clip.wav", RATE, 3)
    handlers = Handlers(engine, tmp_path / "outputs", None)
    analysis = handlers.analyze_page(str(clip), "frame", 0.0, False, "auto", no_progress)
    for bad in (-1.0, float("nan"), 1e9):
        with pytest.raises(gr.Error, match="smooth_s must be between"):
            handlers.resmooth(analysis, bad)
