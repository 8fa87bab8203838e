"""Text from data as a LaTeX or markdown table cell that renders to exactly that text.

``report --format latex`` and ``--format markdown`` put run names, data set names and split ids
(all data) into a document someone will compile or render. Written verbatim, a run name
``\\input{/etc/passwd}`` is live TeX, a ``|`` forges a markdown cell and a newline a whole row.
Each text cell and caption goes through one of these functions first; control characters
become visible escapes (:func:`zshbench.safetext.printable`) before any of it.
"""

from __future__ import annotations

from typing import Any

from .safetext import printable

#: Each character LaTeX (with the default OT1/T1 fonts) would not print as itself, and a
#: sequence that prints it. ``-`` is split so ``--``/``---`` never become dashes, and ``[``/``]``
#: are braced so a cell starting with ``[`` is never the optional argument of a row's ``\\``.
LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "_": r"\_",
    "%": r"\%",
    "^": r"\textasciicircum{}",
    "~": r"\textasciitilde{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    '"': r"\textquotedbl{}",
    "'": r"\textquotesingle{}",
    "`": r"\textasciigrave{}",
    "-": "-{}",
    "[": "{[}",
    "]": "{]}",
}
_LATEX_TABLE = str.maketrans(LATEX_SPECIALS)

#: The characters that can start markup inside a table cell or heading: escapes, code,
#: emphasis, links and images (``[`` ``]``), HTML and autolinks (``<`` ``>``), entities
#: (``&``), cell edges (``|``), strikethrough (``~``), math (``$``, GitHub) and a heading's
#: closing ``#``. CommonMark makes each literal with a backslash; the rest of ASCII needs none
#: in a cell (list and heading markers only act at the start of a line, and a cell is never
#: that), so names stay readable in the source.
_MARKDOWN_PUNCTUATION = "\\`*_[]<>&|~$#"
_MARKDOWN_TABLE = str.maketrans({c: "\\" + c for c in _MARKDOWN_PUNCTUATION})


def latex_text(value: Any) -> str:
    """``value`` as LaTeX source that typesets as its text (control characters escaped)."""
    return printable(value).translate(_LATEX_TABLE)


def markdown_text(value: Any) -> str:
    """``value`` as a markdown (GFM table) cell that renders as its text."""
    return printable(value).translate(_MARKDOWN_TABLE)
