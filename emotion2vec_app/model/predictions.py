"""From a loaded model's scores to the Prediction every front end shows and saves."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from emotion2vec_app.audio import Waveform
from emotion2vec_app.labels import Emotion
from emotion2vec_app.model.inference import FRAME_HOP_S, ClipScores
from emotion2vec_app.model.loader import LoadedModel
from emotion2vec_app.options import AnalysisOptions
from emotion2vec_app.results import FrameTimeline, ModelInfo, Prediction


def clip_prediction(
    model: LoadedModel,
    waveform: Waveform,
    options: AnalysisOptions,
    scores: ClipScores,
    seconds: dict[str, float],
) -> Prediction:
    frames = None
    if scores.frame_logits is not None:
        frames = FrameTimeline(
            hop_s=FRAME_HOP_S,
            logits=scores.frame_logits,
            emotions=scores.emotions,
            smooth_s=options.smooth_s,
        )
    return build_prediction(
        model,
        waveform,
        options,
        scores.emotions,
        scores.probs,
        seconds,
        frames=frames,
        embedding=scores.embedding,
    )


def build_prediction(
    model: LoadedModel,
    waveform: Waveform,
    options: AnalysisOptions,
    emotions: tuple[Emotion, ...],
    probs: np.ndarray,
    seconds: dict[str, float],
    notes: Sequence[str] = (),
    **parts,
) -> Prediction:
    warnings = [*waveform.warnings, *notes]
    if model.labels.warning:
        warnings.append(model.labels.warning)
    return Prediction(
        emotions=emotions,
        probs=probs,
        granularity=options.granularity,
        waveform=waveform,
        model=ModelInfo(
            id=model.model_dir.model_id,
            demo=model.model_dir.demo,
            device=str(model.device),
            dtype=model.precision,
        ),
        timings_ms={step: s * 1000 for step, s in seconds.items()},
        warnings=warnings,
        **parts,
    )
