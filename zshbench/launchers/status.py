"""``zshbench status``: every cell of the sweeps under a results folder and the state of each.

The cells are those the launcher listed when it submitted a sweep (``.jobs/*/cells.json``) and
every cell with a file of its own (record, lock, job note, checkpoint), so a cell of a launched
sweep that never started shows as missing. A cell whose SLURM job is queued or running (``squeue``)
shows as running.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

from .cells import STATES, Cell, cell_state, read_note

_RECORD = re.compile(r"bits(\d+)-seed(\d+)(?:-ties-[a-z0-9-]+?)?(?:-top(?:\d+|all))?\.json")


def write_manifest(folder: Path, cells: list[Cell]) -> None:
    """The sweep's cells, for ``status`` (written with the job logs)."""
    from ..results import atomic_write_text

    rows = [
        {"method": c.method, "run_name": c.run_name, "dataset": c.dataset,
         "split_id": c.split_id, "bits": c.bits, "seed": c.seed, "path": str(c.path)}
        for c in cells
    ]  # fmt: skip
    atomic_write_text(folder / "cells.json", json.dumps(rows, indent=1) + "\n")


def known_cells(results_dir: Path) -> list[Cell]:
    """Cells of launched sweeps and cells with files, each once, sorted."""
    found: dict[Path, Cell] = {}
    for manifest in sorted(Path(results_dir).glob(".jobs/*/cells.json")):
        try:
            rows = json.loads(manifest.read_text(encoding="utf-8"))
            for row in rows:
                cell = Cell(
                    str(row["method"]), str(row["run_name"]), str(row["dataset"]),
                    str(row["split_id"]), int(row["bits"]), int(row["seed"]), Path(row["path"]),
                )  # fmt: skip
                found.setdefault(cell.path, cell)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a damaged manifest hides no cell that has files (found below)
    for cell in _cells_on_disk(Path(results_dir)):
        found.setdefault(cell.path, cell)
    return sorted(found.values(), key=lambda c: (c.dataset, c.run_name, c.bits, c.seed, c.path))


def _cells_on_disk(results_dir: Path) -> list[Cell]:
    """Cells with a record, a lock, a job note or a checkpoint folder in a run folder."""
    cells = []
    for run_dir in sorted(results_dir.glob("*/*/*")):
        if not run_dir.is_dir() or any(part.startswith(".") for part in run_dir.parts[-3:]):
            continue
        dataset, split_id, run_name = run_dir.parts[-3:]
        for name in sorted(p.name for p in run_dir.iterdir()):
            match = _RECORD.fullmatch(_record_name(name) or "")
            if match:
                bits, seed = int(match.group(1)), int(match.group(2))
                path = run_dir / _record_name(name)
                method = run_name.split("@")[0]
                cells.append(Cell(method, run_name, dataset, split_id, bits, seed, path))
    return cells


def _record_name(name: str) -> str | None:
    """The record a file in a run folder belongs to (None: not a cell's file)."""
    if name.startswith(".checkpoints-"):
        return name[len(".checkpoints-") :] + ".json"
    for suffix in (".lock", ".job.json"):
        if name.startswith(".") and name.endswith(".json" + suffix):
            return name[1 : -len(suffix)]
    return None if name.startswith(".") else name


def queued_jobs() -> set[str] | None:
    """Ids of the SLURM jobs queued or running (array tasks expanded); None if not known."""
    if shutil.which("squeue") is None:
        return None
    try:
        out = subprocess.run(
            ["squeue", "-h", "-r", "-o", "%i"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return {line.strip() for line in out.stdout.splitlines() if line.strip()}


def sweep_status(
    results_dir: Path, methods: list[str] | None = None, datasets: list[str] | None = None
) -> list[dict[str, Any]]:
    """One row per cell: what, where, its state, and its log when it has one."""
    active = queued_jobs()
    rows = []
    for cell in known_cells(results_dir):
        if methods and cell.method not in methods and cell.run_name not in methods:
            continue
        if datasets and cell.dataset not in datasets:
            continue
        state, note = cell_state(cell, active), read_note(cell)
        rows.append({
            "method": cell.method, "run_name": cell.run_name, "dataset": cell.dataset,
            "split_id": cell.split_id, "bits": cell.bits, "seed": cell.seed, "state": state,
            "record": str(cell.path),
            "log": note.get("log") if state != "done" else None,
            "error": note.get("error") if state == "failed" else None,
        })  # fmt: skip
    return rows


def totals(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts = Counter(row["state"] for row in rows)
    return {state: counts.get(state, 0) for state in STATES} | {"cells": len(rows)}
