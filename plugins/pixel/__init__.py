"""PIXEL (prompt-based zero-shot hashing, CIKM 2024) as a zshbench plugin, on the shared deep
engine (:mod:`plugins.deep`). Modules: :mod:`.losses` (CosFace, L_align, L_reg and the
authors' per-data-set weights), :mod:`.model` (network and attribute prompts), :mod:`.method`
(the registered method). Read from the authors' public code (ZeUDong/CIKM2024-PIXEL) for facts.

Importing this package imports neither torch nor timm, so ``zshbench list`` stays fast.
"""

from __future__ import annotations

from zshbench.hookspecs import hookimpl
from zshbench.registry import MethodSpec

CITATION = (
    "Z. Dong, Q. Long, Y. Zhou, P. Wang, Z. Zhu, X. Luo, Y. Wang, P. Wang and Y. Zhou, "
    "PIXEL: Prompt-based Zero-shot Hashing via Visual and Textual Semantic Alignment, CIKM 2024"
)


@hookimpl
def zshbench_register_methods() -> list[MethodSpec]:
    return [
        MethodSpec(
            "pixel",
            "plugins.pixel.method:PIXEL",
            summary="PIXEL: CosFace on class prototypes + attribute-prompt visual-text alignment",
            family="deep",
            citation=CITATION,
            zero_shot=True,
            options="plugins.pixel.options:PIXEL_OPTIONS",
        )
    ]
