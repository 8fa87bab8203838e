"""Runs under torchrun (gloo on CPU) and a method's own artifact folder."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from cli_runner import SINGLE_PROCESS, TORCHRUN_TWO, run_launched

from zshbench import distributed, runner
from zshbench.method import HashingMethod, RunContext
from zshbench.registry import MethodSpec
from zshbench.results import iter_records

REPO_ROOT = Path(__file__).resolve().parents[1]
SEEN: dict = {}


# --- WorldInfo and the helpers without a process group ---------------------------------------


def test_world_defaults_to_one_process(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    info = distributed.world_from_env()
    assert (info.rank, info.world_size, info.local_rank, info.backend) == (0, 1, 0, None)
    assert info.is_main and not info.distributed


def test_world_reads_torchrun_variables(monkeypatch):
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    info = distributed.world_from_env()
    assert (info.rank, info.world_size, info.local_rank) == (3, 4, 1)
    assert not info.is_main and info.distributed
    assert distributed.rank_device("cuda", info) == "cuda:1"
    assert distributed.rank_device("cpu", info) == "cpu"


def test_single_process_helpers_are_no_ops(monkeypatch):
    import torch.distributed as dist

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    info = distributed.init_distributed("cpu")
    assert info.world_size == 1 and not dist.is_initialized()
    assert distributed.broadcast_object({"a": 1}, info) == {"a": 1}
    distributed.barrier(info)
    distributed.shutdown(info)
    assert distributed.rank_device("cuda", info) == "cuda"
    assert RunContext().distributed is False and RunContext(world_size=2).distributed


# --- torchrun end to end ---------------------------------------------------------------------


def _run(launcher: list[str], results: Path, cwd: Path) -> subprocess.CompletedProcess:
    args = ["run", "--method", "itq", "--dataset", "digits", "--bits", "16", "--seeds", "0"]
    return run_launched(launcher, [*args, "--device", "cpu", "--results", str(results)], cwd)


@pytest.mark.slow
def test_torchrun_two_processes_match_a_single_process_run(tmp_path):
    ddp = _run(TORCHRUN_TWO, tmp_path / "ddp", tmp_path)
    assert ddp.returncode == 0, ddp.stdout + ddp.stderr
    single = _run(SINGLE_PROCESS, tmp_path / "single", tmp_path)
    assert single.returncode == 0, single.stdout + single.stderr

    ddp_records = list(iter_records(tmp_path / "ddp"))
    single_records = list(iter_records(tmp_path / "single"))
    assert len(ddp_records) == 1 and len(single_records) == 1
    # the typed records as the JSON they are written as
    ddp_record, single_record = (dataclasses.asdict(r[0][1]) for r in (ddp_records, single_records))
    assert ddp_record["distributed"] == {"world_size": 2, "backend": "gloo"}
    assert single_record["distributed"] == {"world_size": 1, "backend": None}
    assert ddp_record["metrics"] == single_record["metrics"]  # ITQ is deterministic
    # rank 0 speaks for both: one warning, one summary line
    output = ddp.stdout + ddp.stderr
    assert output.count("does not support distributed training") == 1
    assert output.count("record(s) under") == 1


# --- artifacts -------------------------------------------------------------------------------


class Artist(HashingMethod):
    """Writes a plot and a log into its artifact folder; codes = signs of random projections."""

    def fit(self, data, context):
        SEEN["context"] = context
        folder = context.artifact_dir
        (folder / "logs").mkdir(parents=True, exist_ok=True)
        (folder / "loss.png").write_bytes(b"png")
        (folder / "logs" / "train.txt").write_text("epoch 1\n")
        # a file shaped like a record must never pass for one
        (folder / f"bits{self.bits}-seed{context.seed}.json").write_text(
            json.dumps({"schema": 1, "dataset": "fake"})
        )
        checkpoints = context.checkpoint_dir
        checkpoints.mkdir(parents=True, exist_ok=True)
        (checkpoints / f"bits{self.bits}-seed{context.seed}.json").write_text('{"schema": 1}')
        x = data.images.load_stack().reshape(len(data.images), -1).astype(float)
        self.w = np.random.default_rng(context.seed).standard_normal((x.shape[1], self.bits))

    def encode(self, images, context):
        x = images.load_stack().reshape(len(images), -1).astype(float)
        return np.sign(x @ self.w + 1e-9)


class Quiet(Artist):
    def fit(self, data, context):
        SEEN["context"] = context
        x = data.images.load_stack().reshape(len(data.images), -1).astype(float)
        self.w = np.random.default_rng(context.seed).standard_normal((x.shape[1], self.bits))


@pytest.fixture
def plugins(use_test_methods, monkeypatch):
    combined = use_test_methods(MethodSpec("artist", Artist), MethodSpec("quiet", Quiet))
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    SEEN.clear()
    return combined


def _request(tmp_path, method):
    return runner.RunRequest(
        method=method, dataset="digits", bits=[8], seeds=[0], results_dir=tmp_path
    )


def test_method_artifacts_are_listed_in_the_record(plugins, tmp_path):
    path = runner.run(_request(tmp_path, "artist"))[0]
    context = SEEN["context"]
    assert context.artifact_dir == path.with_name("bits8-seed0-files")
    assert (context.rank, context.world_size, context.distributed) == (0, 1, False)
    record = json.loads(path.read_text())
    assert record["artifacts"] == ["bits8-seed0.json", "logs/train.txt", "loss.png"]
    assert record["distributed"] == {"world_size": 1, "backend": None}
    # report/plot and the skip-if-done logic see the one real record only
    assert [p for p, _ in iter_records(tmp_path)] == [path]
    stamp = path.stat().st_mtime_ns
    assert runner.run(_request(tmp_path, "artist")) == [path]
    assert path.stat().st_mtime_ns == stamp


def test_no_artifacts_key_and_no_folder_when_a_method_writes_none(plugins, tmp_path):
    path = runner.run(_request(tmp_path, "quiet"))[0]
    assert json.loads(path.read_text())["artifacts"] == []  # schema 2: listed, none
    assert not SEEN["context"].artifact_dir.exists()
