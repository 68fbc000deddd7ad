"""Speech emotion recognition with FunASR's emotion2vec+: engine, results, run folders."""

from emotion2vec_app.audio import AudioError, LiveRecording, Waveform, decode_audio
from emotion2vec_app.engine import AnalysisEngine, Engine, EngineState, Outcome
from emotion2vec_app.labels import EMOTIONS, Emotion
from emotion2vec_app.options import AnalysisOptions
from emotion2vec_app.outputs import save_run
from emotion2vec_app.results import LiveUpdate, Prediction

__all__ = [
    "EMOTIONS",
    "AnalysisEngine",
    "AnalysisOptions",
    "AudioError",
    "Emotion",
    "Engine",
    "EngineState",
    "LiveRecording",
    "LiveUpdate",
    "Outcome",
    "Prediction",
    "Waveform",
    "decode_audio",
    "save_run",
]
