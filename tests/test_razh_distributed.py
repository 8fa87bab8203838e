"""RAZH under torchrun: two CPU processes (gloo) train one network with DistributedDataParallel.

The same ``zshbench run`` command, once under ``torch.distributed.run --nproc_per_node 2`` and
once as a single process, with a tiny ViT, one epoch and the offline ``hashing`` text encoder.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest
from cli_runner import SINGLE_PROCESS, TORCHRUN_TWO, run_launched
from razh_tiny import TINY

from zshbench.results import iter_records

pytest.importorskip("torch")
pytest.importorskip("timm")


def _run(launcher: list[str], results: Path, cwd: Path) -> subprocess.CompletedProcess:
    args = ["run", "--method", "razh", "--dataset", "digits", "--bits", "16", "--seeds", "0"]
    args += ["--encoder", "hashing", "--device", "cpu", "--results", str(results)]
    for key, value in TINY.items():
        args += ["--option", f"{key}={value}"]
    return run_launched(launcher, args, cwd)


def _keys(record: dict, prefix: str = "") -> set[str]:
    """Every key path of a record's nested dicts (lists are leaves)."""
    keys = set()
    for key, value in record.items():
        keys.add(prefix + key)
        if isinstance(value, dict):
            keys |= _keys(value, prefix + key + ".")
    return keys


@pytest.mark.slow
def test_razh_under_torchrun_writes_one_record_like_a_single_process(tmp_path):
    ddp = _run(TORCHRUN_TWO, tmp_path / "ddp", tmp_path)
    assert ddp.returncode == 0, ddp.stdout[-3000:] + ddp.stderr[-3000:]
    single = _run(SINGLE_PROCESS, tmp_path / "single", tmp_path)
    assert single.returncode == 0, single.stdout[-3000:] + single.stderr[-3000:]

    ddp_records = list(iter_records(tmp_path / "ddp"))
    single_records = list(iter_records(tmp_path / "single"))
    assert len(ddp_records) == 1 and len(single_records) == 1
    # the typed records as the JSON they are written as
    ddp_record, single_record = (dataclasses.asdict(r[0][1]) for r in (ddp_records, single_records))

    assert ddp_record["distributed"] == {"world_size": 2, "backend": "gloo"}
    assert single_record["distributed"] == {"world_size": 1, "backend": None}
    assert ddp_record["config"]["training"]["world_size"] == 2
    assert single_record["config"]["training"]["world_size"] == 1
    assert ddp_record["method"] == "razh" and ddp_record["config"]["epochs"] == 1

    for record in (ddp_record, single_record):
        metrics = record["metrics"]
        assert any(key.startswith("map@") for key in metrics)
        assert all(0.0 <= metrics[key] <= 1.0 for key in metrics if key.startswith("map@"))
        training = record["config"]["training"]
        assert training["best_epoch"] == 1 and len(training["validation_curve"]) == 1
        assert training["final_losses"] and all(
            value == value for value in training["final_losses"].values()
        )  # present and not NaN
    # the same record, key for key (values such as timings and mAP naturally differ)
    assert _keys(ddp_record) == _keys(single_record)

    # rank 0 speaks for both: one summary line, no "does not support distributed" warning
    output = ddp.stdout + ddp.stderr
    assert output.count("record(s) under") == 1
    assert "does not support distributed training" not in output
