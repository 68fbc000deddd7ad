"""Feeding the network and reading its head, exactly as FunASR does, plus frame scores.

FunASR's scores are always softmax(proj(mean over frames)). The head is linear, so the
logits of one frame, or of a window of frames, are proj(frame features) or proj(window
mean): frame-level scores come from the same head that was trained on utterance means.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from emotion2vec_app.model.loader import LoadedModel

FRAME_HOP_S = 0.02  # the feature encoder's total stride is 320 samples at 16 kHz
OutOfMemoryError = torch.OutOfMemoryError  # CUDA's, and what CPU allocators raise alike


def torch_threads() -> int:
    """The threads torch uses for one pass on CPU (Ray sets them from a worker's CPUs)."""
    return torch.get_num_threads()


def release_cached_memory(model: LoadedModel) -> None:
    """After an out-of-memory error: give the allocator's cached blocks back."""
    if model.device.type == "cuda":
        torch.cuda.empty_cache()


def extract_features(model: LoadedModel, samples: np.ndarray) -> torch.Tensor:
    """(T, D) features of one 16 kHz mono clip, in the model's dtype, on its device."""
    source = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)).to(model.device)
    with torch.inference_mode():
        if model.normalize:
            source = F.layer_norm(source, source.shape)
        source = source.view(1, -1).to(model.dtype)
        return model.network.extract_features(source, padding_mask=None)["x"][0]


def class_probabilities(model: LoadedModel, features: torch.Tensor) -> np.ndarray:
    """Softmax over the active classes of proj(features), for (D,) or (T, D) features.

    Slots marked "unuse_*" (old snapshots) are masked to -inf and dropped, as FunASR does.
    """
    with torch.inference_mode():
        # 2-D in, as int8's quantized Linear accepts nothing else; shape restored after.
        flat = features.reshape(-1, features.shape[-1])
        logits = model.network.proj(flat).float().reshape(*features.shape[:-1], -1)
        active = list(model.labels.active_indices)
        if len(active) < logits.shape[-1]:
            masked = torch.full_like(logits, float("-inf"))
            masked[..., active] = logits[..., active]
            logits = masked
        probs = torch.softmax(logits, dim=-1)[..., active]
    return probs.cpu().numpy()


def smooth_frames(features: torch.Tensor, window_frames: int) -> torch.Tensor:
    """Centred moving mean over `window_frames` frames; edges average what exists."""
    if window_frames <= 1:
        return features
    # avg_pool1d needs an odd window to stay centred.
    window = window_frames + (window_frames + 1) % 2
    series = features.float().T.unsqueeze(0)  # (1, D, T)
    pooled = F.avg_pool1d(series, window, stride=1, padding=window // 2, count_include_pad=False)
    return pooled[0].T.to(features.dtype)


def utterance_embedding(features: torch.Tensor) -> torch.Tensor:
    return features.mean(dim=0)


@dataclass
class ClipScores:
    probs: np.ndarray  # (C,) utterance probabilities
    frame_probs: np.ndarray | None  # (T, C), for frame granularity
    embedding: np.ndarray | None  # (D,) utterance or (T, D) frame features, float32


def score_features(
    model: LoadedModel,
    features: torch.Tensor,
    *,
    frames: bool = False,
    smooth_s: float = 0.0,
    embedding: bool = False,
) -> ClipScores:
    """Everything one analysis needs from one clip's (T, D) features."""
    utterance = utterance_embedding(features)
    frame_probs = None
    if frames:
        window = max(1, round(smooth_s / FRAME_HOP_S))
        frame_probs = class_probabilities(model, smooth_frames(features, window))
    chosen = None
    if embedding:
        chosen = (features if frames else utterance).float().cpu().numpy()
    return ClipScores(class_probabilities(model, utterance), frame_probs, chosen)


def score_clip(
    model: LoadedModel,
    samples: np.ndarray,
    *,
    frames: bool = False,
    smooth_s: float = 0.0,
    embedding: bool = False,
) -> ClipScores:
    """One forward pass, then `score_features`."""
    features = extract_features(model, samples)
    return score_features(model, features, frames=frames, smooth_s=smooth_s, embedding=embedding)
