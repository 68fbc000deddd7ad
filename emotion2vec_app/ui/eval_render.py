"""What the Evaluate tab shows of a report (research.report's JSON), in either language: pure
functions of it, so the page can draw it again after a change of language."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import pandas as pd

from emotion2vec_app.labels import emotion_for_token
from emotion2vec_app.ui.render import emotion_label
from emotion2vec_app.ui.text import t

METRICS = (("wa", "metric_wa"), ("ua", "metric_ua"), ("macro_f1", "metric_f1"))
PER_CLASS = ("precision", "recall", "f1")


def class_label(key: str, lang: str) -> str:
    """A class as the page names it: a model emotion's emoji and name, or a head's own label."""
    return emotion_label(emotion_for_token(key), lang)


def _tiles(values: dict[str, Any], prefix: str, lang: str) -> str:
    """WA, UA and macro-F1 as three tiles, large enough to read first."""
    tiles = "".join(
        f'<div class="e2v-metric" data-metric="{key}"><span>{t(words, lang)}</span>'
        f"<b>{values[prefix + key]:.1%}</b></div>"
        for key, words in METRICS
    )
    return f'<div class="e2v-metrics">{tiles}</div>'


def _per_class_table(per_class: dict[str, dict[str, Any]], lang: str) -> str:
    head = "".join(
        f"<th>{t(key, lang)}</th>"
        for key in ("col_class", "col_precision", "col_recall", "col_f1", "col_support")
    )
    rows = "".join(
        f'<tr data-class="{html.escape(label)}"'
        f"{' data-absent' if not scores['support'] else ''}>"
        f"<td>{html.escape(class_label(label, lang))}</td>"
        + "".join(f"<td>{scores[key]:.1%}</td>" for key in PER_CLASS)
        + f"<td>{scores['support']}</td></tr>"
        for label, scores in per_class.items()
    )
    return (
        f'<div class="e2v-table-scroll"><table class="e2v-per-class"><thead><tr>{head}</tr>'
        f"</thead><tbody>{rows}</tbody></table></div>"
    )


def _training_part(training: dict[str, Any], lang: str) -> str:
    title = t("cv_title", lang).format(folds=training["folds"], n=training["n"])
    return (
        f'<div class="e2v-eval-cv"><div class="e2v-eval-title">{html.escape(title)}</div>'
        f"{_tiles(training, 'cv_', lang)}<div>{html.escape(t('cv_use', lang))}</div></div>"
    )


def metrics_card_html(report: dict[str, Any], lang: str) -> str:
    """The demo model's warning first, then n, WA, UA, macro-F1, every class's scores, and
    the trained head's cross-validated scores when one was trained."""
    demo = report["model"]["demo"]
    note = f'<div class="e2v-eval-demo">{t("eval_demo_note", lang)}</div>' if demo else ""
    title = t("eval_title", lang).format(n=report["n"])
    training = report.get("training")
    return (
        f'<div class="e2v-eval" data-n="{report["n"]}"{" data-demo" if demo else ""}>{note}'
        f'<div class="e2v-eval-title">{html.escape(title)} · {html.escape(report["data"])}</div>'
        f"{_tiles(report, '', lang)}{_per_class_table(report['per_class'], lang)}"
        f"{t('none_misclassified', lang) if report['wa'] == 1 else ''}"
        f"{_training_part(training, lang) if training else ''}</div>"
    )


def skipped_html(skipped: Sequence[str], lang: str) -> str:
    """Every file left out of the evaluation, and why."""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in skipped)
    headline = t("skipped", lang).format(count=len(skipped))
    return (
        f'<div class="e2v-batch-summary" data-failed="{len(skipped)}">'
        f"<b>⚠️ {html.escape(headline)}</b><ul>{items}</ul></div>"
    )


def misclassified_frame(rows: Sequence[dict[str, str]], lang: str) -> pd.DataFrame:
    """misclassified.csv's rows: the file as in the upload, its true and predicted class and
    the confidence of the prediction."""
    return pd.DataFrame(
        {
            t("col_file", lang): [row["file"] for row in rows],
            t("col_true", lang): [class_label(row["true"], lang) for row in rows],
            t("col_predicted", lang): [class_label(row["predicted"], lang) for row in rows],
            t("col_confidence", lang): [round(float(row["confidence"]), 3) for row in rows],
        }
    )
