"""What one analysis asks for (AnalysisOptions) and how its Prediction is put together."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from emotion2vec_app.audio import AudioTooLong, Waveform, decode_audio
from emotion2vec_app.results import GRANULARITIES, FrameTimeline, ModelInfo, Prediction

if TYPE_CHECKING:  # torch-dependent modules, imported by the engine's load thread
    from emotion2vec_app.inference import ClipScores
    from emotion2vec_app.loader import LoadedModel

SEGMENTATIONS = ("auto", "off", "vad", "fixed")
LONG_AUDIO_S = 30.0  # "auto" segments recordings longer than this
MAX_PASS_S = 60.0  # the longest clip one forward pass takes (attention memory grows as T^2)


@dataclass(frozen=True)
class AnalysisOptions:
    """How to analyse one recording.

    segmentation: "auto" cuts recordings longer than LONG_AUDIO_S into speech segments with
    Silero VAD; "vad" and "fixed" (10 s windows) always cut; "off" is one pass (at most
    MAX_PASS_S). A cut recording gets a segment timeline and a duration-weighted summary.
    """

    granularity: str = "utterance"
    extract_embedding: bool = False
    smooth_s: float = 0.0
    segmentation: str = "auto"

    def __post_init__(self) -> None:
        if self.granularity not in GRANULARITIES:
            raise ValueError(
                f"granularity must be one of {', '.join(GRANULARITIES)}, not {self.granularity!r}"
            )
        if not 0.0 <= self.smooth_s <= 10.0:
            raise ValueError(f"smooth_s must be between 0 and 10 seconds, not {self.smooth_s}")
        if self.segmentation not in SEGMENTATIONS:
            raise ValueError(
                f"segmentation must be one of {', '.join(SEGMENTATIONS)}, not {self.segmentation!r}"
            )

    def segments(self, duration_s: float) -> bool:
        """Whether a recording this long is cut into segments."""
        if self.segmentation == "auto":
            return duration_s > LONG_AUDIO_S
        return self.segmentation != "off"

    @property
    def segmentation_method(self) -> str:
        return "fixed" if self.segmentation == "fixed" else "vad"


def decode_for(
    audio: str | Path | bytes | np.ndarray | Waveform,
    options: AnalysisOptions,
    *,
    max_duration_s: float | None,
    sample_rate: int | None = None,
    name: str | None = None,
) -> Waveform:
    """Decode (unless already a Waveform) and check the length against the cap that applies
    to these options: one unsegmented pass takes at most MAX_PASS_S."""
    if isinstance(audio, Waveform):
        waveform = audio
    else:
        waveform = decode_audio(
            audio, sample_rate=sample_rate, name=name, max_duration_s=max_duration_s
        )
    if not options.segments(waveform.duration_s) and waveform.duration_s > MAX_PASS_S:
        raise AudioTooLong(
            f"'{waveform.info.name}' is {waveform.duration_s:.1f} s long, above the "
            f"{MAX_PASS_S:g} s that one pass of the model takes (attention memory grows "
            "with the square of the length): choose segmentation auto, vad or fixed."
        )
    return waveform


def clip_prediction(
    model: LoadedModel,
    waveform: Waveform,
    options: AnalysisOptions,
    scores: ClipScores,
    seconds: dict[str, float],
) -> Prediction:
    from emotion2vec_app.inference import FRAME_HOP_S

    frames = None
    if scores.frame_probs is not None:
        frames = FrameTimeline(
            hop_s=FRAME_HOP_S,
            probs=scores.frame_probs,
            emotions=model.labels.emotions,
            smooth_s=options.smooth_s,
        )
    return build_prediction(
        model, waveform, options, scores.probs, seconds, frames=frames, embedding=scores.embedding
    )


def build_prediction(
    model: LoadedModel,
    waveform: Waveform,
    options: AnalysisOptions,
    probs: np.ndarray,
    seconds: dict[str, float],
    notes: Sequence[str] = (),
    **parts,
) -> Prediction:
    warnings = [*waveform.warnings, *notes]
    if model.labels.warning:
        warnings.append(model.labels.warning)
    timings_ms = {step: s * 1000 for step, s in seconds.items()}
    timings_ms["total"] = sum(timings_ms.values())
    return Prediction(
        emotions=model.labels.emotions,
        probs=probs,
        granularity=options.granularity,
        waveform=waveform,
        model=ModelInfo(
            id=model.model_dir.model_id,
            demo=model.model_dir.demo,
            device=str(model.device),
            dtype=model.precision,
        ),
        timings_ms=timings_ms,
        warnings=warnings,
        **parts,
    )
