"""Distance kernels: pure array functions, no validation, no I/O.

Three kernel metrics cover the four public ones: ``"euclidean"`` (also
Mahalanobis, on whitened rows), ``"manhattan"``, and ``"cosine"`` (rows and
centres already scaled to unit length).
"""

import numpy as np
from scipy.spatial.distance import cdist

__all__ = ["nearest_centers", "pairwise_distances"]

# Work on blocks of rows so the n x k distance matrix is never built whole.
_BLOCK_BYTES = 8 * 2**20


def _block_rows(n_centers):
    return max(256, _BLOCK_BYTES // (8 * max(n_centers, 1)))


def pairwise_distances(X, centers, metric):
    """Full distance matrix between rows of ``X`` and ``centers``.

    Meant for small blocks (k-means++ candidates); scoring uses
    :func:`nearest_centers`, which never builds the whole matrix.
    """
    if metric == "manhattan":
        return cdist(X, centers, "cityblock")
    if metric == "cosine":
        return np.maximum(1.0 - X @ centers.T, 0.0)
    return cdist(X, centers, "euclidean")


def nearest_centers(X, centers, metric):
    """Index of the nearest centre for each row, and the distance to it.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float64
    centers : ndarray of shape (n_centers, n_features), float64
    metric : {"euclidean", "manhattan", "cosine"}
        For ``"cosine"`` both ``X`` and ``centers`` must have unit-length rows
        (a zero row is allowed and sits at distance 1 from every centre).

    Returns
    -------
    labels : ndarray of shape (n_samples,), intp
    distances : ndarray of shape (n_samples,), float64
    """
    n = X.shape[0]
    labels = np.empty(n, dtype=np.intp)
    distances = np.empty(n, dtype=np.float64)
    step = _block_rows(centers.shape[0])
    if metric != "manhattan":
        center_sq = np.einsum("ij,ij->i", centers, centers)
    for start in range(0, n, step):
        block = X[start : start + step]
        stop = start + block.shape[0]
        if metric == "manhattan":
            full = cdist(block, centers, "cityblock")
            lab = np.argmin(full, axis=1)
            dist = full[np.arange(lab.shape[0]), lab]
        else:
            # The expansion |c|^2 - 2 x.c only chooses the centre; |x|^2 is the
            # same for every centre. The reported distance is computed directly
            # because the expansion cancels badly for points near a centre.
            lab = np.argmin(center_sq - 2.0 * (block @ centers.T), axis=1)
            chosen = centers[lab]
            if metric == "cosine":
                dist = 1.0 - np.einsum("ij,ij->i", block, chosen)
                np.maximum(dist, 0.0, out=dist)
            else:
                diff = block - chosen
                dist = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        labels[start:stop] = lab
        distances[start:stop] = dist
    return labels, distances
