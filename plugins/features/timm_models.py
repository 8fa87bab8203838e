"""timm models and their weights, loaded safely: local checkpoints, the hub only when asked.

Shared by the frozen ``timm`` feature extractor and the deep methods' backbones. Importing this
module imports neither torch nor timm.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zshbench.errors import ZshbenchError


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


CFG_DATA_KEYS = ("mean", "std", "interpolation", "input_size", "crop_pct", "crop_mode")


def apply_file_cfg(model: Any, cfg: dict[str, Any] | None) -> None:
    """Put a weights file's pretrained_cfg data keys (mean, std, interpolation, input size) into
    ``model.pretrained_cfg``, where timm's ``resolve_model_data_config`` reads them: the model is
    then fed as its weights were trained, not with the architecture's default ImageNet values."""
    if not cfg:
        return
    current = dict(getattr(model, "pretrained_cfg", None) or {})
    current.update({k: cfg[k] for k in CFG_DATA_KEYS if k in cfg})
    if "input_size" in cfg:
        current["input_size"] = tuple(cfg["input_size"])
    for key in ("mean", "std"):
        if key in current:
            current[key] = tuple(current[key])
    model.pretrained_cfg = current


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
