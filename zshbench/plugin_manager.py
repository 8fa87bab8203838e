"""Loading plugins from the ``zshbench`` entry-point group into registries.

First-party plugins (``plugins/``, ``datasets_registry``) come through the very same group as a
third party's. A plugin that fails to import, or whose hook raises, is recorded in
``Plugins.broken`` and skipped; it never breaks the CLI. Name collisions are errors that name
both sources.
"""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginError
from .registry import DatasetSpec, EncoderSpec, ExtractorSpec, MethodSpec, Registry, StudySpec

HOOKS = {
    "methods": ("zshbench_register_methods", MethodSpec),
    "datasets": ("zshbench_register_datasets", DatasetSpec),
    "encoders": ("zshbench_register_encoders", EncoderSpec),
    "extractors": ("zshbench_register_extractors", ExtractorSpec),
    "studies": ("zshbench_register_studies", StudySpec),
}


@dataclass
class BrokenPlugin:
    name: str
    source: str
    error: str


@dataclass
class Plugins:
    """Everything the installed plugins registered."""

    methods: Registry[MethodSpec] = field(default_factory=lambda: Registry("method"))
    datasets: Registry[DatasetSpec] = field(default_factory=lambda: Registry("data set"))
    encoders: Registry[EncoderSpec] = field(default_factory=lambda: Registry("encoder"))
    extractors: Registry[ExtractorSpec] = field(default_factory=lambda: Registry("extractor"))
    studies: Registry[StudySpec] = field(default_factory=lambda: Registry("study"))
    broken: list[BrokenPlugin] = field(default_factory=list)

    def registry(self, kind: str) -> Registry:
        return getattr(self, kind)


def _describe(entry_point: importlib.metadata.EntryPoint) -> str:
    dist = entry_point.dist
    if dist is None:
        return f"entry point {entry_point.name!r}"
    return f"{dist.metadata['Name']} {dist.version} (entry point {entry_point.name!r})"


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def collect(modules: Iterable[tuple[str, str, Any]]) -> Plugins:
    """Register (name, source, plugin object) triples; broken ones are recorded, not raised.

    A name collision is not a broken plugin but a configuration error: it raises.
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    plugins = Plugins()
    for name, source, module in modules:
        try:
            manager.register(module, name=name)
        except Exception as error:  # noqa: BLE001 - any plugin failure is reported, not raised
            plugins.broken.append(BrokenPlugin(name, source, _first_line(error)))
            continue
        for kind, (hook_name, spec_type) in HOOKS.items():
            hook = getattr(module, hook_name, None)
            if hook is None:
                continue
            try:
                specs = list(hook() or [])
                for spec in specs:
                    if not isinstance(spec, spec_type):
                        raise TypeError(f"{hook_name} returned {type(spec).__name__}")
            except Exception as error:  # noqa: BLE001
                plugins.broken.append(BrokenPlugin(name, source, _first_line(error)))
                continue
            for spec in specs:
                plugins.registry(kind).add(spec, source)
    return plugins


def _entry_point_modules() -> Iterable[tuple[str, str, Any]]:
    for entry_point in sorted(
        importlib.metadata.entry_points(group=hookspecs.PROJECT), key=lambda e: e.name
    ):
        source = _describe(entry_point)
        try:
            module = entry_point.load()
        except Exception as error:  # noqa: BLE001 - a broken plugin must not break the CLI
            yield entry_point.name, source, _BrokenMarker(_first_line(error))
            continue
        yield entry_point.name, source, module


class _BrokenMarker:
    """Stands in for a plugin whose import failed, so ``collect`` records it in order."""

    def __init__(self, error: str):
        self.error = error


@functools.lru_cache(maxsize=1)
def load_plugins() -> Plugins:
    """All plugins installed in this environment (cached for the process)."""
    good = []
    broken = []
    for name, source, module in _entry_point_modules():
        if isinstance(module, _BrokenMarker):
            broken.append(BrokenPlugin(name, source, module.error))
        else:
            good.append((name, source, module))
    plugins = collect(good)
    plugins.broken[:0] = broken
    return plugins


def reset_cache() -> None:
    """Forget loaded plugins (tests install plugins at run time)."""
    load_plugins.cache_clear()
    importlib.invalidate_caches()


__all__ = ["BrokenPlugin", "Plugins", "PluginError", "collect", "load_plugins", "reset_cache"]
