"""The one analysis core: a batch refuses, orders and times inputs exactly as single calls do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emotion2vec_app import AnalysisOptions, Engine
from emotion2vec_app.audio import AudioTooLong, CorruptAudio, decode_audio
from emotion2vec_app.engine import Outcome
from emotion2vec_app.options import LONG_AUDIO_S, MAX_PASS_S

RATE = 16000


@pytest.fixture(scope="module")
def capped(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """An engine that takes recordings of at most 100 s."""
    engine = Engine(
        str(tiny_model_dir), cache_dir=tmp_path_factory.mktemp("capped"), max_duration_s=100.0
    )
    engine.wait_ready(timeout=120)
    return engine


def noise(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(round(seconds * RATE)) * 0.1).astype(np.float32)


def decoded(seconds: float, name: str):
    """Decoded without any limit, as a Ray decode task or a caller of the Python API may."""
    return decode_audio(noise(seconds), sample_rate=RATE, name=name, max_duration_s=None)


def test_a_batch_refuses_each_input_with_the_words_a_single_call_raises(capped):
    options = AnalysisOptions(segmentation="off")
    inputs = [
        decoded(3.0, "short.wav"),
        decoded(MAX_PASS_S + 10, "one_pass_too_long.wav"),
        decoded(150.0, "over_the_limit.wav"),
        CorruptAudio("'broken.mp3' could not be decoded as audio: damaged."),
        decoded(2.0, "short2.wav"),
    ]
    outcomes = capped.analyze_batch(inputs, options)
    assert [o.prediction is not None for o in outcomes] == [True, False, False, False, True]
    for item, outcome in zip(inputs, outcomes, strict=True):
        if outcome.prediction is not None:
            continue
        if isinstance(item, Exception):
            assert outcome.error is item
            continue
        with pytest.raises(AudioTooLong) as raised:
            capped.analyze(item, options)
        assert outcome.reason == str(raised.value)
    assert "above the 60 s that one pass of the model takes" in outcomes[1].reason
    assert "above the 100 s limit for one recording" in outcomes[2].reason


def test_refusals_need_no_model(tiny_model_dir, tmp_path):
    """Checked before waiting for the model: an engine that never loads still refuses."""
    engine = Engine(str(tiny_model_dir), cache_dir=tmp_path, autostart=False, max_duration_s=10)
    outcomes = engine.analyze_batch([decoded(12.0, "long.wav")], timeout=0.01)
    assert "limit for one recording" in outcomes[0].reason


def test_outcomes_come_back_in_input_order_with_long_and_short_mixed(engine):
    inputs = [
        decoded(2.0, "a.wav"),
        decoded(LONG_AUDIO_S + 5, "long.wav"),
        decoded(1.0, "b.wav"),
    ]
    outcomes = engine.analyze_batch(inputs, AnalysisOptions())
    assert [o.prediction.audio.name for o in outcomes] == ["a.wav", "long.wav", "b.wav"]
    assert outcomes[1].prediction.segments is not None
    assert outcomes[0].prediction.segments is None
    for item, outcome in zip(inputs, outcomes, strict=True):
        alone = engine.analyze(item)
        np.testing.assert_array_equal(outcome.prediction.probs, alone.probs)


def test_timings_start_with_decoding_and_add_up(engine):
    prediction = engine.analyze(noise(2.0), sample_rate=RATE)
    steps = list(prediction.timings_ms)
    assert steps[:2] == ["decode", "wait"] and steps[-1] == "total"
    assert "inference" in steps
    total = sum(v for k, v in prediction.timings_ms.items() if k != "total")
    assert prediction.timings_ms["total"] == pytest.approx(total)


def test_an_outcome_unwraps_to_its_prediction_or_raises_its_error(engine):
    (good,) = engine.analyze_batch([decoded(1.0, "a.wav")])
    assert good.unwrap() is good.prediction and good.reason is None
    bad = Outcome(error=AudioTooLong("too long"))
    assert bad.reason == "too long"
    with pytest.raises(AudioTooLong, match="too long"):
        bad.unwrap()
