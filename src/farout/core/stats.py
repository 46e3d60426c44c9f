"""Mergeable per-cluster statistics: the one type every learning path
(fit, partial_fit, refinement over a file, streaming, Dask's reduction)
builds, merges and decays.

For each cluster it holds the rows absorbed, the sum and sum of squares of
their encoded features (the cluster profiles of explanations), and the
(count, mean, M2) of their distances to the centre (the spread sigma of
A(x) = D / (sigma + eps)).
"""

from dataclasses import dataclass

import numpy as np

from .._kernels.kmeans import cluster_sums
from .._kernels.moments import distance_moments, merge_moments, spread

__all__ = ["ClusterStats", "EPS_FLOOR", "EPS_RELATIVE"]

# eps in A(x) = D / (sigma + eps), relative to the pooled spread of all
# training distances so that it is free of the data's units.
EPS_RELATIVE = 1e-6
EPS_FLOOR = 1e-12

_FIELDS = ("size", "sums", "sumsq", "dist_count", "dist_mean", "dist_m2")


@dataclass(frozen=True)
class ClusterStats:
    """Sufficient statistics of k clusters.

    Attributes
    ----------
    size : ndarray (k,)
        Rows absorbed by each cluster: the weight of its centre in a
        mini-batch step (``cluster_sizes_``).
    sums, sumsq : ndarray (k, p)
        Sum and sum of squares of the members' encoded features.
    dist_count, dist_mean, dist_m2 : ndarray (k,)
        Count, mean and M2 of the members' distances to their centre.
    """

    size: np.ndarray
    sums: np.ndarray
    sumsq: np.ndarray
    dist_count: np.ndarray
    dist_mean: np.ndarray
    dist_m2: np.ndarray

    @classmethod
    def from_block(cls, Z, labels, distances, n_clusters):
        """Statistics of encoded rows ``Z`` assigned to ``labels`` at
        ``distances``."""
        size, sums, sumsq = cluster_sums(Z, labels, n_clusters)
        moments = distance_moments(labels, distances, n_clusters)
        return cls(size, sums, sumsq, *moments)

    @property
    def n_clusters(self):
        return self.size.shape[0]

    @property
    def moments(self):
        """(count, mean, M2) of the distances, per cluster."""
        return self.dist_count, self.dist_mean, self.dist_m2

    def merge(self, other, size=None):
        """Statistics of both sets of rows. ``size`` overrides the merged
        sizes (a mini-batch step weights the centre by the rows it moved
        towards, which it counts itself)."""
        moments = merge_moments(self.moments, other.moments)
        return ClusterStats(
            self.size + other.size if size is None else size,
            self.sums + other.sums,
            self.sumsq + other.sumsq,
            *moments,
        )

    def decay(self, factor):
        """Statistics with every row's weight multiplied by ``factor`` in
        [0, 1]: how a stream forgets. Means are unchanged."""
        return ClusterStats(
            self.size * factor,
            self.sums * factor,
            self.sumsq * factor,
            self.dist_count * factor,
            self.dist_mean,
            self.dist_m2 * factor,
        )

    def spread(self):
        """(sigma per cluster, eps): the standard deviation of each cluster's
        distances, the pooled one where a cluster has fewer than two rows,
        and eps = 1e-6 of the pooled sigma (at least 1e-12)."""
        sigma, pooled_sigma = spread(self.moments)
        return sigma, max(EPS_RELATIVE * pooled_sigma, EPS_FLOOR)

    def get_state(self):
        return {"meta": {}, "arrays": {name: getattr(self, name) for name in _FIELDS}}

    @classmethod
    def from_state(cls, state):
        arrays = state["arrays"]
        return cls(*(np.asarray(arrays[name]) for name in _FIELDS))
