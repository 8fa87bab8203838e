"""RAZH (Reconstruction-and-Alignment Zero-shot Hashing) and its ablations, as a zshbench plugin.

Registered through the ``zshbench`` entry-point group like any third-party plugin. Modules, in
the order the paper introduces them: :mod:`.kmeans` (Eq. 1), :mod:`.attributes` (T^(i) and
text vectors), :mod:`.model` (network: mixing and reconstruction branches, AEM, hash layer),
:mod:`.losses` (Eq. 12–18), :mod:`.training` (optimisation, validation, DDP), :mod:`.backbone`
(timm ViT and its weights), :mod:`.config` (scales and the paper's α/β), :mod:`.method` (the
registered methods), :mod:`.diagnostics` (Fig. 10–11-style pictures).

Importing this package imports neither torch nor timm, so ``zshbench list`` stays fast.
"""

from __future__ import annotations

from zshbench.hookspecs import hookimpl
from zshbench.registry import MethodSpec

_VARIANTS = (
    ("razh", "RAZH", "RAZH: K-means patch clusters aligned to attributes + MAE reconstruction"),
    ("razh-c", "RAZHNoClustering", "RAZH-C ablation: no clustering (each patch matched alone)"),
    ("razh-a", "RAZHNoAttributes", "RAZH-A ablation: no attribute module (reconstruction only)"),
    ("razh-d", "RAZHDualRandom", "RAZH-D ablation: two random-selection branches"),
    ("razh-t", "RAZHClassNames", "RAZH-T: class names as the only attributes"),
    ("razh-f", "RAZHFineTuned", "RAZH-F: backbone with class supervision (flagged in the record)"),
)


@hookimpl
def zshbench_register_methods() -> list[MethodSpec]:
    return [
        MethodSpec(name, f"plugins.razh.method:{target}", summary=summary, family="deep")
        for name, target, summary in _VARIANTS
    ]
