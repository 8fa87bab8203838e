"""The ViT encoder: any timm Vision Transformer, sized by the options, weights from a local file.

Paper scale is ``vit_base_patch16_224`` initialised from MAE's self-supervised ViT-B/16 (no
labels: RAZH-F is the variant whose backbone saw class supervision). MAE's pre-training
checkpoint also holds its decoder and mask token; those keys are ignored, the encoder's are
loaded strictly, and timm's own checkpoint filter adapts position embeddings to another image
or patch size. Our machines cannot download weights: ``weights=`` reads a local file
(``weights_only=True``), ``pretrained_from_cache=True`` uses timm's local cache with the hub
offline.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from zshbench.errors import ZshbenchError

# Keys of an MAE pre-training checkpoint that are not part of the encoder.
MAE_DECODER_PREFIXES = ("decoder_", "decoder.", "mask_token")


def build_encoder(settings: dict[str, Any]) -> tuple[nn.Module, tuple, tuple]:
    """(timm ViT with no classifier head, input mean, input std) for the resolved settings."""
    from timm.data import resolve_model_data_config

    from plugins.extractors import create_timm_model, load_backbone_weights

    name = settings["model"]
    kwargs: dict[str, Any] = {
        "img_size": int(settings["img_size"]),
        "patch_size": int(settings["patch_size"]),
        "in_chans": 3,
    }
    for key in ("embed_dim", "depth", "num_heads"):
        if settings.get(key) is not None:
            kwargs[key] = int(settings[key])
    encoder = create_timm_model(name, bool(settings.get("pretrained_from_cache")), **kwargs)
    if not hasattr(encoder, "patch_embed") or not hasattr(encoder, "blocks"):
        raise ZshbenchError(
            f"timm model {name!r} is not a Vision Transformer",
            "RAZH needs a ViT (patch embedding + transformer blocks), e.g. vit_base_patch16_224.",
        )
    if settings.get("weights"):
        load_backbone_weights(
            encoder,
            settings["weights"],
            name,
            ignore=MAE_DECODER_PREFIXES,
            adapt=_adapt_vit_checkpoint,
        )
    config = resolve_model_data_config(encoder)
    return encoder, tuple(config["mean"]), tuple(config["std"])


def _adapt_vit_checkpoint(state: dict[str, Any], model: nn.Module) -> dict[str, Any]:
    """timm's ViT checkpoint filter: resamples position and patch embeddings to the model."""
    from timm.models.vision_transformer import checkpoint_filter_fn

    return checkpoint_filter_fn(state, model)
