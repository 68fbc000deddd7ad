"""The example clips shipped with the package: shown on the page, sent by the warm-up."""

from __future__ import annotations

from importlib import resources

EXAMPLES = resources.files("emotion2vec_app") / "examples"
EXAMPLE_FOR_WARMUP = "en_happy_news.wav"


def example_clips() -> list[str]:
    return sorted(str(p) for p in EXAMPLES.iterdir() if p.name.endswith((".wav", ".mp3", ".m4a")))
