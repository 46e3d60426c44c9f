"""Choosing k: silhouette on a sample, or the knee of the inertia curve.

Both criteria are usable on their own and return the per-k table that a
plot draws.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = np.vstack([rng.normal(c, 0.1, size=(50, 2)) for c in (0, 5, 10)])
>>> select_k(X, k_range=(2, 6), random_state=0).best_k
3
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import silhouette_score
from tqdm.auto import tqdm

from . import names
from ._kernels.distance import nearest_centers, unit_rows
from ._kernels.kmeans import as_generator, count_distinct_rows, kmeans
from .exceptions import InputError, shown
from .features.schema import require_column

__all__ = ["KSelection", "TemporalFolds", "elbow_knee", "select_k", "temporal_split"]

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
