"""Model selection: choosing k (silhouette on a sample, or the knee of the
inertia curve), splits in time, and scorers for scikit-learn's searches.

Both k criteria are usable on their own and return the per-k table that a
plot draws. The scorers (:data:`average_precision_scorer`,
:data:`roc_auc_scorer`, :func:`make_anomaly_scorer`) judge an anomaly
detector's scores against labels where 1 (or True, or -1 in scikit-learn's
outlier convention) is an anomaly; ``GridSearchCV`` and
``RandomizedSearchCV`` take them as ``scoring``. :func:`farout.tune` runs a
whole search with a held-out test split.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = np.vstack([rng.normal(c, 0.1, size=(50, 2)) for c in (0, 5, 10)])
>>> select_k(X, k_range=(2, 6), random_state=0).best_k
3
"""

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score, silhouette_score
from tqdm.auto import tqdm

from . import names
from ._kernels.distance import nearest_centers, unit_rows
from ._kernels.kmeans import as_generator, count_distinct_rows, kmeans
from .exceptions import InputError, shown
from .features.labels import as_anomaly_labels
from .features.schema import require_column

__all__ = [
    "AnomalyScorer",
    "KSelection",
    "TemporalFolds",
    "average_precision_scorer",
    "elbow_knee",
    "make_anomaly_scorer",
    "precision_at_budget_scorer",
    "roc_auc_scorer",
    "select_k",
    "temporal_split",
]

K_SELECTIONS = names.K_SELECTIONS


@dataclass
class KSelection:
    """Result of :func:`select_k`.

    Attributes
    ----------
    best_k : int
    method : str
    table : pandas.DataFrame
        One row per candidate k: ``k``, ``inertia`` (on the fit sample) and
        ``silhouette`` (NaN where it could not be computed).
    centers : dict of int -> ndarray
        Each candidate's centres, fitted on the sample: a warm start for
        the final fit on all rows.
    """

    best_k: int
    method: str
    table: pd.DataFrame
    centers: dict = field(default_factory=dict, repr=False)


def elbow_knee(ks, inertias):
    """The k at the knee of a decreasing inertia curve.

    The knee is the point farthest below the straight line joining the
    first and last points once both axes are scaled to [0, 1] (the
    "Kneedle" rule of Satopaa et al., 2011).

    >>> elbow_knee([1, 2, 3, 4, 5, 6], [100, 40, 12, 10, 9, 8])
    3
    """
    ks = np.asarray(ks, dtype=np.float64)
    y = np.asarray(inertias, dtype=np.float64)
    if ks.size < 3 or y[0] == y[-1]:
        return int(ks[0])
    x = (ks - ks[0]) / (ks[-1] - ks[0])
    y = (y - y[-1]) / (y[0] - y[-1])
    return int(ks[int(np.argmax((1.0 - x) - y))])


def select_k(
    X,
    k_range=(2, 10),
    method="silhouette",
    metric="euclidean",
    *,
    fit_sample_size=2_048,
    silhouette_sample_size=500,
    n_init=1,
    max_iter=300,
    tol=1e-4,
    random_state=None,
    progress=False,
):
    """Fit k-means for each k in ``k_range`` and pick one.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Numeric data in the space to cluster (already scaled).
    k_range : (int, int), default=(2, 10)
        Smallest and largest k tried, inclusive.
    method : {"silhouette", "elbow"}, default="silhouette"
    metric : {"euclidean", "manhattan", "cosine"}, default="euclidean"
        Kernel metric; for ``"cosine"`` rows are scaled to unit length.
    fit_sample_size : int, default=2048
        Candidates are fitted on at most this many rows, so the search stays
        fast on big data; the caller refits the chosen k on all rows,
        starting from the candidate's centres.
    silhouette_sample_size : int, default=500
        Rows used for the silhouette, which costs O(n^2).
    random_state : int, RandomState, Generator or None

    Returns
    -------
    KSelection
    """
    if method not in K_SELECTIONS:
        raise InputError(f"k_selection must be one of {K_SELECTIONS}, got {method!r}.")
    low, high = _check_k_range(k_range)
    X = np.asarray(X, dtype=np.float64)
    if metric == "cosine":
        X = unit_rows(X)
    rng = as_generator(random_state)
    fit_rows = X
    if X.shape[0] > fit_sample_size:
        fit_rows = X[rng.choice(X.shape[0], fit_sample_size, replace=False)]
    n_distinct = count_distinct_rows(fit_rows)
    high = min(high, n_distinct - (1 if method == "silhouette" else 0))
    ks = list(range(low, high + 1))
    if not ks:
        best = max(1, min(low, n_distinct))
        table = pd.DataFrame({"k": [best], "inertia": [np.nan], "silhouette": [np.nan]})
        return KSelection(best, method, table)
    sil_rows = fit_rows
    if fit_rows.shape[0] > silhouette_sample_size:
        sil_rows = fit_rows[rng.choice(fit_rows.shape[0], silhouette_sample_size, replace=False)]
    sil_metric = {"manhattan": "manhattan", "cosine": "cosine"}.get(metric, "euclidean")
    inertias, silhouettes, all_centers = [], [], {}
    for k in tqdm(ks, desc="choosing k", disable=not progress, leave=False):
        centers, _, _, inertia, _ = kmeans(fit_rows, k, metric, rng, n_init, max_iter, tol)
        all_centers[k] = centers
        inertias.append(inertia)
        silhouettes.append(np.nan)
        if method == "silhouette":
            labels, _ = nearest_centers(sil_rows, centers, metric)
            if 2 <= np.unique(labels).size <= sil_rows.shape[0] - 1:
                silhouettes[-1] = silhouette_score(sil_rows, labels, metric=sil_metric)
    table = pd.DataFrame({"k": ks, "inertia": inertias, "silhouette": silhouettes})
    if method == "elbow":
        best = elbow_knee(ks, inertias)
    elif np.isfinite(table["silhouette"]).any():
        best = int(table["k"][table["silhouette"].idxmax()])
    else:
        best = ks[0]
    return KSelection(best, method, table, all_centers)


def _check_k_range(k_range):
    try:
        low, high = (int(v) for v in k_range)
    except (TypeError, ValueError):
        raise InputError(f"k_range must be a pair of ints (low, high), got {k_range!r}.") from None
    if not 1 <= low <= high:
        raise InputError(f"k_range must satisfy 1 <= low <= high, got {k_range!r}.")
    return low, high


def _time_order(frame, time_column):
    times = require_column(frame, time_column, "time")
    if times.isna().any():
        row = frame.index[int(np.flatnonzero(times.isna().to_numpy())[0])]
        raise InputError(f"time column {time_column!r} is missing at row {shown(row)}.")
    return np.argsort(times.to_numpy(), kind="stable")


def temporal_split(frame, time_column, fractions=(0.7, 0.15, 0.15)):
    """Split rows by time: the first fraction of the time order, the next,
    and so on; no row of a later part is older than a row of an earlier one.

    Returns a tuple of DataFrames, one per fraction.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"t": [5, 1, 4, 2, 3, 6, 8, 7, 9, 10]})
    >>> [part["t"].tolist() for part in temporal_split(df, "t", (0.6, 0.2, 0.2))]
    [[1, 2, 3, 4, 5, 6], [7, 8], [9, 10]]
    """
    fractions = np.asarray(fractions, dtype=np.float64)
    if fractions.ndim != 1 or (fractions <= 0).any() or not np.isclose(fractions.sum(), 1.0):
        raise InputError(f"fractions must be positive and sum to 1, got {tuple(fractions)}.")
    order = _time_order(frame, time_column)
    bounds = np.round(np.cumsum(fractions) * len(frame)).astype(int)
    bounds[-1] = len(frame)
    starts = np.r_[0, bounds[:-1]]
    return tuple(frame.iloc[order[a:b]] for a, b in zip(starts, bounds, strict=True))


class TemporalFolds:
    """Cross-validation in time: fold i trains on every period before
    period i and tests on period i (scikit-learn's ``TimeSeriesSplit``
    applied in the order of a time column).

    Parameters
    ----------
    n_splits : int, default=5
    time_column : str
        Column of ``X`` that orders the rows.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"t": [3, 1, 2, 6, 5, 4]})
    >>> [(df.t.iloc[tr].tolist(), df.t.iloc[te].tolist())
    ...  for tr, te in TemporalFolds(2, "t").split(df)]
    [([1, 2], [3, 4]), ([1, 2, 3, 4], [5, 6])]
    """

    def __init__(self, n_splits=5, time_column=None):
        self.n_splits = n_splits
        self.time_column = time_column

    def get_n_splits(self, X=None, y=None, groups=None):
        return self.n_splits

    def split(self, X, y=None, groups=None):
        from sklearn.model_selection import TimeSeriesSplit

        order = _time_order(X, self.time_column)
        for train, test in TimeSeriesSplit(self.n_splits).split(order):
            yield order[train], order[test]


# ------------------------------------------------------------- scorers
def anomaly_scores(estimator, X):
    """The fitted ``estimator``'s anomaly scores of ``X``, higher = more
    anomalous: ``anomaly_score`` where it has one, else minus
    scikit-learn's ``score_samples`` (lower = more abnormal)."""
    if hasattr(estimator, "anomaly_score"):
        scores = estimator.anomaly_score(X)
    elif hasattr(estimator, "score_samples"):
        scores = -np.asarray(estimator.score_samples(X), dtype=np.float64)
    else:
        raise InputError(
            f"{type(estimator).__name__} has neither anomaly_score nor score_samples; "
            "an anomaly scorer needs one of them."
        )
    return np.asarray(scores, dtype=np.float64).ravel()


def _precision_at_budget(truth, scores, alert_rate):
    n_alerts = max(1, math.ceil(alert_rate * truth.shape[0]))
    top = np.argsort(-scores, kind="stable")[:n_alerts]
    return float(truth[top].mean())


_METRICS = {
    "average_precision": lambda truth, scores, rate: float(average_precision_score(truth, scores)),
    "roc_auc": lambda truth, scores, rate: float(roc_auc_score(truth, scores)),
    "precision_at_budget": _precision_at_budget,
}
METRICS = tuple(_METRICS)  # names.TUNING_METRICS, checked by the tests


class AnomalyScorer:
    """A scorer for scikit-learn's searches: the ``metric`` of a fitted
    detector's anomaly scores (higher = more anomalous) against labels
    ``y`` (1, True or -1 = anomaly; 0, False or +1 = normal).

    Parameters
    ----------
    metric : {"average_precision", "roc_auc", "precision_at_budget"}
        ``"precision_at_budget"`` is the share of anomalies among the
        ``ceil(alert_rate * n)`` highest scores (at least one), as if an
        analyst could look at that many alerts.
    alert_rate : float in (0, 1), default=0.01
        The alert budget of ``"precision_at_budget"``.

    A detector is not a classifier, so ``cv=5`` would cut unshuffled folds,
    some without anomalies: pass stratified folds.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import GridSearchCV, StratifiedKFold
    >>> from farout import KMeansAnomalyDetector
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(size=(300, 2)), rng.uniform(-8, 8, size=(15, 2))]
    >>> y = np.r_[np.zeros(300), np.ones(15)]  # 1 = anomaly
    >>> search = GridSearchCV(
    ...     KMeansAnomalyDetector(random_state=0),
    ...     {"score_mode": ["ensemble", "distance"]},
    ...     scoring=average_precision_scorer,
    ...     cv=StratifiedKFold(3, shuffle=True, random_state=0),
    ... ).fit(X, y)
    >>> search.best_params_, round(float(search.best_score_), 2)
    ({'score_mode': 'ensemble'}, 0.91)
    """

    def __init__(self, metric="average_precision", alert_rate=0.01):
        self.metric = metric
        self.alert_rate = alert_rate

    def __call__(self, estimator, X, y, sample_weight=None):
        if sample_weight is not None:
            raise InputError("anomaly scorers do not take sample weights.")
        return self.score(y, anomaly_scores(estimator, X))

    def score(self, y, scores):
        """The metric of known ``scores`` against labels ``y``."""
        if self.metric not in _METRICS:
            raise InputError(f"metric must be one of {METRICS}, got {self.metric!r}.")
        if not 0 < self.alert_rate < 1:
            raise InputError(f"alert_rate must be in (0, 1), got {self.alert_rate!r}.")
        truth = as_anomaly_labels(y)
        scores = np.asarray(scores, dtype=np.float64).ravel()
        if scores.shape[0] != truth.shape[0]:
            raise InputError(f"{truth.shape[0]} labels but {scores.shape[0]} scores.")
        if truth.all() or not truth.any():
            raise InputError(
                f"these {truth.shape[0]:,} rows hold only one class; {self.metric} needs "
                "both normal rows and anomalies (fewer folds, or more labelled anomalies)."
            )
        return _METRICS[self.metric](truth, scores, self.alert_rate)

    def __repr__(self):
        rate = f", alert_rate={self.alert_rate!r}" if self.metric == "precision_at_budget" else ""
        return f"AnomalyScorer({self.metric!r}{rate})"


def make_anomaly_scorer(metric="average_precision", alert_rate=0.01):
    """An :class:`AnomalyScorer` for ``metric`` (checked here, by name)."""
    if metric not in _METRICS:
        raise InputError(f"metric must be one of {METRICS}, got {metric!r}.")
    if not 0 < alert_rate < 1:
        raise InputError(f"alert_rate must be in (0, 1), got {alert_rate!r}.")
    return AnomalyScorer(metric, alert_rate)


#: Average precision of the anomaly scores (the area under the
#: precision-recall curve, the metric for rare anomalies).
average_precision_scorer = AnomalyScorer("average_precision")
#: ROC-AUC of the anomaly scores.
roc_auc_scorer = AnomalyScorer("roc_auc")
#: Precision among the top 1% of the anomaly scores.
precision_at_budget_scorer = AnomalyScorer("precision_at_budget", 0.01)
