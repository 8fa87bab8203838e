"""RAZH's options, declared without torch (``MethodSpec.options``), so ``run`` checks them
before torch is imported: ``-o epochs=-1`` is one line within a second. :class:`RAZH` and
its ablations take exactly these (``RAZH.default_options``).
"""

from __future__ import annotations

from typing import Any

from plugins.deep import scales
from zshbench.options import Option

RAZH_OPTIONS: dict[str, Any] = {
    **scales.ENGINE_OPTIONS,
    "finetune_epochs": Option(0, minimum=0, help="RAZH-F's class-supervised epochs first"),
    "pretrain_epochs": Option(None, kind="integer", minimum=0, help="reconstruction warm-up"),
    "decoder_dim": Option(None, kind="integer", minimum=1, help="decoder width"),
    "decoder_depth": Option(None, kind="integer", minimum=1, help="decoder blocks"),
    "decoder_heads": Option(None, kind="integer", minimum=1, help="decoder heads"),
    "attribute_dim": Option(None, kind="integer", minimum=1, help="d_a of F_m and F_a"),
    "attributes": Option(
        None, kind="string", choices=("attributes", "class-names"), help="AEM's attributes"
    ),
    "attribute_cut": Option(None, kind="number", help="T^(i): continuous matrix above this"),
    "clusters": Option(None, kind="integer", minimum=1, help="K' of Eq. 1"),
    "kmeans_iterations": Option(None, kind="integer", minimum=0, help="K-means rounds"),
    "threshold": Option(None, kind="number", help="Eq. 3's absolute cosine threshold"),
    "replace_ratio": Option(
        None, kind="number", minimum=0.0, maximum=1.0, help="share of patches Eq. 3 replaces"
    ),
    "straight_through": Option(True, help="straight-through attribute choice"),
    "selection_temperature": Option(0.1, minimum=1e-6, help="softmax temperature of the ST"),
    "mask_ratio": Option(0.5, minimum=0.0, maximum=0.95, help="Table V"),
    "losses": Option("cls+h+rec", help="Table IV's subsets: '+'-joined cls, h, rec"),
    "alpha": Option(None, kind="number", minimum=0.0, help="weight of L_h (Table VIII)"),
    "beta": Option(None, kind="number", minimum=0.0, help="weight of L_r + L_hal"),
    "hash_loss_batch": Option(
        16,
        minimum=2,
        nullable=True,
        help="batch L_h's scale refers to (the authors' 16; null: each step's own)",
    ),
    "pool": Option("mean", choices=("mean", "cls"), help="feature the hash layer reads"),
    "hash_input": Option(
        "masked", choices=("masked", "full"), help="h from f_x (masked) or the whole image"
    ),
    "norm_pix_loss": Option(False, help="per-patch normalised pixel targets"),
    "decoder_pos_embed": Option(
        None, kind="string", choices=("learned", "sincos"), help="decoder positions"
    ),
    "aux_hash_loss": Option(
        None, kind="boolean", help="authors' L_cls + α·L_h on the mixing branch's h^a"
    ),
    "diagnostics": Option(0, minimum=0, help="images to draw clusters and attributes of"),
}
