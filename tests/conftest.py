import os
from pathlib import Path

import pytest
from clips import make_clip_set, missing_tools

pytest_plugins = ["model_fixtures"]


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
