"""Image feature extractors for linear hashing methods: raw pixels and frozen timm backbones.

Linear hashing methods (LSH, SH, ITQ, ...) hash real-valued image features; which features is a
choice of the user, so extractors are plugins chosen by name (``--option extractor=timm``):

* ``pixels``: raw pixels scaled to [0, 1], for small images (the embedded digits, CIFAR-10).
* ``timm``: the pooled feature of a *frozen* timm backbone. Weights come from a local file
  (``weights=``, loaded safely) or, only when asked (``pretrained=true``), timm's own pretrained
  path: the Hugging Face hub and its cache. Nothing here reaches the network unless asked.

Importing this module imports neither torch nor timm: ``zshbench list`` stays fast.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from zshbench.errors import ZshbenchError
from zshbench.features import FeatureExtractor
from zshbench.hookspecs import hookimpl
from zshbench.method import ImageView, RunContext
from zshbench.options import Option
from zshbench.registry import ExtractorSpec

from .image_ops import center_crop_resize, drop_alpha, grayscale, resize
from .pretrained_cfg import read_pretrained_cfg, weights_provenance
from .timm_models import apply_file_cfg, create_timm_model, load_backbone_weights


@hookimpl
def zshbench_register_extractors() -> list[ExtractorSpec]:
    return [
        ExtractorSpec(
            "pixels",
            "plugins.features.image_extractors:PixelExtractor",
            summary="Raw pixels in [0, 1] (optionally resized / grayscale), for small images",
        ),
        ExtractorSpec(
            "timm",
            "plugins.features.image_extractors:TimmExtractor",
            summary="Pooled features of a frozen timm backbone (weights: a local file or the hub)",
        ),
    ]


# --------------------------------------------------------------------------- pixels


class PixelExtractor(FeatureExtractor):
    """Raw pixels, flattened and scaled to [0, 1] (float32).

    Options:
        size: resize every image to ``size`` × ``size`` with Pillow first (bilinear, which
            Pillow antialiases when shrinking); None keeps the images' own size, which must
            then be the same for all images.
        grayscale: convert RGB to one luma channel (BT.601 weights, as Pillow's "L" mode).

    The digits data set's 8×8 grayscale images give 64-d features; CIFAR-10's 32×32 RGB 3,072.
    Pixels are the classic input of LSH/SH/ITQ on small images; for photographs use ``timm``.
    """

    default_options: ClassVar[dict[str, Any]] = {
        "size": Option(None, kind="integer", minimum=1, help="resize to size × size first"),
        "grayscale": Option(False, help="convert RGB to one luma channel"),
    }

    def output_dim(self, image_shape: tuple[int, int, int] | None) -> int | None:
        """H·W·C after the resize, the grayscale conversion and the alpha channel's drop; None
        for images of differing shapes unless resized to grayscale (their channels unknown)."""
        size, gray = self.options["size"], self.options["grayscale"]
        if image_shape is None:
            return size * size if size is not None and gray else None
        channels = image_shape[-1] - 1 if image_shape[-1] in (2, 4) else image_shape[-1]
        height, width = (size, size) if size is not None else image_shape[:2]
        return int(height) * int(width) * (1 if gray else int(channels))

    def transform(self, images: ImageView, context: RunContext) -> np.ndarray:
        size = self.options["size"]
        if size is None and images.fixed_shape is not None and len(images):
            stack = images.load_stack()
            if stack.ndim == 3:
                stack = stack[..., None]
            if stack.shape[-1] in (2, 4):
                stack = stack[..., : stack.shape[-1] - 1]
            return self._finish(stack)
        chunks = []
        shapes: set[tuple[int, ...]] = set()
        with context.progress.task("pixels", total=len(images)) as advance:
            for _positions, batch in images.batches(256):
                prepared = [drop_alpha(np.asarray(image)) for image in batch]
                if size is not None:
                    from PIL import Image

                    prepared = [
                        resize(image, (size, size), Image.Resampling.BILINEAR) for image in prepared
                    ]
                shapes.update(image.shape for image in prepared)
                if len(shapes) > 1:
                    raise ZshbenchError(
                        f"pixels: images differ in size ({', '.join(map(str, sorted(shapes)))})",
                        "Give the extractor a fixed size, e.g. --option "
                        "'extractor_options={\"size\": 32}', or use the timm extractor.",
                    )
                chunks.append(np.stack(prepared))
                advance(len(batch))
        if not chunks:
            return np.zeros((0, 0), np.float32)
        return self._finish(np.concatenate(chunks))

    def _finish(self, stack: np.ndarray) -> np.ndarray:
        values = stack.astype(np.float64) / 255.0
        if self.options["grayscale"]:
            values = grayscale(values)
        return values.reshape(len(values), -1).astype(np.float32)


# --------------------------------------------------------------------------- timm

_WARNED_UNTRAINED: set[str] = set()
_FEATURE_MEMO: dict[tuple[str, str], np.ndarray] = {}
_FEATURE_MEMO_SIZE = 6


def _pixels_digest(images: ImageView) -> str:
    """sha256 of every image's shape and pixels, in order (decoding is cheap next to a CNN)."""
    digest = hashlib.sha256()
    for _positions, batch in images.batches(512):
        for image in batch:
            array = np.ascontiguousarray(image)
            digest.update(str(array.shape).encode())
            digest.update(array.tobytes())
    return digest.hexdigest()


class TimmExtractor(FeatureExtractor):
    """The pooled feature of a frozen timm backbone (``num_classes=0``), in eval mode.

    Options:
        model: timm model name (default ``vit_tiny_patch16_224``).
        model_kwargs: extra ``timm.create_model`` arguments, e.g. ``{"img_size": 32}``.
        weights: path of a local checkpoint (state dict, possibly wrapped in ``model`` /
            ``state_dict``; ``.safetensors`` too), loaded with ``weights_only=True``. A
            ``<stem>.pretrained_cfg.json`` beside it gives the mean, std, interpolation and
            input size the model is fed with, and timm model arguments (``model_args``, under
            ``model_kwargs``); see :mod:`plugins.features.pretrained_cfg`.
        pretrained: timm's pretrained weights for ``model`` (a name with its tag, e.g.
            ``vit_base_patch16_224.mae``) through timm's own path: the Hugging Face hub cache,
            downloaded into it when missing unless ``HF_HUB_OFFLINE=1``; ``.safetensors``
            preferred, pickles read with ``weights_only=True``.
        pretrained_from_cache: the same from the local cache only (the hub kept offline).
        image_size: input side length; default the model's own input size.
        crop_pct: None (default) resizes the whole image to the input size, so no part of the
            object is cut off; a float uses timm's evaluation transform instead (shorter side to
            size / crop_pct, centre crop).
        batch_size: images per forward pass.

    Preprocessing is deterministic: resize (the model's interpolation), scale to [0, 1],
    normalise with the model's pretrained mean/std, grayscale repeated to 3 channels. Without
    weights the backbone keeps its random initialisation (seeded by ``context.seed``) and a
    warning says the features are untrained.
    """

    default_options: ClassVar[dict[str, Any]] = {
        "model": Option("vit_tiny_patch16_224", help="timm model name"),
        "model_kwargs": Option({}, help="extra timm.create_model arguments"),
        "weights": Option(None, kind="string", help="local checkpoint file"),
        "pretrained": Option(False, help="timm's pretrained weights (Hugging Face hub cache)"),
        "pretrained_from_cache": Option(False, help="timm's weights from the local cache"),
        "image_size": Option(None, kind="integer", minimum=1, help="input side length"),
        "crop_pct": Option(None, kind="number", minimum=0.05, maximum=1.0, help="centre crop"),
        "batch_size": Option(64, minimum=1, help="images per forward pass"),
    }

    def __init__(self, **options: Any):
        super().__init__(**options)
        self._model: Any = None
        self._seed: int | None = None

    # -- model

    def build(self, context: RunContext) -> Any:
        """The frozen backbone (built once, on first use, then reused for every split part)."""
        if self._model is not None:
            return self._model
        import torch

        name = self.options["model"]
        weights = self.options["weights"]
        file_cfg = read_pretrained_cfg(weights) if weights else None
        kwargs = {**(file_cfg or {}).get("model_args", {}), **(self.options["model_kwargs"] or {})}
        if (file_cfg or {}).get("zshbench_stem") == "conv":  # a `zshbench pretrain` ViT
            from .conv_stem import conv_stem_model_args

            kwargs = {**conv_stem_model_args(file_cfg), **(self.options["model_kwargs"] or {})}
        from_cache = bool(self.options["pretrained_from_cache"])
        pretrained = bool(self.options["pretrained"])
        sources = [k for k in ("weights", "pretrained", "pretrained_from_cache") if self.options[k]]
        if len(sources) > 1:
            raise ZshbenchError(
                f"timm: {', '.join(sources)} are set together", "Choose one source of weights."
            )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(context.seed)  # random init is reproducible
            model = create_timm_model(name, from_cache, pretrained=pretrained, **kwargs)
        if weights:
            load_backbone_weights(model, weights, name)
            apply_file_cfg(model, file_cfg)
        elif not (from_cache or pretrained) and name not in _WARNED_UNTRAINED:
            _WARNED_UNTRAINED.add(name)
            warnings.warn(
                f"timm model {name!r} has no weights (random initialisation): its features are "
                "untrained. Give weights=/path/to/checkpoint for meaningful results.",
                UserWarning,
                stacklevel=3,
            )
        model.eval()
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        self._model = model
        return model

    def provenance(self, dataset: str) -> dict[str, Any] | None:
        """The record's ``pretrained`` block (sha256, resolved cfg, what the weights saw)."""
        if self._model is None:
            return None
        from timm.data import resolve_model_data_config

        hub = bool(self.options["pretrained"] or self.options["pretrained_from_cache"])
        config = resolve_model_data_config(self._model)
        resolved = {
            "mean": list(config["mean"]),
            "std": list(config["std"]),
            "interpolation": config.get("interpolation"),
            "input_size": [3, *self._input_size(self._model)],
            "model_args": (read_pretrained_cfg(self.options["weights"]) or {}).get("model_args", {})
            if self.options["weights"]
            else {},
            "model_kwargs": dict(self.options["model_kwargs"] or {}),
        }
        return weights_provenance(
            self.options["model"], dataset, self.options["weights"], hub, resolved
        )

    def _input_size(self, model: Any) -> tuple[int, int]:
        size = self.options["image_size"]
        patch_embed = getattr(model, "patch_embed", None)
        native = getattr(patch_embed, "img_size", None) if patch_embed is not None else None
        if size is not None:
            wanted = (int(size), int(size))
            strict = getattr(patch_embed, "strict_img_size", False) and not getattr(
                model, "dynamic_img_size", False
            )
            if native is not None and strict and tuple(native) != wanted:
                raise ZshbenchError(
                    f"timm model {self.options['model']!r} takes {tuple(native)} inputs, "
                    f"not image_size={size}",
                    f"Also set model_kwargs={{'img_size': {size}}} (or drop image_size).",
                )
            return wanted
        if native is not None:
            return (int(native[0]), int(native[1]))
        from timm.data import resolve_model_data_config

        input_size = resolve_model_data_config(model)["input_size"]
        return (int(input_size[1]), int(input_size[2]))

    def preprocess(self, batch: Sequence[np.ndarray], model: Any) -> np.ndarray:
        """(N, 3, H, W) float32 model inputs of a list of (H, W, C) uint8 images."""
        from PIL import Image
        from timm.data import resolve_model_data_config

        config = resolve_model_data_config(model)
        mean = np.asarray(config["mean"], dtype=np.float32).reshape(1, 3, 1, 1)
        std = np.asarray(config["std"], dtype=np.float32).reshape(1, 3, 1, 1)
        resample = {
            "bilinear": Image.Resampling.BILINEAR,
            "nearest": Image.Resampling.NEAREST,
            "lanczos": Image.Resampling.LANCZOS,
        }.get(str(config.get("interpolation", "bicubic")), Image.Resampling.BICUBIC)
        size = self._input_size(model)
        crop_pct = self.options["crop_pct"]
        out = []
        for image in batch:
            image = drop_alpha(np.asarray(image, dtype=np.uint8))
            if crop_pct is None:
                image = resize(image, size, resample)
            else:
                image = center_crop_resize(image, size, float(crop_pct), resample)
            if image.shape[2] == 1:
                image = np.repeat(image, 3, axis=2)
            out.append(image)
        array = np.stack(out).astype(np.float32).transpose(0, 3, 1, 2) / 255.0
        return (array - mean) / std

    def transform(self, images: ImageView, context: RunContext) -> np.ndarray:
        """Features of ``images``; with pretrained weights (the same features for every seed) a
        process keeps the last few results, keyed by the options and the images' pixels, so the
        runs of one ``zshbench run`` (code lengths × seeds) do not run the backbone again."""
        deterministic = bool(
            self.options["weights"]
            or self.options["pretrained"]
            or self.options["pretrained_from_cache"]
        )
        if not deterministic:
            return self._transform(images, context)
        self.build(context)  # even when the memo serves: the record's provenance reads the model
        key = (json.dumps(self.options, sort_keys=True, default=str), _pixels_digest(images))
        if key not in _FEATURE_MEMO:
            if len(_FEATURE_MEMO) >= _FEATURE_MEMO_SIZE:
                _FEATURE_MEMO.pop(next(iter(_FEATURE_MEMO)))
            _FEATURE_MEMO[key] = self._transform(images, context)
        return _FEATURE_MEMO[key].copy()

    def _transform(self, images: ImageView, context: RunContext) -> np.ndarray:
        import torch

        model = self.build(context)
        device = torch.device(context.device)
        model.to(device)
        batch_size = int(self.options["batch_size"])
        chunks = []
        with (
            torch.no_grad(),
            context.progress.task(f"features ({self.options['model']})", len(images)) as advance,
        ):
            for _positions, batch in images.batches(batch_size):
                inputs = torch.from_numpy(self.preprocess(batch, model)).to(device)
                features = model(inputs)
                chunks.append(features.float().cpu().numpy())
                advance(len(batch))
        if not chunks:
            return np.zeros((0, int(getattr(model, "num_features", 0))), np.float32)
        return np.concatenate(chunks).astype(np.float32, copy=False)
