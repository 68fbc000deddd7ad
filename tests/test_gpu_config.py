"""CUDA's defaults, run on the CPU, against float32 single clips.

On CUDA a model loads as float16 (loader.resolve_dtype) with fused SDPA attention (load_model),
clips go through in padded passes of GPU_BATCH_SIZE (Engine.batch_size), and a pass that runs
out of memory is split, after release_cached_memory. Here that configuration runs on the CPU
device, on the tiny model. Every op of the network has a CPU float16 and bfloat16 kernel in
torch 2.13 (Conv1d, Linear, LayerNorm, GELU, SDPA with a float mask; FunASR's Fp32LayerNorm
computes in float32 on any device), so nothing is left out; only the speed differs. The
reference is FunASR's own attention in float32, one clip at a time.

Torch has no allocator limit on the CPU (set_per_process_memory_fraction is CUDA's), so out of
memory is injected (tests/oom_injection.py); tests/test_gpu.py fills a real GPU.
"""

from __future__ import annotations

import functools
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import oom_injection
import pytest
import torch
from gpu_support import (
    FRAME_LOGIT_TOL,
    MIXED_S,
    PADDED_TOL,
    PROB_TOL,
    RATE,
    SdpaSpy,
    assert_close_with_same_top,
    clips_of,
    max_diff,
    prob_bound,
    reference_scores,
)

from emotion2vec_app import AnalysisOptions, Engine
from emotion2vec_app.engine import OutOfMemory
from emotion2vec_app.engine.core import plan_batches
from emotion2vec_app.engine.local import GPU_BATCH_SIZE
from emotion2vec_app.model import attention, inference, loader, padding
from emotion2vec_app.model.inference import ClipScores
from emotion2vec_app.model.loader import LoadedModel
from emotion2vec_app.model.source import validate_model_dir

CPU = torch.device("cpu")
CUDA = torch.device("cuda")
# 16 clips of 2.0 to 2.3 s: one padded pass of GPU_BATCH_SIZE (6 % padding); a 17th goes alone.
SIMILAR_S = tuple(2.0 + 0.02 * i for i in range(GPU_BATCH_SIZE + 1))


def load_as_on_cuda(model_dir: Path, cache_dir: Path, dtype: torch.dtype) -> LoadedModel:
    """load_model as CUDA's defaults call it (fused attention), on the CPU device."""
    model = loader.load_model(
        validate_model_dir(model_dir),
        device=CPU,
        dtype=dtype,
        cache_dir=cache_dir,
        fused_attention=True,
    )
    assert model.fused_attention and model.dtype == dtype
    assert {p.dtype for p in model.network.parameters()} == {dtype}
    return model


def frames_of(model: LoadedModel, clips: list[np.ndarray]) -> list[int]:
    return [padding.frame_count(model, len(c)) for c in clips]


@pytest.fixture(scope="module")
def mixed() -> list[np.ndarray]:
    return clips_of(MIXED_S)


@pytest.fixture(scope="module")
def expected(engine, mixed) -> list[ClipScores]:
    """The CPU default (FunASR's attention, float32), one clip at a time."""
    model = engine.loaded_model()
    assert model.dtype == torch.float32 and not model.fused_attention
    return reference_scores(model, mixed)


def test_these_tests_run_the_cuda_defaults() -> None:
    assert loader.resolve_dtype("auto", CUDA) == torch.float16
    assert Engine("demo", device="cuda", autostart=False).batch_size() == GPU_BATCH_SIZE == 16
    assert len(MIXED_S) == GPU_BATCH_SIZE


def test_padded_float32_passes_with_fused_attention_match_single_clips(
    tiny_model_dir, tmp_path, mixed, expected, monkeypatch
) -> None:
    """16 clips of 15 to 200 frames in one pass: the padding-mask branch of the fused
    attention runs (the spy sees each clip's padded keys at -inf), and every clip gets what
    it gets alone through FunASR's attention."""
    model = load_as_on_cuda(tiny_model_dir, tmp_path, torch.float32)
    spy = SdpaSpy()
    monkeypatch.setattr(attention, "F", spy)
    batched = padding.score_batch(model, mixed, frames=True, embedding=True)
    spy.assert_masked_padding(model, frames_of(model, mixed))
    for index, (got, want) in enumerate(zip(batched, expected, strict=True)):
        assert max_diff(got.probs, want.probs) < PADDED_TOL, f"clip {index}"
        assert max_diff(got.embedding, want.embedding) < PADDED_TOL, f"clip {index}"
        assert got.frame_logits.shape == want.frame_logits.shape
        assert max_diff(got.frame_logits, want.frame_logits) < FRAME_LOGIT_TOL, f"clip {index}"


@pytest.fixture(scope="module", params=["float16", "bfloat16"])
def half(request, tiny_model_dir, tmp_path_factory, mixed) -> tuple[torch.dtype, dict]:
    """A half-precision model as CUDA loads it, and its scores of the mixed clips: alone,
    and in one padded pass whose fused attention masks a spy checks."""
    dtype = loader.DTYPES[request.param]
    model = load_as_on_cuda(tiny_model_dir, tmp_path_factory.mktemp("half"), dtype)
    single = [inference.score_clip(model, c).probs for c in mixed]
    spy = SdpaSpy()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(attention, "F", spy)
        padded = [scores.probs for scores in padding.score_batch(model, mixed)]
    spy.assert_masked_padding(model, frames_of(model, mixed))
    return dtype, {"single": single, "padded": padded}


@pytest.mark.parametrize("passes", ["single", "padded"])
def test_half_precision_keeps_every_top_emotion_and_stays_close(half, expected, passes) -> None:
    dtype, scores = half
    want = [s.probs for s in expected]
    assert_close_with_same_top(scores[passes], want, prob_bound(dtype))


@pytest.mark.xfail(
    strict=True,
    reason="bfloat16 moves the tiny model's probabilities by up to 0.027 (8 bits of mantissa, "
    "through a random head 4x a usual init); float16 stays within 0.005",
)
def test_bfloat16_probabilities_within_1e_2_of_float32(tiny_model_dir, tmp_path, mixed, expected):
    model = load_as_on_cuda(tiny_model_dir, tmp_path, torch.bfloat16)
    got = [s.probs for s in padding.score_batch(model, mixed)]
    assert_close_with_same_top(got, [s.probs for s in expected], PROB_TOL)


@pytest.fixture(scope="module")
def gpu_like_engine(tiny_model_dir, tmp_path_factory) -> Engine:
    """An Engine with CUDA's defaults (float16, fused attention, passes of 16), on the CPU."""
    dtype = str(loader.resolve_dtype("auto", CUDA)).removeprefix("torch.")
    with pytest.MonkeyPatch.context() as patch:
        fused = functools.partial(loader.load_model, fused_attention=True)
        patch.setattr(loader, "load_model", fused)
        engine = Engine(
            str(tiny_model_dir),
            device="cpu",
            dtype=dtype,
            batch_size=GPU_BATCH_SIZE,
            cache_dir=tmp_path_factory.mktemp("gpu-like"),
        )
        engine.wait_ready(timeout=120)
    model = engine.loaded_model()
    assert model.fused_attention and model.dtype == torch.float16
    return engine


@pytest.fixture(scope="module")
def similar(gpu_like_engine) -> list:
    return [
        gpu_like_engine.decode(c, sample_rate=RATE, name=f"clip{i}")
        for i, c in enumerate(clips_of(SIMILAR_S, first=100))
    ]


@pytest.fixture(scope="module")
def similar_expected(engine, similar) -> list[np.ndarray]:
    return [s.probs for s in reference_scores(engine.loaded_model(), [w.samples for w in similar])]


def test_the_engine_runs_passes_of_16(
    gpu_like_engine, similar, similar_expected, monkeypatch
) -> None:
    passes: list[int] = []
    real = padding.score_batch

    def counted(model, clips, **options):
        passes.append(len(clips))
        return real(model, clips, **options)

    monkeypatch.setattr(padding, "score_batch", counted)
    outcomes = gpu_like_engine.analyze_batch(similar, AnalysisOptions())
    plan = plan_batches([len(w.samples) for w in similar], max_batch_size=GPU_BATCH_SIZE)
    assert passes == [len(group) for group in plan] == [16, 1]
    assert_close_with_same_top([o.unwrap().probs for o in outcomes], similar_expected, PROB_TOL)


def test_out_of_memory_halves_a_pass_of_16_down_to_the_clip(
    gpu_like_engine, similar, similar_expected, monkeypatch, tmp_path
) -> None:
    """Injected (no CPU allocator limit): every pass holding clip 5 fails. The pass of 16 is
    halved to 8, 4, 2 and 1, the cache is released after each failure, and only clip 5 gets
    the OutOfMemory."""
    waveforms, expected = similar[:GPU_BATCH_SIZE], similar_expected[:GPU_BATCH_SIZE]
    failed = tmp_path / "failed-passes"
    oom_injection.patch(monkeypatch, len(waveforms[5].samples), log=str(failed))
    released: list[LoadedModel] = []
    real_release = inference.release_cached_memory
    monkeypatch.setattr(
        inference, "release_cached_memory", lambda m: released.append(m) or real_release(m)
    )
    outcomes = gpu_like_engine.analyze_batch(waveforms, AnalysisOptions())
    assert failed.read_text().split() == ["16", "8", "4", "2", "1"]
    assert len(released) == 5 and all(m is gpu_like_engine.loaded_model() for m in released)
    assert isinstance(outcomes[5].error, OutOfMemory)
    assert "ran out of memory for this 2.1 s clip" in outcomes[5].reason
    rest = [i for i in range(len(waveforms)) if i != 5]
    got = [outcomes[i].unwrap().probs for i in rest]
    assert_close_with_same_top(got, [expected[i] for i in rest], PROB_TOL)


def test_release_cached_memory_empties_the_cuda_cache_only(monkeypatch) -> None:
    emptied: list[bool] = []
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append(True))
    inference.release_cached_memory(SimpleNamespace(device=CPU))
    assert emptied == []
    inference.release_cached_memory(SimpleNamespace(device=torch.device("cuda", 0)))
    assert emptied == [True]
