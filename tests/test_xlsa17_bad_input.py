"""Xian et al.'s files that do not fit are each one line that says what to do: a file that is
not MATLAB v5, a missing variable, and test_unseen_loc or labels outside their ranges."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.io import savemat
from test_datasets_sun import NAMES, _cells, write_xlsa17

from zshbench.datasets.xlsa17 import proposed_unseen_classes
from zshbench.errors import DatasetError


def _one_line(error: pytest.ExceptionInfo) -> str:
    text = str(error.value)
    assert "\n" not in text and error.value.hint
    return text


def test_a_file_that_is_not_matlab_is_one_line(tmp_path):
    folder = write_xlsa17(tmp_path, unseen=[1])
    (folder / "att_splits.mat").write_bytes(b"not a matlab file at all")
    with pytest.raises(DatasetError) as error:
        proposed_unseen_classes("sun", tmp_path)
    assert "not a readable MATLAB v5 file" in _one_line(error)


def test_a_missing_variable_is_named(tmp_path):
    folder = write_xlsa17(tmp_path, unseen=[1])
    savemat(folder / "att_splits.mat", {"allclasses_names": _cells(NAMES), "att": np.ones((5, 6))})
    with pytest.raises(DatasetError) as error:
        proposed_unseen_classes("sun", tmp_path)
    assert "has no variable 'test_unseen_loc'" in _one_line(error)


@pytest.mark.parametrize(
    "locations, labels",
    [
        (np.array([[0]]), None),  # MATLAB indices start at 1
        (np.array([[25]]), None),  # the fixture has 24 images
        (np.array([[1]]), np.full((24, 1), 7)),  # 6 classes: label 7 names none
    ],
)
def test_locations_and_labels_out_of_range_are_one_line(tmp_path, locations, labels):
    folder = write_xlsa17(tmp_path, unseen=[1])
    savemat(
        folder / "att_splits.mat",
        {"allclasses_names": _cells(NAMES), "att": np.ones((5, 6)), "test_unseen_loc": locations},
    )
    if labels is not None:
        savemat(folder / "res101.mat", {"labels": labels})
    with pytest.raises(DatasetError) as error:
        proposed_unseen_classes("sun", tmp_path)
    assert "do not fit together" in _one_line(error)


def test_a_one_dimensional_att_is_the_wrong_shape(tmp_path):
    folder = write_xlsa17(tmp_path, unseen=[1])
    savemat(
        folder / "att_splits.mat",
        {"allclasses_names": _cells(NAMES), "att": np.ones(5), "test_unseen_loc": np.array([[1]])},
    )
    with pytest.raises(DatasetError) as error:
        proposed_unseen_classes("sun", tmp_path)
    assert "att is" in _one_line(error) and "attributes × classes" in str(error.value)
