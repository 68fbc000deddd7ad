"""The Evaluate tab and /evaluate (issue 15, item 6), and the emotions to score on the
analysis tabs (item 2): uploads as labelled sets, safe zips, the endpoint through
gradio_client, and the tab in headless Chromium against the real Gradio app in this process
on the demo model. Screenshots in test-artifacts/browser/ (evaluate-*.png)."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
from browser_harness import PHONE, analyze_clip, pages_of, screenshot, serving
from gradio_client import Client, handle_file

from emotion2vec_app.engine import Engine
from emotion2vec_app.options import AnalysisOptions
from emotion2vec_app.research.report import DEMO_WARNING
from emotion2vec_app.ui.render import code_snippet
from emotion2vec_app.ui.text import t
from emotion2vec_app.ui.uploads import UploadProblem, labelled_upload, unpack_zip, upload_problem

MAP = "low=neutral,high=happy,noise=sad"  # the set's classes as three of the model's
SCORED = ["happy", "neutral", "sad"]  # in the head's order
EVAL_FILES = {"metrics.json", "per_class.csv", "confusion.csv", "confusion.png",
              "predictions.csv", "misclassified.csv"}  # fmt: skip
SUBSET = ["angry", "happy", "neutral", "sad"]
EVAL_WAIT_MS = 120_000
OUTSIDE = ("../evil.wav", "../../../evil.wav")  # from the data folder: the outputs root's parent


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The WebUI on the demo model (random weights: the page must say so), in this process."""
    engine = Engine("demo")
    engine.wait_ready(timeout=120)
    outputs = tmp_path_factory.mktemp("eval-outputs")
    with serving(engine, outputs) as url:
        yield url, outputs


@pytest.fixture
def client(app, tmp_path) -> Client:
    return Client(app[0], verbose=False, download_files=str(tmp_path))


@pytest.fixture
def open_page(browser, app):
    with pages_of(browser, app[0]) as make:
        yield make


@pytest.fixture(scope="module")
def set_zip(labelled_set, tmp_path_factory) -> Path:
    """The labelled set as people zip it: one top folder holding the class folders."""
    path = tmp_path_factory.mktemp("zips") / "set.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for wav in sorted(labelled_set.rglob("*.wav")):
            archive.write(wav, f"set/{wav.relative_to(labelled_set).as_posix()}")
    return path


@pytest.fixture(scope="module")
def evil_zip(set_zip, tmp_path_factory) -> Path:
    """The set, and members that would land outside the folder it is unpacked in."""
    path = tmp_path_factory.mktemp("evil") / "evil.zip"
    shutil.copyfile(set_zip, path)
    with zipfile.ZipFile(path, "a") as archive:
        for name in OUTSIDE:
            archive.writestr(zipfile.ZipInfo(name), b"RIFF")
    return path


@pytest.fixture(scope="module")
def manifest_files(labelled_set, tmp_path_factory) -> list[Path]:
    """Uniquely named copies of the set's files and a manifest that names them as they sat
    on the user's disk (a folder of its own, a Windows path): the server finds them by name."""
    folder = tmp_path_factory.mktemp("manifest-upload")
    rows = ["path,label"]
    for wav in sorted(labelled_set.rglob("*.wav")):
        label = wav.parent.name
        copy = shutil.copyfile(wav, folder / f"{label}_{wav.name}")
        rows.append(f"recordings/{copy.name},{label}" if len(rows) > 1 else
                    f"C:\\data\\{copy.name},{label}")  # fmt: skip
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return [manifest, *sorted(folder.glob("*.wav"))]


def evaluate(client: Client, files: list[Path], label_map: str = MAP, emotions=SCORED,
             train: bool = False, folds: int = 4) -> tuple[dict, list[str]]:  # fmt: skip
    return client.predict(
        [handle_file(str(f)) for f in files], label_map, emotions, train, folds,
        api_name="/evaluate",
    )  # fmt: skip


def check_report(report: dict, files: list[str]) -> None:
    assert report["n"] == 24
    assert report["labels"] == SCORED
    assert sum(map(sum, report["confusion"])) == 24
    assert report["model"]["demo"] is True and report["warnings"] == [DEMO_WARNING]
    names = [Path(f).name for f in files]
    assert set(names) >= EVAL_FILES
    assert all(Path(f).is_file() for f in files)
    downloaded = json.loads(next(Path(f) for f in files if f.endswith("metrics.json")).read_text())
    assert downloaded["wa"] == report["wa"]


# --- uploads, without a server -------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "key"),
    [
        ([], "eval_no_files"),
        (["a.wav", "b.wav"], "eval_no_manifest"),
        (["set.zip", "a.wav"], "eval_zip_alone"),
        (["a.csv", "b.tsv", "a.wav"], "eval_many_manifests"),
        (["m.csv", "a.wav", "a.wav"], "eval_same_names"),
    ],
)
def test_an_upload_that_is_no_labelled_set_says_both_ways_to_give_one(names, key):
    assert upload_problem(names)[0] == key
    assert upload_problem(["set.zip"]) is None and upload_problem(["m.tsv", "a.wav"]) is None
    message = t("eval_no_manifest", "en")
    assert ".zip of class folders" in message and ".csv/.tsv manifest" in message


def test_a_zip_member_outside_its_folder_is_never_written(tmp_path):
    archive = tmp_path / "evil.zip"
    bad = ["../evil.wav", "a/../../evil2.wav", "/abs/evil3.wav", "C:/evil4.wav", "..\\evil5.wav"]
    with zipfile.ZipFile(archive, "w") as opened:
        for name in bad:
            opened.writestr(zipfile.ZipInfo(name), b"RIFF")
        opened.writestr("low/ok.wav", b"RIFF")
        opened.writestr("__MACOSX/low/._ok.wav", b"x")
        opened.writestr("README.txt", b"not data")
    folder = tmp_path / "out" / "data"
    folder.mkdir(parents=True)
    skipped = unpack_zip(archive, folder)
    assert len(skipped) == len(bad) and all("not unpacked" in line for line in skipped)
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert written == ["evil.zip", "out/data/low/ok.wav"]


def test_a_zip_is_refused_past_its_limit_as_it_unpacks(tmp_path):
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as opened:
        opened.writestr("low/a.wav", b"\0" * 5000)
    with pytest.raises(UploadProblem) as refused:
        unpack_zip(archive, tmp_path / "data", limit=4000)
    assert refused.value.key == "eval_zip_too_big"
    assert "2 GB" in str(refused.value)


def test_a_manifest_row_cannot_name_a_server_file(labelled_set, tmp_path):
    """Side by side, every row names an uploaded file by its base name: /etc/hostname is
    looked for among the uploads, never read where the row says."""
    low, high = labelled_set / "low" / "0.wav", labelled_set / "high" / "1.wav"
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"{low.name},low\nx/{high.name},high\n/etc/hostname,low\n")
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    files = [shutil.copyfile(low, uploads / low.name)]
    files.append(shutil.copyfile(high, uploads / high.name))
    upload = labelled_upload([manifest, *files], tmp_path / "data")
    pairs = [(f.path.name, f.label) for f in upload.data.files]
    assert pairs == [(low.name, "low"), (high.name, "high")]
    assert upload.data.problems == ["row 3: hostname not found, skipped"]


# --- /evaluate through gradio_client ------------------------------------------------------------


def test_evaluate_a_manifest_and_its_files(client, manifest_files):
    report, files = evaluate(client, manifest_files, emotions="neutral, happy,sad")
    check_report(report, files)
    assert report["data"] == "manifest.csv" and report["emotions"] == ["neutral", "happy", "sad"]
    assert report["skipped"] == []
    assert "training" not in report and not any(f.endswith(".safetensors") for f in files)


def test_evaluate_a_zip_and_train_a_head(client, app, set_zip):
    report, files = evaluate(client, [set_zip], train=True, folds=4)
    check_report(report, files)
    training = report["training"]
    assert training["folds"] == 4 and training["labels"] == SCORED
    assert 0 <= training["cv_ua"] <= 1 and "cv_wa" in training and "cv_macro_f1" in training
    names = [Path(f).name for f in files]
    assert names[len(EVAL_FILES)] == "head.safetensors"
    assert {"cv_metrics.json", "cv_confusion.png"} <= set(names)
    (folder,) = app[1].glob("eval_*/head.safetensors")
    assert not (folder.parent / "data").exists(), "the uploaded copies are gone"
    assert str(app[1]) not in json.dumps(report), "no server folder in the report"


def test_a_bad_label_map_lists_the_unmapped_labels(client, app, set_zip):
    before = set(app[1].iterdir())
    with pytest.raises(Exception, match=r"'high' \(8 files\), 'noise' \(8 files\)") as error:
        evaluate(client, [set_zip], label_map="low=neutral")
    assert str(app[1]) not in str(error.value)
    assert set(app[1].iterdir()) == before, "a refused evaluation leaves no folder"


def test_a_zip_reaching_outside_never_writes_outside_the_outputs_root(client, app, evil_zip):
    root = app[1]
    report, _ = evaluate(client, [evil_zip])
    assert report["n"] == 24
    assert report["skipped"] == [f"{name}: a path outside the zip, not unpacked"
                                 for name in OUTSIDE]  # fmt: skip
    assert not list(root.parent.rglob("evil.wav")), "nothing written outside"
    assert not list(root.glob("eval_*/data")), "no uploaded copies left"


def test_analyze_batch_takes_the_emotions_to_score(client, labelled_set):
    clip = handle_file(str(sorted(labelled_set.glob("low/*.wav"))[0]))
    (every,), _ = client.predict([clip], "utterance", False, "auto", api_name="/analyze_batch")
    assert len(every["scores"]) == 9, "left out: every class"
    (four,), _ = client.predict(
        [clip], "utterance", False, "auto", "Angry,happy, neutral,sad", api_name="/analyze_batch"
    )
    assert list(four["scores"]) == SUBSET
    assert sum(four["scores"].values()) == pytest.approx(1, abs=1e-4)


def test_the_code_snippet_of_a_subset_calls_analyze_batch_with_it():
    """/analyze keeps its three inputs: a subset is /analyze_batch's fifth."""
    code = code_snippet("a.wav", AnalysisOptions(emotions=SUBSET), "http://host/")
    assert (
        "    'auto',  # segmentation\n    ['angry', 'happy', 'neutral', 'sad'],  # emotions" in code
    )
    assert 'api_name="/analyze_batch"' in code
    assert "emotions=('angry', 'happy', 'neutral', 'sad')))" in code


# --- the page -------------------------------------------------------------------------------


def check_emotions(page, prefix: str, keys: list[str]) -> None:
    """Open the advanced options (when closed) and check exactly `keys`."""
    if not page.locator(f"#{prefix}emotions").is_visible():
        page.click(f"#{prefix}advanced button.label-wrap, #{prefix}advanced > button")
    for box in page.locator(f"#{prefix}emotions input[type=checkbox]").all():
        if box.is_checked() != (box.get_attribute("name") in keys):
            box.click()


def test_the_emotions_checked_are_the_emotions_scored(open_page, app, labelled_set):
    page = open_page()
    check_emotions(page, "", SUBSET)
    analyze_clip(page, sorted(labelled_set.glob("high/*.wav"))[0])
    bars = page.locator("#score-bars .e2v-bar")
    assert [bar.get_attribute("data-emotion") for bar in bars.all()] == SUBSET
    scores = [float(bar.get_attribute("data-score")) for bar in bars.all()]
    assert sum(scores) == pytest.approx(1, abs=1e-3)
    run = max(app[1].glob("outputs_*"), key=lambda p: p.stat().st_mtime_ns)
    assert list(json.loads((run / "result.json").read_text())["scores"]) == SUBSET
    screenshot(page, "evaluate-subset")

    check_emotions(page, "", ["sad"])
    page.click("#analyze")
    page.wait_for_selector("#emotion-card .e2v-card[data-state=error]")
    assert t("too_few_emotions", "en") in page.inner_text("#emotion-card")


def eval_texts(page) -> str:
    return page.inner_text("#eval-card") + page.inner_text("#eval-misclassified")


def test_the_evaluate_tab_in_both_languages_and_on_a_phone(open_page, set_zip):
    page = open_page()
    page.get_by_role("tab", name=t("tab_evaluate", "en")).click()
    page.set_input_files("#eval-files input[type=file]", str(set_zip))
    page.wait_for_selector(f"#eval-files td[aria-label='{set_zip.name}']")
    page.locator("#eval-label-map textarea, #eval-label-map input").first.fill(MAP)
    check_emotions(page, "eval-", SCORED)
    page.click("#eval-run")
    page.wait_for_selector("#eval-card .e2v-eval[data-n='24']", timeout=EVAL_WAIT_MS)

    card = page.inner_text("#eval-card")
    assert t("eval_demo_note", "en") in card
    assert page.locator("#eval-card .e2v-eval-demo").is_visible()
    for key in ("metric_wa", "metric_ua", "metric_f1", "col_precision"):
        assert t(key, "en") in card
    page.wait_for_function(
        "document.querySelector('#eval-heatmap img')?.naturalWidth > 0", timeout=EVAL_WAIT_MS
    )
    table = page.locator("#eval-misclassified")
    assert table.is_visible() and t("col_predicted", "en") in table.inner_text()
    assert page.locator("#eval-downloads a, #eval-downloads td").count() >= len(EVAL_FILES)
    screenshot(page, "evaluate-en")

    page.locator("#language").get_by_text("中文").click()
    page.wait_for_function(
        "text => document.querySelector('#eval-card').innerText.includes(text)",
        arg=t("eval_title", "zh").format(n=24),
    )
    texts = eval_texts(page)
    for key in ("eval_demo_note", "metric_ua", "col_true", "col_predicted"):
        assert t(key, "zh") in texts, key
    assert t("eval_demo_note", "en") not in texts and t("col_true", "en") not in texts
    assert page.get_by_role("tab", name=t("tab_evaluate", "zh")).is_visible()
    assert t("run_eval", "zh") in page.inner_text("#eval-run")
    assert t("label_map", "zh") in page.inner_text("#eval-label-map")
    screenshot(page, "evaluate-zh")

    page.set_viewport_size(PHONE)
    page.wait_for_timeout(500)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "evaluate-zh-phone")
    page.locator("#language").get_by_text("English").click()
    page.wait_for_function(
        "text => document.querySelector('#eval-card').innerText.includes(text)",
        arg=t("eval_title", "en").format(n=24),
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "evaluate-en-phone")


def test_a_trained_head_and_the_files_left_out_on_the_page(open_page, evil_zip):
    page = open_page()
    page.get_by_role("tab", name=t("tab_evaluate", "en")).click()
    page.set_input_files("#eval-files input[type=file]", str(evil_zip))
    page.wait_for_selector(f"#eval-files td[aria-label='{evil_zip.name}']")
    page.locator("#eval-label-map textarea, #eval-label-map input").first.fill(MAP)
    page.locator("#eval-train input").check()
    page.locator("#eval-folds input").fill("4")
    page.click("#eval-run")
    page.wait_for_selector("#eval-card .e2v-eval-cv", timeout=EVAL_WAIT_MS)
    cv = page.inner_text("#eval-card .e2v-eval-cv")
    assert t("cv_title", "en").format(folds=4, n=24) in cv and t("metric_ua", "en") in cv
    skipped = page.inner_text("#eval-skipped")
    assert t("skipped", "en").format(count=2) in skipped and "../evil.wav" in skipped
    assert page.locator("#eval-downloads", has_text="head.safetensors").count() == 1
    screenshot(page, "evaluate-trained")
