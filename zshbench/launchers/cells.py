"""The cells of a sweep and the state of each on disk.

A cell is one record of ``zshbench run``: its record path is fixed by the method's run name,
the data set, the split id, bits, seed, tie policy and K, so a sweep's cells are known (after
loading the data set once, for its split id) before any job is submitted. A cell's state:

* ``done``: a usable record is there;
* ``running``: its record lock is held, or the job the launcher submitted for it is queued or
  running;
* ``failed``: its job wrote a failure note (``.<record>.job.json``) naming the log;
* ``resumable``: a checkpoint of a killed or preempted fit is there;
* ``missing``: none of these.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..record import read_record
from ..results import RecordLock, atomic_write_text, record_path
from ..runner import RunRequest, default_run_name, expand_methods, prepare_split

STATES = ("done", "running", "failed", "resumable", "missing")


@dataclass(frozen=True)
class Cell:
    """One record of a sweep: the request that runs it alone, and where its record goes."""

    method: str
    run_name: str
    dataset: str
    split_id: str
    bits: int
    seed: int
    path: Path
    source: str = ""  # the --dataset entry as given (a name or a .toml file); "": ``dataset``

    @property
    def label(self) -> str:
        return f"{self.run_name} {self.dataset} {self.bits} bits seed {self.seed}"

    @property
    def note_path(self) -> Path:
        """Where the launcher notes the cell's job (id, log) and the job notes a failure."""
        return self.path.with_name(f".{self.path.name}.job.json")

    @property
    def checkpoint_dir(self) -> Path:
        return self.path.parent / f".checkpoints-bits{self.bits}-seed{self.seed}"

    def request(self, sweep: RunRequest) -> RunRequest:
        """The sweep's request narrowed to this cell alone."""
        dataset = self.source or sweep.dataset
        return replace(
            sweep, method=self.method, dataset=dataset, bits=[self.bits], seeds=[self.seed]
        )


class NullProgress:
    def log(self, message: str) -> None:
        pass


def sweep_cells(request: RunRequest, progress: Any = None) -> list[Cell]:
    """Every cell ``request`` names (data sets × methods × bits × seeds), in order. A launched
    sweep may name several data sets (``--dataset cub,awa2``); each is loaded once for its split
    id (and its split manifest written, as an in-process run does)."""
    from ..code_lengths import check_code_lengths
    from ..method import HashingMethod
    from ..plugin_manager import load_plugins

    plugins = load_plugins()
    names = expand_methods(request.method, plugins)
    sources = [part.strip() for part in str(request.dataset).split(",") if part.strip()]
    cells = []
    for source in sources:
        views, _ = prepare_split(replace(request, dataset=source), progress or NullProgress())
        split = views.split
        train = views.train_data(request.topk).images
        for method in names:  # a code length one method cannot give: refused before any job
            method_cls = plugins.methods.load(method, HashingMethod)
            check_code_lengths(method, method_cls, request.bits, request.options, train)
        for method in names:
            run_name = request.run_name or default_run_name(method, request.options)
            for bits in request.bits:
                for seed in request.seeds:
                    path = record_path(
                        request.results_dir, split.dataset, split.split_id, run_name, bits,
                        seed, request.ties, request.topk,
                    )  # fmt: skip
                    cells.append(
                        Cell(method, run_name, split.dataset, split.split_id, bits, seed, path,
                             source)
                    )  # fmt: skip
    return cells


def read_note(cell: Cell) -> dict[str, Any]:
    """The cell's job note ({} if none or unreadable); a note is data, shown as text only."""
    try:
        note = json.loads(cell.note_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return note if isinstance(note, dict) else {}


def write_note(cell: Cell, **fields: Any) -> None:
    atomic_write_text(cell.note_path, json.dumps(fields, sort_keys=True) + "\n")


def lock_is_held(cell: Cell) -> bool:
    """True if a process holds the cell's record lock now (it is training the cell)."""
    lock = RecordLock(cell.path)
    if not lock.path.exists():
        return False
    if lock.acquire():
        lock.release()
        return False
    return True


def has_checkpoint(cell: Cell) -> bool:
    with contextlib.suppress(OSError):
        return any(name.endswith(".pt") for name in os.listdir(cell.checkpoint_dir))
    return False


def _ended_without_record(note: dict[str, Any], active_jobs: set[str]) -> bool:
    """A submitted job that is gone (SLURM: not in the queue; local: its process is dead)
    without a record: killed (out of memory, node lost) before it could note why."""
    if note.get("state") != "submitted" or not note.get("job_id"):
        return False
    if note.get("launcher") == "slurm":
        return active_jobs is not None and str(note["job_id"]) not in active_jobs
    if note.get("launcher") == "local" and str(note["job_id"]).isdigit():
        return not os.path.exists(f"/proc/{note['job_id']}")
    return False


def cell_state(cell: Cell, active_jobs: set[str] | None = None) -> str:
    """One of :data:`STATES`; ``active_jobs``: ids of the SLURM jobs queued or running (None:
    not known, e.g. no ``squeue`` here)."""
    if os.path.lexists(cell.path) and read_record(cell.path)[0] is not None:
        return "done"
    note = read_note(cell)
    queued = active_jobs or set()
    if lock_is_held(cell) or (note.get("job_id") and str(note["job_id"]) in queued):
        return "running"
    if note.get("state") == "failed" or _ended_without_record(note, active_jobs):
        return "failed"
    if has_checkpoint(cell):
        return "resumable"
    return "missing"
