"""``did you mean …`` for names a user types (methods, data sets, options, devices, splits).

A typo should cost a second, not a look through a list of thirty names: the closest known
names (difflib's ratio, case ignored) are offered first, the full list after them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def close_matches(name: str, known: Iterable[str], count: int = 3) -> list[str]:
    """The known names closest to ``name`` (case-insensitive), best first; [] if none is."""
    known = list(known)
    by_lower = {k.lower(): k for k in known}
    found = difflib.get_close_matches(str(name).lower(), list(by_lower), n=count, cutoff=0.6)
    return [by_lower[k] for k in found]


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"Did you mean 'itq'? "`` (or ``'a' or 'b'``), or "" when nothing is close."""
    found = close_matches(name, known)
    if not found:
        return ""
    return "Did you mean " + " or ".join(repr(k) for k in found) + "? "
