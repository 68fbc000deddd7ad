"""Random-weight emotion2vec checkpoints in FunASR's model-dir format.

The real weights live on the hubs. Tests, the `demo` model and the benchmarks run on
checkpoints built here instead: the real architecture (FunASR's own class), the real file
layout (`d2v_model.` keys, config.yaml, tokens.txt, configuration.json), random weights.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

REFERENCE = resources.files("emotion2vec_app") / "reference"
FULL_SIZE_BYTES = 1_950_000_000  # size of the hub's model.pt
KEY_PREFIX = "d2v_model."

# Smallest config that keeps every constraint FunASR's constructor has:
# num_alibi_heads == num_heads, conv_pos_groups | embed_dim, decoder_groups | decoder_dim.
# The feature encoder keeps the real strides, so frames stay 20 ms.
TINY_OVERRIDES: dict[str, Any] = {
    "embed_dim": 64,
    "depth": 2,
    "num_heads": 4,
    "mlp_ratio": 2.0,
    "average_top_k_layers": 2,
    "modalities.audio.num_alibi_heads": 4,
    "modalities.audio.model_depth": 2,
    "modalities.audio.prenet_depth": 1,
    "modalities.audio.conv_pos_groups": 4,
    "modalities.audio.conv_pos_depth": 2,
    "modalities.audio.conv_pos_width": 19,
    "modalities.audio.num_extra_tokens": 2,
    "modalities.audio.feature_encoder_spec": (
        "[(64, 10, 5)] + [(64, 3, 2)] * 4 + [(64, 2, 2)] + [(64, 2, 2)]"
    ),
    "modalities.audio.decoder.decoder_dim": 32,
    "modalities.audio.decoder.decoder_groups": 4,
    "modalities.audio.decoder.decoder_layers": 1,
}


def reference_config() -> dict[str, Any]:
    return yaml.safe_load((REFERENCE / "config.yaml").read_text(encoding="utf-8"))


def tiny_config() -> dict[str, Any]:
    config = copy.deepcopy(reference_config())
    for dotted, value in TINY_OVERRIDES.items():
        node = config["model_conf"]
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return config


def _random_network(config: dict[str, Any], vocab_size: int, seed: int):
    import torch

    from emotion2vec_app.model.funasr_class import import_emotion2vec_class

    torch.manual_seed(seed)
    network = import_emotion2vec_class()(model_conf=config["model_conf"], vocab_size=vocab_size)
    with torch.no_grad():
        # A random head gives near-uniform scores; a larger one makes the demo's
        # (random) predictions differ visibly from clip to clip.
        network.proj.weight.normal_(0.0, 4.0 / network.proj.in_features**0.5)
    return network


def _training_only_tensors(state: dict, target_bytes: int) -> dict:
    """Tensors a training checkpoint carries beside the network (EMA teacher, optimizer)."""
    extra: dict = {}
    total = sum(t.numel() * t.element_size() for t in state.values())
    groups = ("_ema.", "optimizer.exp_avg.", "optimizer.exp_avg_sq.")
    for group in groups:
        for name, tensor in state.items():
            if total >= target_bytes:
                return extra
            size = tensor.numel() * tensor.element_size()
            if total + size > target_bytes:
                tensor = tensor.flatten()[: (target_bytes - total) // tensor.element_size()]
                size = tensor.numel() * tensor.element_size()
            extra[group + name] = tensor.clone()
            total += size
    return extra


def build_model_dir(
    dest: Path,
    *,
    size: str = "tiny",
    seed: int = 0,
    target_bytes: int | None = None,
    tokens: list[str] | None = None,
) -> Path:
    """Write a random-weight model dir atomically; return it.

    `size="full"` uses the real config and pads model.pt with training-only tensors up to
    the hub file's size, so load benchmarks read as many bytes as users do.
    """
    import torch

    if size not in ("tiny", "full"):
        raise ValueError(f"size must be 'tiny' or 'full', not {size!r}")
    config = tiny_config() if size == "tiny" else reference_config()
    token_lines = tokens or (REFERENCE / "tokens.txt").read_text(encoding="utf-8").split()
    network = _random_network(config, len(token_lines), seed)
    state = {KEY_PREFIX + k: v.detach().contiguous() for k, v in network.state_dict().items()}
    if target_bytes is None and size == "full":
        target_bytes = FULL_SIZE_BYTES
    if target_bytes:
        state.update(_training_only_tensors(state, target_bytes))

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; a model dir is not
    try:
        torch.save(state, staging / "model.pt")
        (staging / "config.yaml").write_text(
            yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8"
        )
        (staging / "tokens.txt").write_text("\n".join(token_lines) + "\n", encoding="utf-8")
        meta = json.loads((REFERENCE / "configuration.json").read_text(encoding="utf-8"))
        meta["model_name_in_hub"] = {"ms": f"synthetic-{size}", "hf": ""}
        (staging / "configuration.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        (staging / "SYNTHETIC").write_text(
            f"Random weights (seed {seed}, {size} config). Predictions are meaningless.\n",
            encoding="utf-8",
        )
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path)
    parser.add_argument("--size", choices=("tiny", "full"), default="tiny")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    path = build_model_dir(args.dest, size=args.size, seed=args.seed)
    print(f"{args.size} model written to {path} ({(path / 'model.pt').stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
