"""Xian et al.'s proposed splits (xlsa17) read from the publisher's own files.

``xlsa17.zip`` holds, per data set, ``data/<KEY>/att_splits.mat`` (class names, class-level
attributes and the image indices of each part of the split), ``res101.mat`` (ResNet-101
features and each image's 1-based class label) and the class lists ``trainvalclasses.txt`` /
``testclasses.txt``. The proposed split's unseen classes are the classes of the images at
``test_unseen_loc``: read from the ``.mat`` files when both are there (MATLAB v5 through
``scipy.io.loadmat``: arrays and strings, never pickle), else from ``testclasses.txt``.

Where: ``$ZSHBENCH_XLSA17_ROOT``, else ``<data home>/xlsa17`` (where ``zshbench download
xlsa17`` puts it); either the folder holding ``xlsa17/`` or ``xlsa17/`` itself.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import DatasetError

ROOT_ENV = "ZSHBENCH_XLSA17_ROOT"
# What scipy.io.loadmat raises on a file that is not a well-formed MATLAB v5 file (a short or
# foreign file gives IndexError, a header claiming a huge array MemoryError).
MAT_READ_ERRORS = (ValueError, TypeError, OSError, NotImplementedError, IndexError, KeyError,
                   EOFError, MemoryError, OverflowError)  # fmt: skip
KEYS = {"cub": "CUB", "awa2": "AWA2", "sun": "SUN"}
ADVICE = (
    "Get Xian et al.'s files with 'zshbench download xlsa17' (class lists) or the whole "
    "xlsa17.zip, and point ZSHBENCH_XLSA17_ROOT at the folder that holds xlsa17/."
)


def data_folder(dataset: str, root: str | os.PathLike[str] | None = None) -> Path:
    """``xlsa17/data/<KEY>/`` for ``dataset``, or a one-line error saying where it looked."""
    from . import data_home

    key = KEYS.get(dataset)
    if key is None:
        raise DatasetError(
            f"xlsa17 has no proposed split for {dataset!r}",
            f"It covers {', '.join(sorted(KEYS))}; use a random-<seed> or file:<path> split.",
        )
    base = Path(root or os.environ.get(ROOT_ENV) or data_home() / "xlsa17").expanduser()
    candidates = [base / "xlsa17" / "data" / key, base / "data" / key]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise DatasetError(f"no xlsa17 files for {dataset}: expected {candidates[0]}", ADVICE)


def _mat(path: Path, keys: list[str]) -> dict[str, np.ndarray]:
    from scipy.io import loadmat

    try:
        content = loadmat(path, variable_names=keys)
    except MAT_READ_ERRORS as error:
        raise DatasetError(f"{path} is not a readable MATLAB v5 file ({error})", ADVICE) from None
    missing = [k for k in keys if k not in content]
    if missing:
        raise DatasetError(f"{path} has no variable {missing[0]!r}", ADVICE)
    return content


def _names(cells: np.ndarray) -> list[str]:
    names = []
    for cell in np.asarray(cells, dtype=object).reshape(-1):
        value = cell
        while isinstance(value, np.ndarray) and value.size == 1:
            value = value.reshape(-1)[0]
        names.append(str(value).strip())
    return names


def unseen_from_mat(att_splits: Path, res101: Path) -> list[str]:
    """The proposed split's unseen classes: the classes of the images at ``test_unseen_loc``."""
    splits = _mat(att_splits, ["allclasses_names", "att", "test_unseen_loc"])
    names = _names(splits["allclasses_names"])
    att = np.asarray(splits["att"])
    if att.ndim != 2 or att.shape[1] != len(names):
        raise DatasetError(
            f"{att_splits}: att is {att.shape}, but allclasses_names lists {len(names)} classes "
            "(expected attributes × classes)",
            ADVICE,
        )
    labels = np.asarray(_mat(res101, ["labels"])["labels"]).reshape(-1)
    locations = np.asarray(splits["test_unseen_loc"]).reshape(-1)
    bad_labels = labels.size == 0 or labels.min() < 1 or labels.max() > len(names)
    if bad_labels or locations.size == 0 or locations.min() < 1 or locations.max() > labels.size:
        raise DatasetError(
            f"{att_splits} and {res101} do not fit together: test_unseen_loc must index the "
            f"{labels.size} images of res101.mat, whose labels must be 1..{len(names)}",
            ADVICE,
        )
    return sorted({names[int(label) - 1] for label in labels[locations.astype(np.int64) - 1]})


def proposed_unseen_classes(dataset: str, root: str | os.PathLike[str] | None = None) -> list[str]:
    """Xian et al.'s unseen classes of ``dataset``, from the .mat files or testclasses.txt."""
    folder = data_folder(dataset, root)
    att_splits, res101 = folder / "att_splits.mat", folder / "res101.mat"
    if att_splits.is_file() and res101.is_file():
        return unseen_from_mat(att_splits, res101)
    listed = folder / "testclasses.txt"
    if listed.is_file():
        return [line.strip() for line in listed.read_text("utf-8").splitlines() if line.strip()]
    raise DatasetError(
        f"{folder} has neither att_splits.mat with res101.mat nor testclasses.txt", ADVICE
    )
