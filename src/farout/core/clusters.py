"""Clusters: centres in the metric's space with their mergeable statistics.

This is the model of "normal" that every learning path shares. ``fitted``
builds it from a clustering's assignment; :meth:`Clusters.learn` is the one
update step (a mini-batch move of the centres, then a merge of the
statistics), used by ``partial_fit``, by refinement over a file, and by the
stream detector and Dask after it.
"""

from .._kernels.distance import nearest_centers
from .._kernels.kmeans import minibatch_step
from .metric import metric_from_state
from .stats import ClusterStats

__all__ = ["Clusters"]


class Clusters:
    """k centres of the clustering and what they have absorbed.

    Parameters
    ----------
    centers : ndarray (k, p)
        Centres in the metric's space (whitened for mahalanobis, unit
        length for cosine).
    stats : ClusterStats
    metric : a strategy from :mod:`farout.core.metric`
    """

    def __init__(self, centers, stats, metric, data_centers=None):
        self.centers = centers
        self.stats = stats
        self.metric = metric
        # the spread is read by every scored block: compute it once
        self.sigma, self.eps = stats.spread()
        # the centres in encoded units (``cluster_centers_``)
        self.data_centers = metric.from_space(centers) if data_centers is None else data_centers

    @classmethod
    def fitted(cls, centers, labels, distances, Z, metric):
        """Clusters from a clustering of encoded rows ``Z`` (``labels`` and
        ``distances`` from the centres in metric space)."""
        stats = ClusterStats.from_block(Z, labels, distances, centers.shape[0])
        return cls(centers, stats, metric)

    @property
    def n_clusters(self):
        return self.centers.shape[0]

    def assign(self, M):
        """(nearest cluster, distance) of rows ``M`` in the metric's space."""
        return nearest_centers(M, self.centers, self.metric.kernel)

    def learn(self, Z, M):
        """Clusters after one mini-batch step towards encoded rows ``Z``
        (``M``: the same rows in the metric's space): each centre moves
        towards its batch members, weighted by the rows it has absorbed,
        and the members' statistics merge into the cluster's."""
        centers, size, labels, distances = minibatch_step(
            M, self.centers, self.stats.size, self.metric.kernel
        )
        block = ClusterStats.from_block(Z, labels, distances, self.n_clusters)
        return Clusters(centers, self.stats.merge(block, size=size), self.metric)

    def get_state(self):
        return {
            "meta": {},
            "arrays": {"centers_metric": self.centers, "cluster_centers": self.data_centers},
            "parts": {"stats": self.stats.get_state(), "metric": self.metric.get_state()},
        }

    @classmethod
    def from_state(cls, state):
        parts = state["parts"]
        metric = metric_from_state(parts["metric"])
        arrays = state["arrays"]
        stats = ClusterStats.from_state(parts["stats"])
        return cls(arrays["centers_metric"], stats, metric, arrays["cluster_centers"])
