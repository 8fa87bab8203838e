"""Text from data, made safe to show on a terminal.

A record's ``run_name``, a data set's class names, a file name taken from a URL: all of it is
data, written by whoever made the file. Printed raw, an ESC/CSI/OSC sequence in it would move
the cursor, retitle the window or plant a hyperlink, and a ``[link=...]`` in it would be read as
rich markup. Everything that shows such text goes through this module:

* :func:`printable` replaces each control character (C0, DEL, C1, and the invisible
  bidirectional and line-separator marks that reorder or split what is shown) by a visible
  escape, ``\\x1b`` or ``\\u202e``, so the reader sees exactly which bytes are there;
* :func:`plain` gives a rich :class:`~rich.text.Text` of that, which rich never parses as
  markup (``[bold]`` stays the six characters it is).

Newlines are escaped too unless a caller asks to keep them (a multi-line message of our own):
a newline in a name would otherwise forge a line of output.
"""

from __future__ import annotations

import re
from typing import Any

#: Invisible format characters that reorder or break up what a terminal shows.
_BIDI_AND_SEPARATORS = "\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff"
_CONTROL = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI_AND_SEPARATORS}]")
_CONTROL_BUT_NEWLINE = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f{_BIDI_AND_SEPARATORS}]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: Any, keep_newlines: bool = False) -> str:
    """``str(value)`` with every control character shown as a visible ``\\xNN``/``\\uNNNN``."""
    pattern = _CONTROL_BUT_NEWLINE if keep_newlines else _CONTROL
    return pattern.sub(_escape, str(value))


def has_control(value: Any) -> bool:
    """True if ``str(value)`` holds a character :func:`printable` would escape."""
    return _CONTROL.search(str(value)) is not None


def plain(value: Any, style: str = "") -> Any:
    """A rich ``Text`` of :func:`printable` ``(value)``: shown as is, never read as markup."""
    from rich.text import Text

    return Text(printable(value), style=style)


def plain_lines(value: Any) -> Any:
    """Like :func:`plain`, but newlines are kept: a multi-line message of our own."""
    from rich.text import Text

    return Text(printable(value, keep_newlines=True))
