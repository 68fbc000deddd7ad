"""The optional Ray extra in tests; a pytest plugin (conftest.py) whose `cluster` fixture is
a local 2-CPU Ray per test module.

`require_ray()` skips a module without the extra, except in CI, which installs it
(./run.sh test): there a skip would hide the untested distributed code.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

MISSING = "needs the distributed extra: pip install '.[distributed]'"


def require_ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail(MISSING)
        pytest.skip(MISSING, allow_module_level=True)
    return ray


@pytest.fixture(scope="module")
def cluster(isolated_cache) -> Iterator[None]:
    """A local Ray with 2 CPUs; its workers inherit E2V_CACHE_DIR, so the demo model is
    built once and shared."""
    ray = require_ray()
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    yield
    if "ray.serve" in sys.modules:
        from ray import serve

        serve.shutdown()
    ray.shutdown()


def process_ids(*markers: bytes) -> list[int]:
    """Processes whose command line holds every marker: Ray titles its workers, e.g.
    "ray::MapWorker(MapBatches(Analyzer))" or "ray::ServeReplica:emotion2vec:Emotion2vec"."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            title = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if proc.name.isdigit() and all(marker in title for marker in markers):
            pids.append(int(proc.name))
    return pids
