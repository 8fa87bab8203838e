"""The SUN Attribute database (Patterson & Hays) in the layout of its two official archives.

Layout (``SUNAttributeDB.tar.gz`` and ``SUNAttributeDB_Images.tar.gz`` unpacked side by side)::

    SUNAttributeDB/
        images.mat                      cell array "images": 14,340 paths "a/abbey/sun_x.jpg"
        attributes.mat                  cell array "attributes": 102 attribute words
        attributeLabels_continuous.mat  "labels_cv": 14,340 × 102, the share of 3 annotators
                                        who saw the attribute (0, 1/3, 2/3, 1)
    images/a/abbey/sun_x.jpg            the images (also accepted inside SUNAttributeDB/)

``root`` may be the folder that holds both, or ``SUNAttributeDB/`` itself. The ``.mat`` files
are MATLAB v5 files read with ``scipy.io.loadmat`` (numeric arrays and strings only: no
pickle, no code). A class is an image's folder below its first letter, with a sub-folder
joined by "_" (``a/apartment_building/outdoor/…`` → ``apartment_building_outdoor``), the
names Xian et al.'s xlsa17 class lists use. The class-level attribute matrix is the mean of
``labels_cv`` over each class's images (717 × 102, in 0..1), as xlsa17's ``att`` is built.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .. import bool_option, check_images_exist, dataset_error, find_layout_folder, inside_folder
from ..base import FileImageSource, ImageSet
from ..xlsa17 import MAT_READ_ERRORS

LAYOUT = "SUNAttributeDB"
OBTAIN = "https://cs.brown.edu/~gmpatter/sunattributes.html (SUNAttributeDB.tar.gz, _Images.tar.gz)"
FOLDER = "SUNAttributeDB"


def _loadmat(path: Path, key: str) -> np.ndarray:
    """One variable of a MATLAB v5 file, with one-line errors for a missing or foreign file."""
    from scipy.io import loadmat

    if not path.is_file():
        raise dataset_error(LAYOUT, f"{path} is missing", OBTAIN)
    try:
        content = loadmat(path, variable_names=[key])
    except MAT_READ_ERRORS as error:
        raise dataset_error(
            LAYOUT, f"{path} is not a readable MATLAB v5 file ({error})", OBTAIN
        ) from None
    if key not in content:
        raise dataset_error(LAYOUT, f"{path} has no variable {key!r}", OBTAIN)
    return content[key]


def _strings(cells: np.ndarray, path: Path, what: str) -> list[str]:
    """A MATLAB cell array of strings as Python strings (each cell holds a 1-element array)."""
    out = []
    for cell in np.asarray(cells, dtype=object).reshape(-1):
        value = cell
        while isinstance(value, np.ndarray) and value.dtype == object and value.size == 1:
            value = value.reshape(-1)[0]
        if isinstance(value, np.ndarray) and value.dtype.kind == "U" and value.size == 1:
            value = str(value.reshape(-1)[0])
        if not isinstance(value, str) or not value.strip():
            raise dataset_error(LAYOUT, f"{path}: {what} holds a cell that is not text", OBTAIN)
        out.append(value.strip().replace("\\", "/"))
    return out


def class_of(image_path: str) -> str:
    """``a/abbey/sun_x.jpg`` → ``abbey``; ``a/apartment_building/outdoor/sun_x.jpg`` →
    ``apartment_building_outdoor`` (the folder below the first letter, "_"-joined)."""
    parts = image_path.split("/")
    if len(parts) not in (3, 4) or not parts[-1]:
        raise dataset_error(
            LAYOUT, f"image path {image_path!r} is not <letter>/<class>[/<sub>]/<file>", OBTAIN
        )
    return "_".join(parts[1:-1])


def _images_folder(database: Path) -> Path:
    for candidate in (database.parent / "images", database / "images"):
        if candidate.is_dir():
            return candidate
    raise dataset_error(
        LAYOUT,
        f"no images/ folder beside or inside {database}",
        OBTAIN,
        "Unpack SUNAttributeDB_Images.tar.gz next to SUNAttributeDB/ (it makes images/).",
    )


def _class_attributes(per_image: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    sums = np.zeros((classes, per_image.shape[1]))
    np.add.at(sums, labels, per_image)
    return sums / np.bincount(labels, minlength=classes)[:, None]


def load(root: str | os.PathLike[str] | None = None, *, verify_images: bool = True) -> ImageSet:
    """Every SUN Attribute image, labelled by its scene class; ids are the images.mat paths."""
    verify_images = bool_option(verify_images, "verify_images", LAYOUT, OBTAIN)
    database = find_layout_folder(root, FOLDER, "images.mat", LAYOUT, OBTAIN)
    images_file = database / "images.mat"
    paths = _strings(_loadmat(images_file, "images"), images_file, "images")
    attributes_file = database / "attributes.mat"
    attributes = _strings(_loadmat(attributes_file, "attributes"), attributes_file, "attributes")
    labels_file = database / "attributeLabels_continuous.mat"
    per_image = np.asarray(_loadmat(labels_file, "labels_cv"), dtype=np.float64)
    if per_image.shape != (len(paths), len(attributes)):
        raise dataset_error(
            LAYOUT,
            f"{labels_file}: labels_cv is {per_image.shape}, images.mat and attributes.mat "
            f"say ({len(paths)}, {len(attributes)})",
            OBTAIN,
        )
    if not np.isfinite(per_image).all() or per_image.min() < 0 or per_image.max() > 1:
        raise dataset_error(LAYOUT, f"{labels_file}: labels_cv is not in 0..1", OBTAIN)
    if len(set(paths)) != len(paths):
        raise dataset_error(LAYOUT, f"{images_file} lists an image twice", OBTAIN)
    bad = next((p for p in paths if not inside_folder(p)), None)
    if bad is not None:
        raise dataset_error(LAYOUT, f"{images_file} lists {bad!r}, outside images/", OBTAIN)
    names = [class_of(p) for p in paths]
    class_names = list(dict.fromkeys(names))  # in the order images.mat lists them
    index = {name: k for k, name in enumerate(class_names)}
    labels = np.array([index[n] for n in names], dtype=np.int64)
    folder = _images_folder(database)
    files = [folder / p for p in paths]
    if verify_images:
        check_images_exist(files, str(images_file), LAYOUT, OBTAIN)
    continuous = _class_attributes(per_image, labels, len(class_names))
    return ImageSet(
        name="sun",
        image_ids=np.asarray(paths),
        labels=labels,
        class_names=class_names,
        images=FileImageSource(files),
        attribute_names=attributes,
        class_attributes=continuous.astype(np.float32),
        binary_class_attributes=(continuous >= 0.5).astype(np.int64),
    )
