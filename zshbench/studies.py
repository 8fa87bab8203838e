"""Studies: a paper's table as a grid of runs, run and printed beside the paper's numbers.

A plugin registers a :class:`zshbench.registry.StudySpec` (e.g. RAZH's Tables IV–VI); ``zshbench
study NAME --dataset D`` runs each row through the usual run engine — the very records
``zshbench run --method M -o ...`` writes, so finished rows are reused and a study resumes by
running it again — and prints mean ± std over seeds per row and code length, with the paper's
value beside it where the paper has the data set (or its ``<name>-...`` prefix), and the
chance level of the split.
"""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ZshbenchError
from .method import Progress
from .registry import StudySpec
from .runner import RunRequest, run


def reference_rows(spec: StudySpec) -> list[dict[str, str]]:
    """The paper's values of a study (its ``reference`` CSV), or [] when it names none."""
    if not spec.reference:
        return []
    package, _, name = spec.reference.partition(":")
    try:
        text = resources.files(package).joinpath(name).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as error:
        raise ZshbenchError(
            f"study {spec.name}: reference {spec.reference} not found ({error})"
        ) from None
    return list(csv.DictReader(text.splitlines()))


def paper_dataset(dataset: str, rows: list[dict[str, str]]) -> str | None:
    """The paper's data set shown beside ``dataset``: itself, or its prefix (cub-mini64 → cub)."""
    known = {row["dataset"] for row in rows}
    if dataset in known:
        return dataset
    prefix = dataset.split("-", 1)[0]
    return prefix if prefix in known else None


def run_study(
    spec: StudySpec, template: RunRequest, progress: Progress | None = None
) -> dict[str, list[Path]]:
    """Run every row of ``spec`` like ``template`` (data set, bits, seeds, split, results...);
    returns the record paths of each row label."""
    progress = progress or Progress()
    paths: dict[str, list[Path]] = {}
    for label, method, options in spec.rows:
        progress.log(f"{spec.name}: row {label!r} ({method} {json.dumps(options)})")
        request = replace(template, method=method, options=dict(options), run_name=None)
        paths[label] = run(request, progress)
    return paths


def study_table(
    spec: StudySpec, paths: dict[str, list[Path]], dataset: str
) -> tuple[list[str], list[list[str]], str]:
    """(header, rows, caption): our mean ± std (%) per row and code length, the paper's beside."""
    reference = reference_rows(spec)
    paper = paper_dataset(dataset, reference)
    values: dict[tuple[str, int], float] = {}
    for row in reference:
        if row["dataset"] == paper:
            values[(row[spec.label_column], int(row["bits"]))] = float(row["map_at_5000_percent"])
    measured: dict[str, dict[int, list[float]]] = {}
    chance: float | None = None
    metric = "map"
    for label, record_paths in paths.items():
        for path in record_paths:
            record = json.loads(Path(path).read_text(encoding="utf-8"))
            metrics = record["metrics"]
            key = next(k for k in metrics if k.startswith("map@"))
            metric = key
            measured.setdefault(label, {}).setdefault(int(record["bits"]), []).append(
                float(metrics[key])
            )
            chance = metrics.get("chance_map", chance)
    bits = sorted({b for per_bits in measured.values() for b in per_bits})
    header = ["row"]
    for b in bits:
        header.append(f"{b} bits")
        if paper:
            header.append(f"paper {paper} {b}")
    table = []
    for label, _, _ in spec.rows:
        line = [label]
        for b in bits:
            scores = measured.get(label, {}).get(b, [])
            if scores:
                std = float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0
                line.append(f"{100 * np.mean(scores):.2f} ± {100 * std:.2f} (n={len(scores)})")
            else:
                line.append("")
            if paper:
                value = values.get((label, b))
                line.append("" if value is None else f"{value:.2f}")
        table.append(line)
    caption = f"{spec.title} · {dataset} · {metric} (%) · mean ± std over seeds"
    if chance is not None:
        caption += f" · chance level {100 * chance:.2f}"
    if not paper:
        caption += " · the paper has no such data set; its values are below"
    return header, table, caption


def paper_only_table(spec: StudySpec) -> tuple[list[str], list[list[str]]]:
    """The paper's values of a study as a table: rows × (data set, bits)."""
    reference = reference_rows(spec)
    columns = sorted({(row["dataset"], int(row["bits"])) for row in reference})
    values = {
        (row[spec.label_column], row["dataset"], int(row["bits"])): row["map_at_5000_percent"]
        for row in reference
    }
    header = ["paper row", *[f"{d} {b}" for d, b in columns]]
    labels = list(dict.fromkeys(row[spec.label_column] for row in reference))
    return header, [
        [label, *[values.get((label, d, b), "") for d, b in columns]] for label in labels
    ]


def describe(spec: StudySpec) -> dict[str, Any]:
    """What ``zshbench list studies`` / ``info`` show of a study."""
    return {
        "title": spec.title,
        "rows": [
            f"{label}: {method} {json.dumps(options)}" for label, method, options in spec.rows
        ],
        "bits": list(spec.bits),
        "reference": spec.reference,
    }
