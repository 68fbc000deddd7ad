"""What one analysis asks for, and the length rules every analysis obeys.

Every front end builds an AnalysisOptions; `check` is the one place where a recording is
refused for its length, whichever engine or front end runs it.
"""

from __future__ import annotations

from dataclasses import dataclass

from emotion2vec_app.audio import AudioTooLong, Waveform, check_duration
from emotion2vec_app.results import GRANULARITIES

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

    @property
    def frames(self) -> bool:
        return self.granularity == "frame"

    def check(self, waveform: Waveform, max_duration_s: float | None) -> None:
        """Refuse a recording these options cannot analyse: longer than the engine's limit,
        or unsegmented and longer than one pass takes."""
        check_duration(waveform.duration_s, waveform.info.name, max_duration_s)
        if not self.segments(waveform.duration_s) and waveform.duration_s > MAX_PASS_S:
            raise AudioTooLong(
                f"'{waveform.info.name}' is {waveform.duration_s:.1f} s long, above the "
                f"{MAX_PASS_S:g} s that one pass of the model takes (attention memory grows "
                "with the square of the length): choose segmentation auto, vad or fixed."
            )
