"""A long recording's segment scores put together: a timeline instead of one giant pass.

The engine scores each segment as a clip of its own (see engine.local); this module lays the
segments' scores out at their times in the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from emotion2vec_app.model.inference import FRAME_HOP_S, ClipScores
from emotion2vec_app.model.vad import Segmentation
from emotion2vec_app.results import FrameTimeline, SegmentTimeline


@dataclass
class LongAudioScores:
    timeline: SegmentTimeline
    frames: FrameTimeline | None  # every segment's frames, at their times in the file
    embedding: np.ndarray | None  # (N, D): one utterance embedding per segment


def assemble(
    segmentation: Segmentation,
    scores: Sequence[ClipScores],
    smooth_s: float = 0.0,
) -> LongAudioScores:
    """Segment `i` of `segmentation` scored as `scores[i]`."""
    spans = segmentation.spans
    emotions = scores[0].emotions
    timeline = SegmentTimeline(
        method=segmentation.method,
        emotions=emotions,
        start_s=np.array([s.start_s for s in spans]),
        end_s=np.array([s.end_s for s in spans]),
        probs=np.stack([s.probs for s in scores]).astype(np.float32),
    )
    frame_timeline = None
    if scores[0].frame_logits is not None:
        offsets = [
            span.start_s + np.arange(len(s.frame_logits)) * FRAME_HOP_S
            for span, s in zip(spans, scores, strict=True)
        ]
        frame_timeline = FrameTimeline(
            hop_s=FRAME_HOP_S,
            logits=np.concatenate([s.frame_logits for s in scores]),
            emotions=emotions,
            smooth_s=smooth_s,
            offsets_s=np.concatenate(offsets),
        )
    embedding = None
    if scores[0].embedding is not None:  # frames kept: each segment's mean
        embedding = np.stack([s.embedding.reshape(-1, s.embedding.shape[-1]).mean(axis=0)
                              for s in scores])  # fmt: skip
    return LongAudioScores(timeline, frame_timeline, embedding)
