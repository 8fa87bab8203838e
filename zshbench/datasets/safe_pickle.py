"""Reading pickled data files without letting them run code.

CIFAR-10's python batches are pickles. A plain ``pickle.load`` on a file in a user's data folder
would run whatever that file asks for (a pickle can call any importable function), so a
tampered or mislabelled download could execute code. :class:`RestrictedUnpickler` admits only
the globals that a pickled dict of numpy arrays, lists, numbers and strings needs, and raises
:class:`UnsafePickleError` for everything else *before* anything is called.

What is admitted and why:

- ``numpy.core.multiarray._reconstruct`` (``numpy._core`` in numpy 2), ``numpy.ndarray`` and
  ``numpy.dtype``: how an array is pickled at protocols 0-4 (the real CIFAR-10 files, written
  by Python 2 at protocol 2).
- ``numpy.core.numeric._frombuffer`` (and ``numpy._core``): the same at protocol 5.
- ``numpy.core.multiarray.scalar`` (and ``numpy._core``): a numpy scalar (e.g. an ``int64``
  label) from its dtype and raw bytes.
- ``_codecs.encode`` restricted to latin-1: Python 3 writes ``bytes`` this way at protocols
  0-2, so re-saved batches with ``bytes`` keys need it. Only the latin-1 text-to-bytes
  conversion is allowed, not an arbitrary codec.

Nothing from ``builtins`` is needed: dicts, lists, strings, bytes and numbers have their own
opcodes. Persistent ids are refused by ``pickle.Unpickler`` itself.
"""

from __future__ import annotations

import codecs
import io
import os
import pickle
from collections.abc import Callable
from typing import Any, BinaryIO

import numpy as np

__all__ = ["RestrictedUnpickler", "UnsafePickleError", "load", "loads"]


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle asked for a global that data files never need (a sign of a code payload)."""


def _numpy_attr(module: str, name: str) -> Any:
    """``numpy._core.<module>.<name>`` on numpy 2, ``numpy.core...`` on numpy 1.

    Looking the function up ourselves (rather than importing the module the pickle names) avoids
    numpy 2's deprecation warning for ``numpy.core`` and imports nothing the pickle chose.
    """
    try:
        from numpy import _core as core  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy import core  # type: ignore[no-redef]
    return getattr(getattr(core, module), name)


def _latin1_encode(text: str, encoding: str = "latin1", errors: str = "strict") -> bytes:
    """The only use of ``_codecs.encode`` a data pickle makes: ``bytes`` at protocol <= 2."""
    if not isinstance(text, str):
        raise UnsafePickleError("_codecs.encode called on a non-string in a pickle")
    try:
        normalized = codecs.lookup(encoding).name
    except LookupError:
        normalized = ""
    if normalized != "iso8859-1" or errors != "strict":
        raise UnsafePickleError(f"_codecs.encode with encoding {encoding!r} is not allowed")
    return text.encode("latin-1")


def _allowed_globals() -> dict[tuple[str, str], Callable[..., Any] | type]:
    reconstruct = _numpy_attr("multiarray", "_reconstruct")
    scalar = _numpy_attr("multiarray", "scalar")
    frombuffer = _numpy_attr("numeric", "_frombuffer")
    allowed: dict[tuple[str, str], Callable[..., Any] | type] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
    }
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{package}.multiarray", "scalar")] = scalar
        allowed[(f"{package}.numeric", "_frombuffer")] = frombuffer
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals listed in this module's docstring.

    Every other ``module.name`` a pickle mentions (``os.system``, ``builtins.eval``,
    ``subprocess.Popen``, ...) raises :class:`UnsafePickleError` at lookup time, so no code
    from the file runs.
    """

    _allowed: dict[tuple[str, str], Any] | None = None

    def find_class(self, module: str, name: str) -> Any:
        if RestrictedUnpickler._allowed is None:
            RestrictedUnpickler._allowed = _allowed_globals()
        try:
            return RestrictedUnpickler._allowed[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to load global '{module}.{name}': data pickles never need it"
            ) from None


def load(file: BinaryIO | str | os.PathLike[str], *, encoding: str = "bytes") -> Any:
    """Unpickle a data file with :class:`RestrictedUnpickler`.

    ``encoding="bytes"`` matches the real CIFAR-10 batches (Python 2 strings stay ``bytes``, so
    their keys are ``b"data"``, ``b"labels"``, ...).
    """
    if isinstance(file, (str, os.PathLike)):
        with open(file, "rb") as handle:
            return RestrictedUnpickler(handle, encoding=encoding).load()
    return RestrictedUnpickler(file, encoding=encoding).load()


def loads(data: bytes, *, encoding: str = "bytes") -> Any:
    """:func:`load` for a pickle already in memory."""
    return RestrictedUnpickler(io.BytesIO(data), encoding=encoding).load()
