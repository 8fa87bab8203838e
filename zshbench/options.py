"""Keyword options of pluggable parts (methods, extractors, encoders): declared once, checked once.

A part declares its options in ``default_options``, a dict from name to either a plain default
or an :class:`Option`. A plain default implies the type: ``int`` → a whole number, ``float`` →
a number, ``bool`` → true/false, ``str`` → text, ``dict`` → a JSON object, ``list`` → a JSON
list, ``None`` → any JSON value. An ``Option`` adds a range, choices or a help line::

    default_options = {
        "iterations": Option(50, minimum=0, help="alternations of the B and R steps"),
        "gamma": Option(20.0, exclusive_minimum=0.0, help="a scale the loss divides by"),
        "pca_dims": Option(None, kind="integer", minimum=1),   # None allowed: the default
        "pool": Option("mean", choices=("mean", "cls")),
        "lr": 1e-3,                                            # a plain default: any number
    }

:func:`check_options` merges a user's values over the defaults, refuses unknown names, checks
every value against its declaration and coerces it (``2.0`` → ``2`` for a whole number, ``1`` →
``1.0`` for a number, ``"true"`` → ``True``), so the part reads plain, valid values from
``self.options`` and the record stores exactly what ran. A value that does not fit is a
one-line :class:`~zshbench.errors.ZshbenchError` naming the option, the expected type and the
value: never a traceback halfway through training, and never a silently truncated value.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ZshbenchError

KINDS = ("integer", "number", "boolean", "string", "object", "array", "any")
_INTEGER_TEXT = re.compile(r"^[+-]?\d+$")
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


@dataclass(frozen=True)
class Option:
    """One declared option: its default, type (``kind``), range, choices and a help line.

    ``kind`` defaults to the type the default implies (see the module docstring). ``None`` is
    an accepted value when the default is None (e.g. "not set: use the scale's value") or when
    ``nullable=True``. ``minimum``/``maximum`` are inclusive bounds of a number;
    ``exclusive_minimum`` a strict one (a scale or weight that is divided by must be > 0).
    """

    default: Any = None
    kind: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    choices: tuple[Any, ...] | None = None
    help: str = ""
    nullable: bool | None = None

    def __post_init__(self) -> None:
        if self.kind is None:
            object.__setattr__(self, "kind", kind_of(self.default))
        if self.kind not in KINDS:
            raise ValueError(f"Option kind must be one of {KINDS}, not {self.kind!r}")
        if self.minimum is not None and self.exclusive_minimum is not None:
            raise ValueError("an Option takes minimum or exclusive_minimum, not both")
        if self.nullable is None:
            object.__setattr__(self, "nullable", self.default is None)
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))

    def describe(self) -> str:
        """What a valid value is, in words (``zshbench info`` and error messages)."""
        if self.choices is not None:
            text = "one of " + ", ".join(json.dumps(c) for c in self.choices)
        else:
            text = {
                "integer": "a whole number",
                "number": "a number",
                "boolean": "true or false",
                "string": "text",
                "object": 'a JSON object (e.g. {"key": 1})',
                "array": "a JSON list (e.g. [1, 2])",
                "any": "any JSON value",
            }[self.kind]
            text += _range_text(self.minimum, self.maximum, self.exclusive_minimum)
        return text + (" or null" if self.nullable and self.kind != "any" else "")


def kind_of(default: Any) -> str:
    """The kind a plain default implies (bool before int: ``True`` is an ``int`` in Python)."""
    if isinstance(default, bool):
        return "boolean"
    if isinstance(default, int):
        return "integer"
    if isinstance(default, float):
        return "number"
    if isinstance(default, str):
        return "string"
    if isinstance(default, Mapping):
        return "object"
    if isinstance(default, (list, tuple)):
        return "array"
    return "any"


def _range_text(minimum: float | None, maximum: float | None, above: float | None) -> str:
    if above is not None and maximum is not None:
        return f" in ({_number(above)}, {_number(maximum)}]"
    if above is not None:
        return f" > {_number(above)}"
    if minimum is not None and maximum is not None:
        return f" in [{_number(minimum)}, {_number(maximum)}]"
    if minimum is not None:
        return f" ≥ {_number(minimum)}"
    if maximum is not None:
        return f" ≤ {_number(maximum)}"
    return ""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def declared(defaults: Mapping[str, Any]) -> dict[str, Option]:
    """``default_options`` with every plain default turned into its :class:`Option`."""
    return {
        key: value if isinstance(value, Option) else Option(value)
        for key, value in defaults.items()
    }


def plain_defaults(defaults: Mapping[str, Any]) -> dict[str, Any]:
    """``default_options`` as plain default values (what ``self.options`` holds untouched)."""
    return {key: option.default for key, option in declared(defaults).items()}


class _Invalid(Exception):
    """A value that does not fit its declaration (turned into one ZshbenchError per option)."""


def _coerce(option: Option, value: Any) -> Any:
    if value is None:
        if option.nullable or option.kind == "any":
            return None
        raise _Invalid
    kind = option.kind
    if kind == "integer":
        value = _integer(value)
    elif kind == "number":
        value = _float(value)
    elif kind == "boolean":
        value = _boolean(value)
    elif kind == "string":
        if not isinstance(value, str):
            raise _Invalid
    elif kind == "object":
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise _Invalid
        value = dict(value)
        _json_value(value)
    elif kind == "array":
        if not isinstance(value, (list, tuple)):
            raise _Invalid
        value = list(value)
        _json_value(value)
    else:
        _json_value(value)
    if kind in ("integer", "number"):
        if option.minimum is not None and value < option.minimum:
            raise _Invalid
        if option.exclusive_minimum is not None and value <= option.exclusive_minimum:
            raise _Invalid
        if option.maximum is not None and value > option.maximum:
            raise _Invalid
    if option.choices is not None and value not in option.choices:
        raise _Invalid
    return value


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise _Invalid
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER_TEXT.match(value.strip()):
        return int(value.strip())
    raise _Invalid


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise _Invalid
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise _Invalid from None
    else:
        raise _Invalid
    if not math.isfinite(number):
        raise _Invalid
    return number


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise _Invalid


def _json_value(value: Any) -> None:
    """A value the results record can hold: JSON, with no NaN or infinity."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise _Invalid from None


def check_value(owner: str, key: str, option: Option, value: Any) -> Any:
    """``value`` checked against ``option`` and coerced, or a one-line error naming both."""
    try:
        return _coerce(option, value)
    except (_Invalid, OverflowError):
        shown = json.dumps(value) if _is_json(value) else repr(value)
        hint = f"{key}: {option.help}." if option.help else ""
        if option.kind == "string" and not isinstance(value, str) and value is not None:
            hint += f" Quote text that looks like a number: -o '{key}=\"{value}\"'."
        raise ZshbenchError(
            f"{owner} option {key} must be {option.describe()}, not {shown}",
            (hint + f" Default: {json.dumps(option.default, default=str)}.").strip(),
        ) from None


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def check_options(
    owner: str, defaults: Mapping[str, Any], given: Mapping[str, Any]
) -> dict[str, Any]:
    """``defaults`` updated with ``given``, every value checked and coerced.

    An unknown key raises naming ``owner`` and listing the real options; a value that does not
    fit its declaration raises naming the option, the expected type and the value.
    """
    options = declared(defaults)
    unknown = set(given) - set(options)
    if unknown:
        from .suggest import did_you_mean

        guess = "".join(did_you_mean(key, options) for key in sorted(unknown))
        raise ZshbenchError(
            f"{owner} has no option {', '.join(sorted(unknown))}",
            f"{guess}Its options are: {', '.join(sorted(options)) or 'none'}.",
        )
    return {
        key: check_value(owner, key, option, given.get(key, option.default))
        for key, option in options.items()
    }


def parse_pairs(pairs: tuple[str, ...], flag: str) -> dict[str, Any]:
    """``key=value`` command-line pairs (``-o``): values are JSON when they parse as JSON, else
    strings; dashes in keys become underscores."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ZshbenchError(f"bad {flag} {pair!r}", f"Write {flag} key=value.")
        try:
            options[key.replace("-", "_")] = json.loads(value)
        except ValueError:
            options[key.replace("-", "_")] = value
    return options


# Earlier name of check_options, kept so code written against it keeps working.
merge_options = check_options


def describe_options(defaults: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """(name, what a valid value is, default as JSON, help) per option, for ``zshbench info``."""
    return [
        (key, option.describe(), json.dumps(option.default, default=str), option.help)
        for key, option in declared(defaults).items()
    ]
