"""A Prediction over HTTP: the result contract plus its arrays, losslessly.

The Ray Serve deployment answers with `to_payload`; a WebUI that uses it as its backend
rebuilds the Prediction with `from_payload`, so its plots, run folders and downloads are the
same as when the model runs in its own process. JSON alone would not do: result.json rounds
scores to 6 and frame scores to 4 decimals.
"""

from __future__ import annotations

import base64
import io
from dataclasses import asdict
from datetime import datetime
from typing import Any

import numpy as np

from emotion2vec_app.audio import Waveform
from emotion2vec_app.labels import Emotion
from emotion2vec_app.results import (
    TIMESTAMP_FORMAT,
    FrameTimeline,
    ModelInfo,
    Prediction,
    SegmentTimeline,
)

ERROR_KIND_HEADER = "X-Emotion2vec-Error"  # the exception's class name, beside the message


def to_payload(prediction: Prediction) -> dict[str, Any]:
    """{"result": result.json's dict, "labels": [...], "emotions": [...], "arrays": base64 of
    an .npz}.

    "emotions" are the Emotions themselves (key, names, emoji, colour): a trained head's own
    labels keep the tag and the neutral colour of their place in the head, which no label
    ("zh/key", for people) says.

    The .npz holds `probs`, and as present `embedding`, `frame_logits` (+ `frame_offsets_s`)
    and `segment_start_s`, `segment_end_s`, `segment_probs`.
    """
    arrays: dict[str, np.ndarray] = {"probs": prediction.probs}
    if prediction.embedding is not None:
        arrays["embedding"] = prediction.embedding
    frames = prediction.frames
    if frames is not None:
        arrays["frame_logits"] = frames.logits
        if frames.offsets_s is not None:
            arrays["frame_offsets_s"] = frames.offsets_s
    segments = prediction.segments
    if segments is not None:
        arrays["segment_start_s"] = segments.start_s
        arrays["segment_end_s"] = segments.end_s
        arrays["segment_probs"] = segments.probs
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return {
        "result": prediction.to_json(),
        "labels": [f"{e.zh}/{e.key}" for e in prediction.emotions],
        "emotions": [asdict(emotion) for emotion in prediction.emotions],
        "arrays": base64.b64encode(buffer.getvalue()).decode("ascii"),
    }


def read_arrays(payload: dict[str, Any]) -> dict[str, np.ndarray]:
    """The payload's arrays by name (the embedding is `["embedding"]`)."""
    with np.load(io.BytesIO(base64.b64decode(payload["arrays"]))) as archive:
        return {name: archive[name] for name in archive.files}


def from_payload(
    payload: dict[str, Any], waveform: Waveform, extra_timings_ms: dict[str, float] | None = None
) -> Prediction:
    """The Prediction the server made, on the caller's own decoded `waveform`."""
    result = payload["result"]
    arrays = read_arrays(payload)
    emotions = tuple(Emotion(**fields) for fields in payload["emotions"])
    frames = None
    if "frame_logits" in arrays:
        frames = FrameTimeline(
            hop_s=result["frames"]["hop_s"],
            logits=arrays["frame_logits"],
            emotions=emotions,
            smooth_s=result["frames"]["smooth_s"],
            offsets_s=arrays.get("frame_offsets_s"),
        )
    segments = None
    if "segment_probs" in arrays:
        segments = SegmentTimeline(
            method=result["segments"]["method"],
            emotions=emotions,
            start_s=arrays["segment_start_s"],
            end_s=arrays["segment_end_s"],
            probs=arrays["segment_probs"],
        )
    timings = {k: v for k, v in result["timings_ms"].items() if k != "total"}
    timings.update(extra_timings_ms or {})
    timings["total"] = sum(timings.values())
    return Prediction(
        emotions=emotions,
        probs=arrays["probs"],
        granularity=result["granularity"],
        waveform=waveform,
        model=ModelInfo(**result["model"]),
        timings_ms=timings,
        frames=frames,
        embedding=arrays.get("embedding"),
        segments=segments,
        # The server decoded the caller's 16 kHz samples: the source's own notes are local.
        warnings=[*waveform.warnings, *result["warnings"]],
        timestamp=datetime.strptime(result["timestamp"], TIMESTAMP_FORMAT),
    )
