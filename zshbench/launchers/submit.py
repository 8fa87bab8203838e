"""Send a sweep's unfinished cells to submitit's executors, one job per cell, and wait for them.

``slurm`` submits every cell as one job array (``executor.batch()``); ``local`` keeps ``jobs``
cells running at once on this machine, each in its own process, with its own GPU
(``CUDA_VISIBLE_DEVICES``) or its share of the CPU threads; ``debug`` (tests) runs them one
after another in this process. Logs go under ``<results>/.jobs/<launch time>/``. Everything a
user typed is checked before the first job is submitted.
"""

from __future__ import annotations

import datetime as _dt
import inspect
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ZshbenchError
from ..results import check_writable, record_is_done
from ..runner import RunRequest
from .cells import Cell, cell_state, lock_is_held, sweep_cells, write_note
from .jobs import CellJob, Placement
from .status import write_manifest

LAUNCHERS = ("local", "slurm", "debug")
#: A cell's time limit when --slurm-time is not given (submitit's own default is 5 minutes).
DEFAULT_SLURM_MINUTES = 24 * 60


@dataclass
class LaunchOptions:
    """How ``run`` sends its cells out (``--launcher``, ``--jobs``, ``--slurm-*``)."""

    launcher: str = "local"
    jobs: int = 1
    wait: bool = True
    dry_run: bool = False
    slurm: dict[str, Any] = field(default_factory=dict)  # submitit SlurmExecutor parameters
    gpus_per_task: int = 0
    same_machine: bool = False  # the SLURM compute node is this machine (a single-node cluster)
    poll_seconds: float = 2.0


def slurm_parameters() -> list[str]:
    """The sbatch settings submitit's SLURM executor takes (what ``--slurm-option`` accepts)."""
    from submitit.slurm.slurm import _make_sbatch_string

    skip = {"command", "folder", "map_count"}
    return [p for p in inspect.signature(_make_sbatch_string).parameters if p not in skip]


def parse_slurm_time(text: str) -> int:
    """``90``, ``1:30:00``, ``2-00:00:00`` → minutes."""
    try:
        days, _, rest = text.rpartition("-")
        parts = [int(p) for p in rest.split(":")]
        if len(parts) == 1:
            minutes = parts[0]
        else:
            parts = [0] * (3 - len(parts)) + parts
            minutes = parts[0] * 60 + parts[1] + (1 if parts[2] else 0)
        minutes += int(days or 0) * 24 * 60
    except ValueError:
        minutes = -1
    if minutes <= 0:
        raise ZshbenchError(
            f"bad --slurm-time {text!r}", "Give minutes (90) or HH:MM:SS (1:30:00) or D-HH:MM:SS."
        )
    return minutes


def check_launch(options: LaunchOptions, results_dir: Path) -> None:
    """Every launcher error is one line here, before any data loads or any job is submitted."""
    if options.launcher not in LAUNCHERS:
        raise ZshbenchError(f"unknown launcher {options.launcher!r}", "Use local or slurm.")
    if options.jobs < 1:
        raise ZshbenchError(
            f"--jobs {options.jobs}: at least one cell must run at a time", "Give --jobs 1 or more."
        )
    if options.launcher == "local" and not options.wait and not options.dry_run:
        raise ZshbenchError(
            "--no-wait needs --launcher slurm: local jobs end with this command",
            "Leave --no-wait out, or run the command in the background (nohup ... &).",
        )
    if options.launcher != "slurm":
        return
    if shutil.which("sbatch") is None:
        raise ZshbenchError(
            "--launcher slurm: sbatch is not on this machine's PATH",
            "Run on a SLURM login node, or use --launcher local.",
        )
    known = slurm_parameters()
    unknown = sorted(set(options.slurm) - set(known))
    if unknown:
        raise ZshbenchError(
            f"unknown --slurm-option {', '.join(unknown)}",
            f"Use one of: {', '.join(known)}.",
        )
    resolved = Path(results_dir).resolve()
    if not options.same_machine and resolved.parts[:2] in (("/", "tmp"), ("/", "dev")):
        raise ZshbenchError(
            f"--results {results_dir} is under /{resolved.parts[1]}, which compute nodes do "
            "not share with this machine",
            "Give a --results folder on a shared file system (your home or project space); "
            "--slurm-same-machine allows it when the cluster is this one machine.",
        )


def launch(
    request: RunRequest,
    options: LaunchOptions,
    progress: Any,
    echo: Callable[[str], None] = print,
) -> list[Cell]:
    """Submit the sweep's unfinished cells; with ``wait``, follow them to the end. Returns the
    sweep's cells. A failed cell prints its log; the command then fails naming them."""
    check_launch(options, request.results_dir)
    _check_methods(request)
    if not options.dry_run:
        check_writable(Path(request.results_dir))
    cells = sweep_cells(request, progress)
    todo = [c for c in cells if request.overwrite or not record_is_done(c.path)]
    todo = [c for c in todo if not lock_is_held(c)]
    if options.dry_run:
        for cell in todo:
            echo(f"would train {cell.label}  ({cell_state(cell)})")
        echo(f"{len(todo)} of {len(cells)} cell(s) would be trained")
        return cells
    echo(f"{len(cells) - len(todo)} of {len(cells)} cell(s) done already; submitting {len(todo)}")
    if not todo:
        return cells
    folder = _log_folder(request.results_dir)
    write_manifest(folder, cells)
    if options.launcher == "local":
        failed = _run_local(todo, request, options, folder, progress)
    else:
        jobs = _submit(todo, request, options, folder)
        echo(f"{len(jobs)} job(s) submitted; logs under {folder}")
        if not options.wait:
            return cells
        failed = _follow(list(zip(todo, jobs, strict=True)), options, progress)
    _report_failures(failed, len(todo), echo)
    return cells


def _check_methods(request: RunRequest) -> None:
    """Every method's options, checked as the in-process run checks them."""
    from ..method import HashingMethod
    from ..plugin_manager import load_plugins
    from ..runner import check_run_name, default_run_name, expand_methods

    plugins = load_plugins()
    names = expand_methods(request.method, plugins)
    if request.run_name and len(names) > 1:
        raise ZshbenchError(
            f"--name {request.run_name!r} given for {len(names)} methods",
            "Name runs one method at a time, or leave --name out (each method gets its own).",
        )
    for name in names:
        check_run_name(request.run_name or default_run_name(name, request.options))
        plugins.methods.load(name, HashingMethod)(request.bits[0], **request.options)


def _log_folder(results_dir: Path) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    folder = Path(results_dir) / ".jobs" / stamp
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def make_executor(options: LaunchOptions, folder: Path) -> Any:
    """The submitit executor of ``options.launcher`` with its parameters set."""
    import submitit

    if options.launcher == "debug":
        return submitit.DebugExecutor(folder=folder)
    if options.launcher == "local":
        executor = submitit.LocalExecutor(folder=folder)
        executor.update_parameters(timeout_min=int(options.slurm.get("time", 7 * 24 * 60)))
        return executor
    executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=10)
    parameters = {
        "job_name": "zshbench", "signal_delay_s": 120, "time": DEFAULT_SLURM_MINUTES,
        **options.slurm,
    }  # fmt: skip
    gpus = options.gpus_per_task
    if gpus:  # a cell on several GPUs is a DDP job: one task per GPU
        parameters.update(gpus_per_node=gpus, ntasks_per_node=gpus)
    executor.update_parameters(**parameters)
    return executor


def _submit(cells: list[Cell], request: RunRequest, options: LaunchOptions, folder: Path) -> list:
    """One SLURM job array (``executor.batch()``) of every cell; each cell's note names its job."""
    executor = make_executor(options, folder)
    placement = Placement(distributed=options.gpus_per_task > 1)
    with executor.batch():
        jobs = [executor.submit(CellJob(), cell, request, placement) for cell in cells]
    for cell, job in zip(cells, jobs, strict=True):
        write_note(
            cell,
            state="submitted",
            job_id=str(job.job_id),
            log=str(job.paths.stderr),
            launcher=options.launcher,
        )
    return jobs


def _run_local(
    cells: list[Cell], request: RunRequest, options: LaunchOptions, folder: Path, progress: Any
) -> list[tuple[Cell, Any]]:
    """``options.jobs`` cells at once, each in its own process, each with its own GPU (or its
    share of the CPU threads); the cells that failed, with their jobs."""
    executor = make_executor(options, folder)
    slots = _placements(options.jobs, request.device)
    waiting, running, finished = list(cells), [], []
    while waiting or running:
        while waiting and slots:
            cell, placement = waiting.pop(0), slots.pop(0)
            job = executor.submit(CellJob(), cell, request, placement)
            write_note(
                cell,
                state="submitted",
                job_id=str(job.job_id),
                log=str(job.paths.stderr),
                launcher=options.launcher,
            )
            running.append((cell, job, placement))
        time.sleep(0.2 if options.launcher == "debug" else min(options.poll_seconds, 0.5))
        for entry in [e for e in running if _job_done(e[1], None)]:
            running.remove(entry)
            slots.append(entry[2])
            finished.append((entry[0], entry[1], _failed(entry[0])))
        _show(progress, finished, running, len(cells))
    return [(cell, job) for cell, job, failed in finished if failed]


def _placements(jobs: int, device: str) -> list[Placement]:
    """One slot per concurrent job: a GPU each when there are enough, else CPU threads."""
    gpus = _visible_gpus() if device != "cpu" else []
    if gpus:
        return [Placement(gpu=gpus[i % len(gpus)]) for i in range(jobs)]
    threads = max(1, (os.cpu_count() or 1) // jobs)
    return [Placement(threads=threads) for _ in range(jobs)]


def _visible_gpus() -> list[int]:
    import torch

    if not torch.cuda.is_available():
        return []
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed:
        return [int(g) for g in listed.split(",") if g.strip().isdigit()]
    return list(range(torch.cuda.device_count()))


def _job_done(job: Any, queued: set[str] | None, slurm: bool = False) -> bool:
    """True once a job has ended. SLURM jobs are followed through ``squeue`` (``queued``; None
    when it did not answer) and the result file submitit's job writes at its end, so no
    accounting database (``sacct``) is needed."""
    if slurm:
        ended = queued is not None and str(job.job_id) not in queued
        return job.paths.result_pickle.exists() or ended
    try:
        return bool(job.done())
    except Exception:  # noqa: BLE001 - the debug executor raises the cell's error here
        return True


def _failed(cell: Cell) -> bool:
    """A cell failed when its job ended without its record."""
    return not record_is_done(cell.path)


def _follow(jobs: list[tuple[Cell, Any]], options: LaunchOptions, progress: Any) -> list:
    """Wait for submitted jobs, showing done/running/failed; the failed ones."""
    from .status import queued_jobs

    pending, finished = list(jobs), []
    while pending:
        slurm = options.launcher == "slurm"
        queued = queued_jobs() if slurm else None
        for entry in [e for e in pending if _job_done(e[1], queued, slurm)]:
            pending.remove(entry)
            finished.append((*entry, _failed(entry[0])))
        _show(progress, finished, pending, len(jobs))
        if pending:
            time.sleep(options.poll_seconds)
    return [(cell, job) for cell, job, failed in finished if failed]


def _show(progress: Any, finished: list, running: list, total: int) -> None:
    failed = sum(1 for *_, failed in finished if failed)
    progress.status(
        f"cells: {len(finished) - failed} done, {len(running)} running, {failed} failed, "
        f"{total - len(finished) - len(running)} waiting (of {total})"
    )


def _report_failures(failed: list[tuple[Cell, Any]], total: int, echo: Callable) -> None:
    from .cells import read_note

    for cell, job in failed:
        note = read_note(cell)
        reason = note.get("error") or "the job ended without its record (killed?)"
        echo(f"failed: {cell.label}: {str(reason)[:300]}  (log: {job.paths.stderr})")
    if failed:
        raise ZshbenchError(
            f"{len(failed)} of {total} cell(s) failed",
            "Their logs are named above; fix the cause and run the same command again "
            "(finished cells are skipped, killed fits resume from their checkpoints).",
        )
