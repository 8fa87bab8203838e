"""zshbench's data sets, declared as TOML files and registered through the plugin hook.

Each ``datasets_registry/<name>.toml`` is one :class:`~zshbench.registry.DatasetSpec`: what the
data set is, which layout loader reads it, where to get it, and its zero-shot protocol numbers
(a ``[protocol]`` table) and, optionally, its published files (a ``[download]`` table, read by
:mod:`zshbench.download`). ``downloads/*.toml`` are download-only entries (files a split needs,
such as xlsa17). Keeping them declarative means adding a data set needs no Python; the files
are read by the core's parser (:mod:`zshbench.datasets.spec_file`), the same one that reads a
user's own data-set file (``zshbench run --dataset my_birds.toml``).
"""

from __future__ import annotations

from pathlib import Path

from zshbench.datasets.spec_file import spec_from_toml
from zshbench.download.tables import DownloadResource, resource_from_toml
from zshbench.hookspecs import hookimpl
from zshbench.registry import DatasetSpec

from .layouts import zshbench_register_loaders  # noqa: F401 - the loaders hook, on this plugin

REGISTRY_DIR = Path(__file__).resolve().parent


def registry_files() -> list[Path]:
    """The TOML files shipped in this package, in name order."""
    return sorted(REGISTRY_DIR.glob("*.toml"))


@hookimpl
def zshbench_register_datasets() -> list[DatasetSpec]:
    """Every ``datasets_registry/*.toml`` as a DatasetSpec."""
    return [spec_from_toml(path) for path in registry_files()]


@hookimpl
def zshbench_register_downloads() -> list[DownloadResource]:
    """Every ``datasets_registry/downloads/*.toml`` (download-only entries such as xlsa17)."""
    return [
        resource_from_toml(path) for path in sorted((REGISTRY_DIR / "downloads").glob("*.toml"))
    ]
