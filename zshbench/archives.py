"""Unpacking downloaded archives (tar, zip) without trusting them.

An archive fetched from the network decides the names of the files it creates, so each member is
checked before anything is written: no absolute paths, no ``..``, no links that point outside
the destination, no device files, at most ``max_members`` members and ``max_bytes`` unpacked
bytes (what stops a zip bomb). The first unsafe member stops the whole unpack with one line
naming it; the caller unpacks into a fresh temporary folder, so a refused archive leaves nothing
behind.

tar members are written by :mod:`tarfile` itself with its ``"data"`` extraction filter (which
also re-checks every path and link against the real, symlink-resolved destination); zip members
are streamed out by hand, because :mod:`zipfile` silently rewrites unsafe names instead of
refusing them and knows no symlinks.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import stat
import tarfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

from .errors import DatasetError

#: Members one archive may have unless its [download] entry says otherwise (AWA2's images zip
#: has about 37,400, CUB's tarball about 12,000).
DEFAULT_MAX_MEMBERS = 100_000
#: Unpacked bytes per archive byte allowed unless the entry says otherwise; image archives
#: unpack to about 1x, a zip bomb to 1000x and more.
DEFAULT_MAX_RATIO = 100
CHUNK = 1 << 20

ARCHIVE_HINT = (
    "The archive is not what the data-set file promises: nothing was unpacked; delete it and "
    "check the url in the [download] table"
)


def unsafe(archive: Path, member: str, problem: str) -> DatasetError:
    """The one-line refusal: which archive, which member, what is wrong with it."""
    return DatasetError(f"{archive.name}: member {member!r} {problem}", ARCHIVE_HINT)


def member_path(archive: Path, raw: str) -> PurePosixPath | None:
    """The member's relative path, or None for the archive's own root entry (``./``).

    Refuses absolute paths (``/x``, ``C:\\x``), ``..`` anywhere, and NUL bytes; backslashes
    count as separators, as some zip writers use them.
    """
    if "\0" in raw:
        raise unsafe(archive, raw, "has a NUL byte in its name")
    name = raw.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":" and name[0].isalpha()):
        raise unsafe(archive, raw, "has an absolute path")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise unsafe(archive, raw, "has '..' in its path (it would land outside the target)")
    return PurePosixPath(*parts) if parts else None


def _inside(root: Path, path: Path) -> bool:
    root = Path(os.path.realpath(root))
    resolved = Path(os.path.realpath(path))
    return resolved == root or root in resolved.parents


def _check_link(archive: Path, dest: Path, name: PurePosixPath, target: str, hard: bool) -> None:
    """A link ``name`` → ``target`` must stay inside ``dest``: by its text (a hard link's target
    is relative to the archive's root, a symlink's to its own folder) and by ``realpath``, which
    also follows links unpacked before it (``s -> .`` then ``s/sub/l -> ../../x`` escapes)."""
    escape = unsafe(archive, str(name), f"is a link to {target!r}, outside the target")
    text = target.replace("\\", "/")
    if not text or "\0" in text or text.startswith("/"):
        raise escape
    relative = os.path.normpath(text if hard else os.path.join(str(name.parent), text))
    if relative == ".." or relative.startswith("../") or os.path.isabs(relative):
        raise escape
    if hard and relative == ".":
        raise escape
    # not normalised first: realpath must resolve "s/sub/.." through whatever "s" links to
    if not _inside(dest, (dest if hard else dest / name.parent) / text):
        raise escape


def _wanted(name: PurePosixPath, include: Sequence[str]) -> bool:
    return not include or any(fnmatch.fnmatchcase(str(name), pattern) for pattern in include)


def _limits(archive: Path, max_members: int | None, max_bytes: int | None) -> tuple[int, int]:
    members = max_members or DEFAULT_MAX_MEMBERS
    limit = max_bytes or max(archive.stat().st_size * DEFAULT_MAX_RATIO, 1 << 30)
    return members, limit


def _too_many(archive: Path, count: int | str, limit: int) -> DatasetError:
    return DatasetError(
        f"{archive.name} has {count} members, more than the limit of {limit:,}",
        "An archive with that many members is refused (a zip-bomb guard); if the data set "
        "really has that many files, raise max_members for this file in its [download] table",
    )


def _too_big(archive: Path, limit: int) -> DatasetError:
    return DatasetError(
        f"{archive.name} unpacks to more than {limit:,} bytes",
        "An archive that expands that much is refused (a zip-bomb guard); if that is really its "
        "size, raise max_unpacked_bytes for this file in its [download] table",
    )


def unpack(
    archive: Path,
    dest: Path,
    kind: str,
    include: Sequence[str] = (),
    max_members: int | None = None,
    max_bytes: int | None = None,
    advance: Callable[[int], None] | None = None,
) -> int:
    """Unpack ``archive`` (``kind`` "tar" or "zip") into the folder ``dest``; returns the number
    of members written. ``include``: fnmatch patterns of member paths to keep (all when empty);
    every member is checked either way. ``advance(n)`` is called as members are written."""
    dest.mkdir(parents=True, exist_ok=True)
    members, limit = _limits(archive, max_members, max_bytes)
    step = advance or (lambda n: None)
    try:
        if kind == "tar":
            return _unpack_tar(archive, dest, include, members, limit, step)
        if kind == "zip":
            return _unpack_zip(archive, dest, include, members, limit, step)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as error:
        raise DatasetError(
            f"{archive.name} is not a readable {kind} archive ({error})",
            "Delete it and download it again; if it keeps failing, check the url and unpack "
            "entries of the [download] table",
        ) from None
    raise ValueError(f"unknown archive kind {kind!r}")  # the TOML parser only admits the above


def _unpack_tar(
    archive: Path,
    dest: Path,
    include: Sequence[str],
    max_members: int,
    max_bytes: int,
    advance: Callable[[int], None],
) -> int:
    data_filter = getattr(tarfile, "data_filter", None)  # Python >= 3.10.12 / 3.11.4
    written = 0
    count = 0
    total = 0
    with tarfile.open(archive, mode="r:*") as tar:
        for member in tar:  # streaming: one pass over a compressed tarball
            count += 1
            if count > max_members:
                raise _too_many(archive, f"more than {max_members:,}", max_members)
            name = member_path(archive, member.name)
            if name is None:
                continue
            if member.issym() or member.islnk():
                _check_link(archive, dest, name, member.linkname, hard=member.islnk())
            elif not (member.isfile() or member.isdir()):
                raise unsafe(archive, member.name, "is a device, pipe or other special file")
            if not _inside(dest, dest / name):
                raise unsafe(archive, member.name, "would be written outside the target")
            total += member.size
            if total > max_bytes:
                raise _too_big(archive, max_bytes)
            if not _wanted(name, include):
                continue
            member.name = str(name)
            if member.islnk():
                member.linkname = str(member_path(archive, member.linkname))
            if data_filter is not None:
                try:
                    tar.extract(member, dest, filter="data")
                except tarfile.FilterError as error:  # e.g. a link resolved through another
                    raise unsafe(archive, member.name, f"is refused ({error})") from None
                except KeyError:  # tarfile's answer to a hard link it cannot resolve
                    raise _dangling_hard_link(archive, member) from None
            else:  # older Python patch releases: the checks above are the whole guard
                try:
                    tar.extract(member, dest, set_attrs=False)
                except KeyError:
                    raise _dangling_hard_link(archive, member) from None
            written += 1
            advance(1)
    return written


def _dangling_hard_link(archive: Path, member: tarfile.TarInfo) -> DatasetError:
    return unsafe(
        archive,
        member.name,
        f"is a hard link to {member.linkname!r}, which is not an earlier member of the archive "
        "(a missing member, or itself)",
    )


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16)


def _unpack_zip(
    archive: Path,
    dest: Path,
    include: Sequence[str],
    max_members: int,
    max_bytes: int,
    advance: Callable[[int], None],
) -> int:
    written = 0
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()  # the central directory: counts are known before writing
        if len(infos) > max_members:
            raise _too_many(archive, f"{len(infos):,}", max_members)
        if sum(info.file_size for info in infos) > max_bytes:
            raise _too_big(archive, max_bytes)
        names = [member_path(archive, info.filename) for info in infos]  # all checked first
        total = 0
        for info, name in zip(infos, names, strict=True):
            if name is None or not _wanted(name, include):
                continue
            path = dest / name
            if not _inside(dest, path):  # through links unpacked before it
                raise unsafe(archive, info.filename, "would be written outside the target")
            if _is_symlink(info):
                target = zf.read(info).decode("utf-8", "surrogateescape")
                _check_link(archive, dest, name, target, hard=False)
                path.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(target, path)
            elif info.is_dir():
                path.mkdir(parents=True, exist_ok=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                try:
                    out = open(path, "xb")  # noqa: SIM115 - never through an existing file/link
                except FileExistsError:
                    raise unsafe(archive, info.filename, "appears twice in the archive") from None
                # zipfile checks each member's CRC-32 when its end is read
                with out, zf.open(info) as source:
                    while chunk := source.read(CHUNK):
                        total += len(chunk)
                        if total > max_bytes:  # the headers may understate the sizes
                            raise _too_big(archive, max_bytes)
                        out.write(chunk)
            written += 1
            advance(1)
    return written


def remove_tree(path: Path) -> None:
    """Delete a temporary unpack folder (links inside are removed, never followed)."""
    shutil.rmtree(path, ignore_errors=True)
