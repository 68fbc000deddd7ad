"""Floating-point work of one forward pass, counted by torch (not timed), per second of audio.

    python benchmarks/flops.py            # the full-size checkpoint, 2 s .. 30 s clips
    python benchmarks/flops.py --quick    # the tiny model (CI smoke run)

With a GPU's sustained FLOP rate this bounds its throughput on paper (BENCHMARKS.md,
"Scaling"), where no GPU was available to time it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from case import RATE, clip  # noqa: E402
from long_and_batch import build_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--work", type=Path, default=HERE / ".work")
    args = parser.parse_args()

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from emotion2vec_app.model import inference
    from emotion2vec_app.model.loader import load_model, resolve_device
    from emotion2vec_app.model.source import resolve_model

    model = load_model(
        resolve_model(str(build_model(args.work, args.quick))),
        device=resolve_device("cpu"),
        dtype=torch.float32,
    )
    rows = []
    for seconds in (2.0, 8.0, 30.0):
        counter = FlopCounterMode(display=False)
        with counter, torch.inference_mode():
            inference.extract_features(model, clip(seconds))
        total = counter.get_total_flops()
        rows.append(
            {
                "clip_s": seconds,
                "gflop": round(total / 1e9, 1),
                "gflop_per_audio_s": round(total / 1e9 / seconds, 1),
                "samples": int(seconds * RATE),
            }
        )
        print(json.dumps(rows[-1]), flush=True)


if __name__ == "__main__":
    main()
