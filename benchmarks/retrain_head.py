"""Retraining a head from cached embeddings: `train-head` run again on a set already seen.

    python benchmarks/retrain_head.py            # 1,000 files, 8 classes, 1024-d embeddings
    python benchmarks/retrain_head.py --quick    # 200 files (CI smoke run)

The set's files are short distinct clips; the cache is filled beforehand with 1024-dimensional
embeddings (emotion2vec+ large's width) drawn around one centre per class, overlapping as real
classes do, so the run times what a second `train-head` does: hash every file, read its cached
embedding, 5-fold cross-validation and the final fit. No forward pass may happen: the script
exits 1 if one does (the tiny model stands in for the engine, whose passes are counted).
Target: under 5 s for 1,000 files on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from long_and_batch import build_model  # noqa: E402

DIM = 1024
CLASSES = 8
REPEATS = 3


def make_set(folder: Path, files: int) -> None:
    """`files` distinct 0.5 s clips in CLASSES class folders."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    for i in range(files):
        path = folder / f"class{i % CLASSES}" / f"{i:04d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, (rng.standard_normal(8000) * 0.05).astype(np.float32), 16000)


def fill_cache(engine, data, cache_dir: Path) -> None:
    """Every file's embedding in the engine's cache: one centre per class plus noise."""
    from emotion2vec_app.research.cache import EmbeddingCache, content_hash

    status = engine.status()
    cache = EmbeddingCache(cache_dir, status.model, status.dtype)
    rng = np.random.default_rng(1)
    centres = {label: rng.standard_normal(DIM) * 0.1 for label in data.labels}
    for item in data.files:
        cache.put(content_hash(item.path), centres[item.label] + rng.standard_normal(DIM))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--work", type=Path, default=HERE / ".work")
    args = parser.parse_args()

    from emotion2vec_app.dataset import parse_label_map, read_labelled
    from emotion2vec_app.engine import Engine
    from emotion2vec_app.research import evaluate as research

    engine = Engine(str(build_model(args.work, quick=True)), device="cpu")
    engine.wait_ready(timeout=600)
    passes: list[int] = []
    real_pass = engine._pass
    engine._pass = lambda clips, options: passes.append(len(clips)) or real_pass(clips, options)

    files = 200 if args.quick else 1000
    work = Path(tempfile.mkdtemp(prefix="retrain-"))
    make_set(work / "set", files)
    data = read_labelled(work / "set")
    fill_cache(engine, data, work / "cache")
    times, cv_ua = [], 0.0
    for _ in range(REPEATS):
        started = time.perf_counter()
        training = research.train(
            engine, data, parse_label_map(None), folds=5, cache_dir=work / "cache"
        )
        times.append(time.perf_counter() - started)
        cv_ua = training.trained.cv.ua
    print(f"# {datetime.date.today()} · {platform.processor() or platform.machine()} · "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    print(json.dumps({
        "files": files,
        "classes": CLASSES,
        "dim": DIM,
        "folds": 5,
        "forward_passes": len(passes),
        "retrain_s_median": round(statistics.median(times), 3),
        "retrain_s_all": [round(t, 3) for t in times],
        "cv_ua": round(cv_ua, 4),
    }))  # fmt: skip
    if passes:
        sys.exit(f"{len(passes)} forward passes: the cache did not spare them")


if __name__ == "__main__":
    main()
