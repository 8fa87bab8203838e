"""A real single-node SLURM cluster (Debian's slurm-wlm and munge; one slurmctld and one slurmd
on this machine, started by ``tests/slurm/local_slurm.sh``): a two-cell digits sweep goes
through ``sbatch`` as one job array, one cell trains and the other, which fails for a reason of
its own, shows as failed with its log.

When the daemons cannot start, this test FAILS with the reason: a SLURM launcher that no test
ever ran against SLURM is not tested. ``.ci/run`` installs slurm-wlm and munge first.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "slurm" / "local_slurm.sh"
# a randomly initialised ViT-Tiny on digits at 32 px: 192-d features, in seconds on a CPU
TIMM_32 = 'extractor_options={"model_kwargs": {"img_size": 32}, "image_size": 32}'
CLUSTER = Path(os.environ.get("ZSHBENCH_SLURM_DIR", "/var/tmp/zshbench-slurm"))


@pytest.fixture(scope="module")
def slurm_env():
    started = subprocess.run(
        ["bash", str(SCRIPT), "start", str(CLUSTER)], capture_output=True, text=True, timeout=180
    )
    if started.returncode != 0:
        pytest.fail(
            "the single-node SLURM cluster did not start (tests/slurm/local_slurm.sh): "
            + (started.stderr.strip() or started.stdout.strip()),
            pytrace=False,
        )
    yield {**os.environ, "SLURM_CONF": str(CLUSTER / "slurm.conf"), "OMP_NUM_THREADS": "1"}
    subprocess.run(["bash", str(SCRIPT), "stop", str(CLUSTER)], timeout=60, check=False)


def zshbench(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "zshbench", *args], env=env, capture_output=True, text=True,
        timeout=600, cwd=ROOT,
    )  # fmt: skip


@pytest.mark.slow
def test_a_two_cell_sweep_runs_through_sbatch_and_a_failed_cell_shows_as_failed(
    slurm_env, tmp_path
):
    results = tmp_path / "results"
    # itq at 256 bits fails on a timm ViT-Tiny's 192-d features (its own one-line error, found
    # only by fit: digits' 64 pixels would be refused before any job, test_code_lengths.py)
    run = zshbench(
        slurm_env, "run", "-m", "itq", "-d", "digits", "-b", "16,256", "--device", "cpu",
        "-o", "extractor=timm", "-o", TIMM_32, "--name", "itq-timm",
        "--results", str(results), "--launcher", "slurm", "--slurm-same-machine",
        "--slurm-time", "10", "--slurm-cpus-per-task", "1",
    )  # fmt: skip
    output = run.stdout + run.stderr
    assert run.returncode == 2, output
    assert "2 job(s) submitted" in output and "1 of 2 cell(s) failed" in output
    (failed,) = [line for line in output.splitlines() if line.startswith("failed:")]
    assert "itq-timm digits 256 bits seed 0" in failed and "features have only 192" in failed
    log = Path(re.search(r"\(log: (.*)\)$", failed).group(1))
    # a SLURM array task's log: <array job id>_<task>_<rank>_log.err, under the results folder
    assert re.fullmatch(r"\d+_1_0_log\.err", log.name) and log.is_relative_to(results / ".jobs")
    assert "features have only 192" in log.read_text()
    (record,) = results.glob("digits/*/itq-timm/bits16-seed0.json")
    assert json.loads(record.read_text())["bits"] == 16
    status = zshbench(slurm_env, "status", "--results", str(results), "--json")
    shown = json.loads(status.stdout)
    assert shown["totals"]["done"] == 1 and shown["totals"]["failed"] == 1, status.stdout
    (row,) = [row for row in shown["cells"] if row["state"] == "failed"]
    assert row["bits"] == 256 and row["log"] == str(log)
    # nothing left behind: a task that wrote its result may take a few seconds to leave the queue
    for _ in range(60):
        queue = subprocess.run(["squeue", "-h"], env=slurm_env, capture_output=True, text=True)
        if queue.returncode != 0 or not queue.stdout.strip():
            break
        time.sleep(0.5)
    assert queue.returncode == 0 and queue.stdout.strip() == "", queue.stdout
