"""What ``zshbench info`` shows for an option left at null: the value each scale fills in.

A deep method's options default to null where the scale or the data set decides
(:mod:`plugins.deep.scales`); ``info`` would otherwise print ``null`` for most of them. This
module turns the very tables ``scales.resolve`` reads (``CPU``, ``PAPER``, a method's own
``scale_defaults``) into text per scale, with words for what depends on the data set.
"""

from __future__ import annotations

import json
from typing import Any

from . import scales

#: Engine options whose value at a scale depends on the data set or the model, in words.
ENGINE_WORDS: dict[str, dict[str, str]] = {
    "cpu": {
        "img_size": f"the data set's image side, at most {scales.CPU_MAX_SIDE} "
        "(a multiple of 4; digits: 8)",
        "patch_size": f"img_size / {scales.CPU_GRID} (a {scales.CPU_GRID}×{scales.CPU_GRID} "
        "token grid; digits: 2)",
    },
    "paper": {
        "embed_dim": "the timm model's own",
        "depth": "the timm model's own",
        "num_heads": "the timm model's own",
        "threads": "torch's default",
        "patience": "none (no early stop)",
    },
}


def shown(value: Any) -> str:
    """A default as ``info`` prints every other one: JSON."""
    return json.dumps(value, default=str)


def scale_table(
    method_defaults: dict[str, dict[str, Any]], words: dict[str, dict[str, str]] | None = None
) -> dict[str, dict[str, str]]:
    """{scale: {option: text}}: the engine's scale, then the method's defaults, then ``words``
    (a method's data-set-dependent values in words) over both, as ``scales.resolve`` layers
    them. A None that nothing describes reads "torch's default" for threads, else "none"."""
    table = {}
    for scale in scales.SCALES:
        values = dict(scales.PAPER if scale == "paper" else scales.CPU)
        values.update(method_defaults.get(scale, {}))
        texts = {key: shown(value) for key, value in values.items() if value is not None}
        texts.update({k: v for k, v in ENGINE_WORDS[scale].items() if values.get(k) is None})
        if "threads" in values and values["threads"] is None:
            texts["threads"] = "torch's default"
        texts.update((words or {}).get(scale, {}))
        table[scale] = texts
    return table
