"""The emotion labels: what tokens.txt says, in a form the UI, API and CLI can show."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Emotion:
    key: str
    zh: str
    en: str
    emoji: str
    colour: str

    def to_json(self) -> dict[str, str]:
        return {"key": self.key, "zh": self.zh, "en": self.en, "emoji": self.emoji}


# Order of tokens.txt in the current emotion2vec+ snapshots.
EMOTIONS: tuple[Emotion, ...] = (
    Emotion("angry", "生气", "Angry", "😠", "#e74c3c"),
    Emotion("disgusted", "厌恶", "Disgusted", "🤢", "#8e44ad"),
    Emotion("fearful", "恐惧", "Fearful", "😨", "#34495e"),
    Emotion("happy", "开心", "Happy", "😊", "#f1c40f"),
    Emotion("neutral", "中立", "Neutral", "😐", "#95a5a6"),
    Emotion("other", "其他", "Other", "🤔", "#16a085"),
    Emotion("sad", "难过", "Sad", "😢", "#3498db"),
    Emotion("surprised", "吃惊", "Surprised", "😲", "#e67e22"),
    Emotion("unknown", "未知", "Unknown", "❓", "#bdc3c7"),
)
_BY_KEY = {emotion.key: emotion for emotion in EMOTIONS}
# Muted, distinguishable tones for classes that are not the model's emotions (a trained
# head's own labels): no emotion's colour or emoji is borrowed for them.
NEUTRAL_COLOURS = ("#607d8b", "#8d6e63", "#78909c", "#a1887f", "#546e7a", "#9e9d24", "#5d4037")
CUSTOM_EMOJI = "🏷️"

UNUSED_PREFIX = "unuse"


def emotion_for_token(token: str) -> Emotion:
    """Map one tokens.txt line ("生气/angry", "<unk>", "angry") to an Emotion."""
    token = token.strip()
    if token in ("<unk>", "unk"):
        return _BY_KEY["unknown"]
    zh, _, en = token.rpartition("/")
    key = (en or token).strip().lower()
    if key in _BY_KEY:
        return _BY_KEY[key]
    return Emotion(key, zh or token, token, CUSTOM_EMOJI, "#7f8c8d")


def emotions_for_labels(labels: tuple[str, ...]) -> tuple[Emotion, ...]:
    """A trained head's classes: the model's own Emotion where a label names one, otherwise
    the label itself, with a tag and a neutral colour of its own."""
    return tuple(
        _BY_KEY.get(label.lower())
        or Emotion(label, label, label, CUSTOM_EMOJI, NEUTRAL_COLOURS[i % len(NEUTRAL_COLOURS)])
        for i, label in enumerate(labels)
    )


def emotion_aliases() -> dict[str, str]:
    """Other spellings of the model's emotions (English and Chinese names), by lower case."""
    return {
        spelling.lower(): emotion.key
        for emotion in EMOTIONS
        for spelling in (emotion.en, emotion.zh)
    }


@dataclass(frozen=True)
class LabelSet:
    """The model's output classes: all tokens, and the ones FunASR actually reports."""

    tokens: tuple[str, ...]

    @property
    def active_indices(self) -> tuple[int, ...]:
        # FunASR masks "unuse_*" slots to -inf and drops them from its output.
        return tuple(i for i, t in enumerate(self.tokens) if not t.startswith(UNUSED_PREFIX))

    @property
    def emotions(self) -> tuple[Emotion, ...]:
        return tuple(emotion_for_token(self.tokens[i]) for i in self.active_indices)

    @property
    def is_stale_snapshot(self) -> bool:
        return len(self.active_indices) < len(self.tokens)

    @property
    def warning(self) -> str | None:
        if not self.is_stale_snapshot:
            return None
        return (
            f"This model snapshot is an old one: its tokens.txt marks "
            f"{len(self.tokens) - len(self.active_indices)} of {len(self.tokens)} classes as "
            f"unused, so only {len(self.active_indices)} emotions are scored. "
            "Download the current snapshot for all 9."
        )


def read_labels(tokens_path: Path) -> LabelSet:
    tokens = tuple(
        line.strip()
        for line in tokens_path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    )
    if not tokens:
        raise ValueError(f"{tokens_path} lists no labels.")
    return LabelSet(tokens)
