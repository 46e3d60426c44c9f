"""Moments of distances: (count, mean, M2) per group, their merge and their
pooling. Pure array functions; the one place where moments are merged.

M2 is the sum of squared deviations from the mean. Two sets of moments merge
exactly (Chan, Golub and LeVeque's parallel update), so statistics computed
block by block, partition by partition or row by row agree with those of all
the rows at once, up to the order of the floating-point sums.
"""

import numpy as np

__all__ = ["distance_moments", "merge_moments", "pool_moments", "spread"]


def distance_moments(labels, distances, n_clusters):
    """Per-cluster count, mean and M2 of the distances: the sufficient
    statistics of each cluster's spread."""
    counts = np.bincount(labels, minlength=n_clusters).astype(np.float64)
    sums = np.bincount(labels, weights=distances, minlength=n_clusters)
    means = np.divide(sums, counts, out=np.zeros(n_clusters), where=counts > 0)
    dev = distances - means[labels]
    m2 = np.bincount(labels, weights=dev * dev, minlength=n_clusters)
    return counts, means, m2


def merge_moments(a, b):
    """Combine two (count, mean, M2) triples, elementwise; counts may be 0."""
    n_a, mean_a, m2_a = a
    n_b, mean_b, m2_b = b
    n = n_a + n_b
    delta = mean_b - mean_a
    safe = np.where(n > 0, n, 1.0)
    mean = mean_a + delta * n_b / safe
    m2 = m2_a + m2_b + delta * delta * n_a * n_b / safe
    return n, mean, m2


def pool_moments(moments):
    """Pool per-cluster (count, mean, M2) into one (count, mean, M2) of
    Python floats: the moments of all the distances together."""
    counts, means, m2 = moments
    total = counts.sum()
    if total == 0:
        return 0.0, 0.0, 0.0
    mean = float((counts * means).sum() / total)
    pooled_m2 = float(m2.sum() + (counts * (means - mean) ** 2).sum())
    return float(total), mean, pooled_m2


def spread(moments):
    """``(sigma, pooled_sigma)``: the standard deviation of each group's
    distances, the pooled one where a group has fewer than two, and the
    pooled one itself."""
    counts, _, m2 = moments
    total = float(counts.sum())
    pooled_sigma = np.sqrt(pool_moments(moments)[2] / total) if total > 0 else 0.0
    sigma = np.sqrt(np.divide(m2, counts, out=np.zeros_like(m2), where=counts > 0))
    sigma[counts < 2] = pooled_sigma
    return sigma, pooled_sigma
