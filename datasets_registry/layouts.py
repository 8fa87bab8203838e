"""The layout loaders zshbench ships, registered by name like a third party's would be.

A data-set entry names one of these (``loader = "cub"``); a plugin adds its own layout with the
same hook (``zshbench_register_loaders``) and a :class:`~zshbench.registry.LoaderSpec`.
"""

from __future__ import annotations

from zshbench.hookspecs import hookimpl
from zshbench.registry import LoaderSpec


@hookimpl
def zshbench_register_loaders() -> list[LoaderSpec]:
    return [
        LoaderSpec(
            "digits",
            "zshbench.datasets.layouts.digits:load",
            summary="scikit-learn's embedded UCI handwritten digits with part attributes",
        ),
        LoaderSpec(
            "cifar10",
            "zshbench.datasets.layouts.cifar10:load",
            summary="CIFAR-10 python batches (cifar-10-batches-py/), read without unpickling code",
        ),
        LoaderSpec(
            "cub",
            "zshbench.datasets.layouts.cub:load",
            summary="CUB_200_2011/ as in the official tarball, plus attributes.txt",
        ),
        LoaderSpec(
            "awa2",
            "zshbench.datasets.layouts.awa2:load",
            summary="Animals_with_Attributes2/ as in the official archive",
        ),
        LoaderSpec(
            "sun",
            "zshbench.datasets.layouts.sun:load",
            summary="SUNAttributeDB/ (.mat files read with scipy) and images/ beside it",
        ),
    ]
