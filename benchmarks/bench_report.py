"""``zshbench report`` over many records: time and peak memory, streaming against holding all.

    python benchmarks/bench_report.py [--records 20000] [--repeats 3]

Writes that many synthetic schema-2 records (one data set, 20 runs, 4 code lengths, seeds
0..N; every record with a PR curve at its code length and a 100-point P@N curve, as a real
run writes them) into a temporary folder, then times, each in a fresh process:

* ``reference``: what ``report`` did before issue 18: hold every parsed record (curves
  included) until the folder is read, then build the table from them, reading each record's
  field types afresh (``typing.get_type_hints`` per object, as the record reader did) and
  parsing with json (the reader now parses with orjson);
* ``zshbench``: ``zshbench.report.render`` as it is, which keeps of each record only the
  table's fields while it reads.

Both must give the same markdown table. Reported: median wall seconds, median CPU seconds
(user + system of the child: the wall time on an idle core) and peak resident memory
(ru_maxrss of the child) over the repeats. Goal (issue 18): at 20,000 records, at most
3 s and 200 MB.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = [f"method{i:02d}" for i in range(20)]
BITS = (24, 48, 64, 128)


def write_records(root: Path, count: int) -> None:
    """``count`` records as their JSON files, straight to disk (no fsync: setup only)."""
    from zshbench.record import Record, SplitInfo, Timings

    grid = [(run, bits) for run in RUNS for bits in BITS]
    for i in range(count):
        run, bits = grid[i % len(grid)]
        seed = i // len(grid)
        value = 0.2 + 0.5 * ((i * 7919) % 1000) / 1000
        curves = {
            "pr_curve": {
                "radius": list(range(bits + 1)),
                "precision": [1 - r / (bits + 2) for r in range(bits + 1)],
                "recall": [r / bits for r in range(bits + 1)],
            },
            "p_at_n": {"n": list(range(1, 101)), "precision": [value] * 100},
        }
        record = Record(
            method=run, run_name=run, dataset="digits",
            split=SplitInfo(id="random-0-abc", name="random-0"), bits=bits, seed=seed,
            tie_policy="expected", topk=5000, options={}, config={"epochs": 5}, encoder=None,
            encoder_options=None, metrics={"map@5000": value, "chance_map": 0.1167},
            curves=curves, timings=Timings(fit_s=1.0, encode_s=0.1, evaluate_s=0.1),
            method_source=None, method_family=None, environment=None, distributed=None,
            created=None,
        )  # fmt: skip
        folder = root / "digits" / "random-0-abc" / run
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"bits{bits}-seed{seed}.json").write_text(record.to_json())


CHILD = {
    "reference": """
import json, sys, warnings
from pathlib import Path
import pandas as pd
from zshbench import record as record_module, report
from zshbench.results import iter_records
# as before: every annotation read anew per object, and json's parser
record_module._field_checks = record_module._field_checks.__wrapped__
record_module.parsed_json = lambda raw: json.loads(raw.decode("utf-8"))
held = list(iter_records(Path(sys.argv[1])))  # every record, curves included, until the end
rows = [report._row(path, record) for path, record in held]
frame = pd.DataFrame(rows, columns=list(report.FRAME_COLUMNS))
report.records_frame = lambda _root: frame
print(report.render(Path(sys.argv[1]), "markdown"), end="")
""",
    "zshbench": """
import sys
from pathlib import Path
from zshbench import report
print(report.render(Path(sys.argv[1]), "markdown"), end="")
""",
}


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(kind: str, root: Path) -> tuple[float, float, float, str]:
    """(wall seconds, CPU seconds, peak MB, output) of one fresh process rendering the report.

    CPU seconds (user + system of the child) are what the wall time is on an idle core; on a
    shared machine the wall time also counts the waits for one."""
    start, cpu_before = time.perf_counter(), _children_cpu_s()
    done = subprocess.run(
        [sys.executable, "-c", CHILD[kind], str(root)], capture_output=True, text=True, check=True
    )
    wall, cpu = time.perf_counter() - start, _children_cpu_s() - cpu_before
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB -> MiB
    return wall, cpu, peak, done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="zshbench-bench-report-") as folder:
        root = Path(folder)
        write_records(root, args.records)
        size = sum(p.stat().st_size for p in root.rglob("*.json")) / 2**20
        print(f"{args.records} records, {size:.0f} MB on disk, {args.repeats} repeats each")
        outputs, table = {}, []
        # ru_maxrss of RUSAGE_CHILDREN is the largest child so far: the lighter kind goes first.
        for kind in ("zshbench", "reference"):
            walls, cpus, peaks = [], [], []
            for _ in range(args.repeats):
                wall, cpu, peak, outputs[kind] = measure(kind, root)
                walls.append(wall)
                cpus.append(cpu)
                peaks.append(peak)
            median = statistics.median
            table.append((kind, median(walls), median(cpus), max(peaks)))
    same = outputs["zshbench"] == outputs["reference"]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'implementation':<14} {'median wall s':>13} {'median CPU s':>12} {'peak MB':>8}")
    for kind, wall, cpu, peak in table:
        print(f"{kind:<14} {wall:>13.2f} {cpu:>12.2f} {peak:>8.0f}")
    (_, new_s, new_cpu, new_mb), (_, ref_s, ref_cpu, ref_mb) = table
    print(
        f"zshbench / reference: wall {new_s / ref_s:.2f}x, CPU {new_cpu / ref_cpu:.2f}x, "
        f"peak memory {new_mb / ref_mb:.2f}x"
    )
    print(f"same table: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
