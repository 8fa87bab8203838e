"""``zshbench download``: a data set's published files into its data root, unpacked atomically.

How a whole download goes, and why:

* the files are fetched and verified one by one (:mod:`zshbench.download.transfer`); files with
  no known checksum are fetched only with ``allow_unverified``, and their sha256 is then printed
  and recorded, so it can be pinned;
* archives are unpacked into a temporary folder inside the root (:mod:`zshbench.archives`
  refuses unsafe members), the ``check`` paths are confirmed there, and only then is each
  top-level entry renamed into the root; an existing entry is never overwritten;
* a finished download leaves ``<root>/.zshbench/download-<name>.json``; a second call finds the
  ``check`` paths present and does nothing.

This is the glue between the data sets (:mod:`zshbench.datasets`: where a data set's root is,
which command a hint names) and the transfer, so it is the one download module that imports
the data-set package.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .. import __version__
from ..archives import DEFAULT_MAX_MEMBERS, remove_tree, unpack
from ..datasets import DATA_ROOT_ENV, command_with_root, data_home
from ..datasets import download_command as dataset_download_command
from ..errors import DatasetError, ZshbenchError
from .tables import Downloadable, DownloadResource, DownloadSpec
from .transfer import DEFAULT_DEADLINE, DEFAULT_STALL_TIMEOUT, Fetched, Fetcher, Reporter

#: The folder under a data root that holds each download's marker and lock.
META_FOLDER = ".zshbench"


# --------------------------------------------------------------------------------------------
# What to download, and where


def download_root(target: Downloadable, root: str | os.PathLike[str] | None = None) -> Path:
    """Where ``target`` is downloaded to: the same place ``resolve_root`` later looks first.

    ``root`` (``--root``/``--data-root``), else the data set's own variable (e.g.
    ``$ZSHBENCH_CUB_ROOT``), else ``$ZSHBENCH_DATA_ROOT/<name>``, else a user file's
    ``default_root``, else ``~/.cache/zshbench/data/<name>``.
    """
    if root is not None and str(root) != "":
        return Path(root).expanduser()
    env = getattr(target, "root_env", "")
    if env and os.environ.get(env):
        return Path(os.environ[env]).expanduser()
    if os.environ.get(DATA_ROOT_ENV):
        return data_home() / target.name
    if getattr(target, "default_root", None):
        return Path(str(target.default_root)).expanduser()
    return data_home() / target.name


def download_command(target: Downloadable, root: str | os.PathLike[str] | None = None) -> str:
    """The command that downloads ``target``: a download-only resource by its name, a data set
    by name when it is registered, else by its file (:func:`zshbench.datasets.download_command`).
    """
    if isinstance(target, DownloadResource):
        return command_with_root(f"zshbench download {target.name}", root)
    return dataset_download_command(target, root)


def resources() -> dict[str, DownloadResource]:
    """The download-only entries plugins register (``datasets_registry/downloads/``), by name."""
    from ..plugin_manager import load_plugins

    return {name: spec for name, spec, _ in load_plugins().downloads.items()}


def resolve_downloadable(name_or_path: str) -> Any:
    """A registered data set or a .toml data-set file (as ``resolve_dataset``), or a shipped
    download-only resource such as ``xlsa17``."""
    from ..datasets import resolve_dataset

    extra = resources()
    if name_or_path in extra:
        return extra[name_or_path]
    try:
        return resolve_dataset(name_or_path)
    except DatasetError as error:
        if error.message.startswith("unknown data set") and extra:
            error.hint = f"{error.hint} Download-only entries: {', '.join(sorted(extra))}."
        raise


# --------------------------------------------------------------------------------------------
# A whole data set


@dataclass
class DownloadResult:
    """What ``download`` did: ``status`` is downloaded, verified-already, present-already or
    embedded."""

    name: str
    root: Path
    status: str
    message: str
    unverified_sha256: dict[str, str] = field(default_factory=dict)


def _meta(root: Path, name: str) -> tuple[Path, Path]:
    folder = root / META_FOLDER
    return folder / f"download-{name}.json", folder / f"download-{name}.lock"


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """One download of a data set into a root at a time (a second waits, then finds it done).
    An OS lock on an open file, so a killed process never leaves a stale lock."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock
        yield
        return
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _declared(spec: DownloadSpec) -> list[dict[str, Any]]:
    return [{"url": f.url, "filename": f.filename, **f.checksums} for f in spec.files]


def is_complete(spec: DownloadSpec, root: Path) -> bool:
    """Every ``check`` path exists under ``root``."""
    return all((root / path).exists() for path in spec.check)


def _read_marker(path: Path) -> dict[str, Any] | None:
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def _write_marker(path: Path, marker: dict[str, Any]) -> None:
    from ..results import atomic_write_text

    atomic_write_text(path, json.dumps(marker, indent=1) + "\n")


def download(
    target: Downloadable,
    root: str | os.PathLike[str] | None = None,
    *,
    allow_unverified: bool = False,
    keep_archives: bool = False,
    retries: int = 3,
    retry_wait: float = 2.0,
    timeout: float = DEFAULT_STALL_TIMEOUT,
    deadline: float | None = DEFAULT_DEADLINE,
    reporter: Reporter | None = None,
) -> DownloadResult:
    """Download, verify and unpack ``target``'s ``[download]`` files into its data root.

    Idempotent: when every ``check`` path already exists nothing is fetched. Archives that
    were downloaded are deleted once unpacked (``keep_archives`` keeps them); a file that was
    already there under its final name is verified and used, never deleted.
    """
    reporter = reporter or Reporter()
    if getattr(target, "embedded", False):
        return DownloadResult(
            target.name, Path("."), "embedded", f"{target.name} is embedded: nothing to download"
        )
    spec = _download_table(target)
    where = download_root(target, root)
    marker_path, lock_path = _prepare(where, target.name)
    with _lock(lock_path):
        if is_complete(spec, where):
            return _already_there(target.name, spec, where, marker_path)
        _refuse_unverified(target, spec, root, allow_unverified)
        fetcher = Fetcher(
            reporter, retries=retries, retry_wait=retry_wait, timeout=timeout, deadline=deadline
        )
        fetched = [fetcher.fetch(file, where) for file in spec.files]
        _install(target.name, spec, fetched, where, marker_path.parent, reporter)
        for item in fetched:
            if item.downloaded and item.file.unpack != "none" and not keep_archives:
                item.path.unlink(missing_ok=True)
        unverified = {
            item.file.filename: item.digests["sha256"]
            for item in fetched
            if not item.file.checksums
        }
        _write_marker(marker_path, _marker(target.name, spec, fetched, verified=not unverified))
    how = "downloaded and verified" if not unverified else "downloaded (unverified)"
    for filename, digest in unverified.items():
        reporter.log(f"warning: {filename} was not verified (no known checksum); sha256 {digest}")
    return DownloadResult(
        target.name, where, "downloaded", f"{target.name}: {how} into {where}", unverified
    )


def _download_table(target: Downloadable) -> DownloadSpec:
    """``target``'s [download] table, or one line saying where to get the data by hand."""
    if target.download is None:
        raise DatasetError(
            f"data set {target.name!r} has no [download] table",
            f"Get it from {target.obtain or 'its publisher'} and pass --data-root"
            if getattr(target, "obtain", "")
            else "Add a [download] table to its data-set file, or get the data by hand",
        )
    return target.download


def _prepare(where: Path, name: str) -> tuple[Path, Path]:
    """The marker and lock paths under ``where``, their folder created."""
    if where.exists() and not where.is_dir():
        raise DatasetError(f"download root {where} is a file, not a folder", "Pass another --root")
    marker_path, lock_path = _meta(where, name)
    try:
        marker_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ZshbenchError(
            f"cannot create the download root {where} ({error.strerror or error})",
            "Pass a --root you can write to",
        ) from None
    return marker_path, lock_path


def _already_there(name: str, spec: DownloadSpec, where: Path, marker_path: Path) -> DownloadResult:
    """A complete copy: verified-already when zshbench downloaded these very files."""
    marker = _read_marker(marker_path)
    if marker and marker.get("files") == _declared(spec):
        how = "verified" if marker.get("verified") else "downloaded (unverified)"
        return DownloadResult(
            name, where, "verified-already", f"{name} is already {how} at {where}; nothing to do"
        )
    return DownloadResult(
        name,
        where,
        "present-already",
        f"{name} is already at {where} (not downloaded by zshbench, so not "
        "checked against the [download] table); nothing to do",
    )


def _refuse_unverified(
    target: Downloadable, spec: DownloadSpec, root: Any, allow_unverified: bool
) -> None:
    unverified = [f for f in spec.files if not f.checksums]
    if unverified and not allow_unverified:
        names = ", ".join(f.filename for f in unverified)
        raise DatasetError(
            f"{names}: no checksum is known ({unverified[0].unverified})",
            f"zshbench cannot verify it; to download it anyway run "
            f"{download_command(target, root)} --allow-unverified (its sha256 is then "
            "printed and recorded)",
        )


def _marker(name: str, spec: DownloadSpec, fetched: list[Fetched], verified: bool) -> dict:
    """What ``<root>/.zshbench/download-<name>.json`` records of a finished download."""
    return {
        "name": name,
        "files": _declared(spec),
        "received": [
            {"filename": item.file.filename, **item.digests, "bytes": item.size} for item in fetched
        ],
        "verified": verified,
        "zshbench": __version__,
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _unpack_into(staging: Path, item: Fetched, root: Path, reporter: Reporter) -> None:
    """Unpack one verified archive into ``staging``; a full disk is one line naming the root."""
    with reporter.count(f"unpacking {item.file.filename}") as advance:
        try:
            unpack(
                item.path,
                staging,
                item.file.unpack,
                include=item.file.include,
                max_members=item.file.max_members or DEFAULT_MAX_MEMBERS,
                max_bytes=item.file.max_unpacked_bytes,
                advance=advance,
            )
        except OSError as error:
            if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS):
                raise ZshbenchError(
                    f"cannot unpack {item.file.filename} into {root} ({error.strerror or error})",
                    "Free some space or pass another --root; the verified archive is "
                    "kept, so the next run only unpacks",
                ) from None
            raise


def _refuse_reserved_entries(name: str, spec: DownloadSpec, entries: list[str]) -> None:
    """An archive may not put into the root a name the downloader itself writes there (a
    published file, its ``.part`` or ``.mismatch``): a planted ``.part`` would be resumed."""
    reserved = {
        f"{file.filename}{suffix}" for file in spec.files for suffix in ("", ".part", ".mismatch")
    }
    clash = sorted(reserved.intersection(entries))
    if clash:
        raise DatasetError(
            f"{name}: an archive holds {clash[0]!r} at its top level, a name zshbench download "
            "writes in the root itself",
            "Nothing was moved into the root; the archive is not the published one (check the "
            "[download] table's url and checksum)",
        )


def _install(
    name: str,
    spec: DownloadSpec,
    fetched: list[Fetched],
    root: Path,
    meta: Path,
    reporter: Reporter,
) -> None:
    """Unpack every archive into one temporary folder under the root, confirm the ``check``
    paths, then rename each top-level entry into the root (never over an existing one)."""
    staging = Path(tempfile.mkdtemp(prefix=f"unpack-{name}-", dir=meta))
    try:
        for item in fetched:
            if item.file.unpack != "none":
                _unpack_into(staging, item, root, reporter)
        entries = sorted(os.listdir(staging))
        _refuse_reserved_entries(name, spec, entries)
        for path in spec.check:
            top = PurePosixPath(path).parts[0]
            base = staging if top in entries else root
            if not (base / path).exists():
                raise DatasetError(
                    f"{name}: after unpacking, {path} is missing",
                    "The files do not have the layout the [download] table's check list "
                    "expects; nothing was moved into the root",
                )
        taken = [entry for entry in entries if os.path.lexists(root / entry)]
        if taken:
            raise DatasetError(
                f"{root / taken[0]} already exists, and zshbench download never overwrites",
                "Move it away (or pass another --root) and run again; the verified download "
                "is kept, so the next run only unpacks",
            )
        for entry in entries:
            os.rename(staging / entry, root / entry)
    finally:
        remove_tree(staging)


# --------------------------------------------------------------------------------------------
# ``zshbench run --download``


def ensure_dataset(
    dataset: Any,
    data_root: str | None = None,
    data_options: dict[str, Any] | None = None,
    reporter: Reporter | None = None,
) -> None:
    """Download ``dataset`` first when it cannot be loaded (``run --download``).

    The test is the real one: the loader is tried. When the ``check`` paths are all there the
    loader's own error stands (the files are present but something else is wrong).
    """
    from ..datasets import load_dataset, resolve_dataset

    spec = resolve_dataset(dataset)
    if spec.embedded:
        return
    try:
        load_dataset(spec, data_root, **(data_options or {}))
        return
    except DatasetError as error:
        missing = error
    if spec.download is None:
        raise missing
    root = download_root(spec, data_root)
    if is_complete(spec.download, root):
        raise missing
    reporter = reporter or Reporter()
    reporter.log(f"{spec.name} is not there ({missing.message}); downloading it into {root}")
    result = download(spec, root, reporter=reporter)
    reporter.log(result.message)
