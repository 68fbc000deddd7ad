"""The numbers emotion-recognition papers report, from scikit-learn.

WA (weighted accuracy) is plain accuracy; UA (unweighted accuracy) is the mean of per-class
recalls; macro-F1 the mean of per-class F1. UA and macro-F1 average over the classes that
occur in the true labels: a class that is scored but absent from the set (a 9-class model on a
4-class set) counts where files were wrongly given it, not as a class of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    recall_score,
)


@dataclass(frozen=True)
class ClassMetrics:
    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class Metrics:
    labels: list[str]  # the classes scored, in the head's order: rows and columns of confusion
    n: int
    wa: float
    ua: float
    macro_f1: float
    per_class: list[ClassMetrics]
    confusion: np.ndarray  # (L, L): rows true labels, columns predictions

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "labels": list(self.labels),
            "wa": round(self.wa, 6),
            "ua": round(self.ua, 6),
            "macro_f1": round(self.macro_f1, 6),
            "per_class": {
                c.label: {
                    "precision": round(c.precision, 6),
                    "recall": round(c.recall, 6),
                    "f1": round(c.f1, 6),
                    "support": c.support,
                }
                for c in self.per_class
            },
            "confusion": self.confusion.tolist(),
        }


def score(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> Metrics:
    """Metrics of predictions against true labels, both among `labels`."""
    labels = list(labels)
    present = [label for label in labels if label in set(y_true)]
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    return Metrics(
        labels=labels,
        n=len(y_true),
        wa=float(accuracy_score(y_true, y_pred)),
        ua=float(recall_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        macro_f1=float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        per_class=[
            ClassMetrics(label, float(p), float(r), float(f), int(s))
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        ],
        confusion=confusion_matrix(y_true, y_pred, labels=labels),
    )
