"""Readable run names for tables and plots: ``razh[losses=cls+h]`` instead of ``razh@761b69ed``.

A run left unnamed is stored as ``method@<hash of its options>`` (``runner.default_run_name``):
unique, but it tells a reader nothing. Where runs are *shown*, a hashed name becomes the method
and what its options vary among that method's runs (the plain ``method`` run, if present,
counts with no options), e.g. a study's rows ``razh[losses=cls]``, ``razh[losses=cls+h]``. A run
whose options vary in nothing against its siblings (the only variant) shows all its options.
Stored names, file paths and records are untouched; a name chosen with ``--name`` is kept, and
so is a hash wherever the readable name would collide with another run's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import PurePath
from typing import Any

import pandas as pd

#: ``method@`` and the first 8 hex digits of the options' SHA-256 (runner.default_run_name).
HASHED = re.compile(r"^(?P<method>.+)@[0-9a-f]{8}$")

_ABSENT = object()


def _shown(value: Any) -> str:
    """An option value as it reads on a command line: strings bare, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _shown_short(value: Any) -> str:
    """``_shown``, but a file path by its file name: ``weights=vit-mae.safetensors`` names the
    run; ``/home/.../pretrained/`` only pushes the method off a table column or a legend."""
    if isinstance(value, str) and "/" in value and PurePath(value).name:
        return PurePath(value).name
    return _shown(value)


def _options(text: str) -> dict[str, Any] | None:
    try:
        options = json.loads(text)
    except (TypeError, ValueError):
        return None
    return options if isinstance(options, dict) else None


def readable_names(runs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """{stored run name: shown name} from (run name, options as JSON) pairs; a name that is not
    a hashed default (or whose options cannot be read) maps to itself."""
    pairs = set(runs)
    names = {name: name for name, _ in pairs}
    variants: dict[str, dict[str, dict[str, Any]]] = {}
    for name, text in pairs:
        match, options = HASHED.match(name), _options(text)
        if match and options:
            variants.setdefault(match["method"], {})[name] = options
    for method, runs_of in variants.items():
        members = list(runs_of.values()) + ([{}] if method in names else [])
        keys = sorted(set().union(*runs_of.values()))
        varying = [
            key
            for key in keys
            if len({_shown(m.get(key)) if key in m else _ABSENT for m in members}) > 1
        ]
        for name, options in runs_of.items():
            shown = [k for k in (varying or keys) if k in options]
            parts = [f"{k}={_shown_short(options[k])}" for k in shown]
            if not parts:  # it leaves every varying option at its default: say so, briefly
                parts = [f"{k}=default" for k in varying]
            names[name] = f"{method}[{','.join(parts)}]"
    taken: dict[str, list[str]] = {}
    for name, shown in names.items():
        taken.setdefault(shown, []).append(name)
    return {name: shown if len(taken[shown]) == 1 else name for name, shown in names.items()}


def with_readable_names(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (report.records_frame's columns) with its ``method`` column shown readably."""
    if frame.empty:
        return frame
    mapping = readable_names(zip(frame["method"], frame["options"], strict=True))
    return frame.assign(method=frame["method"].map(mapping))


def names_every_option(shown: str, options_json: str) -> bool:
    """Whether a shown name lists every option of its run (else a table's legend should)."""
    options = _options(options_json) or {}
    inside = shown[shown.find("[") + 1 : -1] if shown.endswith("]") and "[" in shown else ""
    listed = {part.split("=", 1)[0] for part in inside.split(",") if "=" in part}
    return set(options) <= listed
