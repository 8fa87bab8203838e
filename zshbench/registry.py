"""Registries of named things (methods, data sets, encoders, extractors) and their specs.

Names are unique, lowercase and hyphenated (``razh-c``). A spec holds a lazy ``"module:object"``
reference that is imported only when the thing is used. Registering a name twice is an error
naming both sources.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .datasets.base import Protocol
from .errors import PluginError, ZshbenchError

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def resolve_target(target: Any) -> Any:
    """Import ``"package.module:attribute"`` (or return ``target`` if it is already an object)."""
    if not isinstance(target, str):
        return target
    module_name, _, attribute = target.partition(":")
    if not attribute:
        raise PluginError(f"bad reference {target!r}", "Write it as 'package.module:object'.")
    module = importlib.import_module(module_name)
    obj = module
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class MethodSpec:
    """A hashing method: ``target`` is a :class:`zshbench.method.HashingMethod` subclass.

    ``family`` groups methods for sweeps and reports ("linear", "deep", ...); ``citation`` names
    the paper the method implements; ``zero_shot`` marks methods designed for zero-shot hashing
    (as opposed to supervised or unsupervised hashing run under the zero-shot protocol).
    """

    name: str
    target: Any
    summary: str = ""
    family: str = "other"  # e.g. "linear", "deep"
    citation: str = ""  # the paper the method implements: authors, title, venue, year
    zero_shot: bool = False  # designed for zero-shot hashing (uses seen/unseen transfer)

    def load(self) -> type:
        from .method import HashingMethod

        cls = resolve_target(self.target)
        if not (isinstance(cls, type) and issubclass(cls, HashingMethod)):
            raise PluginError(
                f"method {self.name!r} points at {self.target!r}, which is not a HashingMethod",
                "Subclass zshbench.method.HashingMethod.",
            )
        return cls


@dataclass(frozen=True)
class EncoderSpec:
    """An attribute-text encoder: ``target`` builds an object with ``encode(texts)``."""

    name: str
    target: Any
    summary: str = ""

    def load(self) -> type:
        return resolve_target(self.target)


@dataclass(frozen=True)
class ExtractorSpec:
    """An image feature extractor: ``target`` is a ``FeatureExtractor`` subclass."""

    name: str
    target: Any
    summary: str = ""

    def load(self) -> type:
        return resolve_target(self.target)


@dataclass(frozen=True)
class DatasetSpec:
    """A declarative data set entry (see ``datasets_registry/*.toml``).

    ``loader`` is ``"module:function"``; the function takes ``(root: Path, **loader_options)``
    and returns an :class:`~zshbench.datasets.base.ImageSet`. ``named_splits`` maps a split name
    to its list of unseen class names (``"standard"`` for the split the data set ships).
    """

    name: str
    title: str
    loader: Any
    protocol: Protocol
    num_classes: int
    attributes: str = ""
    layout: str = ""
    obtain: str = ""
    citation: str = ""
    root_env: str = ""
    default_root: str | None = None
    embedded: bool = False
    default_split: str = "random-0"
    named_splits: dict[str, list[str]] = field(default_factory=dict)
    loader_options: dict[str, Any] = field(default_factory=dict)
    source_file: str = ""

    def load_loader(self):
        return resolve_target(self.loader)


T = TypeVar("T")


class Registry(Generic[T]):
    """Name → (spec, source) with collision and name checks."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, tuple[T, str]] = {}

    def add(self, spec: T, source: str) -> None:
        name = getattr(spec, "name", None)
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise PluginError(
                f"{source} registers a {self.kind} named {name!r}",
                "Names are lowercase letters, digits and hyphens (e.g. 'razh-c').",
            )
        if name in self._entries:
            other = self._entries[name][1]
            raise PluginError(
                f"{self.kind} {name!r} is registered twice: by {other} and by {source}",
                "Uninstall or rename one of them.",
            )
        self._entries[name] = (spec, source)

    def get(self, name: str) -> T:
        try:
            return self._entries[name][0]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise ZshbenchError(
                f"unknown {self.kind} {name!r}",
                f"Known: {known}. See 'zshbench list'.",
            ) from None

    def source(self, name: str) -> str:
        return self._entries[name][1]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def items(self) -> Iterator[tuple[str, T, str]]:
        for name in self.names():
            spec, source = self._entries[name]
            yield name, spec, source

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)
