"""The plugin contract: the hooks a zshbench plugin may implement.

A plugin is any module or object exposed under the ``zshbench`` entry-point group::

    [project.entry-points.zshbench]
    mymethod = "zshbench_mymethod"

and implementing one or more of the hooks below with ``@hookimpl``. zshbench's own methods,
data sets, data-set layout loaders, feature extractors and text encoders are plugins of exactly
this kind (see ``plugins/`` and ``datasets_registry/``). Each hook returns a list of *specs*
(:mod:`zshbench.registry`): cheap descriptions holding a ``"module:object"`` reference, so that
``zshbench list`` never imports torch models it will not use.

Example::

    from zshbench.hookspecs import hookimpl
    from zshbench.registry import MethodSpec

    @hookimpl
    def zshbench_register_methods():
        return [MethodSpec("mymethod", "zshbench_mymethod.model:MyMethod",
                           summary="What it does, one line")]

``MyMethod`` subclasses :class:`zshbench.method.HashingMethod`.

The contract is checked when a plugin is loaded: a ``@hookimpl`` whose name is not one of the
hooks below (a misspelling), whose arguments are not the hook's, or a hook function left
without ``@hookimpl``, makes that plugin broken (skipped, with one line naming it).
"""

from __future__ import annotations

import pluggy

PROJECT = "zshbench"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def zshbench_register_methods() -> list:
    """Return a list of :class:`zshbench.registry.MethodSpec` (hashing methods)."""


@hookspec
def zshbench_register_datasets() -> list:
    """Return a list of :class:`zshbench.registry.DatasetSpec` (data set entries)."""


@hookspec
def zshbench_register_loaders() -> list:
    """Return a list of :class:`zshbench.registry.LoaderSpec` (data-set layout loaders).

    The target is a function ``load(root, **options) -> zshbench.datasets.ImageSet`` that reads
    one on-disk layout. A data-set entry (a ``.toml`` file) names it by its registered name
    (``loader = "cub"``), so a new layout is always code a user installed, never a function
    named by a data file.
    """


@hookspec
def zshbench_register_encoders() -> list:
    """Return a list of :class:`zshbench.registry.EncoderSpec` (attribute-text encoders).

    The target class subclasses :class:`zshbench.encoders.TextEncoder`: keyword options in,
    ``encode(texts: list[str]) -> np.ndarray`` (one row per text) out.
    """


@hookspec
def zshbench_register_extractors() -> list:
    """Return a list of :class:`zshbench.registry.ExtractorSpec` (image feature extractors).

    The target class subclasses :class:`zshbench.features.FeatureExtractor`; linear hashing
    methods (LSH, SH, ITQ, ...) hash its features.
    """


@hookspec
def zshbench_register_studies() -> list:
    """Return a list of :class:`zshbench.registry.StudySpec` (paper tables as grids of runs).

    ``zshbench study NAME --dataset D`` runs every row of the grid through the usual run engine
    and prints the measured table beside the paper's.
    """


@hookspec
def zshbench_register_downloads() -> list:
    """Return a list of :class:`zshbench.download.DownloadResource` (download-only entries).

    Files a data set's split needs that are not a data set themselves (Xian et al.'s xlsa17
    lists); ``zshbench download NAME`` fetches them like a data set.
    """


@hookspec
def zshbench_register_reference_figures() -> list:
    """Return a list of :class:`zshbench.registry.ReferenceFiguresSpec` (published figures).

    ``zshbench report --paper`` shows, under each leaderboard, the figures every plugin
    registers for that data set (e.g. the RAZH paper's Table II, from the RAZH plugin).
    """


@hookspec
def zshbench_register_pretrainers() -> list:
    """Return a list of :class:`zshbench.registry.PretrainerSpec` (backbone pre-training).

    ``zshbench pretrain`` calls the target as ``target(request, progress)`` with a
    :class:`zshbench.pretraining.PretrainRequest` and a :class:`zshbench.method.Progress`; it
    writes the weights, their ``pretrained_cfg.json`` and a provenance file, and returns a dict
    of figures to print.
    """
