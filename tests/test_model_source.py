import importlib
import json
import shutil
from pathlib import Path

import pytest

from emotion2vec_app.model import source as model_source
from emotion2vec_app.model.source import (
    PROBE_TIMEOUT_S,
    HubUnreachable,
    ModelSourceError,
    demo_model,
    resolve_model,
    validate_model_dir,
)


@pytest.fixture
def model_copy(tiny_model_dir, tmp_path) -> Path:
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


def test_local_dir_is_validated_and_used(tiny_model_dir):
    resolved = resolve_model(str(tiny_model_dir))
    assert resolved.path == tiny_model_dir
    assert resolved.weights_path.name == "model.pt"
    assert resolved.tokens_path.name == "tokens.txt"
    assert not resolved.demo


def test_demo_is_built_once_into_the_cache(isolated_cache):
    first = demo_model()
    assert first.demo and first.model_id == "demo"
    assert first.path.is_relative_to(isolated_cache)
    mtime = first.weights_path.stat().st_mtime_ns
    assert demo_model().weights_path.stat().st_mtime_ns == mtime


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / "model.pt").unlink(), "lacks model.pt"),
        (lambda d: (d / "tokens.txt").unlink(), "lacks tokens.txt"),
        (lambda d: (d / "config.yaml").write_text("model_conf: [", encoding="utf-8"), "YAML"),
        (
            lambda d: (d / "config.yaml").write_text("model: Paraformer\nmodel_conf: {}\n"),
            "Paraformer",
        ),
        (lambda d: (d / "config.yaml").write_text("model_conf: {a: 1}\n"), "CharTokenizer"),
        (lambda d: (d / "model.pt").write_bytes(b""), "empty"),
        (lambda d: (d / "configuration.json").write_text("{oops"), "not valid JSON"),
    ],
)
def test_broken_model_dirs_say_what_is_wrong(model_copy, damage, message):
    damage(model_copy)
    with pytest.raises(ModelSourceError, match=message):
        validate_model_dir(model_copy)


def test_configuration_json_names_the_files(model_copy):
    (model_copy / "model.pt").rename(model_copy / "weights.pt")
    meta = json.loads((model_copy / "configuration.json").read_text())
    meta["file_path_metas"]["init_param"] = "weights.pt"
    (model_copy / "configuration.json").write_text(json.dumps(meta))
    assert validate_model_dir(model_copy).weights_path.name == "weights.pt"


def test_configuration_json_is_optional(model_copy):
    (model_copy / "configuration.json").unlink()
    assert validate_model_dir(model_copy).config_path.name == "config.yaml"


def test_unknown_spec_lists_the_choices():
    with pytest.raises(ModelSourceError, match="neither 'demo', an existing directory, nor"):
        resolve_model("not-a-model")


class FakeHub:
    """Stands in for the hub clients at the one call the app makes into them."""

    def __init__(self, model_dir: Path, cached: bool = False) -> None:
        self.model_dir = model_dir
        self.cached = cached
        self.calls: list[tuple[str, str, bool]] = []

    def __call__(self, model_id, hub, local_only, cache):
        self.calls.append((model_id, hub, local_only))
        if local_only and not self.cached:
            raise FileNotFoundError("not in the local hub cache")
        return str(self.model_dir)


@pytest.mark.parametrize("hub", ["ms", "hf"])
def test_hub_id_downloads_after_the_cache_misses(monkeypatch, tiny_model_dir, hub):
    fake = FakeHub(tiny_model_dir)
    monkeypatch.setattr(model_source, "_snapshot_download", fake)
    monkeypatch.setattr(model_source, "_reachable", lambda url, timeout: True)
    messages = []
    resolved = resolve_model("iic/emotion2vec_plus_large", hub, log=messages.append)
    assert resolved.model_id == "iic/emotion2vec_plus_large"
    assert resolved.path == tiny_model_dir
    assert fake.calls == [
        ("iic/emotion2vec_plus_large", hub, True),
        ("iic/emotion2vec_plus_large", hub, False),
    ]
    assert any("Downloading" in m for m in messages)


def test_cached_hub_model_needs_no_network(monkeypatch, tiny_model_dir):
    fake = FakeHub(tiny_model_dir, cached=True)
    monkeypatch.setattr(model_source, "_snapshot_download", fake)
    monkeypatch.setattr(model_source, "_reachable", lambda url, timeout: pytest.fail("probed"))
    assert resolve_model("iic/emotion2vec_plus_large").path == tiny_model_dir
    assert fake.calls == [("iic/emotion2vec_plus_large", "ms", True)]


@pytest.mark.parametrize("hub", ["ms", "hf"])
def test_unreachable_hub_fails_with_advice_and_never_starts_a_download(monkeypatch, tmp_path, hub):
    """The real probe against a closed local port, as when offline."""
    fake = FakeHub(tmp_path)
    monkeypatch.setattr(model_source, "_snapshot_download", fake)
    with pytest.raises(HubUnreachable) as raised:
        resolve_model("iic/emotion2vec_plus_large", hub)
    message = str(raised.value)
    assert "127.0.0.1:9" in message
    assert "--model demo" in message and "--model /path/to/dir" in message
    assert f"{PROBE_TIMEOUT_S:.0f} s" in message
    assert all(local_only for _, _, local_only in fake.calls)


def test_hf_hub_uses_the_hf_repo_name(monkeypatch, tiny_model_dir):
    seen = {}

    def fake_hf_snapshot(repo_id, cache_dir=None, local_files_only=False):
        seen["repo_id"] = repo_id
        return str(tiny_model_dir)

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_hf_snapshot)
    resolve_model("iic/emotion2vec_plus_large", "hf")
    assert seen["repo_id"] == "emotion2vec/emotion2vec_plus_large"


def test_modelscope_client_gets_the_model_id(monkeypatch, tiny_model_dir):
    seen = {}

    def fake_ms_snapshot(model_id, cache_dir=None, local_files_only=False):
        seen.update(model_id=model_id, local_files_only=local_files_only)
        return str(tiny_model_dir)

    ms_module = importlib.import_module("modelscope.hub.snapshot_download")
    monkeypatch.setattr(ms_module, "snapshot_download", fake_ms_snapshot)
    resolve_model("iic/emotion2vec_plus_large", "ms")
    assert seen == {"model_id": "iic/emotion2vec_plus_large", "local_files_only": True}


def test_failed_download_is_reported(monkeypatch, tmp_path):
    def broken(model_id, hub, local_only, cache):
        raise ConnectionError("reset by peer")

    monkeypatch.setattr(model_source, "_snapshot_download", broken)
    monkeypatch.setattr(model_source, "_reachable", lambda url, timeout: True)
    with pytest.raises(ModelSourceError, match="failed: reset by peer"):
        resolve_model("iic/emotion2vec_plus_large")
