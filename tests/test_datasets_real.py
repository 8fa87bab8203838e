"""The loaders on real published metadata and images (../shared/data; skipped when absent)."""

from __future__ import annotations

import numpy as np
import pytest

from zshbench.datasets import load_dataset
from zshbench.datasets.layouts import awa2, cub


def _require(path):
    if not path.exists():
        pytest.skip(f"{path} not present")
    return path


def test_cub_metadata(shared_data):
    root = _require(shared_data / "cub-metadata")
    image_set = cub.load(root, verify_images=False)
    assert len(image_set) == 11788
    assert image_set.num_classes == 200 and len(image_set.attribute_names) == 312
    assert image_set.class_names[0] == "001.Black_footed_Albatross"
    assert image_set.class_names[-1] == "200.Common_Yellowthroat"
    assert image_set.attribute_names[0] == "bill shape: curved (up or down)"
    assert image_set.class_attributes.shape == (200, 312)
    assert image_set.class_attributes.min() >= 0 and image_set.class_attributes.max() <= 100
    counts = np.bincount(image_set.labels, minlength=200)
    assert counts.min() >= 41 and counts.sum() == 11788
    assert image_set.image_ids[0] == (
        "001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg"
    )
    # every image id sits in its class's folder
    for image_id, label in zip(image_set.image_ids[::97], image_set.labels[::97], strict=True):
        assert image_id.split("/")[0] == image_set.class_names[label]


def test_cub_proposed_split_names_exist(shared_data):
    root = _require(shared_data / "cub-metadata")
    image_set = load_dataset("cub", root, verify_images=False)
    from zshbench.plugin_manager import load_plugins

    proposed = load_plugins().datasets.get("cub").named_splits["proposed"]
    assert set(proposed) <= set(image_set.class_names)


def test_awa2_metadata_with_image_list(shared_data):
    root = _require(shared_data / "awa2-metadata")
    image_set = awa2.load(root, image_list="../image_list.txt", verify_images=False)
    assert len(image_set) == 37322
    assert image_set.num_classes == 50 and len(image_set.attribute_names) == 85
    assert image_set.class_names[1] == "grizzly+bear"
    assert image_set.attribute_names[:2] == ["black", "white"]
    assert len(image_set.standard_unseen_classes) == 10
    assert "persian+cat" in image_set.standard_unseen_classes
    assert image_set.class_attributes.shape == (50, 85)
    assert image_set.class_attributes.min() >= 0
    assert set(np.unique(image_set.binary_class_attributes)) == {0, 1}
    assert np.bincount(image_set.labels, minlength=50).min() >= 100

    from zshbench.plugin_manager import load_plugins

    proposed = load_plugins().datasets.get("awa2").named_splits["proposed"]
    assert set(proposed) <= set(image_set.class_names)
    # the proposed split avoids the standard split's unseen classes only partly; both are valid
    assert len(set(proposed)) == 10


def test_awa2_through_registry(shared_data):
    root = _require(shared_data / "awa2-metadata")
    image_set = load_dataset(
        "awa2", root, image_list=str(root / "image_list.txt"), verify_images=False
    )
    assert image_set.name == "awa2" and len(image_set) == 37322


def test_cub_mini64_real_images(shared_data):
    root = _require(shared_data / "cub-mini64")
    image_set = load_dataset("cub-mini64", root)  # verifies all 2,889 files exist
    assert image_set.name == "cub-mini64"
    assert len(image_set) == 2889 and image_set.num_classes == 50
    assert len(image_set.attribute_names) == 312
    assert image_set.class_attributes.shape == (50, 312)
    for index in (0, 1444, 2888):
        image = image_set.images.load(index)
        assert image.shape == (64, 64, 3) and image.dtype == np.uint8
        assert image.std() > 0
