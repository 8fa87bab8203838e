"""The ``expected`` tie policy: exact E[AP@K] over all orders inside tie groups, from counts.

Everything here depends only on per-query histograms of (all, relevant) items per Hamming
distance, which is why the policy costs O(bits + min(k, r)) per query once the histograms exist
(SPEC section 2, policy a; McSherry & Najork 2008 for the ties, a hypergeometric count for the
group cut by K). The arithmetic is float64; harmonic and log-factorial tables are in extended
precision where the platform has it.
"""

from __future__ import annotations

import numpy as np

# Upper bound on the (query, x) terms of the hypergeometric sums handled at once.
FLAT_TERMS = 1 << 21


class Tables:
    """H(m) = sum_{j<=m} 1/j and log(m!) for m = 0..N, in extended precision where available.

    The closed forms below subtract these (H(N+n) - H(N), n - (N+1)(H(N+n) - H(N))), so the
    extra bits of long double keep the results at float64 accuracy for databases of 1e5+ items.
    """

    def __init__(self, num_database: int):
        steps = np.arange(1, num_database + 1, dtype=np.longdouble)
        self.harmonic = np.concatenate([[np.longdouble(0)], np.cumsum(1 / steps)])
        self.log_factorial = np.concatenate([[np.longdouble(0)], np.cumsum(np.log(steps))])


def _expected_block_sum(
    before: np.ndarray,
    before_hits: np.ndarray,
    size: np.ndarray,
    hits: np.ndarray,
    tables: Tables,
) -> np.ndarray:
    """E[sum over a tie block of P(k) rel(k)], items in uniformly random order inside the block.

    The block takes ranks before+1 .. before+size and holds ``hits`` relevant items, after
    ``before_hits`` relevant ones. Position i is relevant with probability hits/size and, if so,
    has 1 + (i-1)(hits-1)/(size-1) relevant items up to it in the block, so the sum is
    (hits/size) * sum_i (a + s(i-1)) / (before + i), a = before_hits + 1, s = the slope. Split
    as a*T0 + s*T1 with T0 = sum_i 1/(before+i) = H(before+size) - H(before) and
    T1 = sum_i (i-1)/(before+i) = size - (before+1)*T0: both sums are non-negative, so nothing
    cancels in float64 (the cancellation inside T1 happens in long double). size = 1 (or
    hits = 0) makes the slope term vanish.
    """
    harmonic = tables.harmonic
    t0 = harmonic[before + size] - harmonic[before]
    t1 = size.astype(np.longdouble) - (before + 1).astype(np.longdouble) * t0
    t0 = t0.astype(np.float64)
    t1 = np.maximum(t1.astype(np.float64), 0.0)
    safe_size = np.maximum(size, 1).astype(np.float64)
    slope = np.where(size > 1, (hits - 1) / np.maximum(size - 1, 1), 0.0)
    value = hits / safe_size * ((before_hits + 1) * t0 + slope * t1)
    return np.where(hits > 0, value, 0.0)


def cut_group(counts: np.ndarray, hits: np.ndarray, rank: int) -> dict[str, np.ndarray]:
    """Per query, the distance group containing rank ``rank`` (1-based) and what lies before it."""
    rows = np.arange(len(counts))
    cum_counts = counts.cumsum(1)
    cum_hits = hits.cumsum(1)
    group = (cum_counts < rank).sum(1)
    size = counts[rows, group]
    before = cum_counts[rows, group] - size
    return {
        "group": group,
        "size": size,
        "hits": hits[rows, group],
        "before": before,
        "before_hits": cum_hits[rows, group] - hits[rows, group],
        "kept": rank - before,
    }


def expected_ap(counts: np.ndarray, hits: np.ndarray, topk: int, tables: Tables) -> np.ndarray:
    """Exact E[AP@K] per query over all orders inside tie groups (SPEC section 2, policy a).

    Groups wholly inside the top K contribute their expected precision sums F. The group b cut
    by K keeps k of its n positions; the number X of relevant items among them is
    hypergeometric(n, r_b, k), and given X = x the kept positions are a uniform arrangement of x
    relevant items, so E[AP | x] = (F + E[block sum | x]) / (R_<b + x), with 0 when R_<b + x = 0.
    Work per query is O(bits + min(k, r_b)), independent of the tie sizes.
    """
    num_rows, bins = counts.shape
    cut = cut_group(counts, hits, topk)
    cum_counts = counts.cumsum(1)
    before = cum_counts - counts
    before_hits = hits.cumsum(1) - hits
    full = np.arange(bins)[None, :] < cut["group"][:, None]
    terms = _expected_block_sum(before, before_hits, counts, hits, tables)
    full_sum = np.where(full, terms, 0.0).sum(1)

    size, kept, group_hits = cut["size"], cut["kept"], cut["hits"]
    low = np.maximum(0, kept - (size - group_hits))
    high = np.minimum(kept, group_hits)
    width = high - low + 1
    ap = np.zeros(num_rows, dtype=np.float64)
    ends = np.cumsum(width)
    start = 0
    while start < num_rows:
        # the largest run of queries whose hypergeometric supports fit in FLAT_TERMS
        offset = ends[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, offset + FLAT_TERMS, side="right")))
        part = slice(start, stop)
        ap[part] = _cut_group_expectation(
            full_sum[part],
            cut["before"][part],
            cut["before_hits"][part],
            size[part],
            group_hits[part],
            kept[part],
            low[part],
            width[part],
            tables,
        )
        start = stop
    return ap


def _cut_group_expectation(
    full_sum: np.ndarray,
    before: np.ndarray,
    before_hits: np.ndarray,
    size: np.ndarray,
    group_hits: np.ndarray,
    kept: np.ndarray,
    low: np.ndarray,
    width: np.ndarray,
    tables: Tables,
) -> np.ndarray:
    """sum_x P(X = x) (F + E[block sum | x]) / (R_<b + x) for a run of queries, flattened."""
    rows = len(width)
    row_of = np.repeat(np.arange(rows), width)
    starts = np.cumsum(width) - width
    x = low[row_of] + (np.arange(int(width.sum())) - starts[row_of])

    n, r, k = size[row_of], group_hits[row_of], kept[row_of]
    lf = tables.log_factorial
    log_pmf = (lf[r] + lf[n - r] - lf[n] + lf[k] + lf[n - k]) - (
        lf[x] + lf[r - x] + lf[k - x] + lf[n - r - k + x]
    )
    pmf = np.exp(log_pmf).astype(np.float64)
    pmf /= np.bincount(row_of, weights=pmf, minlength=rows)[row_of]

    block = _expected_block_sum(before[row_of], before_hits[row_of], k, x, tables)
    found = before_hits[row_of] + x
    value = np.divide(full_sum[row_of] + block, found, out=np.zeros(len(x)), where=found > 0)
    return np.bincount(row_of, weights=pmf * value, minlength=rows)


def expected_hits_at(counts: np.ndarray, hits: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """E[relevant items in the top N] = R_<b + k_b r_b / n_b, per query (rows) and N (columns)."""
    out = np.empty((len(counts), len(grid)), dtype=np.float64)
    for column, rank in enumerate(grid):
        cut = cut_group(counts, hits, int(rank))
        out[:, column] = cut["before_hits"] + cut["kept"] * cut["hits"] / cut["size"]
    return out
