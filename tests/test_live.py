"""Live: a rolling window re-scored every hop (Engine.stream, engine.live)."""

from __future__ import annotations

import io
import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from clips import speak

from emotion2vec_app.audio import (
    AudioError,
    AudioTooLong,
    EmptyAudio,
    InvalidSamples,
    LiveRecording,
    decode_audio,
)
from emotion2vec_app.cli import main
from emotion2vec_app.engine import Engine
from emotion2vec_app.engine.live import window_count
from emotion2vec_app.engine.turns import TurnLock

RATE = 16000


@pytest.fixture(scope="module")
def speech_then_silence(clip_dir: Path) -> np.ndarray:
    """10 s: espeak-ng speech for 5 s, then 5 s of digital silence."""
    path = speak("I can't believe you did that, this is wonderful news", clip_dir / "live.wav")
    speech = np.resize(decode_audio(path).samples, 5 * RATE)
    return np.concatenate([speech, np.zeros(5 * RATE, np.float32)]).astype(np.float32)


def pieces(samples: np.ndarray, sizes: tuple[int, ...] = (1234, 77, 5000)) -> Iterator[np.ndarray]:
    """Chunks of uneven sizes, as a browser or a pipe delivers them."""
    start, turn = 0, 0
    while start < len(samples):
        size = sizes[turn % len(sizes)]
        yield samples[start : start + size]
        start, turn = start + size, turn + 1


def paced(samples: np.ndarray, chunk_s: float = 0.05) -> Iterator[np.ndarray]:
    """Chunks at the speed of real time, as a microphone delivers them."""
    size = int(chunk_s * RATE)
    for start in range(0, len(samples), size):
        time.sleep(chunk_s)
        yield samples[start : start + size]


def test_a_recording_gets_every_window_each_equal_to_its_offline_analysis(
    engine: Engine, speech_then_silence: np.ndarray
) -> None:
    updates = list(engine.stream(pieces(speech_then_silence), 3.0, 0.5, live=False))

    assert len(updates) == window_count(10.0, 3.0, 0.5) == 15
    assert [u.t_s for u in updates] == [3.0 + 0.5 * k for k in range(15)]
    assert all(u.skipped == 0 for u in updates)
    for update in updates:
        end = round(update.t_s * RATE)
        window = speech_then_silence[end - 3 * RATE : end]
        if update.t_s <= 5.0:  # all speech
            assert update.speech
        if update.t_s - 3.0 >= 5.5:  # all silence
            assert not update.speech
        if update.speech:
            offline = engine.analyze(window, sample_rate=RATE)
            np.testing.assert_allclose(update.probs, offline.probs, atol=1e-6)
            assert update.emotion == offline.emotion
        else:
            assert update.emotion is None and update.scores == {}


def test_silence_is_reported_as_no_speech_not_an_emotion(engine: Engine) -> None:
    noise = (np.random.default_rng(0).standard_normal(5 * RATE) * 1e-4).astype(np.float32)
    updates = list(engine.stream([noise], 2.0, 1.0, live=False))
    assert len(updates) == 4
    for update in updates:
        line = update.to_json()
        assert line["speech"] is False
        assert line["emotion"] is None and line["confidence"] is None and line["scores"] == {}


def test_the_edge_rule_counts_whole_windows_only(engine: Engine) -> None:
    assert window_count(2.99, 3.0, 0.5) == 0
    assert window_count(3.0, 3.0, 0.5) == 1
    assert window_count(3.49, 3.0, 0.5) == 1
    assert window_count(10.0, 3.0, 0.5) == 15
    assert window_count(10.0, 2.0, 0.3) == 27
    tone = np.zeros(int(2.99 * RATE), np.float32)
    assert list(engine.stream([tone], 3.0, 0.5, live=False)) == []


def test_a_slow_engine_skips_to_the_newest_window_and_counts_the_skipped(
    engine: Engine, speech_then_silence: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    scoring_s = 0.4
    analyze = engine.analyze

    def slow(*args, **kwargs):
        time.sleep(scoring_s)
        return analyze(*args, **kwargs)

    monkeypatch.setattr(engine, "analyze", slow)
    audio = speech_then_silence[: 4 * RATE]
    updates = list(engine.stream(paced(audio), 1.0, 0.1))

    # Every window was either scored or counted as skipped, and the last one was scored.
    assert sum(1 + u.skipped for u in updates) == window_count(4.0, 1.0, 0.1) == 31
    assert updates[-1].t_s == pytest.approx(4.0)
    assert sum(u.skipped for u in updates) > 10
    # Without skipping, 31 windows at 0.4 s each would end ~9 s behind the 4 s stream.
    assert max(u.latency_s for u in updates) < 3 * scoring_s


def test_a_recording_read_as_a_live_source_jumps_to_its_last_window(engine: Engine) -> None:
    """A source that has delivered everything before the first window is scored: only the
    newest window is worth scoring."""
    tone = (np.sin(np.arange(6 * RATE) * 0.05) * 0.1).astype(np.float32)
    ready = threading.Event()

    def source() -> Iterator[np.ndarray]:
        yield tone
        ready.set()

    stream = engine.stream(source(), 2.0, 0.5)
    ready.wait(10)
    time.sleep(0.2)  # the reader has stored the chunk and finished
    (update,) = list(stream)
    assert update.t_s == 6.0 and update.skipped == window_count(6.0, 2.0, 0.5) - 1


@pytest.mark.parametrize("live", [False, True])
def test_bad_chunks_and_settings_are_refused_with_their_reason(engine: Engine, live: bool) -> None:
    bad = np.full(RATE, np.nan, np.float32)
    with pytest.raises(InvalidSamples, match="NaN"):
        list(engine.stream([np.zeros(RATE, np.float32), bad], 1.0, 0.5, live=live))
    with pytest.raises(ValueError, match=r"shape \(n,\)"):
        list(engine.stream([np.zeros((RATE, 2), np.float32)], 1.0, 0.5, live=live))
    with pytest.raises(ValueError, match="window must be 1 to 30 s"):
        engine.stream([], 0.2, 0.1, live=live)
    with pytest.raises(ValueError, match=r"hop must be 0\.1 s to the window"):
        engine.stream([], 2.0, 3.0, live=live)


def test_a_subset_of_emotions_is_scored_as_analyze_scores_it(
    engine: Engine, speech_then_silence: np.ndarray
) -> None:
    (update, *_) = engine.stream(
        [speech_then_silence[: 3 * RATE]], 3.0, 0.5, emotions=["angry", "happy"], live=False
    )
    offline = engine.analyze(speech_then_silence[: 3 * RATE], sample_rate=RATE)
    keys = [e.key for e in update.emotions]
    assert keys == ["angry", "happy"]
    full = offline.scores
    expected = np.array([full["angry"], full["happy"]])
    np.testing.assert_allclose(update.probs, expected / expected.sum(), atol=1e-5)


def test_an_analysis_is_not_starved_by_a_live_stream(
    engine: Engine, speech_then_silence: np.ndarray
) -> None:
    updates = []
    live = threading.Thread(
        target=lambda: updates.extend(
            engine.stream(paced(speech_then_silence[: 4 * RATE]), 1.0, 0.1)
        )
    )
    live.start()
    while not updates:
        time.sleep(0.01)
    prediction = engine.analyze(speech_then_silence[: 3 * RATE], sample_rate=RATE)
    assert live.is_alive(), "the analysis finished while the live stream was still running"
    assert prediction.emotion is not None
    live.join()
    assert updates[-1].t_s == pytest.approx(4.0)


def test_the_model_is_handed_over_in_arrival_order() -> None:
    lock, order = TurnLock(), []
    lock.acquire()
    waiters = []
    for name in range(4):
        waiter = threading.Thread(
            target=lambda n=name: (lock.acquire(), order.append(n), lock.release())
        )
        waiter.start()
        while len(lock._queue) < name + 1:  # queued behind the ones before it
            time.sleep(0.001)
        waiters.append(waiter)
    lock.release()
    for waiter in waiters:
        waiter.join(5)
    assert order == [0, 1, 2, 3]
    with pytest.raises(RuntimeError, match="unheld"):
        lock.release()


@pytest.fixture(scope="module")
def ten_second_wav(tmp_path_factory: pytest.TempPathFactory, speech_then_silence) -> Path:
    path = tmp_path_factory.mktemp("live") / "ten.wav"
    sf.write(path, speech_then_silence, RATE, subtype="FLOAT")
    return path


def json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


def test_cli_json_lines_of_a_10_s_file(tiny_model_dir, ten_second_wav, capsys) -> None:
    code = main(["stream", str(ten_second_wav), "--model", str(tiny_model_dir), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    lines = json_lines(captured.out)
    assert len(lines) == (10 - 3) // 0.5 + 1 == 15
    times = [line["t_s"] for line in lines]
    assert times == sorted(times) and times[0] == 3.0 and times[-1] == 10.0
    for line in lines:
        assert {"t_s", "emotion", "confidence", "scores", "speech"} <= line.keys()
        assert line["speech"] == (line["emotion"] is not None)
    assert lines[0]["speech"] and not lines[-1]["speech"]
    assert "15 updates (0 windows skipped)" in captured.err


def test_cli_reads_raw_pcm_from_stdin(
    tiny_model_dir, speech_then_silence, capsys, monkeypatch
) -> None:
    raw = io.BytesIO(speech_then_silence.astype("<f4").tobytes() + b"\x00\x00")  # a torn tail
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(raw))
    code = main(["stream", "-", "--model", str(tiny_model_dir), "--json", "--window", "2"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    lines = json_lines(captured.out)
    # A pipe is a live source: windows may be skipped, never lost from the count.
    assert sum(1 + line["skipped"] for line in lines) == window_count(10.0, 2.0, 0.5)
    assert lines[-1]["t_s"] == 10.0


def test_cli_plain_lines_realtime_and_bad_requests(
    tiny_model_dir, ten_second_wav, tmp_path, capsys
) -> None:
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(2 * RATE, np.float32), RATE)
    model = ["--model", str(tiny_model_dir)]
    assert main(["stream", str(short), *model]) == 1
    assert "2.00 s long, shorter than the 3 s window" in capsys.readouterr().err
    assert main(["stream", "-", "--realtime", *model]) == 2
    assert "stdin arrives at its own pace" in capsys.readouterr().err
    assert main(["stream", str(ten_second_wav), "--hop", "5", *model]) == 2
    assert "hop must be 0.1 s to the window" in capsys.readouterr().err

    started = time.perf_counter()
    realtime = ["--realtime", "--window", "8", "--hop", "1", "--json"]
    assert main(["stream", str(ten_second_wav), *realtime, *model]) == 0
    assert time.perf_counter() - started >= 10.0  # paced: the file took as long as it plays
    lines = json_lines(capsys.readouterr().out)
    assert sum(1 + line["skipped"] for line in lines) == 3  # windows ending at 8, 9 and 10 s
    assert lines[-1]["t_s"] == 10.0 and lines[0]["speech"]

    assert main(["stream", str(ten_second_wav), "--window", "8", "--hop", "1", *model]) == 0
    plain = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in plain] == ["8.00", "9.00", "10.00"]
    assert "%" in plain[0] and "ms" in plain[0]


def test_a_microphone_recording_is_resampled_as_it_arrives_and_kept_whole() -> None:
    rate = 48000
    seconds = np.arange(3 * rate) / rate
    tone = (np.sin(2 * np.pi * 220 * seconds) * 12000).astype(np.int16)
    recording = LiveRecording()
    handed = [recording.add(rate, tone[i : i + 4800]) for i in range(0, len(tone), 4800)]
    live = np.concatenate(handed)
    whole = recording.waveform()
    assert whole.info.format == "microphone" and whole.info.sample_rate == rate
    assert whole.info.duration_s == pytest.approx(3.0)
    assert len(whole.samples) == pytest.approx(3 * RATE, abs=2)
    # What was handed back live is the start of the whole, sample for sample.
    assert len(live) > 3 * RATE - 1000
    np.testing.assert_array_equal(live, whole.samples[: len(live)])
    offline = decode_audio(tone, sample_rate=rate).samples
    np.testing.assert_allclose(whole.samples, offline, atol=1e-4)


def test_a_microphone_recording_refuses_what_it_cannot_keep() -> None:
    recording = LiveRecording(max_duration_s=1.0)
    recording.add(44100, np.zeros(22050, np.int16))
    with pytest.raises(AudioError, match="changed from 44100 Hz to 48000 Hz"):
        recording.add(48000, np.zeros(4800, np.int16))
    with pytest.raises(AudioTooLong):
        recording.add(44100, np.zeros(44100, np.int16))
    with pytest.raises(EmptyAudio):
        LiveRecording().waveform()
    with pytest.raises(AudioError, match="float32, float64, int16 or int32"):
        LiveRecording().add(16000, np.zeros(10, np.uint8))


def test_speech_is_tracked_once_per_sample_whatever_the_chunks(speech_then_silence) -> None:
    from emotion2vec_app.model.vad import SpeechTracker

    whole, pieces_ = SpeechTracker(), SpeechTracker()
    whole.hear(speech_then_silence, 0)
    start = 0
    for piece in pieces(speech_then_silence, (333, 4096, 7)):
        pieces_.hear(piece, start)
        start += len(piece)
    for begin in range(0, 7 * RATE + 1, RATE // 2):
        end = begin + 3 * RATE
        assert whole.has_speech(begin, end) == pieces_.has_speech(begin, end)
    tracker = SpeechTracker()
    tracker.hear(speech_then_silence, 0)
    assert tracker.has_speech(0, 3 * RATE) and not tracker.has_speech(6 * RATE, 9 * RATE)
    tracker.hear(np.zeros(RATE, np.float32), 20 * RATE)  # a gap: what came before is gone
    assert tracker.position == 21 * RATE and not tracker.has_speech(0, 21 * RATE)
