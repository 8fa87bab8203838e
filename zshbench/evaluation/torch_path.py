"""The torch path of the metrics, for ``device='cuda'``: the same numbers as the numpy path.

Imported only when a GPU is asked for, so ``zshbench eval`` and every CPU evaluation never pay
for ``import torch``. Distances come from a float32 matmul of signs (exact below 2**24 bits),
relevance and per-distance histograms from one bincount, the ``index``/``random`` rankings from
a stable sort of the whole row; the ``expected`` arithmetic is the shared numpy code.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from ..errors import ZshbenchError
from .block import Block
from .expected import Tables, expected_ap, expected_hits_at
from .inputs import Labels

# Upper bound on the elements of one (queries x database) block. Peak memory is a few tens of
# bytes per element (distances, relevance, sort order, cumulative counts): ~100-200 MB.
CHUNK_ELEMENTS = 1 << 22


def resolve_device(device: str | torch.device | None) -> torch.device:
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
    return max(1, CHUNK_ELEMENTS // max(num_database, 1))


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


def to_device(array: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array)).to(device, dtype)


def scan(
    query: np.ndarray,
    database: np.ndarray,
    query_lab: Labels,
    db_lab: Labels,
    k: int,
    ties: str,
    seed: int,
    grid: np.ndarray | None,
    device: torch.device,
) -> Iterator[Block]:
    """Per-chunk results (curve data when ``grid`` is given) of validated inputs on ``device``."""
    bits, num_query, num_database = query.shape[1], len(query), len(database)
    db_t = to_device(database, device, torch.float32).T.contiguous()
    query_scaled = to_device(query, device, torch.float32).mul_(-0.5)
    q_lab = torch.from_numpy(query_lab.values).to(device)
    d_lab = torch.from_numpy(db_lab.values).to(device)
    tables = Tables(num_database) if ties == "expected" else None
    rows = _chunk_rows(num_database)
    for start in range(0, num_query, rows):
        stop = min(start + rows, num_query)
        distances = _distance_block(query_scaled[start:stop], db_t, bits)
        relevant = _relevance_block(q_lab[start:stop], d_lab, query_lab.multi_hot)
        block = Block(ap=np.empty(0))
        if ties == "expected" or grid is not None:
            block.counts, block.hits = _histograms(distances, relevant, bits + 1)
        if ties == "expected":
            assert tables is not None and block.counts is not None and block.hits is not None
            block.ap = expected_ap(block.counts, block.hits, k, tables)
            if grid is not None:
                block.hits_at = expected_hits_at(block.counts, block.hits, grid)
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


def distance_matrix(query: np.ndarray, database: np.ndarray, device: torch.device) -> torch.Tensor:
    """(Q, N) int32 Hamming distances of sign codes on ``device``, in query chunks."""
    bits = query.shape[1]
    db_t = to_device(database, device, torch.float32).T.contiguous()
    query_scaled = to_device(query, device, torch.float32).mul_(-0.5)
    out = torch.empty((len(query), len(database)), dtype=torch.int32, device=device)
    rows = _chunk_rows(len(database))
    for start in range(0, len(query), rows):
        stop = min(start + rows, len(query))
        out[start:stop] = _distance_block(query_scaled[start:stop], db_t, bits)
    return out


def relevance_matrix(query: Labels, database: Labels, device: torch.device) -> torch.Tensor:
    """(Q, N) bool relevance on ``device``, in query chunks."""
    q = torch.from_numpy(query.values).to(device)
    db = torch.from_numpy(database.values).to(device)
    out = torch.empty((len(q), len(db)), dtype=torch.bool, device=device)
    rows = _chunk_rows(len(db))
    for start in range(0, len(q), rows):
        stop = min(start + rows, len(q))
        out[start:stop] = _relevance_block(q[start:stop], db, query.multi_hot)
    return out
