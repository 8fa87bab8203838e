"""CUB_200_2011 layout, written here in the real format (text files and real JPEGs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zshbench.datasets.layouts import cub
from zshbench.errors import DatasetError

CLASSES = ["001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross"]
ATTRIBUTES = [
    "has_bill_shape::curved_(up_or_down)",
    "has_bill_shape::dagger",
    "has_wing_color::blue",
    "has_size::large_(16_-_32_in)",
]
PER_CLASS = 2


def _write(path: Path, lines: list[str], newline: str = "\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(newline.join(lines).encode() + newline.encode())


def make_cub(
    root: Path,
    newline: str = "\n",
    names_at: str = "beside",
    class_ids: list[int] | None = None,
) -> Path:
    """A tiny CUB_200_2011 tree in the official layout; the first image is grayscale."""
    folder = root / "CUB_200_2011"
    class_ids = class_ids or list(range(1, len(CLASSES) + 1))
    _write(
        folder / "classes.txt",
        [f"{i} {n}" for i, n in zip(class_ids, CLASSES, strict=True)],
        newline,
    )
    images, labels, split = [], [], []
    rng = np.random.default_rng(0)
    image_id = 0
    for class_id, name in zip(class_ids, CLASSES, strict=True):
        for k in range(PER_CLASS):
            image_id += 1
            relative = f"{name}/{name.split('.')[1]}_{k:04d}_{image_id}.jpg"
            path = folder / "images" / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if image_id == 1:
                Image.fromarray(rng.integers(0, 256, (20, 30), dtype=np.uint8), "L").save(path)
            else:
                pixels = rng.integers(0, 256, (24, 16, 3), dtype=np.uint8)
                Image.fromarray(pixels, "RGB").save(path, "JPEG")
            images.append(f"{image_id} {relative}")
            labels.append(f"{image_id} {class_id}")
            split.append(f"{image_id} {k % 2}")
    _write(folder / "images.txt", images, newline)
    _write(folder / "image_class_labels.txt", labels, newline)
    _write(folder / "train_test_split.txt", split, newline)
    names = [f"{i} {n}" for i, n in enumerate(ATTRIBUTES, 1)]
    names_path = {
        "beside": root / "attributes.txt",
        "attributes": folder / "attributes" / "attributes.txt",
        "inside": folder / "attributes.txt",
    }[names_at]
    _write(names_path, names, newline)
    matrix = _matrix(len(CLASSES), len(ATTRIBUTES))
    _write(folder / cub.MATRIX, [" ".join(repr(float(v)) for v in row) for row in matrix], newline)
    return root


def _matrix(rows: int, columns: int) -> np.ndarray:
    return np.round(np.random.default_rng(1).uniform(0, 100, (rows, columns)), 6)


def _one_line(error: pytest.ExceptionInfo) -> str:
    text = error.value.one_line()
    assert "\n" not in text
    assert "CUB_200_2011" in text
    assert "https://www.vision.caltech.edu/datasets/cub_200_2011/" in text
    return text


def test_loads_real_layout(tmp_path):
    make_cub(tmp_path)
    image_set = cub.load(tmp_path)
    assert len(image_set) == len(CLASSES) * PER_CLASS
    assert image_set.class_names == CLASSES
    np.testing.assert_array_equal(image_set.labels, np.repeat(np.arange(3), PER_CLASS))
    assert image_set.image_ids[0] == "001.Black_footed_Albatross/Black_footed_Albatross_0000_1.jpg"
    assert image_set.attribute_names == [
        "bill shape: curved (up or down)",
        "bill shape: dagger",
        "wing color: blue",
        "size: large (16 - 32 in)",
    ]
    np.testing.assert_allclose(image_set.class_attributes, _matrix(3, 4), rtol=1e-6)
    assert image_set.binary_class_attributes is None
    assert image_set.standard_unseen_classes is None
    # real JPEGs decode; the grayscale one becomes RGB
    gray = image_set.images.load(0)
    assert gray.shape == (20, 30, 3) and gray.dtype == np.uint8
    assert (gray[..., 0] == gray[..., 1]).all()
    assert image_set.images.load(1).shape == (24, 16, 3)


def test_raw_attribute_names_on_request(tmp_path):
    make_cub(tmp_path)
    assert cub.load(tmp_path, readable_names=False).attribute_names == ATTRIBUTES


def test_readable_attribute_name():
    assert cub.readable_attribute_name("has_bill_shape::curved_(up_or_down)") == (
        "bill shape: curved (up or down)"
    )
    assert cub.readable_attribute_name("has_shape::upright-perching_water-like") == (
        "shape: upright-perching water-like"
    )
    assert cub.readable_attribute_name("has_bill_length::about_the_same_as_head") == (
        "bill length: about the same as head"
    )
    assert cub.readable_attribute_name("plain") == "plain"


def test_crlf_and_lf_give_the_same_data(tmp_path):
    lf = cub.load(make_cub(tmp_path / "lf"))
    crlf_root = make_cub(tmp_path / "crlf", newline="\r\n")
    assert b"\r\n" in (crlf_root / "CUB_200_2011" / "classes.txt").read_bytes()
    crlf = cub.load(crlf_root)
    np.testing.assert_array_equal(lf.image_ids, crlf.image_ids)
    np.testing.assert_array_equal(lf.labels, crlf.labels)
    assert lf.class_names == crlf.class_names and lf.attribute_names == crlf.attribute_names
    np.testing.assert_array_equal(lf.class_attributes, crlf.class_attributes)


def test_root_may_be_cub_folder(tmp_path):
    make_cub(tmp_path)
    assert len(cub.load(tmp_path / "CUB_200_2011")) == len(CLASSES) * PER_CLASS


@pytest.mark.parametrize("names_at", ["attributes", "inside"])
def test_attribute_names_file_elsewhere(tmp_path, names_at):
    make_cub(tmp_path, names_at=names_at)
    assert len(cub.load(tmp_path).attribute_names) == len(ATTRIBUTES)


def test_class_set_is_whatever_classes_txt_lists(tmp_path):
    make_cub(tmp_path, class_ids=[5, 17, 42])
    image_set = cub.load(tmp_path)
    assert image_set.class_names == CLASSES
    np.testing.assert_array_equal(image_set.labels, np.repeat(np.arange(3), PER_CLASS))


def test_missing_root(tmp_path):
    with pytest.raises(DatasetError) as error:
        cub.load(tmp_path)
    assert "images.txt" in _one_line(error)
    with pytest.raises(DatasetError):
        cub.load(None)


@pytest.mark.parametrize(
    "relative",
    [
        "CUB_200_2011/classes.txt",
        "CUB_200_2011/image_class_labels.txt",
        "CUB_200_2011/attributes/class_attribute_labels_continuous.txt",
        "attributes.txt",
    ],
)
def test_missing_file_is_named(tmp_path, relative):
    make_cub(tmp_path)
    (tmp_path / relative).unlink()
    with pytest.raises(DatasetError) as error:
        cub.load(tmp_path)
    assert Path(relative).name in _one_line(error)


def test_missing_image(tmp_path):
    make_cub(tmp_path)
    image_set = cub.load(tmp_path)
    missing = tmp_path / "CUB_200_2011" / "images" / image_set.image_ids[3]
    missing.unlink()
    with pytest.raises(DatasetError) as error:
        cub.load(tmp_path)
    assert str(missing) in _one_line(error) and "verify_images" in _one_line(error)
    assert len(cub.load(tmp_path, verify_images=False)) == len(image_set)


def _rewrite(path: Path, edit) -> None:
    lines = path.read_text().splitlines()
    path.write_text("\n".join(edit(lines)) + "\n")


def test_matrix_row_count_must_match_classes(tmp_path):
    make_cub(tmp_path)
    _rewrite(tmp_path / "CUB_200_2011" / cub.MATRIX, lambda lines: lines[:-1])
    with pytest.raises(DatasetError) as error:
        cub.load(tmp_path)
    assert "2 rows, expected 3" in _one_line(error)


def test_matrix_column_count_must_match_attributes(tmp_path):
    make_cub(tmp_path)
    _rewrite(
        tmp_path / "CUB_200_2011" / cub.MATRIX, lambda lines: [*lines[:1], "1 2 3", *lines[2:]]
    )
    with pytest.raises(DatasetError) as error:
        cub.load(tmp_path)
    assert "line 2: 3 columns, expected 4" in _one_line(error)


def test_attribute_names_must_match_matrix(tmp_path):
    make_cub(tmp_path)
    _rewrite(tmp_path / "attributes.txt", lambda lines: [*lines, "5 has_tail::long"])
    with pytest.raises(DatasetError) as error:
        cub.load(tmp_path)
    assert "4 columns, expected 5" in _one_line(error)


def test_non_numeric_matrix(tmp_path):
    make_cub(tmp_path)
    _rewrite(tmp_path / "CUB_200_2011" / cub.MATRIX, lambda lines: ["a b c d", *lines[1:]])
    with pytest.raises(DatasetError) as error:
        cub.load(tmp_path)
    assert "not a row of numbers" in _one_line(error)


def test_label_outside_classes(tmp_path):
    make_cub(tmp_path)
    _rewrite(
        tmp_path / "CUB_200_2011" / "image_class_labels.txt",
        lambda lines: [*lines[:-1], lines[-1].split()[0] + " 9"],
    )
    with pytest.raises(DatasetError) as error:
        cub.load(tmp_path)
    assert "class 9" in _one_line(error) and "classes.txt" in _one_line(error)


def test_image_without_label(tmp_path):
    make_cub(tmp_path)
    _rewrite(tmp_path / "CUB_200_2011" / "image_class_labels.txt", lambda lines: lines[:-1])
    with pytest.raises(DatasetError) as error:
        cub.load(tmp_path)
    assert "no label for image 6" in _one_line(error)


@pytest.mark.parametrize(
    "relative, bad_line, message",
    [
        ("CUB_200_2011/classes.txt", "x 004.Bird", "expected '<integer id> <class name>'"),
        ("CUB_200_2011/classes.txt", "1 004.Bird", "id 1 appears more than once"),
        ("CUB_200_2011/images.txt", "7", "expected '<integer id> <image path>'"),
        ("CUB_200_2011/image_class_labels.txt", "7 1 2", "expected '<image id> <class id>'"),
    ],
)
def test_malformed_lines(tmp_path, relative, bad_line, message):
    make_cub(tmp_path)
    _rewrite(tmp_path / relative, lambda lines: [*lines, bad_line])
    with pytest.raises(DatasetError) as error:
        cub.load(tmp_path)
    assert message in _one_line(error) and Path(relative).name in _one_line(error)


def test_duplicate_image_path(tmp_path):
    make_cub(tmp_path)
    folder = tmp_path / "CUB_200_2011"
    first = (folder / "images.txt").read_text().splitlines()[0].split()[1]
    _rewrite(folder / "images.txt", lambda lines: [*lines, f"7 {first}"])
    _rewrite(folder / "image_class_labels.txt", lambda lines: [*lines, "7 1"])
    with pytest.raises(DatasetError) as error:
        cub.load(tmp_path)
    assert "twice" in _one_line(error)


def test_boolean_options_given_as_text(tmp_path):
    make_cub(tmp_path)
    (tmp_path / "CUB_200_2011" / "images" / CLASSES[0]).rename(tmp_path / "moved")
    assert len(cub.load(tmp_path, verify_images="false")) == len(CLASSES) * PER_CLASS
    with pytest.raises(DatasetError):
        cub.load(tmp_path, verify_images="true")
    with pytest.raises(DatasetError) as error:
        cub.load(tmp_path, verify_images="maybe")
    assert "verify_images='maybe'" in _one_line(error)


# --- issue 10, hostile pass: damaged files, paths that leave the data set, link loops --------


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[:40]), "Truncated"),
        (lambda p: p.write_bytes(b""), "cannot identify image file"),
        (lambda p: p.write_text("<html>404 Not Found</html>"), "cannot identify image file"),
    ],
)
def test_a_damaged_image_is_one_line_naming_the_file(tmp_path, damage, reason):
    make_cub(tmp_path)
    image_set = cub.load(tmp_path)
    path = image_set.images.paths[2]
    damage(path)
    with pytest.raises(DatasetError) as error:
        image_set.images.load(2)
    line = error.value.one_line()
    assert str(path) in line and reason in line and "\n" not in line
    assert image_set.images.load(3).shape == (24, 16, 3)  # the others still load


@pytest.mark.parametrize("entry", ["../../../../../../etc/passwd", "/etc/passwd", "a/../../x.jpg"])
def test_an_image_list_entry_that_leaves_the_data_set_is_refused(tmp_path, entry):
    make_cub(tmp_path)
    listing = tmp_path / "CUB_200_2011" / "images.txt"
    first = listing.read_text().splitlines()[0].split(" ", 1)[1]
    listing.write_text(listing.read_text().replace(first, entry))
    with pytest.raises(DatasetError) as error:
        cub.load(tmp_path, verify_images=False)
    assert "not a path inside images/" in _one_line(error)


@pytest.mark.parametrize(
    "file",
    ["attributes.txt", "CUB_200_2011/attributes/class_attribute_labels_continuous.txt"],
)
def test_a_zero_byte_attribute_file_is_one_line(tmp_path, file):
    make_cub(tmp_path)
    (tmp_path / file).write_bytes(b"")
    with pytest.raises(DatasetError) as error:
        cub.load(tmp_path)
    line = _one_line(error)
    assert Path(file).name in line and ("is empty" in line or "has 0 rows" in line)


def test_a_symlink_loop_in_the_images_folder_is_reported_as_missing_images(tmp_path):
    make_cub(tmp_path)
    images = tmp_path / "CUB_200_2011" / "images" / CLASSES[1]
    for file in images.iterdir():
        file.unlink()
    images.rmdir()
    images.symlink_to(CLASSES[1])  # points at itself
    with pytest.raises(DatasetError) as error:
        cub.load(tmp_path)
    assert f"2 of the {len(CLASSES) * PER_CLASS} images" in _one_line(error)


def test_a_data_root_that_is_a_symlink_loop_says_so(tmp_path):
    from zshbench.datasets import load_dataset

    (tmp_path / "loop").symlink_to("loop")
    with pytest.raises(DatasetError) as error:
        load_dataset("cub", tmp_path / "loop")
    assert "symbolic link to nothing" in error.value.one_line()
