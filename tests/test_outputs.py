import json
import re
import threading

import numpy as np
import soundfile as sf

from emotion2vec_app.engine import AnalysisOptions
from emotion2vec_app.outputs import save_run

RUN_NAME = re.compile(r"^outputs_\d{8}_\d{6}_[0-9a-f]{6}$")


def test_run_folder_holds_audio_result_and_embedding(engine, clips, tmp_path):
    prediction = engine.analyze(
        clips["stereo48k"], AnalysisOptions("frame", extract_embedding=True)
    )
    run = save_run(prediction, tmp_path)
    assert RUN_NAME.match(run.path.name)
    assert sorted(p.name for p in run.path.iterdir()) == [
        "embedding.npy", "processed_audio.wav", "result.json",
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
        thread.join()
    assert len({run.path for run in runs}) == 24
    assert len(list(tmp_path.iterdir())) == 24


def test_folder_name_never_comes_from_the_upload_name(engine, clips, tmp_path):
    prediction = engine.analyze(clips["wav"].read_bytes(), name="../../escape me.wav")
    run = save_run(prediction, tmp_path / "outputs")
    assert run.path.parent == tmp_path / "outputs"
    assert RUN_NAME.match(run.path.name)
    assert prediction.audio.name == "escape me.wav"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outputs"]
