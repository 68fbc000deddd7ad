import json
import os
import re
import threading
import time

import numpy as np
import soundfile as sf

from emotion2vec_app import AnalysisOptions
from emotion2vec_app.outputs import Retention, prune_runs, save_run, try_save_run

RUN_NAME = re.compile(r"^outputs_\d{8}_\d{6}_[0-9a-f]{6}$")


def test_run_folder_holds_audio_result_and_embedding(engine, clips, tmp_path):
    prediction = engine.analyze(
        clips["stereo48k"], AnalysisOptions("frame", extract_embedding=True)
    )
    run = save_run(prediction, tmp_path)
    assert RUN_NAME.match(run.path.name)
    assert sorted(p.name for p in run.path.iterdir()) == [
        "embedding.npy", "frames.csv", "processed_audio.wav", "result.json",
    ]  # fmt: skip

    audio, rate = sf.read(run.audio_file)
    assert rate == 16000 and audio.ndim == 1
    assert abs(len(audio) / 16000 - prediction.audio.duration_s) < 0.01

    embedding = np.load(run.embedding_file)
    assert embedding.dtype == np.float32 and embedding.shape == prediction.embedding.shape

    result = json.loads(run.result_file.read_text(encoding="utf-8"))
    assert list(result)[:5] == ["emotion", "confidence", "scores", "granularity", "timestamp"]
    assert result["emotion"] == prediction.emotion.key
    assert result["emotion_zh"] == prediction.emotion.zh
    assert result["embedding"] == {"file": "embedding.npy", "shape": list(embedding.shape)}
    assert result["run_dir"] == str(run.path)
    assert result["audio"] == {
        "name": clips["stereo48k"].name, "format": "wav", "sample_rate": 48000,
        "channels": 2, "duration_s": round(prediction.audio.duration_s, 3),
    }  # fmt: skip
    assert len(result["frames"]["start_s"]) == embedding.shape[0]
    assert set(result["frames"]["scores"]) == set(result["scores"])
    assert result["model"]["device"] == "cpu"


def test_utterance_run_has_no_embedding_or_frames(engine, clips, tmp_path):
    run = save_run(engine.analyze(clips["wav"]), tmp_path)
    assert run.embedding_file is None
    result = json.loads(run.result_file.read_text(encoding="utf-8"))
    assert "frames" not in result and "embedding" not in result


def test_simultaneous_runs_get_their_own_folders(engine, clips, tmp_path):
    prediction = engine.analyze(clips["wav"])
    runs = []
    threads = [
        threading.Thread(target=lambda: runs.append(save_run(prediction, tmp_path)))
        for _ in range(24)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "a save_run hung"
    assert len(runs) == 24 and len({run.path for run in runs}) == 24
    assert len(list(tmp_path.iterdir())) == 24


def test_folder_name_never_comes_from_the_upload_name(engine, clips, tmp_path):
    prediction = engine.analyze(clips["wav"].read_bytes(), name="../../escape me.wav")
    run = save_run(prediction, tmp_path / "outputs")
    assert run.path.parent == tmp_path / "outputs"
    assert RUN_NAME.match(run.path.name)
    assert prediction.audio.name == "escape me.wav"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outputs"]


def make_runs(root, count: int) -> list:
    """Run-named folders, oldest first, with mtimes one hour apart."""
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = root / f"outputs_20261124_{100000 + i:06d}_{i:06x}"
        path.mkdir()
        stamp = time.time() - (count - i) * 3600
        os.utime(path, (stamp, stamp))
        paths.append(path)
    return paths


def test_retention_keeps_the_newest_runs_and_nothing_else_is_touched(tmp_path):
    runs = make_runs(tmp_path, 5)
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "my-folder").mkdir()
    assert prune_runs(tmp_path, Retention(max_runs=2)) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["notes.txt", "my-folder", runs[3].name, runs[4].name]
    )


def test_retention_by_age(tmp_path):
    runs = make_runs(tmp_path, 4)  # 4, 3, 2 and 1 hours old
    assert prune_runs(tmp_path, Retention(max_age_s=2.5 * 3600)) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [runs[2].name, runs[3].name]


def test_save_with_retention_bounds_the_folder(engine, clips, tmp_path):
    prediction = engine.analyze(clips["wav"])
    for _ in range(5):
        try_save_run(prediction, tmp_path, Retention(max_runs=3))
    assert len(list(tmp_path.iterdir())) == 3


def test_unwritable_outputs_still_return_the_analysis_with_a_warning(engine, clips, tmp_path):
    blocker = tmp_path / "outputs"
    blocker.write_text("a file where the folder should be")
    prediction = engine.analyze(clips["wav"])
    assert try_save_run(prediction, blocker) is None
    assert any("could not be written" in w for w in prediction.warnings)
    assert prediction.to_json()["warnings"] == prediction.warnings
