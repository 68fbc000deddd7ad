"""What one analysis asks for, and the length rules every analysis obeys.

Every front end builds an AnalysisOptions; `check` is the one place where a recording is
refused for its length, whichever engine or front end runs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from emotion2vec_app.audio import AudioTooLong, Waveform, check_duration
from emotion2vec_app.labels import Emotion
from emotion2vec_app.results import GRANULARITIES

SEGMENTATIONS = ("auto", "off", "vad", "fixed")
CHANNEL_MODES = ("mix", "split")
LONG_AUDIO_S = 30.0  # "auto" segments recordings longer than this
MAX_PASS_S = 60.0  # the longest clip one forward pass takes (attention memory grows as T^2)


@dataclass(frozen=True)
class AnalysisOptions:
    """How to analyse one recording.

    segmentation: "auto" cuts recordings longer than LONG_AUDIO_S into speech segments with
    Silero VAD; "vad" and "fixed" (10 s windows) always cut; "off" is one pass (at most
    MAX_PASS_S). A cut recording gets a segment timeline and a duration-weighted summary.

    emotions: score only these classes (keys, e.g. "angry,happy,neutral,sad", the papers'
    4-class setup): the head's other logits are masked and the softmax runs over these, as
    FunASR masks unused classes. None scores every class. Results keep the head's order.

    channels: "mix" downmixes to mono; "split" analyses each channel of a recording apart,
    as the speaker it is (a stereo call's agent and customer), each with its own VAD segments
    (so "split" always segments, with VAD). channel_names names them in order.
    """

    granularity: str = "utterance"
    extract_embedding: bool = False
    smooth_s: float = 0.0
    segmentation: str = "auto"
    emotions: tuple[str, ...] | None = None
    channels: str = "mix"
    channel_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "emotions", parse_emotions(self.emotions))
        object.__setattr__(self, "channel_names", parse_names(self.channel_names))
        if self.channels not in CHANNEL_MODES:
            raise ValueError(
                f"channels must be one of {', '.join(CHANNEL_MODES)}, not {self.channels!r}"
            )
        if self.split and self.frames:
            raise ValueError(
                "channels split gives each channel a segment timeline: frame scores are for "
                "one signal; use granularity utterance, or channels mix for frames"
            )
        if self.split and self.segmentation in ("off", "fixed"):
            raise ValueError(
                "channels split cuts each channel into its own speech segments with VAD: "
                f"use segmentation auto or vad, not {self.segmentation}"
            )
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

    def scored(self, classes: Sequence[Emotion]) -> tuple[Emotion, ...]:
        """The classes its results have, of an engine's `classes()`: the columns of a table."""
        keys = [emotion.key for emotion in classes]
        return tuple(classes[i] for i in subset_indices(keys, self.emotions))

    @property
    def split(self) -> bool:
        return self.channels == "split"

    def segments(self, duration_s: float) -> bool:
        """Whether a recording this long is cut into segments."""
        if self.split:
            return True
        if self.segmentation == "auto":
            return duration_s > LONG_AUDIO_S
        return self.segmentation != "off"

    @property
    def segmentation_method(self) -> str:
        return "fixed" if self.segmentation == "fixed" else "vad"

    def names_of(self, count: int) -> tuple[str, ...]:
        """The names of a recording's `count` channels: those given, else left/right for
        stereo, else channel 1..N."""
        if self.channel_names is not None:
            if len(self.channel_names) != count:
                raise ValueError(
                    f"{len(self.channel_names)} channel names "
                    f"({', '.join(self.channel_names)}) for a recording with {count} "
                    "channel(s): give one name per channel"
                )
            return self.channel_names
        return ("left", "right") if count == 2 else tuple(f"channel {i + 1}" for i in range(count))

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


def parse_emotions(emotions: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """A subset given as "angry, happy" or ["Angry", "happy"], as ("angry", "happy");
    empty means every class."""
    if emotions is None:
        return None
    items = emotions.split(",") if isinstance(emotions, str) else list(emotions)
    keys = tuple(dict.fromkeys(str(item).strip().lower() for item in items if str(item).strip()))
    if not keys:
        return None
    if len(keys) < 2:
        raise ValueError(
            f"an emotion subset needs at least two emotions (a softmax over {keys[0]!r} alone "
            "is always 1)"
        )
    return keys


def subset_indices(classes: Sequence[str], emotions: Sequence[str] | None) -> tuple[int, ...]:
    """Which of `classes` (a head's keys, in its order) a subset scores, in that order; a key
    that is not one of them is refused with the list of those that are."""
    if emotions is None:
        return tuple(range(len(classes)))
    unknown = [key for key in emotions if key not in classes]
    if unknown:
        raise ValueError(
            f"{', '.join(map(repr, unknown))} {'is' if len(unknown) == 1 else 'are'} not "
            f"among the classes of this model: {', '.join(classes)}"
        )
    return tuple(i for i, key in enumerate(classes) if key in emotions)


def parse_names(names: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """Channel names given as "agent,customer" or a list; distinct and non-empty."""
    if names is None:
        return None
    items = names.split(",") if isinstance(names, str) else list(names)
    cleaned = tuple(str(item).strip() for item in items)
    if not any(cleaned):
        return None
    if not all(cleaned) or len(set(cleaned)) != len(cleaned):
        raise ValueError(f"channel names must be distinct and non-empty: {', '.join(items)}")
    return cleaned
