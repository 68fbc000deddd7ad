"""A labelled set through the engine: evaluated with its head (the model's or a trained one),
or used to train a new head. Both embed every file once (the cache remembers it) and work on
utterance embeddings from there on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emotion2vec_app.dataset import LabelledFile, LabelledSet, LabelMap, MappedSet
from emotion2vec_app.engine.interface import AnalysisEngine, Progress
from emotion2vec_app.labels import Emotion, emotion_aliases
from emotion2vec_app.options import AnalysisOptions
from emotion2vec_app.research.embed import Embeddings, embed_files
from emotion2vec_app.research.metrics import Metrics, score
from emotion2vec_app.research.train import TrainedHead, train_head
from emotion2vec_app.writers import EMOTION_KEYS

SHOWN_ERRORS = 3


class NothingEmbedded(ValueError):
    """No file of the set could be analysed: there is nothing to measure."""


@dataclass
class Evaluation:
    classes: tuple[Emotion, ...]  # what was scored, in the head's order
    files: list[LabelledFile]  # the files evaluated, with their true class
    original: list[str]  # each one's label as the dataset writes it
    probs: np.ndarray  # (N, C) over `classes`
    metrics: Metrics
    skipped: list[str]  # every file left out, and why
    embeddings: Embeddings

    @property
    def predicted(self) -> list[str]:
        return [self.classes[i].key for i in self.probs.argmax(axis=1)]


@dataclass
class Training:
    trained: TrainedHead
    files: list[LabelledFile]
    skipped: list[str]
    embeddings: Embeddings


def evaluate(
    engine: AnalysisEngine,
    data: LabelledSet,
    label_map: LabelMap,
    options: AnalysisOptions | None = None,
    *,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
) -> Evaluation:
    """Score every file with the engine's head over `options.emotions` (all classes by
    default) and measure it against the labels, mapped onto those classes."""
    options = options or AnalysisOptions()
    mapped = _map(data, label_map, options, engine)  # a bad map fails before the model loads
    engine.wait_ready()
    mapped = _map(data, label_map, options, engine)  # an old snapshot may score fewer classes
    classes = options.scored(engine.classes())
    embedded, files, original, skipped = _embed(engine, mapped, cache_dir, progress)
    probs = engine.score_embeddings(embedded.vectors, options)
    predicted = [classes[i].key for i in probs.argmax(axis=1)]
    metrics = score([f.label for f in files], predicted, [c.key for c in classes])
    return Evaluation(classes, files, original, probs, metrics, skipped, embedded)


def train(
    engine: AnalysisEngine,
    data: LabelledSet,
    label_map: LabelMap,
    *,
    folds: int = 5,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
) -> Training:
    """A head for the set's own classes (after the label map), cross-validated, then fit."""
    classes = training_classes(data, label_map)
    mapped = label_map.apply(data, classes)
    engine.wait_ready()
    embedded, files, _, skipped = _embed(engine, mapped, cache_dir, progress)
    labels = [f.label for f in files]
    present = [c for c in classes if c in set(labels)]
    trained = train_head(
        embedded.vectors,
        labels,
        present,
        folds=folds,
        model_id=embedded.model_id,
        precision=embedded.precision,
    )
    return Training(trained, files, skipped, embedded)


def _map(
    data: LabelledSet, label_map: LabelMap, options: AnalysisOptions, engine: AnalysisEngine
) -> MappedSet:
    keys = [c.key for c in options.scored(engine.classes())]
    return label_map.apply(data, keys, aliases=emotion_aliases())


def training_classes(data: LabelledSet, label_map: LabelMap) -> list[str]:
    """The classes a head learns: each label as the map sends it (a label of its own when
    unmapped), the model's emotions in its order first, then the others sorted."""
    mapping = {key.strip().lower(): target for key, target in label_map.mapping.items()}
    found: dict[str, str] = {}
    for label in data.labels:
        target = mapping.get(label.strip().lower(), label)
        if target is not None:
            found.setdefault(target.strip().lower(), target.strip())
    order = {key: i for i, key in enumerate(EMOTION_KEYS)}
    return sorted(found.values(), key=lambda c: (order.get(c.lower(), len(order)), c))


def _embed(
    engine: AnalysisEngine, mapped: MappedSet, cache_dir: Path | None, progress: Progress | None
) -> tuple[Embeddings, list[LabelledFile], list[str], list[str]]:
    """The mapped set's embeddings, the files they belong to, and every file left out."""
    embedded = embed_files(
        engine, [f.path for f in mapped.files], cache_dir=cache_dir, progress=progress
    )
    skipped = [*mapped.problems, *embedded.errors.values()]
    skipped += [f"{n} file(s) labelled {label!r}: dropped by the label map" for label, n in
                mapped.dropped.items()]  # fmt: skip
    if not embedded.kept:
        reasons = "; ".join(list(embedded.errors.values())[:SHOWN_ERRORS])
        raise NothingEmbedded(
            f"None of the {len(mapped.files)} files could be analysed ({reasons})."
        )
    files = [mapped.files[i] for i in embedded.kept]
    original = [mapped.original[i] for i in embedded.kept]
    return embedded, files, original, skipped
