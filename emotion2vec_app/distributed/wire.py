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
    ChannelTimeline,
    FrameTimeline,
    ModelInfo,
    Prediction,
    SegmentTimeline,
)

# What a WebUI backend sends at most: 3 h (the default duration limit) of two 16 kHz float32
# channels, a stereo call split (1,318 MiB); a mixed recording is half that.
MAX_UPLOAD_MB = 1400.0

ERROR_KIND_HEADER = "X-Emotion2vec-Error"  # the exception's class name, beside the message


def to_payload(prediction: Prediction) -> dict[str, Any]:
    """{"result": result.json's dict, "labels": [...], "emotions": [...], "arrays": base64 of
    an .npz}.

    "emotions" are the Emotions themselves (key, names, emoji, colour): a trained head's own
    labels keep the tag and the neutral colour of their place in the head, which no label
    ("zh/key", for people) says.

    The .npz holds `probs`, and as present `embedding`, `frame_logits` (+ `frame_offsets_s`),
    `segment_start_s`, `segment_end_s`, `segment_probs`, `segment_channels`, and for each
    channel k of a split recording `channel{k}_start_s`, `_end_s`, `_probs`; its index, name,
    note and method travel in the result's "channels".
    """
    arrays: dict[str, np.ndarray] = {"probs": prediction.probs}
    if prediction.embedding is not None:
        arrays["embedding"] = prediction.embedding
    frames = prediction.frames
    if frames is not None:
        arrays["frame_logits"] = frames.logits
        if frames.offsets_s is not None:
            arrays["frame_offsets_s"] = frames.offsets_s
    if prediction.segments is not None:
        arrays.update(_timeline_arrays("segment", prediction.segments))
    if prediction.segment_channels is not None:
        arrays["segment_channels"] = np.array(prediction.segment_channels, np.int64)
    for k, channel in enumerate(prediction.channels or []):
        arrays.update(_timeline_arrays(f"channel{k}", channel.segments))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return {
        "result": prediction.to_json(),
        "labels": [f"{e.zh}/{e.key}" for e in prediction.emotions],
        "emotions": [asdict(emotion) for emotion in prediction.emotions],
        "arrays": base64.b64encode(buffer.getvalue()).decode("ascii"),
    }


def _timeline_arrays(prefix: str, timeline: SegmentTimeline) -> dict[str, np.ndarray]:
    """A segment timeline's arrays, named by `prefix` (the merged one, or a channel's)."""
    return {
        f"{prefix}_start_s": timeline.start_s,
        f"{prefix}_end_s": timeline.end_s,
        f"{prefix}_probs": timeline.probs,
    }


def _timeline(
    prefix: str, method: str, emotions: tuple[Emotion, ...], arrays: dict[str, np.ndarray]
) -> SegmentTimeline:
    """The timeline `_timeline_arrays` sent under `prefix`."""
    return SegmentTimeline(
        method=method,
        emotions=emotions,
        start_s=arrays[f"{prefix}_start_s"],
        end_s=arrays[f"{prefix}_end_s"],
        probs=arrays[f"{prefix}_probs"],
    )


def _channels(
    result: dict[str, Any], emotions: tuple[Emotion, ...], arrays: dict[str, np.ndarray]
) -> list[ChannelTimeline] | None:
    """A split recording's channels: their JSON (index, name, note) with their arrays."""
    if "channels" not in result:
        return None
    return [
        ChannelTimeline(
            index=channel["index"],
            name=channel["name"],
            segments=_timeline(f"channel{k}", channel["segments"]["method"], emotions, arrays),
            note=channel.get("note"),
        )
        for k, channel in enumerate(result["channels"])
    ]


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
        segments = _timeline("segment", result["segments"]["method"], emotions, arrays)
    segment_channels = arrays.get("segment_channels")
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
        channels=_channels(result, emotions, arrays),
        segment_channels=None if segment_channels is None else segment_channels.tolist(),
        # The server decoded the caller's 16 kHz samples: the source's own notes are local.
        warnings=[*waveform.warnings, *result["warnings"]],
        timestamp=datetime.strptime(result["timestamp"], TIMESTAMP_FORMAT),
    )
