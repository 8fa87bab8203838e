"""Download throughput and peak memory of ``zshbench download`` over loopback.

    python benchmarks/bench_download.py [--quick] [--megabytes 200]

A file of random bytes (200 MB by default) is served by the standard library's
``python -m http.server`` in another process on 127.0.0.1; each client runs in a fresh process
of its own and fetches it, checks its md5, and reports its wall time and how far its peak
resident memory rose above what it had after its imports:

* ``zshbench download``: streaming into ``.part`` in 1 MiB chunks, md5 updated on the fly,
  then the rename and the completion marker (the real code path, ``unpack = "none"``);
* reference: ``urllib.request.urlretrieve`` followed by a second pass that hashes the file
  (what torchvision's ``download_url`` + ``check_integrity`` does);
* contrast: ``urlopen(url).read()`` into memory, then md5 (what streaming avoids).

Exit status 0 when every client got the right md5 and zshbench's memory stayed flat (its peak
grew by less than 64 MB while fetching a file several times that size).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

CHUNK = 1 << 20
FLAT_MB = 64
CLIENTS = {
    "zshbench": "zshbench download (stream + md5 on the fly)",
    "urlretrieve": "reference: urlretrieve, then an md5 pass",
    "read-all": "contrast: read() into memory, then md5",
}


def _peak_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak * (1 if sys.platform == "darwin" else 1024) / 1e6


def _md5_file(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def client(kind: str, url: str, md5: str, size: int, dest: Path) -> dict:
    """One client's run, in this (fresh) process; returns its figures."""
    if kind == "zshbench":
        from zshbench.datasets.spec_file import spec_from_mapping
        from zshbench.download.command import download
        from zshbench.download.transfer import Reporter

        table = {
            "name": "bench",
            "title": "benchmark file",
            "loader": "cifar10",
            "num_classes": 10,
            "protocol": {
                "num_seen": 8,
                "num_unseen": 2,
                "train_per_seen_class": 1,
                "query_per_unseen_class": 1,
            },
            "download": {
                "check": ["payload.bin"],
                "files": [{"url": url, "md5": md5, "size": size, "unpack": "none"}],
            },
        }
        spec = spec_from_mapping(table, dest / "bench.toml")
    baseline = _peak_mb()
    started = time.perf_counter()
    if kind == "zshbench":
        download(spec, dest, reporter=Reporter(quiet=True))
        got = json.loads((dest / ".zshbench" / "download-bench.json").read_text())
        digest = got["received"][0]["md5"]
    elif kind == "urlretrieve":
        urllib.request.urlretrieve(url, dest / "payload.bin")
        digest = _md5_file(dest / "payload.bin")
    else:
        with urllib.request.urlopen(url) as response:
            data = response.read()
        digest = hashlib.md5(data).hexdigest()
        del data
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "mb_per_s": size / 1e6 / seconds,
        "peak_growth_mb": _peak_mb() - baseline,
        "md5_ok": digest == md5,
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=200, help="size of the served file")
    parser.add_argument("--quick", action="store_true", help="20 MB, once (a smoke run)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per client (best MB/s)")
    parser.add_argument("--client", choices=sorted(CLIENTS), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--md5", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dest", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client:  # a child process: one client, figures as JSON on stdout
        print(json.dumps(client(args.client, args.url, args.md5, args.size, args.dest)))
        return 0

    size = (20 if args.quick else args.megabytes) * 1_000_000
    repo = Path(__file__).resolve().parents[1]
    path = os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=path)
    with tempfile.TemporaryDirectory(prefix="bench-download-") as folder:
        served = Path(folder) / "served"
        served.mkdir()
        payload = served / "payload.bin"
        with open(payload, "wb") as out:  # random bytes: nothing compresses or dedups
            for _ in range(size // CHUNK):
                out.write(os.urandom(CHUNK))
            out.write(os.urandom(size % CHUNK))
        md5 = _md5_file(payload)
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
             "--directory", str(served)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}/payload.bin"
        rows: dict[str, list[dict]] = {}
        try:
            _wait_for(f"http://127.0.0.1:{port}/")
            repeats = 1 if args.quick else max(1, args.repeat)
            for attempt in range(repeats):
                for kind in CLIENTS:  # interleaved, so a busy moment hits every client alike
                    dest = Path(folder) / f"{kind}-{attempt}"
                    dest.mkdir()
                    done = subprocess.run(
                        [sys.executable, __file__, "--client", kind, "--url", url, "--md5", md5,
                         "--size", str(size), "--dest", str(dest)],
                        capture_output=True, text=True, env=env, check=False,
                    )  # fmt: skip
                    if done.returncode != 0:
                        print(f"{kind} failed:\n{done.stderr}")
                        return 1
                    row = json.loads(done.stdout.strip().splitlines()[-1])
                    rows.setdefault(kind, []).append(row)
                    shutil.rmtree(dest)
        finally:
            server.terminate()
            server.wait(timeout=10)

    print(
        f"download of a {size / 1e6:.0f} MB file over loopback (python -m http.server in another "
        f"process), md5 checked; each client in a fresh process, best MB/s of {repeats} runs, "
        "highest peak"
    )
    header = f"{'client':<46} {'MB/s':>8} {'peak RSS growth':>16} {'md5 ok':>7}"
    print(header)
    print("-" * len(header))
    for kind, label in CLIENTS.items():
        speed = max(row["mb_per_s"] for row in rows[kind])
        peak = max(row["peak_growth_mb"] for row in rows[kind])
        ok = all(row["md5_ok"] for row in rows[kind])
        print(f"{label:<46} {speed:>8.1f} {peak:>13.1f} MB {'yes' if ok else 'NO':>7}")
    flat = max(row["peak_growth_mb"] for row in rows["zshbench"]) < FLAT_MB
    print(
        f"zshbench's memory stays flat (peak grew < {FLAT_MB} MB for a {size / 1e6:.0f} MB "
        f"file): {'yes' if flat else 'NO'}"
    )
    return 0 if flat and all(row["md5_ok"] for runs in rows.values() for row in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
