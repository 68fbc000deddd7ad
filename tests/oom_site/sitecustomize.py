"""Test-only (see tests/oom_injection.py): Python imports this at the start of every process
whose PYTHONPATH holds this folder, i.e. the Ray workers of a test cluster started with
`oom_injection.runtime_env`."""

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "oom_injection", Path(__file__).resolve().parent.parent / "oom_injection.py"
)
_module = importlib.util.module_from_spec(_spec)
sys.modules["oom_injection"] = _module
_spec.loader.exec_module(_module)
_module.install_from_environment()
