"""The engine as a Ray Serve deployment: replicas, autoscaling and request batching, over HTTP.

    GET  /status    health check: {"status", "model_loaded", "state"} + the engine's status
                    + "classes" (the keys the replica scores: the model's, or its head's)
    POST /analyze   multipart: audio (file), granularity, extract_embedding, segmentation,
                    smooth_s, emotions (a subset: "angry,happy"; empty for all),
                    channels ("mix" or "split": each channel a speaker, analysed apart),
                    channel_names ("agent,customer"; empty for left,right)
                    -> {"result": result.json's dict, "labels", "emotions", "arrays"}

"arrays" is base64 of an .npz (embedding, frame and segment scores, unrounded; see
distributed.wire), so a WebUI using this as its backend (`serve --backend URL`) shows and saves
exactly what a local engine would. Short clips of concurrent requests meet in `serve.batch` and
share the one analysis core, `Engine.analyze_batch` (padded passes on GPU, the same length
checks, an out-of-memory pass split down to the one clip that fails); long recordings are
segmented alone.
A replica takes traffic only once its model is loaded. Errors are {"detail": message} with
400 (audio), 413 (upload size), 422 (options) or 503 (no memory, no model).
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures at runtime.
import asyncio
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from fastapi import FastAPI, File, Form, HTTPException, Request, Response, UploadFile
from ray import serve

from emotion2vec_app.audio import DEFAULT_MAX_DURATION_S, AudioError, Waveform
from emotion2vec_app.distributed import load_engine
from emotion2vec_app.distributed.wire import ERROR_KIND_HEADER, MAX_UPLOAD_MB, to_payload
from emotion2vec_app.engine import ModelLoadFailed, ModelNotReady, Outcome, OutOfMemory
from emotion2vec_app.heads import load_head
from emotion2vec_app.model.source import DEFAULT_MODEL_ID
from emotion2vec_app.options import AnalysisOptions

DEPLOYMENT_NAME = "Emotion2vec"
APP_NAME = "emotion2vec"
BUSY = (ModelNotReady, ModelLoadFailed, OutOfMemory)
REPLICA_HEADER = "X-Emotion2vec-Replica"  # which replica answered
BATCH_HEADER = "X-Emotion2vec-Batch"  # how many requests shared its serve.batch call


@dataclass(frozen=True)
class ServeConfig:
    """The model, how many replicas and where, and how requests are batched."""

    model: str = DEFAULT_MODEL_ID
    hub: str = "ms"
    device: str = "auto"
    dtype: str = "auto"
    batch_size: int | None = None  # clips per forward pass (Engine's default: 16 GPU, 1 CPU)
    max_duration_s: float | None = DEFAULT_MAX_DURATION_S
    head: str | None = None  # a train-head file, at this path on every node
    max_upload_mb: float = MAX_UPLOAD_MB
    replicas: int = 1  # a fixed count; ignored when max_replicas sets autoscaling
    min_replicas: int = 1
    max_replicas: int | None = None
    target_ongoing_requests: float = 4.0  # per replica, before autoscaling adds one
    upscale_delay_s: float = 30.0  # Ray Serve's defaults: add replicas after 30 s of load,
    downscale_delay_s: float = 600.0  # remove them after 10 min without
    gpus_per_replica: float = 0.0
    cpus_per_replica: float = 1.0
    max_batch_size: int = 16
    batch_wait_s: float = 0.01
    max_ongoing_requests: int = 32

    def __post_init__(self) -> None:
        if self.replicas < 1 or self.min_replicas < 0 or self.max_batch_size < 1:
            raise ValueError("replicas and max_batch_size must be at least 1")
        if self.max_replicas is not None and self.max_replicas < max(1, self.min_replicas):
            raise ValueError("max_replicas must be at least min_replicas and 1")
        if self.head is not None:  # a bad file is refused here, not by every replica
            load_head(self.head)

    def deployment_options(self) -> dict[str, Any]:
        scaling: dict[str, Any] = {"num_replicas": self.replicas}
        if self.max_replicas is not None:
            scaling = {
                "autoscaling_config": {
                    "min_replicas": self.min_replicas,
                    "initial_replicas": max(1, self.min_replicas),
                    "max_replicas": self.max_replicas,
                    "target_ongoing_requests": self.target_ongoing_requests,
                    "upscale_delay_s": self.upscale_delay_s,
                    "downscale_delay_s": self.downscale_delay_s,
                }
            }
        return {
            **scaling,
            "ray_actor_options": {
                "num_cpus": self.cpus_per_replica,
                "num_gpus": self.gpus_per_replica,
            },
            "max_ongoing_requests": self.max_ongoing_requests,
            # The first replica may download 1.9 GB before it can answer a health check.
            "health_check_timeout_s": 60,
        }


@dataclass
class BatchStats:
    """How much `serve.batch` actually batched on this replica."""

    requests: int = 0
    batches: int = 0
    largest_batch: int = 0

    def record(self, size: int) -> None:
        self.requests += size
        self.batches += 1
        self.largest_batch = max(self.largest_batch, size)


# Above the deployment: Serve pickles the class as it is decorated, with the globals
# its methods use, so they must exist by then.
def _http_error(status: int, error: Exception) -> HTTPException:
    """The message for people; its kind in a header, for RemoteEngine to raise the same."""
    return HTTPException(status, str(error), headers={ERROR_KIND_HEADER: type(error).__name__})


def _too_large(limit_mb: float) -> HTTPException:
    return HTTPException(
        413, f"The upload is larger than this server's limit of {limit_mb:g} MB: send a shorter "
        "or compressed recording, or start the deployment with a larger --max-upload-mb.",
    )  # fmt: skip


api = FastAPI(title="emotion2vec+ on Ray Serve")


@serve.deployment(name=DEPLOYMENT_NAME)
@serve.ingress(api)
class EmotionService:
    """One replica: one Engine, loaded before the replica is declared ready."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.engine = load_engine(config, batch_size=config.batch_size, head=config.head)
        self._score.set_max_batch_size(config.max_batch_size)
        self._score.set_batch_wait_timeout_s(config.batch_wait_s)
        self.stats = BatchStats()
        self.replica = serve.get_replica_context().replica_id.unique_id

    def check_health(self) -> None:
        self.engine.wait_ready(timeout=0)

    @api.get("/status")
    def status(self) -> dict[str, Any]:
        from emotion2vec_app.model.inference import torch_threads  # loaded with the model

        engine = self.engine.status().to_json()
        return {
            "status": "running",
            "model_loaded": engine["state"] == "ready",
            **engine,
            "replica": self.replica,
            "threads": torch_threads(),
            "batching": asdict(self.stats),
            "classes": [emotion.key for emotion in self.engine.classes()],
        }

    @api.post("/analyze")
    async def analyze(
        self,
        request: Request,
        response: Response,
        audio: UploadFile = File(...),  # noqa: B008 (FastAPI's way to declare form fields)
        granularity: str = Form("utterance"),
        extract_embedding: bool = Form(False),
        segmentation: str = Form("auto"),
        smooth_s: float = Form(0.0),
        emotions: str = Form(""),
        channels: str = Form("mix"),
        channel_names: str = Form(""),
    ) -> dict[str, Any]:
        limit = int(self.config.max_upload_mb * 1024 * 1024)
        if int(request.headers.get("content-length") or 0) > limit + 64 * 1024:
            raise _too_large(self.config.max_upload_mb)
        try:
            options = AnalysisOptions(
                granularity,
                extract_embedding,
                smooth_s,
                segmentation,
                emotions,
                channels=channels,
                channel_names=channel_names,
            )
            options.scored(self.engine.classes())  # a subset of classes this replica has
        except ValueError as error:
            raise HTTPException(422, str(error)) from error
        data = await audio.read(limit + 1)
        if len(data) > limit:
            raise _too_large(self.config.max_upload_mb)
        try:
            waveform = await asyncio.to_thread(
                self.engine.decode,
                data,
                name=audio.filename or "upload",
                keep_channels=options.split,
            )
            batch_size = 1
            if options.segments(waveform.duration_s):  # long: segment by segment, alone
                prediction = await asyncio.to_thread(self.engine.analyze, waveform, options)
            else:  # short, or refused by the core's length check: in a batch with others
                outcome, batch_size = await self._score((waveform, options))
                prediction = outcome.unwrap()
        except AudioError as error:
            raise _http_error(400, error) from error
        except BUSY as error:
            raise _http_error(503, error) from error
        except ValueError as error:  # options this recording cannot take: 3 names, 2 channels
            raise _http_error(422, error) from error
        response.headers[REPLICA_HEADER] = self.replica
        response.headers[BATCH_HEADER] = str(batch_size)
        return to_payload(prediction)

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.01)
    async def _score(
        self, requests: list[tuple[Waveform, AnalysisOptions]]
    ) -> list[tuple[Outcome, int]]:
        """Each request's Outcome, and how many requests shared the batch."""
        self.stats.record(len(requests))
        outcomes = await asyncio.to_thread(self._score_together, requests)
        return [(outcome, len(requests)) for outcome in outcomes]

    def _score_together(
        self, requests: Sequence[tuple[Waveform, AnalysisOptions]]
    ) -> list[Outcome]:
        """Requests with the same options go to the core together: they share padded passes,
        and a clip that does not fit in memory even alone fails alone."""
        groups: dict[AnalysisOptions, list[int]] = defaultdict(list)
        for index, (_, options) in enumerate(requests):
            groups[options].append(index)
        outcomes: dict[int, Outcome] = {}
        for options, indices in groups.items():
            results = self.engine.analyze_batch([requests[i][0] for i in indices], options)
            outcomes.update(zip(indices, results, strict=True))
        return [outcomes[i] for i in range(len(requests))]


def build_app(config: ServeConfig) -> serve.Application:
    return EmotionService.options(**config.deployment_options()).bind(config)


def deploy(
    config: ServeConfig,
    *,
    address: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    route_prefix: str = "/",
) -> str:
    """Run the app on the cluster at `address` (None: a local Ray); return its URL once every
    replica has loaded its model."""
    import ray

    ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    serve.start(http_options={"host": host, "port": port})
    serve.run(build_app(config), name=APP_NAME, route_prefix=route_prefix)
    shown = "127.0.0.1" if host == "0.0.0.0" else host
    return f"http://{shown}:{port}{route_prefix.rstrip('/')}"


def app_builder(args: dict[str, str]) -> serve.Application:
    """For `serve run` and `serve deploy` config files:
    `serve run emotion2vec_app.distributed.serve_app:app_builder model=demo max_replicas=4`."""
    fields = ServeConfig.__dataclass_fields__
    unknown = sorted(set(args) - set(fields))
    if unknown:
        raise ValueError(f"unknown settings {unknown}; known: {sorted(fields)}")
    values = {key: _parse(fields[key].type, value) for key, value in args.items()}
    return build_app(ServeConfig(**values))


def _parse(annotation: Any, value: Any) -> Any:
    """`key=value` arguments arrive as strings; YAML configs may give typed values."""
    if not isinstance(value, str) or annotation is str:
        return value
    if value.lower() in ("none", "null"):
        return None
    if annotation == str | None:  # a path, such as head=/models/head.safetensors
        return value
    return json.loads(value)
