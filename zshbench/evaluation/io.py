"""Reading codes a user hands in: an .npz of query/database codes and labels.

This is how a method evaluated outside zshbench (or an old run) gets scored under the same
protocol: ``np.savez(path, query_codes=..., query_labels=..., db_codes=..., db_labels=...)``.
The file is read by :mod:`zshbench.array_files`: pickle stays off (a downloaded results file
must never run code) and no array may claim more bytes than the file holds.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..array_files import npz_members, read_npz
from ..errors import ZshbenchError
from .codes import to_signs, unpack_codes

__all__ = ["load_codes_file"]

_ARRAYS = ("query_codes", "query_labels", "db_codes", "db_labels")


def load_codes_file(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (query_codes, query_labels, db_codes, db_labels) from an .npz file.

    Codes may be {-1, +1} or {0, 1} rows, or packed uint8 rows (``pack_codes``) together with a
    scalar ``bits`` array; they come back as int8 signs. Labels are 1-D class ids or 2-D
    multi-hot rows and come back as stored (the metrics validate them).
    """
    path = Path(path)
    expected = f"an .npz with arrays {', '.join(_ARRAYS)} (and scalar 'bits' if codes are packed)"
    if not path.is_file():
        raise ZshbenchError(f"codes file {path} not found", f"Expected {expected}.")
    arrays = _read_arrays(path, expected)
    bits = _bits_value(arrays["bits"], path) if "bits" in arrays else None
    codes = []
    for name in ("query_codes", "db_codes"):
        array = arrays[name]
        if bits is not None and _is_packed(array, bits):
            codes.append(unpack_codes(array, bits))
            continue
        signs = to_signs(array, f"{name} in {path.name}")
        if bits is not None and signs.shape[1] != bits:
            raise ZshbenchError(
                f"{name} in {path} have {signs.shape[1]} bits but 'bits' says {bits}",
                "Fix the 'bits' array or the codes.",
            )
        codes.append(signs)
    return codes[0], arrays["query_labels"], codes[1], arrays["db_labels"]


def _read_arrays(path: Path, expected: str) -> dict[str, np.ndarray]:
    """The named arrays, read by :mod:`zshbench.array_files` (sizes bounded, pickle off).

    numpy's own message for a non-numpy file suggests loading it "unsafely" with allow_pickle;
    that would let the file run code, so no such message is ever passed on.
    """
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as stream:
            single = stream.read(6) == b"\x93NUMPY"
        if single:
            raise ZshbenchError(
                f"{path} holds a single array, not an .npz archive", f"Expected {expected}."
            )
        raise ZshbenchError(
            f"cannot read codes file {path} (it is neither an .npz archive nor a .npy array)",
            f"Expected {expected}; pickled data is never loaded.",
        )
    try:
        members = npz_members(path)
        missing = [name for name in _ARRAYS if name not in members]
        if missing:
            raise ZshbenchError(
                f"codes file {path} lacks {', '.join(missing)} (has {', '.join(members)})",
                f"Expected {expected}.",
            )
        return read_npz(path, (*_ARRAYS, "bits"))
    except (OSError, EOFError, zipfile.BadZipFile) as exc:  # a damaged directory
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ZshbenchError(
            f"cannot read codes file {path} ({reason})",
            "Re-create the file (np.savez) or download it again; "
            f"expected {expected}; pickled data is never loaded.",
        ) from None


def _bits_value(bits: np.ndarray, path: Path) -> int:
    if bits.size != 1 or not np.issubdtype(bits.dtype, np.integer) or int(bits.ravel()[0]) < 1:
        raise ZshbenchError(
            f"'bits' in {path} must be one positive integer, got {bits!r}",
            "Save it as np.array(64) (the code length).",
        )
    return int(bits.ravel()[0])


def _is_packed(array: np.ndarray, bits: int) -> bool:
    """uint8 rows with a 'bits' array are packed unless they have exactly 'bits' columns.

    Only 1-bit codes are ambiguous (one column either way); a packed set bit reads 128 there.
    """
    if array.dtype != np.uint8 or array.ndim != 2:
        return False
    if array.shape[1] != bits:
        return True  # unpack_codes checks that the width is ceil(bits / 8)
    return bits == 1 and bool((array == 128).any())
