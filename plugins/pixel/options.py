"""PIXEL's options, declared without torch (``MethodSpec.options``), so ``run`` checks ``-o``
values before torch is imported. :class:`plugins.pixel.method.PIXEL` takes exactly these."""

from __future__ import annotations

from typing import Any

from plugins.deep import scales
from zshbench.options import Option

PIXEL_OPTIONS: dict[str, Any] = {
    **scales.ENGINE_OPTIONS,
    "s": Option(10.0, exclusive_minimum=0.0, help="CosFace scale"),
    "m": Option(0.2, minimum=0.0, help="CosFace margin"),
    "w_align": Option(None, kind="number", minimum=0.0, help="weight of L_align"),
    "w_reg": Option(None, kind="number", minimum=0.0, help="weight of L_reg"),
    "same_class_weight": Option(4.0, help="λ of L_align's same-class term"),
    "text_dropout": Option(0.1, minimum=0.0, maximum=1.0, help="prompt slots dropped"),
    "attribute_dim": Option(None, kind="integer", minimum=1, help="E of V and T"),
}
