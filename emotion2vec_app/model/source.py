"""Where the weights come from: `demo`, a local model dir, or a hub id (ModelScope or HF).

Resolution order is fixed (demo, local dir, hub id) and every failure says what to do.
Offline, FunASR's AutoModel retries for ~22 s and then reports "not registered"; here an
unreachable hub is detected in a few seconds and named.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import yaml

DEFAULT_MODEL_ID = "iic/emotion2vec_plus_large"
DEMO = "demo"
HUBS = ("ms", "hf")
# The same models on HF live under another owner.
HF_REPOS = {
    "iic/emotion2vec_plus_large": "emotion2vec/emotion2vec_plus_large",
    "iic/emotion2vec_plus_base": "emotion2vec/emotion2vec_plus_base",
    "iic/emotion2vec_plus_seed": "emotion2vec/emotion2vec_plus_seed",
    "iic/emotion2vec_base_finetuned": "emotion2vec/emotion2vec_base_finetuned",
}
PROBE_TIMEOUT_S = 3.0


class ModelError(RuntimeError):
    """A model problem the user can fix; the message says how."""


class ModelSourceError(ModelError):
    """The model cannot be found, fetched or used."""


class HubUnreachable(ModelSourceError):
    pass


@dataclass(frozen=True)
class ModelDir:
    """A validated model directory in FunASR's layout."""

    path: Path
    model_id: str
    config_path: Path
    weights_path: Path
    tokens_path: Path
    demo: bool = False


def cache_root() -> Path:
    """Demo model and weight caches; E2V_CACHE_DIR overrides ~/.cache/emotion2vec_app."""
    configured = os.environ.get("E2V_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "emotion2vec_app"


def _configured_files(path: Path) -> dict[str, str]:
    """File names from configuration.json's file_path_metas, as FunASR reads them."""
    meta_file = path / "configuration.json"
    names = {"config": "config.yaml", "weights": "model.pt", "tokens": "tokens.txt"}
    if not meta_file.is_file():
        return names
    try:
        metas = json.loads(meta_file.read_text(encoding="utf-8")).get("file_path_metas", {})
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelSourceError(f"{meta_file} is not valid JSON: {error}") from error
    names["config"] = metas.get("config", names["config"])
    names["weights"] = metas.get("init_param", names["weights"])
    names["tokens"] = (metas.get("tokenizer_conf") or {}).get("token_list", names["tokens"])
    return names


def validate_model_dir(path: Path, model_id: str | None = None, demo: bool = False) -> ModelDir:
    """Check that a directory holds a usable emotion2vec model; say exactly what is wrong."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise ModelSourceError(f"Model directory {path} does not exist.")
    names = _configured_files(path)
    files = {role: path / name for role, name in names.items()}
    missing = [name for role, name in names.items() if not files[role].is_file()]
    if missing:
        raise ModelSourceError(
            f"Model directory {path} lacks {', '.join(missing)}. A model dir needs config.yaml, "
            "model.pt and tokens.txt (as downloaded from the hub)."
        )
    try:
        config = yaml.safe_load(files["config"].read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ModelSourceError(f"{files['config']} is not valid YAML: {error}") from error
    if not isinstance(config, dict) or "model_conf" not in config:
        raise ModelSourceError(f"{files['config']} has no model_conf section.")
    if config.get("model") not in (None, "Emotion2vec"):
        raise ModelSourceError(
            f"{files['config']} describes a {config.get('model')} model, not Emotion2vec."
        )
    if "tokenizer_conf" not in config or config.get("tokenizer") != "CharTokenizer":
        raise ModelSourceError(
            f"{files['config']} names no CharTokenizer/tokenizer_conf, so FunASR would build "
            "no emotion classifier head. Use an emotion2vec+ (finetuned) snapshot."
        )
    if files["weights"].stat().st_size == 0:
        raise ModelSourceError(f"{files['weights']} is empty; download it again.")
    return ModelDir(
        path=path,
        model_id=model_id or str(path),
        config_path=files["config"],
        weights_path=files["weights"],
        tokens_path=files["tokens"],
        demo=demo,
    )


def demo_model(cache: Path | None = None) -> ModelDir:
    """The tiny random-weight model, built once into the cache."""
    from emotion2vec_app.model.synthetic import build_model_dir

    path = (cache or cache_root()) / "demo-model"
    if not (path / "model.pt").is_file():
        build_model_dir(path, size="tiny", seed=0)
    return validate_model_dir(path, model_id=DEMO, demo=True)


def hub_endpoint(hub: str) -> str:
    if hub == "ms":  # the ModelScope client's own precedence
        endpoint = (
            os.environ.get("MODELSCOPE_ENDPOINT")
            or os.environ.get("MODELSCOPE_DOMAIN")
            or "www.modelscope.cn"
        )
        return endpoint if "://" in endpoint else f"https://{endpoint}"
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def _reachable(url: str, timeout: float) -> bool:
    """TCP connect to the hub (or the proxy), bounded in time, DNS included."""
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    target = urlparse(proxy or url)
    host = target.hostname or ""
    port = target.port or (443 if target.scheme == "https" else 80)
    outcome: list[bool] = []

    def connect() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                outcome.append(True)
        except OSError:
            outcome.append(False)

    worker = threading.Thread(target=connect, daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(outcome and outcome[0])


def _snapshot_download(model_id: str, hub: str, local_only: bool, cache: Path | None) -> str:
    """The one call into the hub clients; tests mock exactly this boundary."""
    if hub == "ms":
        from modelscope.hub.snapshot_download import snapshot_download

        return snapshot_download(
            model_id, cache_dir=str(cache) if cache else None, local_files_only=local_only
        )
    from huggingface_hub import snapshot_download

    return snapshot_download(
        HF_REPOS.get(model_id, model_id),
        cache_dir=str(cache) if cache else None,
        local_files_only=local_only,
    )


def download_model(
    model_id: str,
    hub: str = "ms",
    cache: Path | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Local hub cache first; otherwise check the hub answers, then download with progress."""
    if hub not in HUBS:
        raise ModelSourceError(f"Unknown hub {hub!r}: use 'ms' (ModelScope) or 'hf'.")
    try:
        return Path(_snapshot_download(model_id, hub, True, cache))
    except Exception:  # not cached yet: every hub client words this differently
        pass
    endpoint = hub_endpoint(hub)
    if not _reachable(endpoint, PROBE_TIMEOUT_S):
        other = "hf" if hub == "ms" else "ms"
        raise HubUnreachable(
            f"Cannot reach {endpoint} to download {model_id} (no connection within "
            f"{PROBE_TIMEOUT_S:.0f} s). Connect to the internet or set HTTPS_PROXY; or try "
            f"--hub {other}; or download the model elsewhere and pass --model /path/to/dir; "
            "or run --model demo to try the app with random weights."
        )
    log(f"Downloading {model_id} from {endpoint} (about 1.9 GB for emotion2vec_plus_large)...")
    try:
        return Path(_snapshot_download(model_id, hub, False, cache))
    except Exception as error:
        raise ModelSourceError(f"Downloading {model_id} from {endpoint} failed: {error}") from error


def resolve_model(
    spec: str = DEFAULT_MODEL_ID,
    hub: str = "ms",
    cache: Path | None = None,
    log: Callable[[str], None] = print,
) -> ModelDir:
    """`demo`, then an existing local directory, then a hub id `owner/name`."""
    if spec == DEMO:
        return demo_model()
    local = Path(spec).expanduser()
    if local.exists():
        return validate_model_dir(local)
    parts = spec.split("/")
    if len(parts) == 2 and all(parts) and not spec.startswith((".", "~")):
        return validate_model_dir(download_model(spec, hub, cache, log), model_id=spec)
    raise ModelSourceError(
        f"Model {spec!r} is neither 'demo', an existing directory, nor a hub id like "
        f"{DEFAULT_MODEL_ID!r}."
    )
