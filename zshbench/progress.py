"""Progress bars for long work (training, encoding), backed by rich, and a run's log file.

Methods only see :class:`zshbench.method.Progress`; the CLI hands them :class:`RichProgress`,
and the run engine wraps it in :class:`LoggedProgress` for each record, so every line a method
logs or shows as a live status also lands in ``bits<B>-seed<S>.log`` beside the record.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
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

from .method import Progress

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
            TextColumn("[progress.description]{task.description}"),
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
                task_id, description=fit_status(description, message, self.console.width)
            )

    def log(self, message: str) -> None:
        self.console.print(message, highlight=False, markup=False, soft_wrap=True)


class LoggedProgress(Progress):
    """``progress`` that also appends every log and status line, time-stamped, to ``path``.

    The file is opened on the first line and closed by :meth:`close`; a run that logs nothing
    leaves no file. Writing the log never stops a run: a failing write is given up quietly (the
    record itself is what must not be lost).
    """

    def __init__(self, progress: Progress, path: Path):
        self.inner = progress
        self.path = Path(path)
        self._stream: TextIO | None = None
        self._broken = False

    def _write(self, kind: str, message: str) -> None:
        if self._broken:
            return
        try:
            if self._stream is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._stream = self.path.open("w", encoding="utf-8")  # this attempt only
            stamp = _dt.datetime.now().strftime("%H:%M:%S")
            self._stream.write(f"{stamp} {kind} {message}\n")
            self._stream.flush()
        except OSError:
            self._broken = True

    def task(self, description: str, total: int | None = None):
        return self.inner.task(description, total)

    def log(self, message: str) -> None:
        self._write("log", message)
        self.inner.log(message)

    def status(self, message: str) -> None:
        self._write("   ", message)
        self.inner.status(message)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
