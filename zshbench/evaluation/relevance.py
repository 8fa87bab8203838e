"""Which database items are relevant to a query: same class id, or a shared label.

Multi-hot rows are packed into 64-bit words once (21 NUS-WIDE labels fit one word), so a
shared label is one AND per item; class ids are one comparison. Only the items a metric looks
at are checked: the candidates inside a query's K-th radius, or the whole database for curves.
"""

from __future__ import annotations

import numpy as np

from .hamming import pack_words
from .inputs import Labels


class Relevance:
    """Relevance of database items to query ``i``, for any subset of the database."""

    def __init__(self, query: Labels, database: Labels):
        self.multi_hot = query.multi_hot
        if self.multi_hot:
            self.query = pack_words(query.values)
            self.database = pack_words(database.values)
        else:  # the narrowest type holding every id: gathers of candidates move fewer bytes
            both = np.concatenate([query.values, database.values])
            dtype = np.min_scalar_type(-max(abs(int(both.min())), abs(int(both.max()))) - 1)
            self.query = query.values.astype(dtype)
            self.database = database.values.astype(dtype)

    def of(self, i: int, items: np.ndarray | None = None) -> np.ndarray:
        """bool relevance of ``items`` (database indices; all when None) to query ``i``."""
        database = self.database if items is None else self.database[items]
        if not self.multi_hot:
            return database == self.query[i]
        if database.shape[1] == 1:
            return (database[:, 0] & self.query[i, 0]) != 0
        return ((database & self.query[i]) != 0).any(axis=1)
