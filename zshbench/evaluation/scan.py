"""The numpy path of the metrics: packed distances, the K-th radius, work on candidates only.

Queries go through in blocks. For each block the distances to the whole database are XOR +
popcount (:mod:`.hamming`), a few rows at a time so the scratch stays in cache; then, per
query, :mod:`.ranking` finds the radius that holds the K-th item and only the items inside it
are checked for relevance and ranked. Curves (``grid`` given) need the per-distance counts of
the whole database, so only then is every item of a row counted and checked.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .block import Block
from .expected import Tables, expected_ap, expected_hits_at
from .hamming import DistanceKernel, pack_words
from .inputs import Labels
from .ranking import Ranker
from .relevance import Relevance
from .ties import average_precision, group_members, ranked_candidates, tie_permutation

# Queries per yielded block (the expected policy's arithmetic runs once per block), and the
# (queries x database tile) elements of one distance call's scratch (uint64 each, ~1 MB).
BLOCK_QUERIES = 512
KERNEL_ELEMENTS = 1 << 17


class _Query:
    """One query's row and what every step needs to know about it."""

    def __init__(self, index: int, row: np.ndarray, permutation: np.ndarray | None):
        self.index, self.row, self.permutation = index, row, permutation


def _sorted_hits_at(
    query: _Query, relevant: np.ndarray, counts: np.ndarray, hits: np.ndarray, grid: np.ndarray
) -> np.ndarray:
    """Relevant items in the top N (N in ``grid``) under ``index``/``random``, from the counts:
    whole groups before N, plus the first part of the group N cuts, in tie order."""
    ends, found = np.cumsum(counts), np.cumsum(hits)
    out = np.empty(len(grid), dtype=np.float64)
    members: dict[int, np.ndarray] = {}
    for column, rank in enumerate(grid):
        group = int(np.searchsorted(ends, rank))
        kept = int(rank - (ends[group] - counts[group]))
        if group not in members:
            members[group] = relevant[group_members(query.row, group, query.permutation)]
        out[column] = found[group] - hits[group] + np.count_nonzero(members[group][:kept])
    return out


def _one_query(
    query: _Query, ranker: Ranker, relevance: Relevance, ties: str, grid: np.ndarray | None
) -> tuple[float, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """(AP for a sorted policy, counts, hits, hits@N); counts/hits are inside the radius only
    unless curves are asked for, when they cover the database."""
    row, bins = query.row, ranker.bits + 1
    ranker.radius(row)
    if grid is not None:
        relevant = relevance.of(query.index)
        counts = np.bincount(row, minlength=bins)
        hits = np.bincount(row[relevant], minlength=bins)
    if ties == "expected":
        if grid is None:
            candidates = ranker.mask.nonzero()[0]
            near = row[candidates]
            counts = np.bincount(near, minlength=bins)
            hits = np.bincount(near[relevance.of(query.index, candidates)], minlength=bins)
        return 0.0, counts, hits, None
    top = ranked_candidates(row, ranker.mask, ranker.topk, query.permutation)
    ap = average_precision(relevance.of(query.index, top))
    if grid is None:
        return ap, None, None, None
    return ap, counts, hits, _sorted_hits_at(query, relevant, counts, hits, grid)


def scan(
    query: np.ndarray,
    database: np.ndarray,
    query_lab: Labels,
    db_lab: Labels,
    k: int,
    ties: str,
    seed: int,
    grid: np.ndarray | None,
) -> Iterator[Block]:
    """Per-block results (curve data when ``grid`` is given) of validated sign codes."""
    bits, num_query, num_database = query.shape[1], len(query), len(database)
    kernel = DistanceKernel(pack_words(database), bits)
    query_words = pack_words(query)
    relevance = Relevance(query_lab, db_lab)
    ranker = Ranker(num_database, bits, k)
    tables = Tables(num_database) if ties == "expected" else None
    step = max(1, KERNEL_ELEMENTS // min(num_database, kernel.tile))
    for start in range(0, num_query, BLOCK_QUERIES):
        stop = min(start + BLOCK_QUERIES, num_query)
        ap = np.zeros(stop - start)
        counts = np.zeros((stop - start, bits + 1), dtype=np.int64)
        hits = np.zeros_like(counts)
        hits_at = None if grid is None else np.zeros((stop - start, len(grid)))
        for first in range(start, stop, step):
            rows = kernel(query_words[first : min(first + step, stop)])
            for offset, row in enumerate(rows):
                i = first + offset
                perm = tie_permutation(seed, i, num_database) if ties == "random" else None
                result = _one_query(_Query(i, row, perm), ranker, relevance, ties, grid)
                ap[i - start] = result[0]
                if result[1] is not None:
                    counts[i - start], hits[i - start] = result[1], result[2]
                if result[3] is not None:
                    hits_at[i - start] = result[3]
        block = Block(ap=ap)
        if ties == "expected":
            assert tables is not None
            block.ap = expected_ap(counts, hits, k, tables)
            if grid is not None:
                hits_at = expected_hits_at(counts, hits, grid)
        if grid is not None:
            block.counts, block.hits, block.hits_at = counts, hits, hits_at
        yield block
