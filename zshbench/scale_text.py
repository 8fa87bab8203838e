"""``zshbench info``'s lines for the options a method's scale fills in (where ``null`` shows).

A method may describe, per scale, the value each option takes when left at its declared
default (a deep method: :mod:`plugins.deep.scale_info`); this module only lays that out, one
line per option, so the core never needs to know what a scale is.
"""

from __future__ import annotations

import json
from typing import Any


def scale_lines(table: dict[str, dict[str, str]], defaults: dict[str, Any]) -> list[str]:
    """``key: cpu <text> · paper <text>`` for each declared option a scale sets to something
    other than its declared default (null, mostly), or ``key: <text> (every scale)``; in the
    options' declared order."""
    from .options import plain_defaults

    lines = []
    for key, default in plain_defaults(defaults).items():
        declared = json.dumps(default, default=str)
        texts = [(scale, values[key]) for scale, values in table.items() if key in values]
        if not texts or all(text == declared for _, text in texts):
            continue
        if len(texts) == len(table) > 1 and len({text for _, text in texts}) == 1:
            lines.append(f"{key}: {texts[0][1]} (every scale)")
        else:
            lines.append(f"{key}: " + " · ".join(f"{scale} {text}" for scale, text in texts))
    return lines
