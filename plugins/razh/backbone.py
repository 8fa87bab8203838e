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


def build_encoder(settings: dict[str, Any], seed: int) -> tuple[nn.Module, tuple, tuple]:
    """(timm ViT with no classifier head, input mean, input std) for the resolved settings."""
    import timm
    from timm.data import resolve_model_data_config

    from plugins.extractors import load_backbone_weights, offline_hub

    name = settings["model"]
    kwargs: dict[str, Any] = {
        "img_size": int(settings["img_size"]),
        "patch_size": int(settings["patch_size"]),
        "in_chans": 3,
    }
    for key in ("embed_dim", "depth", "num_heads"):
        if settings.get(key) is not None:
            kwargs[key] = int(settings[key])
    from_cache = bool(settings.get("pretrained_from_cache"))
    try:
        if from_cache:
            with offline_hub():
                encoder = timm.create_model(name, pretrained=True, num_classes=0, **kwargs)
        else:
            encoder = timm.create_model(name, pretrained=False, num_classes=0, **kwargs)
    except RuntimeError as error:
        text = str(error).splitlines()[0] if str(error) else type(error).__name__
        if "Unknown model" in text:
            raise ZshbenchError(
                f"timm has no model {name!r}", "List ViTs with timm.list_models('vit*')."
            ) from None
        raise ZshbenchError(f"timm could not build {name!r}: {text}") from None
    except TypeError as error:
        raise ZshbenchError(f"timm could not build {name!r} with {kwargs}: {error}") from None
    except (OSError, ValueError) as error:
        if not from_cache:
            raise
        raise ZshbenchError(
            f"timm's pretrained weights for {name!r} are not in the local cache ({error})",
            "Give a local checkpoint with --option weights=/path/to/file instead.",
        ) from None
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
