"""Scale-out on Ray (optional: `pip install .[distributed]`). Ray is imported only here.

`batch_job`: a Ray Data pipeline over a corpus, decoding on CPU tasks and analysing on a pool
of model actors (GPU fractions configurable), written as Parquet or JSON Lines, resumable.
`serve_app`: the engine as a Ray Serve deployment over HTTP (replicas, autoscaling,
`serve.batch`), which the WebUI can use as its backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emotion2vec_app.engine import Engine

if TYPE_CHECKING:
    from emotion2vec_app.distributed.batch_job import JobConfig
    from emotion2vec_app.distributed.serve_app import ServeConfig


def load_engine(config: JobConfig | ServeConfig, **engine_options: Any) -> Engine:
    """A worker's one Engine, loaded before it takes any work: a failed load fails the
    worker, and Ray reports it with the reason."""
    engine = Engine(
        config.model,
        hub=config.hub,
        device=config.device,
        dtype=config.dtype,
        max_duration_s=config.max_duration_s,
        **engine_options,
    )
    engine.wait_ready(timeout=None)
    return engine
