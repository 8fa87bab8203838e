"""The embedded digits data set and its part attributes."""

from __future__ import annotations

import numpy as np
import pytest

from zshbench.datasets.layouts import digits


@pytest.fixture(scope="module")
def image_set():
    return digits.load()


def test_loads_all_real_digits(image_set):
    from sklearn.datasets import load_digits

    assert len(image_set) == 1797
    assert image_set.class_names == [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ]  # fmt: skip
    assert image_set.images.fixed_shape == (8, 8, 1)
    array = image_set.images.load_stack(range(len(image_set)))
    assert array.dtype == np.uint8 and array.min() == 0 and array.max() == 255
    reference = load_digits()
    np.testing.assert_array_equal(image_set.labels, reference.target)
    # 0..16 scaled to 0..255, same pixels
    np.testing.assert_array_equal(array[..., 0], np.rint(reference.images * 255 / 16))
    assert image_set.image_ids[0] == "digits-0000"
    assert image_set.image_ids[-1] == "digits-1796"
    assert np.bincount(image_set.labels).min() >= 174


def test_attribute_matrix_shape_and_names(image_set):
    matrix = image_set.binary_class_attributes
    assert matrix.shape == (10, len(image_set.attribute_names)) == (10, 17)
    assert set(np.unique(matrix)) <= {0, 1}
    np.testing.assert_array_equal(image_set.class_attributes, matrix)
    assert len(set(image_set.attribute_names)) == len(image_set.attribute_names)
    assert image_set.attribute_names[:7] == digits.SEGMENTS
    # rows distinct, with all attributes and with the seven segments alone
    assert len({tuple(row) for row in matrix}) == 10
    assert len({tuple(row[:7]) for row in matrix}) == 10
    # every attribute separates some digits from others
    assert (matrix.sum(0) > 0).all() and (matrix.sum(0) < 10).all()


def _uses(image_set, digit: str) -> set[str]:
    row = image_set.binary_class_attributes[image_set.class_index(digit)]
    return {name for name, value in zip(image_set.attribute_names, row, strict=True) if value}


def test_seven_segment_attributes(image_set):
    segments = set(digits.SEGMENTS)
    assert _uses(image_set, "eight") & segments == segments
    assert _uses(image_set, "one") & segments == {
        "upper right vertical stroke", "lower right vertical stroke",
    }  # fmt: skip
    assert _uses(image_set, "seven") & segments == {
        "top horizontal bar", "upper right vertical stroke", "lower right vertical stroke",
    }  # fmt: skip
    assert "middle horizontal bar" not in _uses(image_set, "zero")
    assert _uses(image_set, "zero") & segments == segments - {"middle horizontal bar"}
    assert _uses(image_set, "four") & segments == {
        "upper left vertical stroke", "middle horizontal bar",
        "upper right vertical stroke", "lower right vertical stroke",
    }  # fmt: skip
    # 2 and 5 are mirror images on the display
    assert "lower left vertical stroke" in _uses(image_set, "two")
    assert "upper left vertical stroke" in _uses(image_set, "five")
    counts = {d: len(_uses(image_set, d) & segments) for d in image_set.class_names}
    assert counts == {
        "zero": 6, "one": 2, "two": 5, "three": 5, "four": 4,
        "five": 5, "six": 6, "seven": 3, "eight": 7, "nine": 6,
    }  # fmt: skip


def test_loop_and_stroke_attributes_are_consistent(image_set):
    with_loop = {d for d in image_set.class_names if "has a closed loop" in _uses(image_set, d)}
    assert with_loop == {"zero", "six", "eight", "nine"}
    for digit in image_set.class_names:
        parts = _uses(image_set, digit)
        for loop_part in (
            "has two closed loops",
            "has a closed loop in the upper half",
            "has a closed loop in the lower half",
            "is one closed loop over its full height",
        ):
            if loop_part in parts:
                assert "has a closed loop" in parts, (digit, loop_part)
        # a digit is either curved or made of straight strokes (1, 4, 7)
        curved = "has a curved stroke" in parts
        assert curved == (digit not in {"one", "four", "seven"}), digit
        # an open bowl is a curve that does not close
        if "has an open bowl" in parts:
            assert curved and "has a closed loop" not in parts
    assert "has two closed loops" in _uses(image_set, "eight")
    assert "has a closed loop in the upper half" in _uses(image_set, "nine")
    assert "has a closed loop in the lower half" in _uses(image_set, "six")
    assert "is one closed loop over its full height" in _uses(image_set, "zero")
    assert "has a straight vertical stem" in _uses(image_set, "one")
    assert "has a long diagonal stroke" in _uses(image_set, "seven")


def test_root_is_ignored():
    assert len(digits.load("/nonexistent")) == 1797
