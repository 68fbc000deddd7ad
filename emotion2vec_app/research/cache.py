"""Utterance embeddings kept on disk, keyed by the file's content, the model and its precision.

Evaluating with another label map, subset or head, or retraining a head, needs the same
embeddings again: a file seen once is never passed through the network a second time, even
renamed or moved. A changed file has another hash, so it is embedded anew.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np

HASH_CHUNK = 1 << 20


def content_hash(path: Path) -> str:
    """SHA-256 of the file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class EmbeddingCache:
    """One folder per model and precision, one .npy per file content."""

    def __init__(self, root: Path, model_id: str, precision: str) -> None:
        key = hashlib.sha256(f"{model_id}\n{precision}".encode()).hexdigest()[:12]
        readable = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id.rsplit("/", 1)[-1])[:40]
        self.path = Path(root) / f"{readable}-{precision}-{key}"

    def _file(self, digest: str) -> Path:
        return self.path / digest[:2] / f"{digest}.npy"

    def get(self, digest: str) -> np.ndarray | None:
        try:
            return np.load(self._file(digest))
        except (OSError, ValueError):  # not there, or cut short by a killed run: embed again
            return None

    def put(self, digest: str, embedding: np.ndarray) -> None:
        """Written under a temporary name and renamed: readers never see half a file."""
        final = self._file(digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        partial = final.with_name(f".{final.stem}.{os.getpid()}.npy")
        np.save(partial, np.asarray(embedding, np.float32))
        os.replace(partial, final)
