"""k-means kernels: initialisation, Lloyd and mini-batch steps, and the
per-cluster sufficient statistics the detector keeps. Pure array functions:
no validation, no I/O.

The kernel metric decides the centre update: the mean for ``"euclidean"``,
the coordinate-wise median for ``"manhattan"`` (k-medians), and the mean
projected back onto the unit sphere for ``"cosine"`` (spherical k-means).
"""

import numba
import numpy as np
from numba import prange
from sklearn.utils import check_random_state

from .compile import parallel_and_serial
from .distance import nearest_centers, pairwise_distances

__all__ = [
    "as_generator",
    "centers_from_sums",
    "cluster_sums",
    "count_distinct_rows",
    "kmeans",
    "kmeans_plusplus",
    "lloyd",
    "minibatch_step",
    "objective",
]


# Rows k-means++ seeds from (a uniform sample when X is larger).
_SEED_ROWS = 100_000


def as_generator(random_state):
    """A NumPy Generator from scikit-learn's ``random_state`` conventions
    (None, an int, a RandomState, or a Generator)."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    return np.random.default_rng(seed)


def count_distinct_rows(X):
    """Number of distinct rows of a 2-D array."""
    rows = np.ascontiguousarray(X).view(np.dtype((np.void, X.dtype.itemsize * X.shape[1])))
    return int(np.unique(rows).shape[0])


def _label_sums_blocks(X, labels, counts, sums, sumsq):
    """Per-task partial counts, sums (and, if ``sumsq`` has rows, sums of
    squares) of the rows of each label; tasks take contiguous row ranges."""
    n, p = X.shape
    n_tasks = counts.shape[0]
    squares = sumsq.shape[0] == n_tasks
    step = (n + n_tasks - 1) // n_tasks
    for task in prange(n_tasks):
        for i in range(task * step, min(n, (task + 1) * step)):
            c = labels[i]
            counts[task, c] += 1.0
            for j in range(p):
                value = np.float64(X[i, j])
                sums[task, c, j] += value
                if squares:
                    sumsq[task, c, j] += value * value


# small inputs take the serial version: waking the threads costs more than the sums
_label_sums_parallel, _label_sums_serial = parallel_and_serial(_label_sums_blocks)


def _label_sums(X, labels, n_clusters, squares=False):
    """Count, sum and (optionally) sum of squares of the rows of each label,
    in float64, in one parallel pass (no n x k indicator matrix)."""
    X = X if X.dtype in (np.float32, np.float64) else X.astype(np.float64)
    n_tasks = max(1, min(numba.get_num_threads(), X.shape[0] // 4096))
    p = X.shape[1]
    counts = np.zeros((n_tasks, n_clusters))
    sums = np.zeros((n_tasks, n_clusters, p))
    sumsq = np.zeros((n_tasks if squares else 0, n_clusters, p))
    kernel = _label_sums_parallel if n_tasks > 1 else _label_sums_serial
    kernel(np.ascontiguousarray(X), labels.astype(np.intp), counts, sums, sumsq)
    return counts.sum(axis=0), sums.sum(axis=0), (sumsq.sum(axis=0) if squares else None)


def cluster_sums(X, labels, n_clusters):
    """Per-cluster count, sum of rows and sum of squared rows."""
    return _label_sums(X, labels, n_clusters, squares=True)


def objective(distances, metric):
    """The quantity k-means minimises: squared distances, except k-medians,
    which minimises plain L1 distances."""
    if metric in ("manhattan", "cosine"):
        return float(distances.sum())
    return float(np.dot(distances, distances))


def kmeans_plusplus(X, n_clusters, rng, metric, n_local_trials=None):
    """Greedy k-means++ seeding (Arthur & Vassilvitskii, 2007).

    Each new centre is the best of ``n_local_trials`` candidates drawn with
    probability proportional to D(x)^2 (D(x) for k-medians), as in
    scikit-learn's ``kmeans_plusplus``.

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features)
    indices : ndarray of shape (n_clusters,)
    """
    n = X.shape[0]
    power = 1 if metric == "manhattan" else 2
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))
    indices = np.empty(n_clusters, dtype=np.intp)
    indices[0] = rng.integers(n)
    closest = pairwise_distances(X, X[indices[:1]], metric)[:, 0] ** power
    for c in range(1, n_clusters):
        potential = closest.sum()
        if potential <= 0.0:
            # every row coincides with a chosen centre: any row will do
            indices[c] = rng.integers(n)
            continue
        draws = rng.random(n_local_trials) * potential
        candidates = np.searchsorted(np.cumsum(closest), draws)
        # rounding in the cumulative sum can put a draw past the last row
        np.clip(candidates, None, n - 1, out=candidates)
        cand_dist = pairwise_distances(X[candidates], X, metric) ** power
        np.minimum(closest, cand_dist, out=cand_dist)
        best = int(np.argmin(cand_dist.sum(axis=1)))
        indices[c] = candidates[best]
        closest = cand_dist[best]
    return X[indices].copy(), indices


def _group_medians(X, labels, counts, fallback):
    """Coordinate-wise median of the rows of each label (k-medians' centre);
    a label without rows keeps its row of ``fallback``."""
    order = np.argsort(labels, kind="stable")
    groups = np.split(X[order], np.cumsum(counts.astype(np.intp))[:-1])
    medians = fallback.copy()
    for j, members in enumerate(groups):
        if members.shape[0]:
            medians[j] = np.median(members, axis=0)
    return medians


def _onto_sphere(centers, fallback):
    """Centres scaled to unit length (spherical k-means); a zero centre has
    no direction and keeps its row of ``fallback``."""
    norms = np.linalg.norm(centers, axis=1)
    ok = norms > 0
    centers[ok] /= norms[ok, None]
    centers[~ok] = fallback[~ok]
    return centers


def centers_from_sums(sums, counts, old_centers, metric):
    """Lloyd's centre update from each cluster's row count and sum of rows
    (in the kernel's space): the mean, projected onto the unit sphere for
    ``"cosine"``; a cluster without rows keeps its old centre. The means of
    k-medians are not sums: ``"manhattan"`` has no such update."""
    centers = old_centers.copy()
    filled = counts > 0
    centers[filled] = sums[filled] / counts[filled, None]
    if metric == "cosine":
        centers = _onto_sphere(centers, old_centers)
    return centers


def _update_centers(X, labels, distances, old_centers, metric, relocate_empty=True):
    k = old_centers.shape[0]
    counts = np.bincount(labels, minlength=k)
    if metric == "manhattan":
        centers = _group_medians(X, labels, counts, old_centers)
    else:
        _, sums, _ = _label_sums(X, labels, k)
        centers = centers_from_sums(sums, counts, old_centers, metric)
    empty = np.flatnonzero(counts == 0)
    if empty.size and relocate_empty:
        # Relocate empty clusters to the rows worst served by their centre.
        far = np.argsort(distances)[::-1][: empty.size]
        centers[empty[: far.size]] = X[far]
    return centers


def lloyd(X, centers, metric, max_iter, tol, relocate_empty=True):
    """Lloyd iterations from ``centers`` until the centres move less than
    ``tol`` (sum of squared shifts), labels stop changing, or ``max_iter``.

    An empty cluster is moved to the row worst served by its centre
    (``relocate_empty=True``, as scikit-learn does), or else dropped at the
    end: on data with anomalies, relocation parks centres on them.

    Returns
    -------
    centers, labels, distances, inertia, n_iter
    """
    labels, distances = nearest_centers(X, centers, metric)
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        new_centers = _update_centers(X, labels, distances, centers, metric, relocate_empty)
        shift = float(((new_centers - centers) ** 2).sum())
        centers = new_centers
        new_labels, distances = nearest_centers(X, centers, metric)
        stable = np.array_equal(new_labels, labels)
        labels = new_labels
        if stable or shift <= tol:
            break
    if not relocate_empty:
        used = np.bincount(labels, minlength=centers.shape[0]) > 0
        if not used.all():
            centers = centers[used]
            labels = np.cumsum(used)[labels] - 1
    return centers, labels, distances, objective(distances, metric), n_iter


def kmeans(
    X,
    n_clusters,
    metric,
    rng,
    n_init=1,
    max_iter=300,
    tol=1e-4,
    relocate_empty=True,
    n_local_trials=None,
):
    """k-means++ then Lloyd, best of ``n_init`` runs by the objective.

    ``tol`` is relative to the mean feature variance, as in scikit-learn.
    On more than ``_SEED_ROWS`` rows, seeding (and the variance behind
    ``tol``) uses a uniform sample of that many rows; Lloyd uses them all.
    See :func:`lloyd` for ``relocate_empty`` and :func:`kmeans_plusplus` for
    ``n_local_trials``.

    Returns
    -------
    centers, labels, distances, inertia, n_iter
    """
    # Seeding reads every row once per centre; on a large X a uniform sample
    # finds the same seeds (faiss trains on 256 rows per centroid by default).
    seed_rows = X
    if X.shape[0] > _SEED_ROWS:
        seed_rows = X[np.sort(rng.choice(X.shape[0], _SEED_ROWS, replace=False))]
    abs_tol = float(np.mean(np.var(seed_rows, axis=0, dtype=np.float64))) * tol
    best = None
    for _ in range(n_init):
        seeds, _ = kmeans_plusplus(seed_rows, n_clusters, rng, metric, n_local_trials)
        run = lloyd(X, seeds, metric, max_iter, abs_tol, relocate_empty)
        if best is None or run[3] < best[3]:
            best = run
    return best


def minibatch_step(X, centers, counts, metric):
    """One mini-batch update: each centre moves towards its batch members,
    weighted by how many rows it has absorbed so far.

    For k-medians the batch median of each cluster stands in for its
    members, a standard approximation of the running median.

    Returns
    -------
    centers, counts, labels, distances
        Labels and distances are for the batch under the *updated* centres.
    """
    k = centers.shape[0]
    labels, _ = nearest_centers(X, centers, metric)
    batch_counts = np.bincount(labels, minlength=k).astype(np.float64)
    hit = batch_counts > 0
    if metric == "manhattan":
        batch_sums = _group_medians(X, labels, batch_counts, centers) * batch_counts[:, None]
    else:
        _, batch_sums, _ = _label_sums(X, labels, k)
    total = counts + batch_counts
    new_centers = centers.copy()
    new_centers[hit] = (centers[hit] * counts[hit, None] + batch_sums[hit]) / total[hit, None]
    if metric == "cosine":
        new_centers = _onto_sphere(new_centers, centers)
    labels, distances = nearest_centers(X, new_centers, metric)
    return new_centers, total, labels, distances
