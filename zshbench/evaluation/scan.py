"""The numpy path of the metrics: packed distances, the K-th radius, work on candidates only.

Queries go through in blocks. For each block the distances to the whole database are XOR +
popcount (:mod:`.hamming`), a few rows at a time so the scratch stays in cache; then, per
query, :mod:`.ranking` finds the radius that holds the K-th item and only the items inside it
are checked for relevance and ranked. Curves (``grid`` given) need the per-distance counts of
the whole database, so only then is every item of a row counted and checked.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

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


@dataclass
class _Task:
    """What every block of one evaluation shares (read-only, so threads share it too)."""

    query_words: np.ndarray
    db_words: np.ndarray
    relevance: Relevance
    tables: Tables | None
    bits: int
    k: int
    ties: str
    seed: int
    grid: np.ndarray | None


class _Worker:
    """One thread's distance scratch and radius state; ``run`` scores a block of queries."""

    def __init__(self, task: _Task):
        self.task = task
        self.kernel = DistanceKernel(task.db_words, task.bits)
        self.ranker = Ranker(len(task.db_words), task.bits, task.k)
        self.step = max(1, KERNEL_ELEMENTS // min(len(task.db_words), self.kernel.tile))

    def run(self, start: int, stop: int) -> Block:
        task, grid, bins = self.task, self.task.grid, self.task.bits + 1
        ap, counts = np.zeros(stop - start), np.zeros((stop - start, bins), dtype=np.int64)
        hits, hits_at = np.zeros_like(counts), None
        if grid is not None:
            hits_at = np.zeros((stop - start, len(grid)))
        size = len(task.db_words)
        for first in range(start, stop, self.step):
            rows = self.kernel(task.query_words[first : min(first + self.step, stop)])
            for i, row in enumerate(rows, start=first):
                perm = tie_permutation(task.seed, i, size) if task.ties == "random" else None
                result = _one_query(
                    _Query(i, row, perm), self.ranker, task.relevance, task.ties, grid
                )
                ap[i - start] = result[0]
                if result[1] is not None:
                    counts[i - start], hits[i - start] = result[1], result[2]
                if hits_at is not None and result[3] is not None:
                    hits_at[i - start] = result[3]
        block = Block(ap=ap)
        if task.ties == "expected":
            assert task.tables is not None
            block.ap = expected_ap(counts, hits, task.k, task.tables)
            if grid is not None:
                hits_at = expected_hits_at(counts, hits, grid)
        if grid is not None:
            block.counts, block.hits, block.hits_at = counts, hits, hits_at
        return block


def scan(
    query: np.ndarray,
    database: np.ndarray,
    query_lab: Labels,
    db_lab: Labels,
    k: int,
    ties: str,
    seed: int,
    grid: np.ndarray | None,
    threads: int = 1,
) -> Iterator[Block]:
    """Per-block results (curve data when ``grid`` is given) of validated sign codes.

    With ``threads`` > 1 the blocks are scored by that many threads (numpy releases the GIL in
    the XOR, popcount, compare and sort loops), each with its own scratch; the results are the
    same numbers in the same order.
    """
    task = _Task(
        pack_words(query), pack_words(database), Relevance(query_lab, db_lab),
        Tables(len(database)) if ties == "expected" else None,
        query.shape[1], k, ties, seed, grid,
    )  # fmt: skip
    size = max(1, min(BLOCK_QUERIES, -(-len(query) // max(1, threads))))
    spans = [(start, min(start + size, len(query))) for start in range(0, len(query), size)]
    if threads <= 1 or len(spans) == 1:
        worker = _Worker(task)
        for start, stop in spans:
            yield worker.run(start, stop)
        return
    local = threading.local()

    def run(span: tuple[int, int]) -> Block:
        if not hasattr(local, "worker"):
            local.worker = _Worker(task)
        return local.worker.run(*span)

    with ThreadPoolExecutor(threads) as pool:
        yield from pool.map(run, spans)
