"""Tables a command prints: boxed for a person at a terminal, plain lines when piped.

Piped output goes to grep, a file or a script. A rich table there is cut to 80 columns or, at
a forced width, padded to it; so a pipe gets one line per row, columns separated by a tab, no
cell wrapped, cut or padded. ``--json`` (where a command has it) is for programs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from .safetext import printable

#: Wide enough that rich never wraps a leaderboard cell when the output is piped.
PIPED_WIDTH = 4000


def interactive() -> bool:
    return sys.stdout.isatty()


def console() -> Any:
    """A rich Console: the terminal's width at a terminal, never wrapping when piped."""
    from rich.console import Console

    return Console() if interactive() else Console(width=PIPED_WIDTH)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A boxed rich table at a terminal; else a title line and tab-separated lines."""
    if not interactive():
        print(title)
        for line in [columns, *rows]:
            print("\t".join(" ".join(printable(cell).split()) for cell in line))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        # a cell's text is never markup, and its control characters are shown escaped
        table.add_row(*[Text(printable(cell)) for cell in row])
    Console().print(table)


def listing(plugins: Any, kind: str) -> tuple[list[str], list[list[str]]]:
    """The columns and rows ``zshbench list KIND`` shows."""
    methods = kind == "methods"
    columns = ["name", "family", "summary", "citation", "from"] if methods else None
    rows = []
    for entry, spec, source in plugins.registry(kind).items():
        summary = getattr(spec, "summary", "") or getattr(spec, "title", "")
        if methods:
            family = spec.family + (", zero-shot" if getattr(spec, "zero_shot", False) else "")
            rows.append([entry, family, summary, getattr(spec, "citation", "") or "", source])
        else:
            rows.append([entry, summary, source])
    return columns or ["name", "summary", "from"], rows
