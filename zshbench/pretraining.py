"""``zshbench pretrain``: train a backbone before any hashing method sees it (a thin command).

The work (the network, its objective, the image folder, the probes) lives in a plugin that
registers a :class:`~zshbench.registry.PretrainerSpec` (first party: ``plugins.pretrain``, the
CPU-scale ViT with MAE). The core only parses the command line into a :class:`PretrainRequest`
and hands it over, so it never imports ``plugins/`` and another plugin can add its own
pre-training (another architecture, another objective) under another ``--pretrainer`` name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

OBJECTIVES = ("mae", "supervised")


@dataclass(frozen=True)
class PretrainRequest:
    """What the user asked for; the pretrainer fills every None from its own defaults."""

    data: Path  # image folder: train/<class>/images/*.JPEG or train/<class>/*.jpg (+ val/)
    classes: Path | None  # class list, one class folder name a line (None: every folder)
    out: Path  # the weights file (.safetensors); its cfg and provenance go beside it
    objective: str = "mae"
    epochs: int | None = None
    seed: int = 0
    device: str = "auto"
    restart: bool = False  # ignore an existing checkpoint of other settings
    overwrite: bool = False  # replace finished weights
    probe: bool = True
    disjoint_from: tuple[str, ...] = ()  # data-set families the class list leaves out
    options: dict[str, Any] = field(default_factory=dict)


@click.command(name="pretrain")
@click.option(
    "--data",
    required=True,
    type=click.Path(path_type=Path),
    help="Image folder: DATA/train/<class>/images/*.JPEG (Tiny-ImageNet) or "
    "DATA/train/<class>/*.jpg (ImageNet); val/ likewise or val/val_annotations.txt.",
)
@click.option(
    "--classes",
    type=click.Path(path_type=Path),
    default=None,
    help="Class list: one class folder name (e.g. a WordNet id) a line (default: all folders).",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="Weights file to write (.safetensors); <stem>.pretrained_cfg.json and "
    "<stem>.provenance.json go beside it.",
)
@click.option("--objective", type=click.Choice(OBJECTIVES), default="mae", show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Default: the plugin's.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("--restart", is_flag=True, help="Start again, discarding a checkpoint.")
@click.option("--overwrite", is_flag=True, help="Replace a finished weights file.")
@click.option("--probe/--no-probe", default=True, help="k-NN and linear probe on val at the end.")
@click.option(
    "--disjoint-from",
    default="",
    help="Comma-separated data-set families (e.g. cub,cifar10) the class list leaves out; "
    "written into the pretrained_cfg.",
)
@click.option("--pretrainer", default="cpu-vit", show_default=True, help="Registered pretrainer.")
@click.option("--option", "-o", "options", multiple=True, help="Pretrainer option key=value.")
def pretrain_command(
    data, classes, out, objective, epochs, seed, device, restart, overwrite, probe,
    disjoint_from, pretrainer, options,
) -> None:  # fmt: skip
    """Pre-train a backbone (default: the CPU-scale ViT with MAE) on an image folder."""
    from .options import parse_pairs
    from .plugin_manager import load_plugins
    from .progress import RichProgress

    request = PretrainRequest(
        data=data,
        classes=classes,
        out=out,
        objective=objective,
        epochs=epochs,
        seed=seed,
        device=device,
        restart=restart,
        overwrite=overwrite,
        probe=probe,
        disjoint_from=tuple(p.strip() for p in disjoint_from.split(",") if p.strip()),
        options=parse_pairs(options, "-o"),
    )
    spec = load_plugins().pretrainers.get(pretrainer)
    with RichProgress() as progress:
        figures = spec.load()(request, progress)
    for key, value in figures.items():
        click.echo(f"{key}: {value}")
