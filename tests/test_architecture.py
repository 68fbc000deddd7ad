"""The package keeps its layers: import-linter's contracts in pyproject.toml.

ui and distributed over the engine, over the model, over the core modules; no import cycles;
gradio only in ui/, ray only in distributed/, torch, FunASR and Silero only in model/.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_importing_the_package_imports_neither_torch_nor_gradio_nor_ray():
    """The page and the CLI start fast: the heavy imports happen in the load thread."""
    code = (
        "import sys, emotion2vec_app, emotion2vec_app.cli;"
        "print(sorted(m for m in ('torch', 'gradio', 'ray', 'funasr') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
