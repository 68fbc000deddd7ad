"""The engine layer: the AnalysisEngine protocol, the one analysis core, the local Engine and
the file-batch pipeline. Nothing here imports torch at import time: the load thread does."""

from emotion2vec_app.engine.core import AnalysisCore
from emotion2vec_app.engine.interface import (
    DEFAULT_WAIT_S,
    AnalysisEngine,
    EngineState,
    EngineStatus,
    ModelLoadFailed,
    ModelNotReady,
    Outcome,
    OutOfMemory,
    Progress,
)
from emotion2vec_app.engine.local import DTYPE_CHOICES, Engine

__all__ = [
    "DEFAULT_WAIT_S",
    "DTYPE_CHOICES",
    "AnalysisCore",
    "AnalysisEngine",
    "Engine",
    "EngineState",
    "EngineStatus",
    "ModelLoadFailed",
    "ModelNotReady",
    "OutOfMemory",
    "Outcome",
    "Progress",
]
