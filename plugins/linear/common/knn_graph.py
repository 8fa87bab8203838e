"""The Laplacian of a k-nearest-neighbour graph: local structure for AH's hash function.

L = D − W over the training images, with W_ij = exp(−‖x_i − x_j‖² / t) when j is among the k
nearest neighbours of i or i among those of j (symmetrised), else 0; t is the mean squared
distance over the graph's edges (the "heat kernel" weighting of Deng Cai's ``constructW``,
which the TSK and AH authors' code uses). The neighbour search is scikit-learn's
``kneighbors_graph``; the result is a scipy sparse matrix (n × n with at most 2kn entries).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse


def knn_laplacian(features: np.ndarray, k: int = 5) -> scipy.sparse.csr_matrix:
    """Unnormalised graph Laplacian of the symmetrised, heat-kernel-weighted kNN graph."""
    from sklearn.neighbors import kneighbors_graph

    n = len(features)
    k = max(1, min(int(k), n - 1))
    distances = kneighbors_graph(features, k, mode="distance", include_self=False)
    distances = distances.maximum(distances.T).tocsr()
    squared = distances.data**2
    scale = float(squared.mean()) if squared.size and squared.mean() > 0 else 1.0
    weights = distances.copy()
    weights.data = np.exp(-squared / scale)
    degree = np.asarray(weights.sum(axis=1)).ravel()
    return (scipy.sparse.diags(degree) - weights).tocsr()
