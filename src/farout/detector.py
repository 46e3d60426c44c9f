"""The k-means anomaly detector.

A point far from every cluster of normal data is anomalous. By default "far"
is the mean distance over a bag of trimmed k-means models
(:mod:`farout.ensemble`); the score as first written down, the distance in
units of the nearest cluster's spread::

    A(x) = D(x, C_i) / (sigma(C_i) + eps)

is ``score_mode="normalized"``.
"""

import numbers
from types import SimpleNamespace

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OutlierMixin, clone
from sklearn.utils.validation import check_is_fitted, validate_data

from . import explain as _explain
from . import persistence
from ._kernels.distance import (
    as_kernel_rows,
    mean_weighted_nearest,
    nearest_centers,
    nearest_scores,
)
from ._kernels.kmeans import (
    as_generator,
    cluster_sums,
    count_distinct_rows,
    distance_moments,
    kmeans,
    lloyd,
    merge_moments,
    minibatch_step,
)
from .ensemble import BaggedKMeans
from .exceptions import InputError, ModelFileError
from .model_selection import K_SELECTIONS, select_k
from .preprocessing import MAX_SCALED, SCALINGS, FeatureEncoder, is_plain_numeric
from .thresholds import (
    THRESHOLDS,
    Percentile,
    Threshold,
    assign_severity,
    fit_tiers,
    severity_codes,
    validate_tiers,
)

__all__ = ["KMeansAnomalyDetector", "load"]

METRICS = ("euclidean", "manhattan", "cosine", "mahalanobis")
SCORE_MODES = ("ensemble", "distance", "normalized")
MISSING = ("error", "impute")

# The metric the kernels run: Mahalanobis is Euclidean on whitened rows.
_KERNEL_METRIC = {
    "euclidean": "euclidean",
    "mahalanobis": "euclidean",
    "manhattan": "manhattan",
    "cosine": "cosine",
}

# Rows checked first when making sure there are at least k distinct rows.
_DISTINCT_SAMPLE = 20_000

# Rows encoded and scored at a time: bounds the memory of scoring.
_SCORE_BLOCK = 65_536

# eps in A(x) = D / (sigma + eps), relative to the pooled spread of all
# training distances so that it is free of the data's units.
_EPS_RELATIVE = 1e-6
_EPS_FLOOR = 1e-12

DEFAULT_THRESHOLD = Percentile(99.0)


class KMeansAnomalyDetector(OutlierMixin, BaseEstimator):
    """Anomaly detection by distance to k-means clusters of normal data.

    Features are encoded (numeric columns scaled, categorical columns
    one-hot encoded) and mapped into the chosen metric's space. By default
    (``score_mode="ensemble"``) a row's score is its mean distance to the
    nearest centroid over 25 trimmed k-means models, each fitted on a small
    sample, which keeps anomalies in the training data from getting clusters
    of their own. A single k-means clustering (k-means++ initialisation),
    fitted on the rows the ensemble finds most normal, gives cluster ids,
    explanations and per-cluster thresholds. ``score_mode="normalized"``
    scores by the distance to the nearest centroid divided by that cluster's
    spread::

        A(x) = D(x, C_i) / (sigma(C_i) + eps)

    where sigma(C_i) is the standard deviation of the training distances in
    cluster i. Clusters with fewer than two training rows use the pooled
    standard deviation of all training distances instead, and
    ``eps = 1e-6 * pooled sigma`` (at least 1e-12), so tight clusters never
    divide by zero and eps carries the data's own units.

    Parameters
    ----------
    n_clusters : int or "auto", default="auto"
        Number of clusters, or ``"auto"`` to choose it over ``k_range`` by
        ``k_selection``.
    metric : {"euclidean", "manhattan", "cosine", "mahalanobis"}, default="euclidean"
        ``"manhattan"`` runs k-medians (median centre update, L1
        assignment); ``"cosine"`` runs spherical k-means on unit-length rows
        and D is the cosine distance 1 - cos; ``"mahalanobis"`` measures
        distance under the training covariance by whitening the rows.
    scaling : {"standard", "minmax", "robust"} or None, default="standard"
        Scaling of numeric columns, fitted on the training data.
    score_mode : {"ensemble", "distance", "normalized"}, default="ensemble"
        ``"ensemble"``: the mean distance over a bag of trimmed k-means
        models fitted on small subsamples (see ``ensemble`` and
        :mod:`farout.ensemble`); robust when the training data holds
        anomalies, and the most accurate on real benchmark data.
        ``"distance"``: the raw D to the nearest centroid of the clustering.
        ``"normalized"``: A(x) above, as the method was first written down;
        right only when the training data is clean and the clusters differ
        in spread, because a cluster that absorbs anomalies gets a large
        spread and dividing by it hides them. The clusters, explanations
        and per-cluster thresholds always come from the single clustering.
    ensemble : BaggedKMeans, default=None
        The ensemble used by ``score_mode="ensemble"``; ``None`` means
        ``BaggedKMeans()`` (25 members of 256 rows, 3 rounds of 10%
        trimming). Its ``metric`` and ``random_state`` are set by the
        detector.
    threshold : Threshold, default=None
        A threshold object from :mod:`farout.thresholds`. ``None`` means
        ``Percentile(99)``: 1% of the training rows are flagged, which is
        the false-positive rate to expect on data like the training data.
    tiers : dict or list of (str, Threshold), default=None
        Named severity tiers, least severe first, e.g.
        ``{"monitor": Percentile(95), "warning": Percentile(99),
        "critical": Percentile(99.9)}``.
    trim : float or "auto", default="auto"
        Fraction of the training rows to drop as suspected anomalies before
        the clustering is fitted. With ``score_mode="ensemble"`` the rows
        the ensemble scores highest are dropped, once; otherwise the
        clustering is fitted, the ``trim`` most anomalous rows are dropped,
        and it is refitted, until the dropped set stops changing or
        ``trim_max_rounds`` is reached. ``"auto"`` is 0.05 for the ensemble
        (so clusters and explanations describe normal rows) and 0 for the
        other modes. Set 0 to disable.
    trim_max_rounds : int, default=5
    k_selection : {"silhouette", "elbow"}, default="silhouette"
        How ``n_clusters="auto"`` chooses k. Candidates are fitted on at most
        2,048 sampled rows and the silhouette is computed on 500; the chosen
        k is then refitted on all rows from the candidate's centres.
    k_range : (int, int), default=(2, 10)
        Smallest and largest k tried by ``n_clusters="auto"``.
    missing : {"error", "impute"}, default="error"
        What to do with NaN: refuse, or fill with the training median
        (numeric) or most frequent category (categorical).
    max_categories : int, default=100
        A categorical column with more distinct values is refused.
    n_init : int, default=1
        Number of k-means++ initialisations; the best run is kept.
    max_iter : int, default=300
    tol : float, default=1e-4
        Convergence tolerance relative to the mean feature variance.
    max_fit_rows : int or None, default=262_144
        On more rows than this, the ensemble, trimming, k selection,
        clustering and threshold learn from a uniform sample of this many
        rows (the scaling and categories still see every row, and
        ``labels_`` covers every row). A quarter of a million rows pins
        down a 99th percentile and a few dozen centroids to well within
        their sampling noise; the fit then costs the same at any size.
        ``None`` learns from every row.
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0
        Show progress bars on long steps when > 0.

    Attributes
    ----------
    n_clusters_ : int
    cluster_centers_ : ndarray of shape (n_clusters_, n_encoded_features)
        Centroids in the encoded, scaled feature space (unit length for
        cosine).
    cluster_sizes_ : ndarray of shape (n_clusters_,)
        Training rows absorbed by each cluster (after trimming).
    cluster_sigma_ : ndarray of shape (n_clusters_,)
        Standard deviation of the training distances in each cluster.
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training row (not kept in model files).
    inertia_ : float
    n_iter_ : int
    k_selection_ : pandas.DataFrame or None
        Per-k criterion values when ``n_clusters="auto"``.
    threshold_ : Threshold
        The fitted threshold.
    offset_ : float
        ``decision_function = score_samples - offset_``; equals minus the
        threshold's cut. For a :class:`~farout.thresholds.PerCluster`
        threshold each row's own cluster cut is used instead.
    tiers_ : list of (str, Threshold)
    trimmed_ : ndarray
        Indices of the training rows dropped by trimming.
    n_trim_rounds_ : int
    training_summary_ : dict
        Quantiles of the training anomaly scores.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when fitted on a DataFrame with string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from farout import KMeansAnomalyDetector
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (100, 2)), rng.normal(8, 1, (100, 2))])
    >>> det = KMeansAnomalyDetector(n_clusters=2, random_state=0).fit(X)
    >>> det.predict([[0.0, 0.0], [4.0, 20.0]]).tolist()
    [1, -1]
    """

    def __init__(
        self,
        n_clusters="auto",
        *,
        metric="euclidean",
        scaling="standard",
        score_mode="ensemble",
        ensemble=None,
        threshold=None,
        tiers=None,
        trim="auto",
        trim_max_rounds=5,
        k_selection="silhouette",
        k_range=(2, 10),
        missing="error",
        max_categories=100,
        n_init=1,
        max_iter=300,
        tol=1e-4,
        max_fit_rows=262_144,
        random_state=None,
        verbose=0,
    ):
        self.n_clusters = n_clusters
        self.metric = metric
        self.scaling = scaling
        self.score_mode = score_mode
        self.ensemble = ensemble
        self.threshold = threshold
        self.tiers = tiers
        self.trim = trim
        self.trim_max_rounds = trim_max_rounds
        self.k_selection = k_selection
        self.k_range = k_range
        self.missing = missing
        self.max_categories = max_categories
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.max_fit_rows = max_fit_rows
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------ checks
    def _check_params(self):
        def choice(name, options):
            value = getattr(self, name)
            if value not in options:
                raise InputError(f"{name} must be one of {options}, got {value!r}.")

        choice("metric", METRICS)
        choice("scaling", SCALINGS)
        choice("score_mode", SCORE_MODES)
        choice("k_selection", K_SELECTIONS)
        choice("missing", MISSING)
        k = self.n_clusters
        if not (k == "auto" or (_is_int(k) and k >= 1)):
            raise InputError(f"n_clusters must be 'auto' or an int >= 1, got {k!r}.")
        for name, low in (
            ("n_init", 1),
            ("max_iter", 1),
            ("max_categories", 1),
            ("trim_max_rounds", 1),
        ):
            value = getattr(self, name)
            if not _is_int(value) or value < low:
                raise InputError(f"{name} must be an int >= {low}, got {value!r}.")
        if self.max_fit_rows is not None and (
            not _is_int(self.max_fit_rows) or self.max_fit_rows < 2
        ):
            raise InputError(
                f"max_fit_rows must be an int >= 2 or None, got {self.max_fit_rows!r}."
            )
        if not isinstance(self.tol, numbers.Real) or self.tol < 0:
            raise InputError(f"tol must be a number >= 0, got {self.tol!r}.")
        if self.trim != "auto" and (
            not isinstance(self.trim, numbers.Real) or not 0 <= self.trim < 0.5
        ):
            raise InputError(f"trim must be 'auto' or a fraction in [0, 0.5), got {self.trim!r}.")
        if self.ensemble is not None and not isinstance(self.ensemble, BaggedKMeans):
            raise InputError(
                f"ensemble must be a farout.ensemble.BaggedKMeans, got {self.ensemble!r}."
            )
        if self.threshold is not None and not isinstance(self.threshold, Threshold):
            raise InputError(
                "threshold must be a threshold object from farout.thresholds, e.g. "
                f"Percentile(99), got {self.threshold!r}."
            )
        validate_tiers(self.tiers)

    def _validate(self, X, reset):
        """Validated input: a DataFrame (names checked) or a float array."""
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, reset=reset, skip_check_array=True)
            if X.shape[0] == 0:
                raise InputError(f"Found array with 0 sample(s) (shape={X.shape}); X is empty.")
            if X.shape[1] == 0:
                raise InputError(f"Found array with 0 feature(s) (shape={X.shape}).")
            return X
        try:
            return validate_data(
                self, X, reset=reset, dtype=[np.float64, np.float32], ensure_all_finite=False
            )
        except ValueError as exc:
            if "could not convert string to float" not in str(exc):
                raise
            raise InputError(
                f"array input must be numeric ({exc}); to use text columns as "
                "categories, pass a pandas DataFrame with column names."
            ) from None

    def _feature_labels(self, X):
        """Names for messages and explanations: the DataFrame's columns (as
        text, even when they are not strings), else x0, x1, ..."""
        if isinstance(X, pd.DataFrame):
            return [str(c) for c in X.columns]
        return [f"x{j}" for j in range(X.shape[1])]

    # --------------------------------------------------------- geometry
    def _fit_metric_space(self, Z):
        self._whitening = None
        if self.metric == "mahalanobis":
            cov = np.atleast_2d(np.cov(Z, rowvar=False))
            eigval, eigvec = np.linalg.eigh(cov)
            # Singular directions (constant or collinear features) get a small
            # floor instead of an infinite weight.
            floor = max(eigval.max(), 1.0) * 1e-9
            eigval = np.maximum(eigval, floor)
            self._whitening = (eigvec / np.sqrt(eigval)) @ eigvec.T
            self._unwhitening = (eigvec * np.sqrt(eigval)) @ eigvec.T

    def _to_metric_space(self, Z):
        if self.metric == "mahalanobis":
            return Z @ self._whitening
        if self.metric == "cosine":
            norms = np.linalg.norm(Z, axis=1, keepdims=True)
            return np.divide(Z, norms, out=np.zeros_like(Z), where=norms > 0)
        return Z

    def _from_metric_space(self, M):
        if self.metric == "mahalanobis":
            return M @ self._unwhitening
        return M

    @property
    def _kernel_metric(self):
        return _KERNEL_METRIC[self.metric]

    # -------------------------------------------------------------- fit
    def fit(self, X, y=None):
        """Learn clusters of normal data, their spreads and the threshold.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Training data; may contain anomalies (see ``trim``).
        y : array-like, optional
            Labels, used only by thresholds that need them (such as
            :class:`~farout.thresholds.CostOptimal`); the clusters and scores
            never see them.

        Returns
        -------
        self
        """
        self._check_params()
        X = self._validate(X, reset=True)
        n = X.shape[0]
        if n < 2:
            raise InputError(f"need at least 2 samples to fit, got {n} sample (n_samples=1).")
        encoder = FeatureEncoder(self.scaling, self.missing, self.max_categories)
        self._encoder = encoder.fit(X, self._feature_labels(X))
        rng = as_generator(self.random_state)
        # The model learns from at most max_fit_rows rows (see the parameter).
        rows = None
        X_fit = X
        if self.max_fit_rows is not None and n > self.max_fit_rows:
            rows = np.sort(rng.choice(n, self.max_fit_rows, replace=False))
            X_fit = X.iloc[rows] if isinstance(X, pd.DataFrame) else X[rows]
            if y is not None:
                y = np.asarray(y)[rows]
        Z, _ = self._encoder.transform(X_fit)
        self._fit_metric_space(Z)
        M = self._to_metric_space(Z)
        n_fit = M.shape[0]
        trim = self._trim_fraction()
        n_drop = int(round(trim * n_fit))
        keep = np.ones(n_fit, dtype=bool)
        self.ensemble_ = None
        self._trim_cut = None
        ensemble_scores = None
        if self.score_mode == "ensemble":
            ensemble = BaggedKMeans() if self.ensemble is None else clone(self.ensemble)
            seed = int(rng.integers(np.iinfo(np.int32).max))
            ensemble.set_params(metric=self._kernel_metric, random_state=seed)
            self.ensemble_ = ensemble.fit(M)
            ensemble_scores = self._ensemble_scores(X_fit, M)
            if n_drop:
                # The clustering (for explanations and cluster ids) learns
                # from the rows the robust ensemble finds most normal.
                ranked = np.argsort(ensemble_scores, kind="stable")
                keep[ranked[n_fit - n_drop :]] = False
                self._trim_cut = float(ensemble_scores[ranked[n_fit - n_drop - 1]])
        k, start = self._choose_k(M[keep], rng)
        iterative = self.score_mode != "ensemble" and n_drop > 0
        keep = self._fit_clustering(M, Z, keep, k, start, rng, n_drop if iterative else 0)
        trimmed = np.flatnonzero(~keep)
        self.trimmed_ = trimmed if rows is None else rows[trimmed]
        if not iterative and n_drop:
            self.n_trim_rounds_ = 1
        # The threshold is fitted on scores from the very code that scores
        # new rows, so that predict(X) flags the intended share of X.
        _, _, _, labels, _, scores = self._score_rows(X_fit, with_scores=ensemble_scores is None)
        if ensemble_scores is not None:
            scores = ensemble_scores
        self._fit_thresholds(scores, labels, y)
        self._summarise_training(scores, labels)
        self.training_summary_.update(n_rows=n, n_rows_fitted=n_fit)
        self.labels_ = labels if rows is None else self._score_rows(X, with_scores=False)[3]
        return self

    def _fit_clustering(self, M, Z, keep, k, start, rng, n_drop):
        """Fit the clustering on the rows in ``keep``; with ``n_drop``, drop
        the ``n_drop`` highest-scoring rows and refit until the dropped set
        is stable. Returns the final ``keep`` mask."""
        n = M.shape[0]
        self.n_trim_rounds_ = 0
        abs_tol = float(np.mean(np.var(M[keep], axis=0))) * self.tol
        for round_ in range(self.trim_max_rounds + 1):
            if start is None:
                centers, labels, distances, inertia, n_iter = kmeans(
                    M[keep], k, self._kernel_metric, rng, self.n_init, self.max_iter, self.tol
                )
            else:
                # warm start: the k-selection's (or previous round's) centres
                centers, labels, distances, inertia, n_iter = lloyd(
                    M[keep], start, self._kernel_metric, self.max_iter, abs_tol
                )
            start = centers
            self._set_clusters(centers, labels, distances, Z[keep])
            self.inertia_, self.n_iter_ = inertia, n_iter
            if not n_drop or round_ == self.trim_max_rounds:
                break
            scores = self._cluster_scores(*self._assign(M))
            new_keep = np.ones(n, dtype=bool)
            new_keep[np.argsort(scores, kind="stable")[n - n_drop :]] = False
            self.n_trim_rounds_ = round_ + 1
            if np.array_equal(new_keep, keep):
                break
            keep = new_keep
        return keep

    def _trim_fraction(self):
        if self.trim == "auto":
            return 0.05 if self.score_mode == "ensemble" else 0.0
        return float(self.trim)

    def _choose_k(self, M, rng):
        if self.n_clusters == "auto":
            selection = select_k(
                M,
                self.k_range,
                self.k_selection,
                self._kernel_metric,
                n_init=self.n_init,
                max_iter=self.max_iter,
                tol=self.tol,
                random_state=rng,
                progress=self.verbose > 0,
            )
            self.k_selection_ = selection.table
            k = selection.best_k
            start = selection.centers.get(k)
        else:
            self.k_selection_ = None
            k = int(self.n_clusters)
            start = None
        # Counting distinct rows sorts them; a sample with k distinct rows
        # settles it without sorting all of them.
        if (
            count_distinct_rows(M[:_DISTINCT_SAMPLE]) < k
            and (n_distinct := count_distinct_rows(M)) < k
        ):
            raise InputError(
                f"n_clusters={k} is larger than the number of distinct rows "
                f"({n_distinct}); use a smaller n_clusters."
            )
        self.n_clusters_ = k
        return k, start

    def _set_clusters(self, centers_metric, labels, distances, Z):
        """Set the cluster state from centres and the assignment of the rows
        ``Z`` they were fitted on."""
        k = centers_metric.shape[0]
        self.cluster_centers_ = self._from_metric_space(centers_metric)
        self._centers_metric = centers_metric
        self._dist_moments = distance_moments(labels, distances, k)
        counts, self._feature_sums, self._feature_sumsq = cluster_sums(Z, labels, k)
        self.cluster_sizes_ = counts
        self._finalize_spread()

    def _finalize_spread(self):
        counts, _, m2 = self._dist_moments
        total = float(counts.sum())
        pooled = _pooled_moments(self._dist_moments)
        pooled_sigma = np.sqrt(pooled[2] / total) if total > 0 else 0.0
        sigma = np.sqrt(np.divide(m2, counts, out=np.zeros_like(m2), where=counts > 0))
        sigma[counts < 2] = pooled_sigma
        self.cluster_sigma_ = sigma
        self.eps_ = max(_EPS_RELATIVE * pooled_sigma, _EPS_FLOOR)

    def _fit_thresholds(self, scores, labels, y=None, threshold=None, tiers=None):
        if threshold is None:
            threshold = DEFAULT_THRESHOLD if self.threshold is None else self.threshold
        # y is used only by thresholds that need labels; fit(X, y) stays unsupervised
        tiers = self.tiers if tiers is None else tiers
        if not any(t.needs_labels for t in [threshold, *dict(validate_tiers(tiers)).values()]):
            y = None
        self.threshold_ = clone(threshold).fit(scores, labels, self.n_clusters_, y)
        self.offset_ = -self.threshold_.cut_
        self.tiers_ = fit_tiers(tiers, scores, labels, self.n_clusters_, y)

    def _summarise_training(self, scores, labels):
        quantiles = (0.0, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0)
        values = np.quantile(scores, quantiles)
        self.training_summary_ = {
            "n_rows": int(scores.shape[0]),
            "mean": float(scores.mean()),
            "std": float(scores.std()),
            **{f"q{q:g}": float(v) for q, v in zip(quantiles, values, strict=True)},
            "flagged_fraction": float(self.threshold_.flag(scores, labels).mean()),
        }

    def fit_threshold(self, X, y=None, threshold=None, tiers=None):
        """Refit the threshold (and tiers) on the scores of ``X``, typically a
        labelled validation set, and keep them: they are saved with the model.

        Parameters
        ----------
        X : array-like or DataFrame
        y : array-like, optional
            Labels (0/1, booleans or +1/-1 with -1 = anomaly), for thresholds
            that need them such as :class:`~farout.thresholds.CostOptimal`.
        threshold : Threshold, optional
            Defaults to the ``threshold`` parameter.
        tiers : dict or list of (str, Threshold), optional
            Refit these tiers too; by default the fitted tiers are kept.

        Returns
        -------
        self
        """
        if threshold is not None and not isinstance(threshold, Threshold):
            raise InputError(f"threshold must be a threshold object, got {threshold!r}.")
        _, _, _, labels, _, scores = self._score_rows(X)
        kept_tiers = self.tiers_
        self._fit_thresholds(scores, labels, y, threshold, tiers)
        if tiers is None:
            self.tiers_ = kept_tiers
        return self

    def partial_fit(self, X, y=None):
        """Update the model with one mini-batch.

        The first call on an unfitted model fits it on the batch (encoder,
        k, clusters, threshold). Later calls move each centroid towards its
        batch members, weighted by the rows it has absorbed so far, and
        update the cluster spreads and profiles. The encoder, whitening and
        threshold cut stay as first fitted.

        Returns
        -------
        self
        """
        if not hasattr(self, "cluster_centers_"):
            return self.fit(X)
        X = self._validate(X, reset=False)
        Z, _ = self._encoder.transform(X)
        M = self._to_metric_space(Z)
        self._step_clusters(Z, M)
        if self.ensemble_ is not None:
            self.ensemble_.partial_fit(M)
        return self

    def _step_clusters(self, Z, M):
        """One mini-batch step of the clusters towards encoded rows ``Z``
        (``M`` in metric space): centroids, spreads and profiles."""
        centers, counts, labels, distances = minibatch_step(
            M, self._centers_metric, self.cluster_sizes_, self._kernel_metric
        )
        k = self.n_clusters_
        self._centers_metric = centers
        self.cluster_centers_ = self._from_metric_space(centers)
        self.cluster_sizes_ = counts
        self._dist_moments = merge_moments(
            self._dist_moments, distance_moments(labels, distances, k)
        )
        _, sums, sumsq = cluster_sums(Z, labels, k)
        self._feature_sums = self._feature_sums + sums
        self._feature_sumsq = self._feature_sumsq + sumsq
        self._finalize_spread()

    def refine_clusters(self, X):
        """One mini-batch step of the clustering towards more rows of the
        training data: the step that lets ``farout fit`` learn from a file
        larger than memory after fitting on a sample of it.

        Unlike :meth:`partial_fit`, only the clusters move (centroids,
        spreads, profiles): the encoder, the ensemble (whose members must stay
        fitted on small subsamples) and the threshold stay as they are. Rows
        the training would have trimmed (scored above the trimming cut) are
        skipped. Refit the threshold afterwards (:meth:`fit_threshold`) if
        the score depends on the clusters.

        Returns
        -------
        self
        """
        X, _, _, _, _, scores = self._score_rows(X)
        keep = np.ones(len(scores), dtype=bool)
        if self._trim_cut is not None:
            keep = scores <= self._trim_cut
        if not keep.any():
            return self
        rows = X.iloc[keep] if isinstance(X, pd.DataFrame) else X[keep]
        Z, _ = self._encoder.transform(rows)
        self._step_clusters(Z, self._to_metric_space(Z))
        return self

    # -------------------------------------------------------- inference
    def _assign(self, M):
        return nearest_centers(M, self._centers_metric, self._kernel_metric)

    def _scores(self, M, labels, distances):
        """The anomaly score of rows ``M`` (metric space) in this score mode."""
        if self.score_mode == "ensemble":
            return self.ensemble_._score(M)
        return self._cluster_scores(labels, distances)

    def _cluster_scores(self, labels, distances):
        """Scores from the single clustering: D, or D / (sigma + eps)."""
        if self.score_mode != "normalized":
            return distances
        return distances / (self.cluster_sigma_[labels] + self.eps_)

    def _score_rows(self, X, keep_encoded=False, with_scores=True):
        """(validated X, Z, unseen, labels, distances, scores) for new rows.

        Rows are encoded and scored in blocks, so memory stays near the
        input's own size; the encoded matrix Z is kept only when asked for
        (explanations need it), else Z is None. An all-numeric Euclidean
        model scores raw rows directly (see :meth:`_raw_geometry`).
        ``with_scores=False`` assigns clusters only (scores are distances).
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        n = X.shape[0]
        labels = np.empty(n, dtype=np.intp)
        distances = np.empty(n)
        scores = np.empty(n)
        encoded, unseen_parts = [], {}
        geometry = None if keep_encoded else self._raw_geometry()
        for start in range(0, n, _SCORE_BLOCK):
            stop = min(n, start + _SCORE_BLOCK)
            part = X.iloc[start:stop] if isinstance(X, pd.DataFrame) else X[start:stop]
            if geometry is not None and is_plain_numeric(part):
                done = self._score_raw(part, geometry, with_scores)
                if done is not None:
                    labels[start:stop], distances[start:stop], scores[start:stop] = done
                    continue
            Z, unseen = self._encoder.transform(part, offset=start)
            M = self._to_metric_space(Z)
            labels[start:stop], distances[start:stop] = self._assign(M)
            scores[start:stop] = (
                self._scores(M, labels[start:stop], distances[start:stop])
                if with_scores
                else distances[start:stop]
            )
            if keep_encoded:
                encoded.append(Z)
            for name, mask in unseen.items():
                unseen_parts.setdefault(name, []).append(mask)
        Z = (np.vstack(encoded) if len(encoded) > 1 else encoded[0]) if keep_encoded else None
        unseen = {name: np.concatenate(masks) for name, masks in unseen_parts.items()}
        if not np.isfinite(scores).all():
            row = int(np.flatnonzero(~np.isfinite(scores))[0])
            raise InputError(
                f"row {_label(X, row)} is too far from every cluster to score in "
                "float64 (its distance overflows); check it for corrupt values."
            )
        return X, Z, unseen, labels, distances, scores

    def _raw_geometry(self, clusters=True):
        """Centres and per-feature weights that measure the model's distances
        on raw numeric rows, the scaling folded into the kernel: scoring then
        needs no encoded copy of the rows. None unless every column is
        numeric and the metric is Euclidean. ``clusters=False`` leaves out
        the clustering (for the ensemble's scores during fit)."""
        encoder = self._encoder
        if self.metric != "euclidean" or any(c["kind"] != "numeric" for c in encoder.columns):
            return None
        center, scale = encoder.center, encoder.scale
        geometry = {}
        if clusters:
            geometry.update(centers=self._centers_metric * scale + center, weights=1.0 / scale)
        if self.ensemble_ is not None:
            members = self.ensemble_.members_
            geometry["members"] = [m["centers"] * scale + center for m in members]
            geometry["member_weights"] = [m["weights"] / scale for m in members]
        return geometry

    def _ensemble_scores(self, X, M):
        """The ensemble's scores of validated rows ``X`` (``M``: the same
        rows in metric space), block by block exactly as
        :meth:`_score_rows` computes them, so a threshold fitted on them
        matches what scoring returns."""
        geometry = self._raw_geometry(clusters=False)
        scores = np.empty(M.shape[0])
        for start in range(0, M.shape[0], _SCORE_BLOCK):
            stop = min(M.shape[0], start + _SCORE_BLOCK)
            part = X.iloc[start:stop] if isinstance(X, pd.DataFrame) else X[start:stop]
            if geometry is not None and is_plain_numeric(part):
                raw = part.to_numpy(dtype=np.float64) if isinstance(part, pd.DataFrame) else part
                block = mean_weighted_nearest(raw, geometry["members"], geometry["member_weights"])
                if np.isfinite(block).all():
                    scores[start:stop] = block
                    continue
            scores[start:stop] = self.ensemble_._score(M[start:stop])
        return scores

    def _score_raw(self, part, geometry, with_scores=True):
        """(labels, distances, scores) of an all-numeric block, or None when
        a value needs the encoder (NaN to impute, or a value to name in an
        error)."""
        raw = part.to_numpy(dtype=np.float64) if isinstance(part, pd.DataFrame) else part
        # The ensemble's kernel reads a DataFrame's column-major block as it
        # is; the nearest-centre kernel makes its own row-major copy.
        raw = as_kernel_rows(raw, by_column=True)
        centers, weights = geometry["centers"], geometry["weights"]
        if with_scores and self.score_mode == "normalized":
            # A(x) = D / (sigma + eps) in the same pass as the assignment
            spread = self.cluster_sigma_ + self.eps_
            labels, distances, scores = nearest_scores(raw, centers, spread, weights)
        else:
            labels, distances = nearest_centers(raw, centers, "euclidean", weights)
            scores = distances
        # NaN, inf and values too large to scale all show up in the distance
        if not (distances < MAX_SCALED).all():
            return None
        if with_scores and self.score_mode == "ensemble":
            scores = mean_weighted_nearest(raw, geometry["members"], geometry["member_weights"])
        return labels, distances, scores

    def anomaly_score(self, X):
        """The anomaly score of each row (see ``score_mode``): higher is more
        anomalous.

        Returns a Series with the input's index for DataFrame input,
        otherwise an ndarray of shape (n_samples,).
        """
        X, _, _, _, _, scores = self._score_rows(X)
        return _like(X, scores, "anomaly_score")

    def score_samples(self, X):
        """Minus the anomaly score (scikit-learn: lower is more abnormal)."""
        X, _, _, _, _, scores = self._score_rows(X)
        return _like(X, -scores, "score_samples")

    def decision_function(self, X):
        """Negative for anomalies: ``score_samples(X) - offset_``."""
        X, _, _, labels, _, scores = self._score_rows(X)
        return _like(X, self.threshold_.cuts(labels) - scores, "decision_function")

    def predict(self, X):
        """+1 for normal rows, -1 for anomalies."""
        X, _, _, labels, _, scores = self._score_rows(X)
        flags = self.threshold_.flag(scores, labels)
        return _like(X, np.where(flags, -1, 1), "prediction")

    def predict_cluster(self, X):
        """Index of the nearest cluster for each row."""
        X, _, _, labels, _, _ = self._score_rows(X)
        return _like(X, labels, "cluster")

    def severity(self, X):
        """Name of the most severe tier each row exceeds, or None."""
        X, _, _, labels, _, scores = self._score_rows(X)
        return _like(X, assign_severity(self.tiers_, scores, labels), "severity")

    def detect(self, X, reasons="flagged", top=3):
        """Score, flag and explain rows in one pass.

        Parameters
        ----------
        X : array-like or DataFrame
        reasons : {"flagged", "all", "none"}, default="flagged"
            Which rows get a plain-language ``reason``.
        top : int, default=3
            Features named in each reason.

        Returns
        -------
        DataFrame with columns ``anomaly_score``, ``is_anomaly``,
        ``severity``, ``cluster`` and ``reason``, indexed like ``X``.
        """
        found = self._detect_arrays(X, reasons, top)
        reason = np.full(len(found.scores), "", dtype=object)
        reason[found.reason_rows] = found.reason_texts
        tier_names = np.array([name for name, _ in self.tiers_] + [None], dtype=object)
        return pd.DataFrame(
            {
                "anomaly_score": found.scores,
                "is_anomaly": found.flags,
                "severity": tier_names[found.tiers],
                "cluster": found.labels,
                "reason": reason,
            },
            index=found.index,
        )

    def _detect_arrays(self, X, reasons="flagged", top=3):
        """What :meth:`detect` returns, as arrays (the file jobs write them
        without a DataFrame): ``scores``, ``flags``, ``tiers`` (index into
        ``tiers_``, -1 for none), ``labels``, ``reason_rows`` with their
        ``reason_texts``, and the rows' ``index``."""
        if reasons not in ("flagged", "all", "none"):
            raise InputError(f"reasons must be 'flagged', 'all' or 'none', got {reasons!r}.")
        if not _is_int(top) or top < 1:
            raise InputError(f"top must be an int >= 1, got {top!r}.")
        X, Z, unseen, labels, _, scores = self._score_rows(X, keep_encoded=reasons == "all")
        flags = self.threshold_.flag(scores, labels)
        rows = {"all": np.arange(len(scores)), "flagged": np.flatnonzero(flags)}.get(
            reasons, np.empty(0, dtype=np.intp)
        )
        texts = np.empty(0, dtype=object)
        if rows.size:
            sub = X.iloc[rows] if isinstance(X, pd.DataFrame) else X[rows]
            if Z is None:  # only the flagged rows need encoding
                Z_sub, unseen_sub = self._encoder.transform(sub)
            else:
                Z_sub, unseen_sub = Z[rows], {name: mask[rows] for name, mask in unseen.items()}
            texts = self._describe(sub, Z_sub, labels[rows], scores[rows], unseen_sub, top, True)
        return SimpleNamespace(
            scores=scores,
            flags=flags,
            tiers=severity_codes(self.tiers_, scores, labels),
            labels=labels,
            reason_rows=rows,
            reason_texts=texts,
            index=X.index if isinstance(X, pd.DataFrame) else pd.RangeIndex(len(scores)),
        )

    # ------------------------------------------------------ the schema
    def feature_schema(self):
        """The input columns the model was fitted on, in order: a list of
        dicts with ``name``, ``kind`` ("numeric" or "categorical"),
        ``dtype`` and, for categorical columns, ``categories``."""
        check_is_fitted(self)
        return [
            {k: (list(v) if isinstance(v, list) else v) for k, v in column.items()}
            for column in self._encoder.columns
        ]

    def encode(self, X):
        """The encoded rows the clustering sees (numeric columns scaled,
        categorical columns one-hot), an array of shape
        (n_samples, n_encoded_features) with columns ``encoded_names_``."""
        check_is_fitted(self)
        return self._encoder.transform(self._validate(X, reset=False))[0]

    @property
    def encoded_names_(self):
        """Names of the encoded columns, e.g. ``amount`` or ``kind=a``."""
        check_is_fitted(self)
        return list(self._encoder.encoded_names)

    # ---------------------------------------------------- explanations
    def feature_contributions(self, X):
        """Each feature's share of each row's distance to its centroid.

        The columns add up to the metric's additive form (the squared
        distance for euclidean and mahalanobis, the distance for manhattan
        and cosine); see :mod:`farout.explain`.

        Returns a DataFrame, one column per input feature, indexed like X.
        """
        X, Z, _, labels, _, _ = self._score_rows(X, keep_encoded=True)
        contrib = self._column_contributions(Z, labels)
        names = [c["name"] for c in self._encoder.columns]
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(contrib, index=index, columns=names)

    def explain(self, X, top=3):
        """Why each row scores as it does.

        For each row: its cluster and score, one plain-language ``reason``
        (e.g. ``amount 2450.00 is 25.2x the cluster's typical 97.10
        (+8.1 sd)``), and for the ``top`` contributing features
        ``feature_i``, ``value_i``, ``typical_i``, ``sd_i`` (cluster
        standard deviations away) and ``share_i`` (share of the distance).
        Unseen categories are always named in the reason.

        Returns a DataFrame indexed like X.
        """
        if not _is_int(top) or top < 1:
            raise InputError(f"top must be an int >= 1, got {top!r}.")
        X, Z, unseen, labels, _, scores = self._score_rows(X, keep_encoded=True)
        return self._describe(X, Z, labels, scores, unseen, top)

    def _describe(self, X, Z, labels, scores, unseen, top, reasons_only=False):
        contrib = self._column_contributions(Z, labels)
        profile = _explain.cluster_profile(
            self._encoder,
            self.cluster_centers_,
            self.cluster_sizes_,
            self._feature_sums,
            self._feature_sumsq,
            self.metric,
        )
        return _explain.describe(
            self._encoder, profile, contrib, X, labels, scores, unseen, top, reasons_only
        )

    def _column_contributions(self, Z, labels):
        precision = None
        if self.metric == "mahalanobis":
            precision = self._whitening @ self._whitening
        return _explain.column_contributions(
            self._encoder, Z, self.cluster_centers_[labels], self.metric, precision
        )

    # ---------------------------------------------------- persistence
    def save(self, path):
        """Write the fitted model to ``path`` (a zip; never pickled)."""
        check_is_fitted(self)
        manifest, arrays = self._get_state()
        persistence.write_model(path, manifest, arrays)
        return path

    def _get_state(self):
        enc_meta, enc_arrays = self._encoder.get_state()
        arrays = {f"encoder.{k}": v for k, v in enc_arrays.items()}
        arrays.update(
            {
                "cluster_centers": self.cluster_centers_,
                "centers_metric": self._centers_metric,
                "cluster_sizes": self.cluster_sizes_,
                "distance_count": self._dist_moments[0],
                "distance_mean": self._dist_moments[1],
                "distance_m2": self._dist_moments[2],
                "feature_sums": self._feature_sums,
                "feature_sumsq": self._feature_sumsq,
                "trimmed": self.trimmed_,
            }
        )
        if self.ensemble_ is not None:
            arrays.update({f"ensemble.{k}": v for k, v in self.ensemble_.get_state().items()})
        if self.metric == "mahalanobis":
            arrays["whitening"] = self._whitening
            arrays["unwhitening"] = self._unwhitening
        if self.k_selection_ is not None:
            for column in self.k_selection_.columns:
                arrays[f"k_selection.{column}"] = self.k_selection_[column].to_numpy()
        th_meta, th_arrays = _threshold_state(self.threshold_)
        arrays.update({f"threshold.{k}": v for k, v in th_arrays.items()})
        tiers_meta = []
        for i, (name, tier) in enumerate(self.tiers_):
            meta, tier_arrays = _threshold_state(tier)
            tiers_meta.append({"name": name, **meta})
            arrays.update({f"tier{i}.{k}": v for k, v in tier_arrays.items()})
        params = self.get_params(deep=False)
        params["threshold"] = (
            None if self.threshold is None else _threshold_state(self.threshold, fitted=False)[0]
        )
        params["ensemble"] = None if self.ensemble is None else self.ensemble.get_params()
        params = _jsonable(params)
        params["tiers"] = [
            {"name": name, **_threshold_state(t, fitted=False)[0]}
            for name, t in validate_tiers(self.tiers)
        ] or None
        manifest = {
            "estimator": type(self).__name__,
            "params": params,
            "features": {
                "n_features_in": int(self.n_features_in_),
                "names": (
                    [str(c) for c in self.feature_names_in_]
                    if hasattr(self, "feature_names_in_")
                    else None
                ),
                "encoder": enc_meta,
            },
            "fitted": {
                "n_clusters": int(self.n_clusters_),
                "eps": float(self.eps_),
                "inertia": float(self.inertia_),
                "n_iter": int(self.n_iter_),
                "n_trim_rounds": int(self.n_trim_rounds_),
                "trim_cut": self._trim_cut,
                "threshold": th_meta,
                "tiers": tiers_meta,
                "ensemble": (
                    None if self.ensemble_ is None else _jsonable(self.ensemble_.get_params())
                ),
                "training_summary": self.training_summary_,
                "k_selection": (
                    None if self.k_selection_ is None else list(self.k_selection_.columns)
                ),
            },
        }
        return manifest, arrays

    @classmethod
    def _from_state(cls, manifest, arrays):
        try:
            return cls._build_from_state(manifest, arrays)
        except ModelFileError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise ModelFileError(
                f"the model file's contents are inconsistent ({type(exc).__name__}: "
                f"{exc}); it may be damaged or written by another program."
            ) from None

    @classmethod
    def _build_from_state(cls, manifest, arrays):
        if manifest.get("estimator") != cls.__name__:
            raise ModelFileError(
                f"the model file holds a {manifest.get('estimator')!r}, not a {cls.__name__}."
            )
        params = dict(manifest["params"])
        params["k_range"] = tuple(params["k_range"])
        if params["threshold"] is not None:
            params["threshold"] = _threshold_from_state(params["threshold"], {})
        if params["ensemble"] is not None:
            params["ensemble"] = BaggedKMeans(**params["ensemble"])
        if params["tiers"] is not None:
            params["tiers"] = {t["name"]: _threshold_from_state(t, {}) for t in params["tiers"]}
        det = cls(**params)
        det._check_params()
        features = manifest["features"]
        fitted = manifest["fitted"]
        det.n_features_in_ = int(features["n_features_in"])
        if features["names"] is not None:
            det.feature_names_in_ = np.asarray(features["names"], dtype=object)
        enc_arrays = {
            key.split(".", 1)[1]: value
            for key, value in arrays.items()
            if key.startswith("encoder.")
        }
        det._encoder = FeatureEncoder.from_state(features["encoder"], enc_arrays)
        det.n_clusters_ = int(fitted["n_clusters"])
        det.cluster_centers_ = arrays["cluster_centers"]
        det._centers_metric = arrays["centers_metric"]
        det.cluster_sizes_ = arrays["cluster_sizes"]
        det._dist_moments = (
            arrays["distance_count"],
            arrays["distance_mean"],
            arrays["distance_m2"],
        )
        det._feature_sums = arrays["feature_sums"]
        det._feature_sumsq = arrays["feature_sumsq"]
        det.trimmed_ = arrays["trimmed"]
        det.ensemble_ = None
        if fitted["ensemble"] is not None:
            det.ensemble_ = BaggedKMeans(**fitted["ensemble"])
            det.ensemble_._check_params()
            det.ensemble_.set_state(_prefixed(arrays, "ensemble."), det.cluster_centers_.shape[1])
        det._whitening = arrays.get("whitening")
        det._unwhitening = arrays.get("unwhitening")
        det._finalize_spread()
        det.inertia_ = fitted["inertia"]
        det.n_iter_ = fitted["n_iter"]
        det.n_trim_rounds_ = fitted["n_trim_rounds"]
        det._trim_cut = fitted.get("trim_cut")  # absent in files from farout < 0.2
        det.k_selection_ = None
        if fitted["k_selection"] is not None:
            det.k_selection_ = pd.DataFrame(
                {column: arrays[f"k_selection.{column}"] for column in fitted["k_selection"]}
            )
        det.threshold_ = _threshold_from_state(fitted["threshold"], _prefixed(arrays, "threshold."))
        det.offset_ = -det.threshold_.cut_
        det.tiers_ = [
            (t["name"], _threshold_from_state(t, _prefixed(arrays, f"tier{i}.")))
            for i, t in enumerate(fitted["tiers"])
        ]
        det.training_summary_ = fitted["training_summary"]
        if det.metric == "mahalanobis" and det._whitening is None:
            raise ModelFileError("the model file's mahalanobis model lacks its whitening matrix.")
        k, p = det.cluster_centers_.shape[0], len(det._encoder.encoded_names)
        if det.cluster_centers_.shape != (k, p) or k != det.n_clusters_:
            raise ModelFileError("the model file's centroids do not match its feature schema.")
        return det


def _pooled_moments(moments):
    """Pool per-cluster (count, mean, M2) into one (count, mean, M2)."""
    counts, means, m2 = moments
    total = counts.sum()
    if total == 0:
        return 0.0, 0.0, 0.0
    mean = float((counts * means).sum() / total)
    pooled_m2 = float(m2.sum() + (counts * (means - mean) ** 2).sum())
    return float(total), mean, pooled_m2


def _jsonable(value):
    """Plain JSON types for the manifest: NumPy scalars become Python
    numbers, tuples lists; a RandomState (not reproducible from JSON)
    becomes None."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (np.random.RandomState, np.random.Generator)):
        return None
    return value


# The fitted attributes a threshold may carry in a model file; anything else
# in a manifest is refused rather than set on the object.
_THRESHOLD_STATE = ("cut_", "cluster_cuts_", "expected_cost_")


def _threshold_state(threshold, fitted=True):
    meta = {"type": type(threshold).__name__, "params": _jsonable(threshold.get_params())}
    arrays = {}
    if fitted:
        for key, value in vars(threshold).items():
            if key.endswith("_") and not key.startswith("_"):
                arrays[key] = np.atleast_1d(np.asarray(value, dtype=np.float64))
        meta["arrays"] = sorted(arrays)
        meta["scalars"] = sorted(
            k for k, v in vars(threshold).items() if k in arrays and np.ndim(v) == 0
        )
    return meta, arrays


def _threshold_from_state(meta, arrays):
    cls = THRESHOLDS.get(meta.get("type"))
    if cls is None:
        raise ModelFileError(f"unknown threshold type {meta.get('type')!r} in the model file.")
    threshold = cls(**meta["params"])
    for key in meta.get("arrays", []):
        if key not in _THRESHOLD_STATE:
            raise ModelFileError(f"the model file sets an unknown threshold attribute {key!r}.")
        value = arrays[key]
        setattr(threshold, key, float(value[0]) if key in meta.get("scalars", []) else value)
    return threshold


def _prefixed(arrays, prefix):
    return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _label(X, row):
    return repr(X.index[row]) if isinstance(X, pd.DataFrame) else str(row)


def _like(X, values, name):
    """Keep a DataFrame's index on per-row outputs."""
    if isinstance(X, pd.DataFrame):
        return pd.Series(values, index=X.index, name=name)
    return values


def load(path):
    """Load a model saved with :meth:`KMeansAnomalyDetector.save`.

    Nothing is unpickled: the file is a zip of a JSON manifest and ``.npy``
    arrays whose SHA-256 hashes are checked.
    """
    manifest, arrays = persistence.read_model(path)
    return KMeansAnomalyDetector._from_state(manifest, arrays)
