"""Pictures like the paper's Fig. 10–11: each image's patch clusters and their attributes.

For a few training images: the image, its patches coloured by K-means cluster, and per cluster
the own-class attribute the AEM matched it to, the cosine similarity, and whether that passed
the replacement threshold (Eq. 3: replaced) or not (kept). RAZH-C has no clusters; its patches
are grouped by the attribute each one matched. Written with ``--option diagnostics=N``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from plugins.deep.images import Normalizer
from zshbench.results import atomic_write_bytes

from .model import RAZHNet


@torch.no_grad()
def match_patches(
    net: RAZHNet,
    images: torch.Tensor,
    labels: torch.Tensor,
    normalizer: Normalizer,
    device: str = "cpu",
    seed: int = 0,
) -> list[list[dict]]:
    """Per image, per group of patches: {patches, attribute, similarity, replaced}.

    A group is a K-means cluster (RAZH) or, without clustering (RAZH-C), the patches that
    matched the same attribute. Empty clusters are left out.
    """
    if net.aem is None:
        raise ValueError("this network has no attribute embedding module to draw")
    was_training = net.training
    net.eval()
    x = normalizer(images, device)
    tokens = net.patch_tokens(x)
    mixing = net.mix(tokens, labels.to(device), torch.Generator().manual_seed(seed))
    net.train(was_training)
    out = []
    for b in range(len(images)):
        assignment = mixing.assignment[b].cpu().numpy()
        attribute = mixing.attribute[b].cpu().numpy()
        similarity = mixing.similarity[b].float().cpu().numpy()
        passed = mixing.passed[b].cpu().numpy()
        if net.clustering:
            keys = [(k, attribute[k], similarity[k], passed[k]) for k in np.unique(assignment)]
            groups = [
                {"patches": np.flatnonzero(assignment == k), "attribute": int(a),
                 "similarity": float(s), "replaced": bool(p)}
                for k, a, s, p in keys
            ]  # fmt: skip
        else:
            groups = []
            for a in np.unique(attribute):
                members = np.flatnonzero(attribute == a)
                groups.append(
                    {
                        "patches": members,
                        "attribute": int(a),
                        "similarity": float(similarity[members].mean()),
                        "replaced": bool(passed[members].mean() >= 0.5),
                        "replaced_fraction": float(passed[members].mean()),
                    }
                )
        out.append(groups)
    return out


def draw_matches(
    net: RAZHNet,
    images: torch.Tensor,
    labels: torch.Tensor,
    normalizer: Normalizer,
    attribute_names: Sequence[str],
    class_names: Sequence[str],
    path: Path,
    device: str = "cpu",
    seed: int = 0,
    max_listed: int = 9,
) -> Path:
    """Write the PNG (one row per image) to ``path`` atomically; returns ``path``."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = match_patches(net, images, labels, normalizer, device, seed)
    grid_h, grid_w = net.grid_size
    colours = plt.get_cmap("tab10")
    rows = len(images)
    figure, axes = plt.subplots(rows, 3, figsize=(11, 3.2 * rows), squeeze=False)
    for row in range(rows):
        picture = images[row].permute(1, 2, 0).cpu().numpy()
        ax_image, ax_clusters, ax_text = axes[row]
        ax_image.imshow(picture, interpolation="nearest")
        ax_image.set_title(class_names[row], fontsize=9)
        overlay = np.zeros((grid_h * grid_w, 4))
        lines = []
        for index, group in enumerate(groups[row]):
            colour = colours(index % 10)
            overlay[group["patches"]] = (*colour[:3], 0.55 if group["replaced"] else 0.2)
            if index < max_listed:
                name = (
                    attribute_names[group["attribute"]]
                    if attribute_names
                    else str(group["attribute"])
                )
                verdict = "replaced" if group["replaced"] else "kept"
                lines.append((colour, f"{name[:38]}  cos {group['similarity']:.2f} ({verdict})"))
        ax_clusters.imshow(picture, interpolation="nearest")
        height, width = picture.shape[:2]
        ax_clusters.imshow(
            overlay.reshape(grid_h, grid_w, 4),
            extent=(-0.5, width - 0.5, height - 0.5, -0.5),
            interpolation="nearest",
        )
        ax_clusters.set_title(
            f"{len(groups[row])} {'clusters' if net.clustering else 'attribute groups'} "
            "(strong colour: replaced)",
            fontsize=9,
        )
        ax_text.axis("off")
        for line, (colour, text) in enumerate(lines):
            y = 1.0 - (line + 0.5) / max(len(lines), 1)
            swatch = plt.Rectangle(
                (0.0, y - 0.035), 0.05, 0.07, color=colour, transform=ax_text.transAxes
            )
            ax_text.add_patch(swatch)
            ax_text.text(0.08, y, text, fontsize=8, va="center", transform=ax_text.transAxes)
        if len(groups[row]) > max_listed:
            ax_text.set_title(f"first {max_listed} of {len(groups[row])}", fontsize=8)
        for ax in (ax_image, ax_clusters):
            ax.set_xticks([])
            ax.set_yticks([])
    rule = (
        f"threshold {net.threshold:g}"
        if net.replace_ratio is None
        else f"the top {net.replace_ratio:.0%} of patches by similarity replaced"
    )
    figure.suptitle(f"{rule}: attribute each patch group was matched to", fontsize=10)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())
    return path
