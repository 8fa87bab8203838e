"""The ``[download]`` table of a data-set file, and download-only entries, parsed and checked.

A data set's TOML entry (or a user's own data-set file) may carry a ``[download]`` table::

    [download]
    check = ["cifar-10-batches-py/data_batch_1", ...]   # what exists once it is complete

    [[download.files]]
    url = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    size = 170498071                                  # bytes (optional)
    md5 = "c58f30108f718f92721af3b95e74349a"          # or sha256 = "..."
    unpack = "tar"                                    # tar, zip or none (default: by suffix)

Files whose publisher gives no checksum must say so (``unverified = "why"``). Every key is
checked here, once, so the transfer never meets a malformed entry. This module imports nothing
of :mod:`zshbench.datasets`: the data-set file parser (:mod:`zshbench.datasets.spec_file`)
imports it, and the import graph must stay one way.
"""

from __future__ import annotations

import re
import sys
import urllib.parse
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from ..errors import DatasetError
from ..safetext import has_control

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

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


def _filename(path: Path, key: str, table: dict[str, Any], url: str) -> str:
    filename = table.get("filename", default_filename(url))
    if (
        not isinstance(filename, str)
        or not filename
        or "/" in filename
        or "\\" in filename
        or filename.startswith(".")
        or has_control(filename)  # a %00, ESC, C1 CSI or bidi mark in the url
    ):
        raise _bad(path, f"{key}.filename", f"must be a plain file name, not {filename!r}")
    return filename


def _checksums(path: Path, key: str, table: dict[str, Any]) -> tuple[dict[str, str], str]:
    """The declared checksums, or the reason none is known (exactly one of the two)."""
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
    return sums, unverified.strip()


def _unpacking(path: Path, key: str, table: dict[str, Any], filename: str) -> tuple[str, list]:
    """How the file is unpacked (tar, zip, none) and which members are kept."""
    kind = table.get("unpack", unpack_kind(filename))
    if kind not in UNPACK_KINDS:
        raise _bad(path, f"{key}.unpack", f"must be one of {', '.join(UNPACK_KINDS)}, not {kind!r}")
    include = table.get("include", [])
    if not isinstance(include, list) or not all(isinstance(p, str) and p for p in include):
        raise _bad(path, f"{key}.include", "must be a list of member path patterns")
    if include and kind == "none":
        raise _bad(path, f"{key}.include", "needs an archive (unpack = tar or zip)")
    return kind, include


def _optional_positive(path: Path, key: str, table: dict[str, Any], name: str) -> int | None:
    return None if table.get(name) is None else _positive_int(path, f"{key}.{name}", table[name])


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
    filename = _filename(path, key, table, url)
    sums, unverified = _checksums(path, key, table)
    kind, include = _unpacking(path, key, table, filename)
    return RemoteFile(
        url=url,
        filename=filename,
        unpack=kind,
        size=_optional_positive(path, key, table, "size"),
        md5=sums.get("md5"),
        sha256=sums.get("sha256"),
        unverified=unverified,
        include=tuple(include),
        max_members=_optional_positive(path, key, table, "max_members"),
        max_unpacked_bytes=_optional_positive(path, key, table, "max_unpacked_bytes"),
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
