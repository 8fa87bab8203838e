"""The SUN Attribute loader and the xlsa17 proposed split, on tiny files in the real formats.

The fixtures are MATLAB v5 files written with scipy.io.savemat in the variables and shapes the
publishers ship (images.mat's cell array of "<letter>/<class>[/<sub>]/<file>.jpg" paths,
attributes.mat's cell array of words, labels_cv; xlsa17's att_splits.mat and res101.mat), and
real JPEGs. Expected values are worked out here from the fixture's own numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from zshbench.datasets.base import Protocol
from zshbench.datasets.layouts import sun
from zshbench.datasets.xlsa17 import proposed_unseen_classes
from zshbench.errors import DatasetError
from zshbench.splits import make_split

CLASSES = ["a/abbey", "b/bakery/shop", "b/beach", "c/canyon", "a/airport/entrance", "c/cliff"]
NAMES = ["abbey", "bakery_shop", "beach", "canyon", "airport_entrance", "cliff"]
PER_CLASS = 4
ATTRIBUTES = ["wood", "sand", "natural light", "cluttered space", "vegetation"]


def _cells(strings: list[str]) -> np.ndarray:
    cells = np.empty((len(strings), 1), dtype=object)
    for i, text in enumerate(strings):
        cells[i, 0] = np.array([text])
    return cells


def write_sun(root: Path, images_inside: bool = False) -> tuple[list[str], np.ndarray]:
    """A 6-class SUNAttributeDB/ + images/ in the official layout; returns (paths, labels_cv)."""
    paths = [f"{c}/sun_{c.replace('/', '')}{k}.jpg" for c in CLASSES for k in range(PER_CLASS)]
    rng = np.random.default_rng(0)
    votes = rng.integers(0, 4, size=(len(paths), len(ATTRIBUTES))) / 3.0
    database = root / "SUNAttributeDB"
    database.mkdir(parents=True)
    savemat(database / "images.mat", {"images": _cells(paths)})
    savemat(database / "attributes.mat", {"attributes": _cells(ATTRIBUTES)})
    savemat(database / "attributeLabels_continuous.mat", {"labels_cv": votes})
    images = (database if images_inside else root) / "images"
    for k, path in enumerate(paths):
        (images / path).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (12, 9), (k % 256, 40, 90)).save(images / path)
    return paths, votes


def test_loader_reads_classes_attributes_and_images(tmp_path):
    paths, votes = write_sun(tmp_path)
    imageset = sun.load(tmp_path)
    assert imageset.name == "sun" and imageset.class_names == NAMES
    assert imageset.image_ids.tolist() == paths
    assert imageset.labels.tolist() == [k // PER_CLASS for k in range(len(paths))]
    assert imageset.attribute_names == ATTRIBUTES
    for c in range(len(NAMES)):  # the class-level matrix is the mean of its images' votes
        mean = votes[c * PER_CLASS : (c + 1) * PER_CLASS].mean(axis=0)
        np.testing.assert_allclose(imageset.class_attributes[c], mean, atol=1e-6)
        np.testing.assert_array_equal(imageset.binary_class_attributes[c], mean >= 0.5)
    assert imageset.images.load(5).shape == (9, 12, 3)
    assert sun.load(tmp_path / "SUNAttributeDB").class_names == NAMES  # either level


def test_images_inside_the_database_folder_are_found(tmp_path):
    write_sun(tmp_path, images_inside=True)
    assert len(sun.load(tmp_path)) == len(CLASSES) * PER_CLASS


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        ("no-images", "no images/ folder"),
        ("labels-shape", "labels_cv is (24, 4)"),
        ("labels-range", "not in 0..1"),
        ("not-mat", "not a readable MATLAB v5 file"),
        ("escape", "outside images/"),
        ("missing-image", "are missing"),
        ("no-variable", "has no variable 'attributes'"),
    ],
)
def test_a_broken_layout_is_one_line(tmp_path, damage, words):
    paths, votes = write_sun(tmp_path)
    database = tmp_path / "SUNAttributeDB"
    if damage == "no-images":
        (tmp_path / "images").rename(tmp_path / "pictures")
    elif damage == "labels-shape":
        savemat(database / "attributeLabels_continuous.mat", {"labels_cv": votes[:, :4]})
    elif damage == "labels-range":
        savemat(database / "attributeLabels_continuous.mat", {"labels_cv": votes * 3})
    elif damage == "not-mat":
        (database / "images.mat").write_bytes(b"import os; os.system('echo hi')\n")
    elif damage == "escape":
        savemat(database / "images.mat", {"images": _cells(["../../etc/passwd", *paths[1:]])})
    elif damage == "missing-image":
        (tmp_path / "images" / paths[3]).unlink()
    elif damage == "no-variable":
        savemat(database / "attributes.mat", {"words": _cells(ATTRIBUTES)})
    with pytest.raises(DatasetError, match="SUNAttributeDB layout") as error:
        sun.load(tmp_path)
    assert words in str(error.value) and "\n" not in str(error.value)


def write_xlsa17(root: Path, unseen: list[int], att_classes: int | None = None) -> Path:
    """xlsa17/data/SUN/ with att_splits.mat and res101.mat for the fixture's 24 images."""
    folder = root / "xlsa17" / "data" / "SUN"
    folder.mkdir(parents=True)
    labels = np.repeat(np.arange(1, len(NAMES) + 1), PER_CLASS)[:, None]  # 1-based
    test_unseen = np.flatnonzero(np.isin(labels[:, 0] - 1, unseen)) + 1
    classes = len(NAMES) if att_classes is None else att_classes
    savemat(
        folder / "att_splits.mat",
        {
            "allclasses_names": _cells(NAMES),
            "att": np.ones((len(ATTRIBUTES), classes)),
            "test_unseen_loc": test_unseen[:, None],
        },
    )
    savemat(folder / "res101.mat", {"labels": labels, "features": np.zeros((2, len(labels)))})
    return folder


def test_proposed_unseen_classes_come_from_att_splits(tmp_path):
    write_xlsa17(tmp_path, unseen=[1, 4])
    assert proposed_unseen_classes("sun", tmp_path) == ["airport_entrance", "bakery_shop"]


def test_testclasses_txt_is_the_fallback_and_a_wrong_shape_is_one_line(tmp_path):
    folder = write_xlsa17(tmp_path / "bad", unseen=[1, 4], att_classes=5)
    with pytest.raises(DatasetError, match=r"att is \(5, 5\), but allclasses_names lists 6"):
        proposed_unseen_classes("sun", tmp_path / "bad")
    (folder / "res101.mat").unlink()
    (folder / "testclasses.txt").write_text("beach\ncliff\n")
    assert proposed_unseen_classes("sun", tmp_path / "bad") == ["beach", "cliff"]
    with pytest.raises(DatasetError, match="no xlsa17 files for sun"):
        proposed_unseen_classes("sun", tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="no proposed split for 'digits'"):
        proposed_unseen_classes("digits", tmp_path)


def test_the_proposed_split_of_sun_reads_the_users_xlsa17(tmp_path, monkeypatch):
    write_sun(tmp_path / "sun")
    write_xlsa17(tmp_path / "x", unseen=[2, 5])
    monkeypatch.setenv("ZSHBENCH_XLSA17_ROOT", str(tmp_path / "x"))
    protocol = Protocol(num_seen=4, num_unseen=2, train_per_seen_class=2, query_per_unseen_class=2)
    split = make_split(sun.load(tmp_path / "sun"), protocol, "proposed", {"proposed": ["xlsa17"]})
    assert split.unseen_classes == ["beach", "cliff"]


def test_the_registry_entry_describes_the_published_protocol():
    from zshbench.datasets import resolve_dataset

    spec = resolve_dataset("sun")
    assert spec.loader == "sun" and spec.num_classes == 717
    p = spec.protocol
    assert (p.num_seen, p.num_unseen) == (645, 72)
    assert p.expected_database == 717 * 20 - 645 * 10 - 72 * 10 == 7170
    assert spec.named_splits["proposed"] == ["xlsa17"]
    assert {f.filename for f in spec.download.files} == {
        "SUNAttributeDB.tar.gz",
        "SUNAttributeDB_Images.tar.gz",
    }
