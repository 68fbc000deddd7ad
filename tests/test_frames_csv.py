"""frames.csv: the frame timeline of result.json as a table, in every run folder with frames."""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import numpy as np
from server_harness import analyze

from emotion2vec_app import AnalysisOptions
from emotion2vec_app.outputs import save_batch, save_run
from emotion2vec_app.results import FrameTimeline
from emotion2vec_app.writers import FileRecord


def read_table(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def assert_table_of(frames: dict, table: Path) -> list[dict[str, str]]:
    """frames.csv row by row against result.json's "frames": time, emotion and every score."""
    rows = read_table(table)
    keys = list(frames["scores"])
    assert list(rows[0]) == ["time_s", "emotion", *(f"score_{key}" for key in keys)]
    assert len(rows) == len(frames["start_s"]) == len(frames["emotion"])
    for t, row in enumerate(rows):
        assert float(row["time_s"]) == frames["start_s"][t], t
        assert row["emotion"] == frames["emotion"][t], t
        assert {key: float(row[f"score_{key}"]) for key in keys} == {
            key: frames["scores"][key][t] for key in keys
        }, t
    return rows


def assert_rows_of(timeline: FrameTimeline, rows: list[dict[str, str]]) -> None:
    """The same rows against the timeline itself: starts to 2 decimals, scores to 4, the top
    emotion, columns in the model's label order."""
    keys = [emotion.key for emotion in timeline.emotions]
    assert list(rows[0])[2:] == [f"score_{key}" for key in keys]
    assert len(rows) == len(timeline.probs)
    times = [float(row["time_s"]) for row in rows]
    assert times == [round(float(s), 2) for s in timeline.start_s]
    assert [row["emotion"] for row in rows] == [emotion.key for emotion in timeline.top]
    scores = np.array([[float(row[f"score_{key}"]) for key in keys] for row in rows])
    np.testing.assert_array_equal(scores, np.round(timeline.probs.astype(np.float64), 4))


def test_a_frame_run_has_frames_csv_beside_result_json(engine, clips, tmp_path):
    prediction = engine.analyze(clips["wav"], AnalysisOptions("frame"))
    run = save_run(prediction, tmp_path)
    assert run.frame_file == run.path / "frames.csv"
    assert [p.name for p in run.files] == ["result.json", "frames.csv"]
    result = json.loads(run.result_file.read_text(encoding="utf-8"))
    rows = assert_table_of(result["frames"], run.frame_file)
    assert_rows_of(prediction.frames, rows)
    times = [float(row["time_s"]) for row in rows]
    assert times[0] == 0.0 and np.allclose(np.diff(times), prediction.frames.hop_s, atol=0.011)


def test_a_segmented_recording_lists_its_frames_with_offsets_and_gaps(engine, call, tmp_path):
    prediction = engine.analyze(call[0], AnalysisOptions("frame", smooth_s=0.5))
    assert prediction.segments is not None
    run = save_run(prediction, tmp_path)
    assert [p.name for p in run.files] == [
        "result.json", "frames.csv", "segments.csv", "segments.json",
    ]  # fmt: skip
    result = json.loads(run.result_file.read_text(encoding="utf-8"))
    rows = assert_table_of(result["frames"], run.frame_file)
    assert_rows_of(prediction.frames, rows)
    times = np.array([float(row["time_s"]) for row in rows])
    segments = prediction.segments
    gaps = np.flatnonzero(np.diff(times) > 5 * prediction.frames.hop_s)
    assert len(gaps) >= len(segments) - 1 > 0, "the pauses between the segments are gaps"
    after_gaps = times[[0, *(gaps + 1)]]  # each stretch of frames starts where a segment does
    distance = np.abs(after_gaps[:, None] - segments.start_s[None, :]).min(axis=1)
    assert distance.max() <= 0.011, (after_gaps, segments.start_s)
    assert times[-1] > segments.start_s[-1] > 30


def test_an_utterance_run_has_no_frames_csv(engine, clips, call, tmp_path):
    for path in (clips["wav"], call[0]):
        run = save_run(engine.analyze(path, AnalysisOptions(extract_embedding=True)), tmp_path)
        assert run.frame_file is None
        assert not (run.path / "frames.csv").exists()
        assert "frames.csv" not in [p.name for p in run.files]


def test_runs_zip_of_a_batch_holds_frames_csv(engine, clips, tmp_path):
    run = save_run(engine.analyze(clips["wav"], AnalysisOptions("frame")), tmp_path)
    _, archive = save_batch(tmp_path, [FileRecord("speech.wav", run.result)], [run])
    with zipfile.ZipFile(archive) as zipped:
        name = f"{run.path.name}/frames.csv"
        assert zipped.read(name) == run.frame_file.read_bytes()


def test_the_server_writes_frames_csv_of_the_frames_it_returns(client, server, clips):
    result, _ = analyze(client, clips["wav"], "frame")
    run_dir = Path(result["run_dir"])
    assert run_dir.parent == server.output_dir
    assert_table_of(result["frames"], run_dir / "frames.csv")

    result, _ = analyze(client, clips["wav"], "utterance")
    assert not (Path(result["run_dir"]) / "frames.csv").exists()
