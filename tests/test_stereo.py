"""Stereo calls: each channel a speaker, analysed apart (AnalysisOptions channels="split")."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from clips import speak

from emotion2vec_app import cli
from emotion2vec_app.audio import AudioError, decode_audio
from emotion2vec_app.engine import Engine
from emotion2vec_app.model import channels as speakers
from emotion2vec_app.options import AnalysisOptions

RATE = 16000
LEAK_DB = -30.0
SPLIT = AnalysisOptions(channels="split", channel_names="agent,customer")


def speech(clip_dir: Path, text: str, voice: str, seconds: float) -> np.ndarray:
    """espeak-ng speech at 16 kHz, repeated and cut to `seconds`."""
    path = speak(text, clip_dir / f"stereo-{voice}.wav", voice=voice)
    samples = decode_audio(path).samples
    return np.resize(samples, int(seconds * RATE)).astype(np.float32)


def call(left: list[tuple[float, np.ndarray]], right: list[tuple[float, np.ndarray]],
         seconds: float, leak_db: float | None = LEAK_DB) -> np.ndarray:  # fmt: skip
    """(N, 2): each side's speech placed at its start times, the other side leaking into it
    `leak_db` down, over a faint noise floor."""
    sides = np.zeros((2, int(seconds * RATE)), np.float32)
    for side, parts in enumerate((left, right)):
        for start, samples in parts:
            begin = int(start * RATE)
            sides[side, begin : begin + len(samples)] += samples
    mixed = sides.copy()
    if leak_db is not None:
        gain = np.float32(10 ** (leak_db / 20))
        mixed += gain * sides[::-1]
        mixed += np.random.default_rng(0).standard_normal(mixed.shape).astype(np.float32) * 1e-4
    return mixed.T


@pytest.fixture(scope="module")
def voices(clip_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    agent = speech(
        clip_dir,
        "Good morning, thank you for calling our support line, how can I "
        "help you today? I will look into your order right away.",
        "en",
        10.0,
    )
    customer = speech(clip_dir, "I have been waiting for over an hour and nobody has helped me, "
                      "this is the third time this month.", "en+f3", 10.0)  # fmt: skip
    return agent, customer


def write(path: Path, frames: np.ndarray) -> Path:
    sf.write(path, frames, RATE)
    return path


def voiced(samples: np.ndarray) -> tuple[float, float]:
    """First and last second with sound in a clip (espeak pads with silence)."""
    loud = np.flatnonzero(np.abs(samples) > 0.02)
    return loud[0] / RATE, loud[-1] / RATE


def test_leaked_speech_makes_no_segments(engine: Engine, voices, tmp_path: Path) -> None:
    agent, customer = voices
    path = write(tmp_path / "call.wav", call([(0.0, agent)], [(12.0, customer)], 24.0))
    prediction = engine.analyze(path, SPLIT)
    by_name = {c.name: c.segments for c in prediction.channels}
    (a_start, a_end), (c_start, c_end) = voiced(agent), voiced(customer)
    assert by_name["agent"].start_s.min() == pytest.approx(a_start, abs=0.3)
    assert by_name["agent"].end_s.max() == pytest.approx(a_end, abs=0.3)
    assert by_name["customer"].start_s.min() == pytest.approx(12.0 + c_start, abs=0.3)
    assert by_name["customer"].end_s.max() == pytest.approx(12.0 + c_end, abs=0.3)
    # Nothing where only the other side speaks: its leak is not this side's speech.
    assert by_name["agent"].end_s.max() < 12.0 and by_name["customer"].start_s.min() > 11.5
    result = prediction.to_json()
    assert [c["name"] for c in result["channels"]] == ["agent", "customer"]
    assert result["summary"]["overlap_s"] == 0.0
    assert set(result["summary"]["talk_s"]) == {"agent", "customer"}
    assert result["segments"]["channel"] == ["agent"] * len(by_name["agent"]) + ["customer"] * len(
        by_name["customer"]
    )
    # The recording's scores stay the duration-weighted mean over every segment.
    np.testing.assert_allclose(prediction.probs, prediction.segments.distribution(), atol=1e-6)


def test_overlapping_speech_counts_as_overlap(engine: Engine, voices, tmp_path: Path) -> None:
    agent, customer = voices
    path = write(tmp_path / "both.wav", call([(0.0, agent[: 8 * RATE])],
                                             [(4.0, customer[: 8 * RATE])], 13.0))  # fmt: skip
    summary = engine.analyze(path, SPLIT).to_json()["summary"]
    assert summary["overlap_s"] == pytest.approx(4.0, abs=0.6)
    assert summary["talk_s"]["agent"] > 6.5 and summary["talk_s"]["customer"] > 6.5


def test_each_channel_equals_that_channel_analysed_alone(
    engine: Engine, voices, tmp_path: Path
) -> None:
    agent, customer = voices
    frames = call([(0.0, agent)], [(11.0, customer)], 22.0, leak_db=None)
    split = engine.analyze(write(tmp_path / "clean.wav", frames), SPLIT)
    for side, channel in enumerate(split.channels):
        alone = engine.analyze(write(tmp_path / f"side{side}.wav", frames[:, side]),
                               AnalysisOptions(segmentation="vad"))  # fmt: skip
        np.testing.assert_array_equal(channel.segments.start_s, alone.segments.start_s)
        np.testing.assert_array_equal(channel.segments.end_s, alone.segments.end_s)
        np.testing.assert_allclose(channel.segments.probs, alone.segments.probs, atol=1e-6)


def test_names_reach_segments_csv_and_result_json(
    capsys: pytest.CaptureFixture[str], voices, tiny_model_dir: Path, tmp_path: Path
) -> None:
    agent, customer = voices
    path = write(tmp_path / "call.wav", call([(0.0, agent)], [(12.0, customer)], 24.0))
    code = cli.main(["predict", str(path), "--channels", "split", "--channel-names",
                     "agent,customer", "--model", str(tiny_model_dir), "--output-dir",
                     str(tmp_path / "out"), "--json", "-q"])  # fmt: skip
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    run = Path(result["run_dir"])
    rows = list(csv.DictReader((run / "segments.csv").open(encoding="utf-8")))
    assert list(rows[0])[:3] == ["index", "channel", "start_s"]
    assert [row["channel"] for row in rows] == result["segments"]["channel"]
    assert {row["channel"] for row in rows} == {"agent", "customer"}
    saved = json.loads((run / "result.json").read_text("utf-8"))
    assert [c["name"] for c in saved["channels"]] == ["agent", "customer"]


def test_a_mono_file_is_one_channel_with_a_warning(engine: Engine, voices, tmp_path) -> None:
    path = write(tmp_path / "mono.wav", voices[0])
    prediction = engine.analyze(path, AnalysisOptions(channels="split"))
    assert [c.name for c in prediction.channels] == ["mix"]
    assert any("is mono: it was analysed as one channel" in w for w in prediction.warnings)


def test_identical_channels_are_analysed_once(engine: Engine, voices, tmp_path) -> None:
    path = write(tmp_path / "fake.wav", np.stack([voices[0], voices[0]], axis=1))
    prediction = engine.analyze(path, SPLIT)
    assert [c.name for c in prediction.channels] == ["agent + customer"]
    assert any("are identical" in w and "analysed once" in w for w in prediction.warnings)


def test_more_than_8_channels_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "many.wav", np.zeros((RATE, 9), np.float32))
    with pytest.raises(AudioError, match="9 channels; at most 8 can be analysed apart"):
        decode_audio(path, keep_channels=True)
    assert decode_audio(path).channels is None  # mixed, as before


def test_a_silent_channel_gets_an_empty_timeline_and_a_note(
    engine: Engine, voices, tmp_path: Path
) -> None:
    path = write(tmp_path / "one-sided.wav", call([(0.0, voices[0])], [], 12.0))
    prediction = engine.analyze(path, SPLIT)
    customer = prediction.channels[1]
    assert len(customer.segments) == 0
    assert customer.note == "No speech of its own on channel 'customer'."
    assert customer.to_json()["summary"]["dominant"] is None
    assert len(prediction.channels[0].segments) >= 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"granularity": "frame"}, "granularity utterance"),
        ({"segmentation": "off"}, "use segmentation auto or vad"),
        ({"channel_names": "agent,agent"}, "distinct"),
    ],
)
def test_split_options_that_cannot_work_are_refused(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AnalysisOptions(channels="split", **options)


def test_channel_names_must_match_the_channels(engine: Engine, voices, tmp_path) -> None:
    path = write(tmp_path / "call.wav", call([(0.0, voices[0])], [(11.0, voices[1])], 22.0))
    with pytest.raises(ValueError, match=r"3 channel names .* with 2 channel"):
        engine.analyze(path, AnalysisOptions(channels="split", channel_names="a,b,c"))


def test_ownership_rejects_a_leak_and_keeps_both_sides_of_an_overlap() -> None:
    rng = np.random.default_rng(0)
    loud, other = rng.standard_normal(RATE).astype(np.float32), rng.standard_normal(RATE)
    leak = np.float32(10 ** (LEAK_DB / 20))
    alone = speakers.own_frames(np.stack([loud, leak * loud]))
    assert alone[0].all() and not alone[1].any()
    both = speakers.own_frames(np.stack([loud, other.astype(np.float32)]))
    assert both.all()


@pytest.mark.parametrize("length", [speakers.BLOCK * 2 + 777, speakers.BLOCK, 5119])
def test_a_channels_own_speech_is_made_a_block_at_a_time(length: int) -> None:
    rng = np.random.default_rng(length)
    channel = rng.standard_normal(length).astype(np.float32)
    owned = rng.random(-(-length // speakers.FRAME)) > 0.5
    blocks = list(speakers.own_speech(channel, owned))
    assert max(len(b) for b in blocks) <= speakers.BLOCK
    heard = np.concatenate(blocks)
    frame_of_sample = np.arange(length) // speakers.FRAME
    assert np.array_equal(heard, np.where(owned[frame_of_sample], channel, 0.0))
    assert channel.any() and heard.any() and not heard.all()
