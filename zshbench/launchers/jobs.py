"""What runs one cell inside a job (a local subprocess or a SLURM array task).

The job runs the cell exactly as ``zshbench run`` runs it in-process (lock, atomic record,
checkpoints), narrowed to its one (method, bits, seed). It is a submitit ``Checkpointable``:
when SLURM times a job out or preempts it, submitit requeues the same call, and the deep
engine's per-epoch checkpoint makes the requeued fit go on where it stopped. A job that fails
notes it (the error line and its log) beside the record, for ``zshbench status``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import submitit

from ..runner import RunRequest
from .cells import Cell, write_note


@dataclass(frozen=True)
class Placement:
    """Where a local job runs: its own GPU (None: the CPU), its share of CPU threads, and
    whether the job is one task of a multi-GPU (DDP) cell."""

    gpu: int | None = None
    threads: int | None = None
    distributed: bool = False


class CellJob(submitit.helpers.Checkpointable):
    """``CellJob()(cell, request, placement)`` runs one cell; requeued as is on a timeout."""

    def __call__(self, cell: Cell, request: RunRequest, placement: Placement) -> str:
        _place(placement)
        from ..results import record_is_done
        from ..runner import run

        try:
            run(cell.request(request))
        except BaseException as error:
            from ..errors import ZshbenchError

            line = error.one_line() if isinstance(error, ZshbenchError) else repr(error)
            if _is_rank0():
                write_note(cell, state="failed", error=line[:2000], **_job_fields())
            raise
        if not record_is_done(cell.path):  # another process held the cell's lock
            raise RuntimeError(f"{cell.label}: another process is running it; no record here")
        if _is_rank0():
            cell.note_path.unlink(missing_ok=True)  # the record says it all now
        return str(cell.path)


def _place(placement: Placement) -> None:
    """This process's device and threads, before torch makes its first CUDA call."""
    if placement.gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(placement.gpu)
    if placement.threads:
        os.environ["OMP_NUM_THREADS"] = str(placement.threads)
        import torch

        torch.set_num_threads(placement.threads)
    if placement.distributed:
        submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)


def _is_rank0() -> bool:
    return os.environ.get("RANK", "0") == "0"


def _job_fields() -> dict[str, Any]:
    """This job's id and log file (none when run in-process by the debug executor)."""
    try:
        environment = submitit.JobEnvironment()
        return {"job_id": str(environment.job_id), "log": str(environment.paths.stderr)}
    except RuntimeError:
        return {"job_id": None, "log": None}
