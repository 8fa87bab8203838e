"""Fetching one published file: streamed, hashed as it arrives, resumed, retried, verified.

Each file streams into ``<root>/<file>.part`` in 1 MiB chunks, hashed as they arrive, so memory
stays flat and nothing is read twice. A dropped connection, a timeout or a 5xx is resumed with
an HTTP ``Range`` request, in the same call (``retries``, with a doubling wait) or by running
the command again. The checksum is compared before anything is unpacked: a mismatch moves the
download aside as ``<file>.mismatch``, touches nothing else, and says expected vs got. The
client is the standard library's :mod:`urllib` (redirects, proxies from the environment and
HTTPS come with it; no extra dependency).

A hostile or broken server cannot make a download run forever or fill the disk: the declared
``size`` is enforced while the bytes arrive (not after), a read that gets no byte for
``timeout`` seconds is a stall (resumed like a dropped connection), the whole file must arrive
within ``deadline`` seconds (all retries together), and redirects are followed to http(s)
addresses only.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import DatasetError, ZshbenchError
from ..safe_open import open_binary, refuse_link
from ..safetext import plain_lines, printable
from .tables import RemoteFile

CHUNK = 1 << 20
DEFAULT_STALL_TIMEOUT = 60.0  # seconds without a single byte
DEFAULT_DEADLINE = 6 * 3600.0  # seconds for one file, every retry included
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_WHOLE_RANGE = re.compile(r"^bytes \*/(\d+)$")  # a 416's answer: the file's length


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
            self.console.print(plain_lines(message), highlight=False, soft_wrap=True)

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
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
        console = self.console
        with Progress(
            *columns, console=console, transient=True, disable=not console.is_terminal
        ) as bar:
            task = bar.add_task(printable(description), total=total, completed=done)
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
            task = bar.add_task(printable(description), total=total)
            yield lambda n: bar.advance(task, n)


# --------------------------------------------------------------------------------------------
# Fetching one file


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to an http:// or https:// address (never ftp://, file://)."""

    def http_error_302(self, req, fp, code, msg, headers):  # noqa: ANN001 - urllib's names
        newurl = headers.get("location") or headers.get("uri") or ""
        scheme = urllib.parse.urlsplit(urllib.parse.urljoin(req.full_url, newurl)).scheme
        if scheme.lower() not in ("http", "https"):
            fp.close()
            raise DatasetError(
                f"{printable(req.full_url)}: the server redirects to a {scheme or 'schemeless'}:"
                " address, and downloads follow http(s) redirects only",
                "Check the url in the [download] table; nothing was downloaded from it",
            )
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects)


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
        refuse_link(self.path)  # a planted link: never read, truncated or appended through
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
        open_binary(self.path, "wb").close()
        self.hashes = {name: hashlib.new(name) for name in self.algorithms}
        self.size = 0

    def update(self, chunk: bytes) -> None:
        for digest in self.hashes.values():
            digest.update(chunk)
        self.size += len(chunk)

    def hexdigests(self) -> dict[str, str]:
        return {name: digest.hexdigest() for name, digest in self.hashes.items()}


def _kept(part: _Partial) -> str:
    """What a failed download leaves, said truly (no '.part' when nothing was written)."""
    if part.size > 0 and part.path.is_file():
        return f"{part.size:,} bytes are kept in {part.path}"
    return "nothing was downloaded yet"


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


def _check_room(file: RemoteFile, part: _Partial, total: int) -> None:
    free = shutil.disk_usage(part.path.parent).free
    if free < total - part.size:
        raise ZshbenchError(
            f"{part.path.parent} has {_human(free)} free, {file.filename} needs "
            f"{_human(total - part.size)} more",
            "Free some space or pass another --root",
        )


@dataclass
class Fetched:
    """A file at its final name with the digests of its bytes."""

    file: RemoteFile
    path: Path
    digests: dict[str, str]
    downloaded: bool  # False: the file was already there (the user's, or a kept archive)
    size: int = 0


@dataclass
class Fetcher:
    """Fetches published files one at a time (``retries`` resumes, a doubling wait between)."""

    reporter: Reporter
    retries: int = 3
    retry_wait: float = 2.0
    timeout: float = DEFAULT_STALL_TIMEOUT  # a read with no byte for this long is a stall
    deadline: float | None = DEFAULT_DEADLINE  # for one file, all retries together
    _give_up_at: float = field(default=float("inf"), init=False, repr=False)

    def fetch(self, file: RemoteFile, root: Path) -> Fetched:
        """``file`` verified at ``<root>/<filename>`` (downloaded, resumed, or already there)."""
        final = root / file.filename
        algorithms = list(file.checksums) or ["sha256"]
        if final.exists():
            return self._existing(file, final, algorithms)
        part = _Partial(root / f"{file.filename}.part", algorithms)
        started = time.monotonic()
        self._give_up_at = started + self.deadline if self.deadline else float("inf")
        if part.size:
            self.reporter.log(f"{file.filename}: resuming at byte {part.size:,} of {part.path}")
        else:
            size = f" {_human(file.size)}" if file.size else ""
            self.reporter.log(f"{file.filename}: downloading{size} from {file.url}")
        self._with_retries(file, part)
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
        return Fetched(file, final, digests, downloaded=True, size=part.size)

    def _with_retries(self, file: RemoteFile, part: _Partial) -> None:
        """Transfer until the .part is whole, resuming after each failure worth a retry."""
        failures = 0
        while file.size is None or part.size != file.size:  # a whole .part needs no request
            self._check_deadline(file, part)
            try:
                self._transfer(file, part)
                return
            except _Retry as reason:
                failures += 1
                if failures > self.retries:
                    raise ZshbenchError(
                        f"downloading {file.filename} failed ({reason}); {_kept(part)}",
                        "Run the same command again to resume where it stopped",
                    ) from None
                wait = self.retry_wait * 2 ** (failures - 1)
                self.reporter.log(
                    f"{file.filename}: {reason}; resuming in {wait:g} s "
                    f"(retry {failures} of {self.retries})"
                )
                time.sleep(wait)

    def _check_deadline(self, file: RemoteFile, part: _Partial) -> None:
        if time.monotonic() > self._give_up_at:
            raise ZshbenchError(
                f"downloading {file.filename} took longer than its deadline of "
                f"{self.deadline:g} s; {_kept(part)}",
                "Run the same command again to resume, or pass a longer --deadline",
            )

    def _existing(self, file: RemoteFile, final: Path, algorithms: list[str]) -> Fetched:
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
        return Fetched(file, final, digests, downloaded=False, size=size)

    def _open(self, file: RemoteFile, part: _Partial) -> Any:
        headers = {"User-Agent": f"zshbench/{__version__}", "Accept-Encoding": "identity"}
        if part.size:
            headers["Range"] = f"bytes={part.size}-"
        request = urllib.request.Request(file.url, headers=headers)
        try:
            return _OPENER.open(request, timeout=self.timeout)
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
        """One request: append what the server sends to the .part; raises _Retry when short."""
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
                _check_room(file, part, total)
            self._stream(file, part, response, total)
        if total is not None and part.size < total:
            raise _Retry(f"the connection closed after {part.size:,} of {total:,} bytes")

    def _stream(self, file: RemoteFile, part: _Partial, response: Any, total: int | None) -> None:
        """Chunks from ``response`` onto the .part, hashed as they arrive, with a progress bar.

        Never more than the declared size is written (the server's Content-Length, else the
        table's ``size``); ``read1`` returns what has arrived, so the deadline is checked
        between reads however slowly the bytes trickle in."""
        limit = total if total is not None else file.size
        read = getattr(response, "read1", response.read)
        with (
            self.reporter.transfer(file.filename, total, part.size) as update,
            open_binary(part.path, "ab") as out,
        ):
            while True:
                try:
                    chunk = read(CHUNK)
                except TimeoutError:
                    raise _Retry(f"no byte arrived for {self.timeout:g} s") from None
                except (OSError, http.client.HTTPException) as error:
                    reason = error or type(error).__name__
                    raise _Retry(f"the connection broke ({reason})") from None
                if not chunk:
                    return
                if limit is not None and part.size + len(chunk) > limit:
                    raise DatasetError(
                        f"{file.url}: the server sent more than the {limit:,} bytes "
                        + ("it announced" if total is not None else "the table declares"),
                        "Nothing past that size was written; run again, and if it persists the "
                        "server is broken or the table's size is wrong",
                    )
                self._check_deadline(file, part)
                try:
                    out.write(chunk)
                except OSError as error:
                    raise _disk_full(part.path, error) from None
                part.update(chunk)
                update(advance=len(chunk))

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
