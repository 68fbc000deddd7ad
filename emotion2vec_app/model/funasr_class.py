"""FunASR's Emotion2vec class, imported alone: the network is FunASR's, never ours.

`import funasr` walks every submodule (~6 s) and prints to stdout; only the emotion2vec
model module is needed, so the package is stubbed for the time of that one import.
"""

from __future__ import annotations

import importlib.util
import sys
import types
import warnings
from pathlib import Path

import torch

_MODEL_MODULE = "funasr.models.emotion2vec.model"
_NOISY_MODULE = "funasr.utils.load_utils"
# pydub (imported by FunASR's audio loaders, unused here) warns that ffmpeg is missing.
warnings.filterwarnings("ignore", message="Couldn't find ffmpeg or avconv", category=RuntimeWarning)
_STUB_PACKAGES = {"funasr": "", "funasr.models": "models", "funasr.utils": "utils"}


def import_emotion2vec_class() -> type[torch.nn.Module]:
    """Import only FunASR's emotion2vec module, skipping `funasr/__init__`'s 6-s walk."""
    if _MODEL_MODULE not in sys.modules:
        added = []
        if "funasr" not in sys.modules:
            spec = importlib.util.find_spec("funasr")
            if spec is None or spec.origin is None:
                raise ImportError("FunASR is not installed: pip install funasr")
            root = Path(spec.origin).parent
            for name, sub in _STUB_PACKAGES.items():
                package = types.ModuleType(name)
                package.__path__ = [str(root / sub)]
                sys.modules[name] = package
                added.append(name)
        try:
            if _NOISY_MODULE not in sys.modules:
                _import_without_print(_NOISY_MODULE)
            __import__(_MODEL_MODULE)
        finally:
            # Drop the stubs so a later `import funasr` runs the real package init.
            for name in added:
                sys.modules.pop(name, None)
    return sys.modules[_MODEL_MODULE].Emotion2vec


def _import_without_print(name: str) -> None:
    """Import a module with `print` silenced in that module only.

    funasr.utils.load_utils prints an ffmpeg install hint at import (the app never uses
    its loaders). Swapping sys.stdout instead would mute every other thread meanwhile.
    """
    spec = importlib.util.find_spec(name)
    module = importlib.util.module_from_spec(spec)
    module.print = lambda *args, **kwargs: None
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
