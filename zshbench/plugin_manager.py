"""Loading plugins from the ``zshbench`` entry-point group into registries.

First-party plugins (``plugins/``, ``datasets_registry``) come through the very same group as a
third party's. Plugins are isolated from each other: one that fails to import (an exception or
``sys.exit`` at import), whose hook raises, or that registers something invalid (a bad name, a
wrong type) is recorded in ``Plugins.broken`` and skipped whole, so every command still works
with the others and warns once naming the distribution. Two plugins registering one name make
only that name unusable (using it is an error naming both).
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
from .registry import (
    DatasetSpec,
    EncoderSpec,
    ExtractorSpec,
    LoaderSpec,
    MethodSpec,
    Registry,
    StudySpec,
    first_line,
)

HOOKS = {
    "methods": ("zshbench_register_methods", MethodSpec),
    "datasets": ("zshbench_register_datasets", DatasetSpec),
    "loaders": ("zshbench_register_loaders", LoaderSpec),
    "encoders": ("zshbench_register_encoders", EncoderSpec),
    "extractors": ("zshbench_register_extractors", ExtractorSpec),
    "studies": ("zshbench_register_studies", StudySpec),
}


@dataclass
class BrokenPlugin:
    name: str
    source: str
    error: str

    def warning(self) -> str:
        """The one line every command prints about this plugin."""
        return (
            f"plugin {self.name!r} from {self.source} failed to load and was skipped: {self.error}"
        )


@dataclass
class Plugins:
    """Everything the installed plugins registered."""

    methods: Registry[MethodSpec] = field(default_factory=lambda: Registry("method"))
    datasets: Registry[DatasetSpec] = field(default_factory=lambda: Registry("data set"))
    loaders: Registry[LoaderSpec] = field(default_factory=lambda: Registry("loader"))
    encoders: Registry[EncoderSpec] = field(default_factory=lambda: Registry("encoder"))
    extractors: Registry[ExtractorSpec] = field(default_factory=lambda: Registry("extractor"))
    studies: Registry[StudySpec] = field(default_factory=lambda: Registry("study"))
    broken: list[BrokenPlugin] = field(default_factory=list)

    def registry(self, kind: str) -> Registry:
        return getattr(self, kind)

    def warnings(self) -> list[str]:
        """One line per broken plugin and per name two plugins registered."""
        lines = [broken.warning() for broken in self.broken]
        for kind in HOOKS:
            registry = self.registry(kind)
            for name, sources in registry.collisions().items():
                lines.append(
                    f"{registry.kind} {name!r} is registered by {' and by '.join(sources)}; "
                    "it cannot be used until one of them is uninstalled or renamed"
                )
        return lines


def _describe(entry_point: importlib.metadata.EntryPoint) -> str:
    dist = entry_point.dist
    if dist is None:
        return f"entry point {entry_point.name!r}"
    return f"{dist.metadata['Name']} {dist.version} (entry point {entry_point.name!r})"


def _specs_of(module: Any, source: str, plugins: Plugins) -> dict[str, list[Any]]:
    """Every spec ``module`` registers, checked (type and name); raises on the first problem."""
    found: dict[str, list[Any]] = {}
    for kind, (hook_name, spec_type) in HOOKS.items():
        hook = getattr(module, hook_name, None)
        if hook is None:
            continue
        specs = list(hook() or [])
        for spec in specs:
            if not isinstance(spec, spec_type):
                raise TypeError(f"{hook_name} returned {type(spec).__name__}")
            plugins.registry(kind).check_name(spec, source)
        found[kind] = specs
    return found


def collect(modules: Iterable[tuple[str, str, Any]]) -> Plugins:
    """Register (name, source, plugin object) triples; a broken plugin is recorded and skipped.

    A plugin is all or nothing: if any of its hooks fails or returns something invalid, none of
    its specs is registered (half a plugin would be harder to understand than none).
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    plugins = Plugins()
    for name, source, module in modules:
        try:
            manager.register(module, name=name)
            found = _specs_of(module, source, plugins)
        except (Exception, SystemExit) as error:  # noqa: BLE001 - plugin code may fail any way
            error_text = error.one_line() if isinstance(error, PluginError) else first_line(error)
            plugins.broken.append(BrokenPlugin(name, source, error_text))
            continue
        for kind, specs in found.items():
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
        except (Exception, SystemExit) as error:  # noqa: BLE001 - must not break the CLI
            yield entry_point.name, source, _BrokenMarker(first_line(error))
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
