"""A decoded image cache: each data set's image files decoded once per image size into one
memory-mapped uint8 array on disk, so training and encoding read pixels instead of JPEGs.

Decoding and resizing with Pillow costs far more than a training step's share of an image on a
GPU (a CUB epoch at 224 px spent half its time waiting for the CPU), and every run, seed and
method decoded the same files again. The cache holds ``(N, 3, size, size)`` uint8 in C order,
one row per file of the source, in the source's order (CIFAR at 32 px is about 184 MB, CUB at
256 px about 2.3 GB).

* **Key.** A digest of the file list (paths, byte sizes, modification times), the image size and
  the cache format; a changed list or a replaced file gives another key, hence a new cache.
* **Validity.** A cache is read only when its sidecar (``.json``) names the same key and its data
  file has exactly the expected byte count; a truncated or foreign one is rebuilt with one line.
* **Atomic build.** Rows are written to a ``.partial`` file with a progress bar, then renamed;
  the sidecar is written (also atomically) last, so a killed build never looks valid.
* **Out of disk.** The whole file is reserved before decoding starts; no space is one line
  (:class:`~zshbench.errors.DatasetError`) and the partial file is removed.

Where: ``$ZSHBENCH_IMAGE_CACHE`` (a folder, or ``off`` to decode in memory as before), else
``<data home>/image-cache``. The core does not know how a method resizes: the caller passes the
decoder (a list of (H, W, C) images → (B, 3, size, size) uint8).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from zshbench.errors import DatasetError

CACHE_ENV = "ZSHBENCH_IMAGE_CACHE"
FORMAT = "zshbench-image-cache/1"  # part of the key: a new layout never reads an old file
BUILD_BATCH = 256

Decoder = Callable[[list[np.ndarray]], np.ndarray]


def cache_folder() -> Path | None:
    """Where caches live, or None when ``$ZSHBENCH_IMAGE_CACHE=off``."""
    setting = os.environ.get(CACHE_ENV, "").strip()
    if setting.lower() in {"off", "0", "no", "none"}:
        return None
    if setting:
        return Path(setting).expanduser()
    from . import data_home

    return data_home() / "image-cache"


def cache_key(paths: Sequence[Path], size: int) -> str:
    """sha256 of the format, the size and every file's path, byte size and mtime (ns)."""
    digest = hashlib.sha256(f"{FORMAT}\n{int(size)}\n{len(paths)}\n".encode())
    for path in paths:
        stat = os.stat(path)
        digest.update(f"{os.path.abspath(path)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class CacheInfo:
    """A cache's provenance, as the record keeps it."""

    path: str
    key: str
    images: int
    size: int
    bytes: int
    built: bool  # decoded by this call (False: read from an earlier build)
    build_seconds: float | None
    created: str

    def to_record(self) -> dict:
        return asdict(self)


class ImageCache:
    """One data set's decoded images at one size: ``array`` is the read-only-on-disk memmap
    (copy-on-write in memory), ``info`` its provenance."""

    def __init__(self, array: np.ndarray, info: CacheInfo):
        self.array, self.info = array, info

    def __len__(self) -> int:
        return len(self.array)


def _expected_bytes(count: int, size: int) -> int:
    return count * 3 * size * size


def _problem(data: Path, sidecar: Path, key: str, count: int, size: int) -> str | None:
    """Why the cache at ``data`` cannot be read (None: it is valid)."""
    if not data.exists() and not sidecar.exists():
        return "missing"
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "its description is missing or unreadable"
    if not isinstance(meta, dict) or meta.get("key") != key or meta.get("format") != FORMAT:
        return "it was built from another image list"
    actual = data.stat().st_size if data.exists() else 0
    if actual != _expected_bytes(count, size):
        return f"it is truncated ({actual} of {_expected_bytes(count, size)} bytes)"
    return None


def open_cache(
    paths: Sequence[Path],
    size: int,
    decode: Decoder,
    load: Callable[[Sequence[int]], list[np.ndarray]],
    progress=None,
    log: Callable[[str], None] | None = None,
) -> ImageCache | None:
    """The valid cache of ``paths`` at ``size``, built first when there is none (None when
    caching is off or the folder cannot be written: the caller decodes in memory)."""
    folder = cache_folder()
    if folder is None:
        return None
    key = cache_key(paths, size)
    stem = folder / f"{size}px-{key[:24]}"
    data, sidecar = stem.with_suffix(".u8"), stem.with_suffix(".json")
    problem = _problem(data, sidecar, key, len(paths), size)
    built, seconds = False, None
    if problem is not None:
        if problem != "missing" and log is not None:
            log(f"image cache {data} is not valid ({problem}); rebuilding it")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            if log is not None:
                log(f"image cache folder {folder} cannot be written ({error}); decoding in memory")
            return None
        seconds = _build(data, sidecar, key, len(paths), size, decode, load, progress)
        built = True
    meta = json.loads(sidecar.read_text(encoding="utf-8"))
    array = np.memmap(data, dtype=np.uint8, mode="c", shape=(len(paths), 3, size, size))
    info = CacheInfo(
        str(data), key, len(paths), size, _expected_bytes(len(paths), size), built,
        None if seconds is None else round(seconds, 3), str(meta.get("created", "")),
    )  # fmt: skip
    return ImageCache(array, info)


def _build(data, sidecar, key, count, size, decode, load, progress) -> float:
    """Decode every image into ``data`` (atomically), then write the sidecar; seconds taken."""
    started = time.perf_counter()
    partial = data.with_name(f"{data.name}.partial-{os.getpid()}")
    sidecar.unlink(missing_ok=True)  # from now on the old data is never read as valid
    try:
        with open(partial, "wb") as stream:
            nbytes = _expected_bytes(count, size)
            if nbytes and hasattr(os, "posix_fallocate"):
                os.posix_fallocate(stream.fileno(), 0, nbytes)  # no space: fails here, at once
            with _task(progress, f"decode image cache at {size} px", count) as advance:
                for start in range(0, count, BUILD_BATCH):
                    positions = range(start, min(start + BUILD_BATCH, count))
                    rows = np.ascontiguousarray(decode(load(positions)), dtype=np.uint8)
                    if rows.shape != (len(positions), 3, size, size):
                        raise ValueError(f"decoder returned {rows.shape}")
                    stream.write(rows.tobytes())
                    advance(len(positions))
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(partial, data)
    except OSError as error:
        partial.unlink(missing_ok=True)
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DatasetError(
                f"no disk space for the image cache {data} "
                f"({_expected_bytes(count, size) / 2**20:.0f} MiB needed)",
                f"Free space there, point {CACHE_ENV} at a larger disk, or set {CACHE_ENV}=off.",
            ) from None
        raise
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    seconds = time.perf_counter() - started
    meta = {
        "format": FORMAT, "key": key, "images": count, "size": size,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_seconds": round(seconds, 3),
    }  # fmt: skip
    temporary = sidecar.with_name(f"{sidecar.name}.partial-{os.getpid()}")
    temporary.write_text(json.dumps(meta, indent=1), encoding="utf-8")
    os.replace(temporary, sidecar)
    return seconds


def _task(progress, description: str, total: int):
    """``progress.task`` or a silent stand-in."""
    if progress is not None:
        return progress.task(description, total)
    import contextlib

    return contextlib.nullcontext(lambda _n: None)
