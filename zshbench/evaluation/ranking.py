"""The radius that holds a query's K-th item, and the candidates inside it.

Distances take only bits + 1 values, so the top K of a query is every item closer than some
radius r plus part of the tie group at r. Finding r needs no full histogram: a strided sample
of the row guesses it, and one or two exact counts (a compare into a reused mask plus a
popcount) confirm it. Everything after that touches only the candidates, about K items, so the
work beyond the distances shrinks with K.
"""

from __future__ import annotations

import numpy as np

_SAMPLE = 4096  # items in the sample that guesses the radius


class Ranker:
    """Per query row: the radius of the K-th item and the mask of the items inside it."""

    def __init__(self, num_database: int, bits: int, topk: int):
        self.topk, self.bits = topk, bits
        self.stride = max(1, num_database // _SAMPLE)
        self.mask = np.empty(num_database, dtype=bool)
        self._spare = np.empty(num_database, dtype=bool)

    def _count(self, row: np.ndarray, radius: int, out: np.ndarray) -> int:
        np.less_equal(row, radius, out=out)
        return int(np.count_nonzero(out))

    def _guess(self, row: np.ndarray) -> int:
        sample = np.bincount(row[:: self.stride], minlength=self.bits + 1)
        scale = len(row) / max(1, -(-len(row) // self.stride))
        return min(self.bits, int(np.searchsorted(np.cumsum(sample) * scale, self.topk)))

    def radius(self, row: np.ndarray) -> int:
        """The smallest r with at least K items at distance <= r; ``self.mask`` = row <= r."""
        if self.topk >= len(row):
            self.mask[:] = True
            return self.bits
        radius = self._guess(row)
        if self._count(row, radius, self.mask) < self.topk:
            radius += 1
            while self._count(row, radius, self.mask) < self.topk:
                radius += 1
            return radius
        while radius > 0 and self._count(row, radius - 1, self._spare) >= self.topk:
            radius -= 1
            self.mask, self._spare = self._spare, self.mask
        return radius
