"""Bagged, trimmed k-means: the robust score behind farout's default.

Each of ``n_estimators`` members fits k-means on a small random sample of the
rows, then trims itself: it drops the ``trim`` fraction of its sample that
lies farthest from its centroids and refits from scratch, ``trim_rounds``
times. A member then measures distance with each feature weighted by the
inverse of its pooled within-cluster variance (floored at
``variance_floor`` times the mean variance). The score of a row is the mean,
over members, of its distance to the member's nearest centroid. With
``clean`` (default 0.1) the members are then fitted once more, on samples
drawn only from the rows outside the top ``clean`` fraction of that score.

Why it works (measured in docs/benchmarks.md): a small sample holds few
anomalies, so they rarely get a centroid of their own (the reason Isolation
Forest subsamples too); trimming removes the ones that did; the consensus of
all members finds groups of anomalies that one member's trimming keeps, and
cleaning keeps them out of every final member; averaging many members
smooths what one member gets wrong. Dividing by a cluster's own
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

from ._kernels.distance import nearest_centers
from ._kernels.kmeans import as_generator, count_distinct_rows, kmeans, minibatch_step
from .core.members import (
    COMBINE_RULES,
    MEMBER_SCORES,
    ensemble_score,
    member_distance,
    member_scores,
    needs_quantiles,
    training_quantiles,
)
from .exceptions import InputError, ModelFileError, shown

__all__ = ["BaggedKMeans"]

_KERNEL_METRICS = ("euclidean", "manhattan", "cosine")
_FEATURE_RULES = ("sqrt", "log2", "bagging")
_MEMBER_KEYS = ("centers", "weights", "counts", "radius", "quantiles")


def _needed_keys(ensemble):
    needed = ["centers", "weights", "counts"]
    if ensemble.member_score == "local":
        needed.append("radius")
    if needs_quantiles(ensemble.combine):
        needed.append("quantiles")
    return needed


class BaggedKMeans(BaseEstimator):
    """An ensemble of trimmed k-means models fitted on small subsamples.

    Parameters
    ----------
    n_estimators : int, default=25
        Number of members; about 25 is where the mean stops improving.
    max_samples : int, default=256
        Rows drawn (without replacement) for each member, at most half the
        data so that members differ on small data sets.
    n_clusters : int, "auto" or (low, high), default="auto"
        Clusters per member; ``"auto"`` is ``sqrt(sample size) / 2`` (8 for
        256 rows), about 30 rows per centroid. A pair draws each member's k
        log-uniformly from ``low..high`` (an ensemble over k), at most half
        the sample.
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
    max_features : int, float, "sqrt", "log2" or "bagging", default=1.0
        Features each member sees (a feature-subspace ensemble): a count, a
        fraction of them, ``sqrt`` or ``log2`` of their number (for wide
        data), or ``"bagging"``, a size drawn per member from ``p/2..p-1``
        (Lazarevic and Kumar's feature bagging). Not with ``"cosine"``.
    member_score : {"distance", "local"}, default="distance"
        A member's score of a row: the weighted distance to its nearest
        centre, or that distance over the centre's radius (the RMS distance
        of the member's own rows to it), relative to the neighbourhood's
        density as in LOF.
    combine : {"mean", "max", "vote", "rank_mean", "rank_max"}, default="mean"
        How member scores become one: see :mod:`farout.core.members`.
        ``vote`` is the fraction of members whose ``vote_quantile`` of
        their own training scores the row exceeds; the ``rank_`` rules
        first turn each member's score into its rank among the training
        rows.
    vote_quantile : float, default=0.9
        Each member's own threshold for ``combine="vote"``.
    clean : float, default=0.1
        Consensus cleaning: fit the members, score every row by their mean
        distance, then fit the members again on samples drawn only from
        the rows outside that score's top ``clean`` fraction (0 turns it
        off, as in 0.2). A member's own trimming misses a group of
        anomalies that holds a centre of its own in that member; the
        consensus of all members sees it. Measured on ADBench (docs/benchmarks.md):
        +0.008 mean AP over four draws of the members, ROC-AUC level
        (+0.001), the same for 0.05, 0.1 and 0.2.
    random_state : int, RandomState, Generator or None, default=None

    Attributes
    ----------
    members_ : list of dict
        Each with ``centers`` (k, n_features), ``weights`` (n_features,;
        0 for a feature the member does not see), ``counts`` (k,),
        ``radius`` (k,) and, for the rank-based rules, ``quantiles`` (its
        training scores' quantiles).
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
        max_features=1.0,
        member_score="distance",
        combine="mean",
        vote_quantile=0.9,
        clean=0.1,
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
        self.max_features = max_features
        self.member_score = member_score
        self.combine = combine
        self.vote_quantile = vote_quantile
        self.clean = clean
        self.random_state = random_state

    def check_params(self):
        """Raise InputError naming the first parameter out of range (fit
        does this too; a command line calls it before reading any data)."""
        self._check_params()

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
        k = self.n_clusters
        if isinstance(k, (tuple, list)):
            if not (
                len(k) == 2
                and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in k)
                and 1 <= k[0] <= k[1]
            ):
                raise InputError(
                    "BaggedKMeans n_clusters as a range must be two ints (low, high) "
                    f"with 1 <= low <= high, got {shown(k)}."
                )
        elif k != "auto":
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
        self._check_features()
        for name, known in (("member_score", MEMBER_SCORES), ("combine", COMBINE_RULES)):
            if getattr(self, name) not in known:
                raise InputError(
                    f"BaggedKMeans {name} must be one of {known}, got {shown(getattr(self, name))}."
                )
        c = self.clean
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not 0 <= c < 0.5:
            raise InputError(f"BaggedKMeans clean must be in [0, 0.5), got {shown(c)}.")
        q = self.vote_quantile
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 < q < 1:
            raise InputError(f"BaggedKMeans vote_quantile must be in (0, 1), got {shown(q)}.")

    def _check_features(self):
        f = self.max_features
        if isinstance(f, bool) or not (
            f in _FEATURE_RULES
            or (isinstance(f, (int, np.integer)) and f >= 1)
            or (isinstance(f, float) and 0 < f <= 1)
        ):
            raise InputError(
                "BaggedKMeans max_features must be an int >= 1, a fraction in (0, 1], "
                f"or one of {_FEATURE_RULES}; got {shown(f)}."
            )
        if self.metric == "cosine" and f != 1.0:
            raise InputError(
                "BaggedKMeans max_features needs the euclidean or manhattan metric: a "
                "subspace of unit-length rows is not of unit length."
            )

    def _n_features(self, p, rng):
        """How many of ``p`` features the next member sees."""
        f = self.max_features
        if f == "bagging":
            return int(rng.integers((p + 1) // 2, p)) if p > 1 else p
        if f == "sqrt":
            return max(1, int(np.sqrt(p)))
        if f == "log2":
            return max(1, int(np.log2(p)))
        if isinstance(f, float):
            return max(1, int(f * p))
        return min(int(f), p)

    def fit(self, X, y=None):
        """Fit the members on numeric, already scaled rows ``X``."""
        self._check_params()
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        n = X.shape[0]
        rng = as_generator(self.random_state)
        size = min(self.max_samples, max(2, n // 2)) if n > 2 else n
        self.members_ = self._fit_members(X, size, rng)
        if self.clean:
            # A group of anomalies can hold a centre of its own in one
            # member; the consensus of all members sees it. The final
            # members sample only the rows outside the consensus's top.
            scores = member_distance(self.members_, self.metric, X)
            rows = X[scores <= np.quantile(scores, 1.0 - self.clean)]
            if rows.shape[0] >= 2:
                size = min(self.max_samples, max(2, rows.shape[0] // 2))
                self.members_ = self._fit_members(rows, size, rng)
        if needs_quantiles(self.combine):
            # one member at a time: memory stays at one score per row
            for member in self.members_:
                scores = member_scores([member], self.metric, X, self.member_score)[0]
                member["quantiles"] = training_quantiles(scores)
        return self

    def _fit_members(self, X, size, rng):
        return [
            self._fit_member(X, size, self._member_k(size, rng), rng)
            for _ in range(self.n_estimators)
        ]

    def _member_k(self, size, rng):
        k = self.n_clusters
        if k == "auto":
            return int(np.clip(np.sqrt(size) / 2, 2, 100))
        if isinstance(k, (tuple, list)):
            low, high = min(k[0], max(1, size // 2)), min(k[1], max(1, size // 2))
            return int(np.round(np.exp(rng.uniform(np.log(low), np.log(high)))))
        return int(k)

    def _fit_member(self, X, size, k, rng):
        sample = X[rng.choice(X.shape[0], size, replace=False)] if size < X.shape[0] else X
        p = X.shape[1]
        n_seen = self._n_features(p, rng)
        seen = np.sort(rng.choice(p, n_seen, replace=False)) if n_seen < p else None
        if seen is not None:
            sample = sample[:, seen]
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
        weights = np.ones(sample.shape[1])
        if self.variance_floor is not None and self.metric != "cosine":
            variance = ((sample - centers[labels]) ** 2).mean(axis=0)
            if variance.mean() > 0:  # else every row sits on a centroid: keep weights 1
                floor = self.variance_floor * variance.mean()
                weights = 1.0 / np.sqrt(np.maximum(variance, floor))
        counts = np.bincount(labels, minlength=centers.shape[0]).astype(np.float64)
        if seen is not None:
            # a subspace member is a full-width one with weight 0 elsewhere,
            # so every scoring path (and the stacked kernel) serves it as is
            full_centers = np.zeros((centers.shape[0], p))
            full_centers[:, seen] = centers
            full_weights = np.zeros(p)
            full_weights[seen] = weights
            centers, weights = full_centers, full_weights
        member = {"centers": centers, "weights": weights, "counts": counts}
        member["radius"] = self._radius(member, sample, seen)
        return member

    def _radius(self, member, sample, seen):
        """Each centre's RMS distance to the member's own rows (the scale of
        ``member_score="local"``), floored at a small share of the mean
        so that a centre on one repeated row does not divide by 0."""
        centers, weights = member["centers"], member["weights"]
        if seen is not None:
            centers, weights = centers[:, seen], weights[seen]
        if self.metric == "euclidean":
            labels, dist = nearest_centers(sample, centers, self.metric, weights)
        else:
            labels, dist = nearest_centers(sample * weights, centers * weights, self.metric)
        k = centers.shape[0]
        counts = np.maximum(np.bincount(labels, minlength=k), 1)
        radius = np.sqrt(np.bincount(labels, weights=dist**2, minlength=k) / counts)
        floor = 1e-6 * radius.mean() if radius.mean() > 0 else 1.0
        return np.maximum(radius, floor)

    def anomaly_score(self, X):
        """Mean over members of the weighted distance to the nearest centroid;
        higher is more anomalous."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self._score(X)

    def _score(self, X):
        return ensemble_score(self, X)

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
            # a feature the member does not see (weight 0) keeps centre 0
            member["centers"] = np.where(w > 0, centers / np.where(w > 0, w, 1.0), 0.0)
            member["counts"] = counts
        return self

    # -------------------------------------------------------------- state
    def get_state(self):
        """``{"meta", "arrays"}``: the parameters and the fitted members."""
        arrays = {
            f"{i}.{key}": value
            for i, member in enumerate(self.members_)
            for key, value in member.items()
        }
        params = self.get_params()
        if isinstance(params["n_clusters"], tuple):
            params["n_clusters"] = [int(v) for v in params["n_clusters"]]
        meta = {"params": params, "n_features_in": int(self.n_features_in_)}
        return {"meta": meta, "arrays": arrays}

    @classmethod
    def from_state(cls, state):
        """The fitted ensemble described by a :meth:`get_state` dict."""
        meta, arrays = state["meta"], state["arrays"]
        ensemble = cls(**meta["params"])
        ensemble._check_params()
        # files written before 0.3 hold no radius and no quantiles
        keys = [k for k in _MEMBER_KEYS if f"0.{k}" in arrays]
        ensemble.members_ = [
            {key: arrays[f"{i}.{key}"] for key in keys} for i in range(ensemble.n_estimators)
        ]
        missing = [k for k in _needed_keys(ensemble) if k not in keys]
        if missing:
            raise ModelFileError(
                f"the model file's ensemble has no member {missing[0]!r}, which its "
                f"member_score={ensemble.member_score!r} and combine={ensemble.combine!r} "
                "need; the file is damaged or from an incompatible version."
            )
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
