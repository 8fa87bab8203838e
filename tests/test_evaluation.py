"""Hash-code evaluation against independent references written plainly here.

References: a loop-and-sort AP@K for the ``index`` and ``random`` policies, hand-computed
examples (arithmetic in the comments), exhaustive enumeration of every order inside tie groups
for ``expected`` on tiny cases, a plain per-position float sum with exact hypergeometric weights
on a medium case, and a Monte Carlo average of random tie orders.
"""

from __future__ import annotations

import itertools
import json
import math
from fractions import Fraction

import numpy as np
import pytest
import torch

import zshbench.evaluation.expected as expected_math
import zshbench.evaluation.scan as numpy_scan
from zshbench.errors import ZshbenchError
from zshbench.evaluation import (
    TIE_POLICIES,
    average_precision_per_query,
    default_n_grid,
    evaluate,
    hamming_distances,
    mean_average_precision,
    pack_codes,
    relevance,
    to_signs,
    unpack_codes,
)

# ---------------------------------------------------------------------------------------------
# plain references


def plain_distances(query: np.ndarray, database: np.ndarray) -> np.ndarray:
    """Hamming distance = number of differing bits, counted one pair at a time."""
    return np.array(
        [[int(np.count_nonzero(q != d)) for d in database] for q in query], dtype=np.int64
    )


def plain_relevant(query_label, db_labels) -> np.ndarray:
    """Same class (1-D ids) or at least one shared label (multi-hot rows)."""
    if np.ndim(query_label) == 0:
        return np.array([lab == query_label for lab in db_labels])
    return np.array([bool(np.any(np.logical_and(query_label, lab))) for lab in db_labels])


def plain_ap(relevant_in_rank_order, topk: int) -> float:
    """AP@K = (1/R_K) sum_{k<=K} P(k) rel(k); 0 when nothing relevant is in the top K."""
    hits, total = 0, 0.0
    for rank, rel in enumerate(relevant_in_rank_order[:topk], start=1):
        if rel:
            hits += 1
            total += hits / rank
    return total / hits if hits else 0.0


def index_order(distances: np.ndarray) -> list[int]:
    """Rank by distance, ties by database index."""
    return sorted(range(len(distances)), key=lambda j: (distances[j], j))


def random_order(distances: np.ndarray, seed: int, query_index: int) -> list[int]:
    """The documented random policy: permute with default_rng([seed, query]), then stable sort."""
    perm = np.random.default_rng([seed, query_index]).permutation(len(distances))
    return sorted(perm.tolist(), key=lambda j: distances[j])  # sorted() is stable


def plain_aps(q, ql, db, dbl, topk, ties, seed=0) -> np.ndarray:
    dist = plain_distances(to_signs(q), to_signs(db))
    k = len(db) if topk in (None, -1) else min(topk, len(db))
    out = []
    for i in range(len(q)):
        order = index_order(dist[i]) if ties == "index" else random_order(dist[i], seed, i)
        rel = plain_relevant(ql[i], dbl)
        out.append(plain_ap([rel[j] for j in order], k))
    return np.array(out)


def tie_group_orders(distances: np.ndarray):
    """Every ranking that sorts by distance: the product of all permutations inside groups."""
    groups = [np.flatnonzero(distances == v).tolist() for v in np.unique(distances)]
    for parts in itertools.product(*(itertools.permutations(g) for g in groups)):
        yield [j for part in parts for j in part]


def enumerated_expected(distances, rel, topk: int, grid=()) -> tuple[Fraction, list[Fraction]]:
    """Exact mean of AP@K (and of hits in the top N for N in grid) over all tie orders."""
    total, count = Fraction(0), 0
    hits_at = [Fraction(0)] * len(grid)
    for order in tie_group_orders(distances):
        ranked = [bool(rel[j]) for j in order]
        hits, ap = 0, Fraction(0)
        for rank, is_rel in enumerate(ranked[:topk], start=1):
            if is_rel:
                hits += 1
                ap += Fraction(hits, rank)
        total += ap / hits if hits else 0
        for c, n in enumerate(grid):
            hits_at[c] += sum(ranked[:n])
        count += 1
    return total / count, [h / count for h in hits_at]


def random_case(rng, queries, database, bits, classes, multi_hot=False):
    q = rng.choice(np.array([-1, 1], np.int8), (queries, bits))
    db = rng.choice(np.array([-1, 1], np.int8), (database, bits))
    if multi_hot:
        ql = (rng.random((queries, classes)) < 0.3).astype(np.int64)
        dbl = (rng.random((database, classes)) < 0.3).astype(np.int64)
    else:
        ql = rng.integers(0, classes, queries)
        dbl = rng.integers(0, classes, database)
    return q, ql, db, dbl


# ---------------------------------------------------------------------------------------------
# hand-computed examples

# One query q = (+1, +1); four database items (2 bits):
#   item 0 (-1,-1): distance 2, relevant      item 1 (+1,+1): distance 0, not relevant
#   item 2 (+1,-1): distance 1, relevant      item 3 (-1,+1): distance 1, not relevant
HAND_Q = np.array([[1, 1]])
HAND_DB = np.array([[-1, -1], [1, 1], [1, -1], [-1, 1]])
HAND_QL = np.array([7])
HAND_DBL = np.array([7, 3, 7, 3])


@pytest.mark.parametrize(
    ("topk", "expected"),
    [
        # index order: item1 (d0), item2 (d1), item3 (d1), item0 (d2) -> rel 0, 1, 0, 1
        (1, 0.0),  # top 1 holds no relevant item: AP = 0
        (2, 0.5),  # R = 1: P(2) = 1/2
        (3, 0.5),  # still R = 1
        (4, 0.5),  # R = 2: (P(2) + P(4)) / 2 = (1/2 + 2/4) / 2 = 1/2
        (None, 0.5),
        (-1, 0.5),
    ],
)
def test_hand_example_index(topk, expected):
    value = mean_average_precision(HAND_Q, HAND_QL, HAND_DB, HAND_DBL, topk=topk, ties="index")
    assert value == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize(
    ("topk", "expected"),
    [
        # group d0 = {item1} (irrelevant); group d1 = {item2 rel, item3} in either order;
        # group d2 = {item0 rel}.
        (1, 0.0),
        # K = 2 keeps one of the two d1 items: relevant with probability 1/2, then AP = 1/2
        # (P(2) = 1/2 with R = 1); otherwise R = 0 and AP = 0. E = 1/2 * 1/2 = 1/4.
        (2, 1 / 4),
        # K = 3: item2 at rank 2 (P = 1/2) or rank 3 (P = 1/3), R = 1: E = (1/2 + 1/3)/2 = 5/12.
        (3, 5 / 12),
        # K = 4: R = 2; item0 adds P(4) = 2/4. E = (5/12 + 1/2) / 2 = 11/24.
        (4, 11 / 24),
        (None, 11 / 24),
    ],
)
def test_hand_example_expected(topk, expected):
    value = mean_average_precision(HAND_Q, HAND_QL, HAND_DB, HAND_DBL, topk=topk)
    assert value == pytest.approx(expected, abs=1e-15)


def test_zero_hit_queries_count_as_zero():
    # query 0 (label 1) finds its only relevant item at rank 1: AP = 1.
    # query 1 (label 9) has no relevant item anywhere: AP = 0, and it still counts:
    # mAP = (1 + 0) / 2 = 0.5, not 1.0 as code that drops zero-hit queries would report.
    q = np.array([[1, 1, 1], [1, 1, 1]])
    db = np.array([[1, 1, 1], [-1, -1, -1]])
    for ties in TIE_POLICIES:
        per_query = average_precision_per_query(q, [1, 9], db, [1, 2], topk=1, ties=ties)
        assert per_query.tolist() == [1.0, 0.0]
        assert mean_average_precision(q, [1, 9], db, [1, 2], topk=1, ties=ties) == 0.5


@pytest.mark.parametrize("ties", TIE_POLICIES)
@pytest.mark.parametrize("topk", [5, -1, None, 6])
def test_whole_database_keeps_the_last_item(ties, topk):
    # Distances 0, 1, 2, 3, 4 (all distinct, 4 bits): the only relevant item is ranked last.
    # AP over all 5 ranks = P(5) = 1/5. DeepHash-pytorch's CalcTopMap with topk=-1 slices
    # [:-1], drops it and reports 0.
    q = np.array([[1, 1, 1, 1]])
    db = np.array([[1, 1, 1, 1], [-1, 1, 1, 1], [-1, -1, 1, 1], [-1, -1, -1, 1], [-1] * 4])
    labels = np.array([0, 0, 0, 0, 1])
    value = mean_average_precision(q, [1], db, labels, topk=topk, ties=ties)
    assert value == pytest.approx(1 / 5, abs=1e-15)


def test_no_ties_all_policies_agree():
    # 9 items at the 9 distinct distances 0..8 from the query: no ties, so the policies agree.
    rng = np.random.default_rng(3)
    q = np.ones((1, 8), np.int8)
    db = np.array([[-1] * d + [1] * (8 - d) for d in range(9)])[rng.permutation(9)]
    dbl = rng.integers(0, 2, 9)
    values = [
        average_precision_per_query(q, [1], db, dbl, topk=k, ties=t)
        for t in TIE_POLICIES
        for k in (3, None)
    ]
    assert np.allclose(values[0::2], values[0], atol=1e-15)
    assert np.allclose(values[1::2], values[1], atol=1e-15)


# ---------------------------------------------------------------------------------------------
# index and random against the brute-force reference


@pytest.mark.parametrize("ties", ["index", "random"])
@pytest.mark.parametrize("topk", [1, 7, 100, 299, 300, None, -1, 5000])
def test_sorted_policies_match_brute_force(ties, topk):
    rng = np.random.default_rng(11)
    q, ql, db, dbl = random_case(rng, 12, 300, 6, 4)
    got = average_precision_per_query(q, ql, db, dbl, topk=topk, ties=ties, seed=5)
    assert np.abs(got - plain_aps(q, ql, db, dbl, topk, ties, seed=5)).max() <= 1e-12


@pytest.mark.parametrize("ties", ["index", "random"])
def test_multi_label_matches_brute_force(ties):
    rng = np.random.default_rng(12)
    q, ql, db, dbl = random_case(rng, 10, 200, 5, 6, multi_hot=True)
    got = average_precision_per_query(q, ql, db, dbl, topk=50, ties=ties, seed=2)
    assert np.abs(got - plain_aps(q, ql, db, dbl, 50, ties, seed=2)).max() <= 1e-12


def test_multi_label_relevance_by_hand():
    # query labels {0, 2}: rows {1} share nothing; {0, 1} shares 0; {2} shares 2; {} nothing.
    got = relevance(np.array([[1, 0, 1]]), np.array([[0, 1, 0], [1, 1, 0], [0, 0, 1], [0, 0, 0]]))
    assert got.tolist() == [[False, True, True, False]]


def test_random_policy_is_seeded_and_chunk_independent(monkeypatch):
    rng = np.random.default_rng(13)
    q, ql, db, dbl = random_case(rng, 30, 400, 4, 3)
    a = average_precision_per_query(q, ql, db, dbl, topk=100, ties="random", seed=1)
    b = average_precision_per_query(q, ql, db, dbl, topk=100, ties="random", seed=1)
    c = average_precision_per_query(q, ql, db, dbl, topk=100, ties="random", seed=2)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    monkeypatch.setattr(numpy_scan, "BLOCK_QUERIES", 7)  # 7 queries per block
    monkeypatch.setattr(numpy_scan, "KERNEL_ELEMENTS", 3 * 400)  # 3 rows per distance call
    assert np.array_equal(a, average_precision_per_query(q, ql, db, dbl, 100, "random", 1))


# ---------------------------------------------------------------------------------------------
# expected against enumeration, a plain float sum and Monte Carlo


def test_expected_matches_exhaustive_enumeration():
    rng = np.random.default_rng(21)
    cases = 0
    while cases < 60:
        n_db = int(rng.integers(1, 9))
        bits = int(rng.integers(1, 4))
        q, ql, db, dbl = random_case(rng, 2, n_db, bits, 3)
        topk = int(rng.integers(1, n_db + 1))
        dist = plain_distances(q, db)
        if math.prod(math.factorial(c) for c in np.bincount(dist[0])) > 5000:
            continue  # keep the enumeration small
        got = average_precision_per_query(q, ql, db, dbl, topk=topk)
        for i in range(len(q)):
            exact, _ = enumerated_expected(dist[i], plain_relevant(ql[i], dbl), topk)
            assert got[i] == pytest.approx(float(exact), abs=1e-14)
        cases += 1


def test_expected_edge_groups_by_enumeration():
    # A tie group of one item (n_g = 1), a cut keeping one position (k_b = 1), a cut group with
    # no relevant items, and a cut group with only relevant items.
    q = np.array([[1, 1, 1]])
    db = np.array([[1, 1, 1], [1, 1, -1], [1, -1, 1], [-1, 1, 1], [1, -1, -1], [-1, -1, -1]])
    dist = plain_distances(q, db)[0]  # 0, 1, 1, 1, 2, 3
    for dbl in ([1, 1, 0, 0, 1, 1], [0, 0, 0, 0, 1, 1], [0, 1, 1, 1, 0, 1], [1, 0, 0, 0, 0, 0]):
        for topk in range(1, 7):
            got = mean_average_precision(q, [1], db, np.array(dbl), topk=topk)
            exact, _ = enumerated_expected(dist, np.array(dbl) == 1, topk)
            assert got == pytest.approx(float(exact), abs=1e-15), (dbl, topk)


def plain_expected_float(distances, rel, topk: int) -> float:
    """SPEC section 2 computed position by position (no closed form), exact hypergeometric."""
    before, before_hits, full_terms = 0, 0, []
    for value in np.unique(distances):
        members = distances == value
        n, r = int(members.sum()), int(rel[members].sum())
        if before + n < topk:  # wholly inside the top K
            slope = (r - 1) / (n - 1) if n > 1 else 0.0
            full_terms += (
                [
                    r / n * (before_hits + 1 + (i - 1) * slope) / (before + i)
                    for i in range(1, n + 1)
                ]
                if r
                else []
            )
            before, before_hits = before + n, before_hits + r
            continue
        k, full, total = topk - before, math.fsum(full_terms), []
        for x in range(max(0, k - (n - r)), min(k, r) + 1):
            if before_hits + x == 0:
                continue
            prob = Fraction(math.comb(r, x) * math.comb(n - r, k - x), math.comb(n, k))
            slope = (x - 1) / (k - 1) if k > 1 else 0.0
            cut = math.fsum(
                x / k * (before_hits + 1 + (i - 1) * slope) / (before + i) for i in range(1, k + 1)
            )
            total.append(float(prob) * (full + cut) / (before_hits + x))
        return math.fsum(total)
    raise AssertionError("topk beyond the database")


def test_expected_matches_plain_sum_on_large_tie_groups():
    # 3,000 items at 3 bits: tie groups of ~375 items, so the closed forms (harmonic numbers,
    # log-factorials) are exercised at scale; agreement to 1e-12 relative.
    rng = np.random.default_rng(22)
    q, ql, db, dbl = random_case(rng, 3, 3000, 3, 4)
    dist = plain_distances(q, db)
    for topk in (1000, 2999, None):
        k = 3000 if topk is None else topk
        got = average_precision_per_query(q, ql, db, dbl, topk=topk)
        ref = [plain_expected_float(dist[i], plain_relevant(ql[i], dbl), k) for i in range(3)]
        assert np.allclose(got, ref, rtol=1e-12, atol=0)


def test_harmonic_closed_form():
    # sum_{i=1}^{n} (a + b(i-1)) / (N + i) = b n + (a - b - bN)(H(N+n) - H(N)), checked
    # against the plain sum, including n = 1 and large N.
    tables = expected_math.Tables(40000)
    harmonic = tables.harmonic.astype(np.float64)
    cases = [
        (0, 1, 1, 0),
        (10, 1, 1, 3),
        (0, 7, 3, 0),
        (30000, 5000, 60, 9),
        (39000, 1000, 1000, 500),
        (5, 2, 1, 0),
    ]
    for big_n, n, r, before_hits in cases:
        a, b = before_hits + 1, (r - 1) / (n - 1) if n > 1 else 0.0
        plain = math.fsum((a + b * (i - 1)) / (big_n + i) for i in range(1, n + 1))
        closed = b * n + (a - b - b * big_n) * (harmonic[big_n + n] - harmonic[big_n])
        assert closed == pytest.approx(plain, rel=1e-9)
        ours = expected_math._expected_block_sum(
            np.array([big_n]), np.array([before_hits]), np.array([n]), np.array([r]), tables
        )[0]
        assert ours == pytest.approx(r / n * plain, rel=1e-13)


@pytest.mark.slow
def test_expected_matches_monte_carlo():
    # 400 items at 4 bits (ties of ~25-150 items), K = 150 cuts a group. For each query, the
    # mean AP over T = 4000 random tie orders has standard error s / sqrt(T) (s = sample std);
    # a 5-sigma band fails by chance with probability ~6e-7 per query.
    rng = np.random.default_rng(23)
    q, ql, db, dbl = random_case(rng, 6, 400, 4, 3)
    topk, trials = 150, 4000
    got = average_precision_per_query(q, ql, db, dbl, topk=topk)
    dist = plain_distances(q, db)
    for i in range(len(q)):
        rel = plain_relevant(ql[i], dbl)
        keys = rng.random((trials, len(db)))
        order = np.lexsort((keys, np.broadcast_to(dist[i], keys.shape)), axis=-1)[:, :topk]
        ranked = rel[order]
        hits = np.cumsum(ranked, axis=1)
        sums = (ranked * hits / np.arange(1, topk + 1)).sum(1)
        samples = np.divide(sums, hits[:, -1], out=np.zeros(trials), where=hits[:, -1] > 0)
        stderr = samples.std(ddof=1) / math.sqrt(trials)
        assert abs(got[i] - samples.mean()) <= 5 * stderr + 1e-12


def test_expected_is_chunk_independent(monkeypatch):
    rng = np.random.default_rng(24)
    q, ql, db, dbl = random_case(rng, 25, 500, 5, 3)
    whole = average_precision_per_query(q, ql, db, dbl, topk=200)
    monkeypatch.setattr(numpy_scan, "BLOCK_QUERIES", 3)
    monkeypatch.setattr(expected_math, "FLAT_TERMS", 10)
    assert np.allclose(average_precision_per_query(q, ql, db, dbl, topk=200), whole, atol=1e-15)


# ---------------------------------------------------------------------------------------------
# code formats


def test_code_formats_give_identical_results():
    rng = np.random.default_rng(31)
    q, ql, db, dbl = random_case(rng, 8, 120, 9, 3)
    reference = evaluate(q, ql, db, dbl, topk=50)
    variants = [
        ((q > 0).astype(np.uint8), (db > 0).astype(np.uint8)),
        (q > 0, db > 0),
        (q.astype(np.float32), db.astype(np.float64)),
        (torch.from_numpy(q.astype(np.float32)), torch.from_numpy((db > 0).astype(np.int64))),
    ]
    for qv, dbv in variants:
        assert evaluate(qv, ql, dbv, dbl, topk=50) == reference


@pytest.mark.parametrize("bits", [1, 8, 13, 64, 130])
def test_pack_unpack_round_trip(bits):
    signs = np.random.default_rng(bits).choice(np.array([-1, 1], np.int8), (17, bits))
    packed = pack_codes(signs)
    assert packed.dtype == np.uint8 and packed.shape == (17, (bits + 7) // 8)
    assert np.array_equal(unpack_codes(packed, bits), signs)
    assert np.array_equal(pack_codes((signs > 0).astype(np.float32)), packed)


def test_pack_bit_order():
    # +1 -> bit 1, first code bit -> most significant bit of the first byte.
    assert pack_codes(np.array([[1, -1, -1, -1, -1, -1, -1, 1, 1]])).tolist() == [[129, 128]]


def test_unpack_checks_bits():
    packed = pack_codes(np.ones((2, 16)))
    with pytest.raises(ZshbenchError):
        unpack_codes(packed, 12)  # padding bits 13..16 are set: wrong bits
    with pytest.raises(ZshbenchError):
        unpack_codes(packed, 24)  # 3 bytes needed
    with pytest.raises(ZshbenchError):
        unpack_codes(packed.astype(np.int64), 16)


@pytest.mark.parametrize(
    "bad",
    [
        np.array([[1.0, np.nan]]),
        np.array([[0.5, 1.0]]),
        np.array([[2, 1]]),
        np.array([[-1, 0, 1]]),
        np.array([1, -1, 1]),
        np.ones((2, 2, 2)),
        np.ones((3, 0)),
        np.array([["a", "b"]]),
    ],
)
def test_to_signs_rejects(bad):
    with pytest.raises(ZshbenchError) as info:
        to_signs(bad)
    assert "\n" not in info.value.one_line()
    assert info.value.hint


def test_to_signs_accepts():
    assert to_signs(np.array([[0, 1], [1, 0]])).tolist() == [[-1, 1], [1, -1]]
    assert to_signs(torch.tensor([[-1.0, 1.0]])).dtype == np.int8
    assert to_signs(np.ones((2, 3), bool)).tolist() == [[1, 1, 1]] * 2


# ---------------------------------------------------------------------------------------------
# distances, relevance, curves


def test_hamming_and_relevance_match_brute_force():
    rng = np.random.default_rng(41)
    q, ql, db, dbl = random_case(rng, 9, 77, 37, 4)
    dist = hamming_distances(q, (db > 0).astype(np.uint8))
    assert isinstance(dist, np.ndarray) and dist.dtype == np.int32  # numpy on the CPU
    assert np.array_equal(dist, plain_distances(q, db))
    rel = relevance(ql, dbl)
    assert np.array_equal(rel, np.array([plain_relevant(ql[i], dbl) for i in range(9)]))


def plain_curves(q, ql, db, dbl, grid, ties, seed=0):
    """PR by radius and P@N / R@N under a sorted policy, one query at a time."""
    dist = plain_distances(to_signs(q), to_signs(db))
    bits = q.shape[1]
    prec = [[] for _ in range(bits + 1)]
    rec = [[] for _ in range(bits + 1)]
    p_at = [[] for _ in grid]
    r_at = [[] for _ in grid]
    for i in range(len(q)):
        rel = plain_relevant(ql[i], dbl)
        total = int(rel.sum())
        for radius in range(bits + 1):
            ball = dist[i] <= radius
            if ball.sum():
                prec[radius].append(rel[ball].sum() / ball.sum())
            if total:
                rec[radius].append(rel[ball].sum() / total)
        order = index_order(dist[i]) if ties == "index" else random_order(dist[i], seed, i)
        for c, n in enumerate(grid):
            found = sum(rel[j] for j in order[:n])
            p_at[c].append(found / n)
            if total:
                r_at[c].append(found / total)

    def mean(values):
        return float(np.mean(values)) if values else None

    return (
        [mean(v) for v in prec],
        [mean(v) for v in rec],
        [mean(v) for v in p_at],
        [mean(v) for v in r_at],
    )


def assert_close_lists(got, want, tol=1e-12):
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert (g is None and w is None) or abs(g - w) <= tol, (got, want)


@pytest.mark.parametrize("ties", ["index", "random"])
@pytest.mark.parametrize("multi_hot", [False, True])
@pytest.mark.parametrize("bits", [6, 12])  # at 12 bits most small balls are empty
def test_curves_match_brute_force(ties, multi_hot, bits):
    rng = np.random.default_rng(42)
    q, ql, db, dbl = random_case(rng, 10, 150, bits, 5, multi_hot=multi_hot)
    ql[0] = 99 if not multi_hot else 0  # a query with no relevant item
    grid = [1, 3, 10, 100, 149, 150]
    result = evaluate(q, ql, db, dbl, topk=40, ties=ties, seed=4, n_grid=grid)
    prec, rec, p_at, r_at = plain_curves(q, ql, db, dbl, grid, ties, seed=4)
    assert result["pr_curve"]["radius"] == list(range(bits + 1))
    assert_close_lists(result["pr_curve"]["precision"], prec)
    assert_close_lists(result["pr_curve"]["recall"], rec)
    assert result["p_at_n"]["n"] == grid and result["r_at_n"]["n"] == grid
    assert_close_lists(result["p_at_n"]["precision"], p_at)
    assert_close_lists(result["r_at_n"]["recall"], r_at)
    assert result["map@40"] == pytest.approx(plain_aps(q, ql, db, dbl, 40, ties, 4).mean(), 1e-12)


def test_expected_curves_match_enumeration():
    rng = np.random.default_rng(43)
    q, ql, db, dbl = random_case(rng, 3, 7, 2, 2)
    grid = [1, 2, 3, 5, 7]
    result = evaluate(q, ql, db, dbl, topk=4, n_grid=grid)
    dist = plain_distances(q, db)
    p_at, r_at, aps = [], [], []
    for i in range(3):
        rel = plain_relevant(ql[i], dbl)
        ap, hits_at = enumerated_expected(dist[i], rel, 4, grid)
        aps.append(float(ap))
        p_at.append([float(h) / n for h, n in zip(hits_at, grid, strict=True)])
        if rel.sum():
            r_at.append([float(h) / rel.sum() for h in hits_at])
    assert result["map@4"] == pytest.approx(np.mean(aps), abs=1e-15)
    assert np.allclose(result["p_at_n"]["precision"], np.mean(p_at, axis=0), atol=1e-15)
    assert np.allclose(result["r_at_n"]["recall"], np.mean(r_at, axis=0), atol=1e-15)


def test_evaluate_record_is_json_and_named():
    rng = np.random.default_rng(44)
    q, ql, db, dbl = random_case(rng, 4, 30, 3, 2)
    result = evaluate(q, ql, db, dbl, topk=None, ties="random", seed=3)
    json.dumps(result, allow_nan=False)
    assert result["map@all"] == pytest.approx(
        mean_average_precision(q, ql, db, dbl, topk=-1, ties="random", seed=3), abs=0
    )
    assert (result["ties"], result["topk"], result["seed"]) == ("random", None, 3)
    assert (result["bits"], result["num_queries"], result["num_database"]) == (3, 4, 30)
    assert result["p_at_n"]["n"] == [1, 5, 10, 20, 30]
    assert "map@5000" in evaluate(q, ql, db, dbl)
    assert evaluate(q, ql, db, dbl, topk=-1)["topk"] is None


def test_default_n_grid():
    assert default_n_grid(32322).tolist() == [
        1,
        5,
        10,
        20,
        50,
        100,
        200,
        500,
        1000,
        2000,
        5000,
        10000,
        20000,
        32322,
    ]
    assert default_n_grid(1).tolist() == [1]
    assert default_n_grid(50).tolist() == [1, 5, 10, 20, 50]


# ---------------------------------------------------------------------------------------------
# user errors


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ties": "best"},
        {"topk": 0},
        {"topk": -2},
        {"topk": 2.5},
        {"seed": -1},
        {"device": "tpu"},
    ],
)
def test_bad_arguments_raise(kwargs):
    q = np.ones((2, 4))
    with pytest.raises(ZshbenchError):
        mean_average_precision(q, [0, 1], q, [0, 1], **kwargs)


def test_bad_shapes_raise():
    q = np.ones((2, 4))
    with pytest.raises(ZshbenchError, match="bits"):
        mean_average_precision(q, [0, 1], np.ones((2, 5)), [0, 1])
    with pytest.raises(ZshbenchError, match="rows"):
        mean_average_precision(q, [0, 1, 2], q, [0, 1])
    with pytest.raises(ZshbenchError, match="kind"):
        mean_average_precision(q, [0, 1], q, np.eye(2))
    with pytest.raises(ZshbenchError, match="1-D"):
        mean_average_precision(q, np.array([[3], [4]]), q, np.array([[3], [4]]))
    with pytest.raises(ZshbenchError):
        mean_average_precision(q, [0.5, 1], q, [0, 1])
    with pytest.raises(ZshbenchError, match="nothing to evaluate"):
        mean_average_precision(np.ones((0, 4)), [], q, [0, 1])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
@pytest.mark.parametrize("ties", TIE_POLICIES)
def test_gpu_matches_cpu(ties):
    rng = np.random.default_rng(51)
    q, ql, db, dbl = random_case(rng, 40, 3000, 24, 5)
    cpu = evaluate(q, ql, db, dbl, topk=500, ties=ties, device="cpu")
    gpu = evaluate(q, ql, db, dbl, topk=500, ties=ties, device="cuda")
    assert gpu["map@500"] == pytest.approx(cpu["map@500"], abs=1e-12)
    assert np.allclose(gpu["p_at_n"]["precision"], cpu["p_at_n"]["precision"], atol=1e-12)
