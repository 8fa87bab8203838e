"""Run the real ``zshbench`` command line in a subprocess, as a user would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run_zshbench(*args: str, cwd: Path, env: dict[str, str] | None = None):
    """``python -m zshbench.cli ARGS`` in ``cwd``; returns the CompletedProcess (text output)."""
    return subprocess.run(
        [sys.executable, "-m", "zshbench.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
