"""Reading ``.npy`` arrays and ``.npz`` archives a user hands in, bounded by the bytes present.

Why not plain ``np.load``: it trusts an ``.npy`` header. A 128-byte file whose header claims
shape ``(2**40, 9)`` asks for 9 TiB before it reads a byte (a ``MemoryError`` traceback, or a
machine that swaps). And numpy raises ``ValueError`` both for a truncated ``.npz`` member and
for an object array, so a damaged download was reported as "holds object arrays".

Here the header is read first (``numpy.lib.format``) and checked: object dtypes are refused
(pickle stays off: a data file never runs code) and the size the header claims must fit in the
bytes that follow it. The data is then read in chunks into a growing buffer, so memory grows
only with data that really arrives, even when a zip member's declared size lies.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .errors import ZshbenchError

__all__ = ["ArrayFileError", "npz_members", "read_npy", "read_npz"]

_CHUNK = 1 << 20
_REDO = "Re-create the file (np.save / np.savez) or download it again"


class ArrayFileError(ZshbenchError):
    """An ``.npy`` / ``.npz`` file is truncated, lies about its size, or holds pickled objects."""


def read_npy(path: str | Path) -> np.ndarray:
    """The array in an ``.npy`` file, refusing object arrays and sizes the file cannot hold."""
    path = Path(path)
    with open(path, "rb") as stream:
        size = stream.seek(0, 2)
        stream.seek(0)
        return _read_array(stream, size, str(path))


def read_npz(path: str | Path, names: Iterable[str]) -> dict[str, np.ndarray]:
    """The arrays ``names`` (those present) of an ``.npz``, each checked as in :func:`read_npy`.

    Raises ``zipfile.BadZipFile`` when ``path`` is no zip archive at all (the caller words it).
    """
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: info for info in archive.infolist()}
        for name in names:
            info = members.get(f"{name}.npy")
            if info is None:
                continue
            where = f"{path} (array {name!r})"
            try:
                with archive.open(info) as stream:
                    arrays[name] = _read_array(stream, info.file_size, where)
            except (EOFError, zipfile.BadZipFile, zlib.error, OSError) as error:
                reason = str(error).splitlines()[0] if str(error) else type(error).__name__
                raise ArrayFileError(
                    f"{where} is truncated or corrupt ({reason})", f"{_REDO}."
                ) from None
    return arrays


def npz_members(path: str | Path) -> list[str]:
    """The array names of an ``.npz`` archive (its ``*.npy`` members without the suffix)."""
    with zipfile.ZipFile(path) as archive:
        return [n[: -len(".npy")] for n in archive.namelist() if n.endswith(".npy")]


def _read_array(stream: BinaryIO, available: int, where: str) -> np.ndarray:
    """Header, checks, then the data in chunks; ``available`` counts the bytes from the start."""
    shape, fortran, dtype = _read_header(stream, where)
    if dtype.hasobject:
        raise ArrayFileError(
            f"{where} holds object arrays",
            "Save plain numeric arrays; pickled objects are never loaded.",
        )
    count = math.prod(shape)
    claimed = count * dtype.itemsize
    present = max(available - stream.tell(), 0)
    if claimed > present:
        raise ArrayFileError(
            f"{where} is truncated or corrupt: its header claims a {dtype} array of shape "
            f"{shape} ({_size(claimed)}) but only {_size(present)} of data follow",
            f"{_REDO}.",
        )
    if dtype.itemsize == 0:
        return np.empty(shape, dtype=dtype)
    buffer = bytearray()
    while len(buffer) < claimed:
        chunk = stream.read(min(_CHUNK, claimed - len(buffer)))
        if not chunk:
            raise ArrayFileError(
                f"{where} is truncated: {_size(len(buffer))} of {_size(claimed)} of data",
                f"{_REDO}.",
            )
        buffer += chunk
    array = np.frombuffer(buffer, dtype=dtype, count=count)
    return array.reshape(shape, order="F" if fortran else "C")


def _read_header(stream: BinaryIO, where: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    fmt = np.lib.format
    try:
        version = fmt.read_magic(stream)
        if version == (1, 0):
            return fmt.read_array_header_1_0(stream)
        if version == (2, 0):
            return fmt.read_array_header_2_0(stream)
    except (ValueError, TypeError, SyntaxError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ArrayFileError(
            f"{where} is not a readable .npy array ({reason})", f"{_REDO}."
        ) from None
    raise ArrayFileError(
        f"{where} uses .npy format version {version[0]}.{version[1]}, which is not read here",
        "Save it with np.save (format 1.0 or 2.0).",
    )


def _size(nbytes: int) -> str:
    """``9.0 TiB``, ``1.5 MiB``, ``12 bytes``: sizes a reader can compare at a glance."""
    if nbytes < 1024:
        return f"{nbytes:,} bytes"
    exponent = min(int(math.log(nbytes, 1024)), 5)
    return f"{nbytes / 1024**exponent:.1f} {('KiB', 'MiB', 'GiB', 'TiB', 'PiB')[exponent - 1]}"
