"""Many clips in one forward pass of FunASR's Emotion2vec, each scored as if it were alone.

FunASR feeds one clip at a time. A zero-padded batch with FunASR's own padding mask
(True = padded sample) is not enough to give the same results:
- normalisation is a layer norm over the whole waveform, so it is done per clip, before padding;
- the conv feature encoder has no padding and no norm across time (extractor_mode layer_norm),
  so a clip's frames are unchanged by samples after its end; their count is FunASR's conv
  length formula (AudioEncoder.convert_padding_mask);
- the relative positional encoder (grouped convs, kernel 19 in the large model) runs before
  any masking and sees the features of padded audio where a lone clip's conv sees zeros, so
  the last frames of every shorter clip change, and through attention all of its frames.
  Forward pre-hooks zero the padded frames at the input of each of its convs;
- attention: FunASR masks padded keys with -inf; the ALiBi bias is built per batch row;
- outputs are cut to each clip's own frames before any mean or frame score.
Float32 then matches single clips within 5e-6, float16 within its own error. int8 cannot
match: dynamic quantization scales activations over the whole batch tensor.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_sequence

from emotion2vec_app.model.inference import Classes, ClipScores, score_clip, score_features
from emotion2vec_app.model.loader import LoadedModel

# The padded frames of the batch being fed in this context (thread, task); None elsewhere,
# so a single-clip forward running beside a batch on another thread is left untouched.
_PADDED_FRAMES: contextvars.ContextVar[torch.Tensor | None] = contextvars.ContextVar(
    "padded_frames", default=None
)


@dataclass
class PaddedBatch:
    source: torch.Tensor  # (B, N) normalised samples, zeros after each clip, model dtype
    padding_mask: torch.Tensor  # (B, N) True on padded samples, as FunASR expects
    frames: list[int]  # valid frames of each clip


def frame_count(model: LoadedModel, num_samples: int) -> int:
    """Frames the conv feature encoder makes of `num_samples` samples.

    FunASR's formula, floor((n - kernel) / stride + 1) per conv layer, in integers.
    """
    for _, kernel, stride in model.network.modality_encoders["AUDIO"].feature_enc_layers:
        num_samples = (num_samples - kernel) // stride + 1
    return num_samples


def pad_batch(model: LoadedModel, clips: Sequence[np.ndarray]) -> PaddedBatch:
    """Normalise each clip on its own samples (as FunASR does), then zero-pad to the longest."""
    frames = [frame_count(model, len(clip)) for clip in clips]
    if min(frames) < 1:
        raise ValueError("Every clip needs at least 400 samples (25 ms at 16 kHz).")
    rows = []
    for clip in clips:
        row = torch.from_numpy(np.ascontiguousarray(clip, dtype=np.float32)).to(model.device)
        rows.append(F.layer_norm(row, row.shape) if model.normalize else row)
    lengths = torch.tensor([len(clip) for clip in clips], device=model.device)
    source = pad_sequence(rows, batch_first=True).to(model.dtype)
    padding_mask = torch.arange(source.shape[1], device=model.device) >= lengths[:, None]
    return PaddedBatch(source, padding_mask, frames)


def _zero_padded_frames(module: torch.nn.Module, args: tuple[torch.Tensor]) -> tuple | None:
    padded = _PADDED_FRAMES.get()
    if padded is None:
        return None
    (x,) = args  # (B, C, T)
    return (x.masked_fill(padded[:, None, :], 0.0),)


@contextlib.contextmanager
def _batch_mode(network: torch.nn.Module, padded_frames: torch.Tensor) -> Iterator[None]:
    """Make the network see a padded batch as it sees lone clips, for the time of one pass.

    Each conv of the relative positional encoder gets zeros at padded frames, as a lone
    clip's conv gets its zero padding. FunASR's ALiBi cache keeps the largest batch and
    length it has seen (get_alibi_bias), so a batch starts from an empty one and the
    single-clip cache is put back after: no batch-sized buffer outlives the pass, and a
    batch of short clips does not build its bias at the length of an earlier long clip.
    """
    encoder = network.modality_encoders["AUDIO"]
    convs = [
        m for m in encoder.relative_positional_encoder.modules() if isinstance(m, torch.nn.Conv1d)
    ]
    handles = [conv.register_forward_pre_hook(_zero_padded_frames) for conv in convs]
    token = _PADDED_FRAMES.set(padded_frames)
    alibi_cache = network.alibi_biases
    saved = dict(alibi_cache)
    alibi_cache.clear()
    try:
        yield
    finally:
        alibi_cache.clear()
        alibi_cache.update(saved)
        _PADDED_FRAMES.reset(token)
        for handle in handles:
            handle.remove()


def extract_features_batch(model: LoadedModel, clips: Sequence[np.ndarray]) -> list[torch.Tensor]:
    """(T_i, D) features of each clip from one forward pass, as `inference.extract_features`."""
    if not clips:
        return []
    batch = pad_batch(model, clips)
    frames = torch.tensor(batch.frames, device=model.device)
    padded_frames = torch.arange(max(batch.frames), device=model.device) >= frames[:, None]
    with torch.inference_mode(), _batch_mode(model.network, padded_frames):
        out = model.network.extract_features(batch.source, padding_mask=batch.padding_mask)
    return [out["x"][i, :count] for i, count in enumerate(batch.frames)]


def score_batch(
    model: LoadedModel,
    clips: Sequence[np.ndarray],
    *,
    frames: bool = False,
    embedding: bool = False,
    classes: Classes | None = None,
) -> list[ClipScores]:
    """`inference.score_clip` for every clip, in order, from one forward pass.

    A batch of one takes the single-clip path itself: no padding, bit-identical results.
    Raises what `inference.is_out_of_memory` knows when the pass does not fit (the engine
    splits the batch).
    """
    options = {"frames": frames, "embedding": embedding, "classes": classes}
    if len(clips) == 1:
        return [score_clip(model, clips[0], **options)]
    return [score_features(model, f, **options) for f in extract_features_batch(model, clips)]
