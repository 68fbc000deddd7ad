"""An evaluation from the WebUI: the uploaded set through the engine's head (and, when asked,
a head trained on it), with its report and files in one eval_ folder under the outputs root.

Files and messages name the uploaded files as the user knows them (low/3.wav), never by the
server's folders; the uploaded copies are removed once the run ends.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emotion2vec_app.dataset import KNOWN_MAP_NAMES, MANIFEST_SUFFIXES, parse_label_map
from emotion2vec_app.options import AnalysisOptions
from emotion2vec_app.outputs import new_run_dir
from emotion2vec_app.ui.text import t
from emotion2vec_app.ui.uploads import UploadProblem, labelled_upload

if TYPE_CHECKING:
    from emotion2vec_app.engine import AnalysisEngine
    from emotion2vec_app.progress import Progress

DATA_FOLDER = "data"  # the uploaded set, inside the eval_ folder while the run lasts
HEAD_FILE = "head.safetensors"
DEFAULT_FOLDS = 5
CV_PREFIX = "cv_"  # the head's cross-validation files, beside the evaluation's own
EVALUATION_SHARE = 0.8  # of the progress bar, when a head is trained after the evaluation


class EvaluationError(ValueError):
    """A user's error in an evaluation, said without the server's folders."""


@dataclass(frozen=True)
class EvalRequest:
    label_map: str  # as typed: maps separated by ; or new lines
    options: AnalysisOptions
    folds: int | None  # cross-validation folds of a head to train; None trains none


@dataclass(frozen=True)
class EvalResult:
    report: dict[str, Any]  # evaluation_json, with "training" when a head was trained
    files: list[Path]  # to download, in the order to offer them


def label_map_specs(text: str | None) -> list[str]:
    """The maps typed in the box. A map file is refused: a client must not make the server
    read a file of its own."""
    specs = [spec.strip() for spec in re.split(r"[;\n]", text or "") if spec.strip()]
    if any(Path(spec).suffix.lower() in MANIFEST_SUFFIXES for spec in specs):
        raise UploadProblem("eval_map_file", names=", ".join(KNOWN_MAP_NAMES))
    return specs


def run_evaluation(
    engine: AnalysisEngine,
    uploaded: list[Path],
    request: EvalRequest,
    output_root: Path,
    progress: Progress | None = None,
) -> EvalResult:
    """Evaluate the uploaded files in a new eval_ folder, and train a head on them when asked.
    A user's error is an UploadProblem or an EvaluationError, and leaves no folder behind."""
    folder = new_run_dir(output_root, "eval")
    data_dir = folder / DATA_FOLDER
    try:
        return _evaluate(engine, uploaded, request, folder, progress)
    except BaseException as error:
        shutil.rmtree(folder, ignore_errors=True)
        if isinstance(error, ValueError) and not isinstance(error, UploadProblem):
            name = uploaded[0].name if len(uploaded) == 1 else DATA_FOLDER
            raise EvaluationError(_shown(str(error), data_dir, name)) from error
        raise
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def _evaluate(
    engine: AnalysisEngine,
    uploaded: list[Path],
    request: EvalRequest,
    folder: Path,
    progress: Progress | None,
) -> EvalResult:
    # Here, not at the top: scikit-learn takes seconds to import, and the page is served first.
    from emotion2vec_app.research import evaluate as research
    from emotion2vec_app.research import report

    data_dir = folder / DATA_FOLDER
    share = EVALUATION_SHARE if request.folds else 1.0
    label_map = parse_label_map(label_map_specs(request.label_map))  # before any upload
    upload = labelled_upload(uploaded, data_dir)

    def shown(text: str) -> str:
        return _shown(text, data_dir, upload.name)

    def step(fraction: float, message: str) -> None:
        if progress:
            progress(share * fraction, shown(message))

    evaluation = research.evaluate(engine, upload.data, label_map, request.options, progress=step)
    evaluation = replace(
        evaluation,
        files=[replace(f, path=f.path.relative_to(data_dir)) for f in evaluation.files],
        skipped=[shown(line) for line in [*upload.skipped, *evaluation.skipped]],
    )
    emotions = list(request.options.emotions) if request.options.emotions else None
    settings = {"data": upload.name, "label_map": label_map.name}
    result = report.evaluation_json(evaluation, **settings, emotions=emotions)
    files = report.write_evaluation(evaluation, result, folder)
    if request.folds:
        if progress:
            progress(share, t("progress_training", "en"))
        training = research.train(engine, upload.data, label_map, folds=request.folds)
        training = replace(training, skipped=[shown(line) for line in training.skipped])
        result["training"] = report.training_json(training, **settings, head=HEAD_FILE)
        written = report.write_training(training, result["training"], folder / HEAD_FILE)
        files += _beside(written, folder)
    return EvalResult(result, files)


@dataclass(frozen=True)
class ShownFiles:
    """What the page draws from an evaluation's downloads, found by their names."""

    heatmap: str | None  # confusion.png
    misclassified: list[dict[str, str]]  # misclassified.csv's rows


def shown_files(paths: Sequence[str]) -> ShownFiles:
    """The evaluation's own heatmap and misclassified files among its downloads (the head's
    are named cv_*), wherever gradio keeps them."""
    from emotion2vec_app.research.report import CONFUSION_PNG, MISCLASSIFIED_CSV

    by_name = {Path(path).name: Path(path) for path in paths}
    heatmap = by_name.get(CONFUSION_PNG)
    table = by_name.get(MISCLASSIFIED_CSV)
    rows: list[dict[str, str]] = []
    if table:
        with table.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    return ShownFiles(str(heatmap) if heatmap else None, rows)


def _shown(text: str, data_dir: Path, name: str) -> str:
    """A message with the uploaded files named as in the upload (`name`: the zip's), not by
    the server's folders."""
    for prefix in dict.fromkeys((str(data_dir.resolve()), str(data_dir))):
        text = text.replace(prefix + os.sep, "").replace(prefix, name)
    return text


def _beside(written: list[Path], folder: Path) -> list[Path]:
    """The head, and its cross-validation files moved beside the evaluation's, named cv_*:
    one list of downloads, no two files of the same name."""
    head, *cv_files = written
    moved = [path.rename(folder / f"{CV_PREFIX}{path.name}") for path in cv_files]
    shutil.rmtree(cv_files[0].parent, ignore_errors=True)
    return [head, *moved]
