"""Batched inference gives what one-at-a-time inference gives, clip by clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import oom_injection
import pytest
import torch

from emotion2vec_app import AnalysisOptions, Engine
from emotion2vec_app.audio import decode_audio
from emotion2vec_app.engine import OutOfMemory
from emotion2vec_app.engine.core import fit_in_memory, plan_batches
from emotion2vec_app.model import inference
from emotion2vec_app.model import padding as batching
from emotion2vec_app.model.loader import LoadedModel

RATE = 16000
FEATURE_TOL = 2e-5  # measured max 4e-6 on 2-core x86 CPU, float32
PROB_TOL = 1e-5
FRAME_LOGIT_TOL = 1e-4  # logits of single frames: features differ by ~4e-6, times |proj|
EMBEDDING_TOL = 1e-5


@pytest.fixture(scope="module")
def model(engine) -> LoadedModel:
    return engine.loaded_model()


@pytest.fixture(scope="module")
def mixed(clips: dict[str, Path]) -> list[np.ndarray]:
    """Speech of 0.3, 1 and 2.9 s, noise, and the whole sentence: frames from 15 to 200+."""
    speech = decode_audio(clips["wav"]).samples
    noise = np.random.default_rng(0).standard_normal(int(1.7 * RATE)).astype(np.float32) * 0.1
    return [
        speech[RATE // 2 : RATE // 2 + int(0.3 * RATE)],
        speech[RATE : 2 * RATE],
        speech[: int(2.9 * RATE)],
        noise,
        speech,
    ]


def max_diff(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    return float(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).max())


def test_features_of_every_frame_match_single(model, mixed) -> None:
    batched = batching.extract_features_batch(model, mixed)
    assert len(batched) == len(mixed)
    for clip, features in zip(mixed, batched, strict=True):
        single = inference.extract_features(model, clip)
        assert features.shape == single.shape
        assert max_diff(features, single) < FEATURE_TOL


@pytest.mark.parametrize("frames", [False, True])
def test_scores_match_single(model, mixed, frames: bool) -> None:
    options = {"frames": frames, "embedding": True}
    batched = batching.score_batch(model, mixed, **options)
    for clip, scores in zip(mixed, batched, strict=True):
        single = inference.score_clip(model, clip, **options)
        assert max_diff(scores.probs, single.probs) < PROB_TOL
        assert scores.embedding.shape == single.embedding.shape
        assert max_diff(scores.embedding, single.embedding) < EMBEDDING_TOL
        if frames:
            assert scores.frame_logits.shape == single.frame_logits.shape
            assert max_diff(scores.frame_logits, single.frame_logits) < FRAME_LOGIT_TOL
        else:
            assert scores.frame_logits is None


def test_order_is_preserved(model, mixed) -> None:
    forward = batching.score_batch(model, mixed)
    backward = batching.score_batch(model, mixed[::-1])
    for a, b in zip(forward, backward[::-1], strict=True):
        assert max_diff(a.probs, b.probs) < PROB_TOL


def test_batch_of_one_equals_single(model, mixed) -> None:
    for clip in mixed:
        (features,) = batching.extract_features_batch(model, [clip])
        assert torch.equal(features, inference.extract_features(model, clip))


def test_identical_clips_give_identical_results(model, mixed) -> None:
    short, long = mixed[0], mixed[-1]
    a, b, _, c = batching.extract_features_batch(model, [short, short, long, short])
    assert torch.equal(a, b)
    assert torch.equal(a, c)


def test_naive_padding_changes_the_shorter_clips(model, mixed) -> None:
    """Without zeroing padded frames before the positional convs, short clips come out wrong."""
    batch = batching.pad_batch(model, mixed)
    with torch.inference_mode():
        naive = model.network.extract_features(batch.source, padding_mask=batch.padding_mask)["x"]
    fixed = batching.extract_features_batch(model, mixed)
    for i, clip in enumerate(mixed[:-1]):  # the last clip is the longest: nothing padded
        single = inference.extract_features(model, clip)
        assert max_diff(naive[i, : batch.frames[i]], single) > 1e-2
        assert max_diff(fixed[i], single) < FEATURE_TOL


def test_batch_leaves_the_alibi_cache_as_it_was(model, mixed) -> None:
    inference.extract_features(model, mixed[-1])
    before = {key: bias.shape for key, bias in model.network.alibi_biases.items()}
    batching.extract_features_batch(model, mixed)
    after = {key: bias.shape for key, bias in model.network.alibi_biases.items()}
    assert after == before


@pytest.mark.parametrize("num_samples", [400, 401, 719, 720, 16000, 46399])
def test_frame_count_is_funasr_s(model, num_samples: int) -> None:
    clip = np.random.default_rng(num_samples).standard_normal(num_samples).astype(np.float32)
    frames = inference.extract_features(model, clip).shape[0]
    assert batching.frame_count(model, num_samples) == frames


def test_too_short_clip_is_refused(model, mixed) -> None:
    with pytest.raises(ValueError, match="400 samples"):
        batching.extract_features_batch(model, [mixed[0], np.zeros(399, np.float32)])


def test_empty_batch(model) -> None:
    assert batching.score_batch(model, []) == []


def test_plan_batches_groups_similar_lengths() -> None:
    lengths = [16000, 160000, 15000, 150000, 17000, 8000, 159000]
    batches = plan_batches(lengths, max_batch_size=2, max_padding_fraction=0.2)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    assert batches[0] == [1, 6]
    for batch in batches:
        longest = max(lengths[i] for i in batch)
        assert len(batch) <= 2
        assert sum(lengths[i] for i in batch) >= 0.8 * longest * len(batch)


def test_plan_batches_never_pads_beyond_the_limit() -> None:
    lengths = [100, 90, 80, 50, 49, 10]
    batches = plan_batches(lengths, max_batch_size=8, max_padding_fraction=0.25)
    # 100+90+80+50 is 20 % padding; adding 49 would make it 26 %, and 49 with 10 is 40 %.
    assert batches == [[0, 1, 2, 3], [4], [5]]


def test_plan_batches_caps_the_padded_audio_of_one_pass() -> None:
    second = 16000
    lengths = [20 * second] * 4 + [5 * second] * 8
    batches = plan_batches(lengths, max_batch_size=16, max_batch_samples=40 * second)
    for batch in batches:
        assert len(batch) * max(lengths[i] for i in batch) <= 40 * second
    assert sorted(i for batch in batches for i in batch) == list(range(12))
    assert [len(b) for b in batches] == [2, 2, 8]


@pytest.fixture(scope="module")
def batched_engine(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """Padded passes of up to 6 clips, as on a GPU."""
    engine = Engine(str(tiny_model_dir), cache_dir=tmp_path_factory.mktemp("c"), batch_size=6)
    engine.wait_ready(timeout=120)
    return engine


def waveforms_of(engine: Engine, clips: list[np.ndarray]) -> list:
    return [engine.decode(clip, sample_rate=RATE, name=f"clip{i}") for i, clip in enumerate(clips)]


def test_fit_in_memory_halves_until_the_parts_fit() -> None:
    def at_most_two(items: list[int]) -> list[int]:
        if len(items) > 2:
            raise OutOfMemory("too big")
        return [i * 10 for i in items]

    assert fit_in_memory(list(range(6)), at_most_two) == [0, 10, 20, 30, 40, 50]


def test_fit_in_memory_fails_only_the_item_that_does_not_fit_alone() -> None:
    def never_three(items: list[int]) -> list[int]:
        if 3 in items:
            raise OutOfMemory("3 does not fit")
        return [i * 10 for i in items]

    results = fit_in_memory(list(range(6)), never_three)
    assert [r for i, r in enumerate(results) if i != 3] == [0, 10, 20, 40, 50]
    assert isinstance(results[3], OutOfMemory)


def test_a_batch_that_runs_out_of_memory_is_split_until_it_fits(monkeypatch, batched_engine, mixed):
    """As on a GPU whose memory holds two clips per pass: the results are still every clip's."""
    waveforms = waveforms_of(batched_engine, [*mixed, *mixed][:6])
    options = AnalysisOptions()
    expected = batched_engine.analyze_batch(waveforms, options)
    real = batching.extract_features_batch
    passes: list[int] = []

    def two_at_most(model_, batch):
        if len(batch) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        passes.append(len(batch))
        return real(model_, batch)

    monkeypatch.setattr(batching, "extract_features_batch", two_at_most)
    outcomes = batched_engine.analyze_batch(waveforms, options)
    assert passes and max(passes) == 2
    for got, want in zip(outcomes, expected, strict=True):
        np.testing.assert_allclose(got.prediction.probs, want.prediction.probs, atol=1e-5)


def test_a_clip_that_does_not_fit_alone_fails_alone(monkeypatch, batched_engine, mixed):
    """A padded pass with the too-big clip fails, is halved down to that clip, and only its
    input gets the OutOfMemory; the engine serves on."""
    waveforms = waveforms_of(batched_engine, mixed)
    oom_injection.patch(monkeypatch, len(mixed[2]))
    outcomes = batched_engine.analyze_batch(waveforms, AnalysisOptions())
    assert isinstance(outcomes[2].error, OutOfMemory)
    assert "ran out of memory for this 2.9 s clip" in outcomes[2].reason
    assert all(o.prediction is not None for i, o in enumerate(outcomes) if i != 2)


def test_the_model_layer_raises_when_a_pass_does_not_fit(monkeypatch, model, mixed):
    def no_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(batching, "extract_features_batch", no_memory)
    with pytest.raises(torch.OutOfMemoryError):
        batching.score_batch(model, mixed[:2])
