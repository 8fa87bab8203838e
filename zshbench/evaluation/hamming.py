"""Hamming distances as XOR + popcount on codes packed into 64-bit words.

A 64-bit code is one uint64 per item, so a (queries x database) block costs one XOR and one
``np.bitwise_count`` per element (NumPy >= 2.0; a byte table before), instead of a float32
matmul over the bits plus conversions. Codes are packed once per evaluation; the padding
bits of the last word are 0 on both sides, so they never differ and never count.
"""

from __future__ import annotations

import numpy as np

WORD_BITS = 64


def pack_words(signs: np.ndarray) -> np.ndarray:
    """int8 (N, bits) signs -> uint64 (N, ceil(bits / 64)) words, bit 1 = +1, padding 0."""
    rows, bits = signs.shape
    words = -(-bits // WORD_BITS)
    packed = np.packbits(signs > 0, axis=1)
    padded = np.zeros((rows, words * 8), dtype=np.uint8)
    padded[:, : packed.shape[1]] = packed
    return padded.view(np.uint64)


def distance_dtype(bits: int) -> type[np.unsignedinteger]:
    """The smallest unsigned type holding 0..bits (uint8 keys get numpy's radix sort)."""
    if bits <= 255:
        return np.uint8
    if bits <= 65535:
        return np.uint16
    return np.uint32


class DistanceKernel:
    """Distances from a block of queries to the whole database, reusing its scratch memory.

    The database words are stored word-major (words, N) so each XOR reads contiguous memory,
    and the database is walked in tiles so the uint64 scratch stays in the CPU cache (measured
    0.6 ns per pair at 64 bits, against 0.85-3 ns for whole rows of 128k items).
    """

    tile = 16384

    def __init__(self, db_words: np.ndarray, bits: int):
        self.db_major = np.ascontiguousarray(db_words.T)
        self.dtype = distance_dtype(bits)
        self._scratch = np.empty(0, dtype=np.uint64)
        self._counts = np.empty(0, dtype=np.uint8)

    def __call__(self, query_words: np.ndarray) -> np.ndarray:
        """(rows, N) distances of ``query_words`` (rows, words) to every database item."""
        rows, words = query_words.shape
        num_database = self.db_major.shape[1]
        width = min(self.tile, num_database)
        if self._scratch.size < rows * width:
            self._scratch = np.empty(rows * width, dtype=np.uint64)
            self._counts = np.empty(rows * width, dtype=np.uint8)
        out = np.empty((rows, num_database), dtype=self.dtype)
        for start in range(0, num_database, width):
            stop = min(start + width, num_database)
            shape = (rows, stop - start)
            scratch = self._scratch[: rows * (stop - start)].reshape(shape)
            target = out[:, start:stop]
            for word in range(words):
                database = self.db_major[word, None, start:stop]
                np.bitwise_xor(query_words[:, word, None], database, out=scratch)
                if word == 0:
                    _popcount(scratch, target)
                else:
                    counts = self._counts[: rows * (stop - start)].reshape(shape)
                    _popcount(scratch, counts)
                    np.add(target, counts, out=target, casting="unsafe")
        return out


_HAS_BITWISE_COUNT = hasattr(np, "bitwise_count")
_BYTE_COUNTS = np.array([bin(value).count("1") for value in range(256)], dtype=np.uint8)


def _popcount(words: np.ndarray, out: np.ndarray) -> None:
    """Set bits per uint64 into ``out``: ``np.bitwise_count`` (NumPy >= 2), else a byte table."""
    if _HAS_BITWISE_COUNT:
        np.bitwise_count(words, out=out, casting="unsafe")
        return
    per_byte = _BYTE_COUNTS[words.view(np.uint8)].reshape(*words.shape, 8)
    np.sum(per_byte, axis=-1, dtype=out.dtype, out=out)
