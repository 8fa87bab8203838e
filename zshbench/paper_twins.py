"""The paper's figures as twin rows: ``razh (paper)`` right under the measured ``razh``.

``report --paper`` used to print the reference rows as one block below the measured ones, so a
reader matched names by eye across the table. Here each reference row goes directly under the
run it describes, matched by name (case-insensitive, exactly: ``razh`` ↔ RAZH; a run with
options, ``razh@70730d31``, is another configuration and gets no twin); the paper's methods
nobody ran stay at the table's end. The CSV gets the same figure as a column beside each cell.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

PAPER_SUFFIX = " (paper)"


def _run_name(cell: str) -> str:
    """A leaderboard row's run name, without marks such as the pretraining-overlap dagger."""
    return cell.split(" ")[0].lower()


def twin_order(rows: list[list], paper_rows: list[list[str]]) -> list[tuple[list, bool]]:
    """(row, is_paper) in display order: every paper row under the run of its method's name,
    the ones no run matches after all the measured rows."""
    by_method: dict[str, list[list[str]]] = {}
    for row in paper_rows:
        by_method.setdefault(row[0].removesuffix(PAPER_SUFFIX).lower(), []).append(row)
    ordered: list[tuple[list, bool]] = []
    for row in rows:
        ordered.append((row, False))
        ordered += [(twin, True) for twin in by_method.pop(_run_name(row[0]), [])]
    ordered += [(row, True) for twins in by_method.values() for row in twins]
    return ordered


def paper_values(
    registered: Iterable[tuple[Any, list[Any]]], dataset: str, metric: str
) -> dict[tuple[str, int], float]:
    """{(method name in lower case, bits): the paper's value in %} for one data set and metric."""
    return {
        (figure.method.lower(), figure.bits): figure.value
        for spec, figures in registered
        if spec.metric == metric
        for figure in figures
        if figure.dataset == dataset
    }


def paper_column(summary: Any, registered: list[tuple[Any, list[Any]]]) -> list[float | None]:
    """The CSV's ``paper_pct``: per summary row, the paper's figure for its method (by exact
    name, as :func:`twin_order`), data set, metric and code length, or None (an empty field)."""
    cache: dict[tuple[str, str], dict[tuple[str, int], float]] = {}
    column: list[float | None] = []
    for dataset, metric, method, bits in zip(
        summary["dataset"], summary["metric"], summary["method"], summary["bits"], strict=True
    ):
        values = cache.setdefault((dataset, metric), paper_values(registered, dataset, metric))
        column.append(values.get((str(method).lower(), int(bits))))
    return column
