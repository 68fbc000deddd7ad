"""Out of memory on demand, for tests: every forward pass that holds a clip of exactly N
samples raises torch.OutOfMemoryError, as a pass too big for the device does.

The two functions that run a pass are wrapped: `model.padding.extract_features_batch` (a
padded batch) and `model.inference.extract_features` (one clip). So a padded pass holding
the clip fails as a whole, the core splits it, and only the clip alone keeps failing.

In this process: `patch(monkeypatch, n)`. In Ray workers and Serve replicas (other
processes, out of monkeypatch's reach): `runtime_env(n, log)` for `ray.init` puts
oom_site/sitecustomize.py on their PYTHONPATH, which wraps the same functions as their
modules are imported. `log` gets one line per failing pass: how many clips it held.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

SITE_DIR = Path(__file__).parent / "oom_site"
SAMPLES_VAR = "E2V_TEST_OOM_SAMPLES"
LOG_VAR = "E2V_TEST_OOM_LOG"
# module -> (function that runs a pass, whether it takes a list of clips)
TARGETS = {
    "emotion2vec_app.model.padding": ("extract_features_batch", True),
    "emotion2vec_app.model.inference": ("extract_features", False),
}


def failing(
    original: Callable[..., Any], samples: int, *, batch: bool, log: str | None = None
) -> Callable[..., Any]:
    def run_pass(model: Any, clips: Any, *args: Any, **kwargs: Any) -> Any:
        held = list(clips) if batch else [clips]
        if any(len(clip) == samples for clip in held):
            if log:
                with open(log, "a", encoding="utf-8") as handle:
                    handle.write(f"{len(held)}\n")
            import torch

            raise torch.OutOfMemoryError(f"injected: a pass holding a clip of {samples} samples")
        return original(model, clips, *args, **kwargs)

    return run_pass


def patch(monkeypatch: Any, samples: int, log: str | None = None) -> None:
    """Inject into this process, until the test ends."""
    for module_name, (name, batch) in TARGETS.items():
        module = importlib.import_module(module_name)
        monkeypatch.setattr(
            module, name, failing(getattr(module, name), samples, batch=batch, log=log)
        )


def runtime_env(samples: int, log: Path) -> dict[str, Any]:
    """A Ray runtime_env whose workers inject, each from its start."""
    path = os.pathsep.join(filter(None, [str(SITE_DIR), os.environ.get("PYTHONPATH")]))
    return {"env_vars": {"PYTHONPATH": path, SAMPLES_VAR: str(samples), LOG_VAR: str(log)}}


class _WrapOnImport(importlib.abc.MetaPathFinder):
    """Finds the target modules as usual and wraps their function once they have run."""

    def __init__(self, samples: int, log: str | None) -> None:
        self.samples = samples
        self.log = log

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in TARGETS:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module
        name, batch = TARGETS[fullname]

        def exec_and_wrap(module: Any) -> None:
            exec_module(module)
            original = getattr(module, name)
            setattr(module, name, failing(original, self.samples, batch=batch, log=self.log))

        spec.loader.exec_module = exec_and_wrap  # type: ignore[method-assign]
        return spec


def install_from_environment() -> None:
    """For sitecustomize: inject when the environment asks for it."""
    samples = int(os.environ.get(SAMPLES_VAR) or 0)
    if samples:
        sys.meta_path.insert(0, _WrapOnImport(samples, os.environ.get(LOG_VAR)))
