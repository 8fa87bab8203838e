"""Checking what a caller hands the metrics: codes, labels, K, the tie policy, seed and N grid.

Every check runs before any heavy work, so bad input fails in a second with one clear line. Kept
apart from the arithmetic so the numpy and torch paths share one set of rules (and neither
imports the other).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ZshbenchError
from .codes import _as_numpy, to_signs

TIE_POLICIES: tuple[str, ...] = ("expected", "random", "index")
DEFAULT_TIES = "expected"


def check_ties(ties: str) -> str:
    if ties not in TIE_POLICIES:
        raise ZshbenchError(
            f"unknown tie policy {ties!r}", f"Use one of: {', '.join(TIE_POLICIES)}."
        )
    return ties


def resolve_topk(topk: int | None, num_database: int) -> int:
    """The number of ranks AP looks at: None / -1 / anything >= N means all N."""
    if topk is None:
        return num_database
    if isinstance(topk, bool) or not isinstance(topk, (int, np.integer)):
        raise ZshbenchError(
            f"topk must be an integer or None, got {topk!r}", "Use e.g. topk=5000, or None for all."
        )
    topk = int(topk)
    if topk == -1:
        return num_database
    if topk < 1:
        raise ZshbenchError(
            f"topk must be positive (or -1/None for the whole database), got {topk}",
            "Use e.g. topk=5000.",
        )
    return min(topk, num_database)


def check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ZshbenchError(f"seed must be a non-negative integer, got {seed!r}", "Use e.g. 0.")
    return int(seed)


def prepare_codes(query_codes: Any, db_codes: Any) -> tuple[np.ndarray, np.ndarray, int]:
    query = to_signs(query_codes, "query codes")
    database = to_signs(db_codes, "database codes")
    if query.shape[1] != database.shape[1]:
        raise ZshbenchError(
            f"query codes have {query.shape[1]} bits but database codes {database.shape[1]}",
            "Encode queries and database with the same model.",
        )
    if len(query) == 0 or len(database) == 0:
        raise ZshbenchError(
            f"nothing to evaluate: {len(query)} queries, {len(database)} database items",
            "Check the split.",
        )
    bits = query.shape[1]
    if bits > 1 << 24:
        raise ZshbenchError(
            f"{bits} bits exceed 2**24, where float32 distances stop being exact",
            "Use shorter codes.",
        )
    return query, database, bits


@dataclass
class Labels:
    """Labels ready for relevance: class ids (1-D int64) or multi-hot rows (2-D float32)."""

    values: np.ndarray
    multi_hot: bool


def prepare_one_labels(labels: Any, name: str, count: int | None) -> Labels:
    array = _as_numpy(labels, name)
    if count is not None and (array.ndim == 0 or len(array) != count):
        raise ZshbenchError(
            f"{name} has {len(array) if array.ndim else 0} rows but there are {count} codes",
            "Pass one label (or multi-hot row) per code, in the same order.",
        )
    if array.ndim == 1:
        if np.issubdtype(array.dtype, np.integer):
            return Labels(array.astype(np.int64), False)
        if (
            np.issubdtype(array.dtype, np.floating)
            and np.all(np.isfinite(array))
            and np.all(array == np.round(array))
        ):
            return Labels(array.astype(np.int64), False)
        raise ZshbenchError(
            f"{name} must be integer class ids, got dtype {array.dtype}",
            "Pass 1-D integer class ids, or 2-D multi-hot rows.",
        )
    if array.ndim == 2:
        if not (array.dtype == np.bool_ or np.issubdtype(array.dtype, np.number)):
            raise ZshbenchError(f"{name} have dtype {array.dtype}", "Use 0/1 multi-hot rows.")
        if array.dtype != np.bool_ and not np.all((array == 0) | (array == 1)):
            raise ZshbenchError(
                f"2-D {name} must be multi-hot 0/1 rows",
                "Pass class ids as a 1-D array (shape (N,), not (N, 1)).",
            )
        return Labels(array.astype(np.float32), True)
    raise ZshbenchError(
        f"{name} must be 1-D class ids or 2-D multi-hot rows, got shape {tuple(array.shape)}",
        "Pass one label per code.",
    )


def prepare_labels(
    query_labels: Any, db_labels: Any, num_query: int | None, num_database: int | None
) -> tuple[Labels, Labels]:
    query = prepare_one_labels(query_labels, "query labels", num_query)
    database = prepare_one_labels(db_labels, "database labels", num_database)
    if query.multi_hot != database.multi_hot:
        raise ZshbenchError(
            "query and database labels differ in kind (class ids vs multi-hot rows)",
            "Use the same label format for both.",
        )
    if query.multi_hot and query.values.shape[1] != database.values.shape[1]:
        raise ZshbenchError(
            f"multi-hot labels differ in width: {query.values.shape[1]} query vs "
            f"{database.values.shape[1]} database columns",
            "Use the same label vocabulary for both.",
        )
    return query, database


def default_n_grid(num_database: int) -> np.ndarray:
    """1, 5, 10, 20, 50, 100, 200, 500, ... below ``num_database``, then ``num_database``."""
    grid = [1]
    decade = 1
    while True:
        values = [5 * decade, 10 * decade, 20 * decade]
        if values[0] >= num_database:
            break
        grid.extend(v for v in values if v < num_database)
        decade *= 10
    grid = sorted({v for v in grid if v < num_database} | {num_database})
    return np.asarray(grid, dtype=np.int64)


def check_grid(n_grid: Any, num_database: int) -> np.ndarray:
    if n_grid is None:
        return default_n_grid(num_database)
    grid = _as_numpy(n_grid, "n_grid")
    if grid.ndim != 1 or grid.size == 0 or not np.issubdtype(grid.dtype, np.integer):
        raise ZshbenchError("n_grid must be a non-empty list of integers", "Use e.g. [1, 100].")
    if (grid < 1).any():
        raise ZshbenchError("n_grid values must be at least 1", "Use e.g. [1, 100, 1000].")
    grid = np.unique(grid[grid <= num_database]).astype(np.int64)
    if grid.size == 0:
        raise ZshbenchError(
            f"every n_grid value exceeds the database size {num_database}",
            "Use smaller N.",
        )
    return grid


def check_threads(threads: int) -> int:
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ZshbenchError(f"threads must be a positive integer, got {threads!r}", "Use e.g. 1.")
    return int(threads)
