"""Distance kernels: pure array functions, no validation, no I/O.

Three kernel metrics cover the four public ones: ``"euclidean"`` (also
Mahalanobis, on whitened rows), ``"manhattan"``, and ``"cosine"`` (rows and
centres already scaled to unit length).
"""

import numpy as np
from scipy.spatial.distance import cdist

__all__ = ["mean_weighted_nearest", "nearest_centers", "pairwise_distances"]

# Work on blocks of rows so the n x k distance matrix is never built whole.
_BLOCK_BYTES = 8 * 2**20
_STACK_BLOCK_BYTES = 2 * 2**20


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
        # Choose the centre from the expansion around the centres' mean: far
        # from the origin (uncentred data) |c|^2 - 2 x.c would cancel.
        origin = centers.mean(axis=0)
        shifted = centers - origin
        center_sq = np.einsum("ij,ij->i", shifted, shifted)
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
            lab = np.argmin(center_sq - 2.0 * ((block - origin) @ shifted.T), axis=1)
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


def mean_weighted_nearest(X, centers, weights):
    """Mean over members of each row's weighted Euclidean distance to the
    member's nearest centre: the ensemble score in one pass over ``X``.

    Parameters
    ----------
    X : ndarray (n, p), float64
    centers : list of B arrays (k_b, p)
    weights : list of B arrays (p,)
        Member b measures ``sqrt(sum_j (w_j (x_j - c_j))^2)``.

    One matrix product per block of rows serves every member (the centres
    of all members, pre-multiplied by their squared weights, are stacked).
    The squared distance comes from the expansion
    ``sum w^2 x^2 - 2 sum w^2 x c + sum w^2 c^2`` in float64; where it is
    small next to ``sum w^2 x^2``, so that the expansion could cancel, it is
    recomputed directly.
    """
    n, p = X.shape
    B = len(centers)
    kmax = max(c.shape[0] for c in centers)
    W2 = np.stack([w * w for w in weights])  # (B, p)
    # expand around the centres' mean, so uncentred data does not cancel
    origin = np.concatenate(centers).mean(axis=0)
    centers = [c - origin for c in centers]
    stacked = np.zeros((B, kmax, p))
    center_term = np.full((B, kmax), np.inf)  # padding never wins the argmin
    for b, (c, w2) in enumerate(zip(centers, W2, strict=True)):
        stacked[b, : c.shape[0]] = c * w2
        center_term[b, : c.shape[0]] = (c * c) @ w2
    flat = stacked.reshape(B * kmax, p)
    total = np.zeros(n)
    # small blocks keep the (rows, members, k) products in cache
    step = max(64, _STACK_BLOCK_BYTES // (8 * B * kmax))
    for start in range(0, n, step):
        block = X[start : start + step] - origin
        cross = (block @ flat.T).reshape(-1, B, kmax)
        partial = center_term[None] - 2.0 * cross
        labels = np.argmin(partial, axis=2)  # (m, B)
        row_term = (block * block) @ W2.T  # (m, B)
        sq = row_term + np.take_along_axis(partial, labels[:, :, None], axis=2)[:, :, 0]
        risky = sq <= 1e-6 * row_term
        if risky.any():
            rows, members = np.nonzero(risky)
            chosen = np.stack(
                [centers[b][labels[r, b]] for r, b in zip(rows, members, strict=True)]
            )
            diff = (block[rows] - chosen) * np.sqrt(W2[members])
            sq[rows, members] = np.einsum("ij,ij->i", diff, diff)
        total[start : start + block.shape[0]] = np.sqrt(np.maximum(sq, 0.0)).sum(axis=1)
    return total / B
