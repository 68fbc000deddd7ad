"""The research subcommands of `emotion2vec-app`.

evaluate DATA [--label-map ...] [--emotions ...] [--head FILE] [--out DIR] [--json]
train-head DATA --out head.safetensors [--label-map ...] [--folds 5] [--json]

DATA is a folder with one subfolder per class, or a .csv/.tsv manifest of path,label rows.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from emotion2vec_app.dataset import KNOWN_MAP_NAMES, parse_label_map, read_labelled
from emotion2vec_app.engine.interface import AnalysisEngine, ModelLoadFailed, ModelNotReady
from emotion2vec_app.options import AnalysisOptions
from emotion2vec_app.outputs import default_output_root, new_run_dir
from emotion2vec_app.research import evaluate as research
from emotion2vec_app.research import report
from emotion2vec_app.research.metrics import Metrics

EngineFactory = Callable[[argparse.Namespace], AnalysisEngine]


def _progress_bar(args: argparse.Namespace) -> tuple[tqdm, Callable[[float, str], None]]:
    bar = tqdm(total=100, unit="%", file=sys.stderr, disable=args.json, dynamic_ncols=True)

    def on_progress(fraction: float, message: str) -> None:
        bar.n = round(100 * fraction)
        bar.set_postfix_str(message.split(" · ", 1)[-1][-40:])

    return bar, on_progress


def _warn(report_json: dict[str, Any]) -> None:
    for line in report_json["skipped"]:
        print(f"skipped: {line}", file=sys.stderr)
    for line in report_json["warnings"]:
        print(f"warning: {line}", file=sys.stderr)


def metrics_table(metrics: Metrics) -> str:
    """Per-class precision, recall, F1 and support, then the confusion matrix (rows true)."""
    width = max(9, *(len(label) for label in metrics.labels))
    lines = [f"{'class':<{width}}  precision  recall     f1  support"]
    lines += [
        f"{c.label:<{width}}  {c.precision:9.3f}  {c.recall:6.3f}  {c.f1:5.3f}  {c.support:7d}"
        for c in metrics.per_class
    ]
    lines += ["", "confusion (rows: true, columns: predicted)"]
    lines.append(" " * width + "".join(f" {label[:7]:>7}" for label in metrics.labels))
    lines += [
        f"{label:<{width}}" + "".join(f" {count:7d}" for count in row)
        for label, row in zip(metrics.labels, metrics.confusion, strict=True)
    ]
    return "\n".join(lines)


def run_evaluate(args: argparse.Namespace, make_engine: EngineFactory) -> int:
    data = read_labelled(args.data)
    label_map = parse_label_map(args.label_map)
    options = AnalysisOptions(emotions=args.emotions)
    engine = make_engine(args)
    bar, on_progress = _progress_bar(args)
    try:
        evaluation = research.evaluate(
            engine, data, label_map, options, cache_dir=args.cache_dir, progress=on_progress
        )
    except (ModelLoadFailed, ModelNotReady) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        bar.close()
    folder = args.out or new_run_dir(args.output_dir, "eval")
    result = report.evaluation_json(
        evaluation,
        data=str(args.data),
        label_map=label_map.name,
        emotions=list(options.emotions) if options.emotions else None,
        head=str(args.head) if args.head else None,
        out_dir=str(folder),
    )
    files = report.write_evaluation(evaluation, result, folder)
    _warn(result)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    metrics = evaluation.metrics
    print(f"{metrics.n} files · WA {metrics.wa:.4f} · UA {metrics.ua:.4f} · "
          f"macro-F1 {metrics.macro_f1:.4f}")  # fmt: skip
    print(metrics_table(metrics))
    if options.emotions is None and len(set(evaluation.metrics.labels)) > len(data.labels):
        print(
            "note: scored over every class of the head; the papers' setups mask to the "
            "dataset's classes, e.g. --emotions " + ",".join(dict.fromkeys(
                f.label for f in evaluation.files)),
            file=sys.stderr,
        )  # fmt: skip
    print("wrote " + ", ".join(str(f) for f in files))
    return 0


def run_train(args: argparse.Namespace, make_engine: EngineFactory) -> int:
    if args.head:
        raise ValueError("train-head makes a head from the model's embeddings: drop --head")
    if args.out.suffix != ".safetensors":
        raise ValueError(f"--out names the head file: end it in .safetensors, not {args.out}")
    data = read_labelled(args.data)
    label_map = parse_label_map(args.label_map)
    engine = make_engine(args)
    bar, on_progress = _progress_bar(args)
    try:
        training = research.train(
            engine, data, label_map, folds=args.folds, cache_dir=args.cache_dir,
            progress=on_progress,
        )  # fmt: skip
    except (ModelLoadFailed, ModelNotReady) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        bar.close()
    result = report.training_json(
        training, data=str(args.data), label_map=label_map.name, head=str(args.out)
    )
    files = report.write_training(training, result, args.out)
    _warn(result)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    cv = training.trained.cv
    print(f"{cv.n} files · {args.folds}-fold cross-validated WA {cv.wa:.4f} · UA {cv.ua:.4f} · "
          f"macro-F1 {cv.macro_f1:.4f}")  # fmt: skip
    print(metrics_table(cv))
    print("wrote " + ", ".join(str(f) for f in files))
    print(f"use it: emotion2vec-app predict FILE --head {args.out}")
    return 0


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "data", type=Path, metavar="DATA",
        help="a folder with one subfolder per class, or a .csv/.tsv manifest of path,label",
    )  # fmt: skip
    parser.add_argument(
        "--label-map", action="append", metavar="MAP",
        help="dataset labels to classes: a built-in map (" + ", ".join(KNOWN_MAP_NAMES) + "), "
        "a two-column CSV, or pairs 'ang=angry,exc=happy' ('fru=' drops a label); repeatable",
    )  # fmt: skip
    parser.add_argument(
        "--cache-dir", type=Path, metavar="DIR",
        help="the embedding cache (default: ~/.cache/emotion2vec_app/embeddings)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def add_commands(
    commands: Any,
    add_model_options: Callable[[argparse.ArgumentParser], None],
    make_engine: EngineFactory,
) -> None:
    """Add `evaluate` and `train-head` to the CLI's subcommands."""
    evaluate = commands.add_parser(
        "evaluate",
        help="score a labelled set: WA, UA, macro-F1, per class, confusion matrix",
        description="Evaluate the model (or a --head) on labelled audio. Writes metrics.json, "
        "per_class.csv, confusion.csv/.png, predictions.csv and misclassified.csv.",
    )
    _add_data_options(evaluate)
    evaluate.add_argument(
        "--emotions", metavar="LIST",
        help="score only these classes, e.g. angry,happy,neutral,sad (the 4-class setup)",
    )  # fmt: skip
    evaluate.add_argument(
        "--out", type=Path, metavar="DIR", help="default: a new eval_ folder in --output-dir"
    )
    evaluate.add_argument("--output-dir", type=Path, default=default_output_root())
    add_model_options(evaluate)
    evaluate.set_defaults(run=lambda args: run_evaluate(args, make_engine))

    train = commands.add_parser(
        "train-head",
        help="train a linear head on the embeddings of a labelled set",
        description="Logistic regression on standardised utterance embeddings, balanced class "
        "weights, stratified k-fold cross-validation; saves one .safetensors head for --head.",
    )
    _add_data_options(train)
    train.add_argument("--out", type=Path, required=True, metavar="HEAD.safetensors")
    train.add_argument("--folds", type=int, default=5, help="cross-validation folds")
    add_model_options(train)
    train.set_defaults(run=lambda args: run_train(args, make_engine))
