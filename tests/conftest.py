"""Shared fixtures: the real development data in ../shared/data, when it is there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ZSHBENCH_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture
def shared_data() -> Path:
    """../shared/data (real CUB/AWA2 metadata, cub-mini64, GloVe vectors), or skip."""
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"real development data not found at {SHARED_DATA} "
            "(a user's clone has no ../shared; set ZSHBENCH_SHARED_DATA to point at it)"
        )
    return SHARED_DATA
