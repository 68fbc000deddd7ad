"""Feeding the network and reading its head, exactly as FunASR does, plus frame scores.

FunASR's scores are always softmax(proj(mean over frames)). The head is linear, so the
logits of one frame, or of a window of frames, are proj(frame features) or proj(window
mean): frame-level scores come from the same head that was trained on utterance means.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from emotion2vec_app.heads import LinearHead
from emotion2vec_app.labels import Emotion
from emotion2vec_app.model.loader import LoadedModel
from emotion2vec_app.options import subset_indices
from emotion2vec_app.results import softmax

FRAME_HOP_S = 0.02  # the feature encoder's total stride is 320 samples at 16 kHz
CPU_ALLOCATION_FAILED = "DefaultCPUAllocator: can't allocate memory"


def is_out_of_memory(error: BaseException) -> bool:
    """A pass too big for its device: CUDA raises torch.OutOfMemoryError, the CPU allocator a
    plain RuntimeError that names itself."""
    if isinstance(error, torch.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and CPU_ALLOCATION_FAILED in str(error)


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


@dataclass(frozen=True)
class Classes:
    """What a request is scored over: the model's head (`head` None) or a trained one, and
    which of its outputs. Dropping the other outputs before the softmax is FunASR's own
    masking of unused classes (-inf logits), so a subset sums to 1 over itself."""

    emotions: tuple[Emotion, ...]
    columns: tuple[int, ...]  # of the head's outputs, in its order
    head: LinearHead | None = None


def embedding_dim(model: LoadedModel) -> int:
    return int(model.network.proj.in_features)


def model_classes(
    model: LoadedModel, head: LinearHead | None = None, subset: Sequence[str] | None = None
) -> Classes:
    """The classes of `head`, or of the model's own head (its "unuse_*" slots, in old
    snapshots, always dropped), cut to `subset` when one is asked for."""
    if head is not None:
        emotions, columns = head.emotions, tuple(range(len(head.labels)))
    else:
        emotions, columns = model.labels.emotions, model.labels.active_indices
    chosen = subset_indices([emotion.key for emotion in emotions], subset)
    return Classes(tuple(emotions[i] for i in chosen), tuple(columns[i] for i in chosen), head)


def head_logits(
    model: LoadedModel, features: torch.Tensor, classes: Classes | None = None
) -> np.ndarray:
    """The logits of `classes` (default: the model's own), for (D,) or (T, D) features."""
    classes = classes or model_classes(model)
    with torch.inference_mode():
        if classes.head is not None:
            logits = classes.head.logits(features.float().cpu().numpy())
            return logits[..., list(classes.columns)]
        # 2-D in, as int8's quantized Linear accepts nothing else; shape restored after.
        flat = features.reshape(-1, features.shape[-1])
        logits = model.network.proj(flat).float().reshape(*features.shape[:-1], -1)
        return logits[..., list(classes.columns)].cpu().numpy()


def class_probabilities(
    model: LoadedModel, features: torch.Tensor, classes: Classes | None = None
) -> np.ndarray:
    return softmax(head_logits(model, features, classes))


def embeddings_as_features(model: LoadedModel, embeddings: np.ndarray) -> torch.Tensor:
    """Saved float32 embeddings back in the model's dtype, on its device, for its head."""
    return torch.from_numpy(np.asarray(embeddings, np.float32)).to(model.device, model.dtype)


def utterance_embedding(features: torch.Tensor) -> torch.Tensor:
    return features.mean(dim=0)


@dataclass
class ClipScores:
    emotions: tuple[Emotion, ...]  # the classes scored, in the order of every array here
    probs: np.ndarray  # (C,) utterance probabilities
    frame_logits: np.ndarray | None  # (T, C) unsmoothed, for frame granularity
    embedding: np.ndarray | None  # (D,) utterance or (T, D) frame features, float32


def score_features(
    model: LoadedModel,
    features: torch.Tensor,
    *,
    frames: bool = False,
    embedding: bool = False,
    classes: Classes | None = None,
) -> ClipScores:
    """Everything one analysis needs from one clip's (T, D) features."""
    classes = classes or model_classes(model)
    utterance = utterance_embedding(features)
    frame_logits = head_logits(model, features, classes) if frames else None
    chosen = None
    if embedding:
        chosen = (features if frames else utterance).float().cpu().numpy()
    probs = class_probabilities(model, utterance, classes)
    return ClipScores(classes.emotions, probs, frame_logits, chosen)


def score_clip(
    model: LoadedModel,
    samples: np.ndarray,
    *,
    frames: bool = False,
    embedding: bool = False,
    classes: Classes | None = None,
) -> ClipScores:
    """One forward pass, then `score_features`."""
    features = extract_features(model, samples)
    return score_features(model, features, frames=frames, embedding=embedding, classes=classes)
