"""Kernels against direct computations (SciPy's cdist, scikit-learn's KMeans)."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.cluster import KMeans

from farout._kernels.distance import nearest_centers, pairwise_distances
from farout._kernels.kmeans import as_generator, kmeans, kmeans_plusplus, lloyd, minibatch_step
from farout._kernels.moments import distance_moments, merge_moments
from farout.core.scoring import member_distance


def _unit(A):
    return A / np.linalg.norm(A, axis=1, keepdims=True)


@pytest.mark.parametrize(
    "metric, scipy_metric",
    [("euclidean", "euclidean"), ("manhattan", "cityblock"), ("cosine", "cosine")],
)
def test_nearest_centers_matches_cdist(rng, metric, scipy_metric):
    X = rng.normal(size=(1000, 5))
    C = rng.normal(size=(7, 5))
    if metric == "cosine":
        X, C = _unit(X), _unit(C)
    labels, dist = nearest_centers(X, C, metric)
    full = cdist(X, C, scipy_metric)
    np.testing.assert_array_equal(labels, full.argmin(axis=1))
    np.testing.assert_allclose(dist, full.min(axis=1), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(pairwise_distances(X, C, metric), full, atol=1e-12)


def test_nearest_centers_distance_is_exact_near_a_centre():
    # Large coordinates, tiny offsets: |x|^2 - 2x.c + |c|^2 would cancel to 0
    # or go negative here; the kernel must compute the difference directly.
    C = np.array([[1e6, 1e6], [-1e6, -1e6]])
    X = C[[0, 1, 0]] + np.array([[1e-3, 0.0], [0.0, -2e-3], [3e-4, 4e-4]])
    _, dist = nearest_centers(X, C, "euclidean")
    np.testing.assert_allclose(dist, [1e-3, 2e-3, 5e-4], rtol=1e-6)


def test_nearest_centers_handles_many_blocks(rng):
    X = rng.normal(size=(300_001 // 100, 3))
    C = rng.normal(size=(3000, 3))  # small blocks: rows per block = 349
    labels, dist = nearest_centers(X, C, "euclidean")
    full = cdist(X, C)
    np.testing.assert_array_equal(labels, full.argmin(axis=1))


def test_kmeans_plusplus_picks_distinct_rows_from_separated_blobs(rng):
    X = np.vstack([rng.normal(c, 0.01, size=(50, 2)) for c in (0, 10, 20, 30)])
    centers, idx = kmeans_plusplus(X, 4, as_generator(0), "euclidean")
    # one seed per blob
    assert sorted(np.round(centers[:, 0] / 10).astype(int).tolist()) == [0, 1, 2, 3]
    np.testing.assert_array_equal(centers, X[idx])


def test_kmeans_inertia_close_to_sklearn(rng):
    X = np.vstack([rng.normal(c, 1.0, size=(300, 4)) for c in range(0, 40, 5)])
    _, _, _, inertia, _ = kmeans(X, 8, "euclidean", as_generator(0), n_init=3)
    ref = KMeans(8, n_init=3, random_state=0).fit(X).inertia_
    assert inertia <= ref * 1.01


def test_lloyd_kmedians_centres_are_medians(rng):
    X = rng.standard_cauchy(size=(400, 3))
    seeds = X[:2].copy()
    centers, labels, dist, objective, _ = lloyd(X, seeds, "manhattan", 100, 0.0)
    for j in range(2):
        np.testing.assert_allclose(centers[j], np.median(X[labels == j], axis=0))
    np.testing.assert_allclose(dist, cdist(X, centers, "cityblock").min(axis=1))
    assert objective == pytest.approx(dist.sum())


def test_lloyd_spherical_centres_are_unit_mean_directions(rng):
    X = _unit(rng.normal(size=(300, 4)))
    centers, labels, _, _, _ = lloyd(X, X[:3].copy(), "cosine", 100, 0.0)
    np.testing.assert_allclose(np.linalg.norm(centers, axis=1), 1.0)
    for j in range(3):
        np.testing.assert_allclose(centers[j], _unit(X[labels == j].mean(axis=0)[None])[0])


def test_minibatch_step_is_running_mean(rng):
    centers = np.array([[0.0, 0.0], [10.0, 10.0]])
    counts = np.array([4.0, 1.0])
    batch = np.array([[1.0, 1.0], [9.0, 9.0], [11.0, 11.0]])
    new, total, labels, _ = minibatch_step(batch, centers, counts, "euclidean")
    np.testing.assert_allclose(new[0], (0 * 4 + 1) / 5 * np.ones(2))
    np.testing.assert_allclose(new[1], (10 * 1 + 9 + 11) / 3 * np.ones(2))
    np.testing.assert_array_equal(total, [5.0, 3.0])
    np.testing.assert_array_equal(labels, [0, 1, 1])


def test_merge_moments_equals_direct(rng):
    labels = rng.integers(0, 3, 500)
    dist = rng.gamma(2.0, size=500)
    half = 230
    merged = merge_moments(
        distance_moments(labels[:half], dist[:half], 3),
        distance_moments(labels[half:], dist[half:], 3),
    )
    direct = distance_moments(labels, dist, 3)
    for a, b in zip(merged, direct, strict=True):
        np.testing.assert_allclose(a, b)


def test_stacked_ensemble_kernel_matches_member_loop(rng):
    from farout.ensemble import BaggedKMeans

    X = rng.normal(size=(3000, 6))
    ensemble = BaggedKMeans(n_estimators=7, random_state=0).fit(X)
    ensemble.members_[2]["centers"] = ensemble.members_[2]["centers"][:3]  # uneven k
    X[:5] = ensemble.members_[0]["centers"][0]  # on a centre: the expansion would cancel
    X[5:10] = 1e5 + rng.normal(size=(5, 6))  # huge norms
    fast = member_distance(ensemble.members_, "euclidean", X)
    reference = np.mean(
        [
            nearest_centers(X * m["weights"], m["centers"] * m["weights"], "euclidean")[1]
            for m in ensemble.members_
        ],
        axis=0,
    )
    np.testing.assert_allclose(fast, reference, rtol=1e-9, atol=1e-12)
    assert np.isclose(fast[:5], reference[:5], rtol=1e-9).all()


# ------------------------------------------- compiled kernels vs NumPy references
@pytest.mark.parametrize("n", [1000, 40_000])  # serial and parallel kernels
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_compiled_nearest_matches_float64_reference(rng, n, dtype):
    from farout._kernels.distance import nearest_centers_numpy

    C = rng.normal(size=(16, 6)) * 3
    X = (C[rng.integers(0, 16, n)] + rng.normal(size=(n, 6))).astype(dtype)
    labels, dist = nearest_centers(X, C, "euclidean")
    ref_labels, ref_dist = nearest_centers_numpy(X.astype(np.float64), C, "euclidean")
    assert dist.dtype == np.float64
    # float32 may only choose differently on a near-tie
    assert (labels == ref_labels).mean() > (0.999 if dtype == np.float32 else 1 - 1e-12)
    same = labels == ref_labels
    np.testing.assert_allclose(dist[same], ref_dist[same], rtol=1e-12)


def test_compiled_nearest_is_exact_near_a_centre_in_float32():
    # float32 rows close to a centre far from the origin: the expansion in
    # float32 would return noise; the kernel takes the distance directly.
    C = np.array([[1000.0, 1000.0], [-1000.0, -1000.0]])
    X = (C[[0, 1, 0]] + np.array([[0.0625, 0.0], [0.0, -0.125], [0.03125, 0.0]])).astype(np.float32)
    _, dist = nearest_centers(X, C, "euclidean")
    np.testing.assert_allclose(dist, [0.0625, 0.125, 0.03125], rtol=1e-12)


def test_compiled_nearest_with_weights_is_the_scaled_distance(rng):
    from farout._kernels.distance import nearest_centers_numpy

    X = rng.normal(size=(3000, 4))
    C = rng.normal(size=(5, 4))
    w = np.array([0.5, 2.0, 1.0, 10.0])
    labels, dist = nearest_centers(X, C, "euclidean", weights=w)
    ref_labels, ref_dist = nearest_centers_numpy(X * w, C * w, "euclidean")
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-12)


def test_compiled_nearest_survives_values_that_overflow_float32(rng):
    C = np.array([[0.0, 0.0], [4e30, 4e30]])
    X = np.array([[3.9e30, 3.9e30], [1.0, 1.0]], dtype=np.float32)
    labels, dist = nearest_centers(X, C, "euclidean")
    np.testing.assert_array_equal(labels, [1, 0])
    assert np.isfinite(dist).all()


def test_compiled_nearest_propagates_nan(rng):
    X = rng.normal(size=(50, 3))
    X[7, 1] = np.nan
    _, dist = nearest_centers(X, rng.normal(size=(4, 3)), "euclidean")
    assert np.isnan(dist[7]) and np.isfinite(np.delete(dist, 7)).all()


@pytest.mark.parametrize("n", [900, 30_000])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_compiled_ensemble_matches_float64_reference(rng, n, dtype):
    from farout._kernels.distance import mean_weighted_nearest, mean_weighted_nearest_numpy

    X = (rng.normal(size=(n, 5)) + 50.0).astype(dtype)  # uncentred on purpose
    centers = [rng.normal(size=(k, 5)) + 50.0 for k in (3, 8, 5)]
    centers[1][2] = X[0]  # a row sitting on a centre: distance exactly 0
    weights = [rng.uniform(0.3, 3.0, 5) for _ in centers]
    got = mean_weighted_nearest(X, centers, weights)
    ref = mean_weighted_nearest_numpy(X.astype(np.float64), centers, weights)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("n", [500, 50_000])  # serial and parallel kernels
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_compiled_cluster_sums_match_numpy(rng, n, dtype):
    from farout._kernels.kmeans import cluster_sums

    X = rng.normal(size=(n, 3)).astype(dtype)
    labels = rng.integers(0, 5, n)
    labels[labels == 3] = 4  # an empty cluster
    counts, sums, sumsq = cluster_sums(X, labels, 5)
    X64 = X.astype(np.float64)
    np.testing.assert_array_equal(counts, np.bincount(labels, minlength=5))
    for c in range(5):
        np.testing.assert_allclose(sums[c], X64[labels == c].sum(axis=0), atol=1e-9)
        np.testing.assert_allclose(sumsq[c], (X64[labels == c] ** 2).sum(axis=0), atol=1e-9)


def test_parallel_and_serial_kernels_have_their_own_caches():
    # numba names a cache after the function: shared, the two versions would
    # load each other's machine code
    from farout._kernels import distance as _distance
    from farout._kernels import kmeans as _kmeans
    from farout._kernels import stats as _stats

    pairs = [
        (_distance._nearest_parallel, _distance._nearest_serial),
        (_distance._mean_nearest_parallel, _distance._mean_nearest_serial),
        (_kmeans._label_sums_parallel, _kmeans._label_sums_serial),
        (_stats._moments_parallel, _stats._moments_serial),
    ]
    for parallel, serial in pairs:
        assert parallel.targetoptions.get("parallel") and not serial.targetoptions.get("parallel")
        assert serial.targetoptions.get("nogil")
        assert parallel.py_func.__qualname__ != serial.py_func.__qualname__


def test_compiled_nearest_writes_into_given_arrays(rng):
    X = rng.normal(size=(300, 3))
    C = rng.normal(size=(4, 3))
    labels, dist = np.full(300, -1, dtype=np.intp), np.full(300, np.nan)
    got = nearest_centers(X, C, "euclidean", out=(labels, dist))
    assert got[0] is labels and got[1] is dist
    full = cdist(X, C)
    np.testing.assert_array_equal(labels, full.argmin(axis=1))
    np.testing.assert_allclose(dist, full.min(axis=1), rtol=1e-12)


@pytest.mark.parametrize("n", [300, 30_000])
def test_nearest_scores_divide_by_the_centre_spread(rng, n):
    from farout._kernels.distance import nearest_scores

    X = rng.normal(size=(n, 3)).astype(np.float32)
    C = rng.normal(size=(4, 3))
    spread = np.array([0.5, 1.0, 2.0, 4.0])
    labels, dist, scores = nearest_scores(X, C, spread)
    ref_labels, ref_dist = nearest_centers(X, C, "euclidean")
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_array_equal(dist, ref_dist)
    np.testing.assert_allclose(scores, dist / spread[labels], rtol=1e-15)


def test_compiled_ensemble_survives_squares_that_overflow(rng):
    from farout._kernels.distance import mean_weighted_nearest, mean_weighted_nearest_numpy

    # values near 1e160 with tiny weights: the expansion's row term is inf,
    # the distances themselves are finite
    centers = [rng.normal(size=(3, 4)) * 1e150, rng.normal(size=(2, 4)) * 1e150]
    weights = [np.full(4, 1e-150), np.full(4, 2e-150)]
    X = rng.normal(size=(300, 4)) * 1e160
    got = mean_weighted_nearest(X, centers, weights)
    with np.errstate(over="ignore"):
        want = mean_weighted_nearest_numpy(X, centers, weights)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_compiled_ensemble_is_exact_near_centres_far_from_the_origin(rng):
    from farout._kernels.distance import mean_weighted_nearest

    # rows 1e-8 from centres 1e7 out: the expansion cancels, the kernel
    # must recompute those distances directly
    base = rng.normal(size=(4, 8)) * 1e7
    centers = [base + rng.normal(size=(4, 8)) * 1e-6 * (b > 0) for b in range(5)]
    weights = [np.ones(8)] * 5
    X = base[rng.integers(4, size=1000)] + rng.normal(size=(1000, 8)) * 1e-8
    got = mean_weighted_nearest(X, centers, weights)
    # direct distances (the NumPy reference expands too, and cancels here)
    want = np.mean([cdist(X, C).min(axis=1) for C in centers], axis=0)
    np.testing.assert_allclose(got, want, rtol=1e-9)


@pytest.mark.parametrize("n", [700, 40_000])  # serial and parallel kernels
def test_kernels_take_column_major_rows_as_they_are(rng, n):
    # A DataFrame's block is column-major, and so are row slices of it: the
    # ensemble's kernel reads them without a copy, and both kernels return
    # what C-ordered rows give, to the bit.
    from farout._kernels.distance import as_kernel_rows, mean_weighted_nearest, nearest_scores

    rows = rng.normal(size=(n + 50, 6))
    column_major = np.asfortranarray(rows)
    part = column_major[20 : 20 + n]  # columns contiguous, rows not
    assert as_kernel_rows(part, by_column=True) is part
    C = rng.normal(size=(9, 6))
    spread = rng.uniform(0.5, 2.0, 9)
    pairs = [
        (part, np.ascontiguousarray(part)),
        (column_major, rows),
    ]
    for given, c_ordered in pairs:
        for got, want in zip(
            nearest_scores(given, C, spread), nearest_scores(c_ordered, C, spread), strict=True
        ):
            np.testing.assert_array_equal(got, want)
    centers = [rng.normal(size=(k, 6)) for k in (3, 8)]
    weights = [rng.uniform(0.3, 3.0, 6) for _ in centers]
    np.testing.assert_array_equal(
        mean_weighted_nearest(part, centers, weights),
        mean_weighted_nearest(np.ascontiguousarray(part), centers, weights),
    )
    # rows on centres far from the origin take the exact-distance path
    far_centers = [1e4 + rng.normal(size=(k, 6)) for k in (3, 8)]
    far = np.asfortranarray(1e4 + rng.normal(size=(n + 50, 6)))
    far[::7] = far_centers[1][2]
    far_part = far[20 : 20 + n]
    np.testing.assert_array_equal(
        mean_weighted_nearest(far_part, far_centers, weights),
        mean_weighted_nearest(np.ascontiguousarray(far_part), far_centers, weights),
    )
