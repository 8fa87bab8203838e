"""What a pre-training leaves on disk, each file written whole or not at all (temp + rename).

* ``<stem>.safetensors``: the encoder's state dict, exactly the keys of the timm ViT
  (``num_classes=0``) that a deep method builds at the same settings, so ``-o weights=FILE``
  loads it strictly;
* ``<stem>.pretrained_cfg.json``: timm's pretrained_cfg keys (mean, std, interpolation,
  input_size, crop_pct, architecture, tag, model_args) and what it was pre-trained on;
* ``<stem>.provenance.json``: data, class list and its sha256, settings, epochs, seed, loss
  curve, time, probe accuracies;
* ``<stem>.checkpoint.pt`` while training: the last complete epoch (tensors and numbers only,
  read back with ``weights_only=True``); removed once the weights are written.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from zshbench.errors import ZshbenchError


def sibling(out: Path, suffix: str) -> Path:
    return out.with_name(out.stem + suffix)


def _atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: dict[str, Any]) -> None:
    def write(name: str) -> None:
        Path(name).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

    _atomic(path, write)


def write_weights(path: Path, state: dict[str, torch.Tensor]) -> None:
    from safetensors.torch import save_file

    tensors = {key: value.detach().cpu().contiguous().clone() for key, value in state.items()}
    _atomic(path, lambda name: save_file(tensors, name, metadata={"format": "pt"}))


def write_checkpoint(path: Path, checkpoint: dict[str, Any]) -> None:
    _atomic(path, lambda name: torch.save(checkpoint, name))


def read_checkpoint(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable checkpoint: the same advice
        raise ZshbenchError(
            f"checkpoint {path} cannot be read ({str(error).splitlines()[0]})",
            "Delete it, or run again with --restart.",
        ) from None
