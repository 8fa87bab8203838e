"""The implementations bench_evaluation.py measures zshbench against, written here plainly.

* ``faiss_ap``: faiss ``IndexBinaryFlat`` (exhaustive XOR + popcount search, k = K), then AP@K
  of the ids it returns. Its results come sorted by distance; the benchmark re-orders ties by
  id to compare with the ``index`` policy.
* ``calc_top_map_ap``: DeepHash-pytorch's ``CalcTopMap`` as its code is documented to behave:
  per query, Hamming distances 0.5 * (bits - q . B^T) in float, relevance = (q_labels .
  db_labels^T > 0) on multi-hot rows, ``np.argsort`` with numpy's default (quicksort, *not*
  stable: the order inside ties is unspecified), the first K, and AP as
  mean(linspace(1, R, R) / positions). Queries without a relevant item in the top K add 0.
  ``kind="stable"`` is the variant whose ties follow the index, for the agreement check.
* ``numpy_loop_ap``: one query at a time, distances by a float matmul, a stable argsort and a
  cumulative precision: what most published evaluation code does.

Labels are either 1-D class ids or 2-D multi-hot rows (NUS-WIDE-like).
"""

from __future__ import annotations

import numpy as np


def _relevant(query_labels: np.ndarray, db_labels: np.ndarray, i: int, items=None) -> np.ndarray:
    database = db_labels if items is None else db_labels[items]
    if query_labels.ndim == 1:
        return database == query_labels[i]
    return (database[..., query_labels[i] > 0] > 0).any(-1)


def _ap_rows(relevant: np.ndarray) -> np.ndarray:
    """AP of each row of a ranked relevance matrix (Q, K); 0 for rows with no hit."""
    if len(relevant) > 256:  # a few rows at a time: the cumulative sums are 8 bytes a cell
        return np.concatenate(
            [_ap_rows(relevant[s : s + 256]) for s in range(0, len(relevant), 256)]
        )
    hits = np.cumsum(relevant, axis=1)
    ranks = np.arange(1, relevant.shape[1] + 1)
    found = hits[:, -1]
    total = np.where(relevant, hits / ranks, 0.0).sum(1)
    return np.divide(total, found, out=np.zeros(len(found)), where=found > 0)


def faiss_search(query_codes: np.ndarray, db_codes: np.ndarray, topk: int, faiss):
    """(distances, ids) of the top K per query from an exhaustive binary index."""
    bits = query_codes.shape[1]
    if bits % 8:
        raise ValueError("faiss binary indexes need a multiple of 8 bits")
    index = faiss.IndexBinaryFlat(bits)
    index.add(np.packbits(db_codes > 0, axis=1))
    return index.search(np.packbits(query_codes > 0, axis=1), topk)


def faiss_ap(query_codes, query_labels, db_codes, db_labels, topk, faiss, by_id=False):
    """AP@K per query from faiss's ranking (ties re-ordered by id when ``by_id``)."""
    distances, ids = faiss_search(query_codes, db_codes, topk, faiss)
    if by_id:
        order = np.lexsort((ids, distances), axis=1)
        ids = np.take_along_axis(ids, order, axis=1)
    if query_labels.ndim == 1:
        relevant = db_labels[ids] == query_labels[:, None]
    else:  # multi-hot rows as bit masks (up to 63 labels): one AND per returned id
        weights = np.left_shift(1, np.arange(query_labels.shape[1]), dtype=np.int64)
        query_mask, db_mask = (query_labels > 0) @ weights, (db_labels > 0) @ weights
        relevant = (db_mask[ids] & query_mask[:, None]) != 0
    return _ap_rows(relevant)


def calc_top_map_ap(query_codes, query_labels, db_codes, db_labels, topk, kind="quicksort"):
    """Per-query AP@K the way CalcTopMap computes it (see the module docstring)."""
    bits = query_codes.shape[1]
    database = db_codes.astype(np.float32)
    if query_labels.ndim == 1:  # CalcTopMap takes one-hot rows
        classes = int(max(query_labels.max(), db_labels.max())) + 1
        query_labels = np.eye(classes, dtype=np.float32)[query_labels]
        db_labels = np.eye(classes, dtype=np.float32)[db_labels]
    db_labels = db_labels.astype(np.float32)
    out = np.zeros(len(query_codes))
    for i, code in enumerate(query_codes.astype(np.float32)):
        relevant = (query_labels[i].astype(np.float32) @ db_labels.T > 0).astype(np.float32)
        hamming = 0.5 * (bits - code @ database.T)
        ranked = relevant[np.argsort(hamming, kind=kind)][:topk]
        found = int(ranked.sum())
        if found == 0:
            continue
        count = np.linspace(1, found, found)
        positions = np.asarray(np.where(ranked == 1)).ravel() + 1.0
        out[i] = np.mean(count / positions)
    return out


def numpy_loop_ap(query_codes, query_labels, db_codes, db_labels, topk, tie_key=None):
    """Per-query AP@K: float distances, a stable argsort (or ``tie_key`` inside ties), cumsum."""
    bits = query_codes.shape[1]
    database = db_codes.astype(np.float32)
    out = np.zeros(len(query_codes))
    for i, code in enumerate(query_codes.astype(np.float32)):
        distances = 0.5 * (bits - database @ code)
        relevant_all = _relevant(query_labels, db_labels, i)
        if tie_key is None:
            order = np.argsort(distances, kind="stable")
        else:
            order = np.lexsort((tie_key(relevant_all), distances))
        out[i] = _ap_rows(relevant_all[order[:topk]][None, :])[0]
    return out
