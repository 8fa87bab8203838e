"""What one block of queries contributes to a metric, whichever path (numpy or torch) made it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Block:
    """AP@K per query, and with curves the per-distance counts and the hits in the top N.

    ``counts[i, d]`` / ``hits[i, d]``: items / relevant items at Hamming distance d from query i
    (over the whole database); ``hits_at[i, j]``: relevant items in the top ``grid[j]`` under the
    tie policy (an expectation for ``expected``).
    """

    ap: np.ndarray
    counts: np.ndarray | None = None
    hits: np.ndarray | None = None
    hits_at: np.ndarray | None = None
