"""``zshbench pretrain`` for the CPU-scale ViT: settings, the epoch loop, checkpoints, outputs.

The encoder is built by :func:`plugins.deep.backbones.build_backbone` from the same settings a
deep method resolves at CPU scale (timm ``vit_tiny_patch16_224`` resized to width 64, depth 2,
2 heads, a 4×4 token grid from the conv stem at 32 px), so the weights file holds exactly the
keys RAZH's encoder loads with ``-o weights=FILE``.

Resuming: after every epoch the model, optimiser, epoch and loss curve go into
``<stem>.checkpoint.pt`` (atomically). Every random draw of an epoch (order, masks, crops)
comes from a generator seeded by (seed, epoch), so a run resumed from epoch e continues exactly
as the uninterrupted run would have. The checkpoint also holds a fingerprint of the settings; a
checkpoint of other settings is refused (``--restart`` discards it).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any

import torch

from zshbench import __version__
from zshbench.errors import ZshbenchError
from zshbench.options import Option, check_options

from . import imagefolder, outputs
from .mae import MAE, Supervised, random_resized_crop_flip, recalibrate_batchnorm
from .probes import knn_accuracy, linear_probe_accuracy

# Defaults: the CPU scale's encoder; MAE's mask ratio, AdamW betas and weight decay, norm-pix
# loss; a 2-block width-64 decoder; lr 1e-3 (not tuned). One thread: 432 images/s for an MAE
# step of 256 on one core (two threads on shared cores: 50), so 20 epochs of Tiny-ImageNet's
# 88,500 images take about 70 minutes (README, "Pre-training a backbone").
DEFAULTS: dict[str, Any] = {
    "model": Option("vit_tiny_patch16_224", help="timm ViT family, resized below"),
    "stem": Option("conv", choices=("conv", "patch"), help="the CPU scale's conv stem or timm's"),
    "img_size": Option(32, minimum=8, help="training side in pixels"),
    "patch_size": Option(8, minimum=1, help="pixels per token side"),
    "embed_dim": Option(64, minimum=4, help="ViT width"),
    "depth": Option(2, minimum=1, help="ViT blocks"),
    "num_heads": Option(2, minimum=1, help="attention heads"),
    "mask_ratio": Option(0.75, exclusive_minimum=0.0, maximum=0.99, help="MAE masked share"),
    "decoder_dim": Option(64, minimum=4, help="MAE decoder width (divisible by 4)"),
    "decoder_depth": Option(2, minimum=1, help="MAE decoder blocks"),
    "decoder_heads": Option(2, minimum=1, help="MAE decoder heads"),
    "norm_pix_loss": Option(True, help="targets standardised per patch"),
    "epochs": Option(20, minimum=1, help="training epochs"),
    "batch_size": Option(256, minimum=1, help="images per step"),
    "lr": Option(1e-3, exclusive_minimum=0.0, help="AdamW peak learning rate"),
    "weight_decay": Option(0.05, minimum=0.0, help="AdamW weight decay (not on norms/biases)"),
    "warmup_epochs": Option(2.0, minimum=0.0, help="linear warm-up, then cosine to 0"),
    "augment": Option("rrc+flip", choices=("rrc+flip", "flip", "none"), help="augmentation"),
    "threads": Option(1, minimum=1, help="torch threads on CPU (1: fastest on shared cores)"),
    "images_per_class": Option(
        None, kind="integer", minimum=1, help="at most this many training images a class"
    ),
    "knn_k": Option(20, minimum=1, help="neighbours of the k-NN probe"),
    "bn_images": Option(10000, minimum=1, help="whole images that re-estimate BatchNorm stats"),
}


def resolve_settings(request) -> dict[str, Any]:
    settings = check_options("pretrainer cpu-vit", DEFAULTS, request.options)
    if request.epochs is not None:
        settings["epochs"] = int(request.epochs)
    if settings["img_size"] % settings["patch_size"]:
        raise ZshbenchError(
            f"img_size {settings['img_size']} is not a multiple of patch_size "
            f"{settings['patch_size']}"
        )
    return settings


def build_encoder(settings: dict[str, Any]):
    """(timm ViT, mean, std) exactly as a deep method builds it from the same settings."""
    from plugins.deep.backbones import build_backbone

    keys = ("model", "stem", "img_size", "patch_size", "embed_dim", "depth", "num_heads")
    return build_backbone({**{k: settings[k] for k in keys}, "weights": None, "pretrained": False})


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise ZshbenchError(f"unknown device {name!r}", "Use auto, cpu or cuda.")
    return torch.device(name)


def _optimizer(model: torch.nn.Module, settings: dict[str, Any]) -> torch.optim.Optimizer:
    decay, plain = [], []
    for name, parameter in model.named_parameters():
        no_decay = parameter.ndim <= 1 or name.endswith(("pos_embed", "cls_token", "mask_token"))
        (plain if no_decay else decay).append(parameter)
    groups = [
        {"params": decay, "weight_decay": settings["weight_decay"]},
        {"params": plain, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=settings["lr"], betas=(0.9, 0.95))


def learning_rate(step: int, steps_per_epoch: int, settings: dict[str, Any]) -> float:
    """Linear warm-up over ``warmup_epochs``, then a half cosine to 0 at the last step."""
    total = settings["epochs"] * steps_per_epoch
    warmup = settings["warmup_epochs"] * steps_per_epoch
    if step < warmup:
        return settings["lr"] * (step + 1) / warmup
    progress = (step - warmup) / max(1.0, total - warmup)
    return settings["lr"] * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def _fingerprint(request, settings: dict[str, Any], classes: list[str], count: int) -> str:
    what = {
        "settings": settings,
        "objective": request.objective,
        "seed": request.seed,
        "data": str(Path(request.data).expanduser().resolve()),
        "classes": classes,
        "images": count,
    }
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def _batches(images: torch.Tensor, mean, std, device, size: int = 512):
    mean_t = torch.tensor(mean, device=device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, device=device).view(1, 3, 1, 1)
    for start in range(0, len(images), size):
        chunk = images[start : start + size].to(device).float().div_(255.0)
        yield (chunk - mean_t) / std_t


def train_epoch(model, optimizer, split, epoch, settings, seed, norm, device, progress) -> float:
    """One epoch in the order and with the masks and crops of generator (seed, epoch)."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(len(split.images), generator=generator)
    size = settings["batch_size"]
    steps = math.ceil(len(order) / size)
    mean, std = (torch.tensor(v, device=device).view(1, 3, 1, 1) for v in norm)
    model.train()
    total, seen = 0.0, 0
    with progress.task(f"epoch {epoch + 1}/{settings['epochs']}", total=steps) as advance:
        for step in range(steps):
            index = order[step * size : (step + 1) * size]
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(epoch * steps + step, steps, settings)
            x = (split.images[index].to(device).float().div_(255.0) - mean) / std
            if settings["augment"] == "rrc+flip":
                x = random_resized_crop_flip(x, generator)
            elif settings["augment"] == "flip":
                x = torch.where((torch.rand(len(x), generator=generator) < 0.5).to(device)
                                .view(-1, 1, 1, 1), x.flip(3), x)  # fmt: skip
            loss = model(x, split.labels[index].to(device), generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(index)
            seen += len(index)
            advance(1)
            if step % 20 == 0:
                progress.status(f"loss {total / seen:.4f}")
    return total / max(1, seen)


@torch.no_grad()
def features(encoder, images: torch.Tensor, norm, device) -> torch.Tensor:
    from .mae import pooled_features

    encoder.eval()
    return torch.cat([pooled_features(encoder, b).cpu() for b in _batches(images, *norm, device)])


def probe(encoder, train, val, norm, device, settings) -> dict[str, float]:
    """k-NN and linear-probe accuracy (%) of ``encoder``'s frozen features on ``val``."""
    f_train, f_val = (
        features(encoder, train.images, norm, device),
        features(encoder, val.images, norm, device),
    )
    knn = knn_accuracy(f_train, train.labels, f_val, val.labels, k=settings["knn_k"])
    linear = linear_probe_accuracy(f_train, train.labels, f_val, val.labels)
    return {"knn_percent": round(100 * knn, 2), "linear_probe_percent": round(100 * linear, 2)}


def pretrain(request, progress) -> dict[str, Any]:
    """Train (or resume), write weights + cfg + provenance, probe; return the figures."""
    started = time.perf_counter()
    settings = resolve_settings(request)
    if request.objective not in ("mae", "supervised"):
        raise ZshbenchError(f"unknown objective {request.objective!r}", "Use mae or supervised.")
    out = Path(request.out).expanduser()
    if out.suffix != ".safetensors":
        raise ZshbenchError(f"--out {out} must end in .safetensors")
    if out.exists() and not request.overwrite:
        raise ZshbenchError(f"weights {out} already exist", "Give --overwrite to replace them.")
    classes = imagefolder.read_class_list(request.data, request.classes)
    device = _device(request.device)
    if device.type == "cpu":
        torch.set_num_threads(settings["threads"])
    train_list = imagefolder.train_files(request.data, classes, settings["images_per_class"])
    val_list = imagefolder.val_files(request.data, classes) if request.probe else []
    train = imagefolder.decode(train_list, settings["img_size"], progress, "train")
    torch.manual_seed(request.seed)
    encoder, mean, std = build_encoder(settings)
    model = (
        MAE(encoder, settings["mask_ratio"], settings["decoder_dim"], settings["decoder_depth"],
            settings["decoder_heads"], settings["norm_pix_loss"])
        if request.objective == "mae" else Supervised(encoder, len(classes))
    ).to(device)  # fmt: skip
    optimizer = _optimizer(model, settings)
    fingerprint = _fingerprint(request, settings, classes, len(train_list))
    checkpoint_path = outputs.sibling(out, ".checkpoint.pt")
    losses, start_epoch, seconds = _resume(checkpoint_path, fingerprint, model, optimizer, request)
    if start_epoch:
        progress.log(f"resuming after epoch {start_epoch} from {checkpoint_path}")
    norm = (mean, std)
    for epoch in range(start_epoch, settings["epochs"]):
        epoch_started = time.perf_counter()
        try:
            losses.append(train_epoch(model, optimizer, train, epoch, settings, request.seed,
                                      norm, device, progress))  # fmt: skip
        except KeyboardInterrupt:
            progress.log(
                f"interrupted in epoch {epoch + 1}; {checkpoint_path} keeps epoch {epoch}: "
                "run the same command again to resume"
            )
            raise
        seconds += time.perf_counter() - epoch_started
        progress.log(f"epoch {epoch + 1}/{settings['epochs']}: loss {losses[-1]:.4f}")
        outputs.write_checkpoint(checkpoint_path, {
            "fingerprint": fingerprint, "epoch": epoch + 1, "losses": losses,
            "seconds": seconds, "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
        })  # fmt: skip
    recalibrate_batchnorm(encoder, _batches(train.images[: settings["bn_images"]], *norm, device))
    figures = _finish(request, settings, classes, train, val_list, encoder, norm, device,
                      losses, seconds, progress, out)  # fmt: skip
    checkpoint_path.unlink(missing_ok=True)
    figures["wall_seconds"] = round(time.perf_counter() - started, 1)
    return figures


def _resume(path: Path, fingerprint: str, model, optimizer, request):
    """(losses, first epoch to run, training seconds so far) from a checkpoint, if any."""
    if not path.exists() or request.restart:
        path.unlink(missing_ok=True)
        return [], 0, 0.0
    checkpoint = outputs.read_checkpoint(path)
    if checkpoint.get("fingerprint") != fingerprint:
        raise ZshbenchError(
            f"checkpoint {path} was made with other settings, data or seed",
            "Run with the same ones to resume it, or give --restart to discard it.",
        )
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    return list(checkpoint["losses"]), int(checkpoint["epoch"]), float(checkpoint["seconds"])


def _finish(request, settings, classes, train, val_list, encoder, norm, device, losses,
            seconds, progress, out) -> dict[str, Any]:  # fmt: skip
    """Weights, pretrained_cfg, probes, provenance; the figures to print."""
    outputs.write_weights(out, encoder.state_dict())
    cfg = pretrained_cfg(request, settings, classes, norm)
    outputs.write_json(outputs.sibling(out, ".pretrained_cfg.json"), cfg)
    probes: dict[str, Any] = {}
    if request.probe and val_list:
        val = imagefolder.decode(val_list, settings["img_size"], progress, "val")
        with progress.task("probe the pre-trained encoder"):
            probes["pretrained"] = probe(encoder, train, val, norm, device, settings)
        torch.manual_seed(request.seed)
        baseline, _, _ = build_encoder(settings)
        baseline.to(device)
        recalibrate_batchnorm(baseline, _batches(train.images[: settings["bn_images"]], *norm,
                                                 device))  # fmt: skip
        with progress.task("probe a random-init encoder"):
            probes["random_init"] = probe(baseline, train, val, norm, device, settings)
        probes["val_images"] = len(val_list)
    elif request.probe:
        progress.log(f"no val/ images of these classes in {request.data}: probes skipped")
    classes_file = Path(request.classes).expanduser() if request.classes else None
    record = {
        "zshbench": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "objective": request.objective,
        "data": str(Path(request.data).expanduser().resolve()),
        "class_list": str(classes_file.resolve()) if classes_file else None,
        "class_list_sha256": imagefolder.sha256_of(classes_file) if classes_file else None,
        "classes": len(classes),
        "train_images": len(train.labels),
        "seed": request.seed,
        "epochs": settings["epochs"],
        "settings": settings,
        "loss_curve": [round(v, 6) for v in losses],
        "train_seconds": round(seconds, 1),
        "images_per_second": round(len(train.labels) * len(losses) / max(seconds, 1e-9), 1),
        "device": str(device),
        "threads": torch.get_num_threads() if device.type == "cpu" else None,
        "weights_sha256": imagefolder.sha256_of(out),
        "probes": probes,
    }
    outputs.write_json(outputs.sibling(out, ".provenance.json"), record)
    figures: dict[str, Any] = {"weights": str(out), "epochs": settings["epochs"]}
    if losses:
        figures["loss (first → last epoch)"] = f"{losses[0]:.4f} → {losses[-1]:.4f}"
    figures["train seconds"] = round(seconds, 1)
    for name, values in probes.items():
        if isinstance(values, dict):
            figures[f"{name} k-NN / linear probe %"] = (
                f"{values['knn_percent']} / {values['linear_probe_percent']}"
            )
    return figures


def pretrained_cfg(request, settings, classes, norm) -> dict[str, Any]:
    """timm-style pretrained_cfg of the weights, plus what they were pre-trained on."""
    side = settings["img_size"]
    name = Path(request.data).expanduser().resolve().name
    supervision = "self-supervised" if request.objective == "mae" else "class-supervised"
    return {
        "architecture": settings["model"].split(".")[0],
        "tag": f"zshbench_{request.objective}",
        "model_args": {k: settings[k] for k in ("patch_size", "embed_dim", "depth", "num_heads")},
        "input_size": [3, side, side],
        "interpolation": "bicubic",
        "mean": list(norm[0]),
        "std": list(norm[1]),
        "crop_pct": 1.0,
        "num_classes": 0,
        "pretrained_on": f"{name}: {len(classes)} classes"
        + (f" ({Path(request.classes).name})" if request.classes else ""),
        "supervision": supervision,
        "disjoint_from": list(request.disjoint_from),
        "zshbench_stem": settings["stem"],
    }
