"""CIFAR-10 python batches, written here in the real format, and the restricted unpickler."""

from __future__ import annotations

import codecs
import os
import pickle
import shlex
import struct
from pathlib import Path

import numpy as np
import pytest

from zshbench.datasets import safe_pickle
from zshbench.datasets.layouts import cifar10
from zshbench.errors import DatasetError

LABEL_NAMES = [
    b"airplane", b"automobile", b"bird", b"cat", b"deer",
    b"dog", b"frog", b"horse", b"ship", b"truck",
]  # fmt: skip
PER_BATCH = 6


def _images(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)


def _to_rows(images: np.ndarray) -> np.ndarray:
    """The published layout: 1024 red, 1024 green, 1024 blue values, each row-major."""
    return images.transpose(0, 3, 1, 2).reshape(len(images), 3072)


def _dump(path: Path, obj, protocol: int = 2) -> None:
    with open(path, "wb") as handle:
        pickle.dump(obj, handle, protocol=protocol)


def make_cifar(root: Path, protocol: int = 2) -> dict[str, tuple[np.ndarray, list[int]]]:
    """A CIFAR-10 folder with the real files' dict structure (bytes keys, protocol 2)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    _dump(
        folder / "batches.meta",
        {b"num_cases_per_batch": PER_BATCH, b"label_names": LABEL_NAMES, b"num_vis": 3072},
        protocol,
    )
    written = {}
    for k, batch in enumerate(cifar10.BATCHES):
        images = _images(k, PER_BATCH)
        labels = [int(x) for x in np.random.default_rng(100 + k).integers(0, 10, PER_BATCH)]
        content = {
            b"batch_label": f"{batch} of 6".encode(),
            b"labels": labels,
            b"data": _to_rows(images),
            b"filenames": [f"img_{k}_{i}.png".encode() for i in range(PER_BATCH)],
        }
        _dump(folder / batch, content, protocol)
        written[batch] = (images, labels)
    return written


def test_loads_real_format(tmp_path):
    written = make_cifar(tmp_path)
    image_set = cifar10.load(tmp_path)
    assert len(image_set) == 6 * PER_BATCH
    assert image_set.class_names == [n.decode() for n in LABEL_NAMES]
    assert image_set.images.fixed_shape == (32, 32, 3)
    assert image_set.image_ids[0] == "data_batch_1:0"
    assert image_set.image_ids[-1] == f"test_batch:{PER_BATCH - 1}"
    stack = image_set.images.load_stack(range(len(image_set)))
    expected = np.concatenate([written[b][0] for b in cifar10.BATCHES])
    np.testing.assert_array_equal(stack, expected)
    labels = np.concatenate([written[b][1] for b in cifar10.BATCHES])
    np.testing.assert_array_equal(image_set.labels, labels)
    # class names are the only attributes (RAZH-T)
    assert image_set.attribute_names == image_set.class_names
    np.testing.assert_array_equal(image_set.class_attributes, np.eye(10))
    np.testing.assert_array_equal(image_set.binary_class_attributes, np.eye(10))
    assert image_set.standard_unseen_classes is None


def test_pixel_layout_is_channel_planes_row_major(tmp_path):
    make_cifar(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    row = np.zeros(3072, dtype=np.uint8)
    row[0] = 10  # red, pixel (0, 0)
    row[1] = 11  # red, pixel (0, 1)
    row[32] = 12  # red, pixel (1, 0)
    row[1024] = 20  # green, pixel (0, 0)
    row[2048 + 1023] = 30  # blue, pixel (31, 31)
    _dump(folder / "data_batch_1", {b"data": row[None, :], b"labels": [3]})
    image = cifar10.load(folder).images.load(0)
    assert image.shape == (32, 32, 3)
    assert image[0, 0, 0] == 10 and image[0, 1, 0] == 11 and image[1, 0, 0] == 12
    assert image[0, 0, 1] == 20 and image[31, 31, 2] == 30
    assert int(image.sum()) == 10 + 11 + 12 + 20 + 30


def test_root_may_be_batches_folder_or_parent(tmp_path):
    make_cifar(tmp_path)
    a = cifar10.load(tmp_path)
    b = cifar10.load(tmp_path / "cifar-10-batches-py")
    np.testing.assert_array_equal(a.image_ids, b.image_ids)


@pytest.mark.parametrize("protocol", [4, 5])
def test_python3_pickles_also_load(tmp_path, protocol):
    make_cifar(tmp_path, protocol=protocol)
    assert len(cifar10.load(tmp_path)) == 6 * PER_BATCH


def _one_line(error: pytest.ExceptionInfo) -> str:
    text = error.value.one_line()
    assert "\n" not in text
    return text


def test_missing_folder_names_file_and_source(tmp_path):
    with pytest.raises(DatasetError) as error:
        cifar10.load(tmp_path)
    text = _one_line(error)
    assert "batches.meta" in text and "cifar-10-batches-py" in text
    assert "https://www.cs.toronto.edu/~kriz/cifar.html" in text


def test_missing_batch(tmp_path):
    make_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").unlink()
    with pytest.raises(DatasetError) as error:
        cifar10.load(tmp_path)
    assert "test_batch" in _one_line(error) and "cifar.html" in _one_line(error)


def test_label_outside_classes(tmp_path):
    make_cifar(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    _dump(folder / "data_batch_2", {b"data": _to_rows(_images(0, 2)), b"labels": [1, 10]})
    with pytest.raises(DatasetError) as error:
        cifar10.load(folder)
    assert "data_batch_2" in _one_line(error) and "label 10" in _one_line(error)


@pytest.mark.parametrize(
    "content, message",
    [
        ({b"data": np.zeros((2, 3071), np.uint8), b"labels": [0, 1]}, "3072"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "1 labels for 2 images"),
        ({b"labels": [0]}, "'data'"),
        ([1, 2, 3], "expected a dict"),
        ({b"data": np.full((1, 3072), 300, np.int32), b"labels": [0]}, "uint8"),
    ],
)
def test_malformed_batches(tmp_path, content, message):
    make_cifar(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    _dump(folder / "data_batch_3", content)
    with pytest.raises(DatasetError) as error:
        cifar10.load(folder)
    assert message in _one_line(error) and "data_batch_3" in _one_line(error)


def test_truncated_pickle(tmp_path):
    make_cifar(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_4"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DatasetError) as error:
        cifar10.load(tmp_path)
    assert "data_batch_4" in _one_line(error)


# --- the restricted unpickler ----------------------------------------------------------------


class _ShellPayload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


class _OpenPayload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("payload", [_ShellPayload, _OpenPayload])
def test_malicious_batch_is_refused_without_running(tmp_path, payload):
    make_cifar(tmp_path)
    marker = tmp_path / "pwned"
    folder = tmp_path / "cifar-10-batches-py"
    _dump(folder / "data_batch_1", {b"data": payload(marker), b"labels": [0]})
    # the payload is real: a plain unpickler would run it
    with pytest.raises(DatasetError) as error:
        cifar10.load(folder)
    assert not marker.exists()
    assert "data_batch_1" in _one_line(error) and "not a plain data pickle" in _one_line(error)
    with pytest.raises(safe_pickle.UnsafePickleError):
        safe_pickle.load(folder / "data_batch_1")
    assert not marker.exists()


def test_malicious_meta_is_refused(tmp_path):
    make_cifar(tmp_path)
    marker = tmp_path / "pwned"
    folder = tmp_path / "cifar-10-batches-py"
    _dump(folder / "batches.meta", {b"label_names": _ShellPayload(marker)})
    with pytest.raises(DatasetError):
        cifar10.load(folder)
    assert not marker.exists()


def test_plain_pickle_would_have_run_the_payload(tmp_path):
    """Guards the test above: the payload does run under an unrestricted unpickler."""
    marker = tmp_path / "pwned"
    data = pickle.dumps(_OpenPayload(marker), protocol=2)
    pickle.loads(data).close()
    assert marker.exists()


@pytest.mark.parametrize(
    "obj",
    [
        eval,
        getattr,
        __import__,
        np.load,
        np.frombuffer,
        pickle.loads,
    ],
)
def test_other_globals_are_refused(obj):
    with pytest.raises(safe_pickle.UnsafePickleError):
        safe_pickle.loads(pickle.dumps(obj, protocol=2))


class _Codec:
    def __init__(self, encoding: str):
        self.encoding = encoding

    def __reduce__(self):
        return (codecs.encode, ("abc", self.encoding))


def test_codecs_encode_only_latin1():
    assert safe_pickle.loads(pickle.dumps(_Codec("latin1"), protocol=2)) == b"abc"
    for encoding in ("rot13", "zlib_codec", "base64", "utf-8"):
        with pytest.raises(safe_pickle.UnsafePickleError):
            safe_pickle.loads(pickle.dumps(_Codec(encoding), protocol=2))


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_numpy_data_round_trips(protocol):
    obj = {
        b"data": np.arange(12, dtype=np.uint8).reshape(3, 4),
        b"floats": np.linspace(0, 1, 5),
        b"scalar": np.int64(7),
        b"labels": [1, 2, 3],
        b"name": b"batch",
        "text": "ok",
    }
    loaded = safe_pickle.loads(pickle.dumps(obj, protocol=protocol))
    np.testing.assert_array_equal(loaded[b"data"], obj[b"data"])
    np.testing.assert_array_equal(loaded[b"floats"], obj[b"floats"])
    assert loaded[b"scalar"] == 7 and loaded[b"labels"] == [1, 2, 3]
    assert loaded[b"name"] == b"batch" and loaded["text"] == "ok"


def _python2_batch(data: np.ndarray, labels: list[int]) -> bytes:
    """A batch pickled the way the real files are: Python 2, protocol 2, numpy 1.x names.

    Python 2 writes ``str`` as BINSTRING (read back as ``bytes``) and names the array
    reconstructor ``numpy.core.multiarray._reconstruct``; Python 3 cannot produce this, so the
    opcodes are spelled out.
    """
    p = pickle

    def short(b: bytes) -> bytes:
        return p.SHORT_BINSTRING + bytes([len(b)]) + b

    def integer(i: int) -> bytes:
        return p.BININT + struct.pack("<i", i)

    dtype = (
        p.GLOBAL + b"numpy\ndtype\n" + short(b"u1") + integer(0) + integer(1) + p.TUPLE3
        + p.REDUCE + p.MARK + integer(3) + short(b"|") + p.NONE + p.NONE + p.NONE
        + integer(-1) + integer(-1) + integer(0) + p.TUPLE + p.BUILD
    )  # fmt: skip
    raw = data.tobytes()
    array = (
        p.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n" + p.GLOBAL + b"numpy\nndarray\n"
        + integer(0) + p.TUPLE1 + short(b"b") + p.TUPLE3 + p.REDUCE
        + p.MARK + integer(1) + p.MARK + integer(data.shape[0]) + integer(data.shape[1])
        + p.TUPLE + dtype + p.NEWFALSE + p.BINSTRING + struct.pack("<i", len(raw)) + raw
        + p.TUPLE + p.BUILD
    )  # fmt: skip
    label_list = p.EMPTY_LIST + p.MARK + b"".join(integer(x) for x in labels) + p.APPENDS
    return (
        p.PROTO + b"\x02" + p.EMPTY_DICT + p.MARK + short(b"data") + array
        + short(b"labels") + label_list + p.SETITEMS + p.STOP
    )  # fmt: skip


def test_python2_numpy1_batches_load(tmp_path):
    written = make_cifar(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    images, labels = written["data_batch_5"]
    (folder / "data_batch_5").write_bytes(_python2_batch(_to_rows(images), labels))
    raw = safe_pickle.load(folder / "data_batch_5")
    assert set(raw) == {b"data", b"labels"} and raw[b"data"].dtype == np.uint8
    image_set = cifar10.load(folder)
    start = 4 * PER_BATCH
    np.testing.assert_array_equal(
        image_set.images.load_stack(range(start, start + PER_BATCH)), images
    )
    np.testing.assert_array_equal(image_set.labels[start : start + PER_BATCH], labels)
