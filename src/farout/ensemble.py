"""Bagged, trimmed k-means: the robust score behind farout's default.

Each of ``n_estimators`` members fits k-means on a small random sample of the
rows, then trims itself: it drops the ``trim`` fraction of its sample that
lies farthest from its centroids and refits from scratch, ``trim_rounds``
times. A member then measures distance with each feature weighted by the
inverse of its pooled within-cluster variance (floored at
``variance_floor`` times the mean variance). The score of a row is the mean,
over members, of its distance to the member's nearest centroid.

Why it works (measured in docs/benchmarks.md): a small sample holds few
anomalies, so they rarely get a centroid of their own (the reason Isolation
Forest subsamples too); trimming removes the ones that did; averaging many
members smooths what one member gets wrong. Dividing by a cluster's own
spread, by contrast, hides anomalies, because the clusters that absorb them
are exactly the ones with the largest spread.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = np.r_[rng.normal(size=(500, 2)), [[6.0, 6.0]]]
>>> scores = BaggedKMeans(random_state=0).fit(X).anomaly_score(X)
>>> int(np.argmax(scores))
500
"""

import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from ._kernels.kmeans import as_generator, count_distinct_rows, kmeans, minibatch_step
from .core.scoring import member_distance
from .exceptions import InputError, shown

__all__ = ["BaggedKMeans"]

_KERNEL_METRICS = ("euclidean", "manhattan", "cosine")


class BaggedKMeans(BaseEstimator):
    """An ensemble of trimmed k-means models fitted on small subsamples.

    Parameters
    ----------
    n_estimators : int, default=25
        Number of members; about 25 is where the mean stops improving.
    max_samples : int, default=256
        Rows drawn (without replacement) for each member, at most half the
        data so that members differ on small data sets.
    n_clusters : int or "auto", default="auto"
        Clusters per member; ``"auto"`` is ``sqrt(sample size) / 2`` (8 for
        256 rows), about 30 rows per centroid.
    trim : float, default=0.1
        Fraction of its sample a member drops in each trimming round.
    trim_rounds : int, default=3
        Trimming rounds (0 disables trimming).
    variance_floor : float or None, default=0.3
        Floor of the per-feature variances, as a fraction of their mean;
        ``None`` turns the per-feature weighting off (plain distance).
    max_iter : int, default=1
        Lloyd iterations after k-means++ seeding. One step measured as well
        as 2, 5 or 25 (docs/benchmarks.md) and is the fastest: a member
        only needs centroids inside the bulk of its sample.
    metric : {"euclidean", "manhattan", "cosine"}, default="euclidean"
        Kernel metric; for ``"cosine"`` rows must have unit length and no
        feature weighting is applied.
    random_state : int, RandomState, Generator or None, default=None

    Attributes
    ----------
    members_ : list of dict
        Each with ``centers`` (k, n_features), ``weights`` (n_features,) and
        ``counts`` (k,).
    """

    def __init__(
        self,
        n_estimators=25,
        max_samples=256,
        n_clusters="auto",
        trim=0.1,
        trim_rounds=3,
        variance_floor=0.3,
        max_iter=1,
        metric="euclidean",
        random_state=None,
    ):
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.n_clusters = n_clusters
        self.trim = trim
        self.trim_rounds = trim_rounds
        self.variance_floor = variance_floor
        self.max_iter = max_iter
        self.metric = metric
        self.random_state = random_state

    def _check_params(self):
        def positive_int(name, low=1):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
                raise InputError(
                    f"BaggedKMeans {name} must be an int >= {low}, got {shown(value)}."
                )

        positive_int("n_estimators")
        positive_int("max_samples", 2)
        positive_int("trim_rounds", 0)
        positive_int("max_iter")
        if self.n_clusters != "auto":
            positive_int("n_clusters")
        if not isinstance(self.trim, (int, float)) or not 0 <= self.trim < 0.5:
            raise InputError(f"BaggedKMeans trim must be in [0, 0.5), got {self.trim!r}.")
        floor = self.variance_floor
        if floor is not None and (not isinstance(floor, (int, float)) or not 0 <= floor <= 1):
            raise InputError(
                f"BaggedKMeans variance_floor must be in [0, 1] or None, got {floor!r}."
            )
        if self.metric not in _KERNEL_METRICS:
            raise InputError(
                f"BaggedKMeans metric must be one of {_KERNEL_METRICS}, got {self.metric!r}."
            )

    def fit(self, X, y=None):
        """Fit the members on numeric, already scaled rows ``X``."""
        self._check_params()
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        n = X.shape[0]
        rng = as_generator(self.random_state)
        size = min(self.max_samples, max(2, n // 2)) if n > 2 else n
        k = self.n_clusters
        if k == "auto":
            k = int(np.clip(np.sqrt(size) / 2, 2, 100))
        self.members_ = [self._fit_member(X, size, k, rng) for _ in range(self.n_estimators)]
        return self

    def _fit_member(self, X, size, k, rng):
        sample = X[rng.choice(X.shape[0], size, replace=False)] if size < X.shape[0] else X
        k = min(k, count_distinct_rows(sample))

        # Empty clusters are dropped, not relocated to the farthest rows:
        # relocation would park centroids on the anomalies.
        # Plain k-means++ (one candidate per seed, not the greedy variant, which
        # prefers far-out rows) and few Lloyd steps: members should describe
        # where the bulk of the sample lies, not converge on its outliers.
        def fit(rows):
            return kmeans(rows, k, self.metric, rng, 1, self.max_iter, 0.0, False, 1)

        centers, labels, dist, _, _ = fit(sample)
        for _ in range(self.trim_rounds):
            keep = dist <= np.quantile(dist, 1.0 - self.trim)
            if keep.sum() < 2 * k or keep.all():
                break
            sample = sample[keep]
            centers, labels, dist, _, _ = fit(sample)
        weights = np.ones(X.shape[1])
        if self.variance_floor is not None and self.metric != "cosine":
            variance = ((sample - centers[labels]) ** 2).mean(axis=0)
            if variance.mean() > 0:  # else every row sits on a centroid: keep weights 1
                floor = self.variance_floor * variance.mean()
                weights = 1.0 / np.sqrt(np.maximum(variance, floor))
        counts = np.bincount(labels, minlength=centers.shape[0]).astype(np.float64)
        return {"centers": centers, "weights": weights, "counts": counts}

    def anomaly_score(self, X):
        """Mean over members of the weighted distance to the nearest centroid;
        higher is more anomalous."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self._score(X)

    def _score(self, X):
        return member_distance(self.members_, self.metric, X)

    def partial_fit(self, X, y=None):
        """Move every member's centroids towards a new batch (a mini-batch
        step in each member's own weighting); fits on the first call."""
        if not hasattr(self, "members_"):
            return self.fit(X)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        for member in self.members_:
            w = member["weights"]
            centers, counts, _, _ = minibatch_step(
                X * w, member["centers"] * w, member["counts"], self.metric
            )
            member["centers"], member["counts"] = centers / w, counts
        return self

    # -------------------------------------------------------------- state
    def get_state(self):
        """``{"meta", "arrays"}``: the parameters and the fitted members."""
        arrays = {
            f"{i}.{key}": value
            for i, member in enumerate(self.members_)
            for key, value in member.items()
        }
        meta = {"params": self.get_params(), "n_features_in": int(self.n_features_in_)}
        return {"meta": meta, "arrays": arrays}

    @classmethod
    def from_state(cls, state):
        """The fitted ensemble described by a :meth:`get_state` dict."""
        meta, arrays = state["meta"], state["arrays"]
        ensemble = cls(**meta["params"])
        ensemble._check_params()
        ensemble.members_ = [
            {key: arrays[f"{i}.{key}"] for key in ("centers", "weights", "counts")}
            for i in range(ensemble.n_estimators)
        ]
        ensemble.n_features_in_ = int(meta["n_features_in"])
        return ensemble

    def set_state(self, arrays, n_features):
        """Deprecated since 0.3; use :meth:`from_state`."""
        warnings.warn(
            "BaggedKMeans.set_state is deprecated; use BaggedKMeans.from_state(state).",
            FutureWarning,
            stacklevel=2,
        )
        meta = {"params": self.get_params(), "n_features_in": n_features}
        self.members_ = type(self).from_state({"meta": meta, "arrays": arrays}).members_
        self.n_features_in_ = n_features
        return self
