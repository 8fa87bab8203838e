"""``zshbench download``: a data set's published files, checksummed, resumable, unpacked atomically.

A data set's TOML entry (or a user's own data-set file) may carry a ``[download]`` table::

    [download]
    check = ["cifar-10-batches-py/data_batch_1", ...]   # what exists once it is complete

    [[download.files]]
    url = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    size = 170498071                                  # bytes (optional)
    md5 = "c58f30108f718f92721af3b95e74349a"          # or sha256 = "..."
    unpack = "tar"                                    # tar, zip or none (default: by suffix)

How a download goes, and why:

* each file streams into ``<root>/<file>.part`` (1 MiB chunks, hashed as they arrive, so memory
  stays flat and nothing is read twice); a dropped connection is resumed with an HTTP ``Range``
  request, in the same call (``retries``) or by running the command again;
* the checksum is compared before anything is unpacked; a mismatch moves the download aside as
  ``<file>.mismatch``, touches nothing else, and says expected vs got;
* archives are unpacked into a temporary folder inside the root (:mod:`zshbench.archives`
  refuses unsafe members), the ``check`` paths are confirmed there, and only then is each
  top-level entry renamed into the root; an existing entry is never overwritten;
* a finished download leaves ``<root>/.zshbench/download-<name>.json``; a second call finds the
  ``check`` paths present and does nothing.

Files whose publisher gives no checksum must say so (``unverified = "why"``) and are fetched
only with ``allow_unverified`` (``--allow-unverified``): their sha256 is then printed and
recorded, so it can be pinned. The client is the standard library's :mod:`urllib` (redirects,
proxies from the environment and HTTPS come with it; no extra dependency).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import hashlib
import http.client
import json
import os
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from . import __version__
from .archives import DEFAULT_MAX_MEMBERS, remove_tree, unpack
from .datasets import DATA_ROOT_ENV, command_with_root, data_home
from .datasets import download_command as dataset_download_command
from .errors import DatasetError, ZshbenchError

#: Where downloads go when neither --root, the data set's own variable nor $ZSHBENCH_DATA_ROOT
#: says otherwise (beside ~/.cache/huggingface and ~/.cache/torch, where weights go).
META_FOLDER = ".zshbench"
CHUNK = 1 << 20
CHECKSUMS = {"md5": 32, "sha256": 64}
UNPACK_KINDS = ("tar", "zip", "none")
_SUFFIX_KINDS = (
    (".tar.gz", "tar"),
    (".tgz", "tar"),
    (".tar.bz2", "tar"),
    (".tbz2", "tar"),
    (".tar.xz", "tar"),
    (".txz", "tar"),
    (".tar", "tar"),
    (".zip", "zip"),
)
_FILE_KEYS = (
    "url",
    "filename",
    "size",
    "md5",
    "sha256",
    "unverified",
    "unpack",
    "include",
    "max_members",
    "max_unpacked_bytes",
)
_HEX = re.compile(r"^[0-9a-f]+$")
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_WHOLE_RANGE = re.compile(r"^bytes \*/(\d+)$")  # a 416's answer: the file's length


# --------------------------------------------------------------------------------------------
# The [download] table


@dataclass(frozen=True)
class RemoteFile:
    """One published file: where it is, how big, its checksum, and how to unpack it."""

    url: str
    filename: str
    unpack: str = "none"
    size: int | None = None
    md5: str | None = None
    sha256: str | None = None
    unverified: str = ""  # why no checksum is known (then --allow-unverified is needed)
    include: tuple[str, ...] = ()  # fnmatch patterns of members to keep (all when empty)
    max_members: int | None = None
    max_unpacked_bytes: int | None = None

    @property
    def checksums(self) -> dict[str, str]:
        """The declared checksums by algorithm name (empty for an unverified file)."""
        pairs = (("md5", self.md5), ("sha256", self.sha256))
        return {name: value for name, value in pairs if value}


@dataclass(frozen=True)
class DownloadSpec:
    """A data set's ``[download]`` table: its files, and the paths that exist once complete."""

    files: tuple[RemoteFile, ...]
    check: tuple[str, ...]

    @property
    def size(self) -> int | None:
        sizes = [f.size for f in self.files]
        return None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)


def _bad(path: Path, key: str, problem: str) -> DatasetError:
    return DatasetError(f"{path}: key '{key}' {problem}", "Fix the [download] table.")


def _positive_int(path: Path, key: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _bad(path, key, f"must be a whole number >= 1, not {value!r}")
    return value


def _relative(path: Path, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _bad(path, key, f"must be a relative path, not {value!r}")
    pure = PurePosixPath(value.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or (len(value) > 1 and value[1] == ":"):
        raise _bad(path, key, f"must be a path inside the data root, not {value!r}")
    return str(pure)


def default_filename(url: str) -> str:
    """The last segment of the URL's path (``.../CUB_200_2011.tgz?download=1`` → the .tgz)."""
    return urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])


def unpack_kind(filename: str) -> str:
    """tar / zip by the file's suffix, else none."""
    lower = filename.lower()
    for suffix, kind in _SUFFIX_KINDS:
        if lower.endswith(suffix):
            return kind
    return "none"


def _remote_file(path: Path, key: str, table: Any) -> RemoteFile:
    if not isinstance(table, dict):
        raise _bad(path, key, "must be a table ([[download.files]])")
    for name in table:
        if name not in _FILE_KEYS:
            known = ", ".join(_FILE_KEYS)
            raise _bad(path, f"{key}.{name}", f"is not a download field (known: {known})")
    url = table.get("url")
    if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise _bad(path, f"{key}.url", f"must be an http:// or https:// address, not {url!r}")
    filename = table.get("filename", default_filename(url))
    if (
        not isinstance(filename, str)
        or not filename
        or "/" in filename
        or "\\" in filename
        or filename.startswith(".")
    ):
        raise _bad(path, f"{key}.filename", f"must be a plain file name, not {filename!r}")
    sums: dict[str, str] = {}
    for algorithm, digits in CHECKSUMS.items():
        if algorithm in table:
            value = table[algorithm]
            if not isinstance(value, str) or len(value) != digits or not _HEX.match(value.lower()):
                raise _bad(path, f"{key}.{algorithm}", f"must be {digits} hexadecimal digits")
            sums[algorithm] = value.lower()
    unverified = table.get("unverified", "")
    if not isinstance(unverified, str):
        raise _bad(path, f"{key}.unverified", "must be a string saying why no checksum is known")
    if not sums and not unverified.strip():
        raise _bad(
            path,
            key,
            "has no md5 or sha256: give the publisher's checksum, or say why there is none "
            'with unverified = "..." (such files download only with --allow-unverified)',
        )
    if sums and unverified:
        raise _bad(path, f"{key}.unverified", "cannot go with a checksum (drop one of them)")
    kind = table.get("unpack", unpack_kind(filename))
    if kind not in UNPACK_KINDS:
        raise _bad(path, f"{key}.unpack", f"must be one of {', '.join(UNPACK_KINDS)}, not {kind!r}")
    include = table.get("include", [])
    if not isinstance(include, list) or not all(isinstance(p, str) and p for p in include):
        raise _bad(path, f"{key}.include", "must be a list of member path patterns")
    if include and kind == "none":
        raise _bad(path, f"{key}.include", "needs an archive (unpack = tar or zip)")
    size = table.get("size")
    return RemoteFile(
        url=url,
        filename=filename,
        unpack=kind,
        size=None if size is None else _positive_int(path, f"{key}.size", size),
        md5=sums.get("md5"),
        sha256=sums.get("sha256"),
        unverified=unverified.strip(),
        include=tuple(include),
        max_members=(
            None
            if "max_members" not in table
            else _positive_int(path, f"{key}.max_members", table["max_members"])
        ),
        max_unpacked_bytes=(
            None
            if "max_unpacked_bytes" not in table
            else _positive_int(path, f"{key}.max_unpacked_bytes", table["max_unpacked_bytes"])
        ),
    )


def download_spec_from_mapping(table: Any, path: Path) -> DownloadSpec:
    """A :class:`DownloadSpec` from a parsed ``[download]`` table, every key checked."""
    if not isinstance(table, dict):
        raise _bad(path, "download", "must be a table ([download])")
    for key in table:
        if key not in ("files", "check"):
            raise _bad(path, f"download.{key}", "is not a [download] field (known: check, files)")
    files = table.get("files")
    if not isinstance(files, list) or not files:
        raise _bad(path, "download.files", "must list at least one file ([[download.files]])")
    parsed = tuple(_remote_file(path, f"download.files[{k}]", f) for k, f in enumerate(files))
    names = [f.filename for f in parsed]
    if len(set(names)) != len(names):
        raise _bad(path, "download.files", "names the same file twice (give each a filename)")
    check = table.get("check")
    if not isinstance(check, list) or not check:
        raise _bad(
            path,
            "download.check",
            "must list the paths (relative to the data root) that exist once the download is "
            "complete",
        )
    checks = tuple(_relative(path, f"download.check[{k}]", c) for k, c in enumerate(check))
    return DownloadSpec(files=parsed, check=checks)


class Downloadable(Protocol):
    """What ``download`` needs: a data set spec, or a download-only resource (xlsa17)."""

    name: str
    download: DownloadSpec | None
    obtain: str
    root_env: str
    default_root: str | None
    source_file: str


# --------------------------------------------------------------------------------------------
# Where things go


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


# --------------------------------------------------------------------------------------------
# Download-only resources (files a data set's split needs, not a data set themselves)


@dataclass(frozen=True)
class DownloadResource:
    """A download-only entry of ``datasets_registry/downloads/*.toml`` (e.g. xlsa17)."""

    name: str
    title: str
    download: DownloadSpec
    obtain: str = ""
    citation: str = ""
    root_env: str = ""
    default_root: str | None = None
    source_file: str = ""
    embedded: bool = False


def resource_from_toml(path: Path) -> DownloadResource:
    """Read one download-only TOML file: name, title, obtain, citation and [download]."""
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise DatasetError(f"cannot read {path} ({error})") from None
    known = ("name", "title", "obtain", "citation", "download")
    for key in data:
        if key not in known:
            raise _bad(path, key, f"is not a field of a download entry (known: {', '.join(known)})")
    for key in ("name", "title", "download"):
        if key not in data:
            raise _bad(path, key, "is missing")
    return DownloadResource(
        name=str(data["name"]),
        title=str(data["title"]),
        obtain=str(data.get("obtain", "")),
        citation=str(data.get("citation", "")),
        download=download_spec_from_mapping(data["download"], path),
        source_file=str(path),
    )


def resources() -> dict[str, DownloadResource]:
    """The download-only entries shipped in ``datasets_registry/downloads/``, by name."""
    import datasets_registry

    folder = Path(datasets_registry.__file__).resolve().parent / "downloads"
    found = [resource_from_toml(path) for path in sorted(folder.glob("*.toml"))]
    return {resource.name: resource for resource in found}


def resolve_downloadable(name_or_path: str) -> Any:
    """A registered data set or a .toml data-set file (as ``resolve_dataset``), or a shipped
    download-only resource such as ``xlsa17``."""
    from .datasets import resolve_dataset

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
# Progress (rich: bytes, rate, ETA)


class Reporter:
    """Log lines and progress bars on stderr (rich), or nothing at all (``quiet``)."""

    def __init__(self, quiet: bool = False, console: Any = None):
        self.quiet = quiet
        self._console = console

    @property
    def console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=True)
        return self._console

    def log(self, message: str) -> None:
        if not self.quiet:
            self.console.print(message, highlight=False, markup=False, soft_wrap=True)

    @contextlib.contextmanager
    def transfer(self, description: str, total: int | None, done: int) -> Iterator[Any]:
        """A bytes bar (size, rate, ETA); yields ``update(advance=n)`` (rich's update)."""
        if self.quiet:
            yield lambda **_: None
            return
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
        console = self.console
        with Progress(
            *columns, console=console, transient=True, disable=not console.is_terminal
        ) as bar:
            task = bar.add_task(description, total=total, completed=done)
            yield lambda **changes: bar.update(task, **changes)

    @contextlib.contextmanager
    def count(self, description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        """A count bar (unpacked members); yields ``advance(n)``."""
        if self.quiet:
            yield lambda n: None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        console = self.console
        with Progress(
            *columns, console=console, transient=True, disable=not console.is_terminal
        ) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n: bar.advance(task, n)


# --------------------------------------------------------------------------------------------
# Fetching one file


class _Retry(Exception):
    """A failure worth resuming after (dropped connection, timeout, 5xx)."""


def _human(size: int | None) -> str:
    if size is None:
        return "unknown size"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"  # pragma: no cover


class _Partial:
    """``<file>.part`` and the running hashes of exactly the bytes it holds."""

    def __init__(self, path: Path, algorithms: list[str]):
        self.path = path
        self.algorithms = algorithms
        self.size = -1
        self.hashes: dict[str, Any] = {}
        self.sync()

    def sync(self) -> None:
        """Re-hash from disk when the file is not what the hashes describe (a new call, or a
        write that failed half-way)."""
        on_disk = self.path.stat().st_size if self.path.exists() else 0
        if on_disk == self.size:
            return
        self.hashes = {name: hashlib.new(name) for name in self.algorithms}
        self.size = 0
        if on_disk:
            with open(self.path, "rb") as stream:
                while chunk := stream.read(CHUNK):
                    self.update(chunk)

    def restart(self) -> None:
        self.path.write_bytes(b"")
        self.hashes = {name: hashlib.new(name) for name in self.algorithms}
        self.size = 0

    def update(self, chunk: bytes) -> None:
        for digest in self.hashes.values():
            digest.update(chunk)
        self.size += len(chunk)

    def hexdigests(self) -> dict[str, str]:
        return {name: digest.hexdigest() for name, digest in self.hashes.items()}


def _file_digests(path: Path, algorithms: list[str]) -> dict[str, str]:
    hashes = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            for digest in hashes.values():
                digest.update(chunk)
    return {name: digest.hexdigest() for name, digest in hashes.items()}


def _mismatch(file: RemoteFile, digests: dict[str, str]) -> str | None:
    for algorithm, expected in file.checksums.items():
        if digests.get(algorithm) != expected:
            return f"{algorithm} {digests.get(algorithm)}, expected {expected}"
    return None


def _disk_full(where: Path, error: OSError) -> ZshbenchError:
    return ZshbenchError(
        f"cannot write to {where} ({error.strerror or error})",
        "Free some space (or pass another --root) and run the same command again: what is "
        "downloaded so far is kept and the download resumes",
    )


@dataclass
class _Fetched:
    file: RemoteFile
    path: Path
    digests: dict[str, str]
    downloaded: bool  # False: the file was already there (the user's, or a kept archive)
    size: int = 0


@dataclass
class _Fetcher:
    reporter: Reporter
    retries: int = 3
    retry_wait: float = 2.0
    timeout: float = 60.0

    def fetch(self, file: RemoteFile, root: Path) -> _Fetched:
        final = root / file.filename
        algorithms = list(file.checksums) or ["sha256"]
        if final.exists():
            return self._existing(file, final, algorithms)
        part = _Partial(root / f"{file.filename}.part", algorithms)
        if part.size:
            self.reporter.log(f"{file.filename}: resuming at byte {part.size:,} of {part.path}")
        else:
            size = f" {_human(file.size)}" if file.size else ""
            self.reporter.log(f"{file.filename}: downloading{size} from {file.url}")
        failures = 0
        while file.size is None or part.size != file.size:  # a whole .part needs no request
            try:
                self._transfer(file, part)
                break
            except _Retry as reason:
                failures += 1
                if failures > self.retries:
                    raise ZshbenchError(
                        f"downloading {file.filename} failed ({reason}); {part.size:,} bytes are "
                        f"kept in {part.path}",
                        "Run the same command again to resume where it stopped",
                    ) from None
                wait = self.retry_wait * 2 ** (failures - 1)
                self.reporter.log(
                    f"{file.filename}: {reason}; resuming in {wait:g} s "
                    f"(retry {failures} of {self.retries})"
                )
                time.sleep(wait)
        digests = part.hexdigests()
        if file.size is not None and part.size != file.size:
            problem = f"size {part.size:,} bytes, expected {file.size:,}"
        else:
            problem = _mismatch(file, digests)
        if problem:
            aside = root / f"{file.filename}.mismatch"
            os.replace(part.path, aside)
            raise DatasetError(
                f"{file.filename}: {problem}",
                f"The download is corrupt or the publisher changed the file: it was moved to "
                f"{aside} and nothing was unpacked. Run again to download it afresh; if it "
                "fails again, check the [download] table against the publisher",
            )
        os.replace(part.path, final)
        return _Fetched(file, final, digests, downloaded=True, size=part.size)

    def _existing(self, file: RemoteFile, final: Path, algorithms: list[str]) -> _Fetched:
        """A file already at the final name: used when it verifies, left alone when not."""
        self.reporter.log(f"{file.filename}: already at {final}; checking it")
        size = final.stat().st_size
        digests = _file_digests(final, algorithms)
        problem = (
            f"size {size:,} bytes, expected {file.size:,}"
            if file.size is not None and size != file.size
            else _mismatch(file, digests)
        )
        if problem:
            raise DatasetError(
                f"{final} is already there but does not match the [download] table ({problem})",
                "It was left as it is: move it away and run again to download a fresh copy",
            )
        return _Fetched(file, final, digests, downloaded=False, size=size)

    def _open(self, file: RemoteFile, part: _Partial) -> Any:
        headers = {"User-Agent": f"zshbench/{__version__}", "Accept-Encoding": "identity"}
        if part.size:
            headers["Range"] = f"bytes={part.size}-"
        request = urllib.request.Request(file.url, headers=headers)
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as error:
            error.close()
            if error.code == 416 and part.size:
                whole = _WHOLE_RANGE.match(error.headers.get("Content-Range", "") or "")
                if whole and int(whole.group(1)) == part.size:
                    return None  # the .part already holds the whole file
                part.restart()  # the .part is longer than the file: start over
                raise _Retry("the server could not resume from the saved bytes") from None
            if error.code in (408, 425, 429) or error.code >= 500:
                raise _Retry(f"the server answered {error.code} {error.reason}") from None
            raise DatasetError(
                f"{file.url}: the server answered {error.code} {error.reason}",
                "Check the url in the [download] table (the publisher may have moved the file; "
                "'zshbench info' shows where to get the data set)",
            ) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", error)
            host = urllib.parse.urlsplit(file.url).netloc
            raise _Retry(f"cannot reach {host} ({reason})") from None

    def _transfer(self, file: RemoteFile, part: _Partial) -> None:
        part.sync()
        response = self._open(file, part)
        if response is None:
            return
        with response:
            total = self._total(file, part, response)
            if total is not None and file.size is not None and total != file.size:
                raise DatasetError(
                    f"{file.url}: the server offers {total:,} bytes, the [download] table says "
                    f"{file.size:,}",
                    "The publisher may have changed the file; check the [download] table",
                )
            if total is not None and part.size == total:
                return
            if total is not None:
                free = shutil.disk_usage(part.path.parent).free
                if free < total - part.size:
                    raise ZshbenchError(
                        f"{part.path.parent} has {_human(free)} free, {file.filename} needs "
                        f"{_human(total - part.size)} more",
                        "Free some space or pass another --root",
                    )
            with (
                self.reporter.transfer(file.filename, total, part.size) as update,
                open(part.path, "ab") as out,
            ):
                while True:
                    try:
                        chunk = response.read(CHUNK)
                    except (OSError, http.client.HTTPException) as error:
                        reason = error or type(error).__name__
                        raise _Retry(f"the connection broke ({reason})") from None
                    if not chunk:
                        break
                    try:
                        out.write(chunk)
                    except OSError as error:
                        raise _disk_full(part.path, error) from None
                    part.update(chunk)
                    update(advance=len(chunk))
                    if total is not None and part.size > total:
                        raise DatasetError(
                            f"{file.url}: the server sent more than the {total:,} bytes it "
                            "announced",
                            "Run again; if it persists, the server is broken",
                        )
        if total is not None and part.size < total:
            raise _Retry(f"the connection closed after {part.size:,} of {total:,} bytes")

    def _total(self, file: RemoteFile, part: _Partial, response: Any) -> int | None:
        """The file's whole size from the response; restarts the .part when the server ignored
        the Range request (a 200 instead of a 206)."""
        length = response.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if part.size and response.status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != part.size:
                part.restart()
                raise _Retry("the server resumed at another byte than asked")
            return None if match.group(3) == "*" else int(match.group(3))
        if response.status != 200:
            raise _Retry(f"unexpected HTTP status {response.status}")
        if part.size:
            self.reporter.log(f"{file.filename}: the server cannot resume; starting over")
            part.restart()
        return length


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
    from .results import atomic_write_text

    atomic_write_text(path, json.dumps(marker, indent=1) + "\n")


def download(
    target: Downloadable,
    root: str | os.PathLike[str] | None = None,
    *,
    allow_unverified: bool = False,
    keep_archives: bool = False,
    retries: int = 3,
    retry_wait: float = 2.0,
    timeout: float = 60.0,
    reporter: Reporter | None = None,
) -> DownloadResult:
    """Download, verify and unpack ``target``'s ``[download]`` files into its data root.

    Idempotent: when every ``check`` path already exists nothing is fetched. Archives that
    were downloaded are deleted once unpacked (``keep_archives`` keeps them); a file that was
    already there under its final name is verified and used, never deleted.
    """
    reporter = reporter or Reporter()
    spec = target.download
    if getattr(target, "embedded", False):
        return DownloadResult(
            target.name, Path("."), "embedded", f"{target.name} is embedded: nothing to download"
        )
    if spec is None:
        raise DatasetError(
            f"data set {target.name!r} has no [download] table",
            f"Get it from {target.obtain or 'its publisher'} and pass --data-root"
            if getattr(target, "obtain", "")
            else "Add a [download] table to its data-set file, or get the data by hand",
        )
    where = download_root(target, root)
    if where.exists() and not where.is_dir():
        raise DatasetError(f"download root {where} is a file, not a folder", "Pass another --root")
    marker_path, lock_path = _meta(where, target.name)
    try:
        marker_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ZshbenchError(
            f"cannot create the download root {where} ({error.strerror or error})",
            "Pass a --root you can write to",
        ) from None
    with _lock(lock_path):
        if is_complete(spec, where):
            marker = _read_marker(marker_path)
            if marker and marker.get("files") == _declared(spec):
                how = "verified" if marker.get("verified") else "downloaded (unverified)"
                return DownloadResult(
                    target.name,
                    where,
                    "verified-already",
                    f"{target.name} is already {how} at {where}; nothing to do",
                )
            return DownloadResult(
                target.name,
                where,
                "present-already",
                f"{target.name} is already at {where} (not downloaded by zshbench, so not "
                "checked against the [download] table); nothing to do",
            )
        unverified = [f for f in spec.files if not f.checksums]
        if unverified and not allow_unverified:
            names = ", ".join(f.filename for f in unverified)
            raise DatasetError(
                f"{names}: no checksum is known ({unverified[0].unverified})",
                f"zshbench cannot verify it; to download it anyway run "
                f"{download_command(target, root)} --allow-unverified (its sha256 is then "
                "printed and recorded)",
            )
        fetcher = _Fetcher(reporter, retries=retries, retry_wait=retry_wait, timeout=timeout)
        fetched = [fetcher.fetch(file, where) for file in spec.files]
        _install(target.name, spec, fetched, where, marker_path.parent, reporter)
        for item in fetched:
            if item.downloaded and item.file.unpack != "none" and not keep_archives:
                item.path.unlink(missing_ok=True)
        unverified_sums = {
            item.file.filename: item.digests["sha256"]
            for item in fetched
            if not item.file.checksums
        }
        marker = {
            "name": target.name,
            "files": _declared(spec),
            "received": [
                {"filename": item.file.filename, **item.digests, "bytes": item.size}
                for item in fetched
            ],
            "verified": not unverified_sums,
            "zshbench": __version__,
            "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        _write_marker(marker_path, marker)
    how = "downloaded and verified" if not unverified_sums else "downloaded (unverified)"
    for filename, digest in unverified_sums.items():
        reporter.log(f"warning: {filename} was not verified (no known checksum); sha256 {digest}")
    return DownloadResult(
        target.name, where, "downloaded", f"{target.name}: {how} into {where}", unverified_sums
    )


def _install(
    name: str,
    spec: DownloadSpec,
    fetched: list[_Fetched],
    root: Path,
    meta: Path,
    reporter: Reporter,
) -> None:
    """Unpack every archive into one temporary folder under the root, confirm the ``check``
    paths, then rename each top-level entry into the root (never over an existing one)."""
    staging = Path(tempfile.mkdtemp(prefix=f"unpack-{name}-", dir=meta))
    try:
        for item in fetched:
            if item.file.unpack == "none":
                continue
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
                            f"cannot unpack {item.file.filename} into {root} "
                            f"({error.strerror or error})",
                            "Free some space or pass another --root; the verified archive is "
                            "kept, so the next run only unpacks",
                        ) from None
                    raise
        entries = sorted(os.listdir(staging))
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
    from .datasets import load_dataset, resolve_dataset

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
