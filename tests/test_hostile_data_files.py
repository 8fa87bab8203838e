"""Issue 16 minors in data files: .npy headers that lie about their size, truncated .npz members,
a batches.meta that names 50,000 classes, and float CIFAR-10 labels (each one line, exit != 0,
nothing allocated beyond the data, nothing written)."""

from __future__ import annotations

import io
import pickle
import tracemalloc
import zipfile

import numpy as np
import pytest
from test_datasets_cifar10 import make_cifar
from test_hostile_text import RAW_CONTROL, _main
from test_layouts_end_to_end import _protocol_file

from zshbench.datasets.layouts import cifar10
from zshbench.encoders import encode_texts
from zshbench.errors import DatasetError, ZshbenchError
from zshbench.evaluation.io import load_codes_file

NINE_TIB = (9 * 2**37,)  # float64: 9 * 2**40 bytes


def _npy_bytes(array: np.ndarray | None = None, *, shape=None, dtype="<f8") -> bytes:
    """An .npy file; with ``shape`` only its header (which claims that shape), no data."""
    stream = io.BytesIO()
    if array is not None:
        np.save(stream, array)
    else:
        header = {"descr": dtype, "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_1_0(stream, header)
    return stream.getvalue()


def _codes_npz(path, **members: bytes) -> None:
    """A valid zip whose members are the given .npy bytes (the rest are good arrays)."""
    good = {
        "query_codes": np.ones((2, 8), np.int8),
        "query_labels": np.arange(2),
        "db_codes": -np.ones((3, 8), np.int8),
        "db_labels": np.arange(3),
    }
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in good.items():
            archive.writestr(f"{name}.npy", members.get(name, _npy_bytes(array)))


def _peak_mib(function) -> float:
    tracemalloc.start()
    try:
        function()
    except ZshbenchError:
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def test_a_vectors_npy_whose_header_claims_9_tib_is_one_line(tmp_path):
    """Minor: an .npy header claiming 9 TiB gave a MemoryError traceback (np.load trusts it)."""
    path = tmp_path / "vectors.npy"
    path.write_bytes(_npy_bytes(shape=NINE_TIB))
    with pytest.raises(ZshbenchError) as info:
        encode_texts(["a", "b"], "vectors-file", path=str(path))
    line = str(info.value)
    assert "9.0 TiB" in line and "0 bytes of data follow" in line and "\n" not in line


def test_a_codes_member_whose_header_claims_9_tib_is_one_line(tmp_path, capsys):
    """The same header inside a codes .npz: `zshbench eval` says it in one line, exit != 0."""
    path = tmp_path / "codes.npz"
    _codes_npz(path, db_labels=_npy_bytes(shape=NINE_TIB))
    assert _peak_mib(lambda: load_codes_file(path)) < 64
    code, out, err = _main(capsys, "eval", str(path))
    assert code != 0 and out == ""
    assert "'db_labels'" in err and "9.0 TiB" in err and len(err.strip().splitlines()) == 1


def test_a_truncated_npz_member_is_reported_as_truncated(tmp_path):
    """Minor: a truncated member was reported as 'holds object arrays'."""
    path = tmp_path / "codes.npz"
    full = _npy_bytes(np.arange(40, dtype=np.int64))
    _codes_npz(path, db_labels=full[:-12])
    with pytest.raises(ZshbenchError) as info:
        load_codes_file(path)
    line = str(info.value)
    assert "truncated" in line and "object arrays" not in line
    assert "download it again" in line and "'db_labels'" in line


def test_a_damaged_compressed_member_is_reported_as_corrupt(tmp_path):
    """A flipped byte in a deflated member: numpy's ValueError/zlib error, now 'corrupt'."""
    path = tmp_path / "codes.npz"
    rng = np.random.default_rng(0)
    np.savez_compressed(
        path, query_codes=rng.choice([-1, 1], (50, 64)), query_labels=np.arange(50),
        db_codes=rng.choice([-1, 1], (60, 64)), db_labels=np.arange(60),
    )  # fmt: skip
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("query_codes.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ZshbenchError) as info:
        load_codes_file(path)
    assert "truncated or corrupt" in str(info.value) and "object arrays" not in str(info.value)


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=">i4").reshape(3, 4),  # big-endian
        np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4)),
        np.array(7, dtype=np.int16),  # 0-d
        np.zeros((0, 5)),
        np.array([(1, 2.5)], dtype=[("a", "<i2"), ("b", "<f8")]),
    ],
)
def test_good_arrays_read_as_numpy_writes_them(tmp_path, array):
    """The bounded reader gives what np.save stored (numpy's own writer is the reference)."""
    from zshbench.array_files import read_npy, read_npz

    np.save(tmp_path / "a.npy", array)
    got = read_npy(tmp_path / "a.npy")
    assert got.dtype == array.dtype and got.shape == array.shape
    np.testing.assert_array_equal(got, array)
    np.savez_compressed(tmp_path / "a.npz", x=array)
    np.testing.assert_array_equal(read_npz(tmp_path / "a.npz", ["x", "absent"])["x"], array)


def test_a_truncated_npy_file_and_object_arrays_stay_one_line(tmp_path):
    from zshbench.array_files import read_npy

    path = tmp_path / "v.npy"
    path.write_bytes(_npy_bytes(np.ones((4, 4)))[:-8])
    with pytest.raises(ZshbenchError, match="truncated or corrupt"):
        read_npy(path)
    np.save(path, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ZshbenchError, match="object arrays"):
        read_npy(path)


# --------------------------------------------------------------------------- CIFAR-10 batches


def _rewrite(path, protocol=2, **changes) -> None:
    with open(path, "rb") as handle:
        content = pickle.load(handle, encoding="bytes")  # the test's own fixture, trusted
    content.update({key.encode(): value for key, value in changes.items()})
    with open(path, "wb") as handle:
        pickle.dump(content, handle, protocol=protocol)


def test_a_meta_naming_50000_classes_is_bounded_by_the_data(tmp_path, capsys):
    """Minor: a 400 KB batches.meta with 50,000 names asked for 9.3 GiB (a 50,000² identity)."""
    make_cifar(tmp_path / "data")
    folder = tmp_path / "data" / "cifar-10-batches-py"
    _rewrite(folder / "batches.meta", 4, label_names=[f"c{i}".encode() for i in range(50_000)])
    assert (folder / "batches.meta").stat().st_size < 500_000
    assert _peak_mib(lambda: cifar10.load(tmp_path / "data")) < 64
    with pytest.raises(DatasetError, match="names 50,000 classes but the batches hold images of"):
        cifar10.load(tmp_path / "data")
    spec = _protocol_file(tmp_path / "tiny-cifar.toml", "tiny-cifar", "cifar10", 10, 8)
    code, out, err = _main(
        capsys, "run", "--method", "lsh", "--dataset", str(spec), "--bits", "8",
        "--data-root", str(tmp_path / "data"), "--results", str(tmp_path / "r"),
    )  # fmt: skip
    assert code != 0 and "50,000 classes" in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.glob("r/**/*.json"))


@pytest.mark.parametrize(
    "labels, says",
    [
        ([0.7, 1.7, 2.0, 3.0, 4.0, 5.0], "label 0.7 is not a whole number"),
        ([0, 1, float("nan"), 3, 4, 5], "label nan is not a whole number"),
        ([True, False, True, False, True, False], "not a list of integers"),
        (["0", "1", "2", "3", "4", "5"], "not a list of integers"),
        ([0, 1, 2, 3, 4, 10], "label 10 is outside the 10 classes"),
        ([0, 1, 2, 3, 4, -1], "label -1 is outside the 10 classes"),
    ],
)
def test_labels_that_a_cast_would_change_are_refused(tmp_path, labels, says):
    """Minor: float labels (0.7, 1.7) were truncated to 0 and 1 without a word."""
    make_cifar(tmp_path)
    _rewrite(tmp_path / "cifar-10-batches-py" / "data_batch_2", labels=labels)
    with pytest.raises(DatasetError) as info:
        cifar10.load(tmp_path)
    assert says in str(info.value) and "data_batch_2" in str(info.value)
    assert not RAW_CONTROL.search(str(info.value))


def test_whole_float_labels_are_read_as_their_class_ids(tmp_path):
    """Re-saved batches sometimes hold labels as floats; 3.0 is class 3, not a refusal."""
    written = make_cifar(tmp_path)
    floats = [float(x) for x in written["data_batch_2"][1]]
    _rewrite(tmp_path / "cifar-10-batches-py" / "data_batch_2", labels=floats)
    image_set = cifar10.load(tmp_path)
    start = len(written["data_batch_1"][1])
    got = image_set.labels[start : start + len(floats)]
    assert got.dtype == np.int64 and got.tolist() == written["data_batch_2"][1]


def test_info_shows_a_data_set_entrys_text_as_data(tmp_path, monkeypatch, capsys):
    """``info`` on an entry whose title and citation carry a hyperlink (OSC 8), a colour and a
    forged second line prints each byte as a visible escape, on one line."""
    import dataclasses

    import zshbench.plugin_manager as plugin_manager
    from zshbench.cli import main

    plugins = plugin_manager.load_plugins.__wrapped__()  # a fresh copy: the cached one is shared
    digits = plugins.datasets.get("digits")
    hostile = dataclasses.replace(
        digits,
        name="hostile",
        title="Birds \x1b]8;;http://evil.example\x07click\x1b]8;;\x07",
        citation="A. Author\nzshbench: all checks passed\x1b[31m",
    )
    plugins.datasets.add(hostile, "a test plugin")
    monkeypatch.setattr(plugin_manager, "load_plugins", lambda: plugins)
    main(["info", "hostile"])
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "data set hostile: Birds \\x1b]8;;http://evil.example\\x07click" in out
    assert "  citation: A. Author\\x0azshbench: all checks passed\\x1b[31m" in out
    assert not any(line.startswith("zshbench: all checks") for line in out.splitlines())
