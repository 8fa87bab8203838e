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

import contextlib
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from zshbench.errors import ZshbenchError
from zshbench.features import FeatureExtractor
from zshbench.hookspecs import hookimpl
from zshbench.method import ImageView, RunContext
from zshbench.options import Option
from zshbench.registry import ExtractorSpec

# ITU-R BT.601 luma weights: what Pillow's convert("L") uses, so grayscale is the familiar one.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float64)


@hookimpl
def zshbench_register_extractors() -> list[ExtractorSpec]:
    return [
        ExtractorSpec(
            "pixels",
            "plugins.extractors:PixelExtractor",
            summary="Raw pixels in [0, 1] (optionally resized / grayscale), for small images",
        ),
        ExtractorSpec(
            "timm",
            "plugins.extractors:TimmExtractor",
            summary="Pooled features of a frozen timm backbone (weights: a local file or the hub)",
        ),
    ]


# --------------------------------------------------------------------------- image helpers


def _drop_alpha(image: np.ndarray) -> np.ndarray:
    """(H, W) / (H, W, C) uint8 → (H, W, 1) or (H, W, 3); an alpha channel is dropped."""
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 2, 3, 4):
        raise ZshbenchError(
            f"an image has shape {image.shape}",
            "Images must be (H, W, C) arrays with 1 (gray), 3 (RGB) or an extra alpha channel.",
        )
    if image.shape[2] == 2:  # gray + alpha
        return image[:, :, :1]
    if image.shape[2] == 4:  # RGB + alpha
        return image[:, :, :3]
    return image


def _resize(image: np.ndarray, size: tuple[int, int], resample: int) -> np.ndarray:
    """Resize an (H, W, C) uint8 image to ``size`` = (height, width) with Pillow."""
    from PIL import Image

    if image.shape[:2] == tuple(size):
        return image
    channels = image.shape[2]
    pil = Image.fromarray(image[:, :, 0] if channels == 1 else image)
    out = np.asarray(pil.resize((size[1], size[0]), resample=resample), dtype=np.uint8)
    return out[:, :, None] if out.ndim == 2 else out


def _grayscale(images: np.ndarray) -> np.ndarray:
    """(N, H, W, C) float → (N, H, W, 1) luma (C = 3) or unchanged (C = 1)."""
    if images.shape[-1] == 1:
        return images
    return (images @ LUMA_WEIGHTS)[..., None]


def _center_crop_resize(
    image: np.ndarray, size: tuple[int, int], crop_pct: float, resample: int
) -> np.ndarray:
    """timm's evaluation transform: shorter side → size / crop_pct, then a centre crop."""
    height, width = image.shape[:2]
    scale_to = size[0] / crop_pct if height <= width else size[1] / crop_pct
    factor = scale_to / min(height, width)
    new = (max(size[0], round(height * factor)), max(size[1], round(width * factor)))
    image = _resize(image, new, resample)
    top = (new[0] - size[0]) // 2
    left = (new[1] - size[1]) // 2
    return image[top : top + size[0], left : left + size[1]]


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
                prepared = [_drop_alpha(np.asarray(image)) for image in batch]
                if size is not None:
                    from PIL import Image

                    prepared = [
                        _resize(image, (size, size), Image.Resampling.BILINEAR)
                        for image in prepared
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
            values = _grayscale(values)
        return values.reshape(len(values), -1).astype(np.float32)


# --------------------------------------------------------------------------- timm

_WARNED_UNTRAINED: set[str] = set()


@contextlib.contextmanager
def offline_hub() -> Iterator[None]:
    """Make Hugging Face / timm loaders use only their local cache while inside.

    Sets ``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE``, and also huggingface_hub's own flag,
    which it reads from the environment only once, at import (timm imports it early).
    """
    names = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    saved = {name: os.environ.get(name) for name in names}
    for name in names:
        os.environ[name] = "1"
    try:
        from huggingface_hub import constants as hub_constants
    except ImportError:  # pragma: no cover - timm and sentence-transformers depend on it
        hub_constants = None
    saved_flag = getattr(hub_constants, "HF_HUB_OFFLINE", None)
    if hub_constants is not None:
        hub_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        if hub_constants is not None:
            hub_constants.HF_HUB_OFFLINE = saved_flag
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _unwrap_checkpoint(checkpoint: Any, path: Path) -> dict[str, Any]:
    """The state dict inside a checkpoint file (plain, {'model': ...}, {'state_dict': ...})."""
    if not isinstance(checkpoint, dict):
        raise ZshbenchError(
            f"weights file {path} holds a {type(checkpoint).__name__}, not a state dict",
            "Save the weights with torch.save(model.state_dict(), path).",
        )
    # timm's and MAE's checkpoints wrap the state dict; timm prefers the EMA copy, as we do.
    for key in ("state_dict_ema", "model_ema", "state_dict", "model"):
        inner = checkpoint.get(key)
        if isinstance(inner, dict) and inner:
            checkpoint = inner
            break
    if checkpoint and all(isinstance(k, str) and k.startswith("module.") for k in checkpoint):
        checkpoint = {k[len("module.") :]: v for k, v in checkpoint.items()}  # DDP-saved
    return checkpoint


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The tensors of a local checkpoint file, read safely.

    ``.safetensors`` files are read with safetensors; anything else with
    ``torch.load(..., weights_only=True)``, which refuses pickled code. Wrapped checkpoints
    (``model``, ``state_dict``, EMA) and DDP's ``module.`` prefixes are unwrapped.
    """
    import torch

    path = Path(path).expanduser()
    if not path.is_file():
        raise ZshbenchError(
            f"weights file {path} not found",
            "Give the option weights=/path/to/checkpoint (.pth/.pt/.bin/.safetensors).",
        )
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:  # pragma: no cover - safetensors ships with timm
            raise ZshbenchError(
                f"{path} is a .safetensors file but safetensors is not installed",
                "pip install safetensors",
            ) from None
        try:
            checkpoint: Any = load_file(str(path), device="cpu")
        except Exception as error:  # noqa: BLE001 - SafetensorError, OSError, ...: one advice
            raise ZshbenchError(
                f"could not read {path} as a .safetensors file: "
                f"{str(error).splitlines()[0] if str(error) else type(error).__name__}",
                "The file is corrupt or not a safetensors file; save the weights again "
                "(safetensors.torch.save_file) or give a plain state dict (.pth).",
            ) from None
    else:
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # noqa: BLE001 - any unreadable file gets the same advice
            raise ZshbenchError(
                f"could not read {path} with torch.load(weights_only=True): "
                f"{str(error).splitlines()[0] if str(error) else type(error).__name__}",
                "Save a plain state dict (torch.save(model.state_dict(), path)) or a "
                ".safetensors file; checkpoints that pickle arbitrary objects are refused.",
            ) from None
    state = _unwrap_checkpoint(checkpoint, path)
    not_tensors = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise ZshbenchError(
            f"weights file {path}: entries {not_tensors[:3]} are not tensors",
            "Save the weights with torch.save(model.state_dict(), path).",
        )
    return state


def load_backbone_weights(
    model: Any,
    path: str | os.PathLike[str],
    name: str = "",
    ignore: tuple[str, ...] = (),
    adapt: Any = None,
) -> None:
    """Load a local checkpoint into a timm ``model`` strictly, with a readable error.

    Keys of the classifier head (absent from a ``num_classes=0`` backbone) and keys starting
    with a prefix in ``ignore`` (e.g. an MAE checkpoint's decoder) are dropped; ``adapt(state,
    model)`` may then rewrite the state (e.g. timm's position-embedding resampling); every other
    key must match by name and shape.
    """
    path = Path(path).expanduser()
    state = read_state_dict(path)
    if ignore:
        state = {k: v for k, v in state.items() if not k.startswith(tuple(ignore))}
    if adapt is not None:
        state = adapt(state, model)
    expected = model.state_dict()
    classifier = model.pretrained_cfg.get("classifier") if hasattr(model, "pretrained_cfg") else ""
    heads = (classifier,) if isinstance(classifier, str) else tuple(classifier or ())
    heads = tuple(h for h in heads if h)
    state = {
        k: v
        for k, v in state.items()
        if k in expected or not any(k == h or k.startswith(h + ".") for h in heads)
    }
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k} (file {tuple(state[k].shape)}, model {tuple(expected[k].shape)})"
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or mismatched:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected)):
            if keys:
                parts.append(f"{len(keys)} {label} keys (e.g. {', '.join(keys[:3])})")
        if mismatched:
            parts.append(f"{len(mismatched)} keys of another shape (e.g. {mismatched[0]})")
        raise ZshbenchError(
            f"weights file {path} does not fit timm model {name or type(model).__name__!r}: "
            + "; ".join(parts),
            "Check that option model (and model_kwargs such as img_size, patch_size) names the "
            "architecture the checkpoint was saved from.",
        )
    model.load_state_dict(state, strict=True)


@contextlib.contextmanager
def weights_only_loads() -> Iterator[None]:
    """Every ``torch.load`` inside runs with ``weights_only=True``, whatever its caller asks.

    timm's hub path already prefers ``.safetensors`` and passes ``weights_only=True`` for
    pickles; PyTorch's own switch (``TORCH_FORCE_WEIGHTS_ONLY_LOAD``) keeps that true for any
    timm version and any other loader it calls, so a downloaded pickle can never run code.
    """
    name = "TORCH_FORCE_WEIGHTS_ONLY_LOAD"
    saved = os.environ.get(name)
    os.environ[name] = "1"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _hub_error(name: str, error: BaseException, offline: bool) -> ZshbenchError | None:
    """A one-line error for a failure of timm's pretrained (Hugging Face hub) path, or None."""
    try:
        from huggingface_hub import errors as hub_errors
    except ImportError:  # pragma: no cover - timm depends on huggingface_hub
        return None
    fallback = "Give a local checkpoint with weights=/path/to/file instead."
    if isinstance(error, hub_errors.LocalEntryNotFoundError | hub_errors.OfflineModeIsEnabled):
        why = "the hub is offline (HF_HUB_OFFLINE=1)" if offline else "the hub could not be reached"
        return ZshbenchError(
            f"timm's pretrained weights for {name!r} are not in the local cache (the Hugging "
            f"Face hub cache) and {why}",
            "On a machine with internet run the same command once (or 'hf download "
            "timm/<model name>'), then copy the cache (~/.cache/huggingface, or $HF_HOME). "
            + fallback,
        )
    if isinstance(error, hub_errors.RepositoryNotFoundError | hub_errors.EntryNotFoundError):
        return ZshbenchError(
            f"the Hugging Face hub has no pretrained weights for timm model {name!r} "
            f"({_first_line(error)})",
            "Check the name with timm.list_pretrained('vit*'). " + fallback,
        )
    if isinstance(error, hub_errors.HfHubHTTPError):
        return ZshbenchError(
            f"downloading timm's pretrained weights for {name!r} failed ({_first_line(error)})",
            "Run again later, or " + fallback[0].lower() + fallback[1:],
        )
    if type(error).__name__ == "SafetensorError":
        return ZshbenchError(
            f"timm's pretrained weights for {name!r} are not a readable .safetensors file "
            f"({_first_line(error)})",
            "Delete that model from the Hugging Face cache (hf cache delete) and run again.",
        )
    return None


def create_timm_model(
    name: str, from_cache: bool = False, *, pretrained: bool = False, **kwargs: Any
) -> Any:
    """``timm.create_model(name, num_classes=0, **kwargs)`` with one-line errors.

    ``pretrained`` loads timm's pretrained weights for ``name`` (any timm name with its tag,
    e.g. ``vit_base_patch16_224.mae``) through timm's own path: the Hugging Face hub cache,
    downloading into it when they are missing, unless ``HF_HUB_OFFLINE=1``. ``from_cache`` is the
    same with the hub kept offline (cache only). Either way ``.safetensors`` is preferred and any
    pickle is read with ``weights_only=True``. An unknown name, bad keyword arguments, weights
    that are not there or cannot be fetched each become a :class:`ZshbenchError`.
    """
    import timm

    wanted = bool(pretrained or from_cache)
    offline_context = offline_hub() if from_cache else contextlib.nullcontext()
    try:
        with weights_only_loads(), offline_context:
            return timm.create_model(name, pretrained=wanted, num_classes=0, **kwargs)
    except Exception as error:  # noqa: BLE001 - every failure becomes one line (or re-raised)
        if wanted:
            from huggingface_hub import constants as hub_constants

            offline = from_cache or bool(getattr(hub_constants, "HF_HUB_OFFLINE", False))
            translated = _hub_error(name, error, offline)
            if translated is not None:
                raise translated from None
        text = _first_line(error)
        if isinstance(error, RuntimeError) and "Unknown model" in text:
            raise ZshbenchError(
                f"timm has no model {name!r}", "List them with timm.list_models('vit*')."
            ) from None
        if isinstance(error, RuntimeError) and wanted and "weights_only" in str(error):
            raise ZshbenchError(
                f"timm's pretrained weights for {name!r} are a pickle that needs more than "
                "tensors; it was refused (weights_only=True)",
                "Use a .safetensors copy of the weights, or give weights=/path/to/file.",
            ) from None
        if isinstance(error, RuntimeError):
            raise ZshbenchError(f"timm could not build {name!r}: {text}") from None
        if isinstance(error, TypeError):
            raise ZshbenchError(f"timm could not build {name!r} with {kwargs}: {error}") from None
        if wanted and isinstance(error, OSError | ValueError):
            raise ZshbenchError(
                f"timm's pretrained weights for {name!r} could not be loaded ({text})",
                "Give a local checkpoint with weights=/path/to/file instead.",
            ) from None
        raise


class TimmExtractor(FeatureExtractor):
    """The pooled feature of a frozen timm backbone (``num_classes=0``), in eval mode.

    Options:
        model: timm model name (default ``vit_tiny_patch16_224``).
        model_kwargs: extra ``timm.create_model`` arguments, e.g. ``{"img_size": 32}``.
        weights: path of a local checkpoint (state dict, possibly wrapped in ``model`` /
            ``state_dict``; ``.safetensors`` too), loaded with ``weights_only=True``.
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
        kwargs = dict(self.options["model_kwargs"] or {})
        weights = self.options["weights"]
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
            image = _drop_alpha(np.asarray(image, dtype=np.uint8))
            if crop_pct is None:
                image = _resize(image, size, resample)
            else:
                image = _center_crop_resize(image, size, float(crop_pct), resample)
            if image.shape[2] == 1:
                image = np.repeat(image, 3, axis=2)
            out.append(image)
        array = np.stack(out).astype(np.float32).transpose(0, 3, 1, 2) / 255.0
        return (array - mean) / std

    def transform(self, images: ImageView, context: RunContext) -> np.ndarray:
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
