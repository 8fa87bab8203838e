"""Keyword options of pluggable parts (methods, extractors, encoders), checked the same way.

Each part declares ``default_options``; a user's ``--option key=value`` that names none of them
is a one-line error listing the real ones, never silently ignored.
"""

from __future__ import annotations

from typing import Any

from .errors import ZshbenchError


def merge_options(owner: str, defaults: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """``defaults`` updated with ``given``; an unknown key raises naming ``owner``."""
    unknown = set(given) - set(defaults)
    if unknown:
        raise ZshbenchError(
            f"{owner} has no option {', '.join(sorted(unknown))}",
            f"Its options are: {', '.join(sorted(defaults)) or 'none'}.",
        )
    return {**defaults, **given}
