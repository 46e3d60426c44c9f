"""Metric strategies: how each metric maps encoded rows into the space the
kernels measure, maps centres back, and splits a distance into per-feature
terms for explanations.

=============  ==================  =========================================
metric         kernel (its space)  additive form the explanations split
=============  ==================  =========================================
euclidean      euclidean           squared distance, sum of (z_j - c_j)^2
manhattan      manhattan (medians) the distance, sum of |z_j - c_j|
cosine         cosine (unit rows)  1 - cos, sum of (u_j - c_j)^2 / 2
mahalanobis    euclidean, whitened squared distance, sum of d_j (S^-1 d)_j
=============  ==================  =========================================

Each strategy gives ``get_state()`` and is rebuilt by :func:`metric_from_state`.
"""

import numpy as np

from .._kernels.distance import unit_rows
from ..exceptions import ModelFileError

__all__ = [
    "METRICS",
    "Cosine",
    "Euclidean",
    "Mahalanobis",
    "Manhattan",
    "make_metric",
    "metric_from_state",
]


class Euclidean:
    """Plain Euclidean distance on the encoded rows."""

    name = "euclidean"
    kernel = "euclidean"
    # cluster profiles take the centroid as the typical value
    profile_from_mean = False

    def fit(self, Z):
        return self

    def to_space(self, Z):
        return Z

    def from_space(self, M):
        return M

    def additive(self, Z, centers):
        """Per-encoded-column terms that add up to the additive form;
        ``centers`` holds each row's own centroid in encoded units."""
        diff = Z - centers
        return diff * diff

    def get_state(self):
        return {"meta": {"name": self.name}, "arrays": {}}


class Manhattan(Euclidean):
    """L1 distance; the clustering is k-medians."""

    name = "manhattan"
    kernel = "manhattan"

    def additive(self, Z, centers):
        return np.abs(Z - centers)


class Cosine(Euclidean):
    """Cosine distance 1 - cos; the clustering is spherical k-means on unit
    rows, so a centroid is a direction and the members' mean is the typical
    value."""

    name = "cosine"
    kernel = "cosine"
    profile_from_mean = True

    def to_space(self, Z):
        return unit_rows(Z)

    def additive(self, Z, centers):
        unit = unit_rows(Z)
        terms = (unit - centers) ** 2 / 2.0
        # A zero row has no direction: its distance is 1 (see unit_rows),
        # carried by the centroid's coordinates.
        zero = ~unit.any(axis=1)
        terms[zero] = centers[zero] ** 2
        return terms


class Mahalanobis(Euclidean):
    """Distance under the training covariance: Euclidean on whitened rows."""

    name = "mahalanobis"

    def __init__(self, whitening=None, unwhitening=None, precision=None):
        self.whitening = whitening
        self.unwhitening = unwhitening
        self._precision = precision

    def fit(self, Z):
        cov = np.atleast_2d(np.cov(Z, rowvar=False))
        eigval, eigvec = np.linalg.eigh(cov)
        # Singular directions (constant or collinear features) get a small
        # floor instead of an infinite weight.
        floor = max(eigval.max(), 1.0) * 1e-9
        eigval = np.maximum(eigval, floor)
        self.whitening = (eigvec / np.sqrt(eigval)) @ eigvec.T
        self.unwhitening = (eigvec * np.sqrt(eigval)) @ eigvec.T
        self._precision = None
        return self

    @property
    def precision(self):
        """The inverse covariance S^-1."""
        if self._precision is None:
            self._precision = self.whitening @ self.whitening
        return self._precision

    def to_space(self, Z):
        return Z @ self.whitening

    def from_space(self, M):
        return M @ self.unwhitening

    def additive(self, Z, centers):
        diff = Z - centers
        # a term can be negative when features are correlated
        return diff * (diff @ self.precision)

    def get_state(self):
        arrays = {"whitening": self.whitening, "unwhitening": self.unwhitening}
        return {"meta": {"name": self.name}, "arrays": arrays}


METRICS = {cls.name: cls for cls in (Euclidean, Manhattan, Cosine, Mahalanobis)}


def make_metric(name):
    """An unfitted strategy for the metric called ``name``."""
    return METRICS[name]()


def metric_from_state(state):
    """The strategy described by a :meth:`get_state` dict."""
    name = state["meta"]["name"]
    if name not in METRICS:
        raise ModelFileError(f"unknown metric {name!r} in the model file.")
    metric = make_metric(name)
    if isinstance(metric, Mahalanobis):
        metric.whitening = state["arrays"]["whitening"]
        metric.unwhitening = state["arrays"]["unwhitening"]
    return metric
