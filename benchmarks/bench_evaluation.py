"""Time zshbench's mAP@K against a straightforward per-query NumPy implementation.

    python benchmarks/bench_evaluation.py [--quick] [--device cpu|cuda]

Paper scale (SPEC section 1): AWA2-sized 1,000 queries x 32,322 database items with 50 classes,
and CIFAR-10-sized 200 x 55,800 with 10 classes, random codes at 24/48/64/128 bits. The
reference is what most published hashing code does (DeepHash-pytorch's CalcTopMap, written
plainly): per query, Hamming distances, a stable argsort, AP@K; i.e. the ``index`` tie policy.
zshbench's ``index`` numbers must agree with it to 1e-12 per query.

A second table shows why the tie policy is part of the metric: at 24 bits, codes with class
structure, mAP@5000 under each policy, with the database stored shuffled or in class order, and
with relevant items ordered first or last inside every tie group.

Exit status 0 when every agreement check holds.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np

from zshbench.evaluation import average_precision_per_query

TOPK = 5000


def reference_ap(
    query_codes: np.ndarray,
    query_labels: np.ndarray,
    db_codes: np.ndarray,
    db_labels: np.ndarray,
    topk: int,
    tie_key: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Per-query AP@K, one query at a time: distances, stable argsort, cumulative precision.

    ``tie_key(relevant)`` optionally orders items inside ties (a secondary sort key); by default
    ties stay in database order (the ``index`` policy).
    """
    bits = query_codes.shape[1]
    database = db_codes.astype(np.float32)
    out = np.zeros(len(query_codes))
    for i, code in enumerate(query_codes.astype(np.float32)):
        distances = 0.5 * (bits - database @ code)
        relevant_all = db_labels == query_labels[i]
        if tie_key is None:
            order = np.argsort(distances, kind="stable")
        else:
            order = np.lexsort((tie_key(relevant_all), distances))
        relevant = relevant_all[order[:topk]].astype(np.float64)
        found = relevant.sum()
        if found == 0:
            continue  # AP = 0, and the query still counts
        precision = np.cumsum(relevant) / np.arange(1, len(relevant) + 1)
        out[i] = (precision * relevant).sum() / found
    return out


def random_case(
    rng: np.random.Generator, queries: int, database: int, bits: int, classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Random {-1, +1} codes and uniformly random class labels."""
    signs = np.array([-1, 1], np.int8)
    return (
        rng.choice(signs, (queries, bits)),
        rng.integers(0, classes, queries),
        rng.choice(signs, (database, bits)),
        rng.integers(0, classes, database),
    )


def structured_case(
    rng: np.random.Generator,
    queries: int,
    database: int,
    bits: int,
    classes: int,
    query_classes: int,
    flip: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Codes = a random prototype per class with each bit flipped with probability ``flip``.

    Queries come from the first ``query_classes`` classes (zero-shot: unseen classes), the
    database from all classes; so mAP is well above chance and ties decide a lot.
    """
    prototypes = rng.choice(np.array([-1, 1], np.int8), (classes, bits))

    def draw(labels: np.ndarray) -> np.ndarray:
        flips = np.where(rng.random((len(labels), bits)) < flip, -1, 1).astype(np.int8)
        return prototypes[labels] * flips

    query_labels = np.repeat(np.arange(query_classes), -(-queries // query_classes))[:queries]
    db_labels = rng.integers(0, classes, database)
    return draw(query_labels), query_labels, draw(db_labels), db_labels


def timed(function: Callable[..., np.ndarray], *args, **kwargs) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return time.perf_counter() - start, value


def speed_table(
    sizes: Sequence[tuple[str, int, int, int]],
    bit_lengths: Sequence[int],
    device: str | None,
    seed: int,
) -> tuple[list[list[str]], bool]:
    rng = np.random.default_rng(seed)
    rows, agree_all = [], True
    for name, queries, database, classes in sizes:
        for bits in bit_lengths:
            q, ql, db, dbl = random_case(rng, queries, database, bits, classes)
            ref_s, ref = timed(reference_ap, q, ql, db, dbl, TOPK)
            case = dict(topk=TOPK, device=device)
            index_s, index = timed(
                average_precision_per_query, q, ql, db, dbl, ties="index", **case
            )
            expected_s, expected = timed(
                average_precision_per_query, q, ql, db, dbl, ties="expected", **case
            )
            difference = float(np.abs(index - ref).max())
            agree = difference <= 1e-12
            agree_all &= agree
            rows.append(
                [
                    name,
                    f"{queries}x{database}",
                    str(bits),
                    f"{ref_s:.2f}",
                    f"{index_s:.3f}",
                    f"{expected_s:.3f}",
                    f"{ref_s / index_s:.0f}x",
                    f"{ref_s / expected_s:.0f}x",
                    f"{'yes' if agree else 'NO'} ({difference:.1e})",
                    f"{ref.mean():.5f}",
                    f"{expected.mean():.5f}",
                ]
            )
    return rows, agree_all


def ties_table(queries: int, database: int, device: str | None, seed: int) -> list[list[str]]:
    """mAP@5000 at 24 bits under each tie policy, on codes with class structure."""
    rng = np.random.default_rng(seed + 1)
    q, ql, db, dbl = structured_case(rng, queries, database, 24, 50, 10, flip=0.25)
    shuffled = rng.permutation(database)
    class_order = np.argsort(dbl, kind="stable")
    randoms = [
        average_precision_per_query(q, ql, db, dbl, TOPK, "random", s, device).mean()
        for s in range(5)
    ]
    topk = min(TOPK, database)
    rows = [
        ["expected (exact)", average_precision_per_query(q, ql, db, dbl, TOPK, device=device)],
        ["random, seeds 0-4", f"{np.mean(randoms):.4f} +- {np.std(randoms, ddof=1):.4f}"],
        [
            "index, database shuffled",
            average_precision_per_query(
                q, ql, db[shuffled], dbl[shuffled], TOPK, "index", device=device
            ),
        ],
        [
            "index, database in class order",
            average_precision_per_query(
                q, ql, db[class_order], dbl[class_order], TOPK, "index", device=device
            ),
        ],
        ["relevant first in every tie", reference_ap(q, ql, db, dbl, topk, lambda r: ~r)],
        ["relevant last in every tie", reference_ap(q, ql, db, dbl, topk, lambda r: r)],
    ]
    return [
        [name, value if isinstance(value, str) else f"{value.mean():.4f}"] for name, value in rows
    ]


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=True)]
    for line in [headers, ["-" * w for w in widths], *rows]:
        print("  ".join(str(x).rjust(w) for x, w in zip(line, widths, strict=True)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if args.quick:
        sizes = [("awa2-like", 40, 3000, 50), ("cifar10-like", 20, 6000, 10)]
        bit_lengths, tie_sizes = [24, 64], (60, 6000)
    else:
        sizes = [("awa2", 1000, 32322, 50), ("cifar10", 200, 55800, 10)]
        bit_lengths, tie_sizes = [24, 48, 64, 128], (1000, 32322)

    warm = random_case(np.random.default_rng(0), 4, 64, 8, 2)  # torch start-up, not timed
    average_precision_per_query(*warm, topk=10, device=args.device)

    print(f"mAP@{TOPK}, random codes: per-query NumPy reference vs zshbench (seconds)\n")
    rows, agree = speed_table(sizes, bit_lengths, args.device, args.seed)
    print_table(
        [
            "data",
            "QxN",
            "bits",
            "reference",
            "index",
            "expected",
            "speed-up",
            "vs expected",
            "index == ref (max diff)",
            "mAP ref",
            "mAP expected",
        ],
        rows,
    )
    queries, database = tie_sizes
    print(
        f"\nHow much ties matter: mAP@{TOPK} at 24 bits, {queries}x{database}, codes with "
        "class structure (50 classes, queries from 10)\n"
    )
    print_table(["tie order", f"mAP@{TOPK}"], ties_table(queries, database, args.device, args.seed))
    print(f"\nindex policy agrees with the reference to 1e-12: {'yes' if agree else 'NO'}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
