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


_OS_ADVICE = {
    "ENOSPC": "no space left on the device",
    "EDQUOT": "the disk quota is exceeded",
    "EACCES": "permission denied",
    "EPERM": "operation not permitted",
    "EROFS": "the file system is read-only",
    "ENOTDIR": "a part of the path is a file, not a folder",
    "EISDIR": "it is a folder, not a file",
    "EEXIST": "something is already there",
    "ENAMETOOLONG": "the file name is too long",
    "ELOOP": "the path runs in a circle of symbolic links",
}


def os_error_line(error: OSError, doing: str = "") -> str:
    """One line for a file-system failure: what failed, on which path, what to do.

    ``doing`` says what zshbench was doing (``"writing the record"``); the path comes from the
    error itself. Finished records are never damaged by such a failure (writes are atomic), so
    the advice always ends with re-running the same command.
    """
    import errno as errno_module

    code = errno_module.errorcode.get(error.errno or 0, "")
    what = _OS_ADVICE.get(code) or (error.strerror or str(error) or type(error).__name__)
    what = what.rstrip(".")
    paths = [p for p in (error.filename, getattr(error, "filename2", None)) if p is not None]
    where = f" ({' -> '.join(str(p) for p in paths)})" if paths else ""
    if code in ("ENOSPC", "EDQUOT"):
        advice = "Free some space (or use --results on another disk) and run the same command again"
    elif code in ("EACCES", "EPERM", "EROFS"):
        advice = "Choose a folder you can write to (--results DIR) or fix its permissions"
    elif code == "ENOTDIR":
        advice = "Choose a path whose folders are folders"
    elif code in ("EISDIR", "EEXIST"):
        advice = "Move what is in the way, or choose another path"
    else:
        advice = "Check the path and run the same command again"
    doing = f" while {doing}" if doing else ""
    return f"{what}{where}{doing}. {advice}; finished records are kept."
