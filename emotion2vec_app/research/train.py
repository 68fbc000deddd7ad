"""A linear head on the utterance embeddings: the emotion2vec paper's linear probe.

Standardised embeddings, logistic regression with balanced class weights (emotion sets are
rarely balanced), and stratified k-fold cross-validation for an honest estimate before the
final fit on every file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from emotion2vec_app.heads import LinearHead
from emotion2vec_app.research.metrics import Metrics, score

MAX_ITER = 2000
SEED = 0


@dataclass
class TrainedHead:
    head: LinearHead
    cv: Metrics  # of the out-of-fold predictions
    folds: int


def _classifier():
    return make_pipeline(
        StandardScaler(),
        LogisticRegression(class_weight="balanced", max_iter=MAX_ITER, random_state=SEED),
    )


def check_folds(labels: Sequence[str], folds: int) -> None:
    """Every fold needs every class: refuse folds the smallest class cannot fill."""
    if folds < 2:
        raise ValueError(f"--folds must be at least 2, not {folds}")
    label, count = min(Counter(labels).items(), key=lambda item: item[1])
    if count < folds:
        raise ValueError(
            f"class {label!r} has {count} file(s), fewer than the {folds} folds of the "
            f"cross-validation: add files of {label!r}, or lower --folds to {max(count, 2)}"
            + ("" if count >= 2 else " after adding at least one")
        )


def train_head(
    embeddings: np.ndarray,
    labels: Sequence[str],
    classes: Sequence[str],
    *,
    folds: int = 5,
    model_id: str,
    precision: str,
) -> TrainedHead:
    """Cross-validate, then fit on everything; the head's labels are `classes`, in that order."""
    check_folds(labels, folds)
    y = np.asarray(labels)
    splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED)
    predicted = cross_val_predict(_classifier(), embeddings, y, cv=splits)
    pipeline = _classifier().fit(embeddings, y)
    scaler, classifier = pipeline[0], pipeline[1]
    weight, bias = classifier.coef_, classifier.intercept_
    if len(classifier.classes_) == 2:  # one row, sigmoid(z) = softmax([-z/2, z/2])[1]
        weight, bias = np.vstack([-weight / 2, weight / 2]), np.array([-bias[0], bias[0]]) / 2
    order = [list(classifier.classes_).index(label) for label in classes]
    head = LinearHead(
        labels=tuple(classes),
        weight=weight[order].astype(np.float32),
        bias=bias[order].astype(np.float32),
        mean=scaler.mean_.astype(np.float32),
        scale=scaler.scale_.astype(np.float32),
        model_id=model_id,
        precision=precision,
    )
    return TrainedHead(head, score(list(y), list(predicted), classes), folds)
