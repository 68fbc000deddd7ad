"""CUDA's configuration on a real GPU: float16 and bfloat16 against float32 and FunASR's own
path, padded passes of 16 against single clips, peak memory, a real out-of-memory, and two
Ray Serve replicas on half a GPU each.

Marked `gpu` and skipped without CUDA; run them with `pytest -m gpu tests/test_gpu.py -rs`.
Measurements are printed, never held to a time, and memory only to sanity. TF32 is off here:
cuDNN convolutions default to it on Ampere and later, and with its 10-bit mantissa the float32
comparisons (1e-5) would measure TF32 rather than the code.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest
import soundfile as sf
import torch
from gpu_support import (
    MIXED_S,
    PADDED_TOL,
    RATE,
    SdpaSpy,
    assert_close_with_same_top,
    clip,
    clips_of,
    max_diff,
    prob_bound,
    reference_scores,
)

from emotion2vec_app import Engine
from emotion2vec_app.engine import EngineState, OutOfMemory
from emotion2vec_app.engine.local import GPU_BATCH_SIZE
from emotion2vec_app.model import attention, inference, loader, padding
from emotion2vec_app.model.loader import LoadedModel
from emotion2vec_app.model.source import validate_model_dir

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not torch.cuda.is_available(),
        reason=f"needs a CUDA GPU: torch {torch.__version__} sees none",
    ),
]

GIB = 1 << 30
SANE_PEAK_BYTES = 2 * GIB  # the tiny model: weights of a few MB, activations of tens


def show(capsys: pytest.CaptureFixture[str], line: str) -> None:
    """A measurement, printed past pytest's capture, so that the log of a run keeps it."""
    with capsys.disabled():
        print(f"\n{line}")


@pytest.fixture(scope="module", autouse=True)
def no_tf32() -> Iterator[None]:
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@pytest.fixture(scope="module")
def mixed() -> list[np.ndarray]:
    return clips_of(MIXED_S)


@pytest.fixture(scope="module")
def cuda_models(tiny_model_dir, tmp_path_factory) -> dict[torch.dtype, LoadedModel]:
    """The tiny model on the GPU in each dtype, loaded with CUDA's defaults (fused attention)."""
    device = loader.resolve_device("auto")
    assert device.type == "cuda" and loader.resolve_dtype("auto", device) == torch.float16
    cache = tmp_path_factory.mktemp("cuda-cache")
    models = {
        dtype: loader.load_model(
            validate_model_dir(tiny_model_dir), device=device, dtype=dtype, cache_dir=cache
        )
        for dtype in (torch.float32, torch.float16, torch.bfloat16)
    }
    assert all(m.fused_attention for m in models.values()), "CUDA's default is fused attention"
    return models


@pytest.fixture(scope="module")
def float32_single(cuda_models, mixed) -> list[np.ndarray]:
    return [s.probs for s in reference_scores(cuda_models[torch.float32], mixed)]


@pytest.fixture(scope="module")
def funasr_scores(tiny_model_dir, mixed) -> list[np.ndarray]:
    """FunASR's AutoModel on the GPU, float32, one clip at a time."""
    from funasr import AutoModel

    model = AutoModel(
        model=str(tiny_model_dir),
        disable_update=True,
        device="cuda",
        disable_pbar=True,
        log_level="ERROR",
    )
    return [np.asarray(model.generate(c, granularity="utterance")[0]["scores"]) for c in mixed]


def test_float32_equals_funasr_on_the_gpu(float32_single, funasr_scores) -> None:
    for index, (ours, theirs) in enumerate(zip(float32_single, funasr_scores, strict=True)):
        assert max_diff(ours, theirs) < PADDED_TOL, f"clip {index}"


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_half_precision_stays_close_to_float32_and_funasr(
    cuda_models, mixed, float32_single, funasr_scores, dtype, capsys
) -> None:
    got = [inference.score_clip(cuda_models[dtype], c).probs for c in mixed]
    worst = max(max_diff(g, w) for g, w in zip(got, funasr_scores, strict=True))
    show(capsys, f"{dtype} against FunASR's float32: largest probability difference {worst:.1e}")
    assert_close_with_same_top(got, float32_single, prob_bound(dtype))
    assert_close_with_same_top(got, funasr_scores, prob_bound(dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
def test_padded_passes_of_16_match_single_clips(
    cuda_models, mixed, float32_single, monkeypatch, dtype
) -> None:
    """Float32: within 1e-5 of single clips; float16 (the default): within 1e-2 of float32
    with every top emotion kept. The spy sees the fused attention mask each clip's padding."""
    model = cuda_models[dtype]
    spy = SdpaSpy()
    monkeypatch.setattr(attention, "F", spy)
    batched = [s.probs for s in padding.score_batch(model, mixed)]
    assert len(mixed) == GPU_BATCH_SIZE
    spy.assert_masked_padding(model, [padding.frame_count(model, len(c)) for c in mixed])
    bound = PADDED_TOL if dtype == torch.float32 else prob_bound(dtype)
    assert_close_with_same_top(batched, float32_single, bound)


def peak_bytes(run) -> int:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    run()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated()


def test_peak_memory_of_one_8s_clip_and_of_a_pass_of_16(cuda_models, capsys) -> None:
    model = cuda_models[torch.float16]
    one = clip(0, 8.0)
    sixteen = clips_of((8.0,) * GPU_BATCH_SIZE)
    weights = torch.cuda.memory_allocated()
    single = peak_bytes(lambda: inference.score_clip(model, one))
    batch = peak_bytes(lambda: padding.score_batch(model, sixteen))
    mib = 2**20
    show(
        capsys,
        f"peak GPU memory, tiny model, float16: one 8 s clip {single / mib:.1f} MiB, a pass "
        f"of 16 x 8 s {batch / mib:.1f} MiB (of which loaded models {weights / mib:.1f} MiB)",
    )
    assert weights < single < batch < SANE_PEAK_BYTES


def fill_the_gpu() -> list[torch.Tensor]:
    """Allocate until the GPU refuses: 1 GiB blocks, then ever smaller, down to 1 MiB."""
    held: list[torch.Tensor] = []
    size = GIB
    while size >= 1 << 20:
        try:
            held.append(torch.empty(size, dtype=torch.uint8, device="cuda"))
        except torch.OutOfMemoryError:
            size //= 2
    return held


@pytest.fixture(scope="module")
def cuda_engine(tiny_model_dir, tmp_path_factory) -> Engine:
    engine = Engine(str(tiny_model_dir), cache_dir=tmp_path_factory.mktemp("engine-cache"))
    engine.wait_ready(timeout=120)
    status = engine.status()
    assert status.device.startswith("cuda") and status.dtype == "float16"
    assert engine.batch_size() == GPU_BATCH_SIZE
    return engine


def test_a_real_out_of_memory_then_a_successful_request(cuda_engine, monkeypatch) -> None:
    samples = clip(0, 8.0)
    before = cuda_engine.analyze(samples, sample_rate=RATE).probs
    released: list[LoadedModel] = []
    real_release = inference.release_cached_memory
    monkeypatch.setattr(
        inference, "release_cached_memory", lambda m: released.append(m) or real_release(m)
    )
    held = fill_the_gpu()
    try:
        with pytest.raises(OutOfMemory, match=r"ran out of memory for this 8\.0 s clip"):
            cuda_engine.analyze(samples, sample_rate=RATE)
    finally:
        held.clear()
        torch.cuda.empty_cache()  # for the processes of the next tests
    assert len(released) == 1
    assert cuda_engine.status().state is EngineState.READY
    after = cuda_engine.analyze(samples, sample_rate=RATE).probs
    assert max_diff(after, before) < PADDED_TOL


@pytest.fixture(scope="module")
def one_gpu_ray(isolated_cache) -> Iterator[object]:
    """A local Ray that owns one GPU (whatever the machine has) and 2 CPUs."""
    from ray_harness import require_ray

    ray = require_ray()
    ray.init(
        num_cpus=2,
        num_gpus=1,
        include_dashboard=False,
        ignore_reinit_error=True,
        log_to_driver=False,
    )
    yield ray
    from ray import serve

    serve.shutdown()
    ray.shutdown()


def test_two_replicas_share_one_gpu_at_half_each(one_gpu_ray, tmp_path) -> None:
    """`ray-serve --gpus-per-replica 0.5`: both replicas fit on the one GPU, each loads the
    model there in float16, and each answers as a local engine on the GPU does."""
    import httpx
    from server_harness import free_port

    from emotion2vec_app.distributed.serve_app import (
        BATCH_HEADER,
        REPLICA_HEADER,
        ServeConfig,
        deploy,
    )
    from emotion2vec_app.distributed.wire import read_arrays

    ray = one_gpu_ray
    config = ServeConfig(model="demo", replicas=2, gpus_per_replica=0.5, cpus_per_replica=0.5)
    url = deploy(config, port=free_port())
    assert ray.cluster_resources()["GPU"] == 1
    deadline = time.monotonic() + 30  # the resource view lags the replicas a little
    while ray.available_resources().get("GPU", 0) > 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert ray.available_resources().get("GPU", 0) == 0, "two halves take the one GPU"
    path = tmp_path / "clip.wav"
    sf.write(path, clip(0, 3.0), RATE, subtype="FLOAT")
    local = Engine("demo")
    local.wait_ready(timeout=120)
    expected = local.analyze(path).probs
    answered: set[str] = set()
    statuses: dict[str, dict] = {}
    deadline = time.monotonic() + 60
    while (len(answered) < 2 or len(statuses) < 2) and time.monotonic() < deadline:
        with path.open("rb") as audio:
            response = httpx.post(f"{url}/analyze", files={"audio": audio}, timeout=60)
        assert response.status_code == 200, response.text
        assert response.headers[BATCH_HEADER] == "1"  # alone: the single-clip path
        assert max_diff(read_arrays(response.json())["probs"], expected) < PADDED_TOL
        answered.add(response.headers[REPLICA_HEADER])
        status = httpx.get(f"{url}/status", timeout=10).json()
        statuses[status["replica"]] = status
    assert len(answered) == len(statuses) == 2, f"for 60 s only {answered} answered"
    for status in statuses.values():
        assert (status["device"], status["dtype"]) == ("cuda:0", "float16")
