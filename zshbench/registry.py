"""Registries of named things (methods, data sets, layout loaders, encoders, extractors, ...).

Names are unique, lowercase and hyphenated (``razh-c``). A spec holds a lazy ``"module:object"``
reference that is imported only when the thing is used (:meth:`Registry.load`); an import that
fails there is one line naming the plugin that registered it. Two plugins registering one name
make that name unusable (using it is an error naming both) while every other name still works.

This module imports nothing else from zshbench but its errors, so every other module may use it
(the base class a loaded target must subclass is passed in by the caller).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .errors import PluginError, ZshbenchError

if TYPE_CHECKING:  # an annotation only: this module must not import the data-set package
    from .datasets.base import Protocol

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*$")
NAME_RULE = "Names are lowercase letters, digits and hyphens (e.g. 'razh-c')."
MAX_NAME_LENGTH = 100


def valid_name(name: object) -> bool:
    """True for a registrable name: lowercase letters, digits and hyphens, not too long."""
    return isinstance(name, str) and len(name) <= MAX_NAME_LENGTH and bool(NAME_PATTERN.match(name))


def resolve_target(target: Any) -> Any:
    """Import ``"package.module:attribute"`` (or return ``target`` if it is already an object).

    Any failure of the import (a missing module, an attribute that is not there, an error or
    ``sys.exit`` while the module runs) is a :class:`PluginError` with the first line of the cause.
    """
    if not isinstance(target, str):
        return target
    module_name, _, attribute = target.partition(":")
    if not attribute or not module_name:
        raise PluginError(f"bad reference {target!r}", "Write it as 'package.module:object'.")
    try:
        obj = importlib.import_module(module_name)
        for part in attribute.split("."):
            obj = getattr(obj, part)
    except (Exception, SystemExit) as error:  # noqa: BLE001 - plugin code may fail any way
        raise PluginError(f"cannot import {target!r} ({first_line(error)})") from None
    return obj


def first_line(error: BaseException) -> str:
    """``"Type: first line of the message"`` (tracebacks and multi-line messages cut)."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


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
    # "module:ATTR" of the method's option declarations in a module light to import (no
    # torch): run checks -o values against them before it imports the method (preflight).
    options: str | None = None

    def load(self) -> Any:
        return resolve_target(self.target)


@dataclass(frozen=True)
class EncoderSpec:
    """An attribute-text encoder: ``target`` is a :class:`zshbench.encoders.TextEncoder`."""

    name: str
    target: Any
    summary: str = ""

    def load(self) -> Any:
        return resolve_target(self.target)


@dataclass(frozen=True)
class ExtractorSpec:
    """An image feature extractor: ``target`` is a ``FeatureExtractor`` subclass."""

    name: str
    target: Any
    summary: str = ""

    def load(self) -> Any:
        return resolve_target(self.target)


@dataclass(frozen=True)
class LoaderSpec:
    """A data-set layout loader: ``target`` is a function ``(root, **options) -> ImageSet``.

    Data-set entries (``datasets_registry/*.toml`` and a user's own ``.toml``) name a loader by
    this registered name; a data file can never name a Python function itself.
    """

    name: str
    target: Any
    summary: str = ""

    def load(self) -> Any:
        return resolve_target(self.target)


@dataclass(frozen=True)
class DatasetSpec:
    """A declarative data set entry (see ``datasets_registry/*.toml``).

    ``loader`` is the name of a registered layout loader (``"cub"``; see :class:`LoaderSpec`),
    called as ``loader(root, **loader_options)``. ``named_splits`` maps a split name to its
    list of unseen class names (``"standard"`` for the split the data set ships).
    ``paper_family`` names the published data set whose tuned settings (e.g. a paper's loss
    weights) methods use for this one; left empty, methods may still infer it from ``name``
    and must say so. ``download`` is its ``[download]`` table (a
    :class:`zshbench.download.DownloadSpec`), or None.
    """

    name: str
    title: str
    loader: str
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
    # The published data set whose tuned method settings this one follows (e.g. a user's 100-class
    # CUB subset says "cub" to take the paper's CUB hyperparameters); "" for none.
    paper_family: str = ""
    named_splits: dict[str, list[str]] = field(default_factory=dict)
    loader_options: dict[str, Any] = field(default_factory=dict)
    download: Any = None
    source_file: str = ""


@dataclass(frozen=True)
class StudySpec:
    """A grid of runs that reproduces a table of a paper (``zshbench study NAME``).

    ``rows`` are ``(label, method, options)``: each row is a ``zshbench run`` of ``method`` with
    ``options`` (so its records are the ones that command writes, and a finished row is reused).
    ``reference`` is a ``"package:file.csv"`` resource with the paper's values: columns
    ``label_column``, ``dataset``, ``bits`` and ``map_at_5000_percent``; a data set named
    ``<name>-...`` (e.g. ``cub-mini64``) is shown beside the paper's ``<name>`` rows.
    """

    name: str
    title: str
    rows: tuple[tuple[str, str, dict[str, Any]], ...]
    bits: tuple[int, ...] = (24, 64)
    reference: str = ""
    label_column: str = "method"
    summary: str = ""


@dataclass(frozen=True)
class PretrainerSpec:
    """A backbone pre-training (``zshbench pretrain --pretrainer NAME``): ``target`` is a function
    ``(PretrainRequest, Progress) -> dict`` that trains and writes the weights files."""

    name: str
    target: Any
    summary: str = ""

    def load(self) -> Any:
        return resolve_target(self.target)


@dataclass(frozen=True)
class ReferenceFiguresSpec:
    """Published figures for data sets, shown beside measured ones (``zshbench report --paper``).

    ``figures`` is a ``"package:file.csv"`` resource the plugin ships, one figure a row, with the
    columns ``dataset``, ``method``, ``bits`` and ``value_column`` (the value in percent).
    ``metric`` is the record metric the values are (``"map@5000"``), so they are shown only
    beside leaderboards of that metric; ``split`` says, in words, which split protocol they
    were measured on; ``citation`` says where they are published.
    """

    name: str
    title: str
    figures: str
    citation: str = ""
    metric: str = "map@5000"
    value_column: str = "value"
    split: str = ""


T = TypeVar("T")


class Registry(Generic[T]):
    """Name → (spec, source) with name checks; a collision disables only the colliding name."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, tuple[T, str]] = {}
        self._collisions: dict[str, list[str]] = {}

    def check_name(self, spec: T, source: str) -> None:
        """Raise :class:`PluginError` unless ``spec`` has a valid name (see :data:`NAME_RULE`)."""
        name = getattr(spec, "name", None)
        if not valid_name(name):
            raise PluginError(f"{source} registers a {self.kind} named {name!r}", NAME_RULE)

    def add(self, spec: T, source: str) -> None:
        """Register ``spec``; a name already taken becomes a collision (see :meth:`get`)."""
        self.check_name(spec, source)
        name = spec.name  # type: ignore[attr-defined]
        if name in self._collisions:
            self._collisions[name].append(source)
        elif name in self._entries:
            self._collisions[name] = [self._entries.pop(name)[1], source]
        else:
            self._entries[name] = (spec, source)

    def collisions(self) -> dict[str, list[str]]:
        """Names registered more than once → the sources that registered them."""
        return {name: list(sources) for name, sources in self._collisions.items()}

    def get(self, name: str) -> T:
        if name in self._collisions:
            sources = self._collisions[name]
            raise PluginError(
                f"{self.kind} {name!r} is registered twice: by {' and by '.join(sources)}",
                "Uninstall or rename one of them.",
            )
        try:
            return self._entries[name][0]
        except KeyError:
            from .suggest import did_you_mean

            known = ", ".join(self.names()) or "none"
            raise ZshbenchError(
                f"unknown {self.kind} {name!r}",
                f"{did_you_mean(name, self.names())}Known: {known}. See 'zshbench list'.",
            ) from None

    def load(self, name: str, base: type | None = None) -> Any:
        """The object ``name`` refers to, imported now; it must subclass ``base`` if given.

        A failing import or a wrong type is one :class:`PluginError` naming the plugin.
        """
        spec = self.get(name)
        source = self.source(name)
        try:
            obj = resolve_target(spec.target)  # type: ignore[attr-defined]
        except PluginError as error:
            raise PluginError(
                f"{self.kind} {name!r} from {source}: {error.message}",
                "Reinstall or uninstall that plugin.",
            ) from None
        if base is not None and not (isinstance(obj, type) and issubclass(obj, base)):
            raise PluginError(
                f"{self.kind} {name!r} from {source} points at "
                f"{spec.target!r}, which is not a {base.__name__}",  # type: ignore[attr-defined]
                f"Subclass {base.__module__}.{base.__name__}.",
            )
        return obj

    def source(self, name: str) -> str:
        return self._entries[name][1]

    def names(self) -> list[str]:
        """Usable names (colliding ones excluded), sorted."""
        return sorted(self._entries)

    def items(self) -> Iterator[tuple[str, T, str]]:
        for name in self.names():
            spec, source = self._entries[name]
            yield name, spec, source

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._collisions

    def __len__(self) -> int:
        return len(self._entries)
