"""What a local weights file is: its ``<stem>.pretrained_cfg.json``, its sha256, what it saw.

A weights file alone says nothing about how its model must be fed (mean, std, interpolation,
input size), built (timm model arguments such as MobileNetV2's ``pad_type="same"``) or what it
was trained on. timm keeps those in a ``pretrained_cfg``; a file ``<stem>.pretrained_cfg.json``
beside ``<stem>.safetensors`` (or ``.pth``) carries it. Both the frozen ``timm`` extractor and
the deep methods' backbones read it through :func:`read_pretrained_cfg`, and every record that
uses such weights carries :func:`weights_provenance`.

Keys read (all optional): ``mean``, ``std`` (3 numbers, std > 0), ``interpolation``,
``input_size`` ([3, H, W]), ``model_args`` (a JSON object of ``timm.create_model`` arguments),
``architecture``, ``tag`` (timm's pretrained tag, e.g. ``coral_in1k``), ``pretrained_on`` (text,
e.g. "ImageNet-1k"), ``supervision`` ("class-supervised" | "self-supervised") and
``disjoint_from`` (data-set families, e.g. ["cub", "cifar10"], whose classes the pre-training
left out). Without ``pretrained_on``/``supervision`` they are read off the tag: ``in1k`` →
ImageNet-1k, ``in21k``/``in22k`` → ImageNet-21k, class-supervised unless the tag names a
self-supervised objective (mae, dino, ...).

Importing this module imports neither torch nor timm.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

from zshbench.errors import ZshbenchError

SELF_SUPERVISED_WORDS = ("mae", "dino", "dinov2", "ibot", "simclr", "moco", "byol")
INTERPOLATIONS = ("bilinear", "bicubic", "nearest", "lanczos")
SUPERVISIONS = ("class-supervised", "self-supervised", "none", "unknown")
# Data-set families whose classes ImageNet's class labels cover in part (birds, animals,
# vehicles): class-supervised ImageNet weights leak unseen-class supervision into them.
IMAGENET_OVERLAPS = ("cub", "awa2", "cifar10", "sun")


def cfg_path(weights: str | Path) -> Path:
    """``<stem>.pretrained_cfg.json`` beside a weights file (stem: the name minus its suffix)."""
    path = Path(weights).expanduser()
    return path.with_name(path.stem + ".pretrained_cfg.json")


def read_pretrained_cfg(weights: str | Path) -> dict[str, Any] | None:
    """The checked pretrained_cfg beside ``weights``, or None when there is none."""
    path = cfg_path(weights)
    if not path.is_file():
        return None
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ZshbenchError(
            f"pretrained cfg {path} is not valid JSON ({str(error).splitlines()[0]})",
            "Fix or delete the file: it must be a JSON object such as "
            '{"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "interpolation": "bilinear"}.',
        ) from None
    if not isinstance(cfg, dict):
        raise ZshbenchError(
            f"pretrained cfg {path} holds a JSON {type(cfg).__name__}, not an object",
            'Write a JSON object, e.g. {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}.',
        )
    _check_cfg(cfg, path)
    return cfg


def _triple(value: Any, positive: bool) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 3
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        and all(math.isfinite(v) and (v > 0 or not positive) for v in value)
    )


def _check_cfg(cfg: dict[str, Any], path: Path) -> None:
    """One line for the first key of ``cfg`` that cannot be used."""
    problems = []
    if "mean" in cfg and not _triple(cfg["mean"], positive=False):
        problems.append(f"mean must be 3 numbers, not {cfg['mean']!r}")
    if "std" in cfg and not _triple(cfg["std"], positive=True):
        problems.append(f"std must be 3 positive numbers, not {cfg['std']!r}")
    if "interpolation" in cfg and cfg["interpolation"] not in INTERPOLATIONS:
        problems.append(
            f"interpolation must be one of {', '.join(INTERPOLATIONS)}, "
            f"not {cfg['interpolation']!r}"
        )
    size = cfg.get("input_size")
    if size is not None and not (
        isinstance(size, list)
        and len(size) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
    ):
        problems.append(f"input_size must be [channels, height, width], not {size!r}")
    if "model_args" in cfg and not isinstance(cfg["model_args"], dict):
        problems.append(f"model_args must be a JSON object, not {cfg['model_args']!r}")
    if "supervision" in cfg and cfg["supervision"] not in SUPERVISIONS:
        problems.append(f"supervision must be one of {', '.join(SUPERVISIONS)}")
    disjoint = cfg.get("disjoint_from", [])
    if not (isinstance(disjoint, list) and all(isinstance(v, str) for v in disjoint)):
        problems.append("disjoint_from must be a list of data-set names")
    if problems:
        raise ZshbenchError(
            f"pretrained cfg {path}: {problems[0]}", "Fix that key or delete the file."
        )


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).expanduser().open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _tag(name: str, cfg: dict[str, Any] | None) -> str:
    if cfg and isinstance(cfg.get("tag"), str):
        return cfg["tag"]
    return name.split(".", 1)[1] if "." in name else ""


def pretraining(name: str, cfg: dict[str, Any] | None) -> tuple[str, str]:
    """(pretrained_on, supervision) of weights from their cfg, or else their timm tag."""
    cfg = cfg or {}
    tag = _tag(name, cfg).lower()
    words = tag.replace("-", "_").split("_")
    if "pretrained_on" in cfg:
        on = str(cfg["pretrained_on"])
    elif any(w.startswith(("in21k", "in22k")) for w in words):
        on = "ImageNet-21k"
    elif any(w.startswith("in1k") for w in words):
        on = "ImageNet-1k"
    else:
        on = "unknown"
    if "supervision" in cfg:
        supervision = str(cfg["supervision"])
    elif any(w in SELF_SUPERVISED_WORDS for w in words):
        supervision = "self-supervised"
    elif on.startswith("ImageNet"):
        supervision = "class-supervised"
    else:
        supervision = "unknown"
    return on, supervision


def overlaps_unseen(
    pretrained_on: str, supervision: str, dataset: str, disjoint_from: list[str]
) -> bool | None:
    """Whether class labels seen in pre-training may cover the data set's unseen classes.

    False without class labels (self-supervised or random weights: the paper's MAE rule) or when
    the cfg says the pre-training classes were chosen disjoint from the data set's family; True
    for ImageNet class labels on a family they overlap; None (unknown) otherwise."""
    family = dataset.split("-", 1)[0].lower()
    if supervision in ("self-supervised", "none"):
        return False
    if family in [d.lower() for d in disjoint_from]:
        return False
    if supervision == "class-supervised" and pretrained_on.startswith("ImageNet"):
        return family in IMAGENET_OVERLAPS or None
    return None


def weights_provenance(
    name: str,
    dataset: str,
    weights: str | None = None,
    hub: bool = False,
    resolved_cfg: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The record's ``pretrained`` block: file and sha256, the resolved cfg (mean, std,
    interpolation, input size, model args), what the weights were trained on, with which
    supervision, and ``pretraining_overlaps_unseen``. None for random weights."""
    if not weights and not hub:
        return None
    cfg = read_pretrained_cfg(weights) if weights else None
    on, supervision = pretraining(name, cfg)
    block: dict[str, Any] = {
        "source": "file" if weights else "timm hub",
        "model": name,
        "file": str(Path(weights).expanduser()) if weights else None,
        "sha256": sha256_file(weights) if weights else None,
        "cfg_file": str(cfg_path(weights)) if cfg is not None else None,
        "pretrained_cfg": dict(resolved_cfg or {}),
        "pretrained_on": on,
        "supervision": supervision,
        "pretraining_overlaps_unseen": overlaps_unseen(
            on, supervision, dataset, list((cfg or {}).get("disjoint_from", []))
        ),
    }
    return block
