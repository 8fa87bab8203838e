"""``pretrained=true``: timm's own pretrained path (Hugging Face hub and its cache), end to end
against a real HTTP server on 127.0.0.1 that serves a small saved timm model in the hub's file
layout (``/<repo>/resolve/<revision>/<file>`` with the hub's headers).

The client is the real ``huggingface_hub`` pointed at the server through its endpoint setting:
in-process by patching its ``constants`` (read at import), in a subprocess with ``HF_ENDPOINT``
as a user would.
"""

from __future__ import annotations

import io
import json
import os
import pickle
from pathlib import Path

import pytest
import torch
from cli_runner import run_zshbench
from loopback import LoopbackServer
from test_datasets_cifar10 import make_cifar

from plugins.features.timm_models import create_timm_model, weights_only_loads
from zshbench.errors import ZshbenchError

MODEL = "test_vit.r160_in1k"  # timm's smallest pretrained ViT (0.3 M parameters)
REPO = f"timm/{MODEL}"
SAFE = f"/{REPO}/resolve/main/model.safetensors"


@pytest.fixture(scope="module")
def published() -> tuple[dict[str, torch.Tensor], bytes]:
    """(state dict, model.safetensors bytes) of test_vit with its 1000-class head, as on the
    hub; seeded weights that no default initialisation reproduces."""
    import timm
    from safetensors.torch import save

    torch.manual_seed(1234)
    model = timm.create_model("test_vit", pretrained=False)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter))
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    return state, save(state)


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """A loopback hub; huggingface_hub points at it with an empty cache, online."""
    from huggingface_hub import constants

    with LoopbackServer() as server:
        monkeypatch.setattr(constants, "ENDPOINT", server.base)
        template = server.base + "/{repo_id}/resolve/{revision}/{filename}"
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        yield server


def _same_weights(model, state) -> None:
    loaded = model.state_dict()
    assert loaded, "no weights"
    for key, value in loaded.items():
        torch.testing.assert_close(value, state[key], rtol=0, atol=0, msg=key)
    assert "head.weight" in state and "head.weight" not in loaded  # num_classes=0


def test_pretrained_downloads_through_timm_then_works_offline(hub, published, monkeypatch):
    from huggingface_hub import constants

    state, body = published
    hub.serve_hub_file(REPO, "model.safetensors", body)
    model = create_timm_model(MODEL, pretrained=True)
    _same_weights(model, state)
    assert [r.method for r in hub.requests if r.path == SAFE] == ["HEAD", "GET"]
    cached = list(Path(constants.HF_HUB_CACHE).rglob("model.safetensors"))
    assert len(cached) == 1 and "models--timm--test_vit.r160_in1k" in str(cached[0])

    # HF_HUB_OFFLINE respected: the cache serves it, the server is not asked again
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    before = len(hub.requests)
    _same_weights(create_timm_model(MODEL, pretrained=True), state)
    _same_weights(create_timm_model(MODEL, from_cache=True), state)
    assert len(hub.requests) == before


def test_offline_with_an_empty_cache_is_one_line_and_silent(hub, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ZshbenchError, match=r"not in the local cache .* offline") as info:
        create_timm_model(MODEL, pretrained=True)
    assert "\n" not in str(info.value) and "hf download" in str(info.value)
    assert hub.requests == []


def test_a_model_the_hub_does_not_have_is_one_line(hub):
    with pytest.raises(ZshbenchError, match="hub has no pretrained weights") as info:
        create_timm_model("test_vit2.r160_in1k", pretrained=True)
    assert "\n" not in str(info.value)


class _Payload:
    """A pickle that creates a file when loaded: the code a weights file must never run."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_pickled_checkpoint_with_code_is_refused_and_never_runs(hub, tmp_path, published):
    marker = tmp_path / "payload-ran"
    buffer = io.BytesIO()
    torch.save({"pos_embed": published[0]["pos_embed"], "x": _Payload(str(marker))}, buffer)
    hub.serve_hub_file(REPO, "pytorch_model.bin", buffer.getvalue())  # no .safetensors
    with pytest.raises(ZshbenchError, match="refused .weights_only=True.") as info:
        create_timm_model(MODEL, pretrained=True)
    assert "\n" not in str(info.value)
    assert not marker.exists()
    # timm looked for the safe file first, then fetched the pickle
    assert any(r.path == SAFE for r in hub.requests)
    assert hub.gets(f"/{REPO}/resolve/main/pytorch_model.bin")


def test_weights_only_is_forced_even_when_a_loader_asks_otherwise(tmp_path):
    marker = tmp_path / "payload-ran"
    buffer = io.BytesIO()
    torch.save({"x": _Payload(str(marker))}, buffer)
    with weights_only_loads(), pytest.raises(pickle.UnpicklingError):
        torch.load(io.BytesIO(buffer.getvalue()), weights_only=False)
    assert not marker.exists()  # the guard held where the call itself asked for pickle
    assert "TORCH_FORCE_WEIGHTS_ONLY_LOAD" not in os.environ  # restored afterwards


@pytest.mark.slow
def test_extractor_pretrained_option_through_the_cli(tmp_path, published):
    """A user's run: HF_ENDPOINT/HF_HOME set in the environment, ``pretrained: true`` in the
    timm extractor's options; then the same run offline from the cache with the server gone."""
    state, body = published
    make_cifar(tmp_path / "data")  # 36 CIFAR-10 images in the real format
    toml = tmp_path / "tiny.toml"
    toml.write_text(
        'name = "tiny"\ntitle = "tiny"\nloader = "cifar10"\nnum_classes = 10\n'
        'default_root = "data"\n[protocol]\nnum_seen = 8\nnum_unseen = 2\n'
        "train_per_seen_class = 1\nquery_per_unseen_class = 1\nvalidation_classes = 0\n"
    )
    options = json.dumps({"model": MODEL, "pretrained": True})
    args = (
        "run", "--method", "lsh", "--dataset", str(toml), "--bits", "8",
        "-o", "extractor=timm", "-o", f"extractor_options={options}",
    )  # fmt: skip
    env = dict(os.environ, HF_HOME=str(tmp_path / "hf"), OMP_NUM_THREADS="1")
    env.pop("HF_HUB_OFFLINE", None)
    with LoopbackServer() as server:
        server.serve_hub_file(REPO, "model.safetensors", body)
        online = run_zshbench(
            *args, "--results", "online", cwd=tmp_path, env=dict(env, HF_ENDPOINT=server.base)
        )
        assert online.returncode == 0, online.stderr
        assert server.gets(SAFE)
    assert "untrained" not in online.stderr
    assert list((tmp_path / "hf" / "hub").rglob("model.safetensors"))  # in the user's cache
    (record,) = (tmp_path / "online").rglob("bits8-seed0.json")
    assert json.loads(record.read_text())["config"]["extractor_options"]["pretrained"] is True
    offline = run_zshbench(
        *args, "--results", "offline", cwd=tmp_path, env=dict(env, HF_HUB_OFFLINE="1")
    )
    assert offline.returncode == 0, offline.stderr
    (again,) = (tmp_path / "offline").rglob("bits8-seed0.json")
    metrics = [json.loads(p.read_text())["metrics"] for p in (record, again)]
    assert metrics[0] == metrics[1]  # the same weights from the cache give the same codes
