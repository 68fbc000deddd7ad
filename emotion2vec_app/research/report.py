"""An evaluation or a training written down: the JSON the CLI prints, and the files a user
downloads (metrics as CSV, the confusion matrix as CSV and PNG, per-file predictions, the
misclassified files, the head)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from emotion2vec_app.research.embed import Embeddings
from emotion2vec_app.research.evaluate import Evaluation, Training
from emotion2vec_app.research.metrics import Metrics
from emotion2vec_app.writers import score_columns, write_table

METRICS_JSON = "metrics.json"
PER_CLASS_CSV = "per_class.csv"
CONFUSION_CSV = "confusion.csv"
CONFUSION_PNG = "confusion.png"
PREDICTIONS_CSV = "predictions.csv"
MISCLASSIFIED_CSV = "misclassified.csv"
DEMO_WARNING = (
    "The demo model has random weights: these metrics measure nothing about emotion. "
    "Run with the real model (--model iic/emotion2vec_plus_large)."
)


def _model(embeddings: Embeddings) -> dict[str, Any]:
    return {"id": embeddings.model_id, "demo": embeddings.demo, "dtype": embeddings.precision}


def evaluation_json(evaluation: Evaluation, **settings: Any) -> dict[str, Any]:
    """The metrics (n, labels, wa, ua, macro_f1, per_class, confusion) and how they were made."""
    embedded = evaluation.embeddings
    return {
        **evaluation.metrics.to_json(),
        "model": _model(embedded),
        **settings,
        "cached": embedded.cached,
        "skipped": evaluation.skipped,
        "warnings": [DEMO_WARNING] if embedded.demo else [],
    }


def training_json(training: Training, **settings: Any) -> dict[str, Any]:
    """Cross-validated cv_wa, cv_ua, cv_macro_f1 with labels and n, and how they were made."""
    cv, embedded = training.trained.cv, training.embeddings
    return {
        "n": cv.n,
        "labels": cv.labels,
        "folds": training.trained.folds,
        "cv_wa": round(cv.wa, 6),
        "cv_ua": round(cv.ua, 6),
        "cv_macro_f1": round(cv.macro_f1, 6),
        "cv_per_class": cv.to_json()["per_class"],
        "cv_confusion": cv.confusion.tolist(),
        "model": _model(embedded),
        **settings,
        "cached": embedded.cached,
        "skipped": training.skipped,
        "warnings": [DEMO_WARNING] if embedded.demo else [],
    }


def write_evaluation(evaluation: Evaluation, report: dict[str, Any], folder: Path) -> list[Path]:
    """Every file of an evaluation, in `folder`; returns them in the order to offer them."""
    folder.mkdir(parents=True, exist_ok=True)
    keys = [c.key for c in evaluation.classes]
    fields = ["file", "label", "true", "predicted", "confidence", "correct", *score_columns(keys)]
    rows = [
        {
            "file": str(item.path),
            "label": label,
            "true": item.label,
            "predicted": predicted,
            "confidence": round(float(probs.max()), 6),
            "correct": item.label == predicted,
            **{col: round(float(p), 6) for col, p in zip(score_columns(keys), probs, strict=True)},
        }
        for item, label, predicted, probs in zip(
            evaluation.files, evaluation.original, evaluation.predicted, evaluation.probs,
            strict=True,
        )
    ]  # fmt: skip
    (folder / METRICS_JSON).write_text(json.dumps(report, ensure_ascii=False, indent=2), "utf-8")
    return [
        folder / METRICS_JSON,
        *write_metrics(evaluation.metrics, folder),
        write_table(folder / PREDICTIONS_CSV, fields, rows),
        write_table(
            folder / MISCLASSIFIED_CSV, fields, [r for r in rows if not r["correct"]], "csv"
        ),
    ]


def write_metrics(metrics: Metrics, folder: Path, title: str = "") -> list[Path]:
    """Per-class metrics and the confusion matrix, as CSV and as a PNG heatmap."""
    per_class = [
        {"label": c.label, "precision": round(c.precision, 6), "recall": round(c.recall, 6),
         "f1": round(c.f1, 6), "support": c.support}
        for c in metrics.per_class
    ]  # fmt: skip
    write_table(
        folder / PER_CLASS_CSV, ["label", "precision", "recall", "f1", "support"], per_class
    )
    confusion = [
        {"true \\ predicted": label, **dict(zip(metrics.labels, map(int, row), strict=True))}
        for label, row in zip(metrics.labels, metrics.confusion, strict=True)
    ]
    write_table(folder / CONFUSION_CSV, list(confusion[0]), confusion)
    heatmap = confusion_heatmap(metrics, folder / CONFUSION_PNG, title)
    return [folder / PER_CLASS_CSV, folder / CONFUSION_CSV, heatmap]


def confusion_heatmap(metrics: Metrics, path: Path, title: str = "") -> Path:
    """Rows true, columns predicted; each cell's count, shaded by its share of the row."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    from matplotlib import pyplot as plt

    counts = metrics.confusion
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = 1.6 + 0.55 * len(metrics.labels)
    figure, axes = plt.subplots(figsize=(size + 1.2, size))
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (row, column), count in np.ndenumerate(counts):
        shade = "white" if shares[row, column] > 0.5 else "#222222"
        axes.text(column, row, str(count), ha="center", va="center", color=shade, fontsize=9)
    ticks = range(len(metrics.labels))
    axes.set_xticks(ticks, metrics.labels, rotation=45, ha="right")
    axes.set_yticks(ticks, metrics.labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title or f"WA {metrics.wa:.3f} · UA {metrics.ua:.3f} · n {metrics.n}")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of the true class")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def write_training(training: Training, report: dict[str, Any], head_path: Path) -> list[Path]:
    """The head, and beside it its cross-validation report (JSON, CSV and heatmap)."""
    head_path = training.trained.head.save(head_path)
    folder = head_path.with_name(f"{head_path.stem}_cv")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / METRICS_JSON).write_text(json.dumps(report, ensure_ascii=False, indent=2), "utf-8")
    cv = training.trained.cv
    title = f"cross-validated · UA {cv.ua:.3f} · WA {cv.wa:.3f} · n {cv.n}"
    return [head_path, folder / METRICS_JSON, *write_metrics(cv, folder, title)]
