"""Long recordings and batches through the real `emotion2vec-app serve` (tiny model):
/analyze on a call with segments, /analyze_batch with its files, progress and errors, and
the same in the WebUI in headless Chromium (screenshots in test-artifacts/browser/)."""

from __future__ import annotations

import csv
import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from browser_harness import chromium, screenshot
from clips import CALL_SENTENCES, write_wav
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from server_harness import health

TOLERANCE_S = 0.3  # VAD pads speech by 0.1 s and decides in 32 ms windows
WAIT_MS = 60_000


def analyze(client: Client, path: Path) -> dict:
    result, _ = client.predict(handle_file(str(path)), "utterance", False, api_name="/analyze")
    return result


def analyze_one_in_a_batch(client: Client, path: Path, segmentation: str) -> dict:
    """/analyze keeps its three inputs; the segmentation is chosen through /analyze_batch."""
    results, _ = client.predict(
        [handle_file(str(path))], "utterance", False, segmentation, api_name="/analyze_batch"
    )
    return results[0]


def assert_scores_equal(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys()
    for key, p in expected.items():
        assert got[key] == pytest.approx(p, abs=1e-6), key


# --- /analyze -----------------------------------------------------------------------------


def test_long_call_gets_segments_on_the_sentences(client, call):
    path, bounds = call
    result = analyze(client, path)
    segments = result["segments"]
    assert segments["method"] == "vad"
    assert segments["columns"] == ["start_s", "end_s", "emotion", "confidence", "scores"]
    rows = segments["rows"]
    assert len(rows) == len(CALL_SENTENCES)
    for (start, end, emotion, confidence, scores), (voiced_start, voiced_end) in zip(
        rows, bounds, strict=True
    ):
        assert start == pytest.approx(voiced_start, abs=TOLERANCE_S)
        assert end == pytest.approx(voiced_end, abs=TOLERANCE_S)
        assert emotion == max(scores, key=scores.get)
        assert confidence == pytest.approx(scores[emotion], abs=1e-6)
    summary = result["summary"]
    assert summary["segments"] == len(rows)
    assert summary["dominant"] == result["emotion"]
    assert_scores_equal(summary["distribution"], result["scores"])
    assert summary["speech_s"] == pytest.approx(sum(r[1] - r[0] for r in rows), abs=0.05)
    run_dir = Path(result["run_dir"])
    assert {"result.json", "segments.csv", "segments.json"} <= {p.name for p in run_dir.iterdir()}


def test_segmentation_off_is_one_pass_up_to_60_s(client, call, tmp_path):
    result = analyze_one_in_a_batch(client, call[0], "off")
    assert "segments" not in result and "summary" not in result
    assert result["audio"]["duration_s"] > 30

    long = write_wav(tmp_path / "long.wav", np.zeros(61 * 16000, np.float32), 16000)
    error = analyze_one_in_a_batch(client, long, "off")["error"]
    assert "choose segmentation auto, vad or fixed" in error
    assert "'long.wav' is 61.0 s long" in error


# --- /analyze_batch -----------------------------------------------------------------------


@pytest.fixture
def batch_files(clips, call, tmp_path) -> list[Path]:
    """Five files: two formats, a corrupt one in the middle, a browser recording, the call."""
    broken = tmp_path / "broken.mp3"
    broken.write_text("this is text, not audio")
    return [clips["wav"], clips["m4a"], broken, clips["webm"], call[0]]


def collect_progress(job, seconds: float = 300) -> list:
    """Every progress unit the client heard while the job ran."""
    units = []
    deadline = time.monotonic() + seconds
    while not job.done():
        assert time.monotonic() < deadline, "the batch never finished"
        units += job.status().progress_data or []
        time.sleep(0.005)
    # Each status message the client got is also queued: none is missed between polls.
    updates = job.communicator.updates
    while not updates.empty():
        update = updates.get_nowait()
        units += getattr(update, "progress_data", None) or []
    return units


def test_batch_results_files_and_progress(client, server, batch_files):
    names = [p.name for p in batch_files]
    job = client.submit(
        [handle_file(str(p)) for p in batch_files],
        "utterance",
        False,
        "auto",
        api_name="/analyze_batch",
    )
    units = collect_progress(job)
    results, downloads = job.result(timeout=60)

    # One result per file, in input order; the corrupt file says why it was skipped.
    assert [r["file"] for r in results] == names
    broken = results[2]
    assert set(broken) == {"file", "error"}
    assert broken["error"].startswith("'broken.mp3' could not be decoded")
    assert "Traceback" not in broken["error"]
    good = [r for r in results if "error" not in r]
    assert len(good) == 4, [r.get("error") for r in results]

    # Each file scores as /analyze scores it alone.
    for path, result in zip(batch_files, results, strict=True):
        if "error" in result:
            continue
        alone = analyze(client, path)
        assert result["audio"]["name"] == path.name
        assert result["emotion"] == alone["emotion"]
        assert_scores_equal(result["scores"], alone["scores"])
    call = results[-1]
    assert call["summary"]["segments"] == len(CALL_SENTENCES)
    assert len(call["segments"]["rows"]) == len(CALL_SENTENCES)
    assert all("segments" not in r for r in good[:-1]), "short clips are one pass"

    # results.csv: a row per file, the error row included; runs.zip: the table and the runs.
    assert [Path(p).name for p in downloads] == ["results.csv", "runs.zip"]
    table, archive = map(Path, downloads)
    with table.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["file"] for row in rows] == names
    assert rows[2]["error"].startswith("'broken.mp3' could not be decoded")
    assert rows[2]["emotion"] == ""
    for row, result in zip(rows, results, strict=True):
        if "error" not in result:
            assert row["error"] == ""
            assert row["emotion"] == result["emotion"]
            assert float(row[f"score_{result['emotion']}"]) == pytest.approx(result["confidence"])
    assert rows[-1]["segments"] == str(len(CALL_SENTENCES))

    with zipfile.ZipFile(archive) as zipped:
        members = set(zipped.namelist())
        assert "results.csv" in members
        assert zipped.read("results.csv") == table.read_bytes()
        runs = [Path(r["run_dir"]).name for r in good]
        assert len(set(runs)) == len(good), "every file gets its own run folder"
        for run, result in zip(runs, good, strict=True):
            assert f"{run}/result.json" in members
            saved = json.loads(zipped.read(f"{run}/result.json"))
            assert saved == {k: v for k, v in result.items() if k != "file"}
        assert f"{runs[-1]}/segments.csv" in members
        assert not any(m.startswith(tuple(runs[:-1])) and "segments" in m for m in members)
    for result in good:
        assert Path(result["run_dir"]).parent == server.output_dir

    # Progress: counted in files, named by file, never past the end.
    assert units, "the client saw no progress at all"
    counted = [u for u in units if u.unit == "files"]
    described = [u for u in units if u.desc]
    assert counted or described, units
    for unit in counted:
        assert unit.length == len(batch_files)
        assert 0 <= unit.index <= len(batch_files)
    allowed = {"Starting", *names}
    for unit in described:
        assert unit.desc in allowed or "/5 · " in unit.desc, unit.desc


def test_batch_without_files_says_so(client):
    for nothing in ([], None):
        with pytest.raises(AppError, match="Add audio files first"):
            client.predict(nothing, "utterance", False, "auto", api_name="/analyze_batch")


def test_server_stays_healthy(server, client, clips):
    assert health(server.url) == {"status": "running", "model_loaded": True, "state": "ready"}
    assert analyze(client, clips["wav"])["audio"]["name"] == clips["wav"].name
    assert server.process.poll() is None
    assert "Traceback" not in server.log(), server.log()


# --- the WebUI ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    yield page
    context.close()


def row_count(page, selector: str) -> int:
    """Data rows of a gr.Dataframe: its grid counts them (the header row too), although it
    only renders the rows in view."""
    return int(page.get_attribute(f"{selector} [role=grid]", "aria-rowcount")) - 1


def wait_for_rows(page, selector: str, rows: int) -> None:
    page.wait_for_function(
        "([selector, count]) => document.querySelector(selector + ' [role=grid]')"
        "?.getAttribute('aria-rowcount') === String(count)",
        arg=[selector, rows + 1],
    )


def download_names(page, selector: str) -> list[str]:
    """The files a gr.File lists, each with its download link."""
    rows = page.locator(f"{selector} tr:has(a[download])")
    return [
        rows.nth(i).locator("td").first.get_attribute("aria-label") for i in range(rows.count())
    ]


def cell(page, selector: str, row: int, column: int) -> str:
    return page.inner_text(f"{selector} [data-testid=cell-{row}-{column}]").strip()


def test_page_long_recording_view(server, page, client, call):
    page.goto(server.url)
    page.wait_for_selector("#model-status [data-state=ready]")
    page.wait_for_function("!document.querySelector('#analyze').disabled")
    assert not page.locator("#long-view").is_visible()

    page.set_input_files("#audio-input input[type=file]", str(call[0]))
    page.wait_for_selector("#audio-input audio, #audio-input .waveform-container", state="attached")
    page.click("#analyze")
    page.wait_for_selector("#long-view", state="visible")
    page.wait_for_selector("#segment-strip .e2v-seg")
    page.wait_for_function(
        "document.querySelector('#processing-log textarea').value.includes('run: ')"
    )
    page.wait_for_selector("#segment-table [data-testid=cell-0-0]")
    page.wait_for_selector("#segment-plot canvas, #segment-plot svg")

    rows = analyze(client, call[0])["segments"]["rows"]
    expected = len(rows)
    assert expected == len(CALL_SENTENCES)
    blocks = page.locator("#segment-strip .e2v-seg")
    assert blocks.count() == expected
    assert row_count(page, "#segment-table") == expected
    minutes, seconds = cell(page, "#segment-table", 0, 0).split(":")  # no "#": start first
    assert 60 * int(minutes) + float(seconds) == pytest.approx(rows[0][0], abs=0.06)
    assert rows[0][2] in cell(page, "#segment-table", 0, 2).lower(), "the same first emotion"
    assert [blocks.nth(i).get_attribute("data-emotion") for i in range(expected)] == [
        row[2] for row in rows
    ]
    summary = page.inner_text("#segment-summary")
    assert f"{expected} segments" in summary and "Dominant:" in summary
    json_text = page.inner_text("#result-json")
    assert "segments: see the table" in json_text
    # Blocks lie left to right, inside the bar, each in its emotion's colour.
    lefts = [float(blocks.nth(i).evaluate("e => e.style.left")[:-1]) for i in range(expected)]
    assert lefts == sorted(lefts) and lefts[0] >= 0 and lefts[-1] < 100
    assert all(
        blocks.nth(i).evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
        for i in range(expected)
    )
    # Inside the group the plot has no frame of its own, like the table below it.
    borders = [
        page.evaluate(f"getComputedStyle(document.querySelector('{sel}')).borderTopWidth")
        for sel in ("#segment-plot", "#segment-table")
    ]
    assert borders[0] == borders[1], borders
    strip_width = page.locator("#segment-strip .e2v-strip").bounding_box()["width"]
    assert strip_width > 200, "the strip spans the column"
    assert download_names(page, "#downloads") == ["result.json", "segments.csv", "segments.json"]
    assert page.locator("#timeline").is_hidden(), "utterance granularity: no frame timeline"
    # Gradio gives the group's id to its wrapper too: two elements, the outer one first.
    page.locator("#long-view").first.scroll_into_view_if_needed()
    screenshot(page, "long_view.png")


def test_page_batch_tab_and_language(server, page, clips, call):
    page.goto(server.url)
    page.wait_for_selector("#model-status [data-state=ready]")
    page.get_by_role("tab", name="Batch").click()
    page.wait_for_function("!document.querySelector('#analyze-batch').disabled")
    files = [clips["wav"], clips["mp3"], call[0]]
    page.set_input_files("#batch-files input[type=file]", [str(p) for p in files])
    for path in files:
        page.wait_for_selector(f"#batch-files td[aria-label='{path.name}']")
    page.click("#analyze-batch")
    wait_for_rows(page, "#batch-table", 3)
    table = page.inner_text("#batch-table")
    for path in files:
        assert path.name in table
    assert [cell(page, "#batch-table", row, 0) for row in range(3)] == [p.name for p in files]
    assert cell(page, "#batch-table", 2, 4) == str(len(CALL_SENTENCES)), "the call's segments"
    assert cell(page, "#batch-table", 0, 4) == "", "a short clip has no segments"
    page.wait_for_selector("#batch-downloads td[aria-label='runs.zip']")
    assert download_names(page, "#batch-downloads") == ["results.csv", "runs.zip"]
    screenshot(page, "batch.png")

    page.locator("#language").get_by_text("中文").click()
    page.wait_for_function(
        "document.querySelector('#analyze-batch').innerText.includes('全部分析')"
    )
    page.wait_for_selector("[role=tab][aria-selected=true]:has-text('批量分析')")
    assert "音频文件" in page.inner_text("#batch-files")
    segmentation = page.inner_text("#batch-segmentation")
    assert "按语音分段" in segmentation and "长录音" in segmentation
    assert "Long recordings" not in segmentation, "the note under it is translated too"
    screenshot(page, "batch_zh.png")
