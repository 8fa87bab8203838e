"""The ``index`` and ``random`` tie policies on a query's candidates, and AP of a ranked list.

``index`` orders ties by database index: a stable sort of the candidates' distances (the
candidates come in index order). ``random`` follows its definition exactly: the query's
permutation ``default_rng([seed, query]).permutation(N)``, then a stable sort on distance; the
candidates are taken in permutation order, so the same order results as sorting all N. (The
permutation itself is O(N) per query; that is the price of a policy defined by it.)
"""

from __future__ import annotations

import numpy as np


def tie_permutation(seed: int, query_index: int, num_database: int) -> np.ndarray:
    """The random policy's order of the database for one query."""
    return np.random.default_rng([seed, query_index]).permutation(num_database)


def ranked_candidates(
    row: np.ndarray, mask: np.ndarray, topk: int, permutation: np.ndarray | None
) -> np.ndarray:
    """Database indices of the top K in rank order; ``mask`` marks the items inside the radius.

    ``permutation`` None is the ``index`` policy, else the ``random`` policy's permutation.
    """
    if permutation is None:
        candidates = mask.nonzero()[0]
    else:
        candidates = permutation[mask[permutation]]
    order = np.argsort(row[candidates], kind="stable")[:topk]
    return candidates[order]


def average_precision(relevant_ranked: np.ndarray) -> float:
    """AP of a ranked relevance list: sum P(k) rel(k) / R; 0 when nothing is relevant."""
    positions = np.flatnonzero(relevant_ranked)
    if positions.size == 0:
        return 0.0
    precisions = np.arange(1, positions.size + 1, dtype=np.float64) / (positions + 1)
    return float(precisions.sum() / positions.size)


def group_members(row: np.ndarray, distance: int, permutation: np.ndarray | None) -> np.ndarray:
    """The items at ``distance`` in tie order (index order, or the permutation's order)."""
    if permutation is None:
        return np.flatnonzero(row == distance)
    return permutation[row[permutation] == distance]
