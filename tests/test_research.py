"""Research workflows: emotion subsets, trained heads, evaluation metrics, the embedding cache."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from clips import LABELLED_CLASSES, write_wav
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from emotion2vec_app import cli
from emotion2vec_app.dataset import DatasetError, parse_label_map, read_labelled
from emotion2vec_app.engine import Engine, EngineState, ModelLoadFailed
from emotion2vec_app.heads import HeadError, LinearHead, load_head
from emotion2vec_app.model.inference import embedding_dim
from emotion2vec_app.options import AnalysisOptions
from emotion2vec_app.research import evaluate as research
from emotion2vec_app.research.metrics import score
from emotion2vec_app.research.report import DEMO_WARNING
from emotion2vec_app.research.train import check_folds, train_head
from emotion2vec_app.results import softmax

FOUR = ("angry", "happy", "neutral", "sad")
AS_EMOTIONS = "low=neutral,high=happy,noise=sad"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main([*map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trained(
    labelled_set: Path, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict]:
    """train-head on the labelled set through the CLI: the head file and its --json report."""
    folder = tmp_path_factory.mktemp("head")
    head = folder / "head.safetensors"
    code = cli.main(
        ["train-head", str(labelled_set), "--out", str(head), "--model", str(tiny_model_dir),
         "--cache-dir", str(folder / "cache"), "--json"]
    )  # fmt: skip
    assert code == 0
    report = json.loads((folder / "head_cv" / "metrics.json").read_text("utf-8"))
    return head, report


@pytest.fixture
def passes(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The clips of every forward pass the session engine makes during a test."""
    seen: list[int] = []
    real = engine._pass

    def counted(clips, options):
        seen.append(len(clips))
        return real(clips, options)

    monkeypatch.setattr(engine, "_pass", counted)
    return seen


def test_metrics_match_a_confusion_matrix_counted_by_hand() -> None:
    y_true = ["a", "a", "a", "b", "b", "c", "c", "c", "c"]
    y_pred = ["a", "b", "a", "b", "d", "c", "c", "a", "c"]
    metrics = score(y_true, y_pred, ["a", "b", "c", "d"])
    assert metrics.confusion.tolist() == [[2, 1, 0, 0], [0, 1, 0, 1], [1, 0, 3, 0], [0, 0, 0, 0]]
    assert metrics.n == 9
    assert metrics.wa == pytest.approx(6 / 9)
    recall = {"a": 2 / 3, "b": 1 / 2, "c": 3 / 4}
    precision = {"a": 2 / 3, "b": 1 / 2, "c": 3 / 3, "d": 0.0}
    f1 = {k: 2 * precision[k] * recall[k] / (precision[k] + recall[k]) for k in recall}
    # UA and macro-F1 average over the classes that occur in the truth: d only misleads.
    assert metrics.ua == pytest.approx(sum(recall.values()) / 3)
    assert metrics.macro_f1 == pytest.approx(sum(f1.values()) / 3)
    by_label = {c.label: c for c in metrics.per_class}
    assert by_label["c"].precision == pytest.approx(1.0)
    assert by_label["c"].recall == pytest.approx(0.75)
    assert by_label["d"].support == 0 and by_label["d"].precision == 0.0
    assert [by_label[k].support for k in "abc"] == [3, 2, 4]


def test_a_subset_sums_to_one_keeps_the_model_order_and_is_the_masked_softmax(
    engine: Engine, clips: dict[str, Path]
) -> None:
    full = engine.analyze(clips["wav"], AnalysisOptions(granularity="frame"))
    subset = engine.analyze(
        clips["wav"], AnalysisOptions(granularity="frame", emotions="Sad, angry,happy,neutral")
    )
    assert [e.key for e in subset.emotions] == list(FOUR)  # the model's order, not the asked
    keys = [e.key for e in full.emotions]
    picked = full.probs[[keys.index(k) for k in FOUR]]
    np.testing.assert_allclose(subset.probs, picked / picked.sum(), rtol=1e-5)
    assert subset.probs.sum() == pytest.approx(1.0, abs=1e-6)
    assert subset.frames.probs.shape[1] == 4
    np.testing.assert_allclose(subset.frames.probs.sum(axis=1), 1.0, atol=1e-5)
    assert set(subset.to_json()["scores"]) == set(FOUR)


def test_a_segmented_recording_is_scored_over_the_subset_too(engine: Engine, call) -> None:
    path, _ = call
    prediction = engine.analyze(path, AnalysisOptions(emotions=FOUR, segmentation="vad"))
    assert [e.key for e in prediction.segments.emotions] == list(FOUR)
    np.testing.assert_allclose(prediction.segments.probs.sum(axis=1), 1.0, atol=1e-5)
    assert set(prediction.to_json()["summary"]["distribution"]) == set(FOUR)


def test_bad_subsets_are_refused_with_the_classes(engine: Engine, clips: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="at least two emotions"):
        AnalysisOptions(emotions="angry")
    with pytest.raises(ValueError, match=r"'calm' is not among the classes.*angry, disgusted"):
        engine.analyze(clips["wav"], AnalysisOptions(emotions="angry,calm"))


def test_predict_refuses_an_unknown_emotion_before_loading(
    capsys: pytest.CaptureFixture[str], clips: dict[str, Path], tmp_path: Path
) -> None:
    code, _, err = run_cli(
        capsys, "predict", clips["wav"], "--emotions", "angry,calm", "--model", tmp_path / "no"
    )
    assert code == 2
    assert "'calm' is not among the classes" in err


def test_train_head_cross_validates_above_0_9(trained: tuple[Path, dict]) -> None:
    _, report = trained
    assert report["n"] == 24 and report["folds"] == 5
    assert report["labels"] == ["high", "low", "noise"]
    assert report["cv_ua"] >= 0.9
    assert {"cv_wa", "cv_macro_f1", "cv_confusion"} <= set(report)


def test_the_head_file_holds_weights_labels_normalisation_and_model(
    trained: tuple[Path, dict], engine: Engine
) -> None:
    head = load_head(trained[0])
    dim = embedding_dim(engine.loaded_model())
    assert head.labels == ("high", "low", "noise")
    assert head.weight.shape == (3, dim) and head.mean.shape == (dim,)
    assert head.model_id == engine.status().model and head.precision == "float32"
    assert trained[0].stat().st_size < 64 * 1024  # small: a few KB for the tiny model


def test_predict_with_the_head_gives_the_trained_labels(
    capsys: pytest.CaptureFixture[str],
    trained: tuple[Path, dict],
    labelled_set: Path,
    tiny_model_dir: Path,
) -> None:
    files = [labelled_set / name / "3.wav" for name in LABELLED_CLASSES]
    code, out, _ = run_cli(
        capsys, "predict", *files, "--head", trained[0], "--model", tiny_model_dir, "--json",
        "--no-save", "-q",
    )  # fmt: skip
    assert code == 0
    results = [json.loads(line) for line in out.splitlines()]
    assert [r["emotion"] for r in results] == list(LABELLED_CLASSES)
    assert all(set(r["scores"]) == {"high", "low", "noise"} for r in results)
    assert results[0]["emoji"] == "🏷️"  # not an emotion: a neutral tag, never a face


def test_the_head_scores_frames_and_segments_with_the_same_linear_map(
    trained: tuple[Path, dict], tiny_model_dir: Path, labelled_set: Path, call, tmp_path: Path
) -> None:
    engine = Engine(str(tiny_model_dir), head=trained[0], cache_dir=tmp_path)
    prediction = engine.analyze(labelled_set / "low" / "1.wav", AnalysisOptions("frame"))
    assert [e.key for e in prediction.frames.emotions] == ["high", "low", "noise"]
    # Linear: the utterance's logits are the mean of its frames' logits.
    np.testing.assert_allclose(
        softmax(prediction.frames.logits.mean(axis=0)), prediction.probs, atol=1e-4
    )
    long = engine.analyze(call[0], AnalysisOptions(segmentation="vad"))
    assert [e.key for e in long.segments.emotions] == ["high", "low", "noise"]


def test_a_head_of_another_model_or_size_is_refused(
    trained: tuple[Path, dict], tiny_model_dir: Path, tmp_path: Path
) -> None:
    head = load_head(trained[0])
    other = LinearHead(**{**head.__dict__, "model_id": "iic/emotion2vec_plus_large"})
    engine = Engine(str(tiny_model_dir), head=other, cache_dir=tmp_path)
    with pytest.raises(ModelLoadFailed, match="HeadError"):
        engine.wait_ready(timeout=120)
    status = engine.status()
    assert status.state is EngineState.FAILED
    assert "trained on embeddings of iic/emotion2vec_plus_large" in status.error
    assert str(tiny_model_dir) in status.error
    dim = head.dim
    wider = LinearHead(
        labels=head.labels, weight=np.zeros((3, dim + 8), np.float32), bias=head.bias,
        mean=np.zeros(dim + 8, np.float32), scale=np.ones(dim + 8, np.float32),
        model_id=head.model_id, precision="float32",
    )  # fmt: skip
    engine = Engine(str(tiny_model_dir), head=wider, cache_dir=tmp_path)
    with pytest.raises(ModelLoadFailed):
        engine.wait_ready(timeout=120)
    assert f"{dim + 8}-dimensional embeddings" in engine.status().error
    assert f"gives {dim}-dimensional ones" in engine.status().error


def test_a_file_that_is_no_head_is_refused(tmp_path: Path) -> None:
    with pytest.raises(HeadError, match="does not exist"):
        load_head(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file at all")
    with pytest.raises(HeadError, match="not a head file"):
        load_head(junk)


def test_a_trained_head_gives_scikit_learns_probabilities() -> None:
    """The saved weights (and the binary case's one row made two) are the classifier's."""
    rng = np.random.default_rng(0)
    for classes in (("a", "b"), ("a", "b", "c")):
        centres = rng.standard_normal((len(classes), 16)) * 2
        x = np.concatenate([c + rng.standard_normal((20, 16)) for c in centres])
        y = np.repeat(classes, 20)
        head = train_head(x, y, classes[::-1], folds=4, model_id="m", precision="float32").head
        reference = make_pipeline(
            StandardScaler(),
            LogisticRegression(class_weight="balanced", max_iter=2000, random_state=0),
        ).fit(x, y)
        expected = reference.predict_proba(x)[:, ::-1]  # the head keeps the order asked for
        np.testing.assert_allclose(softmax(head.logits(x)), expected, atol=1e-5)
        assert head.labels == classes[::-1]


def test_too_few_files_for_the_folds_is_explained() -> None:
    with pytest.raises(ValueError, match=r"class 'b' has 3 file\(s\), fewer than the 5 folds"):
        check_folds(["a"] * 10 + ["b"] * 3, 5)


def test_the_cache_spares_every_forward_pass_of_a_second_run(
    engine: Engine, labelled_set: Path, tmp_path: Path, passes: list[int]
) -> None:
    data = read_labelled(labelled_set)
    first = research.evaluate(engine, data, parse_label_map([AS_EMOTIONS]), cache_dir=tmp_path)
    assert sum(passes) == 24 and first.embeddings.cached == 0
    passes.clear()
    again = research.evaluate(
        engine, data, parse_label_map([AS_EMOTIONS]), AnalysisOptions(emotions="happy,neutral,sad"),
        cache_dir=tmp_path,
    )  # fmt: skip
    research.train(engine, data, parse_label_map(None), folds=3, cache_dir=tmp_path)
    assert passes == [] and again.embeddings.cached == 24
    # Same content under another name: still cached. New content: embedded anew, alone.
    copy = tmp_path / "copy"
    shutil.copytree(labelled_set, copy)
    write_wav(copy / "noise" / "0.wav", np.random.default_rng(99).standard_normal(24000) * 0.1,
              16000)  # fmt: skip
    research.evaluate(engine, read_labelled(copy), parse_label_map([AS_EMOTIONS]),
                      cache_dir=tmp_path)  # fmt: skip
    assert passes == [1]


def test_evaluate_json_files_and_predictions_agree_with_predict(
    capsys: pytest.CaptureFixture[str],
    engine: Engine,
    labelled_set: Path,
    tiny_model_dir: Path,
    tmp_path: Path,
) -> None:
    out = tmp_path / "eval"
    code, stdout, err = run_cli(
        capsys, "evaluate", labelled_set, "--label-map", AS_EMOTIONS, "--emotions",
        "happy,neutral,sad", "--model", tiny_model_dir, "--out", out, "--json",
        "--cache-dir", tmp_path / "cache",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(stdout)
    assert {"n", "labels", "wa", "ua", "macro_f1", "per_class", "confusion"} <= set(report)
    assert report["n"] == 24 and report["labels"] == ["happy", "neutral", "sad"]
    confusion = np.array(report["confusion"])
    assert confusion.sum() == 24 and confusion.sum(axis=1).tolist() == [8, 8, 8]
    assert report["wa"] == pytest.approx(np.trace(confusion) / 24, abs=1e-6)
    assert (out / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = (out / "predictions.csv").read_text("utf-8").splitlines()
    assert rows[0].split(",")[:6] == ["file", "label", "true", "predicted", "confidence", "correct"]
    wrong = (out / "misclassified.csv").read_text("utf-8").splitlines()[1:]
    assert len(wrong) == 24 - np.trace(confusion)
    # Scores from cached embeddings are the scores of analysing each file.
    options = AnalysisOptions(emotions="happy,neutral,sad")
    for line in rows[1:4]:
        cells = line.split(",")
        predicted = engine.analyze(Path(cells[0]), options)
        assert cells[3] == predicted.emotion.key
        assert float(cells[4]) == pytest.approx(predicted.confidence, abs=1e-5)


def test_evaluate_with_a_head_uses_its_labels(
    capsys: pytest.CaptureFixture[str],
    trained: tuple[Path, dict],
    labelled_set: Path,
    tiny_model_dir: Path,
    tmp_path: Path,
) -> None:
    code, stdout, _ = run_cli(
        capsys, "evaluate", labelled_set, "--head", trained[0], "--model", tiny_model_dir,
        "--out", tmp_path, "--json", "--cache-dir", tmp_path / "cache",
    )  # fmt: skip
    assert code == 0
    report = json.loads(stdout)
    assert report["labels"] == ["high", "low", "noise"] and report["head"] == str(trained[0])
    assert report["ua"] >= 0.9


def test_labelled_set_errors_reach_the_cli(
    capsys: pytest.CaptureFixture[str], labelled_set: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    model = ["--model", tiny_model_dir, "--cache-dir", tmp_path / "cache", "--out", tmp_path]
    code, _, err = run_cli(capsys, "evaluate", labelled_set, *model)
    assert code == 2
    assert "'high' (8 files), 'low' (8 files), 'noise' (8 files)" in err
    assert "angry, disgusted, fearful" in err  # the model's classes, to map onto
    code, _, err = run_cli(
        capsys, "evaluate", labelled_set, "--label-map", "low=sad,high=sad,noise=sad", *model
    )
    assert code == 2 and "one class only" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli(capsys, "train-head", empty, "--out", tmp_path / "h.safetensors",
                           "--model", tiny_model_dir)  # fmt: skip
    assert code == 2 and "no class folders with audio" in err


def test_a_missing_file_is_reported_and_skipped_and_nothing_else_is_lost(
    capsys: pytest.CaptureFixture[str], labelled_set: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    manifest = tmp_path / "set.csv"
    rows = [f"{labelled_set / name / f'{i}.wav'},{name}" for name in LABELLED_CLASSES
            for i in range(4)]  # fmt: skip
    manifest.write_text("path,label\n" + "\n".join([*rows, "gone/x.wav,low"]) + "\n", "utf-8")
    code, stdout, err = run_cli(
        capsys, "evaluate", manifest, "--label-map", AS_EMOTIONS, "--model", tiny_model_dir,
        "--out", tmp_path / "eval", "--json", "--cache-dir", tmp_path / "cache",
    )  # fmt: skip
    assert code == 0
    report = json.loads(stdout)
    assert report["n"] == 12
    assert any("gone/x.wav" in line and "not found" in line for line in report["skipped"])
    assert "gone/x.wav" in err


def test_the_demo_models_metrics_say_they_mean_nothing(
    capsys: pytest.CaptureFixture[str], labelled_set: Path, tmp_path: Path
) -> None:
    code, _, err = run_cli(
        capsys, "evaluate", labelled_set, "--label-map", AS_EMOTIONS, "--model", "demo",
        "--out", tmp_path, "--cache-dir", tmp_path / "cache",
    )  # fmt: skip
    assert code == 0
    assert DEMO_WARNING in err
    report = json.loads((tmp_path / "metrics.json").read_text("utf-8"))
    assert report["model"]["demo"] is True and report["warnings"] == [DEMO_WARNING]


def test_unmapped_labels_are_one_error_with_every_label(labelled_set: Path) -> None:
    with pytest.raises(DatasetError, match="Labels in the set: high, low, noise"):
        parse_label_map(["low=neutral"]).apply(read_labelled(labelled_set), list(FOUR))
