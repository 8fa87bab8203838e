"""The packed-code numpy path against independent references written plainly here.

References: per query, distances as a count of differing signs, a plain ``np.argsort`` (stable,
or after the documented permutation) and AP from a cumulative sum; for ``expected`` the SPEC's
per-position sum with exact hypergeometric weights (no harmonic closed forms); and the torch
path (the implementation this one replaced) on the CPU. Also: the radius search, and that the
CPU eval path never imports torch or a method.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from zshbench.errors import ZshbenchError
from zshbench.evaluation import TIE_POLICIES, average_precision_per_query, evaluate
from zshbench.evaluation.curves import collect
from zshbench.evaluation.inputs import check_grid, prepare_codes, prepare_labels, resolve_topk
from zshbench.evaluation.ranking import Ranker

REPO_ROOT = Path(__file__).resolve().parents[1]


def brute_force(q, ql, db, dbl, topk, ties, seed=0) -> np.ndarray:
    """AP@K per query: plain distances, plain argsort, plain cumulative precision."""
    distances = (q[:, None, :] != db[None, :, :]).sum(2)
    k = len(db) if topk is None or topk == -1 else min(topk, len(db))
    out = np.zeros(len(q))
    for i in range(len(q)):
        if ql.ndim == 1:
            rel = dbl == ql[i]
        else:
            rel = (dbl[:, ql[i] > 0] > 0).any(1)
        if ties == "expected":
            out[i] = expected_reference(distances[i], rel, k)
            continue
        if ties == "index":
            order = np.argsort(distances[i], kind="stable")
        else:
            perm = np.random.default_rng([seed, i]).permutation(len(db))
            order = perm[np.argsort(distances[i][perm], kind="stable")]
        ranked = rel[order][:k]
        if ranked.any():
            precision = np.cumsum(ranked) / np.arange(1, k + 1)
            out[i] = precision[ranked].sum() / ranked.sum()
    return out


def expected_reference(distances, rel, k: int) -> float:
    """E[AP@K] over tie orders, position by position (SPEC section 2, policy a)."""
    before = before_hits = 0
    full = 0.0
    for value in np.unique(distances):
        n, r = int((distances == value).sum()), int(rel[distances == value].sum())
        kept = min(n, k - before)
        terms = []
        for x in range(max(0, kept - (n - r)), min(kept, r) + 1):
            if before_hits + x == 0:
                continue
            weight = math.comb(r, x) * math.comb(n - r, kept - x) / math.comb(n, kept)
            # position i of the kept part is relevant w.p. x/kept, and then has
            # 1 + (i-1)(x-1)/(kept-1) relevant items up to it inside the group
            i = np.arange(1, kept + 1)
            slope = (x - 1) / (kept - 1) if kept > 1 else 0.0
            part = (x / kept * (before_hits + 1 + (i - 1) * slope) / (before + i)).sum()
            terms.append(weight * (full + part) / (before_hits + x))
        if before + n >= k:
            return math.fsum(terms)
        i = np.arange(1, n + 1)
        slope = (r - 1) / (n - 1) if n > 1 else 0.0
        full += (r / n * (before_hits + 1 + (i - 1) * slope) / (before + i)).sum() if r else 0.0
        before, before_hits = before + n, before_hits + r
    raise AssertionError("K beyond the database")


def case(rng, queries, database, bits, classes, multi_hot):
    signs = np.array([-1, 1], np.int8)
    q, db = rng.choice(signs, (queries, bits)), rng.choice(signs, (database, bits))
    if bits > 16:  # near neighbours too, so large codes still tie and rank
        db[: database // 3] = q[rng.integers(0, queries, database // 3)]
        flips = rng.random((database // 3, bits)) < 0.2
        db[: database // 3] = np.where(flips, -db[: database // 3], db[: database // 3])
    if multi_hot:
        ql = (rng.random((queries, classes)) < 0.25).astype(np.int64)
        dbl = (rng.random((database, classes)) < 0.25).astype(np.int64)
    else:
        ql, dbl = rng.integers(0, classes, queries), rng.integers(0, classes, database)
    return q, ql, db, dbl


@pytest.mark.parametrize("ties", TIE_POLICIES)
@pytest.mark.parametrize("bits", [8, 24, 63, 64, 65, 100, 128, 130, 1024])
def test_every_policy_matches_brute_force(ties, bits):
    rng = np.random.default_rng(bits)
    for multi_hot, classes in ((False, 4), (True, 70)):  # 70 labels: two label words
        q, ql, db, dbl = case(rng, 5, 240, bits, classes, multi_hot)
        for topk in (1, 37, 239, 240, None, 5000):
            got = average_precision_per_query(q, ql, db, dbl, topk=topk, ties=ties, seed=3)
            want = brute_force(q, ql, db, dbl, topk, ties, seed=3)
            assert np.abs(got - want).max() <= 1e-12, (multi_hot, topk)


@pytest.mark.parametrize("ties", TIE_POLICIES)
@pytest.mark.parametrize("multi_hot", [False, True])
def test_numpy_path_equals_the_torch_path(ties, multi_hot):
    pytest.importorskip("torch")
    import torch

    from zshbench.evaluation import torch_path
    from zshbench.evaluation.scan import scan

    rng = np.random.default_rng(7)
    q, ql, db, dbl = case(rng, 30, 900, 24, 21, multi_hot)
    query, database, bits = prepare_codes(q, db)
    labels = prepare_labels(ql, dbl, len(q), len(db))
    grid, k = check_grid(None, len(db)), resolve_topk(300, len(db))
    ours = collect(scan(query, database, *labels, k, ties, 5, grid), bits, grid)
    theirs = collect(
        torch_path.scan(query, database, *labels, k, ties, 5, grid, torch.device("cpu")), bits, grid
    )
    assert np.abs(ours[0] - theirs[0]).max() <= 1e-12
    for name in ("pr_curve", "p_at_n", "r_at_n"):
        for key, values in ours[1][name].items():
            other = theirs[1][name][key]
            assert all(
                (a is None and b is None) or abs(a - b) <= 1e-12
                for a, b in zip(values, other, strict=True)
            ), (name, key)


@pytest.mark.parametrize("table", [False, True])
def test_distances_match_brute_force(monkeypatch, table):
    # ``table``: the byte-table popcount NumPy < 2.0 uses instead of np.bitwise_count.
    from zshbench.evaluation import hamming, hamming_distances

    monkeypatch.setattr(hamming, "_HAS_BITWISE_COUNT", not table and hamming._HAS_BITWISE_COUNT)
    monkeypatch.setattr(hamming.DistanceKernel, "tile", 7)  # tiles that do not divide N
    rng = np.random.default_rng(11)
    for bits in (1, 8, 63, 64, 65, 300):
        q, _, db, _ = case(rng, 4, 30, bits, 2, False)
        want = (q[:, None, :] != db[None, :, :]).sum(2)
        assert np.array_equal(hamming_distances(q, db), want), bits


@pytest.mark.parametrize("ties", TIE_POLICIES)
def test_threads_give_the_same_numbers(monkeypatch, ties):
    import zshbench.evaluation.scan as numpy_scan

    monkeypatch.setattr(numpy_scan, "BLOCK_QUERIES", 4)  # 23 queries: six blocks, three threads
    rng = np.random.default_rng(12)
    q, ql, db, dbl = case(rng, 23, 300, 16, 3, False)
    one = evaluate(q, ql, db, dbl, topk=50, ties=ties, seed=2)
    assert evaluate(q, ql, db, dbl, topk=50, ties=ties, seed=2, threads=3) == one
    with pytest.raises(ZshbenchError, match="threads"):
        evaluate(q, ql, db, dbl, threads=0)


def test_curves_are_only_computed_when_asked():
    rng = np.random.default_rng(8)
    q, ql, db, dbl = case(rng, 4, 100, 8, 3, False)
    without = evaluate(q, ql, db, dbl, topk=20, curves=False)
    assert "pr_curve" not in without and "p_at_n" not in without
    assert without["map@20"] == evaluate(q, ql, db, dbl, topk=20)["map@20"]


def test_radius_holds_the_kth_item():
    # One ranker per K goes through rows of every shape in turn, so its search starts from the
    # previous row's radius, above and below the answer.
    rng = np.random.default_rng(9)
    bits, n = 64, 20000
    rows = [
        rng.integers(0, bits + 1, n),
        np.minimum(rng.geometric(0.3, n), bits),  # skewed: radii far from the last one
        np.sort(rng.integers(40, bits + 1, n)),
        np.full(n, 17),
        rng.integers(0, 3, n),
        np.full(n, bits),
    ]
    for topk in (1, 2, 10, 999, 5000, n - 1, n, n + 5):
        ranker = Ranker(n, bits, topk)
        for row in [r.astype(np.uint8) for r in rows * 2]:
            radius = ranker.radius(row)
            kth = np.sort(row)[min(topk, n) - 1]
            assert radius == (bits if topk >= n else kth), topk
            assert np.array_equal(ranker.mask, row <= radius)


def test_cpu_eval_imports_neither_torch_nor_a_method(tmp_path):
    rng = np.random.default_rng(10)
    path = tmp_path / "codes.npz"
    np.savez(
        path,
        query_codes=rng.choice(np.array([-1, 1], np.int8), (10, 32)),
        query_labels=rng.integers(0, 3, 10),
        db_codes=rng.choice(np.array([-1, 1], np.int8), (50, 32)),
        db_labels=rng.integers(0, 3, 50),
    )
    script = f"""
import json, sys
from zshbench.evaluation import load_codes_file
load_codes_file({str(path)!r})
loaded_after_io = "torch" in sys.modules
from zshbench.cli import cli
try:
    cli(["eval", {str(path)!r}, "--json", "--curves"])
except SystemExit as exit:
    assert not exit.code, exit.code
print(json.dumps({{"io": loaded_after_io, "torch": "torch" in sys.modules,
                  "plugins": sorted(m for m in sys.modules if m.split(".")[0] == "plugins")}}))
"""
    env = {"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    result, report = json.loads(lines[-1]), json.loads(lines[-2])
    assert result == {"io": False, "torch": False, "plugins": []}
    assert "pr_curve" in report and report["num_database"] == 50
