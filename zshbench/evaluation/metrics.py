"""Hash-code retrieval metrics: Hamming ranking, mAP@K under a named tie policy, PR, P@N, R@N.

Conventions (SPEC section 2):

* AP@K = (1/R) * sum_{k<=K} P(k) rel(k), with R the number of relevant items *within the top K*;
  AP = 0 when R = 0, and such queries still count in the mean (excluding them inflates mAP).
  DeepHash-pytorch's ``CalcTopMap`` and RAZH's code use the same AP.
* ``topk`` None or -1 (or any K >= database size) means the whole database, last item included.
  (``CalcTopMap`` with ``topk=-1`` slices ``[:-1]`` and so drops the last item.)
* Hamming distances tie massively (at 24 bits a few thousand items can share the distance that
  straddles rank 5000), so the order inside a tie group is part of the metric and every result
  names its tie policy:

  - ``expected`` (default, the principled one): the exact expectation of AP@K over all orders
    inside tie groups, including the group cut by K (:mod:`.expected`). No sampling; it depends
    only on the per-query histograms of (all, relevant) items per distance.
  - ``random``: one random order inside ties per query, drawn from
    ``np.random.default_rng([seed, query_index]).permutation(N)`` followed by a stable sort on
    distance; so it depends on the seed and the query's position, never on blocking or device.
  - ``index``: ties broken by database index (a stable sort); the score then depends on the
    order the database happens to be stored in. ``CalcTopMap`` uses numpy's default argsort,
    which is *not* stable, so its order inside ties is unspecified.

On the CPU (``device`` None or ``'cpu'``) everything is numpy: codes packed into 64-bit words,
XOR + popcount, and per query only the items inside the radius of the K-th item are ranked
(:mod:`.scan`); torch is not imported. ``device='cuda'`` runs the torch path
(:mod:`.torch_path`), which gives the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .block import Block
from .curves import collect
from .hamming import DistanceKernel, pack_words
from .inputs import (
    DEFAULT_TIES,
    TIE_POLICIES,
    check_grid,
    check_seed,
    check_threads,
    check_ties,
    default_n_grid,
    prepare_codes,
    prepare_labels,
    resolve_topk,
)
from .relevance import Relevance

__all__ = [
    "DEFAULT_TIES",
    "TIE_POLICIES",
    "average_precision_per_query",
    "chance_map",
    "default_n_grid",
    "evaluate",
    "hamming_distances",
    "mean_average_precision",
    "relevance",
]


def _torch_device(device: Any) -> Any:
    """None / 'cpu' -> None (the numpy path); anything else -> a checked torch device."""
    if device is None or (isinstance(device, str) and device == "cpu"):
        return None
    from .torch_path import resolve_device  # only a GPU (or a torch device) pays for torch

    resolved = resolve_device(device)
    return None if resolved.type == "cpu" else resolved


def _scan(
    query_codes: Any,
    query_labels: Any,
    db_codes: Any,
    db_labels: Any,
    topk: int | None,
    ties: str,
    seed: int,
    device: Any,
    curves: bool = False,
    n_grid: Any = None,
    threads: int = 1,
) -> tuple[Iterator[Block], dict[str, Any]]:
    """Validate every input up front, then the per-block results of the right path."""
    ties, seed, threads = check_ties(ties), check_seed(seed), check_threads(threads)
    dev = _torch_device(device)
    query, database, bits = prepare_codes(query_codes, db_codes)
    query_lab, db_lab = prepare_labels(query_labels, db_labels, len(query), len(database))
    k = resolve_topk(topk, len(database))
    grid = check_grid(n_grid, len(database)) if curves else None
    info = {"bits": bits, "num_queries": len(query), "num_database": len(database), "grid": grid}
    if dev is None:
        from .scan import scan

        return scan(query, database, query_lab, db_lab, k, ties, seed, grid, threads), info
    from .torch_path import scan as torch_scan

    return torch_scan(query, database, query_lab, db_lab, k, ties, seed, grid, dev), info


def hamming_distances(query_codes: Any, db_codes: Any, device: Any = None) -> Any:
    """(Q, N) int32 Hamming distances: a numpy array on the CPU, a torch tensor on ``cuda``.

    XOR + popcount of packed words on the CPU; a float32 matmul of signs on the GPU (exact for
    codes up to 2**24 bits).
    """
    dev = _torch_device(device)
    query, database, bits = prepare_codes(query_codes, db_codes)
    if dev is not None:
        from .torch_path import distance_matrix

        return distance_matrix(query, database, dev)
    kernel = DistanceKernel(pack_words(database), bits)
    words = pack_words(query)
    out = np.empty((len(query), len(database)), dtype=np.int32)
    step = max(1, (1 << 20) // len(database))
    for start in range(0, len(query), step):
        out[start : start + step] = kernel(words[start : start + step])
    return out


def relevance(query_labels: Any, db_labels: Any, device: Any = None) -> Any:
    """(Q, N) bool: query and database item share at least one label (numpy, or torch on cuda).

    Labels are 1-D class ids (relevant = same class) or 2-D multi-hot rows (relevant = at least
    one common label). The metrics never build this matrix; they check candidates only.
    """
    dev = _torch_device(device)
    query, database = prepare_labels(query_labels, db_labels, None, None)
    if dev is not None:
        from .torch_path import relevance_matrix

        return relevance_matrix(query, database, dev)
    table = Relevance(query, database)
    return np.stack([table.of(i) for i in range(len(query.values))]).reshape(
        len(query.values), len(database.values)
    )


def average_precision_per_query(
    query_codes: Any,
    query_labels: Any,
    db_codes: Any,
    db_labels: Any,
    topk: int | None = 5000,
    ties: str = DEFAULT_TIES,
    seed: int = 0,
    device: Any = None,
    threads: int = 1,
) -> np.ndarray:
    """AP@``topk`` of every query (float64, shape (Q,)), the numbers mAP averages.

    Useful for per-query analysis and significance tests between methods. See the module
    docstring for the AP convention and the tie policies. ``threads`` > 1 scores blocks of
    queries in that many threads on the CPU (same numbers).
    """
    blocks, info = _scan(
        query_codes, query_labels, db_codes, db_labels, topk, ties, seed, device, threads=threads
    )
    return collect(blocks, info["bits"], None)[0]


def mean_average_precision(
    query_codes: Any,
    query_labels: Any,
    db_codes: Any,
    db_labels: Any,
    topk: int | None = 5000,
    ties: str = DEFAULT_TIES,
    seed: int = 0,
    device: Any = None,
    threads: int = 1,
) -> float:
    """mAP@``topk`` over all queries, zero-hit queries included as 0 (SPEC section 2).

    ``topk`` None or -1 means the whole database. ``ties`` is ``expected`` (exact expectation
    over tie orders, the default), ``random`` (one order per query from ``seed``) or ``index``.
    """
    return float(
        average_precision_per_query(
            query_codes, query_labels, db_codes, db_labels, topk, ties, seed, device, threads
        ).mean()
    )


def chance_map(
    query_labels: Any, db_labels: Any, topk: int | None = 5000, device: Any = None
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


def evaluate(
    query_codes: Any,
    query_labels: Any,
    db_codes: Any,
    db_labels: Any,
    topk: int | None = 5000,
    ties: str = DEFAULT_TIES,
    seed: int = 0,
    device: Any = None,
    n_grid: Any = None,
    curves: bool = True,
    threads: int = 1,
) -> dict[str, Any]:
    """All retrieval numbers of one (query, database) pair as a JSON-serialisable dict.

    Keys: ``map@K`` (K as given; ``map@all`` for None/-1), ``ties``, ``topk`` (None for all),
    ``seed``, ``bits``, ``num_queries``, ``num_database``, and with ``curves`` three curves:

    * ``pr_curve``: for every Hamming radius 0..bits, precision and recall of the ball of that
      radius (all items with distance <= radius; no tie policy involved). Macro averages over
      queries: precision over the queries whose ball holds at least one item (None when none
      does), recall over the queries with at least one relevant item in the database.
    * ``p_at_n`` / ``r_at_n``: precision (hits/N) and recall (hits/R_total) of the top-N list
      for N in ``n_grid`` (default :func:`default_n_grid`; values above the database size are
      dropped). The top-N list follows the tie policy; for ``expected`` the exact expectation
      E[hits] = R_<b + k_b r_b / n_b. Precision averages all queries, recall the queries with at
      least one relevant item.

    The curves need every database item counted per query; without them only the candidates
    inside each query's K-th radius are touched.
    """
    blocks, info = _scan(
        query_codes, query_labels, db_codes, db_labels, topk, ties, seed, device, curves, n_grid,
        threads,
    )  # fmt: skip
    aps, curve_values = collect(blocks, info["bits"], info["grid"])
    all_ranks = topk is None or (not isinstance(topk, bool) and topk == -1)
    return {
        ("map@all" if all_ranks else f"map@{int(topk)}"): float(aps.mean()),
        "ties": ties,
        "topk": None if all_ranks else int(topk),
        "seed": int(seed),
        "bits": int(info["bits"]),
        "num_queries": int(info["num_queries"]),
        "num_database": int(info["num_database"]),
        **curve_values,
    }
