"""Opening files we write in a folder others can write to, without following planted links.

A results folder may be shared, copied or unpacked from someone else's archive, and a download
root may hold what an archive dropped there. A symbolic link planted at the name of a lock, a
log or a ``.part`` file would make a plain ``open`` write through it, truncating whatever file
it points to. Every such file is opened here with ``O_NOFOLLOW`` (a link at the name is refused
with one line, the link and its target left alone) and ``O_CLOEXEC`` (a child process never
inherits the descriptor, so a lock is never held by a process that does not know it).
"""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path
from typing import BinaryIO, TextIO

from .errors import ZshbenchError

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class PlantedLinkError(ZshbenchError):
    """A symbolic link sits where zshbench writes a file of its own."""


def refuse_link(path: Path) -> None:
    """Raise :class:`PlantedLinkError` if ``path`` is a symbolic link (dangling or not)."""
    if os.path.islink(path):
        raise PlantedLinkError(
            f"{path} is a symbolic link; zshbench writes that file itself and never through a link",
            "Remove the link (someone with access to this folder may have planted it; its "
            "target was not touched) and run again",
        )


def open_fd(path: Path, flags: int, mode: int = 0o666) -> int:
    """``os.open(path, flags | O_NOFOLLOW | O_CLOEXEC, mode)``; a link at ``path`` is refused.

    Other ``OSError``\\s propagate with the path filled in.
    """
    try:
        return os.open(path, flags | _NOFOLLOW | _CLOEXEC, mode)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.EMLINK) or (
            error.errno == errno.EEXIST and os.path.islink(path)
        ):
            refuse_link(path)
        if error.filename is None:
            error.filename = str(path)
        raise


def open_binary(path: Path, how: str) -> BinaryIO:
    """A binary file object for ``how`` in ``"wb"`` (truncate), ``"ab"`` (append) or ``"xb"``
    (create, must not exist), opened without following a link at ``path``."""
    flags = {
        "wb": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
        "ab": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
        "xb": os.O_WRONLY | os.O_CREAT | os.O_EXCL,
    }[how]
    return os.fdopen(open_fd(path, flags), how.replace("x", "w"))


def open_text(path: Path, how: str = "xb") -> TextIO:
    """Like :func:`open_binary`, as UTF-8 text (a log)."""
    return io.TextIOWrapper(open_binary(path, how), encoding="utf-8")
