"""A data-set ``.toml`` file (a registry entry or a user's own) read into a checked DatasetSpec.

What a file may say, and why: ``loader`` names a registered layout loader (``loader = "cub"``;
see ``zshbench list loaders``), never a Python function, so a data file cannot make zshbench
run code; ``name`` follows the registry's name rule, because it becomes a folder under
``--results``; a relative ``default_root`` is taken relative to the file. Every key is checked
against the fields, so a typo is one line naming the file and the key.

This is core code: ``zshbench run --dataset my_birds.toml`` reads a user's file with it, and the
``datasets_registry`` plugin reads its shipped entries with it too.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path
from typing import Any

from ..download.tables import download_spec_from_mapping
from ..errors import DatasetError
from ..registry import NAME_RULE, DatasetSpec, valid_name
from .base import Protocol

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: The marker a ``named_splits`` entry uses for "the split the data set ships" (AWA2's
#: trainclasses.txt / testclasses.txt).
SHIPPED_SPLIT = ["standard"]
XLSA17_SPLIT = ["xlsa17"]  # read from the user's xlsa17 files (zshbench.datasets.xlsa17)

_REQUIRED = ("name", "title", "loader", "num_classes", "protocol")
_STRING_FIELDS = (
    "name",
    "title",
    "attributes",
    "layout",
    "obtain",
    "citation",
    "root_env",
    "default_split",
    "paper_family",
)
_PROTOCOL_REQUIRED = ("num_seen", "num_unseen", "train_per_seen_class", "query_per_unseen_class")
_RANDOM_SPLIT = re.compile(r"^random-\d+$")
_SEED_SUFFIX = re.compile(r"@\d+$")


def _fail(path: Path, key: str, problem: str, hint: str | None = None) -> DatasetError:
    return DatasetError(f"{path}: key '{key}' {problem}", hint or "Fix the data-set file.")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _protocol(path: Path, table: Any, num_classes: int) -> Protocol:
    if not isinstance(table, dict):
        raise _fail(path, "protocol", "must be a table ([protocol])")
    fields = {f.name for f in dataclasses.fields(Protocol)}
    for key in table:
        if key not in fields:
            raise _fail(
                path,
                f"protocol.{key}",
                "is not a protocol field",
                f"Known: {', '.join(sorted(fields))}.",
            )
    for key in _PROTOCOL_REQUIRED:
        if key not in table:
            raise _fail(path, f"protocol.{key}", "is missing")
    for key, value in table.items():
        if not _is_int(value) or value < 0:
            raise _fail(path, f"protocol.{key}", f"must be a whole number >= 0, not {value!r}")
    if table.get("validation_database_per_class", 1) < 1:
        raise _fail(
            path, "protocol.validation_database_per_class", "must be at least 1 (or left out)"
        )
    if table["num_seen"] < 1 or table["num_unseen"] < 1:
        raise _fail(path, "protocol.num_seen", "and num_unseen must both be at least 1")
    if table["num_seen"] + table["num_unseen"] != num_classes:
        raise _fail(
            path,
            "protocol.num_unseen",
            f"plus num_seen ({table['num_seen']} + {table['num_unseen']}) must equal "
            f"num_classes ({num_classes})",
        )
    if table.get("validation_classes", 0) >= table["num_seen"]:
        raise _fail(
            path,
            "protocol.validation_classes",
            "must be smaller than num_seen (some seen classes must remain for training)",
        )
    if table["train_per_seen_class"] < 1 or table["query_per_unseen_class"] < 1:
        raise _fail(
            path,
            "protocol.train_per_seen_class",
            "and query_per_unseen_class must both be at least 1",
        )
    return Protocol(**table)


def _named_splits(path: Path, table: Any, num_unseen: int) -> dict[str, list[str]]:
    if not isinstance(table, dict):
        raise _fail(path, "named_splits", "must be a table of name = [unseen class names]")
    splits: dict[str, list[str]] = {}
    for name, classes in table.items():
        key = f"named_splits.{name}"
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise _fail(path, key, "must be a list of class names")
        if classes in (SHIPPED_SPLIT, XLSA17_SPLIT):
            splits[name] = list(classes)
            continue
        if len(set(classes)) != len(classes):
            raise _fail(path, key, "lists a class twice")
        if len(classes) != num_unseen:
            raise _fail(
                path,
                key,
                f"lists {len(classes)} unseen classes, but protocol.num_unseen is {num_unseen}",
            )
        splits[name] = list(classes)
    return splits


def _valid_split_name(name: str, named_splits: dict[str, list[str]]) -> bool:
    """The split grammar of :mod:`zshbench.splits`: random-<seed>, <named>[@seed], file:<path>."""
    if _RANDOM_SPLIT.match(name) or name.startswith("file:"):
        return True
    return _SEED_SUFFIX.sub("", name) in named_splits


def _check_fields(data: dict[str, Any], path: Path) -> None:
    """Known keys only, the required ones present, each of its type."""
    fields = {f.name for f in dataclasses.fields(DatasetSpec)} - {"source_file"}
    for key in data:
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise _fail(path, key, "is not a data-set field", f"Known: {known}.")
    for key in _REQUIRED:
        if key not in data:
            raise _fail(path, key, "is missing")
    for key in _STRING_FIELDS:
        if key in data and not isinstance(data[key], str):
            raise _fail(path, key, f"must be a string, not {data[key]!r}")
    num_classes = data["num_classes"]
    if not _is_int(num_classes) or num_classes < 2:
        raise _fail(path, "num_classes", f"must be a whole number >= 2, not {num_classes!r}")
    if "embedded" in data and not isinstance(data["embedded"], bool):
        raise _fail(path, "embedded", "must be true or false")
    if not isinstance(data.get("loader_options", {}), dict):
        raise _fail(path, "loader_options", "must be a table")


def _check_names(data: dict[str, Any], path: Path) -> None:
    """The data set's name is a folder name; the loader is a registered name, never code."""
    if not valid_name(data["name"]):
        raise _fail(
            path,
            "name",
            f"is {data['name']!r}: it becomes a folder under --results",
            f"{NAME_RULE.rstrip('.')}, e.g. 'my-birds'.",
        )
    loader = data["loader"]
    if not isinstance(loader, str):
        raise _fail(path, "loader", "must be a string")
    if not valid_name(loader):
        raise _fail(
            path,
            "loader",
            f"is {loader!r}: a data-set file names a registered layout loader (e.g. 'cub'), "
            "never a Python function",
            "See 'zshbench list loaders'; a new layout is added by a plugin "
            "(hook zshbench_register_loaders).",
        )


def _default_root(data: dict[str, Any], path: Path) -> str | None:
    """``default_root`` as an absolute path (a relative one is relative to the file)."""
    default_root = data.get("default_root")
    if default_root is None:
        return None
    if not isinstance(default_root, str):
        raise _fail(path, "default_root", "must be a string (a folder path)")
    root = Path(default_root).expanduser()
    return str(root if root.is_absolute() else (path.parent / root))


def spec_from_mapping(data: dict[str, Any], path: Path) -> DatasetSpec:
    """A :class:`DatasetSpec` from parsed TOML, with every key checked against the fields."""
    _check_fields(data, path)
    _check_names(data, path)
    protocol = _protocol(path, data["protocol"], data["num_classes"])
    named_splits = _named_splits(path, data.get("named_splits", {}), protocol.num_unseen)
    default_split = data.get("default_split", "random-0")
    if not _valid_split_name(default_split, named_splits):
        raise _fail(
            path,
            "default_split",
            f"is {default_split!r}: name one of named_splits (optionally '<name>@<seed>'), "
            "'random-<seed>' or 'file:<path>'",
        )
    family = data.get("paper_family", "")
    if family and not valid_name(family):
        raise _fail(
            path, "paper_family", f"is {family!r}: name a published data set, e.g. 'cub' or 'awa2'"
        )
    download = data.get("download")
    values = {key: data[key] for key in data if key not in ("protocol", "named_splits")}
    values.update(
        download=None if download is None else download_spec_from_mapping(download, path),
        protocol=protocol,
        named_splits=named_splits,
        default_split=default_split,
        loader_options=dict(data.get("loader_options", {})),
        default_root=_default_root(data, path),
        source_file=str(path),
    )
    try:
        return DatasetSpec(**values)
    except TypeError as error:  # pragma: no cover - every field is checked above
        raise DatasetError(f"{path}: {error}", "Fix the data-set file.") from None


def spec_from_toml(path: str | Path) -> DatasetSpec:
    """Read one data-set TOML file (a registry entry or a user's own data set)."""
    path = Path(path).expanduser()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"data-set file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise DatasetError(f"{path} is not valid TOML ({error})", "Fix the data-set file.") from (
            None
        )
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"cannot read data-set file {path} ({error})") from None
    return spec_from_mapping(data, path)
