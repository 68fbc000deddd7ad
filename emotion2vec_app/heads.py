"""A classifier trained on the model's utterance embeddings, used in place of its own head.

The emotion2vec paper's linear probe: logistic regression on standardised mean-pooled
embeddings. Standardising is affine and the classifier linear, so the head is one linear map
of an embedding, exactly like the model's own `proj`: it scores a frame, a segment or a whole
utterance alike, and an utterance's logits are the mean of its frames'. One small
safetensors file holds the weights, the label names, the normalisation and the embedding
model it was trained on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from emotion2vec_app.labels import Emotion, emotions_for_labels

HEAD_FORMAT = "emotion2vec-app linear head v1"
TENSORS = ("weight", "bias", "mean", "scale")


class HeadError(ValueError):
    """A head file that cannot be used, or not with this model; the message says which."""


@dataclass(frozen=True)
class LinearHead:
    labels: tuple[str, ...]
    weight: np.ndarray  # (C, D), applied to standardised embeddings
    bias: np.ndarray  # (C,)
    mean: np.ndarray  # (D,) of the training embeddings
    scale: np.ndarray  # (D,) their standard deviations
    model_id: str  # the embedding model's id, dimension and precision when trained
    precision: str

    def __post_init__(self) -> None:
        classes, dim = self.weight.shape
        if len(self.labels) != classes or self.bias.shape != (classes,):
            raise HeadError(f"a head needs one weight row and bias per label ({classes} rows)")
        if self.mean.shape != (dim,) or self.scale.shape != (dim,):
            raise HeadError(f"a head's mean and scale must have the weight's width ({dim})")
        if len(set(self.labels)) != len(self.labels) or classes < 2:
            raise HeadError("a head needs at least two distinct labels")

    @property
    def dim(self) -> int:
        return int(self.weight.shape[1])

    @property
    def emotions(self) -> tuple[Emotion, ...]:
        return emotions_for_labels(self.labels)

    def logits(self, embeddings: np.ndarray) -> np.ndarray:
        """(..., D) embeddings or frame features to (..., C) logits, as float32."""
        standardised = (np.asarray(embeddings, np.float32) - self.mean) / self.scale
        return (standardised @ self.weight.T + self.bias).astype(np.float32)

    def check_model(self, model_id: str, dim: int) -> None:
        """Refuse another model's embeddings: the weights would be applied to the wrong space."""
        if dim != self.dim:
            raise HeadError(
                f"This head was trained on {self.dim}-dimensional embeddings of "
                f"{self.model_id}; the model loaded ({model_id}) gives {dim}-dimensional ones. "
                "Train a head on this model's embeddings (emotion2vec-app train-head)."
            )
        if model_id != self.model_id:
            raise HeadError(
                f"This head was trained on embeddings of {self.model_id}, not of the model "
                f"loaded ({model_id}). Load {self.model_id} with --model, or train a head on "
                "this model's embeddings (emotion2vec-app train-head)."
            )

    def save(self, path: Path) -> Path:
        metadata = {
            "format": HEAD_FORMAT,
            "labels": json.dumps(list(self.labels), ensure_ascii=False),
            "model_id": self.model_id,
            "dim": str(self.dim),
            "precision": self.precision,
        }
        tensors = {name: np.ascontiguousarray(getattr(self, name), np.float32) for name in TENSORS}
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(path), metadata=metadata)
        return path


def load_head(path: str | Path) -> LinearHead:
    """A head file written by `LinearHead.save` (emotion2vec-app train-head)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise HeadError(f"Head file {path} does not exist.")
    try:
        with safe_open(str(path), framework="numpy") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as error:
        raise HeadError(f"{path} is not a head file made by train-head: {error}") from error
    if metadata.get("format") != HEAD_FORMAT or any(name not in tensors for name in TENSORS):
        raise HeadError(f"{path} is not a head file made by emotion2vec-app train-head.")
    return LinearHead(
        labels=tuple(json.loads(metadata["labels"])),
        model_id=metadata["model_id"],
        precision=metadata["precision"],
        **{name: tensors[name] for name in TENSORS},
    )
