"""One exception type for every user-facing failure.

The CLI prints ``ZshbenchError`` as a single line (message + what to do) instead of a traceback,
so every check on user input raises it with a hint.
"""

from __future__ import annotations


class ZshbenchError(Exception):
    """A problem the user can fix; ``hint`` says how."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.one_line()

    def one_line(self) -> str:
        text = self.message.rstrip(".")
        return f"{text}. {self.hint}" if self.hint else f"{text}."


class DatasetError(ZshbenchError):
    """A data set is missing, malformed or in the wrong layout."""


class PluginError(ZshbenchError):
    """A plugin failed to load, collided with another, or broke its contract."""


class TrainingError(ZshbenchError):
    """Training diverged (e.g. a NaN loss) or a method returned invalid codes."""
