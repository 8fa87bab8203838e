"""Caltech-UCSD Birds (CUB-200-2011) in the layout of its official tarball.

Layout::

    <root>/attributes.txt                      312 lines "<id> has_bill_shape::dagger"
    <root>/CUB_200_2011/classes.txt            "<class id> 001.Black_footed_Albatross"
    <root>/CUB_200_2011/images.txt             "<image id> <class folder>/<file>.jpg"
    <root>/CUB_200_2011/image_class_labels.txt "<image id> <class id>"
    <root>/CUB_200_2011/train_test_split.txt   (not used: the zero-shot protocol re-splits)
    <root>/CUB_200_2011/images/<class folder>/<file>.jpg
    <root>/CUB_200_2011/attributes/class_attribute_labels_continuous.txt
                                               one row per class, one column per attribute,
                                               the percentage (0..100) of the class's images
                                               annotated with the attribute

``root`` may be the folder that contains ``CUB_200_2011/`` or ``CUB_200_2011/`` itself;
``attributes.txt`` is also accepted inside ``CUB_200_2011/attributes/`` or ``CUB_200_2011/``
(where some repackaged copies put it). The class set is whatever ``classes.txt`` lists (200
classes in the real data set, 50 in the cub-mini64 development copy), and the matrix must have
one row per listed class, in that order. Line endings may be CRLF or LF.

Attribute names are made readable for the text encoder
(``has_bill_shape::curved_(up_or_down)`` → ``bill shape: curved (up or down)``); pass
``readable_names=False`` to keep the raw names. CUB ships no binary class-attribute matrix, so
``binary_class_attributes`` is None.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np

from .. import (
    bool_option,
    check_images_exist,
    dataset_error,
    find_layout_folder,
    inside_folder,
    read_id_table,
    read_lines,
    read_matrix,
)
from ..base import FileImageSource, ImageSet

LAYOUT = "CUB_200_2011"
OBTAIN = "https://www.vision.caltech.edu/datasets/cub_200_2011/ (CUB_200_2011.tgz)"
FOLDER = "CUB_200_2011"
MATRIX = Path("attributes") / "class_attribute_labels_continuous.txt"


def readable_attribute_name(raw: str) -> str:
    """``has_bill_shape::curved_(up_or_down)`` → ``bill shape: curved (up or down)``.

    Text encoders see words, not identifiers; the part ("bill shape") and its value ("curved")
    stay separate so that part-level structure survives.
    """
    part, sep, value = raw.partition("::")
    if part.startswith("has_"):
        part = part[len("has_") :]
    part = part.replace("_", " ").strip()
    if not sep:
        return part
    return f"{part}: {value.replace('_', ' ').strip()}"


def find_cub_folder(root: str | os.PathLike[str] | None) -> Path:
    """``CUB_200_2011/``: ``root`` itself or the folder inside it."""
    return find_layout_folder(root, FOLDER, "images.txt", LAYOUT, OBTAIN)


def find_attribute_names_file(cub: Path) -> Path:
    """``attributes.txt``: beside ``CUB_200_2011/`` (official tarball) or inside it."""
    candidates = [cub.parent / "attributes.txt", cub / "attributes" / "attributes.txt"]
    candidates.append(cub / "attributes.txt")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise dataset_error(
        LAYOUT,
        f"expected the attribute names in {candidates[0]} (or {candidates[1]}), "
        "which does not exist",
        OBTAIN,
        "The official tarball puts attributes.txt beside CUB_200_2011/",
    )


def _image_labels(path: Path) -> dict[int, int]:
    labels: dict[int, int] = {}
    for number, line in read_lines(path, LAYOUT, OBTAIN):
        parts = line.split()
        if len(parts) != 2 or not all(p.lstrip("-").isdigit() for p in parts):
            raise dataset_error(
                LAYOUT,
                f"{path} line {number}: expected '<image id> <class id>', got {line[:80]!r}",
                OBTAIN,
            )
        image_id, class_id = int(parts[0]), int(parts[1])
        if image_id in labels:
            raise dataset_error(LAYOUT, f"{path}: image id {image_id} appears twice", OBTAIN)
        labels[image_id] = class_id
    return labels


def load(
    root: str | os.PathLike[str] | None = None,
    *,
    verify_images: bool = True,
    readable_names: bool = True,
) -> ImageSet:
    """All images listed in ``images.txt``, labelled by ``image_class_labels.txt``.

    ``verify_images=False`` skips checking that each image file exists, for metadata-only
    copies (computing a split, testing); image ids are the relative paths of ``images.txt``.
    """
    verify_images = bool_option(verify_images, "verify_images", LAYOUT, OBTAIN)
    readable_names = bool_option(readable_names, "readable_names", LAYOUT, OBTAIN)
    cub = find_cub_folder(root)
    classes = read_id_table(cub / "classes.txt", LAYOUT, OBTAIN, "class name")
    class_names = [name for _, name in classes]
    if len(set(class_names)) != len(class_names):
        raise dataset_error(LAYOUT, f"{cub / 'classes.txt'} lists a class name twice", OBTAIN)
    class_index = {class_id: k for k, (class_id, _) in enumerate(classes)}

    images = read_id_table(cub / "images.txt", LAYOUT, OBTAIN, "image path")
    labels_by_image = _image_labels(cub / "image_class_labels.txt")
    labels = np.empty(len(images), dtype=np.int64)
    for k, (image_id, relative) in enumerate(images):
        if image_id not in labels_by_image:
            raise dataset_error(
                LAYOUT,
                f"{cub / 'image_class_labels.txt'} has no label for image {image_id} "
                f"({relative}) of images.txt",
                OBTAIN,
            )
        class_id = labels_by_image[image_id]
        if class_id not in class_index:
            raise dataset_error(
                LAYOUT,
                f"{cub / 'image_class_labels.txt'}: image {image_id} has class {class_id}, "
                f"which {cub / 'classes.txt'} does not list",
                OBTAIN,
            )
        labels[k] = class_index[class_id]
    extra = len(set(labels_by_image) - {image_id for image_id, _ in images})
    if extra:
        raise dataset_error(
            LAYOUT,
            f"{cub / 'image_class_labels.txt'} labels {extra} image id(s) that images.txt "
            "does not list",
            OBTAIN,
        )

    names_file = find_attribute_names_file(cub)
    raw_names = [name for _, name in read_id_table(names_file, LAYOUT, OBTAIN, "attribute")]
    matrix = read_matrix(
        cub / MATRIX, LAYOUT, OBTAIN, rows=len(class_names), columns=len(raw_names)
    )

    relatives = [relative for _, relative in images]
    for relative in relatives:
        if not inside_folder(relative):
            raise dataset_error(
                LAYOUT,
                f"{cub / 'images.txt'} lists {relative!r}, which is not a path inside images/",
                OBTAIN,
            )
    if len(set(relatives)) != len(relatives):
        duplicate = Counter(relatives).most_common(1)[0][0]
        raise dataset_error(
            LAYOUT, f"{cub / 'images.txt'} lists the image {duplicate} twice", OBTAIN
        )
    paths = [cub / "images" / relative for relative in relatives]
    if verify_images:
        check_images_exist(paths, "images.txt", LAYOUT, OBTAIN)

    attribute_names = (
        [readable_attribute_name(n) for n in raw_names] if readable_names else list(raw_names)
    )
    if len(set(attribute_names)) != len(attribute_names):
        attribute_names = list(raw_names)  # never merge two attributes under one name
    return ImageSet(
        name="cub",
        image_ids=np.asarray(relatives),
        labels=labels,
        class_names=class_names,
        images=FileImageSource(paths),
        attribute_names=attribute_names,
        class_attributes=matrix.astype(np.float32),
        binary_class_attributes=None,
        standard_unseen_classes=None,
    )
