"""PR by Hamming radius, P@N and R@N: macro averages from per-query, per-distance counts.

Built only when asked for (``evaluate(curves=True)``, ``zshbench eval --curves``, and every
``run`` record); mAP never pays for them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .block import Block


def _mean_or_none(total: np.ndarray, count: np.ndarray) -> list[float | None]:
    return [float(t / c) if c > 0 else None for t, c in zip(total, count, strict=True)]


class CurveSums:
    """Running sums of the curves over blocks of queries."""

    def __init__(self, bits: int, grid: np.ndarray):
        self.bits, self.grid = bits, grid
        self.precision_sum = np.zeros(bits + 1)
        self.precision_count = np.zeros(bits + 1, dtype=np.int64)
        self.recall_sum = np.zeros(bits + 1)
        self.recall_count = 0
        self.p_at_sum = np.zeros(len(grid))
        self.r_at_sum = np.zeros(len(grid))
        self.queries = 0

    def add(self, block: Block) -> None:
        assert block.counts is not None and block.hits is not None and block.hits_at is not None
        retrieved = block.counts.cumsum(1)
        found = block.hits.cumsum(1)
        total_relevant = found[:, -1]
        self.precision_sum += np.divide(
            found, retrieved, out=np.zeros(found.shape), where=retrieved > 0
        ).sum(0)
        self.precision_count += (retrieved > 0).sum(0)
        has_relevant = total_relevant > 0
        self.recall_sum += (found[has_relevant] / total_relevant[has_relevant, None]).sum(0)
        self.recall_count += int(has_relevant.sum())
        self.p_at_sum += (block.hits_at / self.grid[None, :]).sum(0)
        self.r_at_sum += (block.hits_at[has_relevant] / total_relevant[has_relevant, None]).sum(0)
        self.queries += len(block.ap)

    def result(self) -> dict[str, Any]:
        """``pr_curve``, ``p_at_n`` and ``r_at_n`` as documented in ``evaluate``."""
        grid, bits = self.grid, self.bits
        return {
            "pr_curve": {
                "radius": list(range(bits + 1)),
                "precision": _mean_or_none(self.precision_sum, self.precision_count),
                "recall": _mean_or_none(self.recall_sum, np.full(bits + 1, self.recall_count)),
            },
            "p_at_n": {
                "n": [int(v) for v in grid],
                "precision": [float(v / self.queries) for v in self.p_at_sum],
            },
            "r_at_n": {
                "n": [int(v) for v in grid],
                "recall": _mean_or_none(self.r_at_sum, np.full(len(grid), self.recall_count)),
            },
        }


def collect(blocks: Iterable[Block], bits: int, grid: np.ndarray | None) -> tuple[np.ndarray, dict]:
    """All per-query AP values, and the curves when ``grid`` is given (else an empty dict)."""
    sums = CurveSums(bits, grid) if grid is not None else None
    parts = []
    for block in blocks:
        parts.append(block.ap)
        if sums is not None:
            sums.add(block)
    return np.concatenate(parts), (sums.result() if sums is not None else {})
