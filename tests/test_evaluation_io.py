"""Reading a user's codes file: formats accepted, and clear errors for everything else."""

from __future__ import annotations

import numpy as np
import pytest

from zshbench.errors import ZshbenchError
from zshbench.evaluation import load_codes_file, mean_average_precision, pack_codes


def _arrays(bits: int = 12):
    rng = np.random.default_rng(bits)
    return {
        "query_codes": rng.choice(np.array([-1, 1], np.int8), (5, bits)),
        "query_labels": rng.integers(0, 3, 5),
        "db_codes": rng.choice(np.array([-1, 1], np.int8), (40, bits)),
        "db_labels": rng.integers(0, 3, 40),
    }


@pytest.mark.parametrize("form", ["signs", "binary", "packed", "float"])
@pytest.mark.parametrize("bits", [1, 12, 16])
def test_round_trip(tmp_path, form, bits):
    arrays = _arrays(bits)
    saved = dict(arrays)
    if form == "binary":
        saved["query_codes"] = (arrays["query_codes"] > 0).astype(np.uint8)
        saved["db_codes"] = (arrays["db_codes"] > 0).astype(np.uint8)
        saved["bits"] = np.array(bits)  # uint8 with exactly `bits` columns: not packed
    elif form == "packed":
        saved["query_codes"] = pack_codes(arrays["query_codes"])
        saved["db_codes"] = pack_codes(arrays["db_codes"])
        saved["bits"] = np.array(bits)
    elif form == "float":
        saved["query_codes"] = arrays["query_codes"].astype(np.float32)
        saved["db_codes"] = arrays["db_codes"].astype(np.float32)
    np.savez(tmp_path / "codes.npz", **saved)
    q, ql, db, dbl = load_codes_file(tmp_path / "codes.npz")
    assert q.dtype == np.int8 and db.dtype == np.int8
    assert np.array_equal(q, arrays["query_codes"]) and np.array_equal(db, arrays["db_codes"])
    assert np.array_equal(ql, arrays["query_labels"]) and np.array_equal(dbl, arrays["db_labels"])
    assert mean_average_precision(q, ql, db, dbl, topk=10) == mean_average_precision(
        arrays["query_codes"], arrays["query_labels"], arrays["db_codes"], arrays["db_labels"], 10
    )


def test_missing_file(tmp_path):
    with pytest.raises(ZshbenchError, match="not found") as info:
        load_codes_file(tmp_path / "nope.npz")
    assert "query_codes" in info.value.hint


def test_missing_array(tmp_path):
    arrays = _arrays()
    del arrays["db_labels"]
    np.savez(tmp_path / "codes.npz", **arrays)
    with pytest.raises(ZshbenchError, match="lacks db_labels"):
        load_codes_file(tmp_path / "codes.npz")


def test_pickled_objects_are_never_loaded(tmp_path):
    arrays = _arrays()
    arrays["query_labels"] = np.array([{"x": 1}] * 5, dtype=object)
    np.savez(tmp_path / "codes.npz", **arrays)
    with pytest.raises(ZshbenchError, match="object arrays"):
        load_codes_file(tmp_path / "codes.npz")


def test_not_an_npz(tmp_path):
    np.save(tmp_path / "codes.npy", np.ones((2, 2)))
    with pytest.raises(ZshbenchError, match="single array"):
        load_codes_file(tmp_path / "codes.npy")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(ZshbenchError, match="cannot read"):
        load_codes_file(tmp_path / "junk.npz")


@pytest.mark.parametrize(
    "content", [b"garbage" * 20, b"\x80\x04\x95" + b"\0" * 40, b"PK\x03\x04" + b"\0" * 30]
)
def test_a_garbage_file_never_gets_the_advice_to_load_it_unsafely(tmp_path, content):
    """Issue 10: numpy's message said 'load it unsafely with allow_pickle='; never pass that on."""
    path = tmp_path / "garbage.npz"
    path.write_bytes(content)
    with pytest.raises(ZshbenchError) as caught:
        load_codes_file(path)
    line = caught.value.one_line()
    assert "cannot read codes file" in line and "allow_pickle" not in line
    assert "unsafe" not in line and "pickle.load" not in line and "\n" not in line


def test_wrong_bits(tmp_path):
    arrays = _arrays(16)
    arrays["query_codes"] = pack_codes(arrays["query_codes"])
    arrays["db_codes"] = pack_codes(arrays["db_codes"])
    np.savez(tmp_path / "codes.npz", **arrays, bits=np.array(24))
    with pytest.raises(ZshbenchError, match="uint8 of shape"):
        load_codes_file(tmp_path / "codes.npz")
    arrays = _arrays(16)
    np.savez(tmp_path / "codes.npz", **arrays, bits=np.array(12))
    with pytest.raises(ZshbenchError, match="'bits' says 12"):
        load_codes_file(tmp_path / "codes.npz")
    np.savez(tmp_path / "codes.npz", **arrays, bits=np.array([1.5]))
    with pytest.raises(ZshbenchError, match="one positive integer"):
        load_codes_file(tmp_path / "codes.npz")
