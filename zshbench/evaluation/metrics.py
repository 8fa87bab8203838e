"""Hash-code retrieval metrics: Hamming ranking, mAP@K under a named tie policy, PR, P@N, R@N.

Conventions (SPEC section 2), shared with DeepHash-pytorch's ``CalcTopMap`` and RAZH's own code:

* AP@K = (1/R) * sum_{k<=K} P(k) rel(k), with R the number of relevant items *within the top K*;
  AP = 0 when R = 0, and such queries still count in the mean (excluding them inflates mAP).
* ``topk`` None or -1 (or any K >= database size) means the whole database, last item included.
* Hamming distances tie massively (at 24 bits a few thousand items can share the distance that
  straddles rank 5000), so the order inside a tie group is part of the metric and every result
  names its tie policy:

  - ``expected`` (default, the principled one): the exact expectation of AP@K over all orders
    inside tie groups, including the group cut by K (McSherry & Najork 2008 for ties; a
    hypergeometric count of the relevant items that land inside K for the cut group). No
    sampling; it depends only on the per-query histograms of (all, relevant) items per distance.
  - ``random``: one random order inside ties per query, drawn from
    ``np.random.default_rng([seed, query_index]).permutation(N)`` followed by a stable sort on
    distance; so it depends on the seed and the query's position, never on chunking or device.
  - ``index``: ties broken by database index (stable sort), what most published code does; the
    score then depends on the order the database happens to be stored in.

Everything heavy (distances, relevance, histograms, sorting) runs in torch on ``device`` over
chunks of queries, so memory stays bounded; the per-query arithmetic of ``expected`` is float64
(harmonic and log-factorial tables in extended precision where the platform has it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import ZshbenchError
from .codes import _as_numpy, to_signs

__all__ = [
    "DEFAULT_TIES",
    "TIE_POLICIES",
    "average_precision_per_query",
    "default_n_grid",
    "evaluate",
    "hamming_distances",
    "mean_average_precision",
    "relevance",
]

TIE_POLICIES: tuple[str, ...] = ("expected", "random", "index")
DEFAULT_TIES = "expected"

# Upper bound on the elements of one (queries x database) block. Peak memory is a few tens of
# bytes per element (distances, relevance, sort order, cumulative counts): ~100-200 MB.
_CHUNK_ELEMENTS = 1 << 22
# Upper bound on the (query, x) terms of the hypergeometric sums handled at once.
_FLAT_TERMS = 1 << 21


# --------------------------------------------------------------------------------------------
# inputs


def _resolve_device(device: str | torch.device | None) -> torch.device:
    """None -> cuda when available else cpu; asking for an absent GPU is a user error."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ZshbenchError(f"unknown device {device!r}", "Use 'cpu' or 'cuda'.") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ZshbenchError(
            "device 'cuda' was asked for but torch sees no GPU",
            "Use device='cpu' or leave device unset to pick automatically.",
        )
    return resolved


def _check_ties(ties: str) -> str:
    if ties not in TIE_POLICIES:
        raise ZshbenchError(
            f"unknown tie policy {ties!r}", f"Use one of: {', '.join(TIE_POLICIES)}."
        )
    return ties


def _resolve_topk(topk: int | None, num_database: int) -> int:
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


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ZshbenchError(f"seed must be a non-negative integer, got {seed!r}", "Use e.g. 0.")
    return int(seed)


def _prepare_codes(query_codes: Any, db_codes: Any) -> tuple[np.ndarray, np.ndarray, int]:
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
class _Labels:
    """Labels ready for relevance: class ids (1-D int64) or multi-hot rows (2-D float32)."""

    values: np.ndarray
    multi_hot: bool


def _prepare_one_labels(labels: Any, name: str, count: int | None) -> _Labels:
    array = _as_numpy(labels, name)
    if count is not None and (array.ndim == 0 or len(array) != count):
        raise ZshbenchError(
            f"{name} has {len(array) if array.ndim else 0} rows but there are {count} codes",
            "Pass one label (or multi-hot row) per code, in the same order.",
        )
    if array.ndim == 1:
        if np.issubdtype(array.dtype, np.integer):
            return _Labels(array.astype(np.int64), False)
        if (
            np.issubdtype(array.dtype, np.floating)
            and np.all(np.isfinite(array))
            and np.all(array == np.round(array))
        ):
            return _Labels(array.astype(np.int64), False)
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
        return _Labels(array.astype(np.float32), True)
    raise ZshbenchError(
        f"{name} must be 1-D class ids or 2-D multi-hot rows, got shape {tuple(array.shape)}",
        "Pass one label per code.",
    )


def _prepare_labels(
    query_labels: Any, db_labels: Any, num_query: int | None, num_database: int | None
) -> tuple[_Labels, _Labels]:
    query = _prepare_one_labels(query_labels, "query labels", num_query)
    database = _prepare_one_labels(db_labels, "database labels", num_database)
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


def _relevance_block(query: torch.Tensor, database: torch.Tensor, multi_hot: bool) -> torch.Tensor:
    """(c, N) bool: does each query share a label with each database item."""
    if multi_hot:
        return (query @ database.T) > 0.5
    return query[:, None] == database[None, :]


# --------------------------------------------------------------------------------------------
# distances and relevance (public building blocks)


def _distance_dtype(bits: int) -> torch.dtype:
    """The smallest type holding 0..bits; 8/16-bit keys get numpy's O(N) radix sort."""
    if bits <= 255:
        return torch.uint8
    if bits <= 32767:
        return torch.int16
    return torch.int32


def _distance_block(query_scaled: torch.Tensor, db_t: torch.Tensor, bits: int) -> torch.Tensor:
    """Hamming distances (bits - q.db) / 2 of a query block, from -q/2 (c, bits) and db^T.

    Every partial sum is a multiple of 1/2 below 2**23, so float32 (and TF32/bf16 inputs) are
    exact; the rounding only guards against exotic backends.
    """
    block = torch.mm(query_scaled, db_t)
    block.add_(bits / 2).round_()
    return block.to(_distance_dtype(bits))


def _chunk_rows(num_database: int) -> int:
    return max(1, _CHUNK_ELEMENTS // max(num_database, 1))


def hamming_distances(
    query_codes: Any, db_codes: Any, device: str | torch.device | None = None
) -> torch.Tensor:
    """(Q, N) int32 Hamming distances on ``device``, computed by a float32 matmul of signs.

    d = (bits - q . db) / 2 is exact for codes up to 2**24 bits; queries go in chunks so only
    the output is (Q, N).
    """
    dev = _resolve_device(device)
    query, database, bits = _prepare_codes(query_codes, db_codes)
    db_t = torch.from_numpy(database).to(dev, torch.float32).T.contiguous()
    query_scaled = torch.from_numpy(query).to(dev, torch.float32).mul_(-0.5)
    out = torch.empty((len(query), len(database)), dtype=torch.int32, device=dev)
    rows = _chunk_rows(len(database))
    for start in range(0, len(query), rows):
        stop = min(start + rows, len(query))
        out[start:stop] = _distance_block(query_scaled[start:stop], db_t, bits)
    return out


def relevance(
    query_labels: Any, db_labels: Any, device: str | torch.device | None = None
) -> torch.Tensor:
    """(Q, N) bool on ``device``: query and database item share at least one label.

    Labels are 1-D class ids (relevant = same class) or 2-D multi-hot rows (relevant = at least
    one common label). Built in query chunks so intermediates stay small; the metrics never call
    this on all queries at once.
    """
    dev = _resolve_device(device)
    query, database = _prepare_labels(query_labels, db_labels, None, None)
    q = torch.from_numpy(query.values).to(dev)
    db = torch.from_numpy(database.values).to(dev)
    out = torch.empty((len(q), len(db)), dtype=torch.bool, device=dev)
    rows = _chunk_rows(len(db))
    for start in range(0, len(q), rows):
        stop = min(start + rows, len(q))
        out[start:stop] = _relevance_block(q[start:stop], db, query.multi_hot)
    return out


# --------------------------------------------------------------------------------------------
# per-chunk machinery


def _histograms(
    distances: torch.Tensor, relevant: torch.Tensor, bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per query, how many items (all, relevant) sit at each distance 0..bits: (c, bits+1).

    One bincount over the key row * 2 * bins + 2 * distance + relevant gives both at once.
    """
    rows = distances.shape[0]
    dtype = torch.int32 if rows * 2 * bins < 2**31 else torch.int64
    offsets = torch.arange(rows, device=distances.device, dtype=dtype) * (2 * bins)
    keys = distances.to(dtype).mul_(2).add_(relevant).add_(offsets[:, None])
    both = torch.bincount(keys.view(-1), minlength=rows * 2 * bins).view(rows, bins, 2)
    both = both.cpu().numpy().astype(np.int64)
    return both.sum(2), both[:, :, 1].copy()


def _stable_argsort(keys: torch.Tensor) -> torch.Tensor:
    """Row-wise stable argsort; on CPU numpy's radix sort (8/16-bit keys) is ~10x torch's."""
    if keys.device.type == "cpu":
        return torch.from_numpy(np.argsort(keys.numpy(), axis=1, kind="stable"))
    return torch.sort(keys, dim=1, stable=True).indices


def _tie_permutations(first_query: int, rows: int, num_database: int, seed: int) -> np.ndarray:
    """The random policy's per-query permutations: default_rng([seed, query]).permutation(N)."""
    out = np.empty((rows, num_database), dtype=np.int64)
    for row in range(rows):
        out[row] = np.random.default_rng([seed, first_query + row]).permutation(num_database)
    return out


def _ranking(distances: torch.Tensor, ties: str, first_query: int, seed: int) -> torch.Tensor:
    """(c, N) database indices in rank order under the ``index`` or ``random`` tie policy."""
    if ties == "index":
        return _stable_argsort(distances)
    perms = torch.from_numpy(
        _tie_permutations(first_query, distances.shape[0], distances.shape[1], seed)
    ).to(distances.device)
    return perms.gather(1, _stable_argsort(distances.gather(1, perms)))


def _ap_from_sorted(relevant_sorted: torch.Tensor, topk: int) -> np.ndarray:
    """AP@K of relevance rows already in rank order (c, >= K): sum P(k) rel(k) / R_K.

    Only the relevant positions are visited, so memory is one int32 cumulative count per cell.
    """
    top = relevant_sorted[:, :topk]
    hits = top.cumsum(1, dtype=torch.int32)
    rows, cols = top.nonzero(as_tuple=True)
    terms = hits[rows, cols].to(torch.float64) / (cols + 1).to(torch.float64)
    total = torch.zeros(top.shape[0], dtype=torch.float64, device=top.device)
    total.index_add_(0, rows, terms)
    found = hits[:, -1].to(torch.float64)
    ap = torch.where(found > 0, total / found.clamp(min=1), torch.zeros_like(total))
    return ap.cpu().numpy()


class _Tables:
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
    tables: _Tables,
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


def _cut_group(counts: np.ndarray, hits: np.ndarray, rank: int) -> dict[str, np.ndarray]:
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


def _expected_ap(counts: np.ndarray, hits: np.ndarray, topk: int, tables: _Tables) -> np.ndarray:
    """Exact E[AP@K] per query over all orders inside tie groups (SPEC section 2, policy a).

    Groups wholly inside the top K contribute their expected precision sums F. The group b cut
    by K keeps k of its n positions; the number X of relevant items among them is
    hypergeometric(n, r_b, k), and given X = x the kept positions are a uniform arrangement of x
    relevant items, so E[AP | x] = (F + E[block sum | x]) / (R_<b + x), with 0 when R_<b + x = 0.
    Work per query is O(bits + min(k, r_b)), independent of the tie sizes.
    """
    num_rows, bins = counts.shape
    cut = _cut_group(counts, hits, topk)
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
        # the largest run of queries whose hypergeometric supports fit in _FLAT_TERMS
        offset = ends[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, offset + _FLAT_TERMS, side="right")))
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
    tables: _Tables,
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


def _expected_hits_at(counts: np.ndarray, hits: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """E[relevant items in the top N] = R_<b + k_b r_b / n_b, per query (rows) and N (columns)."""
    out = np.empty((len(counts), len(grid)), dtype=np.float64)
    for column, rank in enumerate(grid):
        cut = _cut_group(counts, hits, int(rank))
        out[:, column] = cut["before_hits"] + cut["kept"] * cut["hits"] / cut["size"]
    return out


# --------------------------------------------------------------------------------------------
# the scan over query chunks


@dataclass
class _Block:
    """What one chunk of queries contributes."""

    ap: np.ndarray
    counts: np.ndarray | None = None
    hits: np.ndarray | None = None
    hits_at: np.ndarray | None = None


def _scan(
    query_codes: Any,
    query_labels: Any,
    db_codes: Any,
    db_labels: Any,
    topk: int | None,
    ties: str,
    seed: int,
    device: str | torch.device | None,
    curves: bool = False,
    n_grid: Any = None,
) -> tuple[Iterator[_Block], dict[str, Any]]:
    """Validate every input up front, then yield per-chunk results (curve data if ``curves``)."""
    ties = _check_ties(ties)
    seed = _check_seed(seed)
    dev = _resolve_device(device)
    query, database, bits = _prepare_codes(query_codes, db_codes)
    query_lab, db_lab = _prepare_labels(query_labels, db_labels, len(query), len(database))
    num_query, num_database = len(query), len(database)
    k = _resolve_topk(topk, num_database)
    grid = _check_grid(n_grid, num_database) if curves else None
    info = {
        "bits": bits,
        "num_queries": num_query,
        "num_database": num_database,
        "grid": grid,
    }

    def blocks() -> Iterator[_Block]:
        db_t = torch.from_numpy(database).to(dev, torch.float32).T.contiguous()
        query_scaled = torch.from_numpy(query).to(dev, torch.float32).mul_(-0.5)
        q_lab = torch.from_numpy(query_lab.values).to(dev)
        d_lab = torch.from_numpy(db_lab.values).to(dev)
        tables = _Tables(num_database) if ties == "expected" else None
        rows = _chunk_rows(num_database)
        for start in range(0, num_query, rows):
            stop = min(start + rows, num_query)
            distances = _distance_block(query_scaled[start:stop], db_t, bits)
            relevant = _relevance_block(q_lab[start:stop], d_lab, query_lab.multi_hot)
            block = _Block(ap=np.empty(0))
            if ties == "expected" or grid is not None:
                block.counts, block.hits = _histograms(distances, relevant, bits + 1)
            if ties == "expected":
                assert tables is not None and block.counts is not None and block.hits is not None
                block.ap = _expected_ap(block.counts, block.hits, k, tables)
                if grid is not None:
                    block.hits_at = _expected_hits_at(block.counts, block.hits, grid)
            else:
                order = _ranking(distances, ties, start, seed)
                width = num_database if grid is not None else k
                relevant_sorted = relevant.gather(1, order[:, :width])
                block.ap = _ap_from_sorted(relevant_sorted, k)
                if grid is not None:
                    cum = relevant_sorted.cumsum(1, dtype=torch.int32)
                    index = torch.as_tensor(grid - 1, device=cum.device)
                    block.hits_at = cum[:, index].cpu().numpy().astype(np.float64)
            yield block

    return blocks(), info


# --------------------------------------------------------------------------------------------
# public metrics


def average_precision_per_query(
    query_codes: Any,
    query_labels: Any,
    db_codes: Any,
    db_labels: Any,
    topk: int | None = 5000,
    ties: str = DEFAULT_TIES,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """AP@``topk`` of every query (float64, shape (Q,)), the numbers mAP averages.

    Useful for per-query analysis and significance tests between methods. See the module
    docstring for the AP convention and the tie policies.
    """
    blocks, _ = _scan(query_codes, query_labels, db_codes, db_labels, topk, ties, seed, device)
    return np.concatenate([block.ap for block in blocks])


def mean_average_precision(
    query_codes: Any,
    query_labels: Any,
    db_codes: Any,
    db_labels: Any,
    topk: int | None = 5000,
    ties: str = DEFAULT_TIES,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> float:
    """mAP@``topk`` over all queries, zero-hit queries included as 0 (SPEC section 2).

    ``topk`` None or -1 means the whole database. ``ties`` is ``expected`` (exact expectation
    over tie orders, the default), ``random`` (one order per query from ``seed``) or ``index``.
    """
    return float(
        average_precision_per_query(
            query_codes, query_labels, db_codes, db_labels, topk, ties, seed, device
        ).mean()
    )


def chance_map(
    query_labels: Any, db_labels: Any, topk: int | None = 5000, device: str | None = None
) -> float:
    """The chance level of mAP@``topk``: the exact expected mAP when every code ties.

    With one code for every item the whole database is one tie group, so the ``expected`` tie
    policy gives the mean AP of a uniformly random ranking, exactly (no sampling). A method
    near this number has learned nothing that ranks.
    """
    query_count = len(np.asarray(query_labels))
    db_count = len(np.asarray(db_labels))
    same = np.ones((query_count, 1), np.int8)
    return mean_average_precision(
        same, query_labels, np.ones((db_count, 1), np.int8), db_labels, topk, "expected",
        device=device,
    )  # fmt: skip


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


def _check_grid(n_grid: Any, num_database: int) -> np.ndarray:
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


def _mean_or_none(total: np.ndarray, count: np.ndarray) -> list[float | None]:
    return [float(t / c) if c > 0 else None for t, c in zip(total, count, strict=True)]


def evaluate(
    query_codes: Any,
    query_labels: Any,
    db_codes: Any,
    db_labels: Any,
    topk: int | None = 5000,
    ties: str = DEFAULT_TIES,
    seed: int = 0,
    device: str | torch.device | None = None,
    n_grid: Any = None,
) -> dict[str, Any]:
    """All retrieval numbers of one (query, database) pair as a JSON-serialisable dict.

    Keys: ``map@K`` (K as given; ``map@all`` for None/-1), ``ties``, ``topk`` (None for all),
    ``seed``, ``bits``, ``num_queries``, ``num_database``, and three curves:

    * ``pr_curve``: for every Hamming radius 0..bits, precision and recall of the ball of that
      radius (all items with distance <= radius; no tie policy involved). Macro averages over
      queries: precision over the queries whose ball holds at least one item (None when none
      does), recall over the queries with at least one relevant item in the database.
    * ``p_at_n`` / ``r_at_n``: precision (hits/N) and recall (hits/R_total) of the top-N list
      for N in ``n_grid`` (default :func:`default_n_grid`; values above the database size are
      dropped). The top-N list follows the tie policy; for ``expected`` the exact expectation
      E[hits] = R_<b + k_b r_b / n_b. Precision averages all queries, recall the queries with at
      least one relevant item.
    """
    blocks, info = _scan(
        query_codes, query_labels, db_codes, db_labels, topk, ties, seed, device, True, n_grid
    )
    grid = info["grid"]
    bits = info["bits"]
    ap_parts = []
    precision_sum = np.zeros(bits + 1)
    precision_count = np.zeros(bits + 1, dtype=np.int64)
    recall_sum = np.zeros(bits + 1)
    recall_count = 0
    p_at_sum = np.zeros(len(grid))
    r_at_sum = np.zeros(len(grid))
    for block in blocks:
        assert block.counts is not None and block.hits is not None and block.hits_at is not None
        ap_parts.append(block.ap)
        retrieved = block.counts.cumsum(1)
        found = block.hits.cumsum(1)
        total_relevant = found[:, -1]
        precision_sum += np.divide(
            found, retrieved, out=np.zeros(found.shape), where=retrieved > 0
        ).sum(0)
        precision_count += (retrieved > 0).sum(0)
        has_relevant = total_relevant > 0
        recall_sum += (found[has_relevant] / total_relevant[has_relevant, None]).sum(0)
        recall_count += int(has_relevant.sum())
        p_at_sum += (block.hits_at / grid[None, :]).sum(0)
        r_at_sum += (block.hits_at[has_relevant] / total_relevant[has_relevant, None]).sum(0)
    query_count = info["num_queries"]
    all_ranks = topk is None or (not isinstance(topk, bool) and topk == -1)
    recall_counts = np.full(bits + 1, recall_count)
    return {
        ("map@all" if all_ranks else f"map@{int(topk)}"): float(np.concatenate(ap_parts).mean()),
        "ties": ties,
        "topk": None if all_ranks else int(topk),
        "seed": int(seed),
        "bits": int(bits),
        "num_queries": int(query_count),
        "num_database": int(info["num_database"]),
        "pr_curve": {
            "radius": list(range(bits + 1)),
            "precision": _mean_or_none(precision_sum, precision_count),
            "recall": _mean_or_none(recall_sum, recall_counts),
        },
        "p_at_n": {
            "n": [int(v) for v in grid],
            "precision": [float(v / query_count) for v in p_at_sum],
        },
        "r_at_n": {
            "n": [int(v) for v in grid],
            "recall": _mean_or_none(r_at_sum, np.full(len(grid), recall_count)),
        },
    }
