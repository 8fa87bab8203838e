"""Progress bars for long work (training, encoding), backed by rich.

Methods only see :class:`zshbench.method.Progress`; the CLI hands them this rich-backed one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

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


class RichProgress(Progress):
    """Nested rich progress bars; a finished task's bar disappears, its log line stays."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.bar = RichBar(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )

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
        try:
            yield lambda steps=1: self.bar.advance(task_id, steps)
        finally:
            self.bar.remove_task(task_id)

    def log(self, message: str) -> None:
        self.console.print(message, highlight=False, markup=False, soft_wrap=True)
