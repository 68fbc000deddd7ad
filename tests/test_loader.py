import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from emotion2vec_app import AnalysisOptions, Engine
from emotion2vec_app.audio import decode_audio
from emotion2vec_app.model import loader
from emotion2vec_app.model.inference import class_probabilities, extract_features
from emotion2vec_app.model.loader import (
    DeviceError,
    WeightsError,
    cache_path,
    load_model,
    resolve_dtype,
)
from emotion2vec_app.model.source import validate_model_dir
from emotion2vec_app.model.synthetic import build_model_dir

CPU = torch.device("cpu")


@pytest.fixture
def model_copy(tiny_model_dir, tmp_path) -> Path:
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


def _funasr_model(model_dir: Path):
    from funasr import AutoModel

    return AutoModel(
        model=str(model_dir),
        disable_update=True,
        device="cpu",
        disable_pbar=True,
        log_level="ERROR",
        ncpu=torch.get_num_threads(),
    )


@pytest.fixture(scope="module")
def funasr_tiny(tiny_model_dir):
    return _funasr_model(tiny_model_dir)


@pytest.fixture(scope="module")
def parity_inputs(clips) -> list[np.ndarray]:
    speech = decode_audio(clips["wav"]).samples
    noise = np.random.default_rng(1).standard_normal(16000 * 2).astype(np.float32) * 0.2
    return [speech, noise, speech[: 16000 // 2]]


def test_utterance_scores_and_embedding_equal_funasr(engine, funasr_tiny, parity_inputs):
    for samples in parity_inputs:
        ours = engine.analyze(samples, AnalysisOptions(extract_embedding=True), sample_rate=16000)
        theirs = funasr_tiny.generate(samples, granularity="utterance", extract_embedding=True)[0]
        assert [e.key for e in ours.emotions] == [
            "angry", "disgusted", "fearful", "happy", "neutral",
            "other", "sad", "surprised", "unknown",
        ]  # fmt: skip
        assert len(theirs["labels"]) == 9
        np.testing.assert_allclose(ours.probs, theirs["scores"], atol=1e-5, rtol=0)
        np.testing.assert_allclose(ours.embedding, theirs["feats"], atol=1e-5, rtol=0)


def test_frame_embedding_equals_funasr(engine, funasr_tiny, parity_inputs):
    samples = parity_inputs[0]
    ours = engine.analyze(
        samples, AnalysisOptions("frame", extract_embedding=True), sample_rate=16000
    )
    theirs = funasr_tiny.generate(samples, granularity="frame", extract_embedding=True)[0]
    assert ours.embedding.shape == theirs["feats"].shape
    np.testing.assert_allclose(ours.embedding, theirs["feats"], atol=1e-5, rtol=0)


def test_stale_snapshot_scores_equal_funasr(model_copy, parity_inputs, tmp_path):
    stale = ["生气/angry", "unuse_1", "unuse_2", "开心/happy", "中立/neutral",
             "unuse_5", "难过/sad", "unuse_7", "<unk>"]  # fmt: skip
    (model_copy / "tokens.txt").write_text("\n".join(stale) + "\n", encoding="utf-8")
    engine = Engine(str(model_copy), cache_dir=tmp_path / "cache")
    ours = engine.analyze(parity_inputs[0], sample_rate=16000)
    theirs = _funasr_model(model_copy).generate(parity_inputs[0], granularity="utterance")[0]
    assert [e.key for e in ours.emotions] == ["angry", "happy", "neutral", "sad", "unknown"]
    assert len(theirs["labels"]) == 5
    np.testing.assert_allclose(ours.probs, theirs["scores"], atol=1e-5, rtol=0)
    assert any("old" in w for w in ours.warnings)


def test_network_is_built_without_init_or_training_modules(tiny_model_dir, tmp_path):
    model = load_model(
        validate_model_dir(tiny_model_dir), device=CPU, dtype=torch.float32, cache_dir=tmp_path
    )
    tensors = list(model.network.parameters()) + list(model.network.buffers())
    assert not any(t.is_meta for t in tensors)
    assert model.network.modality_encoders["AUDIO"].decoder is None
    assert not model.network.training


def test_cache_holds_only_inference_tensors_without_prefix(model_copy, tmp_path):
    padded = build_model_dir(tmp_path / "padded", size="tiny", target_bytes=3_000_000)
    original = torch.load(padded / "model.pt", weights_only=True)
    assert any(k.startswith("_ema.") for k in original)
    assert (padded / "model.pt").stat().st_size >= 3_000_000
    model = load_model(
        validate_model_dir(padded), device=CPU, dtype=torch.float32, cache_dir=tmp_path
    )
    with safe_open(model.cache_file, "pt") as cached:
        keys = set(cached.keys())
    assert keys == set(model.network.state_dict())
    assert not any(k.startswith(("d2v_model.", "_ema.", "optimizer.")) for k in keys)
    assert not any(".decoder." in k for k in keys)
    for key in keys:
        assert torch.equal(model.network.state_dict()[key], original[f"d2v_model.{key}"])


def test_cache_is_reused_and_converted_again_when_model_pt_changes(
    model_copy, tmp_path, monkeypatch
):
    conversions = []
    convert = loader.convert_to_safetensors
    monkeypatch.setattr(
        loader, "convert_to_safetensors", lambda *a, **k: conversions.append(1) or convert(*a, **k)
    )
    model_dir = validate_model_dir(model_copy)
    first = load_model(model_dir, device=CPU, dtype=torch.float32, cache_dir=tmp_path)
    second = load_model(model_dir, device=CPU, dtype=torch.float32, cache_dir=tmp_path)
    assert len(conversions) == 1 and first.cache_file == second.cache_file

    build_model_dir(tmp_path / "other", size="tiny", seed=7)
    shutil.copy(tmp_path / "other" / "model.pt", model_copy / "model.pt")
    third = load_model(model_dir, device=CPU, dtype=torch.float32, cache_dir=tmp_path)
    assert len(conversions) == 2
    assert third.cache_file != first.cache_file
    assert not first.cache_file.exists(), "the stale entry is removed"
    weight = "proj.weight"
    assert not torch.equal(first.network.state_dict()[weight], third.network.state_dict()[weight])
    assert not list(third.cache_file.parent.glob(".*partial"))


def test_cache_key_depends_on_dtype_and_config(model_copy, tmp_path):
    model_dir = validate_model_dir(model_copy)
    fp32 = cache_path(model_dir, torch.float32, tmp_path)
    assert cache_path(model_dir, torch.bfloat16, tmp_path) != fp32
    config = model_copy / "config.yaml"
    config.write_text(config.read_text() + "\n# edited\n")
    assert cache_path(model_dir, torch.float32, tmp_path) != fp32


def test_half_precision_cache_stores_half_tensors(tiny_model_dir, tmp_path):
    model = load_model(
        validate_model_dir(tiny_model_dir), device=CPU, dtype=torch.bfloat16, cache_dir=tmp_path
    )
    assert model.dtype == torch.bfloat16
    assert all(p.dtype == torch.bfloat16 for p in model.network.parameters())


def test_missing_tensor_is_an_error_not_random_weights(model_copy, tmp_path):
    state = torch.load(model_copy / "model.pt", weights_only=True)
    del state["d2v_model.blocks.0.attn.qkv.weight"]
    torch.save(state, model_copy / "model.pt")
    with pytest.raises(WeightsError, match=r"1 tensors missing \(e.g. blocks.0.attn.qkv.weight\)"):
        load_model(
            validate_model_dir(model_copy), device=CPU, dtype=torch.float32, cache_dir=tmp_path
        )


def test_wrong_shapes_are_an_error(model_copy, tmp_path):
    state = torch.load(model_copy / "model.pt", weights_only=True)
    state["d2v_model.proj.weight"] = torch.zeros(5, 64)
    torch.save(state, model_copy / "model.pt")
    with pytest.raises(WeightsError, match=r"wrong shape .*proj.weight: checkpoint \(5, 64\)"):
        load_model(
            validate_model_dir(model_copy), device=CPU, dtype=torch.float32, cache_dir=tmp_path
        )


def test_corrupt_model_pt_is_an_error(model_copy, tmp_path):
    (model_copy / "model.pt").write_bytes(os.urandom(4096))
    with pytest.raises(WeightsError, match=r"Cannot read model\.pt"):
        load_model(
            validate_model_dir(model_copy), device=CPU, dtype=torch.float32, cache_dir=tmp_path
        )


def test_pickled_code_in_model_pt_is_refused(model_copy, tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"d2v_model.x": Payload()}, model_copy / "model.pt")
    with pytest.raises(WeightsError, match=r"Cannot read model\.pt"):
        load_model(
            validate_model_dir(model_copy), device=CPU, dtype=torch.float32, cache_dir=tmp_path
        )


def test_nested_checkpoints_are_unwrapped(model_copy, tmp_path):
    state = torch.load(model_copy / "model.pt", weights_only=True)
    torch.save({"model": state}, model_copy / "model.pt")
    model = load_model(
        validate_model_dir(model_copy), device=CPU, dtype=torch.float32, cache_dir=tmp_path
    )
    assert torch.equal(model.network.proj.weight, state["d2v_model.proj.weight"])


def test_model_class_import_skips_the_funasr_package_walk():
    code = (
        "import sys\n"
        "from emotion2vec_app.model.funasr_class import import_emotion2vec_class\n"
        "cls = import_emotion2vec_class()\n"
        "print(cls.__name__, 'funasr.auto.auto_model' in sys.modules,"
        " any(m.startswith('funasr.models.paraformer') for m in sys.modules))\n"
        "from funasr import AutoModel\n"
        "print(AutoModel.__name__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    assert out[:3] == ["Emotion2vec", "False", "False"]
    assert out[-1] == "AutoModel", "the real funasr package still imports afterwards"


def test_fused_attention_equals_funasr(tiny_model_dir, funasr_tiny, parity_inputs, tmp_path):
    model = load_model(
        validate_model_dir(tiny_model_dir),
        device=CPU,
        dtype=torch.float32,
        cache_dir=tmp_path,
        fused_attention=True,
    )
    assert model.fused_attention
    attention = [m for m in model.network.modules() if type(m).__name__ == "AltAttention"]
    assert attention and all("forward" in vars(m) for m in attention), "instances, not the class"
    for samples in parity_inputs:
        theirs = funasr_tiny.generate(samples, granularity="frame", extract_embedding=True)[0]
        ours = extract_features(model, samples).numpy()
        np.testing.assert_allclose(ours, theirs["feats"], atol=1e-5, rtol=0)


def test_int8_quantizes_every_linear_and_stays_close(tiny_model_dir, parity_inputs, tmp_path):
    model_dir = validate_model_dir(tiny_model_dir)
    fp32 = load_model(model_dir, device=CPU, dtype=torch.float32, cache_dir=tmp_path)
    int8 = load_model(model_dir, device=CPU, dtype=torch.float32, cache_dir=tmp_path, quantize=True)
    assert int8.precision == "int8" and fp32.precision == "float32"
    assert not any(type(m) is torch.nn.Linear for m in int8.network.modules())
    assert any(
        type(m).__module__.startswith("torch.ao.nn.quantized") for m in int8.network.modules()
    )
    # Measured on these three clips: 0.011, 0.013, 0.007, top emotions 0.56-0.77 ahead of the
    # next, so every one must stay on top.
    for samples in parity_inputs:
        reference = class_probabilities(fp32, extract_features(fp32, samples).mean(0))
        quantized = class_probabilities(int8, extract_features(int8, samples).mean(0))
        assert np.abs(reference - quantized).max() < 0.02
        assert quantized.argmax() == reference.argmax()


def test_int8_is_for_cpus_only():
    with pytest.raises(DeviceError, match="int8 is for CPUs"):
        resolve_dtype("int8", torch.device("cuda"))
