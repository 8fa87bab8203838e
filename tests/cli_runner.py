"""Run the real ``zshbench`` command line in a subprocess, as a user would."""

from __future__ import annotations

import os
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


REPO_ROOT = Path(__file__).resolve().parents[1]
# ``python -m zshbench`` as one process, and as two under torchrun (gloo on CPU).
SINGLE_PROCESS = [sys.executable, "-m", "zshbench"]
TORCHRUN_TWO = [
    sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
    "-m", "zshbench",
]  # fmt: skip


def launch_env() -> dict[str, str]:
    """This environment for a launched run: one thread per process, the repository importable,
    and no torchrun variables left over from whatever started the tests."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    return env


def run_launched(launcher: list[str], args: list[str], cwd: Path):
    """``launcher`` + ``args`` (e.g. TORCHRUN_TWO + ["run", ...]) in ``cwd``, text output."""
    return subprocess.run(
        [*launcher, *args], cwd=cwd, env=launch_env(), capture_output=True, text=True, timeout=300
    )
