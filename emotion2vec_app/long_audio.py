"""Score a long recording segment by segment: a timeline instead of one giant pass.

The model never sees more than one segment at a time (or, on GPU, one padded batch of
segments), so memory depends on the longest segment, not on the recording.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from emotion2vec_app import batching, inference
from emotion2vec_app.loader import LoadedModel
from emotion2vec_app.results import FrameTimeline, SegmentTimeline
from emotion2vec_app.segmentation import Segmentation

Progress = Callable[[float], None]  # fraction of the segments done, 0..1


@dataclass
class LongAudioScores:
    timeline: SegmentTimeline
    frames: FrameTimeline | None  # every segment's frames, at their times in the file
    embedding: np.ndarray | None  # (N, D): one utterance embedding per segment


def score_segments(
    model: LoadedModel,
    samples: np.ndarray,
    segmentation: Segmentation,
    *,
    lock: threading.Lock,
    frames: bool = False,
    smooth_s: float = 0.0,
    embedding: bool = False,
    batch_size: int = 1,
    progress: Progress | None = None,
) -> LongAudioScores:
    """Each span scored as a clip of its own; `lock` is held for one forward pass at a time,
    so other requests are served between the segments of a long file."""
    spans = segmentation.spans
    clips = [samples[span.start : span.end] for span in spans]
    scores: list[inference.ClipScores | None] = [None] * len(spans)
    batches = batching.plan_batches([len(c) for c in clips], max_batch_size=batch_size)
    done = 0
    for indices in batches:
        with lock:
            results = batching.score_batch(
                model,
                [clips[i] for i in indices],
                frames=frames,
                smooth_s=smooth_s,
                embedding=embedding,
            )
        for i, result in zip(indices, results, strict=True):
            if result.embedding is not None and result.embedding.ndim == 2:
                result.embedding = result.embedding.mean(axis=0)  # frames kept: their mean
            scores[i] = result
        done += len(indices)
        if progress:
            progress(done / len(spans))
    return _assemble(model, segmentation, scores, frames, smooth_s, embedding)


def _assemble(
    model: LoadedModel,
    segmentation: Segmentation,
    scores: list,
    frames: bool,
    smooth_s: float,
    embedding: bool,
) -> LongAudioScores:
    spans = segmentation.spans
    emotions = model.labels.emotions
    timeline = SegmentTimeline(
        method=segmentation.method,
        emotions=emotions,
        start_s=np.array([s.start_s for s in spans]),
        end_s=np.array([s.end_s for s in spans]),
        probs=np.stack([s.probs for s in scores]).astype(np.float32),
    )
    frame_timeline = None
    if frames:
        offsets = [
            span.start_s + np.arange(len(s.frame_probs)) * inference.FRAME_HOP_S
            for span, s in zip(spans, scores, strict=True)
        ]
        frame_timeline = FrameTimeline(
            hop_s=inference.FRAME_HOP_S,
            probs=np.concatenate([s.frame_probs for s in scores]),
            emotions=emotions,
            smooth_s=smooth_s,
            offsets_s=np.concatenate(offsets),
        )
    stacked = np.stack([s.embedding for s in scores]) if embedding else None
    return LongAudioScores(timeline, frame_timeline, stacked)
