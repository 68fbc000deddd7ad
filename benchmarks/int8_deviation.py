"""How far int8 moves the scores from float32, over speech and noise clips, and its size.

python int8_deviation.py MODEL_DIR  -> one JSON line.
"""

import io
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from emotion2vec_app.audio import decode_audio
from emotion2vec_app.model.inference import class_probabilities, extract_features
from emotion2vec_app.model.loader import load_model
from emotion2vec_app.model.source import validate_model_dir

SENTENCES = [
    "I can't believe you did that again, this is unacceptable.",
    "What a wonderful surprise, thank you so much!",
    "I'm sorry, I just feel so tired and lonely today.",
    "Please hold while I transfer your call to the billing department.",
    "Watch out, there is something moving behind the door!",
    "今天的会议改到下午三点。",
    "我真的很生气，你为什么不告诉我？",
    "太好了，我们终于赢了！",
]


def clips() -> list[np.ndarray]:
    out = [np.random.default_rng(i).standard_normal(16000 * 4).astype(np.float32) * 0.1
           for i in range(4)]  # fmt: skip
    if shutil.which("espeak-ng"):
        with tempfile.TemporaryDirectory() as tmp:
            for i, text in enumerate(SENTENCES):
                wav = Path(tmp) / f"{i}.wav"
                voice = "cmn" if any("\u4e00" <= c <= "\u9fff" for c in text) else "en"
                subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True)
                out.append(decode_audio(wav).samples)
    return out


def serialized_mb(network: torch.nn.Module) -> float:
    buffer = io.BytesIO()
    torch.save(network.state_dict(), buffer)
    return buffer.tell() / 1e6


def main() -> None:
    model_dir = validate_model_dir(Path(sys.argv[1]))
    cache = Path(tempfile.mkdtemp())
    cpu = torch.device("cpu")
    fp32 = load_model(model_dir, device=cpu, dtype=torch.float32, cache_dir=cache)
    int8 = load_model(model_dir, device=cpu, dtype=torch.float32, cache_dir=cache, quantize=True)
    diffs, agree = [], 0
    samples = clips()
    for clip in samples:
        ref = class_probabilities(fp32, extract_features(fp32, clip).mean(0))
        got = class_probabilities(int8, extract_features(int8, clip).mean(0))
        diffs.append(float(np.abs(ref - got).max()))
        agree += int(ref.argmax() == got.argmax())
    shutil.rmtree(cache)
    print(json.dumps({
        "clips": len(samples),
        "max_prob_diff": max(diffs),
        "mean_max_prob_diff": float(np.mean(diffs)),
        "top1_agreement": agree / len(samples),
        "float32_mb": serialized_mb(fp32.network),
        "int8_mb": serialized_mb(int8.network),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
