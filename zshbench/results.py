"""Result records: one JSON file per (method, data set, split, bits, seed), written atomically.

Layout (ann-benchmarks style, the path says what it is)::

    results/<dataset>/<split id>/<run name>/bits<B>-seed<S>.json
    results/<dataset>/<split id>/<run name>/bits<B>-seed<S>-ties-index-top1000.json
                                              (evaluated other than expected ties, mAP@5000)
    results/<dataset>/splits/<split id>.json          the split manifest
    results/<dataset>/<split id>/<run name>/bits<B>-seed<S>-files/
                                              (a method's own files: plots, logs; optional)
    results/<dataset>/<split id>/<run name>/.checkpoints-bits<B>-seed<S>/
                                              (a method's training checkpoints; optional)

A record is written to a temporary file in the same folder and moved into place with
``os.replace``, so a crash or Ctrl-C never leaves a half-written record and never damages an
existing one. ``report`` and ``plot`` only read these files.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
DEFAULT_RESULTS_DIR = Path("results")


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so readers see the old file or the whole new one."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


DEFAULT_TIES = "expected"
DEFAULT_TOPK = 5000


def record_path(
    results_dir: Path,
    dataset: str,
    split_id: str,
    run_name: str,
    bits: int,
    seed: int,
    ties: str = DEFAULT_TIES,
    topk: int | None = DEFAULT_TOPK,
) -> Path:
    """Where the record of one run lies; evaluation settings other than the defaults are part
    of the name, so a record under another tie policy or K never replaces (or passes for) it."""
    name = f"bits{bits}-seed{seed}"
    if ties != DEFAULT_TIES:
        name += f"-ties-{ties}"
    if topk != DEFAULT_TOPK:
        name += f"-top{'all' if topk is None else topk}"
    return Path(results_dir) / dataset / split_id / run_name / f"{name}.json"


def split_manifest_path(results_dir: Path, dataset: str, split_id: str) -> Path:
    return Path(results_dir) / dataset / "splits" / f"{split_id}.json"


def write_record(path: Path, record: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps({"schema": SCHEMA_VERSION, **record}, indent=1))


def _inside_run_files(relative: Path) -> bool:
    """True for files in a run's own folders, which are never records: hidden ones
    (``.checkpoints-bits<B>-seed<S>/``) and a method's artifacts (``bits<B>-seed<S>-files/``)."""
    return any(
        part.startswith(".") or (part.startswith("bits") and part.endswith("-files"))
        for part in relative.parts[:-1]
    )


def iter_records(results_dir: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every readable record under ``results_dir``; unreadable files are warned about, skipped."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        return
    for path in sorted(results_dir.rglob("bits*-seed*.json")):
        if _inside_run_files(path.relative_to(results_dir)):
            continue
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            warnings.warn(f"skipping unreadable record {path}: {error}", stacklevel=2)
            continue
        if isinstance(record, dict) and record.get("schema") == SCHEMA_VERSION:
            yield path, record
