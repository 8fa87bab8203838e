"""Progress bars for long work (training, encoding), backed by rich, and a run's log file.

Methods only see :class:`zshbench.method.Progress`; the CLI hands them :class:`RichProgress`,
and the run engine wraps it in :class:`LoggedProgress` for each record, so every line a method
logs or shows as a live status also lands in ``bits<B>-seed<S>.log`` beside the record.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import (
    Progress as RichBar,
)

from .errors import ZshbenchError
from .method import Progress
from .safe_open import open_text
from .safetext import plain_lines, printable

#: What the bar, the count, the elapsed time and the ETA take of a line, beside the text.
BAR_COLUMNS = 46


def fit_status(description: str, message: str, width: int) -> str:
    """``description · message``, cut (with an ellipsis) so that the bar, elapsed time and ETA
    still fit on a ``width``-column line: per-epoch figures never push them off it."""
    text = f"{description} · {message}"
    room = width - BAR_COLUMNS
    if len(text) <= room:
        return text
    return description if len(description) + 4 > room else text[: room - 1] + "…"


class RichProgress(Progress):
    """Nested rich progress bars; a finished task's bar disappears, its log line stays.

    ``status`` text (e.g. the last epoch's figures) is appended to the innermost open bar's
    description and replaced by the next status, so a 60-epoch run shows one live line, not 60.
    """

    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.bar = RichBar(
            TextColumn("{task.description}", markup=False),  # descriptions hold run names
            BarColumn(bar_width=20),  # leaves room for the text at 80 columns
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self._open: list[tuple[int, str]] = []  # (task id, its own description), innermost last
        self._started = False

    def __enter__(self) -> RichProgress:
        return self  # the bar starts with the first task, so early errors print cleanly

    def __exit__(self, *exc) -> None:
        if self._started:
            self.bar.stop()

    @contextlib.contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        if not self._started:
            self.bar.start()
            self._started = True
        description = printable(description)
        task_id = self.bar.add_task(description, total=total)
        self._open.append((task_id, description))
        try:
            yield lambda steps=1: self.bar.advance(task_id, steps)
        finally:
            self._open.remove((task_id, description))
            self.bar.remove_task(task_id)

    def status(self, message: str) -> None:
        if self._open:
            task_id, description = self._open[-1]
            self.bar.update(
                task_id,
                description=fit_status(description, printable(message), self.console.width),
            )

    def log(self, message: str) -> None:
        self.console.print(plain_lines(message), highlight=False, soft_wrap=True)


class LoggedProgress(Progress):
    """``progress`` that also appends every log and status line, time-stamped, to ``path``.

    The lines go to a new hidden file beside it (``.<log>.<random>.tmp``, created exclusively,
    never through a link) that only :meth:`commit` renames to ``path``: a link planted at
    ``path`` is replaced, never written through, and with ``held`` an earlier run's log stays
    whole until the run engine commits the new one together with its record (an interrupted
    ``--overwrite`` keeps both). Without ``held``, :meth:`close` commits. A run that logs
    nothing leaves no file. Writing the log never stops a run: a failing write is given up
    quietly (the record itself is what must not be lost).
    """

    def __init__(self, progress: Progress, path: Path, held: bool = False):
        self.inner = progress
        self.path = Path(path)
        self.staging = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.tmp")
        self.held = held
        self._stream: TextIO | None = None
        self._broken = False
        self._committed = False

    def _write(self, kind: str, message: str) -> None:
        if self._broken:
            return
        try:
            if self._stream is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._stream = open_text(self.staging, "xb")  # this attempt only
            stamp = _dt.datetime.now().strftime("%H:%M:%S")
            self._stream.write(f"{stamp} {kind} {message}\n")
            self._stream.flush()
        except (OSError, ZshbenchError):  # a planted link at the staging name, too
            self._broken = True

    def task(self, description: str, total: int | None = None):
        return self.inner.task(description, total)

    def log(self, message: str) -> None:
        self._write("log", message)
        self.inner.log(message)

    def status(self, message: str) -> None:
        self._write("   ", message)
        self.inner.status(message)

    @property
    def written(self) -> bool:
        """True if this attempt wrote a log (committed or still staged)."""
        return self._committed or os.path.isfile(self.staging)

    def close(self) -> None:
        """Close the file; commit it unless ``held``."""
        self.close_stream_only()
        if not self.held:
            self.commit()

    def commit(self) -> None:
        """Move this attempt's log to ``path``, replacing an earlier log (or a link there); an
        attempt that logged nothing removes the earlier log, which described another run."""
        self.close_stream_only()
        if self._committed:
            return
        if os.path.isfile(self.staging):
            os.replace(self.staging, self.path)
            self._committed = True
        else:
            with contextlib.suppress(OSError):
                self.path.unlink()

    def close_stream_only(self) -> None:
        if self._stream is not None:
            with contextlib.suppress(OSError):
                self._stream.close()
            self._stream = None

    def settle(self, kept_record: bool) -> Path | None:
        """After an attempt that did not commit (an error, an interrupt): the log goes to
        ``path`` when no record is there to pair with, else beside it as ``<stem>.aborted.log``
        (the kept record's own log is left whole). Returns where it went."""
        self.close_stream_only()
        if self._committed or not os.path.isfile(self.staging):
            return None
        where = self.path.with_name(f"{self.path.stem}.aborted.log") if kept_record else self.path
        with contextlib.suppress(OSError):
            os.replace(self.staging, where)
            return where
        return None
