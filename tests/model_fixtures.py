"""Model fixtures: the tiny real-architecture model, its cache, and a ready engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from emotion2vec_app.engine import Engine
from emotion2vec_app.model.synthetic import build_model_dir


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Keep the demo model and weight caches of tests out of the user's ~/.cache."""
    path = tmp_path_factory.mktemp("e2v-cache")
    patch = pytest.MonkeyPatch()
    patch.setenv("E2V_CACHE_DIR", str(path))
    # Any hub access in tests goes to a closed local port, never to the internet.
    patch.setenv("MODELSCOPE_ENDPOINT", "http://127.0.0.1:9")
    patch.delenv("MODELSCOPE_DOMAIN", raising=False)
    patch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    yield path
    patch.undo()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_model_dir(tmp_path_factory.mktemp("models") / "tiny", size="tiny", seed=0)


@pytest.fixture(scope="session")
def engine(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    engine = Engine(str(tiny_model_dir), cache_dir=tmp_path_factory.mktemp("engine-cache"))
    engine.wait_ready(timeout=120)
    return engine
