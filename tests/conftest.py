"""Shared fixtures: the real development data in ../shared/data, when it is there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ZSHBENCH_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(autouse=True, scope="session")
def _image_cache_folder(tmp_path_factory):
    """Decoded image caches of a test session go to its own folder, never the user's data
    home (a test that studies the cache sets ZSHBENCH_IMAGE_CACHE itself)."""
    previous = os.environ.get("ZSHBENCH_IMAGE_CACHE")
    os.environ["ZSHBENCH_IMAGE_CACHE"] = str(tmp_path_factory.mktemp("image-cache"))
    yield
    if previous is None:
        os.environ.pop("ZSHBENCH_IMAGE_CACHE", None)
    else:
        os.environ["ZSHBENCH_IMAGE_CACHE"] = previous


@pytest.fixture
def shared_data() -> Path:
    """../shared/data (real CUB/AWA2 metadata, cub-mini64, GloVe vectors), or skip."""
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"real development data not found at {SHARED_DATA} "
            "(a user's clone has no ../shared; set ZSHBENCH_SHARED_DATA to point at it)"
        )
    return SHARED_DATA


@pytest.fixture
def use_test_methods(monkeypatch):
    """``install(*specs)``: make the run engine see these MethodSpecs as the only methods,
    beside the real data sets, extractors and encoders; returns the combined registries."""

    def install(*specs):
        import types

        from zshbench import runner
        from zshbench.hookspecs import hookimpl
        from zshbench.plugin_manager import collect, load_plugins

        real = load_plugins()
        test_plugin = types.SimpleNamespace(zshbench_register_methods=hookimpl(lambda: specs))
        datasets_module = __import__("datasets_registry")
        combined = collect(
            [("datasets", "zshbench", datasets_module), ("test", "tests", test_plugin)]
        )
        combined.extractors = real.extractors
        combined.encoders = real.encoders
        monkeypatch.setattr(runner, "load_plugins", lambda: combined)
        return combined

    return install


@pytest.fixture
def one_torch_thread():
    """One intra-op thread: tiny ops gain nothing from two, and lose a lot on a busy machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
