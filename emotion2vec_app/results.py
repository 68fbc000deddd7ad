"""What one analysis returns, and its one JSON form (API result, result.json, CLI --json)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import pairwise
from typing import Any

import numpy as np

from emotion2vec_app.audio import SourceInfo, Waveform
from emotion2vec_app.labels import Emotion

GRANULARITIES = ("utterance", "frame")
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class ModelInfo:
    id: str
    demo: bool
    device: str
    dtype: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "demo": self.demo, "device": self.device, "dtype": self.dtype}


@dataclass
class FrameTimeline:
    """Per-frame class scores: row t covers [start_s[t], start_s[t] + hop_s).

    One clip's frames are back to back from 0; a segmented file's frames start at each
    segment's offset, with gaps where there is no speech. The head is linear, so smoothing
    the frames' features is smoothing their logits: the timeline keeps the raw logits and
    derives `probs` for any `smooth_s`, and a new smoothing needs no new forward pass.
    """

    hop_s: float
    logits: np.ndarray  # (T, C) float32, unsmoothed, the active classes only
    emotions: tuple[Emotion, ...]
    smooth_s: float = 0.0
    offsets_s: np.ndarray | None = None  # (T,) start times, when not back to back from 0
    probs: np.ndarray = field(init=False, repr=False)  # (T, C) of the smoothed logits

    def __post_init__(self) -> None:
        window = max(1, round(self.smooth_s / self.hop_s))
        smoothed = np.concatenate([moving_mean(self.logits[run], window) for run in self.runs()])
        self.probs = softmax(smoothed)

    @property
    def start_s(self) -> np.ndarray:
        if self.offsets_s is not None:
            return self.offsets_s
        return np.arange(len(self.logits)) * self.hop_s

    @property
    def top(self) -> list[Emotion]:
        return [self.emotions[i] for i in self.probs.argmax(axis=1)]

    def runs(self) -> list[slice]:
        """The stretches of back-to-back frames (one per speech segment, or one for a clip):
        smoothing stays inside one, and a chart breaks its lines between them."""
        gaps = np.flatnonzero(np.diff(self.start_s) > 1.5 * self.hop_s) + 1
        bounds = [0, *gaps.tolist(), len(self.logits)]
        return [slice(a, b) for a, b in pairwise(bounds)]

    def smoothed(self, smooth_s: float) -> FrameTimeline:
        """The same frames under another smoothing window."""
        return replace(self, smooth_s=smooth_s)

    def to_json(self) -> dict[str, Any]:
        return {
            "hop_s": self.hop_s,
            "smooth_s": self.smooth_s,
            "start_s": [round(float(s), 2) for s in self.start_s],
            "emotion": [emotion.key for emotion in self.top],
            "scores": {
                emotion.key: [round(float(p), 4) for p in self.probs[:, i]]
                for i, emotion in enumerate(self.emotions)
            },
        }


def softmax(logits: np.ndarray) -> np.ndarray:
    """Over the last axis, as float32."""
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (exp / exp.sum(axis=-1, keepdims=True)).astype(np.float32)


def moving_mean(series: np.ndarray, window: int) -> np.ndarray:
    """Centred moving mean over `window` rows (made odd to stay centred); the edges average
    the rows that exist."""
    if window <= 1:
        return series.astype(np.float64)
    half = (window + (window + 1) % 2) // 2
    sums = np.concatenate(
        [np.zeros((1, series.shape[1])), np.cumsum(series, axis=0, dtype=np.float64)]
    )
    index = np.arange(len(series))
    low, high = np.maximum(index - half, 0), np.minimum(index + half + 1, len(series))
    return (sums[high] - sums[low]) / (high - low)[:, None]


SEGMENT_COLUMNS = ("start_s", "end_s", "emotion", "confidence", "scores")


@dataclass
class SegmentTimeline:
    """Utterance-level scores of each speech segment of a long recording."""

    method: str  # "vad" or "fixed"
    emotions: tuple[Emotion, ...]
    start_s: np.ndarray  # (N,)
    end_s: np.ndarray  # (N,)
    probs: np.ndarray  # (N, C) float32

    def __len__(self) -> int:
        return len(self.probs)

    @property
    def top(self) -> list[Emotion]:
        return [self.emotions[i] for i in self.probs.argmax(axis=1)]

    @property
    def speech_s(self) -> float:
        return float(np.sum(self.end_s - self.start_s))

    def distribution(self) -> np.ndarray:
        """Duration-weighted mean of the segments' probabilities: (C,), sums to 1 (all zero
        when there is no segment: a channel that never speaks)."""
        weights = (self.end_s - self.start_s).astype(np.float64)
        if not len(weights):
            return np.zeros(len(self.emotions), np.float32)
        return (weights @ self.probs.astype(np.float64) / weights.sum()).astype(np.float32)

    def changes(self) -> list[dict[str, Any]]:
        """Where the top emotion differs from the segment before."""
        top = self.top
        return [
            {"time_s": round(float(self.start_s[i]), 2), "from": top[i - 1].key, "to": top[i].key}
            for i in range(1, len(top))
            if top[i] != top[i - 1]
        ]

    def rows(self) -> list[list[Any]]:
        """[start_s, end_s, emotion, confidence, scores], one per segment."""
        return [
            [
                round(float(start), 2),
                round(float(end), 2),
                emotion.key,
                round(float(probs.max()), 6),
                {e.key: round(float(p), 6) for e, p in zip(self.emotions, probs, strict=True)},
            ]
            for start, end, emotion, probs in zip(
                self.start_s, self.end_s, self.top, self.probs, strict=True
            )
        ]

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "columns": list(SEGMENT_COLUMNS), "rows": self.rows()}

    def summary(self) -> dict[str, Any]:
        distribution = self.distribution()
        dominant = self.emotions[int(distribution.argmax())].key if len(self) else None
        return {
            "segments": len(self),
            "speech_s": round(self.speech_s, 2),
            "dominant": dominant,
            "distribution": {
                e.key: round(float(p), 6) for e, p in zip(self.emotions, distribution, strict=True)
            },
            "changes": self.changes(),
        }


@dataclass
class ChannelTimeline:
    """One channel of a recording analysed apart (AnalysisOptions channels="split"): its
    speaker's own segments, and a note when it has none or was merged with another."""

    index: int
    name: str
    segments: SegmentTimeline
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        result = {
            "index": self.index,
            "name": self.name,
            "segments": self.segments.to_json(),
            "summary": self.segments.summary(),
        }
        if self.note:
            result["note"] = self.note
        return result


def merge_channels(
    channels: list[ChannelTimeline],
) -> tuple[SegmentTimeline, list[tuple[int, int]]]:
    """Every channel's segments on one timeline, by start time, and where each row came
    from: (channel index, row in that channel's timeline)."""
    by_index = {c.index: c.segments for c in channels}
    order = sorted(
        ((c.index, i) for c in channels for i in range(len(c.segments))),
        key=lambda part: (by_index[part[0]].start_s[part[1]], part[0]),
    )
    first = channels[0].segments
    width = len(first.emotions)
    merged = SegmentTimeline(
        first.method,
        first.emotions,
        np.array([by_index[c].start_s[i] for c, i in order], np.float64),
        np.array([by_index[c].end_s[i] for c, i in order], np.float64),
        np.array([by_index[c].probs[i] for c, i in order], np.float32).reshape(-1, width),
    )
    return merged, order


def overlap_s(channels: list[ChannelTimeline]) -> float:
    """Time when two or more channels speak at once."""
    edges = sorted(
        (time, step)
        for c in channels
        for start, end in zip(c.segments.start_s, c.segments.end_s, strict=True)
        for time, step in ((float(start), 1), (float(end), -1))
    )
    total, speaking, since = 0.0, 0, 0.0
    for time, step in edges:
        if speaking >= 2:
            total += time - since
        speaking, since = speaking + step, time
    return total


def channels_summary(channels: list[ChannelTimeline]) -> dict[str, Any]:
    """Who talked how long, how long both did, and each one's emotion changes, merged."""
    changes = sorted(
        ({**change, "channel": c.name} for c in channels for change in c.segments.changes()),
        key=lambda change: change["time_s"],
    )
    return {
        "talk_s": {c.name: round(c.segments.speech_s, 2) for c in channels},
        "overlap_s": round(overlap_s(channels), 2),
        "changes_per_channel": {c.name: len(c.segments.changes()) for c in channels},
        "changes": changes,
    }


@dataclass
class Prediction:
    """One analysed clip: utterance scores, optional frame timeline and embedding.

    A segmented recording's utterance scores are the duration-weighted distribution over its
    segments, and its embedding holds one row per segment.
    """

    emotions: tuple[Emotion, ...]
    probs: np.ndarray  # (C,) float32, in the order of `emotions`
    granularity: str
    waveform: Waveform = field(repr=False)  # the 16 kHz audio the model heard
    model: ModelInfo
    timings_ms: dict[str, float]
    frames: FrameTimeline | None = None
    embedding: np.ndarray | None = None  # (D,), (T, D) frames or (N, D) segments, float32
    segments: SegmentTimeline | None = None
    channels: list[ChannelTimeline] | None = None  # split: each channel's own timeline
    segment_channels: list[int] | None = None  # split: each row of `segments`'s channel
    warnings: list[str] = field(default_factory=list)
    timestamp: datetime = field(default_factory=datetime.now)

    @property
    def audio(self) -> SourceInfo:
        return self.waveform.info

    @property
    def emotion(self) -> Emotion:
        return self.emotions[int(np.argmax(self.probs))]

    @property
    def confidence(self) -> float:
        return float(np.max(self.probs))

    @property
    def scores(self) -> dict[str, float]:
        return {e.key: float(p) for e, p in zip(self.emotions, self.probs, strict=True)}

    def without_samples(self) -> Prediction:
        """All of it but the audio: what a page keeps between events, as a 3-hour call's
        samples would hold 700 MB per open page (a split call's channels as much again)."""
        empty = Waveform(np.zeros(0, np.float32), self.waveform.info, self.waveform.warnings)
        return replace(self, waveform=empty)

    def to_json(self, run_dir: str | None = None, embedding_file: str | None = None) -> dict:
        """The result contract of DESIGN.md; its first five keys match the 科哥 WebUI format."""
        top = self.emotion
        result: dict[str, Any] = {
            "emotion": top.key,
            "confidence": round(self.confidence, 6),
            "scores": {key: round(p, 6) for key, p in self.scores.items()},
            "granularity": self.granularity,
            "timestamp": self.timestamp.strftime(TIMESTAMP_FORMAT),
            "emotion_zh": top.zh,
            "emoji": top.emoji,
            "audio": self.audio.to_json(),
            "model": self.model.to_json(),
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
            "warnings": list(self.warnings),
        }
        if self.segments is not None:
            result["segments"] = self.segments.to_json()
            result["summary"] = self.segments.summary()
        if self.channels is not None:
            if self.segment_channels is not None:
                names = {c.index: c.name for c in self.channels}
                result["segments"]["channel"] = [names[i] for i in self.segment_channels]
            result["summary"].update(channels_summary(self.channels))
            result["channels"] = [channel.to_json() for channel in self.channels]
        if self.frames is not None:
            result["frames"] = self.frames.to_json()
        if self.embedding is not None:
            result["embedding"] = {"file": embedding_file, "shape": list(self.embedding.shape)}
        if run_dir is not None:
            result["run_dir"] = run_dir
        return result


@dataclass(frozen=True)
class LiveUpdate:
    """One hop of a live stream: the last `window_s` seconds, scored as an utterance.

    `emotion` and `scores` are empty when the window holds no speech: silence gets no
    made-up emotion. `skipped` counts the windows passed over to reach this one (scoring
    was slower than the hop); `latency_s` runs from the arrival of the chunk that completed
    the window to this result."""

    t_s: float  # the window's end, in stream time
    window_s: float
    speech: bool
    emotions: tuple[Emotion, ...]
    probs: np.ndarray | None  # (C,) in the order of `emotions`; None without speech
    skipped: int
    latency_s: float
    inference_s: float
    done_at: float  # time.perf_counter() when it was ready: the achieved hop's clock

    @property
    def emotion(self) -> Emotion | None:
        return None if self.probs is None else self.emotions[int(np.argmax(self.probs))]

    @property
    def confidence(self) -> float | None:
        return None if self.probs is None else float(np.max(self.probs))

    @property
    def scores(self) -> dict[str, float]:
        if self.probs is None:
            return {}
        return {e.key: float(p) for e, p in zip(self.emotions, self.probs, strict=True)}

    def to_json(self) -> dict[str, Any]:
        """One line of `stream --json`."""
        top, confidence = self.emotion, self.confidence
        return {
            "t_s": round(self.t_s, 3),
            "start_s": round(self.t_s - self.window_s, 3),
            "speech": self.speech,
            "emotion": top.key if top else None,
            "confidence": None if confidence is None else round(confidence, 6),
            "scores": {key: round(p, 6) for key, p in self.scores.items()},
            "emotion_zh": top.zh if top else None,
            "emoji": top.emoji if top else None,
            "skipped": self.skipped,
            "latency_ms": round(self.latency_s * 1000, 1),
            "inference_ms": round(self.inference_s * 1000, 1),
        }


@dataclass(frozen=True)
class LiveStats:
    """How a live stream kept up: latency percentiles and the achieved hop (wall seconds
    between updates, against the hop asked for)."""

    updates: int
    skipped: int
    latency_p50_s: float
    latency_p95_s: float
    achieved_hop_s: float | None  # None with fewer than two updates

    @classmethod
    def of(cls, updates: list[LiveUpdate]) -> LiveStats:
        latencies = [u.latency_s for u in updates] or [0.0]
        done = [u.done_at for u in updates]
        return cls(
            updates=len(updates),
            skipped=sum(u.skipped for u in updates),
            latency_p50_s=float(np.percentile(latencies, 50)),
            latency_p95_s=float(np.percentile(latencies, 95)),
            achieved_hop_s=(done[-1] - done[0]) / (len(done) - 1) if len(done) > 1 else None,
        )

    def line(self) -> str:
        hop = self.achieved_hop_s
        every = "" if hop is None else f"; an update every {hop:.2f} s"
        return (
            f"{self.updates} updates ({self.skipped} windows skipped); latency p50 "
            f"{self.latency_p50_s * 1000:.0f} ms, p95 {self.latency_p95_s * 1000:.0f} ms{every}"
        )
