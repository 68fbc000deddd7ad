"""The WebUI's handlers in process (tiny model, no server): a batch where one file runs out of
memory, and the single view's updates, which name every component they fill."""

from __future__ import annotations

import csv
from pathlib import Path

import gradio as gr
import numpy as np
import oom_injection
import pytest
from clips import write_wav

from emotion2vec_app.engine import Engine, EngineState
from emotion2vec_app.options import AnalysisOptions
from emotion2vec_app.ui import views
from emotion2vec_app.ui.handlers import Handlers, cleared_outputs, page_outputs
from emotion2vec_app.ui.page import StatusOutputs, status_updates

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
        single, batch = views.tabs(texts)
        header = views.header(texts, False, "")
        status = StatusOutputs(
            header.banner, header.status, single.inputs.analyze, batch.analyze, gr.Timer(),
            header.retry,
        )  # fmt: skip
    return single, status


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
