"""Distance kernels: pure array functions, no validation, no I/O.

Three kernel metrics cover the four public ones: ``"euclidean"`` (also
Mahalanobis, on whitened rows), ``"manhattan"``, and ``"cosine"`` (rows and
centres already scaled to unit length).

The Euclidean kernels are compiled (numba), because scoring is the hot path:
each block of rows makes one matrix product with every centre (BLAS, in the
input's own precision: float32 stays float32), the product only *chooses*
each row's centre, and the reported distance is then computed directly, in
float64, from the row and that one centre. ``‖x‖² − 2x·c + ‖c‖²`` would
cancel for rows near a centre. (The ensemble's kernel, which has 25
members to measure per row, takes each member's distance from a float64
expansion and recomputes it directly wherever that could have cancelled.)
Blocks run in parallel on every core, with BLAS held to one thread inside
them so that the two levels do not fight.
The NumPy functions ending in ``_numpy`` are the references the tests hold
the compiled kernels to (docs/benchmarks.md has the speeds).
"""

import numba
import numpy as np
import scipy.linalg.cython_blas  # noqa: F401  (numba's np.dot calls SciPy's BLAS)
from numba import prange
from scipy.spatial.distance import cdist
from threadpoolctl import ThreadpoolController

from .compile import parallel_and_serial

__all__ = [
    "as_kernel_rows",
    "mean_weighted_nearest",
    "mean_weighted_nearest_numpy",
    "nearest_centers",
    "nearest_centers_numpy",
    "nearest_scores",
    "pairwise_distances",
    "unit_rows",
]

# Work on blocks of rows so the n x k distance matrix is never built whole.
_BLOCK_BYTES = 8 * 2**20
_STACK_BLOCK_BYTES = 2 * 2**20
# The Euclidean kernels sweep 128 rows at a time (the rows and the products
# stay in the core's caches: for the ensemble 64-256 measured the same and
# 512 was 30% slower; for 32 features x 16 centres 128 beat 64 and 256),
# in tasks of 16,384 rows that each make their scratch arrays once.
_SWEEP_ROWS = 128
_TASK_SWEEP_ROWS = 16_384
# Below this many rows a serial kernel is cheaper than waking threads.
_PARALLEL_ROWS = 16_384
# Let LLVM vectorise sums; NaN and inf keep their IEEE meaning.
_FASTMATH = {"reassoc", "contract", "arcp"}
# A float64 expansion this small next to the row's own term may have
# cancelled: recompute the distance directly.
_CANCELLATION = 1e-6

_blas = None


def _one_blas_thread():
    """Context that holds BLAS to one thread while compiled blocks run in
    parallel (one level of parallelism, no oversubscription)."""
    global _blas
    if _blas is None:
        _blas = ThreadpoolController()
    return _blas.limit(limits=1, user_api="blas")


def _block_rows(n_centers):
    return max(256, _BLOCK_BYTES // (8 * max(n_centers, 1)))


def unit_rows(X):
    """Rows scaled to unit length, the space of the cosine metric; a zero row
    has no direction and stays zero (distance 1 from every centre)."""
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return np.divide(X, norms, out=np.zeros_like(X), where=norms > 0)


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


# ------------------------------------------------------------ compiled parts
# Loops index arrays directly (no row views or helper calls) so that LLVM
# inlines and vectorises them.
@numba.njit(fastmath=_FASTMATH, cache=True, nogil=True)
def _direct_choice(X, i, centers, weights, b):
    """Nearest centre of row i among member b's by direct distances: the
    fallback when the expansion overflows the input's precision (huge
    values in float32). Padding centres (+inf coordinates) are skipped."""
    best, best_sq = 0, np.inf
    for c in range(centers.shape[1]):
        if not np.isfinite(centers[b, c, 0]):
            continue
        sq = 0.0
        for j in range(X.shape[1]):
            diff = weights[b, j] * (np.float64(X[i, j]) - centers[b, c, j])
            sq += diff * diff
        if sq < best_sq:
            best, best_sq = c, sq
    return best


def _nearest_blocks(
    X, origin, cross, center_term, centers, weights, labels, distances, spread, scores
):
    """For each row: choose the nearest centre from the expansion, in the
    input's precision, then take the distance to it directly, in float64.
    ``cross`` is (k, p), ``centers`` (1, k, p) and ``weights`` (1, p), the
    layout :func:`_direct_choice` shares with the ensemble. When ``scores``
    has a row per input row, also writes ``distance / spread[centre]``.

    Like the ensemble's kernel, it works column-wise on ``_SWEEP_ROWS`` rows
    at a time (products are centres x rows, the running minimum a sweep
    along rows), with scratch arrays made once per task."""
    n, p = X.shape
    k = centers.shape[1]
    keep_scores = scores.shape[0] == n
    step = _SWEEP_ROWS
    for task in prange((n + _TASK_SWEEP_ROWS - 1) // _TASK_SWEEP_ROWS):
        task_stop = min(n, (task + 1) * _TASK_SWEEP_ROWS)
        block_t = np.zeros((p, step), dtype=X.dtype)
        products = np.empty((k, step), dtype=X.dtype)
        best_value = np.empty(step, dtype=X.dtype)
        best = np.empty(step, dtype=np.int64)
        for start in range(task * _TASK_SWEEP_ROWS, task_stop, step):
            rows = min(step, task_stop - start)
            for j in range(p):
                for r in range(rows):
                    block_t[j, r] = X[start + r, j] - origin[j]
                for r in range(rows, step):  # a short last block: zeros, never read back
                    block_t[j, r] = 0
            np.dot(cross, block_t, products)
            for r in range(step):
                best_value[r] = products[0, r] + center_term[0]
                best[r] = 0
            for c in range(1, k):
                for r in range(step):
                    value = products[c, r] + center_term[c]
                    if value < best_value[r]:
                        best_value[r] = value
                        best[r] = c
            for r in range(rows):
                i = start + r
                chosen = best[r]
                if not np.isfinite(best_value[r]):
                    chosen = _direct_choice(X, i, centers, weights, 0)
                sq = 0.0
                for j in range(p):
                    diff = weights[0, j] * (np.float64(X[i, j]) - centers[0, chosen, j])
                    sq += diff * diff
                labels[i] = chosen
                distances[i] = np.sqrt(sq)
                if keep_scores:
                    scores[i] = distances[i] / spread[chosen]


def _mean_nearest_blocks(X, origin, cross, center_term, w2, centers, weights, out):
    """The ensemble's mean distance, in float64. Each member's squared
    distance is the expansion ``row term + centre term - 2 x.c`` (two
    matrix products serve all members); where that is small next to the
    row term, so that it could have cancelled, it is recomputed directly.

    Work goes column-wise over ``_SWEEP_ROWS`` rows at a time: the
    products are (centres x rows), so the minimum over each member's
    centres and the square roots are straight sweeps along rows that LLVM
    vectorises, and the scratch arrays are made once per task. ``X`` may
    be row- or column-major (a test checks the bits are the same). Rows of
    ``cross`` and ``center_term`` are centre-major (row ``c * n_members + b``
    is centre c of member b)."""
    n, p = X.shape
    n_members, kmax = centers.shape[0], centers.shape[1]
    m = cross.shape[0]
    step = _SWEEP_ROWS
    n_tasks = (n + _TASK_SWEEP_ROWS - 1) // _TASK_SWEEP_ROWS
    for task in prange(n_tasks):
        task_stop = min(n, (task + 1) * _TASK_SWEEP_ROWS)
        block_t = np.empty((p, step))
        sq_t = np.empty((p, step))
        products = np.empty((m, step))
        row_terms = np.empty((n_members, step))
        least = np.empty((n_members, step))
        total = np.empty(step)
        for start in range(task * _TASK_SWEEP_ROWS, task_stop, step):
            rows = min(step, task_stop - start)
            for j in range(p):
                for r in range(rows):
                    value = np.float64(X[start + r, j]) - origin[j]
                    block_t[j, r] = value
                    sq_t[j, r] = value * value
                for r in range(rows, step):  # a short last block: zeros, never read back
                    block_t[j, r] = 0.0
                    sq_t[j, r] = 0.0
            np.dot(cross, block_t, products)
            np.dot(w2, sq_t, row_terms)
            for b in range(n_members):
                for r in range(rows):
                    least[b, r] = products[b, r] + center_term[b]
            for c in range(1, kmax):
                for b in range(n_members):
                    source = c * n_members + b
                    for r in range(rows):
                        least[b, r] = min(least[b, r], products[source, r] + center_term[source])
            suspect = False
            for r in range(rows):
                total[r] = 0.0
            for b in range(n_members):
                for r in range(rows):
                    sq = row_terms[b, r] + least[b, r]
                    trusted = sq > _CANCELLATION * row_terms[b, r]
                    suspect |= not trusted
                    # a distance that may have cancelled (or overflowed) is
                    # left out here and added exactly below
                    total[r] += np.sqrt(sq) if trusted else 0.0
            if suspect:
                for b in range(n_members):
                    for r in range(rows):
                        sq = row_terms[b, r] + least[b, r]
                        if sq > _CANCELLATION * row_terms[b, r]:
                            continue
                        i = start + r
                        best = -1
                        if np.isfinite(least[b, r]):
                            for c in range(kmax):
                                source = c * n_members + b
                                if products[source, r] + center_term[source] == least[b, r]:
                                    best = c
                                    break
                        if best < 0:
                            best = _direct_choice(X, i, centers, weights, b)
                        exact = 0.0
                        for j in range(p):
                            diff = weights[b, j] * (np.float64(X[i, j]) - centers[b, best, j])
                            exact += diff * diff
                        total[r] += np.sqrt(exact)
            for r in range(rows):
                out[start + r] = total[r] / n_members


_nearest_parallel, _nearest_serial = parallel_and_serial(_nearest_blocks, fastmath=_FASTMATH)
_mean_nearest_parallel, _mean_nearest_serial = parallel_and_serial(
    _mean_nearest_blocks, fastmath=_FASTMATH
)


def as_kernel_rows(X, by_column=False):
    """Rows in a precision the compiled kernels take: float32 stays float32
    (half the memory traffic), anything else becomes float64; row-major,
    unless ``by_column`` (the ensemble's kernel), which takes rows whose
    columns are each contiguous (a DataFrame's block, or rows sliced from
    it) as they are."""
    if X.dtype != np.float32:
        X = X.astype(np.float64, copy=False)
    if by_column and X.ndim == 2 and X.strides[0] == X.itemsize:
        return X
    return np.ascontiguousarray(X)


def _expansion(centers, weights, dtype):
    """Operands that choose the nearest centre: with s = w^2 (c - o) around
    the centres' mean o, the nearest centre minimises sum_j w_j^2 (c_j - o_j)^2
    - 2 (x - o).s, a matrix product. ``centers`` is (m, p), ``weights`` (m, p)."""
    finite = np.isfinite(centers).all(axis=1)
    origin = centers[finite].mean(axis=0) if finite.any() else np.zeros(centers.shape[1])
    shifted = np.where(finite[:, None], centers - origin, 0.0)
    w2 = weights * weights
    cross_t = np.ascontiguousarray((-2.0 * w2 * shifted).T, dtype=dtype)
    with np.errstate(over="ignore"):  # huge centres: the kernel falls back to direct distances
        center_term = np.where(finite, (w2 * shifted * shifted).sum(axis=1), np.inf)
        center_term = center_term.astype(dtype)
    return origin.astype(dtype), cross_t, center_term


def _run(parallel_kernel, serial_kernel, n, *args):
    if n >= _PARALLEL_ROWS and numba.get_num_threads() > 1:
        with _one_blas_thread():
            parallel_kernel(*args)
    else:
        serial_kernel(*args)


def nearest_centers(X, centers, metric, weights=None, out=None):
    """Index of the nearest centre for each row, and the distance to it.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64
    centers : ndarray of shape (n_centers, n_features)
    metric : {"euclidean", "manhattan", "cosine"}
        For ``"cosine"`` both ``X`` and ``centers`` must have unit-length rows
        (a zero row is allowed and sits at distance 1 from every centre).
    weights : ndarray of shape (n_features,), optional
        Euclidean only: measure ``sqrt(sum_j (w_j (x_j - c_j))^2)``, which
        folds a feature scaling into the kernel.
    out : (labels, distances) arrays, optional
        Euclidean only: write the results into these (intp and float64, one
        entry per row) instead of new arrays.

    Returns
    -------
    labels : ndarray of shape (n_samples,), intp
    distances : ndarray of shape (n_samples,), float64
    """
    if metric != "euclidean":
        return nearest_centers_numpy(X, centers, metric)
    labels, distances, _ = _nearest_euclidean(X, centers, weights, None, out)
    return labels, distances


def nearest_scores(X, centers, spread, weights=None, out=None):
    """:func:`nearest_centers` (Euclidean) plus each row's distance divided
    by its centre's ``spread``, the anomaly score A(x) = D / (sigma + eps)
    when ``spread`` is sigma + eps, in the same pass.

    Returns
    -------
    labels, distances, scores ; ``out`` may give all three arrays.
    """
    spread = np.ascontiguousarray(spread, dtype=np.float64)
    return _nearest_euclidean(X, centers, weights, spread, out)


def _nearest_euclidean(X, centers, weights, spread, out):
    X = as_kernel_rows(X)
    centers = np.ascontiguousarray(centers, dtype=np.float64)
    n, p = X.shape
    weight = np.ones(p) if weights is None else np.asarray(weights, dtype=np.float64)
    origin, cross_t, center_term = _expansion(centers, weight[None, :], X.dtype)
    if out is None:
        out = (np.empty(n, dtype=np.intp), np.empty(n), np.empty(n if spread is not None else 0))
    labels, distances = out[0], out[1]
    scores = out[2] if spread is not None else np.empty(0)
    spread = np.ones(centers.shape[0]) if spread is None else spread
    cross = np.ascontiguousarray(cross_t.T)
    args = (X, origin, cross, center_term, centers[None], weight[None], labels, distances)
    _run(_nearest_parallel, _nearest_serial, n, *args, spread, scores)
    return labels, distances, (scores if scores.shape[0] == n else None)


def mean_weighted_nearest(X, centers, weights):
    """Mean over members of each row's weighted Euclidean distance to the
    member's nearest centre: the ensemble score in one pass over ``X``.

    Parameters
    ----------
    X : ndarray (n, p), float32 or float64
    centers : list of B arrays (k_b, p)
    weights : list of B arrays (p,)
        Member b measures ``sqrt(sum_j (w_j (x_j - c_j))^2)``.

    One matrix product per block of rows serves every member (the centres
    of all members are stacked); each member's distance is then computed
    directly from the row and its chosen centre.
    """
    X = as_kernel_rows(X, by_column=True)
    p = X.shape[1]
    n_members = len(centers)
    kmax = max(c.shape[0] for c in centers)
    stacked = np.full((n_members, kmax, p), np.inf)  # padding never wins
    for b, c in enumerate(centers):
        stacked[b, : c.shape[0]] = c
    W = np.stack([np.asarray(w, dtype=np.float64) for w in weights])
    # centre-major order: row c * n_members + b is centre c of member b
    origin, cross_t, center_term = _expansion(
        stacked.transpose(1, 0, 2).reshape(-1, p), np.tile(W, (kmax, 1)), np.float64
    )
    out = np.empty(X.shape[0], dtype=np.float64)
    args = (X, origin, np.ascontiguousarray(cross_t.T), center_term, W * W, stacked, W, out)
    _run(_mean_nearest_parallel, _mean_nearest_serial, X.shape[0], *args)
    return out


# ---------------------------------------------------------- NumPy references
def nearest_centers_numpy(X, centers, metric):
    """Reference for :func:`nearest_centers` (without weights), and the
    kernel for the manhattan and cosine metrics.

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


def mean_weighted_nearest_numpy(X, centers, weights):
    """Reference for :func:`mean_weighted_nearest`, in float64.

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
