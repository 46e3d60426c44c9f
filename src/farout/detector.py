"""The k-means anomaly detector: the estimator's door. It checks parameters
and input, then hands arrays to :mod:`farout.training` (fitting),
:mod:`farout.core` (scoring and the clusters' updates), :mod:`farout.inference`
(its answers) and :mod:`farout.persistence` (its model file).
"""

from dataclasses import replace
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .confidence import reference_sample
from .core.scoring import score_rows
from .ensemble import BaggedKMeans
from .exceptions import InputError
from .features.encoder import SCALINGS
from .inference import Inference
from .names import K_SELECTIONS, METRICS, MISSING, SCORE_MODES  # also the 0.2 names
from .params import check_params
from .persistence import read_state, write_state
from .persistence.estimator import detector_from_state, detector_state
from .summary import training_summary, with_threshold_rate
from .thresholds import Percentile, Threshold, fit_cuts, validate_tiers
from .training import train, train_on_sample
from .validation import check_rows, feature_labels

__all__ = ["KMeansAnomalyDetector", "load"]
DEFAULT_THRESHOLD = Percentile(99.0)
_LEARNED = ("scorer", "ensemble", "trim_cut", "k_selection", "inertia", "n_iter")
_LEARNED += ("n_trim_rounds", "trimmed", "value_modes", "feature_reference")


class KMeansAnomalyDetector(Inference, OutlierMixin, BaseEstimator):
    """Anomaly detection by distance to k-means clusters of normal data.

    Features are encoded (numeric columns scaled, categorical columns
    one-hot encoded) and mapped into the chosen metric's space. By default
    (``score_mode="ensemble"``) a row's score is its mean distance to the
    nearest centroid over 25 trimmed k-means models on small samples, refitted
    away from the rows they agree are the most unusual: anomalies in the
    training data get no clusters of their own. A single k-means clustering (k-means++ initialisation),
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
        trimming, consensus cleaning of 10%). Its ``metric`` and ``random_state`` are set by the
        detector.
    threshold : Threshold, default=None
        A threshold object from :mod:`farout.thresholds`. ``None`` means
        ``Percentile(99)``: 1% of the training rows are flagged, which is
        the false-positive rate to expect on data like the training data.
    tiers : dict or list of (str, Threshold), default=None
        Named severity tiers, least severe first, e.g.
        ``{"monitor": Percentile(95), "warning": Percentile(99),
        "critical": Percentile(99.9)}``.
    borderline : float in (0.5, 1) or None, default=None
        Rows whose flag is less sure than this (:meth:`predict_confidence`)
        get the severity ``"borderline"``, flagged or not. ``None``: no band.
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
        Centroids in the encoded, scaled feature space (unit length: cosine).
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
    trim_cut_ : float or None
        The ensemble score above which training rows were trimmed (and
        :meth:`refine_clusters` skips rows).
    n_trim_rounds_ : int
    scorer_ : farout.core.Scorer
        The fitted scoring core: ``encoder_``, ``clusters_`` and the score
        mode, what :func:`farout.core.score_rows` scores with.
    training_summary_ : dict
        Quantiles of the training anomaly scores.
    score_reference_ : (ndarray, ndarray)
        Sorted scores and clusters of (a sample of) the rows the threshold
        was fitted on, for :meth:`predict_proba` and monitoring.
    feature_reference_ : FeatureReference or None
        Each column's training distribution (:mod:`farout.features.reference`).
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
        borderline=None,
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
        self.borderline = borderline
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

    _parameter_constraints = {
        "n_clusters": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "metric": [StrOptions(set(METRICS))],
        "scaling": [StrOptions({s for s in SCALINGS if s}), None],
        "score_mode": [StrOptions(set(SCORE_MODES))],
        "ensemble": [BaggedKMeans, None],
        "threshold": [Threshold, None],
        "tiers": [dict, list, tuple, None],
        "borderline": [Interval(Real, 0.5, 1, closed="neither"), None],
        "trim": [Interval(Real, 0, 0.5, closed="left"), StrOptions({"auto"})],
        "trim_max_rounds": [Interval(Integral, 1, None, closed="left")],
        "k_selection": [StrOptions(set(K_SELECTIONS))],
        "k_range": [tuple, list],
        "missing": [StrOptions(set(MISSING))],
        "max_categories": [Interval(Integral, 1, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_fit_rows": [Interval(Integral, 2, None, closed="left"), None],
        "random_state": ["random_state", np.random.Generator],
        "verbose": ["verbose"],
    }

    def _check_params(self):
        check_params(self)
        validate_tiers(self.tiers)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.missing == "impute"
        return tags

    # -------------------------------------------------------------- fit
    def fit(self, X, y=None):
        """Learn clusters of normal data, their spreads and the threshold;
        returns self.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Training data; may contain anomalies (see ``trim``).
        y : array-like, optional
            Labels, for thresholds that need them (such as ``CostOptimal``) only.
        """
        self._check_params()
        X = check_rows(self, X, reset=True)
        n = X.shape[0]
        if n < 2:
            raise InputError(f"need at least 2 samples to fit, got {n} sample (n_samples=1).")
        learned = self._adopt(train(self, X, y, feature_labels(X)), n)
        self.labels_ = learned.labels
        if learned.rows is not None:
            self.labels_ = score_rows(self.scorer_, X, with_scores=False).labels
        return self

    def fit_sample(self, sample, encoder, n_rows, rows, rng):
        """:meth:`fit` for data held elsewhere (:mod:`farout.distributed`): learn from
        ``sample``, rows ``rows`` (:func:`~farout.training.fit_sample_rows`) of ``n_rows``
        that ``encoder`` saw whole, drawn by ``rng``; no ``labels_``. Returns self."""
        self._check_params()
        sample = check_rows(self, sample, reset=True)
        self._adopt(train_on_sample(self, encoder, sample, rows, None, rng), n_rows)
        self.__dict__.pop("labels_", None)  # one per row of the whole table
        return self

    def _adopt(self, learned, n):
        for name in _LEARNED:  # the Training fields the estimator keeps, with a "_"
            setattr(self, f"{name}_", getattr(learned, name))
        self._fit_thresholds(learned.scores, learned.labels, learned.y)
        self.training_summary_ = training_summary(learned.scores, learned.labels, self.threshold_)
        self.training_summary_.update(n_rows=n, n_rows_fitted=len(learned.scores))
        return learned

    def _fit_thresholds(self, scores, labels, y=None, threshold=None, tiers=None):
        if threshold is None:
            threshold = DEFAULT_THRESHOLD if self.threshold is None else self.threshold
        tiers = self.tiers if tiers is None else tiers
        cuts = fit_cuts(threshold, tiers, scores, labels, self.n_clusters_, y)
        self.threshold_, self.tiers_ = cuts
        self.offset_ = -self.threshold_.cut_
        self.score_reference_ = reference_sample(scores, labels)  # for predict_proba

    def fit_threshold(self, X, y=None, threshold=None, tiers=None):
        """Refit the threshold (and tiers) on the scores of ``X``, typically a
        labelled validation set, and keep them and the share they flag there;
        returns self.

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
        """
        if threshold is not None and not isinstance(threshold, Threshold):
            raise InputError(f"threshold must be a threshold object, got {threshold!r}.")
        found = self.detection(X)
        kept_tiers = self.tiers_
        self._fit_thresholds(found.scores, found.labels, y, threshold, tiers)
        if tiers is None:
            self.tiers_ = kept_tiers
        self.training_summary_ = with_threshold_rate(self.training_summary_, self.threshold_, found)
        return self

    def partial_fit(self, X, y=None):
        """Update the model with one mini-batch. The first call on an unfitted
        model fits it on the batch. Later calls move each centroid towards its
        batch members, weighted by the rows it has absorbed, and update the
        cluster spreads and profiles; the encoder, whitening and threshold stay
        as first fitted. Returns self."""
        if "scorer_" not in self.__dict__:
            return self.fit(X)
        M = self._learn(check_rows(self, X, reset=False))
        if self.ensemble_ is not None:
            self.ensemble_.partial_fit(M)
        return self

    def refine_clusters(self, X):
        """One mini-batch step of the clustering towards more rows of the
        training data: the step that lets ``farout fit`` learn from a file
        larger than memory after fitting on a sample of it. Only the clusters
        move: the encoder, the ensemble (fitted on small subsamples) and the
        threshold stay. Rows the training would have trimmed (above
        ``trim_cut_``) are skipped. Refit the threshold afterwards
        (:meth:`fit_threshold`) if the score depends on the clusters. Returns
        self."""
        check_is_fitted(self)
        X = check_rows(self, X, reset=False)
        found = score_rows(self.scorer_, X)
        keep = np.ones(len(found.scores), dtype=bool)
        if self.trim_cut_ is not None:
            keep = found.scores <= self.trim_cut_
        if keep.any():
            self._learn(X.iloc[keep] if isinstance(X, pd.DataFrame) else X[keep])
        return self

    def _learn(self, X):
        """Step the clusters towards validated rows ``X``; returns them in metric space."""
        Z, _ = self.encoder_.encode(X)
        M = self.scorer_.metric.to_space(Z)
        self.scorer_ = replace(self.scorer_, clusters=self.clusters_.learn(Z, M))
        return M

    # ------------------------------------------------------------ state
    def get_state(self):
        """The fitted model as a state tree (see :mod:`farout.persistence`)."""
        check_is_fitted(self)
        return detector_state(self)

    @classmethod
    def from_state(cls, state):
        """The fitted detector a :meth:`get_state` tree describes."""
        return detector_from_state(cls, state)

    def save(self, path):
        """Write the fitted model to ``path`` (a zip; never pickled)."""
        write_state(path, type(self).__name__, self.get_state())
        return path


def load(path):
    """Load a model saved with :meth:`KMeansAnomalyDetector.save` (never unpickled)."""
    return KMeansAnomalyDetector.from_state(read_state(path, "KMeansAnomalyDetector"))
