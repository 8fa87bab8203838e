"""Hamming distances as XOR + popcount on codes packed into 64-bit words.

A 64-bit code is one uint64 per item, so a (queries x database) block costs one XOR and one
``np.bitwise_count`` per element (NumPy >= 2.0), instead of a float32 matmul over the bits plus
conversions. Codes are packed once per evaluation; the padding bits of the last word are 0 on
both sides, so they never differ and never count.
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

    The database words are stored word-major (words, N) so each XOR reads contiguous memory.
    """

    def __init__(self, db_words: np.ndarray, bits: int):
        self.db_major = np.ascontiguousarray(db_words.T)
        self.dtype = distance_dtype(bits)
        self._scratch: np.ndarray | None = None
        self._counts: np.ndarray | None = None

    def _buffers(self, rows: int) -> tuple[np.ndarray, np.ndarray]:
        size = rows * self.db_major.shape[1]
        if self._scratch is None or self._scratch.size < size:
            self._scratch = np.empty(size, dtype=np.uint64)
            self._counts = np.empty(size, dtype=np.uint8)
        assert self._counts is not None
        shape = (rows, self.db_major.shape[1])
        return self._scratch[:size].reshape(shape), self._counts[:size].reshape(shape)

    def __call__(self, query_words: np.ndarray) -> np.ndarray:
        """(rows, N) distances of ``query_words`` (rows, words) to every database item."""
        rows, words = query_words.shape
        scratch, counts = self._buffers(rows)
        out = np.empty(scratch.shape, dtype=self.dtype)
        for word in range(words):
            np.bitwise_xor(query_words[:, word, None], self.db_major[word][None, :], out=scratch)
            if word == 0:
                np.bitwise_count(scratch, out=out, casting="unsafe")
            else:
                np.bitwise_count(scratch, out=counts)
                np.add(out, counts, out=out, casting="unsafe")
        return out
