"""Loading plugins from the ``zshbench`` entry-point group into registries.

First-party plugins (``plugins/``, ``datasets_registry``) come through the very same group as a
third party's, and every hook is called through pluggy (``pm.hook.zshbench_register_methods()``),
so :mod:`zshbench.hookspecs` is a checked contract: a misspelt hook, arguments the hook lacks, or
a hook function left without ``@hookimpl`` make a plugin broken. Plugins are isolated from each
other: one that fails to import (an exception or ``sys.exit`` at import), whose hook raises, or
that registers something invalid (a bad name, a wrong type) is recorded in ``Plugins.broken``
and skipped whole, so every command still works with the others and warns once naming the
distribution. Two plugins registering one name make
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
from .download.tables import DownloadResource
from .errors import PluginError
from .registry import (
    DatasetSpec,
    EncoderSpec,
    ExtractorSpec,
    LoaderSpec,
    MethodSpec,
    PretrainerSpec,
    ReferenceFiguresSpec,
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
    "downloads": ("zshbench_register_downloads", DownloadResource),
    "references": ("zshbench_register_reference_figures", ReferenceFiguresSpec),
    "pretrainers": ("zshbench_register_pretrainers", PretrainerSpec),
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
    downloads: Registry[DownloadResource] = field(
        default_factory=lambda: Registry("download-only entry")
    )
    references: Registry[ReferenceFiguresSpec] = field(
        default_factory=lambda: Registry("reference figures")
    )
    pretrainers: Registry[PretrainerSpec] = field(default_factory=lambda: Registry("pretrainer"))
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


def _manager_for(module: Any, name: str) -> pluggy.PluginManager:
    """A PluginManager holding only ``module``, its ``@hookimpl`` functions checked.

    One manager per plugin, so that a hook call reaches exactly one plugin: pluggy stops a call
    at the first exception, and the error must name the plugin that raised it.
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    try:
        manager.register(module, name=name)
    except pluggy.PluginValidationError as error:  # arguments the hook does not have
        raise PluginError(" ".join(str(error).split())) from None
    for caller in manager.get_hookcallers(module) or []:
        if not caller.has_spec():
            raise PluginError(
                f"@hookimpl {caller.name!r} is not a zshbench hook (misspelt?)",
                f"The hooks are {', '.join(name for name, _ in HOOKS.values())}.",
            )
    implemented = {caller.name for caller in manager.get_hookcallers(module) or []}
    for hook_name, _ in HOOKS.values():
        if callable(getattr(module, hook_name, None)) and hook_name not in implemented:
            raise PluginError(f"{hook_name} is not marked @hookimpl, so pluggy never calls it")
    return manager


def _specs_of(module: Any, name: str, source: str, plugins: Plugins) -> dict[str, list[Any]]:
    """Every spec ``module`` registers, called through pluggy and checked (type and name);
    raises on the first problem."""
    manager = _manager_for(module, name)
    found: dict[str, list[Any]] = {}
    for kind, (hook_name, spec_type) in HOOKS.items():
        results = getattr(manager.hook, hook_name)()  # one list per implementation: 0 or 1
        if not results:
            continue
        specs = [spec for result in results for spec in (result or [])]
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
    plugins = Plugins()
    for name, source, module in modules:
        try:
            found = _specs_of(module, name, source, plugins)
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
