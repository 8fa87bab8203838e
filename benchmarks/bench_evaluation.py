"""zshbench's mAP@K against faiss, DeepHash-pytorch's CalcTopMap and a per-query NumPy loop.

    python benchmarks/bench_evaluation.py [--quick] [--sizes awa2,cifar10,...] [--repeat 3]

Sizes (random codes; SPEC section 1 and the data sets' real sizes): AWA2 1,000 x 32,322 at
24/48/64/128 bits (K = 5000, 50 classes); CIFAR-10 200 x 55,800 x 64 (K = 5000, 10 classes);
ImageNet-100 5,000 x 128,495 x 64 (K = 1000 and 5000, 100 classes); NUS-WIDE-like 2,100 x
193,734 x 64 with 21 multi-hot labels (K = 5000). The implementations are in
``eval_references.py``; "floor" is the bare XOR + popcount distance matrix of the same codes
(zshbench's kernel, results thrown away), timed in the same run.

First every implementation's per-query AP is checked against zshbench's ``index`` policy on
the first queries (faiss with ties re-ordered by id, CalcTopMap with a stable sort), to 1e-12.
Then, at one thread and at all cores: CPU seconds (one thread) or wall seconds (all cores),
the peak memory each call adds (VmHWM after a reset, in MB), and the ratios. CalcTopMap and the
NumPy loop are timed on the first ``--ref-queries`` queries and scaled to all (marked ~). Then
the whole ``zshbench eval`` process against a faiss script on the same .npz file, a scaling
run in N and in Q, and a table of how much the tie policy moves mAP.

Exit status 0 when every agreement check holds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_references import calc_top_map_ap, faiss_ap, numpy_loop_ap  # noqa: E402

from zshbench.evaluation import average_precision_per_query, pack_codes  # noqa: E402
from zshbench.evaluation.hamming import DistanceKernel, pack_words  # noqa: E402

try:
    import faiss
except ImportError:  # faiss-cpu is optional: its columns then read n/a
    faiss = None

# name: (queries, database, bit lengths, K values, classes; negative = that many multi-hot labels)
FULL = {
    "awa2": (1000, 32322, (24, 48, 64, 128), (5000,), 50),
    "cifar10": (200, 55800, (64,), (5000,), 10),
    "imagenet100": (5000, 128495, (64,), (1000, 5000), 100),
    "nus-wide": (2100, 193734, (64,), (5000,), -21),
}
QUICK = {
    "awa2-like": (40, 3000, (24, 64), (500,), 50),
    "imagenet-like": (60, 6000, (64,), (100, 500), 100),
    "nus-like": (30, 4000, (64,), (500,), -21),
}


def make_case(rng: np.random.Generator, queries: int, database: int, bits: int, classes: int):
    """Random {-1, +1} codes; class ids, or multi-hot rows with skewed label frequencies."""
    signs = np.array([-1, 1], np.int8)
    q, db = rng.choice(signs, (queries, bits)), rng.choice(signs, (database, bits))
    if classes > 0:
        return q, rng.integers(0, classes, queries), db, rng.integers(0, classes, database)
    frequency = 0.3 * 0.85 ** np.arange(-classes)

    def labels(count: int) -> np.ndarray:
        rows = (rng.random((count, -classes)) < frequency).astype(np.uint8)
        rows[np.arange(count), rng.integers(0, -classes, count)] = 1  # at least one label
        return rows

    return q, labels(queries), db, labels(database)


def structured_case(rng, queries, database, bits, classes, query_classes, flip):
    """Codes = a random prototype per class with each bit flipped with probability ``flip``."""
    prototypes = rng.choice(np.array([-1, 1], np.int8), (classes, bits))

    def draw(labels: np.ndarray) -> np.ndarray:
        flips = np.where(rng.random((len(labels), bits)) < flip, -1, 1).astype(np.int8)
        return prototypes[labels] * flips

    query_labels = np.repeat(np.arange(query_classes), -(-queries // query_classes))[:queries]
    db_labels = rng.integers(0, classes, database)
    return draw(query_labels), query_labels, draw(db_labels), db_labels


# --------------------------------------------------------------------------------------------
# measuring


def _status_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def measure(function: Callable, *args, repeat: int = 1, **kwargs):
    """(median CPU s, median wall s, peak MB added, value) over ``repeat`` calls."""
    cpu, wall, peak, value = [], [], [], None
    for _ in range(repeat):
        try:
            with open("/proc/self/clear_refs", "w") as refs:
                refs.write("5")  # resets VmHWM to the current RSS
        except OSError:
            pass
        before = _status_kb("VmRSS")
        c0, w0 = time.process_time(), time.perf_counter()
        value = function(*args, **kwargs)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
        high = _status_kb("VmHWM")
        if before is not None and high is not None:
            peak.append((high - before) / 1024)
    return statistics.median(cpu), statistics.median(wall), max(peak, default=float("nan")), value


def floor(query_codes: np.ndarray, db_codes: np.ndarray) -> None:
    """The bare distance matrix: pack, then XOR + popcount for every pair, results discarded."""
    kernel = DistanceKernel(pack_words(db_codes), db_codes.shape[1])
    words = pack_words(query_codes)
    step = max(1, (1 << 17) // min(len(db_codes), kernel.tile))
    for start in range(0, len(words), step):
        kernel(words[start : start + step])


def set_threads(count: int) -> None:
    if faiss is not None:
        faiss.omp_set_num_threads(count)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(count)
    except ImportError:
        pass


def agreement(case, topk: int, queries: int) -> tuple[bool, str]:
    """Max |AP - zshbench index| per implementation on the first ``queries`` queries."""
    q, ql, db, dbl = (case[0][:queries], case[1][:queries], case[2], case[3])
    ours = average_precision_per_query(q, ql, db, dbl, topk=topk, ties="index")
    others = {
        "loop": numpy_loop_ap(q, ql, db, dbl, topk),
        "calctopmap": calc_top_map_ap(q, ql, db, dbl, topk, kind="stable"),
    }
    if faiss is not None and q.shape[1] % 8 == 0:
        others["faiss"] = faiss_ap(q, ql, db, dbl, topk, faiss, by_id=True)
    worst = max(float(np.abs(v - ours).max()) for v in others.values())
    return worst <= 1e-12, f"{'yes' if worst <= 1e-12 else 'NO'} ({worst:.0e})"


# --------------------------------------------------------------------------------------------
# tables


def _fmt(seconds: float, scaled: bool = False) -> str:
    return ("~" if scaled else "") + (f"{seconds:.3f}" if seconds < 10 else f"{seconds:.1f}")


def speed_rows(sizes: dict, threads: int, args, agree: dict) -> list[list[str]]:
    """One row per (size, bits, K): seconds of each implementation, ratios, peak MB."""
    set_threads(threads)
    pick = 0 if threads == 1 else 1  # CPU seconds at one thread, wall seconds at all cores
    rows = []
    for name, (queries, database, bit_lengths, ks, classes) in sizes.items():
        for bits in bit_lengths:
            rng = np.random.default_rng([args.seed, bits, database])
            case = make_case(rng, queries, database, bits, classes)
            refs = min(queries, args.ref_queries)
            sub = (case[0][:refs], case[1][:refs], case[2], case[3])
            flo = measure(floor, case[0], case[2], repeat=args.repeat)
            for topk in ks:
                key = (name, bits, topk)
                if key not in agree:
                    agree[key] = agreement(case, topk, min(queries, args.check_queries))
                index = measure(
                    average_precision_per_query, *case, topk=topk, ties="index",
                    threads=threads, repeat=args.repeat,
                )  # fmt: skip
                expected = measure(
                    average_precision_per_query, *case, topk=topk, threads=threads,
                    repeat=args.repeat,
                )  # fmt: skip
                fai = (
                    measure(faiss_ap, *case, topk, faiss, repeat=args.repeat)
                    if faiss is not None and bits % 8 == 0
                    else None
                )
                ctm = measure(calc_top_map_ap, *sub, topk)
                loop = measure(numpy_loop_ap, *sub, topk)
                scale = queries / refs
                ours = index[pick]
                rows.append(
                    [
                        name, f"{queries}x{database}", str(bits), str(topk), str(threads),
                        _fmt(flo[pick]), _fmt(ours), _fmt(expected[pick]),
                        _fmt(fai[pick]) if fai else "n/a",
                        _fmt(ctm[pick] * scale, refs < queries),
                        _fmt(loop[pick] * scale, refs < queries),
                        f"{fai[pick] / ours:.1f}x" if fai else "n/a",
                        f"{ctm[pick] * scale / ours:.0f}x",
                        f"{ours / flo[pick]:.1f}x",
                        f"{index[2]:.0f}", f"{expected[2]:.0f}",
                        f"{fai[2]:.0f}" if fai else "n/a",
                        agree[key][1],
                    ]
                )  # fmt: skip
    return rows


SPEED_HEADERS = [
    "data", "QxN", "bits", "K", "thr", "floor", "index", "expected", "faiss", "CalcTopMap",
    "loop", "faiss/index", "CTM/index", "index/floor", "MB index", "MB expected", "MB faiss",
    "agree (max diff)",
]  # fmt: skip

# faiss with its ties re-ordered by id, so both processes compute the ``index`` policy
FAISS_SCRIPT = """
import sys, numpy as np, faiss
faiss.omp_set_num_threads(1)
sys.path.insert(0, sys.argv[3])
from eval_references import faiss_ap
with np.load(sys.argv[1], allow_pickle=False) as f:
    q, ql, db, dbl = (f[k] for k in ("query_codes", "query_labels", "db_codes", "db_labels"))
    bits = int(f["bits"])
q = np.unpackbits(q, axis=1)[:, :bits]; db = np.unpackbits(db, axis=1)[:, :bits]
print(faiss_ap(q, ql, db, dbl, int(sys.argv[2]), faiss, by_id=True).mean())
"""

ZSHBENCH_SCRIPT = """
import sys
from zshbench.cli import main
sys.argv = ["zshbench", "eval", sys.argv[1], "--ties", "index", "--topk", sys.argv[2], "--json"]
main()
"""

PEAK = """
import atexit, sys
def _peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            sys.stderr.write("PEAK " + line.split()[1] + "\\n")
atexit.register(_peak)
"""


def _process(script: str, path: Path, topk: int) -> tuple[float, float, str]:
    """(wall s, peak MB, last stdout line) of one ``python -c script path K`` process."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", PEAK + script, str(path), str(topk), str(Path(__file__).parent)],
        capture_output=True, text=True, env=env, timeout=1800,
    )  # fmt: skip
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    peaks = [int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("PEAK")]
    return wall, (peaks[-1] / 1024 if peaks else float("nan")), done.stdout.strip().splitlines()[-1]


def process_rows(sizes: dict, args) -> list[list[str]]:
    """The whole ``zshbench eval`` process against a faiss script, one thread, one file."""
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, (queries, database, bit_lengths, ks, classes) in sizes.items():
            bits, topk = bit_lengths[-1] if 64 not in bit_lengths else 64, ks[0]
            case = make_case(np.random.default_rng(args.seed), queries, database, bits, classes)
            path = Path(folder) / f"{name}.npz"
            np.savez(
                path, query_codes=pack_codes(case[0]), db_codes=pack_codes(case[2]),
                query_labels=case[1], db_labels=case[3], bits=np.array(bits),
            )  # fmt: skip
            ours = _process(ZSHBENCH_SCRIPT, path, topk)
            theirs = _process(FAISS_SCRIPT, path, topk) if faiss is not None else None
            reported = json.loads(ours[2])[f"map@{topk}"]
            same = theirs is not None and abs(reported - float(theirs[2])) <= 1e-12
            rows.append(
                [
                    name, f"{queries}x{database}x{bits}", str(topk),
                    f"{ours[0]:.2f}", f"{theirs[0]:.2f}" if theirs else "n/a",
                    f"{theirs[0] / ours[0]:.1f}x" if theirs else "n/a",
                    f"{ours[1]:.0f}", f"{theirs[1]:.0f}" if theirs else "n/a",
                    "yes" if same else ("n/a" if theirs is None else "NO"),
                ]
            )  # fmt: skip
    return rows


def scaling_rows(args) -> list[list[str]]:
    """zshbench index, the floor and faiss (one thread, CPU s) as N and Q grow; 64 bits, K=1000."""
    set_threads(1)
    base_n, base_q = (8000, 100) if args.quick else (64000, 1000)
    grid = [(base_q, base_n // 4), (base_q, base_n), (base_q, base_n * 4)]
    grid += [(base_q // 4, base_n), (base_q * 4, base_n)]
    topk = 100 if args.quick else 1000
    rows = []
    for queries, database in grid:
        case = make_case(np.random.default_rng(args.seed), queries, database, 64, 50)
        flo = measure(floor, case[0], case[2])[0]
        ours = measure(average_precision_per_query, *case, topk=topk, ties="index")[0]
        fai = measure(faiss_ap, *case, topk, faiss)[0] if faiss is not None else None
        rows.append(
            [
                str(queries), str(database), _fmt(flo), _fmt(ours),
                _fmt(fai) if fai else "n/a", f"{ours / flo:.1f}x",
                f"{fai / ours:.1f}x" if fai else "n/a",
                f"{ours / (queries * database) * 1e9:.2f}",
            ]
        )  # fmt: skip
    return rows


def ties_rows(queries: int, database: int, seed: int) -> list[list[str]]:
    """mAP@5000 at 24 bits under each tie policy, on codes with class structure."""
    rng = np.random.default_rng(seed + 1)
    q, ql, db, dbl = structured_case(rng, queries, database, 24, 50, 10, flip=0.25)
    shuffled, class_order = rng.permutation(database), np.argsort(dbl, kind="stable")
    topk = min(5000, database)
    randoms = [
        average_precision_per_query(q, ql, db, dbl, topk, "random", s).mean() for s in range(5)
    ]
    rows = [
        ["expected (exact)", average_precision_per_query(q, ql, db, dbl, topk)],
        ["random, seeds 0-4", f"{np.mean(randoms):.4f} +- {np.std(randoms, ddof=1):.4f}"],
        [
            "index, database shuffled",
            average_precision_per_query(q, ql, db[shuffled], dbl[shuffled], topk, "index"),
        ],
        [
            "index, database in class order",
            average_precision_per_query(q, ql, db[class_order], dbl[class_order], topk, "index"),
        ],
        ["relevant first in every tie", numpy_loop_ap(q, ql, db, dbl, topk, lambda r: ~r)],
        ["relevant last in every tie", numpy_loop_ap(q, ql, db, dbl, topk, lambda r: r)],
    ]
    return [[n, v if isinstance(v, str) else f"{v.mean():.4f}"] for n, v in rows]


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=True)]
    for line in [headers, ["-" * w for w in widths], *rows]:
        print("  ".join(str(x).rjust(w) for x, w in zip(line, widths, strict=True)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--sizes", default=None, help="comma-separated subset of the sizes")
    parser.add_argument("--threads", default="1,all", help="e.g. 1 or 1,all")
    parser.add_argument("--repeat", type=int, default=1, help="timings per cell (median)")
    parser.add_argument("--ref-queries", type=int, default=200)
    parser.add_argument("--check-queries", type=int, default=50)
    parser.add_argument("--skip", default="", help="any of: process,scaling,ties")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.sizes:
        sizes = {name: sizes[name] for name in args.sizes.split(",")}
    thread_counts = [os.cpu_count() or 1 if t == "all" else int(t) for t in args.threads.split(",")]
    agree: dict = {}
    print(f"faiss {faiss.__version__ if faiss else 'not installed'}, {os.cpu_count()} cores\n")
    for threads in thread_counts:
        unit = "CPU seconds" if threads == 1 else "wall seconds"
        print(f"mAP@K of random codes, {threads} thread(s), {unit} (~ = scaled from a subset)\n")
        print_table(SPEED_HEADERS, speed_rows(sizes, threads, args, agree))
        print()
    skip = set(args.skip.split(","))
    if "process" not in skip:
        print("The whole process on one .npz (one thread, wall seconds, peak RSS MB)\n")
        print_table(
            ["data", "QxNxbits", "K", "zshbench eval", "faiss script", "faiss/zshbench",
             "MB zshbench", "MB faiss", "same mAP"],
            process_rows(sizes, args),
        )  # fmt: skip
        print()
    if "scaling" not in skip:
        print("Scaling in N and Q (64 bits, one thread, CPU seconds)\n")
        print_table(
            ["Q", "N", "floor", "index", "faiss", "index/floor", "faiss/index", "ns/pair"],
            scaling_rows(args),
        )
        print()
    if "ties" not in skip:
        queries, database = (60, 6000) if args.quick else (1000, 32322)
        print(f"How much ties matter: mAP@5000 at 24 bits, {queries}x{database}, codes with "
              "class structure (50 classes, queries from 10)\n")  # fmt: skip
        print_table(["tie order", "mAP@5000"], ties_rows(queries, database, args.seed))
    ok = all(value[0] for value in agree.values())
    print(f"\nevery implementation agrees with zshbench's index policy to 1e-12: "
          f"{'yes' if ok else 'NO'}")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
