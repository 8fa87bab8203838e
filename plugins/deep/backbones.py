"""Backbones of deep methods: any timm Vision Transformer, with its weights and their provenance.

Two stems give the patch tokens:

* ``stem="patch"`` (paper scale): timm's own linear patch embedding, e.g. ViT-B/16 at 224 from
  MAE's self-supervised weights (``vit_base_patch16_224.mae``, through timm's pretrained path:
  the Hugging Face hub cache, ``HF_HUB_OFFLINE`` respected; or a local file with ``weights=``),
  normalised with that model's own mean/std (ImageNet's).
* ``stem="conv"`` (CPU scale): a small convolutional stem (3×3 conv, BatchNorm, GELU; stride 2
  while the feature map is larger than twice the token grid, so a 64 px image costs about as
  much as an 8 px one) whose last convolution cuts the map into the token grid, as hybrid ViTs
  do; timm's ``VisionTransformer`` takes it as its
  ``embed_layer``. A plain ViT with linear patches does not learn from a few hundred images on two
  CPU cores (seen-class validation mAP 17 % on digits against 37 % for this stem, see the
  README); the stem is still a token encoder, so RAZH clusters, masks and replaces its tokens.

Provenance matters for zero-shot retrieval: ImageNet's classes overlap AWA2's and CUB's unseen
classes, so weights trained with ImageNet *class labels* leak unseen-class supervision.
:func:`weights_supervision` says what a backbone's weights saw; methods refuse class-supervised
weights unless they are the variant that is about them (RAZH-F), which flags it in the record.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from torch import nn

from plugins.features.conv_stem import CONV_STEM_WIDTHS, ConvStem
from zshbench.errors import ZshbenchError

from .choices import STEMS

# Keys of an MAE pre-training checkpoint that are not part of the encoder.
MAE_DECODER_PREFIXES = ("decoder_", "decoder.", "mask_token")

# timm pretrained tags trained without class labels (self-supervised).
SELF_SUPERVISED_TAGS = ("mae", "dino", "dinov2", "ibot")


def weights_supervision(settings: dict[str, Any]) -> str:
    """What the backbone's initial weights saw: "none" (random), "self-supervised",
    "class-supervised" (a timm tag trained on class labels), or, for a local file, what its
    ``<stem>.pretrained_cfg.json`` says ("unknown" without one)."""
    if settings.get("weights"):
        from plugins.features.pretrained_cfg import pretraining, read_pretrained_cfg

        cfg = read_pretrained_cfg(settings["weights"])
        if cfg is None:
            return "unknown"
        return pretraining(str(settings.get("backbone") or settings["model"]), cfg)[1]
    if not settings.get("pretrained"):
        return "none"
    name = str(settings.get("backbone") or settings["model"])
    tag = name.split(".", 1)[1] if "." in name else ""
    if tag in SELF_SUPERVISED_TAGS:
        return "self-supervised"
    return "class-supervised"


def build_backbone(settings: dict[str, Any]) -> tuple[nn.Module, tuple, tuple]:
    """(timm ViT without classifier head, input mean, input std) for resolved ``settings``.

    Keys: model, stem, img_size, patch_size, embed_dim, depth, num_heads (None: the model's
    own), weights (a local file), pretrained (timm's pretrained weights for the model's tag).
    """
    from timm.data import resolve_model_data_config

    from plugins.features.timm_models import create_timm_model, load_backbone_weights

    from .hybrid import build_pretrained, model_args, vit_file_cfg

    if settings.get("backbone") and settings.get("trunk_level") is not None:
        return build_pretrained(settings)  # a CNN trunk under ViT blocks
    name = str(settings["model"])
    stem = settings.get("stem") or "patch"
    if stem not in STEMS:
        raise ZshbenchError(f"unknown stem {stem!r}", f"Choose one of {', '.join(STEMS)}.")
    kwargs: dict[str, Any] = {
        "img_size": int(settings["img_size"]),
        "patch_size": int(settings["patch_size"]),
        "in_chans": 3,
    }
    if settings.get("backbone"):  # a ViT backbone: its own geometry, the file's model_args
        kwargs = {**model_args(settings), "img_size": kwargs["img_size"]}
    for key in ("embed_dim", "depth", "num_heads"):
        if settings.get(key) is not None and not settings.get("backbone"):
            kwargs[key] = int(settings[key])
    if stem == "conv" and settings.get("backbone"):
        stem = "patch"
    if stem == "conv":
        # timm's hub weights are for its own patch embedding; a local file may hold a conv
        # stem (``zshbench pretrain`` writes one), and the strict key check below tells.
        if settings.get("pretrained"):
            raise ZshbenchError(
                "timm's pretrained weights are for its own patch embedding, not the conv stem",
                "Use stem=patch with pretrained, or weights=FILE saved from a conv-stem ViT "
                "(zshbench pretrain).",
            )
        kwargs["embed_layer"] = partial(ConvStem, widths=CONV_STEM_WIDTHS)
    encoder = create_timm_model(name, pretrained=bool(settings.get("pretrained")), **kwargs)
    if not hasattr(encoder, "patch_embed") or not hasattr(encoder, "blocks"):
        raise ZshbenchError(
            f"timm model {name!r} is not a Vision Transformer",
            "Deep methods need a ViT (patch embedding + transformer blocks), e.g. "
            "vit_base_patch16_224.mae.",
        )
    if settings.get("weights"):
        load_backbone_weights(
            encoder, settings["weights"], name, ignore=MAE_DECODER_PREFIXES, adapt=_adapt_vit
        )
        vit_file_cfg(encoder, settings)
    config = resolve_model_data_config(encoder)
    return encoder, tuple(config["mean"]), tuple(config["std"])


def _adapt_vit(state: dict[str, Any], model: nn.Module) -> dict[str, Any]:
    """timm's ViT checkpoint filter: resamples position and patch embeddings to the model.

    A conv-stem ViT (``zshbench pretrain``'s) has no single patch projection to resample: its
    file must match the model as it is, and the strict key and shape check says when not."""
    from timm.models.vision_transformer import checkpoint_filter_fn

    if isinstance(getattr(model, "patch_embed", None), ConvStem):
        return state
    return checkpoint_filter_fn(state, model)
