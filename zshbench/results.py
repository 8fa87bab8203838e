"""The results folder: one record file per (method, data set, split, bits, seed), written
atomically, locked while it runs, read back each measurement once. What a record holds, and how
it is checked and migrated, is :mod:`zshbench.record`.

Layout (ann-benchmarks style, the path says what it is)::

    results/<dataset>/<split id>/<run name>/bits<B>-seed<S>.json
    results/<dataset>/<split id>/<run name>/bits<B>-seed<S>-ties-index-top1000.json
                                              (evaluated other than expected ties, mAP@5000)
    results/<dataset>/splits/<split id>.json          the split manifest
    results/<dataset>/<split id>/<run name>/bits<B>-seed<S>-files/
                                              (a method's own files: plots, logs; optional)
    results/<dataset>/<split id>/<run name>/.checkpoints-bits<B>-seed<S>/
                                              (a method's training checkpoints; optional)
    results/<dataset>/<split id>/<run name>/.bits<B>-seed<S>.json.lock
                                              (held while a process runs that record)

A record is written to a temporary file in the same folder and moved into place with
``os.replace``, so a crash or Ctrl-C never leaves a half-written record and never damages an
existing one; files are created with the user's umask, like any other file. Every path is built
from checked name components, so nothing is ever written outside the results folder.
``report`` and ``plot`` only read these files, and trust them no more than they must: a record
that is unreadable, malformed, of a schema this version does not read or a copy of another is
reported and skipped.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import socket
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .errors import ZshbenchError, os_error_line
from .record import (
    DEFAULT_TIES,
    DEFAULT_TOPK,
    READABLE_SCHEMAS,
    Record,
    RecordProblem,
    parsed_json,
    read_record,
    record_from_json,
)
from .registry import MAX_NAME_LENGTH, NAME_RULE
from .safe_open import open_fd

try:  # per-record locks need POSIX advisory locks; elsewhere runs go unlocked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

DEFAULT_RESULTS_DIR = Path("results")

#: A run name: a registry-style name, optionally ``@`` and a variant (``itq@1f2e3d4c``).
RUN_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*(@[a-z0-9-]+)?$")
_UNSAFE_COMPONENT = re.compile(r"[/\\\x00-\x1f]")


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so readers see the old file or the whole new one."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(
    path: Path, data: bytes, before_replace: Callable[[], None] | None = None
) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the whole new one.

    The temporary file (``.<name>.<random>.tmp`` beside ``path``) is created with mode 0666
    minus the umask, as ``open`` would, so a shared results folder stays readable to the group.
    An ``OSError`` (disk full, permission denied) propagates with the path filled in, after the
    temporary file is removed; the old file is untouched.
    """
    path = Path(path)
    try:
        _make_folder(path.parent)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as error:
        if error.filename is None:
            error.filename = str(path)
        raise
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        if before_replace is not None:
            before_replace()
        os.replace(temporary, path)
    except BaseException as error:
        temporary.unlink(missing_ok=True)
        if isinstance(error, OSError) and error.filename is None:
            error.filename = str(path)
        raise


def _make_folder(folder: Path) -> None:
    """``mkdir -p``; a file where a folder should be is ENOTDIR (mkdir says EEXIST)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(
            errno.ENOTDIR, "a part of the path is a file, not a folder", str(folder)
        ) from None


def check_run_name(name: str) -> str:
    """``name`` if it is a valid run name (it becomes a folder), else a one-line error."""
    if not isinstance(name, str) or len(name) > MAX_NAME_LENGTH or not RUN_NAME_PATTERN.match(name):
        raise ZshbenchError(
            f"bad run name {name!r}: it becomes a folder under --results",
            f"{NAME_RULE.rstrip('.')}, optionally followed by '@' and a variant (e.g. 'itq@pca').",
        )
    return name


def _component(value: str, what: str) -> str:
    """One path component built from a name: never empty, '.', '..', a separator or control."""
    text = str(value)
    if (
        not text
        or text in (".", "..")
        or _UNSAFE_COMPONENT.search(text)
        or len(text.encode("utf-8")) > 255
    ):
        raise ZshbenchError(
            f"{what} {text!r} cannot be a folder or file name under the results folder",
            "Use lowercase letters, digits and hyphens.",
        )
    return text


def _inside(results_dir: Path, *parts: str) -> Path:
    """``results_dir / parts``, each part a checked single component, so it stays inside."""
    path = Path(results_dir).joinpath(*parts)
    root = os.path.normpath(os.path.abspath(results_dir))
    if os.path.commonpath([root, os.path.normpath(os.path.abspath(path))]) != root:
        raise ZshbenchError(f"{path} is outside the results folder {results_dir}")
    return path


def record_path(
    results_dir: Path,
    dataset: str,
    split_id: str,
    run_name: str,
    bits: int,
    seed: int,
    ties: str = DEFAULT_TIES,
    topk: int | None = DEFAULT_TOPK,
) -> Path:
    """Where the record of one run lies; evaluation settings other than the defaults are part
    of the name, so a record under another tie policy or K never replaces (or passes for) it."""
    name = f"bits{int(bits)}-seed{int(seed)}"
    if ties != DEFAULT_TIES:
        name += f"-ties-{_component(ties, 'tie policy')}"
    if topk != DEFAULT_TOPK:
        name += f"-top{'all' if topk is None else int(topk)}"
    return _inside(
        results_dir,
        _component(dataset, "data set name"),
        _component(split_id, "split id"),
        _component(run_name, "run name"),
        f"{name}.json",
    )


def split_manifest_path(results_dir: Path, dataset: str, split_id: str) -> Path:
    return _inside(
        results_dir,
        _component(dataset, "data set name"),
        "splits",
        f"{_component(split_id, 'split id')}.json",
    )


def write_record(
    path: Path, record: Record, before_replace: Callable[[], None] | None = None
) -> None:
    """Write ``record`` at ``path`` atomically, after checking it reads back as it was.

    ``before_replace`` runs once the new record is whole on disk, right before it replaces the
    old one (the run engine moves the record's log into place there, so the two change as a
    pair: an attempt that stops earlier leaves the old record and its old log)."""
    raw = record.to_json().encode("utf-8")
    try:
        record_from_json(parsed_json(raw))  # as read_record will read it back
    except RecordProblem as problem:
        raise ZshbenchError(f"the record for {path} is not valid: {problem}") from None
    atomic_write_bytes(path, raw, before_replace)


def check_writable(results_dir: Path) -> None:
    """Fail now, with one line, if records cannot be written under ``results_dir``.

    Called before any training, so a read-only or mistyped results folder never wastes the
    compute of a run. Creates the folder if needed and writes (then removes) a probe file.
    """
    results_dir = Path(results_dir)
    try:
        _make_folder(results_dir)
        probe = results_dir / f".write-test-{secrets.token_hex(4)}.tmp"
        handle = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            os.write(handle, b"ok")
            os.fsync(handle)
        finally:
            os.close(handle)
            probe.unlink(missing_ok=True)
    except OSError as error:
        if error.filename is None:
            error.filename = str(results_dir)
        raise ZshbenchError(
            f"cannot write records under {results_dir}: "
            + os_error_line(error, "checking the results folder")
        ) from None


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove the temporary files an interrupted write of this record left behind.

    Only the process holding the record's lock (see :class:`RecordLock`) calls this, so no
    other process can be writing them. Returns what was removed.
    """
    removed = []
    folder = Path(path).parent
    if not folder.is_dir():
        return removed
    for stale in folder.glob(f".{Path(path).stem}.*.tmp"):
        with contextlib.suppress(OSError):
            stale.unlink()
            removed.append(stale)
    return removed


class RecordLock:
    """An exclusive, non-blocking lock on one record (``.<record>.lock`` beside it).

    Two identical sweeps into one folder then split the work: the second skips a record the
    first is running instead of computing it again. The lock is a POSIX advisory lock
    (``flock``), so the kernel drops it when its process dies, even under ``kill -9``; a lock
    file left behind by such a process is simply taken over. Where locks are not supported
    (Windows, some network file systems) runs proceed unlocked.
    """

    _held: set[RecordLock] = set()

    def __init__(self, record: Path):
        record = Path(record)
        self.path = record.with_name(f".{record.name}.lock")
        self._handle: int | None = None

    @classmethod
    def release_all(cls) -> None:
        """Release every lock this process still holds (after an error or an interrupt)."""
        for lock in list(cls._held):
            lock.release()

    def acquire(self) -> bool:
        """True if this process now holds the lock; False if another process does."""
        if fcntl is None:  # pragma: no cover - Windows
            return True
        while True:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                handle = open_fd(self.path, os.O_RDWR | os.O_CREAT)  # never through a link
            except FileNotFoundError:  # the folder was just removed by another holder
                continue
            except OSError as error:
                if error.filename is None:
                    error.filename = str(self.path)
                raise
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(handle)
                return False
            except OSError:  # no lock support on this file system: run unlocked
                os.close(handle)
                return True
            try:  # the previous holder may have unlinked the file between our open and lock
                current = os.stat(self.path).st_ino
            except FileNotFoundError:
                current = None
            if current == os.fstat(handle).st_ino:
                owner = f"{socket.gethostname()} pid {os.getpid()} since {time.ctime()}\n"
                os.ftruncate(handle, 0)
                os.write(handle, owner.encode())
                self._handle = handle
                RecordLock._held.add(self)
                return True
            os.close(handle)

    def release(self) -> None:
        if self._handle is None:
            return
        RecordLock._held.discard(self)
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._handle)
        self._handle = None
        with contextlib.suppress(OSError):  # a run folder holding nothing else goes too
            self.path.parent.rmdir()

    def __enter__(self) -> RecordLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


# --------------------------------------------------------------------------------------------
# Reading records back


def record_is_done(path: Path) -> bool:
    """True if a usable record is at ``path``; an unusable one is warned about (it is redone).

    A folder where the record belongs cannot be replaced by it: that is an error now, before
    any training, not after.
    """
    if not os.path.lexists(path):
        return False
    if Path(path).is_dir():
        raise ZshbenchError(
            f"a folder is where the record {path} belongs",
            "Move it away and run the same command again.",
        )
    record, problem = read_record(path)
    if record is None:
        warnings.warn(f"record {path} is {problem}; running it again", stacklevel=2)
        return False
    return True


def _inside_run_files(relative: Path) -> bool:
    """True for files in a run's own folders, which are never records: hidden ones
    (``.checkpoints-bits<B>-seed<S>/``) and a method's artifacts (``bits<B>-seed<S>-files/``)."""
    return any(
        part.startswith(".") or (part.startswith("bits") and part.endswith("-files"))
        for part in relative.parts[:-1]
    )


def iter_records(
    results_dir: Path, keep: Callable[[Path, Record], Any] | None = None
) -> Iterator[tuple[Path, Any]]:
    """Every usable record under ``results_dir``, each measurement once (schema-1 files
    migrated as they are read).

    ``keep(path, record)``, where given, is what is held of each record until the end (and
    yielded in its place): a reader that needs a few fields of 20,000 records then never holds
    20,000 records with their curves (``report``).

    Warned about and skipped: an unreadable or malformed file (one line naming it), records of
    another schema (one line for all of them), and a second file holding the same measurement
    as another (a copy; the file at the record's own path is the one kept).
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        return
    found: dict[tuple[Any, ...], list[tuple[Path, Record]]] = {}
    other_schema: dict[str, int] = {}
    for path in sorted(results_dir.rglob("bits*-seed*.json")):
        if _inside_run_files(path.relative_to(results_dir)):
            continue
        record, problem = read_record(path)
        if record is None:
            if problem and problem.startswith("schema "):
                other_schema[problem] = other_schema.get(problem, 0) + 1
            else:
                warnings.warn(f"skipping record {path}: {problem}", stacklevel=2)
            continue
        held = record if keep is None else keep(path, record)
        found.setdefault(record.identity, []).append((path, held))
    if other_schema:
        counts = ", ".join(f"{n} of {schema}" for schema, n in sorted(other_schema.items()))
        readable = " and ".join(str(version) for version in READABLE_SCHEMAS)
        warnings.warn(
            f"skipping records under {results_dir} written by another zshbench version "
            f"({counts}; this one reads schema {readable})",
            stacklevel=2,
        )
    chosen = [_one_of(results_dir, identity, copies) for identity, copies in found.items()]
    yield from sorted(chosen, key=lambda item: item[0])


def _one_of(
    results_dir: Path, identity: tuple[Any, ...], copies: list[tuple[Path, Any]]
) -> tuple[Path, Any]:
    """The copy at the record's own path (else the first), the others warned about."""
    if len(copies) == 1:
        return copies[0]
    own = _canonical(results_dir, identity)
    keep = next((copy for copy in copies if copy[0] == own), copies[0])
    others = ", ".join(str(p) for p, _ in copies if p != keep[0])
    verb = "repeats" if len(copies) == 2 else "repeat"
    warnings.warn(
        f"duplicate records of one measurement: {others} {verb} {keep[0]}; counting it once",
        stacklevel=2,
    )
    return keep


def _canonical(results_dir: Path, identity: tuple[Any, ...]) -> Path | None:
    """Where the record of ``identity`` (:attr:`Record.identity`) belongs: its path is a
    function of what it measures, so every copy of one measurement shares it."""
    run_name, _method, dataset, split_id, bits, seed, ties, topk = identity
    try:
        return record_path(results_dir, dataset, split_id, run_name, bits, seed, ties, topk)
    except ZshbenchError:
        return None
