"""The utterance embedding of every file of a labelled set: from the cache, or through the one
analysis core (decoding, checks, batching and out-of-memory handling as for any batch).

One file is one utterance, one pass: its mean-pooled embedding, as in the emotion2vec paper's
linear-probe protocol. So files are never cut into segments, and one longer than a pass takes
is reported and skipped like any file that cannot be read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emotion2vec_app.engine.interface import AnalysisEngine, Progress
from emotion2vec_app.engine.many_files import BatchInput, analyze_many
from emotion2vec_app.model.source import cache_root
from emotion2vec_app.options import AnalysisOptions
from emotion2vec_app.research.cache import EmbeddingCache, content_hash

EMBEDDING_OPTIONS = AnalysisOptions(extract_embedding=True, segmentation="off")


def default_cache_dir() -> Path:
    """Beside the demo model and weight caches (E2V_CACHE_DIR moves them all)."""
    return cache_root() / "embeddings"


@dataclass
class Embeddings:
    """The embeddings of the files that could be embedded, in input order."""

    vectors: np.ndarray  # (N, D) float32
    kept: list[int]  # each row's index among the files asked for
    errors: dict[int, str] = field(default_factory=dict)  # the others, and why
    cached: int = 0  # rows read from the cache: no forward pass
    model_id: str = ""
    precision: str = ""
    demo: bool = False


def embed_files(
    engine: AnalysisEngine,
    paths: Sequence[Path],
    *,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
) -> Embeddings:
    engine.wait_ready()
    status = engine.status()
    cache = EmbeddingCache(cache_dir or default_cache_dir(), status.model, status.dtype)
    vectors: dict[int, np.ndarray] = {}
    errors: dict[int, str] = {}
    digests: dict[int, str] = {}
    for index, path in enumerate(paths):
        try:
            digests[index] = content_hash(path)
        except OSError as error:
            errors[index] = f"{path}: cannot be read ({error.strerror or error})"
            continue
        found = cache.get(digests[index])
        if found is not None:
            vectors[index] = found
    cached = len(vectors)
    missing = [i for i in digests if i not in vectors]
    inputs = [BatchInput(Path(paths[i]), str(paths[i])) for i in missing]

    def report(fraction: float, message: str) -> None:
        if progress:
            done = cached + fraction * len(missing)
            progress(done / max(len(paths), 1), message)

    for item in analyze_many(engine, inputs, EMBEDDING_OPTIONS, progress=report):
        index = missing[item.index]
        if item.prediction is None:
            errors[index] = item.error or "failed"
            continue
        vectors[index] = item.prediction.embedding
        cache.put(digests[index], item.prediction.embedding)
    kept = sorted(vectors)
    dim = next(iter(vectors.values())).shape[-1] if vectors else 0
    return Embeddings(
        vectors=np.stack([vectors[i] for i in kept]) if kept else np.zeros((0, dim), np.float32),
        kept=kept,
        errors=errors,
        cached=cached,
        model_id=status.model,
        precision=status.dtype,
        demo=status.demo,
    )
