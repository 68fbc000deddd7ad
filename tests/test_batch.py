"""Batches of recordings, from the file list to the ZIP.

- `expand_inputs` finds audio in nested folders whatever the suffix's case, ignores other
  files there, expands recursive globs, keeps a file named directly whatever its suffix,
  lists each file once, where it is first mentioned, and names each pattern that matched
  nothing.
- `analyze_many` gives, file by file and in input order, exactly what `Engine.analyze` gives
  for each file alone (long recordings segmented as well); a bad file becomes an item with
  its reason and the files after it still succeed; progress counts up to the total;
  decoding runs on a worker thread, a bounded number of files ahead.
- Padded batches (batch_size 4) really put clips of different lengths into one forward
  pass, and give the scores, frame scores and embeddings of one-at-a-time within 1e-5.
- CSV and JSON Lines tables round-trip; `finished_files` leaves out failed files and a
  record a killed run cut short, and appending after such a half record starts a clean one,
  even when the cut fell inside a quoted CSV field.
- `save_batch`'s ZIP holds the table and every run folder's files under the folder's name;
  a segmented run folder's segments.csv and segments.json hold result.json's segment rows.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import oom_injection
import pytest
from clips import CALL_SENTENCES, write_wav

from emotion2vec_app import AnalysisOptions, Engine
from emotion2vec_app.audio import decode_audio
from emotion2vec_app.engine import many_files
from emotion2vec_app.files import expand_inputs
from emotion2vec_app.labels import EMOTIONS
from emotion2vec_app.outputs import save_batch, save_run
from emotion2vec_app.writers import (
    BATCH_FIELDS,
    SCORE_COLUMNS,
    SEGMENT_FIELDS,
    FileRecord,
    finished_files,
    get_writer,
    table_format,
    write_table,
)

RATE = 16000
PROB_TOL = 1e-5
EMBEDDING_TOL = 1e-5
FRAME_PROB_TOL = 1e-4  # as in test_batching: frame scores are softmaxes of single frames
TABLE_FIELDS = BATCH_FIELDS + SCORE_COLUMNS


# --- expand_inputs -------------------------------------------------------------------------


def touch(path: Path) -> Path:
    """An empty file: expand_inputs goes by names, never by contents."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "calls"
    for name in [
        "a.wav", "B.WAV", "notes.txt", "sub/c.Flac", "sub/cover.jpg",
        "sub/deeper/d.mp3", "sub/deeper/e.wav", "sub/deeper/README",
    ]:  # fmt: skip
        touch(root / name)
    return root


def test_folders_are_searched_recursively_for_audio_of_any_suffix_case(tree):
    files, problems = expand_inputs([str(tree)])
    assert files == [
        tree / "B.WAV", tree / "a.wav", tree / "sub/c.Flac",
        tree / "sub/deeper/d.mp3", tree / "sub/deeper/e.wav",
    ]  # fmt: skip
    assert problems == []


def test_globs_are_recursive_and_keep_only_audio(tree):
    files, problems = expand_inputs([f"{tree}/**/*.wav", f"{tree}/*"])
    # '**' spans any depth; '*' also matches notes.txt and the folder 'sub', neither audio.
    assert files == [tree / "a.wav", tree / "sub/deeper/e.wav", tree / "B.WAV"]
    assert problems == []


def test_a_file_named_directly_is_kept_whatever_its_suffix(tree, tmp_path):
    odd = touch(tmp_path / "memo.audio")
    files, problems = expand_inputs([str(odd), str(tree / "notes.txt")])
    assert files == [odd, tree / "notes.txt"]
    assert problems == []


def test_each_file_is_listed_once_where_it_is_first_mentioned(tree, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files, problems = expand_inputs(
        [
            "calls/sub/c.Flac",  # relative, before the folder that holds it
            str(tree),
            str(tree / "a.wav"),  # again, absolute
            f"{tree}/sub/../a.wav",  # again, another spelling
            "calls/**/*.wav",  # a.wav and e.wav again
        ]
    )
    assert files == [
        Path("calls/sub/c.Flac"), tree / "B.WAV", tree / "a.wav",
        tree / "sub/deeper/d.mp3", tree / "sub/deeper/e.wav",
    ]  # fmt: skip
    assert problems == []


def test_patterns_that_match_nothing_are_reported_in_order(tree, tmp_path):
    (tmp_path / "empty").mkdir()
    patterns = [
        str(tmp_path / "missing.wav"),
        f"{tree}/**/*.ogg",
        str(tree / "a.wav"),
        str(tmp_path / "empty"),
        f"{tree}/*.txt",  # matches notes.txt, which is not audio
    ]
    files, problems = expand_inputs(patterns)
    assert files == [tree / "a.wav"]
    assert problems == [
        f"{patterns[0]}: not found",
        f"{patterns[1]}: no audio files match",
        f"{patterns[3]}: no audio files in this folder",
        f"{patterns[4]}: no audio files match",
    ]


# --- analyze_many --------------------------------------------------------------------------


def comparable(prediction) -> dict:
    """The JSON of a prediction, less what depends on the clock."""
    result = prediction.to_json()
    del result["timestamp"], result["timings_ms"]
    return result


@pytest.fixture(scope="module")
def recordings(clips, call) -> list[Path]:
    """Short clips in several formats, and a long call that 'auto' segments."""
    return [clips["wav"], clips["mp3"], call[0], clips["flac"], clips["stereo48k"], clips["m4a"]]


@pytest.mark.parametrize(
    "options",
    [AnalysisOptions(), AnalysisOptions("frame", extract_embedding=True, smooth_s=0.5)],
    ids=["utterance", "frame+embedding"],
)
def test_batch_outputs_match_single_file_outputs_file_by_file(engine, recordings, options):
    items = list(many_files.analyze_many(engine, many_files.as_inputs(recordings), options))
    assert [(item.index, item.name, item.path, item.error) for item in items] == [
        (i, path.name, path, None) for i, path in enumerate(recordings)
    ]
    assert items[2].prediction.segments is not None, "the long call is segmented in a batch too"
    for item, path in zip(items, recordings, strict=True):
        got, alone = item.prediction, engine.analyze(path, options)
        assert comparable(got) == comparable(alone)
        np.testing.assert_array_equal(got.probs, alone.probs)
        for part in ("segments", "frames"):
            if getattr(alone, part) is None:
                assert getattr(got, part) is None
            else:
                np.testing.assert_array_equal(getattr(got, part).probs, getattr(alone, part).probs)
        if alone.segments is not None:
            np.testing.assert_array_equal(got.segments.start_s, alone.segments.start_s)
            np.testing.assert_array_equal(got.segments.end_s, alone.segments.end_s)
        if options.extract_embedding:
            np.testing.assert_array_equal(got.embedding, alone.embedding)
        else:
            assert got.embedding is None


def test_a_bad_file_is_an_item_with_its_reason_and_the_rest_go_on(engine, clips, tmp_path):
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF not really a wave file " * 40)
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    gone = tmp_path / "gone.flac"  # listed, but not there when its turn comes
    paths = [clips["wav"], corrupt, clips["ogg"], empty, gone, clips["flac"]]
    seen: list[tuple[float, str]] = []
    items = list(
        many_files.analyze_many(
            engine, many_files.as_inputs(paths), progress=lambda *args: seen.append(args)
        )
    )
    assert [item.name for item in items] == [path.name for path in paths]
    assert items[1].error == (
        "'corrupt.wav' could not be decoded as audio (Invalid data found when processing "
        "input): the file is damaged or not an audio file."
    )
    assert items[3].error == "'empty.mp3' is empty (0 bytes): upload a file that contains audio."
    assert items[4].error == "'gone.flac' was not found: check the path and try again."
    for i in (1, 3, 4):
        assert items[i].prediction is None
    for i in (0, 2, 5):
        assert items[i].error is None
        np.testing.assert_array_equal(items[i].prediction.probs, engine.analyze(paths[i]).probs)
    total = len(paths)
    assert seen == [
        ((i + 1) / total, f"{i + 1}/{total} · {path.name}") for i, path in enumerate(paths)
    ]


def test_decoding_runs_ahead_on_a_worker_thread_but_not_unboundedly(engine, clips, monkeypatch):
    decoded: list[str] = []
    real_decode = engine.decode

    def spy(*args, **kwargs):
        decoded.append(threading.current_thread().name)
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(engine, "decode", spy)
    inputs = many_files.as_inputs([clips["wav"]] * 20)
    items = many_files.analyze_many(engine, inputs)
    next(items)
    group = engine.batch_size()
    # At the first result: the first group, the files decoded ahead, and the next group.
    assert len(decoded) <= 2 * group + many_files.DECODE_AHEAD < len(inputs)
    assert len(list(items)) == len(inputs) - 1
    assert len(decoded) == len(inputs)
    assert all(name.startswith("e2v-decode") for name in decoded)


# --- padded batches ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def batched_engine(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """The `engine` fixture's model, four clips per forward pass."""
    engine = Engine(
        str(tiny_model_dir), cache_dir=tmp_path_factory.mktemp("batched-cache"), batch_size=4
    )
    engine.wait_ready(timeout=120)
    return engine


SLICE_SECONDS = [2.2, 2.5, 2.0, 2.4, 2.1, 2.3]  # within 20 % of each other: they share batches


@pytest.fixture(scope="module")
def speech_slices(clips, tmp_path_factory) -> list[Path]:
    """Six WAVs of different stretches of speech, of different lengths, out of length order."""
    speech = decode_audio(clips["wav"]).samples
    folder = tmp_path_factory.mktemp("slices")
    paths = []
    for i, seconds in enumerate(SLICE_SECONDS):
        start = round(0.25 * i * RATE)
        piece = speech[start : start + round(seconds * RATE)]
        paths.append(write_wav(folder / f"slice_{i}.wav", piece, RATE, "FLOAT"))
    return paths


@contextlib.contextmanager
def forward_passes(engine: Engine) -> Iterator[list[tuple[int, ...]]]:
    """The (batch, samples) shape of each forward pass, seen by the conv feature encoder."""
    seen: list[tuple[int, ...]] = []
    encoder = engine.loaded_model().network.modality_encoders["AUDIO"].local_encoder
    handle = encoder.register_forward_pre_hook(
        lambda module, args: seen.append(tuple(args[0].shape))
    )
    try:
        yield seen
    finally:
        handle.remove()


def width(*seconds: float) -> int:
    return max(round(s * RATE) for s in seconds)


@pytest.mark.parametrize(
    "options",
    [AnalysisOptions(extract_embedding=True), AnalysisOptions("frame", extract_embedding=True)],
    ids=["utterance", "frame"],
)
def test_padded_batches_match_one_at_a_time(engine, batched_engine, speech_slices, options):
    inputs = many_files.as_inputs(speech_slices)
    with forward_passes(engine) as single_passes:
        alone = list(many_files.analyze_many(engine, inputs, options))
    with forward_passes(batched_engine) as batched_passes:
        together = list(many_files.analyze_many(batched_engine, inputs, options))
    assert [shape[0] for shape in single_passes] == [1] * len(inputs)
    # Input order makes groups of 4 and 2 files, each one forward pass padded to its longest.
    assert batched_passes == [(4, width(*SLICE_SECONDS[:4])), (2, width(*SLICE_SECONDS[4:]))]

    assert [item.name for item in together] == [path.name for path in speech_slices]
    for a, b in zip(alone, together, strict=True):
        assert b.error is None
        one, padded = a.prediction, b.prediction
        np.testing.assert_allclose(padded.probs, one.probs, atol=PROB_TOL, rtol=0)
        assert padded.embedding.shape == one.embedding.shape
        np.testing.assert_allclose(padded.embedding, one.embedding, atol=EMBEDDING_TOL, rtol=0)
        assert padded.audio == one.audio
        if options.granularity == "frame":
            assert padded.frames.probs.shape == one.frames.probs.shape
            np.testing.assert_allclose(
                padded.frames.probs, one.frames.probs, atol=FRAME_PROB_TOL, rtol=0
            )


def test_a_bad_file_spoils_none_of_its_batch(engine, batched_engine, speech_slices, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_text("this is text, not audio")
    paths = [*speech_slices[:2], bad, *speech_slices[2:]]
    with forward_passes(batched_engine) as passes:
        items = list(many_files.analyze_many(batched_engine, many_files.as_inputs(paths)))
    # Groups of four inputs: the first has three decoded files, the second the other three.
    assert [shape[0] for shape in passes] == [3, 3]
    assert [item.name for item in items] == [path.name for path in paths]
    assert items[2].prediction is None
    assert items[2].error.startswith("'bad.wav' could not be decoded as audio")
    for item, path in zip(items, paths, strict=True):
        if path != bad:
            assert item.error is None
            np.testing.assert_allclose(
                item.prediction.probs, engine.analyze(path).probs, atol=PROB_TOL, rtol=0
            )


def test_a_file_too_big_for_memory_fails_alone(batched_engine, speech_slices, monkeypatch):
    """Out of memory even alone (a GPU too small for one clip): its padded pass is halved down
    to that file, which gets the reason; the files that shared its pass are analysed."""
    oom_injection.patch(monkeypatch, len(decode_audio(speech_slices[1]).samples))
    items = list(many_files.analyze_many(batched_engine, many_files.as_inputs(speech_slices)))
    assert [item.name for item in items] == [path.name for path in speech_slices]
    assert items[1].prediction is None and "ran out of memory" in items[1].error
    assert all(item.prediction is not None for i, item in enumerate(items) if i != 1)


# --- tables --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def result(engine, clips) -> dict:
    return engine.analyze(clips["wav"]).to_json(run_dir="outputs/outputs_20260101_000000_abcdef")


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def as_csv_row(record: dict) -> dict[str, str]:
    return {
        field: "" if record.get(field) is None else str(record[field]) for field in TABLE_FIELDS
    }


def test_csv_table_round_trips(result, tmp_path):
    assert {f"score_{key}" for key in result["scores"]} == set(SCORE_COLUMNS)
    records = [
        FileRecord('calls/a, "quoted".wav', result, None).row(),
        FileRecord("calls/é.mp3", None, "'é.mp3' is 95.0 s long, above the limit, trim it").row(),
        FileRecord("calls/b.wav", result, None).row(),
    ]
    path = write_table(tmp_path / "results.csv", TABLE_FIELDS, records)
    rows = read_csv(path)
    assert list(rows[0]) == TABLE_FIELDS
    assert rows == [as_csv_row(record) for record in records]
    assert rows[0]["emotion_zh"] == result["emotion_zh"]
    assert {key: float(rows[0][f"score_{key}"]) for key in result["scores"]} == result["scores"]
    assert rows[1]["emotion"] == "" and rows[1]["score_happy"] == ""
    assert (rows[0]["model_id"], rows[0]["model_demo"]) == (result["model"]["id"], "False")
    assert rows[1]["model_id"] == rows[1]["model_demo"] == ""
    assert finished_files(path) == {'calls/a, "quoted".wav', "calls/b.wav"}


def test_rows_name_the_model_and_whether_it_is_the_demo(result):
    row = FileRecord("a.wav", result).row()
    assert (row["model_id"], row["model_demo"]) == (result["model"]["id"], False)
    demo = {**result, "model": {**result["model"], "id": "demo", "demo": True}}
    assert FileRecord("a.wav", demo).row()["model_demo"] is True
    failed = FileRecord("b.wav", None, "damaged").row()
    assert failed["model_id"] is failed["model_demo"] is None
    assert list(row) == list(failed) == TABLE_FIELDS


def test_resume_appends_to_a_table_of_an_older_version_in_its_own_columns(result, tmp_path):
    """A table written before the model columns: appended rows follow its header."""
    old_fields = [f for f in TABLE_FIELDS if f not in ("model_id", "model_demo")]
    path = write_table(
        tmp_path / "results.csv", old_fields, [FileRecord("a.wav", result, None).row()]
    )
    assert finished_files(path) == {"a.wav"}
    with get_writer(path, TABLE_FIELDS, append=True) as writer:
        writer.write(FileRecord("b.wav", result, None).row())
        writer.write(FileRecord("c.wav", None, "damaged").row())
    rows = read_csv(path)
    assert [list(row) for row in rows] == [old_fields] * 3
    assert rows[1] == {
        k: v for k, v in as_csv_row(FileRecord("b.wav", result).row()).items() if k in old_fields
    }
    assert rows[2]["error"] == "damaged"
    assert finished_files(path) == {"a.wav", "b.wav"}


def test_jsonl_table_round_trips(result, tmp_path):
    records = [
        {"file": "calls/a.wav", **result},
        {"file": "calls/é.mp3", "error": "'é.mp3' is empty (0 bytes)"},
        {"file": "calls/b.wav", **result},
    ]
    path = write_table(tmp_path / "results.jsonl", [], records)
    text = path.read_text(encoding="utf-8")
    assert [json.loads(line) for line in text.splitlines()] == records
    assert result["emotion_zh"] in text, "Chinese is written as itself, not escaped"
    assert finished_files(path) == {"calls/a.wav", "calls/b.wav"}


def test_a_failed_file_counts_as_finished_once_it_succeeds(result, tmp_path):
    path = write_table(
        tmp_path / "results.jsonl",
        [],
        [{"file": "a.wav", "error": "damaged"}, {"file": "b.wav", "error": "damaged"}],
    )
    assert finished_files(path) == set()
    with get_writer(path, [], append=True) as writer:
        writer.write({"file": "a.wav", **result})
    assert finished_files(path) == {"a.wav"}


def test_table_format_comes_from_the_name_unless_given(tmp_path):
    assert table_format(Path("r.csv")) == "csv"
    assert table_format(Path("r.JSONL")) == "jsonl"
    assert table_format(Path("r.json")) == "jsonl"
    assert table_format(Path("r.txt"), "csv") == "csv"
    with pytest.raises(ValueError, match=r"name it \.jsonl or \.csv"):
        table_format(Path("r.txt"))
    assert finished_files(tmp_path / "none.csv") == set()


def csv_line(record: dict) -> str:
    """One record as CsvWriter writes it, line end included."""
    sink = io.StringIO()
    csv.DictWriter(sink, TABLE_FIELDS, extrasaction="ignore").writerow(record)
    return sink.getvalue()


@pytest.mark.parametrize(
    ("half_record", "cut_before"),
    [
        (("calls/b.wav", True), ",0."),  # a result cut between two fields
        (("calls/b, c.wav", True), " c.wav"),  # cut inside a quoted file name
        (("calls/b.wav", False), " long"),  # an error cut inside its quoted message
    ],
    ids=["between-fields", "in-quoted-name", "in-quoted-error"],
)
def test_a_csv_row_cut_short_is_not_finished_and_the_next_row_starts_clean(
    result, tmp_path, half_record, cut_before
):
    file, succeeded = half_record
    cut = FileRecord(
        file, result if succeeded else None, None if succeeded else "95 s long, no"
    ).row()
    line = csv_line(cut)
    half = line[: line.index(cut_before)]
    path = write_table(
        tmp_path / "results.csv", TABLE_FIELDS, [FileRecord("a.wav", result, None).row()]
    )
    with path.open("a", encoding="utf-8", newline="") as handle:
        handle.write(half)  # a killed run's last words
    assert finished_files(path) == {"a.wav"}

    with get_writer(path, TABLE_FIELDS, append=True) as writer:
        writer.write(FileRecord("c.wav", result, None).row())
        writer.write(FileRecord("d.wav", None, "damaged, skipped").row())
    rows = read_csv(path)
    assert len(rows) == 4, "one header; the half row, however cut, ends on its own line"
    assert rows[0] == as_csv_row(FileRecord("a.wav", result, None).row())
    assert rows[2] == as_csv_row(FileRecord("c.wav", result, None).row())
    assert rows[3] == as_csv_row(FileRecord("d.wav", None, "damaged, skipped").row())
    assert finished_files(path) == {"a.wav", "c.wav"}


def test_appending_after_a_half_jsonl_line_starts_a_fresh_line(result, tmp_path):
    path = write_table(tmp_path / "results.jsonl", [], [{"file": "a.wav", **result}])
    line = json.dumps({"file": "b.wav", **result}, ensure_ascii=False)
    half = line[: len(line) // 2]
    with path.open("a", encoding="utf-8") as handle:
        handle.write(half)
    assert finished_files(path) == {"a.wav"}

    with get_writer(path, [], append=True) as writer:
        writer.write({"file": "c.wav", **result})
    with get_writer(path, [], append=True) as writer:  # a clean end gets no blank line
        writer.write({"file": "d.wav", **result})
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[1] == half
    assert [json.loads(line)["file"] for line in (lines[0], lines[2], lines[3])] == [
        "a.wav", "c.wav", "d.wav",
    ]  # fmt: skip
    assert lines[4:] == [""]
    assert finished_files(path) == {"a.wav", "c.wav", "d.wav"}


# --- run folders and the batch ZIP ---------------------------------------------------------

BATCH_NAME = re.compile(r"^batch_\d{8}_\d{6}_[0-9a-f]{6}$")


def test_batch_zip_holds_the_table_and_every_run_folder(engine, clips, call, tmp_path):
    root = tmp_path / "outputs"
    paths = [clips["wav"], call[0]]
    options = AnalysisOptions(extract_embedding=True)
    runs = [save_run(engine.analyze(path, options), root) for path in paths]
    records = [FileRecord(p.name, run.result, None) for p, run in zip(paths, runs, strict=True)]
    records.append(FileRecord("bad.mp3", None, "'bad.mp3' is empty (0 bytes)"))
    table, archive = save_batch(root, records, runs)

    assert table.parent == archive.parent
    assert table.parent.parent == root and BATCH_NAME.match(table.parent.name)
    assert (table.name, archive.name) == ("results.csv", "runs.zip")
    rows = read_csv(table)
    assert [row["file"] for row in rows] == ["speech.wav", "call.wav", "bad.mp3"]
    assert rows[1]["segments"] == str(len(CALL_SENTENCES)) and rows[0]["segments"] == ""
    assert rows[2]["error"] == "'bad.mp3' is empty (0 bytes)" and rows[2]["emotion"] == ""
    model = engine.status()
    assert [(row["model_id"], row["model_demo"]) for row in rows] == [
        (model.model, "False"), (model.model, "False"), ("", ""),
    ]  # fmt: skip

    short, long = (run.path.name for run in runs)
    common = ["embedding.npy", "processed_audio.wav", "result.json"]
    with zipfile.ZipFile(archive) as zipped:
        assert sorted(zipped.namelist()) == sorted(
            ["results.csv"]
            + [f"{short}/{name}" for name in common]
            + [f"{long}/{name}" for name in [*common, "segments.csv", "segments.json"]]
        )
        assert zipped.read("results.csv") == table.read_bytes()
        for run in runs:
            name = run.path.name
            assert json.loads(zipped.read(f"{name}/result.json")) == run.result
            assert zipped.read(f"{name}/processed_audio.wav") == run.audio_file.read_bytes()
            assert zipped.read(f"{name}/embedding.npy") == run.embedding_file.read_bytes()
        for name in ("segments.csv", "segments.json"):
            assert zipped.read(f"{long}/{name}") == (runs[1].path / name).read_bytes()


def test_segment_tables_hold_the_segment_rows_of_result_json(engine, call, clips, tmp_path):
    run = save_run(engine.analyze(call[0]), tmp_path)
    result = json.loads(run.result_file.read_text(encoding="utf-8"))
    columns, rows = result["segments"]["columns"], result["segments"]["rows"]
    assert len(rows) == len(CALL_SENTENCES)
    assert run.segment_files == (run.path / "segments.csv", run.path / "segments.json")

    document = json.loads((run.path / "segments.json").read_text(encoding="utf-8"))
    assert document == {
        "method": "vad",
        "summary": result["summary"],
        "segments": [dict(zip(columns, row, strict=True)) for row in rows],
    }

    table = read_csv(run.path / "segments.csv")
    assert list(table[0]) == SEGMENT_FIELDS + SCORE_COLUMNS
    chinese = {emotion.key: emotion.zh for emotion in EMOTIONS}
    assert len(table) == len(rows)
    for i, (line, (start, end, emotion, confidence, scores)) in enumerate(
        zip(table, rows, strict=True)
    ):
        assert int(line["index"]) == i
        assert (float(line["start_s"]), float(line["end_s"])) == (start, end)
        assert (line["emotion"], line["emotion_zh"]) == (emotion, chinese[emotion])
        assert float(line["confidence"]) == confidence
        assert {key: float(line[f"score_{key}"]) for key in scores} == scores

    short = save_run(engine.analyze(clips["wav"]), tmp_path)
    assert short.segment_files == ()
    assert sorted(p.name for p in short.path.iterdir()) == ["processed_audio.wav", "result.json"]
