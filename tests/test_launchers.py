"""Launchers: cells through submitit's debug and local executors end to end, the sbatch script
submitit would write for given options, bad input as one line, ``status``, and a killed local
job that resumes from its checkpoint."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.deephash_fixture import ON_DIGITS
from zshbench.errors import ZshbenchError
from zshbench.launchers import submit
from zshbench.launchers.cells import cell_state, sweep_cells
from zshbench.launchers.jobs import CellJob, Placement
from zshbench.launchers.status import sweep_status, totals
from zshbench.results import RecordLock
from zshbench.runner import RunRequest


def _request(results: Path, method: str = "lsh,itq", bits=(16,), **kw) -> RunRequest:
    return RunRequest(method=method, dataset="digits", bits=list(bits), seeds=[0], device="cpu",
                      results_dir=results, **kw)  # fmt: skip


def run_cli(capsys, args: list[str]) -> tuple[int, str]:
    """``zshbench ARGS`` in this process: (exit status, everything it printed)."""
    from zshbench.cli import main

    capsys.readouterr()
    try:
        main(args)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out = capsys.readouterr()
    return code, out.out + out.err


def _echo(lines: list[str]):
    return lines.append


class Quiet:
    def log(self, message: str) -> None:
        pass

    def status(self, message: str) -> None:
        self.last = message


def test_the_debug_executor_runs_every_cell_and_a_rerun_submits_none(tmp_path):
    lines: list[str] = []
    options = submit.LaunchOptions(launcher="debug", poll_seconds=0.01)
    cells = submit.launch(_request(tmp_path), options, Quiet(), _echo(lines))
    assert [(c.method, c.bits) for c in cells] == [("lsh", 16), ("itq", 16)]
    for cell in cells:
        record = json.loads(cell.path.read_text())
        assert (record["method"], record["bits"], record["seed"]) == (cell.method, 16, 0)
        assert not cell.note_path.exists()  # the job's note goes once the record is there
    assert "0 of 2 cell(s) done already; submitting 2" in lines
    lines.clear()
    submit.launch(_request(tmp_path), options, Quiet(), _echo(lines))
    assert lines == ["2 of 2 cell(s) done already; submitting 0"]
    assert list(tmp_path.glob(".jobs/*/cells.json"))


@pytest.mark.slow
def test_the_local_executor_runs_two_cells_at_once_and_names_a_failed_cells_log(tmp_path):
    """itq at 256 bits fails on a timm ViT-Tiny's 192-d features, a limit only its fit finds
    (a timm extractor's dimension is not known up front, unlike digits' 64 pixels, which are
    refused before any job, tests/test_code_lengths.py): that cell is failed, with its log,
    and the others are written; the command fails naming it."""
    lines: list[str] = []
    options = submit.LaunchOptions(launcher="local", jobs=2, poll_seconds=0.1)
    timm = {
        "extractor": "timm",
        "extractor_options": {"model_kwargs": {"img_size": 32}, "image_size": 32},
    }
    request = _request(tmp_path, "itq,lsh", (16, 256), options=timm)
    with pytest.raises(ZshbenchError, match="1 of 4 cell"):
        submit.launch(request, options, Quiet(), _echo(lines))
    failed = [line for line in lines if line.startswith("failed:")]
    assert len(failed) == 1 and "digits 256 bits" in failed[0] and "itq" in failed[0]
    log = Path(re.search(r"\(log: (.*)\)$", failed[0]).group(1))
    assert log.is_file() and log.is_relative_to(tmp_path / ".jobs")
    assert "features have only 192" in log.read_text()
    rows = sweep_status(tmp_path)
    assert totals(rows) == {"done": 3, "running": 0, "failed": 1, "resumable": 0,
                            "missing": 0, "cells": 4}  # fmt: skip
    (failed_row,) = [row for row in rows if row["state"] == "failed"]
    assert failed_row["log"] == str(log) and "features have only 192" in failed_row["error"]


def test_local_slots_share_the_cpu_threads_or_take_a_gpu_each(monkeypatch):
    monkeypatch.setattr(submit.os, "cpu_count", lambda: 16)
    assert submit._placements(3, "cpu") == [Placement(threads=5)] * 3
    monkeypatch.setattr(submit, "_visible_gpus", lambda: [4, 6])
    assert [p.gpu for p in submit._placements(2, "auto")] == [4, 6]
    assert submit._placements(2, "cpu") == [Placement(threads=8)] * 2


def test_status_tells_missing_running_resumable_and_failed_cells_apart(tmp_path, capsys):
    options = submit.LaunchOptions(launcher="debug", poll_seconds=0.01)
    request = _request(tmp_path, "lsh", (8, 16, 24, 32))
    cells = sweep_cells(request)
    (tmp_path / ".jobs" / "x").mkdir(parents=True)
    submit.write_manifest(tmp_path / ".jobs" / "x", cells)
    assert [cell_state(c) for c in cells] == ["missing"] * 4
    submit.launch(replace(request, bits=[8]), options, Quiet(), _echo([]))
    lock = RecordLock(cells[1].path)
    assert lock.acquire()
    cells[2].checkpoint_dir.mkdir()
    (cells[2].checkpoint_dir / "train.rank0.pt").write_bytes(b"x")
    from zshbench.launchers.cells import write_note

    write_note(cells[3], state="failed", error="boom", log="/x.err")
    try:
        states = [row["state"] for row in sweep_status(tmp_path)]
        code, output = run_cli(capsys, ["status", "--results", str(tmp_path), "--json"])
    finally:
        lock.release()
    assert states == ["done", "running", "resumable", "failed"]
    assert code == 0
    shown = json.loads(output)
    assert shown["totals"] == {"done": 1, "running": 1, "failed": 1, "resumable": 1,
                               "missing": 0, "cells": 4}  # fmt: skip
    assert [row["bits"] for row in shown["cells"]] == [8, 16, 24, 32]
    assert sweep_status(tmp_path, methods=["itq"]) == []
    # a job that is gone without its record (killed before it could say why) is failed
    dead = 2**22 + 12345  # above the kernel's pid_max default: no such process
    write_note(cells[3], state="submitted", job_id=str(dead), log="/y.err", launcher="local")
    assert cell_state(cells[3]) == "failed"
    write_note(cells[3], state="submitted", job_id="77_3", log="/y.err", launcher="slurm")
    assert cell_state(cells[3], {"77_3"}) == "running" and cell_state(cells[3], set()) == "failed"
    assert cell_state(cells[3], None) == "missing"  # no squeue answer: not known to be gone


def test_the_sbatch_script_submitit_writes_carries_every_option(tmp_path, monkeypatch):
    from zshbench.launchers.cli_options import launch_options

    flags = {
        "launcher": "slurm", "jobs": 1, "no_wait": True, "dry_run": False,
        "slurm_partition": "gpu", "slurm_time": "1:30:00", "slurm_gpus_per_task": 2,
        "slurm_cpus_per_task": 8, "slurm_mem": "32G", "slurm_array_parallelism": 16,
        "slurm_options": ("qos=high", "constraint=a100"), "slurm_same_machine": False,
    }  # fmt: skip
    options = launch_options(flags)
    executor = submit.make_executor(options, tmp_path / ".jobs" / "t")
    text = executor._make_submission_file_text("python -m job", "uid")
    expected = [
        "#SBATCH --partition=gpu", "#SBATCH --time=90", "#SBATCH --gpus-per-node=2",
        "#SBATCH --ntasks-per-node=2", "#SBATCH --cpus-per-task=8", "#SBATCH --mem=32G",
        "#SBATCH --qos=high", "#SBATCH --constraint=a100", "#SBATCH --job-name=zshbench",
        "#SBATCH --signal=USR2@120", f"#SBATCH --output={tmp_path}/.jobs/t/%j_0_log.out",
    ]  # fmt: skip
    for line in expected:
        assert line in text.splitlines(), line
    assert "#SBATCH --open-mode=append" in text  # a requeued job's log goes on, not over
    assert executor.parameters["array_parallelism"] == 16
    default = submit.make_executor(launch_options({**flags, "slurm_time": None}), tmp_path)
    assert "#SBATCH --time=1440" in default._make_submission_file_text("x", "u")  # not 5 min
    assert "srun" in text  # every task of a DDP cell runs the job


def test_slurm_time_reads_minutes_and_clock_times():
    assert [submit.parse_slurm_time(t) for t in ("90", "1:30:00", "2-00:00:00", "0:0:30")] == [
        90, 90, 2880, 1,
    ]  # fmt: skip
    with pytest.raises(ZshbenchError):
        submit.parse_slurm_time("soon")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--launcher", "local", "--jobs", "0"], "--jobs 0"),
        (["--launcher", "slurm", "--slurm-option", "colour=blue"], "unknown --slurm-option colour"),
        (["--launcher", "slurm", "--results", "/tmp/zshbench-x"], "under /tmp"),
        (["--launcher", "local", "--no-wait"], "--no-wait needs --launcher slurm"),
        (["--jobs", "2"], "--jobs needs --launcher local"),
    ],
)
def test_launcher_mistakes_are_one_line_before_anything_is_submitted(
    tmp_path, capsys, args, message
):
    results = [] if "--results" in args else ["--results", str(tmp_path / "r")]
    code, output = run_cli(capsys, ["run", "-m", "lsh", "-d", "digits", *results, *args])
    assert code == 2 and message in output
    assert len(output.strip().splitlines()) == 1
    assert not (tmp_path / "r" / ".jobs").exists()


def test_no_sbatch_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(submit.shutil, "which", lambda name: None)
    code, output = run_cli(capsys, ["run", "-m", "lsh", "-d", "digits", "--results", str(tmp_path),
                      "--launcher", "slurm"])  # fmt: skip
    assert code == 2 and "sbatch is not on this machine's PATH" in output


def test_a_launched_sweep_may_name_several_data_sets(tmp_path):
    """``--dataset digits,FILE``: the cells of both, each narrowed to its own data set."""
    copy = tmp_path / "digits-copy.toml"
    text = (Path(__file__).parents[1] / "datasets_registry" / "digits.toml").read_text()
    copy.write_text(re.sub(r'(?m)^name = "digits"', 'name = "digits-copy"', text))
    request = _request(tmp_path / "r", "lsh", (8,))
    cells = sweep_cells(replace(request, dataset=f"digits,{copy}"))
    assert [(c.dataset, c.source) for c in cells] == [("digits", "digits"),
                                                     ("digits-copy", str(copy))]  # fmt: skip
    assert cells[1].request(request).dataset == str(copy)
    assert cells[1].path.is_relative_to(tmp_path / "r" / "digits-copy")


def test_dry_run_lists_what_would_train_and_trains_nothing(tmp_path, capsys):
    code, output = run_cli(capsys, ["run", "-m", "lsh", "-d", "digits", "-b", "8,16", "--results",
                      str(tmp_path), "--dry-run"])  # fmt: skip
    assert code == 0, output
    assert "would train lsh digits 8 bits seed 0  (missing)" in output
    assert "2 of 2 cell(s) would be trained" in output
    assert not list(tmp_path.rglob("bits*.json"))


@pytest.mark.slow
def test_a_killed_local_job_resumes_from_its_checkpoint(tmp_path):
    import submitit

    request = _request(tmp_path, "dpsh", (16,),
                       options={**ON_DIGITS, "epochs": 20, "selection": "none"})  # fmt: skip
    (cell,) = sweep_cells(request)
    executor = submitit.LocalExecutor(folder=tmp_path / ".jobs" / "first")
    job = executor.submit(CellJob(), cell, request, Placement(threads=1))
    deadline = time.time() + 240
    while not list(cell.checkpoint_dir.glob("*.pt")) and time.time() < deadline:
        assert not job.done(), job.stderr()
        time.sleep(0.2)
    time.sleep(1.0)
    # kill -9 the process training the cell (it owns the record lock), as the OOM killer would
    lock = cell.path.with_name(f".{cell.path.name}.lock")
    os.kill(int(lock.read_text().split()[2]), signal.SIGKILL)
    job._process.wait(timeout=60)
    assert not cell.path.exists() and cell_state(cell) == "resumable"
    submit.launch(request, submit.LaunchOptions(launcher="debug"), Quiet(), _echo([]))
    log = cell.path.with_suffix(".log").read_text()
    resumed = re.search(r"resumed from the checkpoint of epoch (\d+)", log)
    assert resumed and 1 <= int(resumed.group(1)) < 20
    record = json.loads(cell.path.read_text())
    assert len(record["config"]["training"]["history"]["final"]) == 20
    assert not cell.checkpoint_dir.exists() and cell_state(cell) == "done"
