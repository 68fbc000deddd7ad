"""Build FunASR's Emotion2vec fast: no `import funasr` walk, no random init, no pickle per load.

FunASR's own path imports every funasr submodule (~6 s), initialises 164 M parameters at
random, then `torch.load`s and deep-copies the 1.95 GB training checkpoint. Here the class is
imported alone, built on the meta device with init skipped, and given its weights from a
safetensors cache (inference tensors only) made once from model.pt.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from emotion2vec_app.labels import LabelSet, read_labels
from emotion2vec_app.model.funasr_class import import_emotion2vec_class
from emotion2vec_app.model.source import ModelDir, ModelError, cache_root

log = logging.getLogger("emotion2vec_app")

CACHE_FORMAT = "e2v-safetensors-1"


DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class WeightsError(ModelError):
    """model.pt cannot be read, or does not match config.yaml."""


class DeviceError(ModelError):
    """The requested device or dtype cannot be used here."""


def resolve_device(requested: str = "auto") -> torch.device:
    if requested == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except RuntimeError as error:
        raise DeviceError(
            f"Unknown device {requested!r}: use auto, cpu, cuda or cuda:N."
        ) from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(
            f"Device {requested!r} was asked for, but this torch build sees no CUDA GPU "
            f"(torch {torch.__version__}). Use --device cpu."
        )
    return device


def resolve_dtype(requested: str, device: torch.device) -> torch.dtype:
    """auto: float16 on CUDA (2e-3 feature error, 3e-5 in probabilities), float32 on CPU.

    int8 is float32 activations with int8 Linear weights (see `quantize_int8`).
    """
    if requested == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    if requested == "int8":
        if device.type != "cpu":
            raise DeviceError("--dtype int8 is for CPUs; on a GPU use float16 or bfloat16.")
        return torch.float32
    if requested not in DTYPES:
        raise DeviceError(f"Unknown dtype {requested!r}: use auto, int8, {', '.join(DTYPES)}.")
    if device.type == "cpu" and requested != "float32":
        log.warning(
            "%s on a CPU is slow unless it has AVX-512 BF16/AMX (an 8 s clip took 37 s "
            "instead of 1.5 s on a 2-core AVX2 EPYC); float32 or int8 are the CPU choices.",
            requested,
        )
    return DTYPES[requested]


def quantize_int8(network: torch.nn.Module) -> torch.nn.Module:
    """Dynamic int8 quantization of every nn.Linear (weights int8, activations per batch).

    torch.ao.quantization is deprecated in favour of torchao but still ships in torch 2.13;
    it avoids a second, larger dependency for an opt-in CPU mode.
    """
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (DeprecationWarning, UserWarning))
        return quantize_dynamic(network, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)


@contextlib.contextmanager
def _skip_init() -> Iterator[None]:
    """Every weight is overwritten on load, so random init is wasted work (1.2 s on meta)."""
    names = [n for n in dir(torch.nn.init) if n.endswith("_") and not n.startswith("_")]
    saved = {n: getattr(torch.nn.init, n) for n in names}
    for n in names:
        setattr(torch.nn.init, n, lambda tensor, *args, **kwargs: tensor)
    try:
        yield
    finally:
        for n, fn in saved.items():
            setattr(torch.nn.init, n, fn)


def inference_config(config: dict[str, Any]) -> dict[str, Any]:
    """model_conf without the pre-training decoder, which inference never runs."""
    model_conf = copy.deepcopy(config["model_conf"])
    model_conf["modalities"]["audio"]["decoder"] = None
    return model_conf


def build_network(config: dict[str, Any], vocab_size: int) -> torch.nn.Module:
    """FunASR's Emotion2vec with every tensor on `meta`: no memory, no init."""
    emotion2vec = import_emotion2vec_class()
    with _skip_init(), torch.device("meta"):
        network = emotion2vec(model_conf=inference_config(config), vocab_size=vocab_size)
    return network.eval()


def _unwrap(state: dict) -> dict:
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(state.get(key), dict):
            state = state[key]
    return state


def _source_prefixes(config: dict[str, Any]) -> list[str]:
    """Checkpoint prefixes that map to the network's root (config `scope_map`, as FunASR)."""
    scope = config.get("scope_map") or []
    if isinstance(scope, str):
        scope = scope.split(",")
    pairs = list(zip(scope[::2], scope[1::2], strict=False))
    prefixes = [src for src, dst in pairs if str(dst).lower() == "none" and src != "none"]
    return [*prefixes, "module.", ""]


def select_inference_tensors(
    checkpoint: dict, network: torch.nn.Module, config: dict[str, Any]
) -> dict[str, torch.Tensor]:
    """Pick the network's tensors out of a training checkpoint, checking every key and shape.

    FunASR leaves a missing or misshapen key at its random init with only a printed warning;
    here it is an error, since random weights must never pass for a model.
    """
    checkpoint = _unwrap(checkpoint)
    prefixes = _source_prefixes(config)
    selected: dict[str, torch.Tensor] = {}
    missing: list[str] = []
    mismatched: list[str] = []
    for name, expected in network.state_dict().items():
        source = next((p + name for p in prefixes if p + name in checkpoint), None)
        if source is None:
            missing.append(name)
            continue
        tensor = checkpoint[source]
        if tuple(tensor.shape) != tuple(expected.shape):
            mismatched.append(
                f"{name}: checkpoint {tuple(tensor.shape)} vs config {tuple(expected.shape)}"
            )
            continue
        selected[name] = tensor
    problems = []
    if missing:
        problems.append(f"{len(missing)} tensors missing (e.g. {', '.join(missing[:3])})")
    if mismatched:
        problems.append(f"{len(mismatched)} of the wrong shape (e.g. {'; '.join(mismatched[:2])})")
    if problems:
        raise WeightsError(
            "model.pt does not match config.yaml: "
            + " and ".join(problems)
            + ". Check that both come from the same model snapshot."
        )
    return selected


def _read_checkpoint(path: Path) -> dict:
    # weights_only: a model file is data, never code to run. mmap: no 1.95 GB copy in memory.
    try:
        return torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except RuntimeError as error:
        if "mmap" not in str(error):
            raise WeightsError(f"Cannot read {path.name}: {error}") from error
    except Exception as error:
        raise WeightsError(f"Cannot read {path.name}: {error}") from error
    try:  # legacy (non-zip) files cannot be memory-mapped
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise WeightsError(f"Cannot read {path.name}: {error}") from error


def _digest(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16]


def cache_path(model_dir: ModelDir, dtype: torch.dtype, root: Path | None = None) -> Path:
    """Where the safetensors cache for this model.pt and dtype lives.

    Keyed by the file's identity (path, size, mtime) and the config, so a changed model.pt
    or config is converted again; the path-and-dtype half of the name finds stale entries.
    """
    weights = model_dir.weights_path.resolve()
    stat = weights.stat()
    config_bytes = model_dir.config_path.read_bytes()
    owner = _digest(weights, dtype)
    version = _digest(CACHE_FORMAT, stat.st_size, stat.st_mtime_ns, config_bytes)
    return (root or cache_root()) / "weights" / f"{owner}-{version}.safetensors"


def convert_to_safetensors(
    model_dir: ModelDir, dtype: torch.dtype, dest: Path, config: dict[str, Any] | None = None
) -> Path:
    """Write the inference tensors of model.pt, in `dtype`, to `dest` atomically."""
    from safetensors.torch import save_file

    config = config or load_config(model_dir)
    labels = read_labels(model_dir.tokens_path)
    network = build_network(config, len(labels.tokens))
    checkpoint = _read_checkpoint(model_dir.weights_path)
    tensors = {
        name: tensor.to(dtype).contiguous() if tensor.is_floating_point() else tensor.contiguous()
        for name, tensor in select_inference_tensors(checkpoint, network, config).items()
    }
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.{os.getpid()}.partial")
    try:
        save_file(tensors, str(partial), metadata={"format": CACHE_FORMAT, "dtype": str(dtype)})
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)
    owner = dest.name.split("-")[0]
    for stale in dest.parent.glob(f"{owner}-*.safetensors"):
        if stale != dest:
            stale.unlink(missing_ok=True)
    return dest


def load_config(model_dir: ModelDir) -> dict[str, Any]:
    return yaml.safe_load(model_dir.config_path.read_text(encoding="utf-8"))


@dataclass
class LoadedModel:
    network: torch.nn.Module
    labels: LabelSet
    device: torch.device
    dtype: torch.dtype  # of the activations fed to the network
    normalize: bool
    model_dir: ModelDir
    cache_file: Path
    quantized: bool = False
    fused_attention: bool = False

    @property
    def precision(self) -> str:
        return "int8" if self.quantized else str(self.dtype).removeprefix("torch.")


def load_model(
    model_dir: ModelDir,
    *,
    device: torch.device,
    dtype: torch.dtype,
    cache_dir: Path | None = None,
    quantize: bool = False,
    fused_attention: bool | None = None,
) -> LoadedModel:
    """The network, ready for inference on `device`, weights straight from the cache.

    fused_attention (None: on CUDA only) computes FunASR's attention with SDPA; on CPU it
    measured no faster than FunASR's own, so the original stays there.
    """
    from safetensors.torch import load_file

    from emotion2vec_app.model.attention import use_fused_attention

    config = load_config(model_dir)
    labels = read_labels(model_dir.tokens_path)
    cache_file = cache_path(model_dir, dtype, cache_dir)
    if not cache_file.exists():
        convert_to_safetensors(model_dir, dtype, cache_file, config)
    network = build_network(config, len(labels.tokens))
    state = load_file(str(cache_file), device=str(device))
    network.load_state_dict(state, strict=True, assign=True)
    fused = device.type == "cuda" if fused_attention is None else fused_attention
    if fused:
        use_fused_attention(network)
    if quantize:
        network = quantize_int8(network)
    return LoadedModel(
        network=network,
        labels=labels,
        device=device,
        dtype=dtype,
        normalize=bool(config["model_conf"].get("normalize", False)),
        model_dir=model_dir,
        cache_file=cache_file,
        quantized=quantize,
        fused_attention=fused,
    )
