"""Animals_with_Attributes2 layout, written here in the real format (text files, JPEGs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zshbench.datasets.layouts import awa2
from zshbench.errors import DatasetError

CLASSES = ["antelope", "grizzly+bear", "killer+whale", "persian+cat"]
PREDICATES = ["black", "white", "stripes", "hooves", "swims"]
TRAIN = ["antelope", "grizzly+bear", "killer+whale"]
TEST = ["persian+cat"]
PER_CLASS = 2


def _write(path: Path, lines: list[str], newline: str = "\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(newline.join(lines).encode() + newline.encode())


def _continuous() -> np.ndarray:
    matrix = np.round(np.random.default_rng(2).uniform(0, 100, (4, 5)), 2)
    matrix[1, 2] = -1.0  # "missing" in some distributions
    return matrix


def _binary() -> np.ndarray:
    return (_continuous() > 50).astype(int)


def make_awa2(root: Path, newline: str = "\n", with_images: bool = True) -> Path:
    """A tiny Animals_with_Attributes2 folder (tab-separated id files as in the real archive)."""
    folder = root / "Animals_with_Attributes2"
    _write(folder / "classes.txt", [f"{i:6d}\t{n}" for i, n in enumerate(CLASSES, 1)], newline)
    _write(
        folder / "predicates.txt", [f"{i:6d}\t{n}" for i, n in enumerate(PREDICATES, 1)], newline
    )
    _write(
        folder / "predicate-matrix-continuous.txt",
        ["  ".join(f"{v:6.2f}" for v in row) for row in _continuous()],
        newline,
    )
    _write(
        folder / "predicate-matrix-binary.txt",
        [" ".join(str(v) for v in row) for row in _binary()],
        newline,
    )
    _write(folder / "trainclasses.txt", TRAIN, newline)
    _write(folder / "testclasses.txt", TEST, newline)
    relatives = []
    rng = np.random.default_rng(3)
    for name in reversed(CLASSES):  # written out of order: the loader sorts
        for k in range(PER_CLASS, 0, -1):
            relative = f"{name}/{name}_{10000 + k}.jpg"
            relatives.append(relative)
            if with_images:
                path = folder / "JPEGImages" / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                pixels = rng.integers(0, 256, (12, 18, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(path, "JPEG")
    _write(root / "image_list.txt", relatives, newline)
    return root


def _one_line(error: pytest.ExceptionInfo) -> str:
    text = error.value.one_line()
    assert "\n" not in text
    assert "Animals_with_Attributes2" in text and "https://cvml.ista.ac.at/AwA2/" in text
    return text


def test_loads_real_layout(tmp_path):
    make_awa2(tmp_path)
    image_set = awa2.load(tmp_path)
    assert len(image_set) == len(CLASSES) * PER_CLASS
    assert image_set.class_names == CLASSES
    assert image_set.attribute_names == PREDICATES
    ids = image_set.image_ids.tolist()
    assert ids == sorted(ids)
    assert ids[0] == "antelope/antelope_10001.jpg"
    for image_id, label in zip(ids, image_set.labels, strict=True):
        assert image_id.split("/")[0] == CLASSES[label]
    expected = _continuous()
    expected[1, 2] = 0.0  # missing -> 0
    np.testing.assert_allclose(image_set.class_attributes, expected, atol=1e-5)
    np.testing.assert_array_equal(image_set.binary_class_attributes, _binary())
    assert image_set.standard_unseen_classes == TEST
    assert image_set.images.load(0).shape == (12, 18, 3)


def test_root_may_be_the_awa2_folder(tmp_path):
    make_awa2(tmp_path)
    a = awa2.load(tmp_path)
    b = awa2.load(tmp_path / "Animals_with_Attributes2")
    np.testing.assert_array_equal(a.image_ids, b.image_ids)


def test_crlf_and_lf_give_the_same_data(tmp_path):
    lf = awa2.load(make_awa2(tmp_path / "lf"))
    crlf = awa2.load(make_awa2(tmp_path / "crlf", newline="\r\n"))
    np.testing.assert_array_equal(lf.image_ids, crlf.image_ids)
    np.testing.assert_array_equal(lf.labels, crlf.labels)
    assert lf.class_names == crlf.class_names and lf.attribute_names == crlf.attribute_names
    assert lf.standard_unseen_classes == crlf.standard_unseen_classes
    np.testing.assert_array_equal(lf.class_attributes, crlf.class_attributes)


def test_image_list_without_images(tmp_path):
    make_awa2(tmp_path, with_images=False)
    listed = (tmp_path / "image_list.txt").read_text().split()
    # relative to the Animals_with_Attributes2 folder, as in the shared metadata copy
    image_set = awa2.load(tmp_path, image_list="../image_list.txt", verify_images=False)
    assert image_set.image_ids.tolist() == listed  # the list's own order
    for image_id, label in zip(image_set.image_ids, image_set.labels, strict=True):
        assert image_id.split("/")[0] == CLASSES[label]
    # an absolute path works too
    again = awa2.load(tmp_path, image_list=tmp_path / "image_list.txt", verify_images=False)
    np.testing.assert_array_equal(again.image_ids, image_set.image_ids)
    with pytest.raises(DatasetError) as error:
        awa2.load(tmp_path, image_list="../image_list.txt")
    assert "JPEGImages" in _one_line(error) and "verify_images" in _one_line(error)


def test_image_list_with_images_is_verified(tmp_path):
    make_awa2(tmp_path)
    image_set = awa2.load(tmp_path, image_list=tmp_path / "image_list.txt")
    assert len(image_set) == len(CLASSES) * PER_CLASS


def test_missing_images_folder_suggests_image_list(tmp_path):
    make_awa2(tmp_path, with_images=False)
    with pytest.raises(DatasetError) as error:
        awa2.load(tmp_path)
    assert "JPEGImages" in _one_line(error) and "image_list" in _one_line(error)


def test_missing_image_list(tmp_path):
    make_awa2(tmp_path)
    with pytest.raises(DatasetError) as error:
        awa2.load(tmp_path, image_list="nope.txt")
    assert "nope.txt" in _one_line(error)


def test_image_list_unknown_class(tmp_path):
    make_awa2(tmp_path, with_images=False)
    with (tmp_path / "image_list.txt").open("a") as handle:
        handle.write("unicorn/unicorn_1.jpg\n")
    with pytest.raises(DatasetError) as error:
        awa2.load(tmp_path, image_list=tmp_path / "image_list.txt", verify_images=False)
    assert "'unicorn'" in _one_line(error)


def test_image_list_malformed_line(tmp_path):
    make_awa2(tmp_path, with_images=False)
    with (tmp_path / "image_list.txt").open("a") as handle:
        handle.write("just_a_file.jpg\n")
    with pytest.raises(DatasetError) as error:
        awa2.load(tmp_path, image_list=tmp_path / "image_list.txt", verify_images=False)
    assert "expected '<class>/<file>.jpg'" in _one_line(error)


def test_unknown_image_folder(tmp_path):
    make_awa2(tmp_path)
    extra = tmp_path / "Animals_with_Attributes2" / "JPEGImages" / "unicorn" / "u.jpg"
    extra.parent.mkdir()
    Image.new("RGB", (4, 4)).save(extra)
    with pytest.raises(DatasetError) as error:
        awa2.load(tmp_path)
    assert "'unicorn'" in _one_line(error)


def test_missing_root(tmp_path):
    with pytest.raises(DatasetError) as error:
        awa2.load(tmp_path)
    assert "classes.txt" in _one_line(error)


@pytest.mark.parametrize(
    "name",
    [
        "predicates.txt",
        "predicate-matrix-continuous.txt",
        "predicate-matrix-binary.txt",
        "trainclasses.txt",
        "testclasses.txt",
    ],
)
def test_missing_file_is_named(tmp_path, name):
    make_awa2(tmp_path)
    (tmp_path / "Animals_with_Attributes2" / name).unlink()
    with pytest.raises(DatasetError) as error:
        awa2.load(tmp_path)
    assert name in _one_line(error)


def _rewrite(path: Path, edit) -> None:
    lines = path.read_text().splitlines()
    path.write_text("\n".join(edit(lines)) + "\n")


@pytest.mark.parametrize(
    "name, edit, message",
    [
        ("predicate-matrix-continuous.txt", lambda lines: lines[:-1], "3 rows, expected 4"),
        ("predicate-matrix-binary.txt", lambda lines: [*lines, "0 0 0 0 0"], "5 rows, expected 4"),
        ("predicate-matrix-binary.txt", lambda lines: ["0 1 0", *lines[1:]], "3 columns"),
        ("predicate-matrix-binary.txt", lambda lines: ["0 1 0 2 0", *lines[1:]], "other than 0"),
        ("predicate-matrix-continuous.txt", lambda lines: ["-5 1 1 1 1", *lines[1:]], "-1"),
        ("testclasses.txt", lambda lines: [*lines, "unicorn"], "'unicorn'"),
        ("trainclasses.txt", lambda lines: [*lines, "persian+cat"], "both"),
        ("classes.txt", lambda lines: [*lines, "antelope"], "expected '<integer id> <name>'"),
    ],
)
def test_malformed_files(tmp_path, name, edit, message):
    make_awa2(tmp_path)
    _rewrite(tmp_path / "Animals_with_Attributes2" / name, edit)
    with pytest.raises(DatasetError) as error:
        awa2.load(tmp_path)
    assert message in _one_line(error) and name in _one_line(error)


def test_an_image_list_that_is_not_a_regular_file_is_refused(tmp_path):
    make_awa2(tmp_path, with_images=False)
    with pytest.raises(DatasetError) as error:
        awa2.load(tmp_path, image_list="/dev/zero", verify_images=False)  # would never end
    assert "/dev/zero is not a regular file" in _one_line(error)


@pytest.mark.parametrize("entry", ["../bobcat/x.jpg", "bobcat/..", "/abs/x.jpg"])
def test_an_image_list_entry_that_leaves_the_images_folder_is_refused(tmp_path, entry):
    make_awa2(tmp_path, with_images=False)
    listing = tmp_path / "image_list.txt"
    listing.write_text(listing.read_text() + entry + "\n")
    with pytest.raises(DatasetError) as error:
        awa2.load(tmp_path, image_list=str(listing), verify_images=False)
    assert "expected '<class>/<file>.jpg'" in _one_line(error)
