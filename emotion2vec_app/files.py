"""Which files a list of files, folders and globs names: the one expansion every batch uses."""

from __future__ import annotations

import glob
from collections.abc import Iterable
from pathlib import Path

AUDIO_SUFFIXES = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".mp4", ".aac", ".webm", ".wma"}
)


def is_audio_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES


def expand_inputs(patterns: Iterable[str]) -> tuple[list[Path], list[str]]:
    """Files, folders (searched recursively for audio) and globs, in order, each file once.

    Returns the files and one problem per pattern that matched nothing. A file named
    directly is kept whatever its suffix: the decoder decides, and says why if it cannot.
    """
    files: list[Path] = []
    problems: list[str] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if is_audio_file(p))
            if not found:
                problems.append(f"{pattern}: no audio files in this folder")
        elif path.exists():
            found = [path]
        elif glob.has_magic(pattern):
            found = sorted(
                p for p in map(Path, glob.glob(pattern, recursive=True)) if is_audio_file(p)
            )
            if not found:
                problems.append(f"{pattern}: no audio files match")
        else:
            found = []
            problems.append(f"{pattern}: not found")
        files.extend(found)
    seen: set[Path] = set()
    unique = []
    for path in files:  # the first mention of a file wins
        if path.resolve() not in seen:
            seen.add(path.resolve())
            unique.append(path)
    return unique, problems
