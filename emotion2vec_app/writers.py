"""Tables of results as CSV and JSON Lines: one recording's segments or frames, one record per
batch file.

Flat records for CSV (one column per emotion score); JSON Lines keep the whole result. Both
writers append, so an interrupted batch resumes where it stopped (`finished_files`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from emotion2vec_app.labels import EMOTIONS
from emotion2vec_app.results import Prediction

TABLE_FORMATS = ("jsonl", "csv")
EMOTION_KEYS = tuple(e.key for e in EMOTIONS)  # the model's own classes, all nine


def score_columns(keys: Sequence[str]) -> list[str]:
    """A score column per class scored: the model's nine, a subset, or a trained head's."""
    return [f"score_{key}" for key in keys]


SCORE_COLUMNS = score_columns(EMOTION_KEYS)
SEGMENT_FIELDS = ["index", "start_s", "end_s", "emotion", "emotion_zh", "confidence"]
BATCH_FIELDS = [
    "file",
    "emotion",
    "emotion_zh",
    "confidence",
    "duration_s",
    "segments",
    "run_dir",
    "model_id",
    "model_demo",
    "error",
]
FRAME_FIELDS = ["time_s", "emotion"]


def segment_fields(prediction: Prediction) -> list[str]:
    """segments.csv's columns: a channel column when channels were analysed apart."""
    channel = ["channel"] if prediction.segment_channels is not None else []
    keys = [emotion.key for emotion in prediction.emotions]
    return SEGMENT_FIELDS[:1] + channel + SEGMENT_FIELDS[1:] + score_columns(keys)


def segment_records(prediction: Prediction) -> list[dict[str, Any]]:
    """One flat record per segment of a segmented recording (with its channel's name when
    channels were analysed apart)."""
    timeline = prediction.segments
    if timeline is None:
        return []
    names = {c.index: c.name for c in prediction.channels or []}
    channels = [names[i] for i in prediction.segment_channels or []]
    return [
        {
            "index": i,
            **({"channel": channels[i]} if channels else {}),
            "start_s": start,
            "end_s": end,
            "emotion": emotion,
            "emotion_zh": top.zh,
            "confidence": confidence,
            **{f"score_{key}": p for key, p in scores.items()},
        }
        for i, ((start, end, emotion, confidence, scores), top) in enumerate(
            zip(timeline.rows(), timeline.top, strict=True)
        )
    ]


def frame_records(frames: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """result.json's "frames" as a table's fields and records, with the very same numbers:
    a record per frame, its start (time_s), top emotion and a score per emotion, in the
    model's label order."""
    scores = frames["scores"]
    fields = FRAME_FIELDS + [f"score_{key}" for key in scores]
    columns = [frames["start_s"], frames["emotion"], *scores.values()]
    return fields, [dict(zip(fields, row, strict=True)) for row in zip(*columns, strict=True)]


@dataclass(frozen=True)
class FileRecord:
    """One file of a batch, the one shape that every batch table is made of: CSV and JSON
    Lines, the WebUI's table and /analyze_batch, and the Ray job's rows."""

    file: str
    result: dict[str, Any] | None  # result.json's dict (with run_dir once saved)
    error: str | None = None
    keys: tuple[str, ...] = EMOTION_KEYS  # the batch's classes: a column each

    def row(self) -> dict[str, Any]:
        """Flat: BATCH_FIELDS and a score per class; None where a failed file has no value."""
        result = self.result
        if result is None:
            return {field: None for field in BATCH_FIELDS + score_columns(self.keys)} | {
                "file": self.file,
                "error": self.error,
            }
        summary, model = result.get("summary"), result["model"]
        return {
            "file": self.file,
            "emotion": result["emotion"],
            "emotion_zh": result["emotion_zh"],
            "confidence": result["confidence"],
            "duration_s": result["audio"]["duration_s"],
            "segments": summary["segments"] if summary else None,
            "run_dir": result.get("run_dir"),
            "model_id": model["id"],
            "model_demo": model["demo"],
            "error": None,
            **{f"score_{key}": result["scores"].get(key) for key in self.keys},
        }

    def document(self) -> dict[str, Any]:
        """Whole: the file and its result, or the file and its error."""
        if self.result is None:
            return {"file": self.file, "error": self.error}
        return {"file": self.file, **self.result}


class TableWriter:
    """Appends records to a file and flushes each, so a crash loses at most one record."""

    suffix = ""

    def __init__(self, path: Path, fields: Sequence[str], *, append: bool = False) -> None:
        self.path = Path(path)
        self.fields = list(fields)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        existing = append and self.path.exists() and self.path.stat().st_size > 0
        cut_off = existing and _ends_mid_line(self.path)
        self._handle: TextIO = self.path.open("a" if append else "w", encoding="utf-8", newline="")
        if cut_off:  # a killed run's half line: end it, so the next record starts clean
            self._handle.write(self._line_end_after_cut())
        self._start(existing)

    def _line_end_after_cut(self) -> str:
        """What ends a half-written record."""
        return "\n"

    def _start(self, existing: bool) -> None:
        """Write whatever heads the file."""

    def write(self, record: dict[str, Any]) -> None:
        raise NotImplementedError

    def write_file(self, record: FileRecord) -> None:
        """A batch file's record, in the shape this format keeps."""
        self.write(record.document())

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CsvWriter(TableWriter):
    suffix = ".csv"

    def _line_end_after_cut(self) -> str:
        # A record cut inside a quoted field (a file name or error with a comma) leaves a
        # quote open, and a bare newline would not end it: every later record would be
        # read as part of that field. Quotes are doubled inside fields, so an odd count
        # in the file means one is open.
        return '"\n' if _count_quotes(self.path) % 2 else "\n"

    def _start(self, existing: bool) -> None:
        if existing:  # a table from an older version keeps its columns: rows match its header
            self.fields = _csv_header(self.path) or self.fields
        self._csv = csv.DictWriter(self._handle, self.fields, extrasaction="ignore")
        if not existing:
            self._csv.writeheader()

    def write(self, record: dict[str, Any]) -> None:
        self._csv.writerow(record)
        self._handle.flush()

    def write_file(self, record: FileRecord) -> None:
        self.write(record.row())


class JsonlWriter(TableWriter):
    suffix = ".jsonl"

    def write(self, record: dict[str, Any]) -> None:
        self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._handle.flush()


WRITERS: dict[str, type[TableWriter]] = {"csv": CsvWriter, "jsonl": JsonlWriter}


def table_format(path: Path, fmt: str | None = None) -> str:
    """The format asked for, else the one the file name says (.csv or .jsonl)."""
    fmt = fmt or path.suffix.lower().lstrip(".")
    if fmt == "json":
        fmt = "jsonl"
    if fmt not in WRITERS:
        raise ValueError(
            f"cannot tell the table format of '{path.name}': name it .jsonl or .csv, "
            "or pass --format jsonl|csv"
        )
    return fmt


def get_writer(
    path: Path, fields: Sequence[str], fmt: str | None = None, *, append: bool = False
) -> TableWriter:
    return WRITERS[table_format(path, fmt)](path, fields, append=append)


def write_table(
    path: Path, fields: Sequence[str], records: Iterable[dict[str, Any]], fmt: str | None = None
) -> Path:
    with get_writer(path, fields, fmt) as writer:
        for record in records:
            writer.write(record)
    return path


def finished_files(path: Path, fmt: str | None = None) -> set[str]:
    """Files a previous run finished (errors excepted: they are retried), read from a table
    (CSV or JSON Lines) or from a folder of part files (the Ray job's Parquet or JSON Lines).
    """
    if path.is_dir():
        rows = [row for part in sorted(path.iterdir()) for row in _part_rows(part)]
    elif path.exists():
        rows = _table_rows(path, table_format(path, fmt))
    else:
        return set()
    return {row["file"] for row in rows if row.get("file") and not row.get("error")}


def _table_rows(path: Path, fmt: str) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8", newline="") as handle:
        if fmt == "csv":  # a row cut short by a killed run has missing (None) fields
            return [row for row in csv.DictReader(handle) if None not in row.values()]
        return [_json_line(line) for line in handle if line.strip()]


def _part_rows(part: Path) -> list[dict[str, Any]]:
    if part.suffix == ".parquet":
        import pyarrow.parquet as pq  # comes with the Ray extra, which writes these parts

        return pq.read_table(part, columns=["file", "error"]).to_pylist()
    if part.suffix in (".json", ".jsonl"):
        return _table_rows(part, "jsonl")
    return []


def _csv_header(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle), [])


def _ends_mid_line(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, 2)
        return handle.read(1) != b"\n"


def _count_quotes(path: Path) -> int:
    count = 0
    with path.open("rb") as handle:  # '"' is one byte in UTF-8, never inside another character
        while chunk := handle.read(1 << 20):
            count += chunk.count(b'"')
    return count


def _json_line(line: str) -> dict[str, Any]:
    """A line of a JSONL table; the half-written last line of a killed run counts as absent."""
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return {}
