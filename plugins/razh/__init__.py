"""RAZH (Reconstruction-and-Alignment Zero-shot Hashing) and its ablations, as a zshbench plugin.

Registered through the ``zshbench`` entry-point group like any third-party plugin. Modules, in
the order the paper introduces them: :mod:`.kmeans` (Eq. 1), :mod:`.attributes` (T^(i) and
text vectors), :mod:`.model` (network: mixing and reconstruction branches, AEM, hash layer),
:mod:`.losses` (Eq. 12–18), :mod:`.objective` (Eq. 16 as the engine's objective),
:mod:`.config` (scales and the paper's α/β, ``paper_alpha_beta.csv``), :mod:`.method` (the
registered methods), :mod:`.diagnostics` (Fig. 10–11-style pictures). The backbone, training
loop, model selection, DDP and θ of Eq. 11 are the deep engine's (:mod:`plugins.deep`); the
``paper_table*.csv`` files are the paper's Tables IV–VI, the studies registered below.

Importing this package imports neither torch nor timm, so ``zshbench list`` stays fast.
"""

from __future__ import annotations

from zshbench.hookspecs import hookimpl
from zshbench.registry import MethodSpec, ReferenceFiguresSpec, StudySpec

_VARIANTS = (
    ("razh", "RAZH", "RAZH: K-means patch clusters aligned to attributes + MAE reconstruction"),
    ("razh-c", "RAZHNoClustering", "RAZH-C ablation: no clustering (each patch matched alone)"),
    ("razh-a", "RAZHNoAttributes", "RAZH-A ablation: no attribute module (reconstruction only)"),
    ("razh-d", "RAZHDualRandom", "RAZH-D ablation: two random-selection branches"),
    ("razh-t", "RAZHClassNames", "RAZH-T: class names as the only attributes"),
    ("razh-f", "RAZHFineTuned", "RAZH-F: backbone with class supervision (flagged in the record)"),
)


CITATION = (
    "Y. Jiang, Z. Qi, J. Li, J. Qian, C. Wang and Y. Xin, Zero-Shot Hashing Based on "
    "Reconstruction With Part Alignment (RAZH)"
)


@hookimpl
def zshbench_register_methods() -> list[MethodSpec]:
    return [
        MethodSpec(
            name,
            f"plugins.razh.method:{target}",
            summary=summary,
            family="deep",
            citation=CITATION,
            zero_shot=True,
            options="plugins.razh.options:RAZH_OPTIONS",
        )
        for name, target, summary in _VARIANTS
    ]


@hookimpl
def zshbench_register_studies() -> list[StudySpec]:
    """The paper's ablation tables as grids of runs (``zshbench study razh-table4 -d digits``).

    The row labels are the paper's (``paper_table*.csv``, its Tables IV–VI as data); the row that
    is RAZH as it ships has no options, so it reuses the records of ``zshbench run --method razh``.
    """
    return [
        StudySpec(
            "razh-table4",
            "Table IV: RAZH's loss terms",
            (
                ("L_cls", "razh", {"losses": "cls"}),
                ("L_h", "razh", {"losses": "h"}),
                ("L_cls+alpha*L_h", "razh", {"losses": "cls+h"}),
                ("L_cls+alpha*L_h+beta*L_rec", "razh", {}),
            ),
            reference="plugins.razh:paper_table4_loss_ablation.csv",
            label_column="losses",
            summary="loss subsets of Eq. 16 (cls+h is the supervised baseline on RAZH's encoder)",
        ),
        StudySpec(
            "razh-table5",
            "Table V: RAZH's mask ratio",
            (
                ("0.25", "razh", {"mask_ratio": 0.25}),
                ("0.50", "razh", {}),
                ("0.75", "razh", {"mask_ratio": 0.75}),
            ),
            reference="plugins.razh:paper_table5_mask_ratio.csv",
            label_column="mask_ratio",
            summary="share of patches the reconstruction branch masks",
        ),
        StudySpec(
            "razh-table6",
            "Table VI: RAZH's modules",
            (
                ("RAZH-C", "razh-c", {}),
                ("RAZH-A", "razh-a", {}),
                ("RAZH-D", "razh-d", {}),
                ("RAZH", "razh", {}),
            ),
            reference="plugins.razh:paper_table6_module_ablation.csv",
            label_column="method",
            summary="ablations: no clustering, no attribute module, two random branches",
        ),
    ]


@hookimpl
def zshbench_register_reference_figures() -> list[ReferenceFiguresSpec]:
    """The paper's Table II (mAP@5000 of every compared method) for ``zshbench report --paper``."""
    return [
        ReferenceFiguresSpec(
            "razh-table2",
            "Table II of the RAZH paper",
            "plugins.razh:paper_table2_map5000.csv",
            citation=CITATION,
            metric="map@5000",
            value_column="map_at_5000_percent",
            split="its seen/unseen classes: cifar10 8/2, cub 150/50, awa2 40/10",
        )
    ]
