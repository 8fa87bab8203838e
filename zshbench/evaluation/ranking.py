"""The radius that holds a query's K-th item, and the candidates inside it.

Distances take only bits + 1 values, so the top K of a query is every item closer than some
radius r plus part of the tie group at r. Finding r needs no histogram of the row: a few
exact counts (a compare into a reused mask plus a count of it) bracket and confirm it.
Everything after that touches only the candidates, about K items, so the work beyond the
distances shrinks with K.
"""

from __future__ import annotations

import numpy as np


class Ranker:
    """Per query row: the radius of the K-th item and the mask of the items inside it.

    The search starts at the previous query's radius (queries of one data set have similar
    radii) and brackets the answer by doubling steps, then bisects: a few exact counts per
    query, each a compare into a reused mask plus a popcount of it.
    """

    def __init__(self, num_database: int, bits: int, topk: int):
        self.topk, self.bits = topk, bits
        self.mask = np.empty(num_database, dtype=bool)
        self._guess = bits // 2
        self._tested = -1

    def _holds(self, row: np.ndarray, radius: int) -> bool:
        """Do at least K items lie within ``radius``? (leaves ``self.mask`` = row <= radius)"""
        np.less_equal(row, radius, out=self.mask)
        self._tested = radius
        return int(np.count_nonzero(self.mask)) >= self.topk

    def radius(self, row: np.ndarray) -> int:
        """The smallest r with at least K items at distance <= r; ``self.mask`` = row <= r."""
        if self.topk >= len(row):
            self.mask[:] = True
            return self.bits
        low, high, step = -1, self.bits, 1  # invariant: r(low) < K <= r(high) items
        guess = self._guess
        if self._holds(row, guess):
            high = guess
            while high - step > low and self._holds(row, high - step):
                high, step = high - step, step * 2
            low = max(low, high - step)
        else:
            low = guess
            while low + step < high and not self._holds(row, low + step):
                low, step = low + step, step * 2
            high = min(high, low + step)
        while high - low > 1:
            middle = (low + high) // 2
            if self._holds(row, middle):
                high = middle
            else:
                low = middle
        if self._tested != high:
            np.less_equal(row, high, out=self.mask)
        self._guess = high
        return high
