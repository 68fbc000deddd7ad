import os
from pathlib import Path

import pytest
from clips import (
    CALL_PAUSES_S,
    CALL_SENTENCES,
    make_clip_set,
    make_labelled_set,
    missing_tools,
    speak_with_pauses,
)

from emotion2vec_app.options import LONG_AUDIO_S

pytest_plugins = ["model_fixtures", "server_harness", "ray_harness", "browser_harness"]


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide folder for synthesised audio; skips when espeak-ng or sox is missing."""
    missing = missing_tools()
    if missing:
        needed = " and ".join(missing)
        # CI installs them (./run.sh test): there, a skip would hide untested audio paths.
        report = pytest.fail if os.environ.get("CI") else pytest.skip
        report(f"test audio needs {needed}: apt install espeak-ng sox libsox-fmt-all")
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def clips(clip_dir: Path) -> dict[str, Path]:
    """The same spoken sentence in every supported format, made once per session."""
    return make_clip_set(clip_dir)


@pytest.fixture(scope="session")
def call(clip_dir: Path) -> tuple[Path, list[tuple[float, float]]]:
    """An 8-sentence 'call', longer than LONG_AUDIO_S, with known silences between sentences;
    returns the WAV and each sentence's (start_s, end_s)."""
    path = clip_dir / "call.wav"
    bounds = speak_with_pauses(CALL_SENTENCES, CALL_PAUSES_S, path, noise=0.002)
    assert bounds[-1][1] > LONG_AUDIO_S
    return path, bounds


@pytest.fixture(scope="session")
def labelled_set(clip_dir: Path) -> Path:
    """A folder of class folders (low, high, noise; 8 files each) for evaluation and heads."""
    return make_labelled_set(clip_dir / "labelled")
