"""Backbone pre-training for ``zshbench pretrain``: the CPU-scale ViT with MAE or class labels.

The core command (:mod:`zshbench.pretraining`) only parses the command line; this plugin
registers the ``cpu-vit`` pretrainer that does the work (:mod:`.trainer`), so ``zshbench/``
never imports ``plugins/``.
"""

from zshbench.hookspecs import hookimpl
from zshbench.registry import PretrainerSpec


@hookimpl
def zshbench_register_pretrainers() -> list:
    return [
        PretrainerSpec(
            "cpu-vit",
            "plugins.pretrain.trainer:pretrain",
            "the CPU-scale ViT (conv stem, 2 blocks of width 64, 32 px): MAE or supervised",
        )
    ]
