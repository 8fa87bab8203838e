"""Animals with Attributes 2 (AWA2) in the layout of its official archive.

Layout::

    Animals_with_Attributes2/
        classes.txt                     "<id>\\t<name>", 50 lines ("grizzly+bear")
        predicates.txt                  "<id>\\t<name>", 85 lines ("black", "stripes", ...)
        predicate-matrix-continuous.txt 50 × 85, 0..100 (−1 marks "missing" in some copies)
        predicate-matrix-binary.txt     50 × 85, 0/1
        trainclasses.txt, testclasses.txt  the standard 40/10 split (Lampert et al.)
        JPEGImages/<class>/<file>.jpg   37,322 images

``root`` may be the folder that contains ``Animals_with_Attributes2/`` or that folder itself.
Images are listed from ``JPEGImages/`` (sorted by relative path), or taken from the
``image_list`` option: a text file of ``<class>/<file>.jpg`` lines, for copies that have the
metadata but not the 13 GB of images (with ``verify_images=False``).

Continuous matrix: entries of −1 mean "missing" in some distributions of the file; they are
read as 0 (no annotator reported the attribute), the value the official file itself has there.
``standard_unseen_classes`` are the classes of ``testclasses.txt``.
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
    read_name_list,
)
from ..base import FileImageSource, ImageSet

LAYOUT = "Animals_with_Attributes2"
OBTAIN = "https://cvml.ista.ac.at/AwA2/ (AwA2-data.zip)"
FOLDER = "Animals_with_Attributes2"
IMAGES = "JPEGImages"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
MISSING = -1.0


def find_awa2_folder(root: str | os.PathLike[str] | None) -> Path:
    """``Animals_with_Attributes2/``: ``root`` itself or the folder inside it."""
    return find_layout_folder(root, FOLDER, "classes.txt", LAYOUT, OBTAIN)


def _class_split(path: Path, class_names: list[str]) -> list[str]:
    names = read_name_list(path, LAYOUT, OBTAIN)
    unknown = [n for n in names if n not in class_names]
    if unknown:
        raise dataset_error(
            LAYOUT, f"{path} lists {unknown[0]!r}, which classes.txt does not list", OBTAIN
        )
    if len(set(names)) != len(names):
        raise dataset_error(LAYOUT, f"{path} lists a class twice", OBTAIN)
    return names


def _resolve_image_list(image_list: str | os.PathLike[str], awa: Path) -> Path:
    """An absolute path as is; a relative one against the AWA2 folder first, then the CWD."""
    path = Path(image_list).expanduser()
    if path.is_absolute():
        candidates = [path]
    else:
        candidates = [awa / path, path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
        if candidate.exists():  # a folder, a device, a FIFO: reading it would fail or hang
            raise dataset_error(LAYOUT, f"the image list {candidate} is not a regular file", OBTAIN)
    raise dataset_error(
        LAYOUT,
        f"expected the image list {candidates[0]}, which does not exist",
        OBTAIN,
        "The image_list option is a text file of '<class>/<file>.jpg' lines, relative to "
        f"{IMAGES}/",
    )


def _listed_images(path: Path) -> list[str]:
    relatives = []
    for number, line in read_lines(path, LAYOUT, OBTAIN):
        relative = line.replace("\\", "/")
        if f"{IMAGES}/" in relative:
            relative = relative.split(f"{IMAGES}/", 1)[1]
        if len(relative.split("/")) != 2 or " " in relative or not inside_folder(relative):
            raise dataset_error(
                LAYOUT,
                f"{path} line {number}: expected '<class>/<file>.jpg', got {line[:80]!r}",
                OBTAIN,
            )
        relatives.append(relative)
    return relatives


def _enumerate_images(awa: Path) -> list[str]:
    folder = awa / IMAGES
    if not folder.is_dir():
        raise dataset_error(
            LAYOUT,
            f"expected the image folder {folder}, which does not exist",
            OBTAIN,
            "For a metadata-only copy pass the loader options image_list=<file> and "
            "verify_images=false",
        )
    relatives = [
        f"{sub.name}/{file.name}"
        for sub in folder.iterdir()
        if sub.is_dir()
        for file in sub.iterdir()
        if file.suffix.lower() in IMAGE_SUFFIXES and file.is_file()
    ]
    if not relatives:
        raise dataset_error(LAYOUT, f"{folder} holds no images in <class>/ folders", OBTAIN)
    return sorted(relatives)


def load(
    root: str | os.PathLike[str] | None = None,
    *,
    image_list: str | os.PathLike[str] | None = None,
    verify_images: bool = True,
) -> ImageSet:
    """Every AWA2 image, labelled by its class folder; ids are ``<class>/<file>.jpg``.

    ``image_list`` replaces listing ``JPEGImages/`` (relative paths are tried against the
    ``Animals_with_Attributes2`` folder, then the working directory); ``verify_images=False``
    skips checking that each listed file exists.
    """
    verify_images = bool_option(verify_images, "verify_images", LAYOUT, OBTAIN)
    awa = find_awa2_folder(root)
    class_names = [name for _, name in read_id_table(awa / "classes.txt", LAYOUT, OBTAIN)]
    if len(set(class_names)) != len(class_names):
        raise dataset_error(LAYOUT, f"{awa / 'classes.txt'} lists a class name twice", OBTAIN)
    predicates = [name for _, name in read_id_table(awa / "predicates.txt", LAYOUT, OBTAIN)]
    shape = {"rows": len(class_names), "columns": len(predicates)}

    continuous_file = awa / "predicate-matrix-continuous.txt"
    continuous = read_matrix(continuous_file, LAYOUT, OBTAIN, **shape)
    invalid = (continuous < 0) & (continuous != MISSING)
    if invalid.any():
        raise dataset_error(
            LAYOUT, f"{continuous_file} has a negative value other than -1 (missing)", OBTAIN
        )
    continuous[continuous == MISSING] = 0.0  # documented: missing -> 0
    binary_file = awa / "predicate-matrix-binary.txt"
    binary = read_matrix(binary_file, LAYOUT, OBTAIN, **shape)
    if not np.isin(binary, (0.0, 1.0)).all():
        raise dataset_error(LAYOUT, f"{binary_file} has values other than 0 and 1", OBTAIN)

    train = _class_split(awa / "trainclasses.txt", class_names)
    test = _class_split(awa / "testclasses.txt", class_names)
    overlap = sorted(set(train) & set(test))
    if overlap:
        raise dataset_error(
            LAYOUT, f"{overlap[0]!r} is in both trainclasses.txt and testclasses.txt", OBTAIN
        )

    if image_list is not None:
        list_file = _resolve_image_list(image_list, awa)
        relatives = _listed_images(list_file)
        source = str(list_file)
    else:
        relatives = _enumerate_images(awa)
        source = str(awa / IMAGES)
    if not relatives:
        raise dataset_error(LAYOUT, f"{source} lists no images", OBTAIN)
    counts = Counter(relatives)
    duplicate, times = counts.most_common(1)[0]
    if times > 1:
        raise dataset_error(LAYOUT, f"{source} lists the image {duplicate} twice", OBTAIN)
    class_index = {name: k for k, name in enumerate(class_names)}
    labels = np.empty(len(relatives), dtype=np.int64)
    for k, relative in enumerate(relatives):
        folder = relative.split("/", 1)[0]
        if folder not in class_index:
            raise dataset_error(
                LAYOUT,
                f"{source}: image {relative} is in the folder {folder!r}, which classes.txt "
                "does not list",
                OBTAIN,
            )
        labels[k] = class_index[folder]

    paths = [awa / IMAGES / relative for relative in relatives]
    if verify_images:
        check_images_exist(paths, source, LAYOUT, OBTAIN)

    return ImageSet(
        name="awa2",
        image_ids=np.asarray(relatives),
        labels=labels,
        class_names=class_names,
        images=FileImageSource(paths),
        attribute_names=predicates,
        class_attributes=continuous.astype(np.float32),
        binary_class_attributes=binary.astype(np.int64),
        standard_unseen_classes=test,
    )
