"""What one analysis returns, and its one JSON form (API result, result.json, CLI --json)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from emotion2vec_app.audio import SourceInfo, Waveform
from emotion2vec_app.labels import Emotion

GRANULARITIES = ("utterance", "frame")


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
    """Per-frame class probabilities: row t covers [t * hop_s, (t + 1) * hop_s)."""

    hop_s: float
    probs: np.ndarray  # (T, C) float32
    emotions: tuple[Emotion, ...]
    smooth_s: float = 0.0

    @property
    def start_s(self) -> np.ndarray:
        return np.arange(len(self.probs)) * self.hop_s

    @property
    def top(self) -> list[Emotion]:
        return [self.emotions[i] for i in self.probs.argmax(axis=1)]

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


@dataclass
class Prediction:
    """One analysed clip: utterance scores, optional frame timeline and embedding."""

    emotions: tuple[Emotion, ...]
    probs: np.ndarray  # (C,) float32, in the order of `emotions`
    granularity: str
    waveform: Waveform = field(repr=False)  # the 16 kHz audio the model heard
    model: ModelInfo
    timings_ms: dict[str, float]
    frames: FrameTimeline | None = None
    embedding: np.ndarray | None = None  # (D,) or (T, D) float32
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

    def to_json(self, run_dir: str | None = None, embedding_file: str | None = None) -> dict:
        """The result contract of DESIGN.md; its first five keys match the 科哥 WebUI format."""
        top = self.emotion
        result: dict[str, Any] = {
            "emotion": top.key,
            "confidence": round(self.confidence, 6),
            "scores": {key: round(p, 6) for key, p in self.scores.items()},
            "granularity": self.granularity,
            "timestamp": self.timestamp.strftime("%Y-%m-%d %H:%M:%S"),
            "emotion_zh": top.zh,
            "emoji": top.emoji,
            "audio": self.audio.to_json(),
            "model": self.model.to_json(),
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
            "warnings": list(self.warnings),
        }
        if self.frames is not None:
            result["frames"] = self.frames.to_json()
        if self.embedding is not None:
            result["embedding"] = {"file": embedding_file, "shape": list(self.embedding.shape)}
        if run_dir is not None:
            result["run_dir"] = run_dir
        return result
