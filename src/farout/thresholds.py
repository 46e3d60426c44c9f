"""Thresholds: small objects that turn training scores into a cut.

A threshold is fitted on the anomaly scores of the training rows (higher is
more anomalous) and flags a row when its score is strictly above the cut.
Severity tiers are several thresholds with names.

>>> import numpy as np
>>> t = Percentile(90).fit(np.arange(101.0))
>>> t.cut_
90.0
>>> t.flag(np.array([50.0, 95.0])).tolist()
[False, True]
"""

import itertools

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from .exceptions import InputError, ModelFileError, shown
from .features.labels import as_anomaly_labels

__all__ = [
    "Absolute",
    "Contamination",
    "CostOptimal",
    "FalsePositiveRate",
    "MeanStd",
    "MedianSigma",
    "PerCluster",
    "Percentile",
    "TargetPrecision",
    "TargetRecall",
    "Threshold",
    "assign_severity",
    "cut_table",
    "fit_cuts",
    "fit_tiers",
    "parse_threshold",
    "validate_tiers",
]


# The fitted attributes a threshold may carry in a model file; anything else
# in a file is refused rather than set on the object.
FITTED_STATE = ("cut_", "cluster_cuts_", "expected_cost_")


class Threshold(BaseEstimator):
    """Base class. Subclasses implement ``_cut(scores)``, or
    ``_cut_labelled(scores, truth)`` when they need labels
    (``needs_labels = True``), and may override :meth:`fit` when they need
    the cluster of each row."""

    needs_labels = False

    def fit(self, scores, clusters=None, n_clusters=None, y=None):
        """Learn the cut from ``scores`` (and their ``clusters``, and labels
        ``y`` where the threshold uses them: 0/1, booleans or +1/-1)."""
        scores = _check_scores(scores)
        self._check_params()
        if self.needs_labels:
            if y is None:
                raise InputError(
                    f"{type(self).__name__} needs labels: pass y, or fit it on a labelled "
                    "validation set with det.fit_threshold(X_val, y_val)."
                )
            truth = as_anomaly_labels(y)
            if truth.shape[0] != scores.shape[0]:
                raise InputError(f"{truth.shape[0]} labels but {scores.shape[0]} scores.")
            if not truth.any():
                raise InputError(
                    f"{type(self).__name__} needs some rows labelled as anomalies; none are."
                )
            self.cut_ = float(self._cut_labelled(scores, truth))
        else:
            self.cut_ = float(self._cut(scores))
        return self

    def cuts(self, clusters):
        """The cut that applies to each row, given its cluster."""
        check_is_fitted(self)
        return np.full(len(clusters), self.cut_)

    def flag(self, scores, clusters=None):
        """Boolean array: True where the score is above the cut."""
        scores = np.asarray(scores, dtype=np.float64)
        if clusters is None:
            clusters = np.zeros(scores.shape[0], dtype=np.intp)
        return scores > self.cuts(clusters)

    # ------------------------------------------------------------ state
    def get_state(self):
        """``{"meta", "arrays"}``: the type and parameters, and the fitted
        values (``cut_`` and the like) once fitted."""
        arrays = {
            key: np.atleast_1d(np.asarray(value, dtype=np.float64))
            for key, value in vars(self).items()
            if key in FITTED_STATE
        }
        meta = {
            "type": type(self).__name__,
            "params": self.get_params(),
            "scalars": sorted(k for k in arrays if np.ndim(getattr(self, k)) == 0),
        }
        return {"meta": meta, "arrays": arrays}

    @staticmethod
    def from_state(state):
        """The threshold described by a :meth:`get_state` dict (of any
        threshold type)."""
        meta, arrays = state["meta"], state.get("arrays", {})
        cls = THRESHOLDS.get(meta.get("type"))
        if cls is None:
            raise ModelFileError(f"unknown threshold type {meta.get('type')!r} in the model file.")
        threshold = cls(**meta["params"])
        for key, value in arrays.items():
            if key not in FITTED_STATE:
                raise ModelFileError(f"the model file sets an unknown threshold attribute {key!r}.")
            setattr(threshold, key, float(value[0]) if key in meta.get("scalars", []) else value)
        return threshold

    def _check_params(self):
        pass

    def __repr__(self):
        # Show every parameter: "Percentile(q=99.0)" says more than "Percentile()".
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


def _check_scores(scores):
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if scores.size == 0:
        raise InputError("cannot fit a threshold on no scores.")
    if not np.isfinite(scores).all():
        raise InputError("cannot fit a threshold on scores with NaN or inf.")
    return scores


def _in_open_range(name, value, low, high):
    if not isinstance(value, (int, float, np.number)) or not low < value < high:
        raise InputError(
            f"{name} must be a number strictly between {low} and {high}, got {shown(value)}."
        )


def _in_unit_interval(name, value):
    if not isinstance(value, (int, float, np.number)) or not 0 < value <= 1:
        raise InputError(f"{name} must be a number in (0, 1], got {shown(value)}.")


class Percentile(Threshold):
    """Flag scores above the ``q``-th percentile of the training scores.

    On the training data this flags the top ``100 - q`` percent, so the
    implied false-positive rate on data like the training data is
    ``(100 - q) / 100``.

    Parameters
    ----------
    q : float, default=99.0
        Percentile in (0, 100).
    """

    _primary = "q"  # the parameter a spec like 'name:VALUE' sets

    def __init__(self, q=99.0):
        self.q = q

    def _check_params(self):
        _in_open_range("Percentile q", self.q, 0, 100)

    def _cut(self, scores):
        return np.percentile(scores, self.q)


class Contamination(Threshold):
    """Flag the expected fraction ``contamination`` of anomalies.

    Equivalent to ``Percentile(100 * (1 - contamination))``.

    Parameters
    ----------
    contamination : float, default=0.01
        Fraction in (0, 0.5).
    """

    _primary = "contamination"  # the parameter a spec like 'name:VALUE' sets

    def __init__(self, contamination=0.01):
        self.contamination = contamination

    def _check_params(self):
        _in_open_range("Contamination contamination", self.contamination, 0, 0.5)

    def _cut(self, scores):
        return np.quantile(scores, 1.0 - self.contamination)


class MeanStd(Threshold):
    """Flag scores above mean + ``n_std`` standard deviations of the training
    scores. The rate it implies depends on the score distribution (about
    0.1% for n_std=3 if the scores were Gaussian; more for skewed scores).

    Parameters
    ----------
    n_std : float, default=3.0
    """

    _primary = "n_std"  # the parameter a spec like 'name:VALUE' sets

    def __init__(self, n_std=3.0):
        self.n_std = n_std

    def _check_params(self):
        if not isinstance(self.n_std, (int, float, np.number)) or not np.isfinite(self.n_std):
            raise InputError(f"MeanStd n_std must be a finite number, got {shown(self.n_std)}.")

    def _cut(self, scores):
        return scores.mean() + self.n_std * scores.std()


class Absolute(Threshold):
    """A fixed cut in score units, chosen by the user.

    Parameters
    ----------
    value : float
    """

    _primary = "value"  # the parameter a spec like 'name:VALUE' sets

    def __init__(self, value=3.0):
        self.value = value

    def _check_params(self):
        if not isinstance(self.value, (int, float, np.number)) or not np.isfinite(self.value):
            raise InputError(f"Absolute value must be a finite number, got {shown(self.value)}.")

    def _cut(self, scores):
        return self.value


class MedianSigma(Threshold):
    """A fixed multiple of the median, over clusters, of the standard
    deviation of each cluster's training scores.

    With ``score_mode="normalized"`` every cluster's scores have unit spread, so
    the cut is simply ``multiplier``; with ``score_mode="distance"`` it is
    ``multiplier`` times the median cluster sigma. The implied rate depends
    on the data: in many dimensions distances concentrate far from zero,
    and this cut can flag much more than expected. Prefer
    :class:`Percentile` when the alert rate matters.

    Parameters
    ----------
    multiplier : float, default=3.0
    """

    _primary = "multiplier"  # the parameter a spec like 'name:VALUE' sets

    def __init__(self, multiplier=3.0):
        self.multiplier = multiplier

    def _check_params(self):
        if not isinstance(self.multiplier, (int, float, np.number)) or not self.multiplier > 0:
            raise InputError(
                f"MedianSigma multiplier must be a positive number, got {shown(self.multiplier)}."
            )

    def fit(self, scores, clusters=None, n_clusters=None, y=None):
        scores = _check_scores(scores)
        self._check_params()
        if clusters is None:
            sigma = scores.std()
        else:
            clusters = np.asarray(clusters, dtype=np.intp)
            k = int(clusters.max()) + 1 if n_clusters is None else n_clusters
            counts = np.bincount(clusters, minlength=k)
            mean = np.bincount(clusters, weights=scores, minlength=k) / np.maximum(counts, 1)
            dev = scores - mean[clusters]
            var = np.bincount(clusters, weights=dev * dev, minlength=k) / np.maximum(counts, 1)
            sigma = float(np.median(np.sqrt(var[counts > 1]))) if (counts > 1).any() else 0.0
        self.cut_ = float(self.multiplier * sigma)
        return self


class PerCluster(Threshold):
    """A cut for each cluster: the ``q``-th percentile of that cluster's own
    training scores. Clusters with fewer than ``min_size`` training rows use
    the percentile of all training scores. Flags about ``100 - q`` percent
    of each cluster's training rows.

    Parameters
    ----------
    q : float, default=99.0
    min_size : int, default=20
    """

    _primary = "q"  # the parameter a spec like 'name:VALUE' sets

    def __init__(self, q=99.0, min_size=20):
        self.q = q
        self.min_size = min_size

    def _check_params(self):
        _in_open_range("PerCluster q", self.q, 0, 100)
        if not isinstance(self.min_size, (int, np.integer)) or self.min_size < 1:
            raise InputError(
                f"PerCluster min_size must be an int >= 1, got {shown(self.min_size)}."
            )

    def fit(self, scores, clusters=None, n_clusters=None, y=None):
        scores = _check_scores(scores)
        self._check_params()
        self.cut_ = float(np.percentile(scores, self.q))
        if clusters is None:
            raise InputError("PerCluster needs the cluster of each training score.")
        clusters = np.asarray(clusters, dtype=np.intp)
        k = int(clusters.max()) + 1 if n_clusters is None else n_clusters
        self.cluster_cuts_ = np.full(k, self.cut_)
        for j in range(k):
            members = scores[clusters == j]
            if members.shape[0] >= self.min_size:
                self.cluster_cuts_[j] = np.percentile(members, self.q)
        return self

    def cuts(self, clusters):
        check_is_fitted(self)
        return self.cluster_cuts_[np.asarray(clusters, dtype=np.intp)]


def cut_table(truth, scores):
    """Confusion counts at every distinct cut, flagging ``score > cut``.

    The first row flags nothing (cut = the highest score); each next row
    lowers the cut to the next distinct score; the last row flags every
    row (cut just below the lowest score).

    Returns a dict of arrays ``cut``, ``tp``, ``fp``, ``fn``, ``tn``.
    """
    truth = np.asarray(truth, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_truth = scores[order], truth[order]
    # the last row of each run of equal scores: flagged together
    ends = np.flatnonzero(np.r_[sorted_scores[1:] != sorted_scores[:-1], True])
    tp = np.r_[0, np.cumsum(sorted_truth)[ends]]
    fp = np.r_[0, np.cumsum(~sorted_truth)[ends]]
    below = np.r_[sorted_scores[ends[1:]], np.nextafter(sorted_scores[-1], -np.inf)]
    cut = np.r_[sorted_scores[0], below]
    positives = int(truth.sum())
    return {
        "cut": cut,
        "tp": tp,
        "fp": fp,
        "fn": positives - tp,
        "tn": (truth.shape[0] - positives) - fp,
    }


class CostOptimal(Threshold):
    """The cut that minimises expected cost on labelled data:
    ``fp_cost * false positives + fn_cost * missed anomalies``.

    For example, a missed fraud costing 5,000 and an investigation costing
    50: ``CostOptimal(fp_cost=50, fn_cost=5000)``. Ties go to the higher cut
    (fewer alerts).

    Parameters
    ----------
    fp_cost : float, default=1.0
    fn_cost : float, default=1.0
    """

    _primary = "fn_cost"  # the parameter a spec like 'name:VALUE' sets
    needs_labels = True

    def __init__(self, fp_cost=1.0, fn_cost=1.0):
        self.fp_cost = fp_cost
        self.fn_cost = fn_cost

    def _check_params(self):
        for name in ("fp_cost", "fn_cost"):
            value = getattr(self, name)
            if not isinstance(value, (int, float, np.number)) or not value >= 0:
                raise InputError(f"CostOptimal {name} must be a number >= 0, got {shown(value)}.")

    def _cut_labelled(self, scores, truth):
        table = cut_table(truth, scores)
        cost = self.fp_cost * table["fp"] + self.fn_cost * table["fn"]
        best = int(np.argmin(cost))
        self.expected_cost_ = float(cost[best])
        return table["cut"][best]


class TargetPrecision(Threshold):
    """The lowest cut (most anomalies caught) whose precision on labelled
    data is at least ``precision``.

    Parameters
    ----------
    precision : float, default=0.9
    """

    _primary = "precision"  # the parameter a spec like 'name:VALUE' sets
    needs_labels = True

    def __init__(self, precision=0.9):
        self.precision = precision

    def _check_params(self):
        _in_unit_interval("TargetPrecision precision", self.precision)

    def _cut_labelled(self, scores, truth):
        table = cut_table(truth, scores)
        flagged = table["tp"] + table["fp"]
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(flagged > 0, table["tp"] / np.maximum(flagged, 1), 0.0)
        ok = np.flatnonzero((precision >= self.precision) & (flagged > 0))
        if ok.size == 0:
            raise InputError(
                f"no cut reaches precision {self.precision} on these labels (the best is "
                f"{precision[flagged > 0].max():.3f}); lower the target."
            )
        return table["cut"][ok[-1]]


class TargetRecall(Threshold):
    """The highest cut (fewest alerts) whose recall on labelled data is at
    least ``recall``.

    Parameters
    ----------
    recall : float, default=0.9
    """

    _primary = "recall"  # the parameter a spec like 'name:VALUE' sets
    needs_labels = True

    def __init__(self, recall=0.9):
        self.recall = recall

    def _check_params(self):
        _in_unit_interval("TargetRecall recall", self.recall)

    def _cut_labelled(self, scores, truth):
        table = cut_table(truth, scores)
        positives = max(int(truth.sum()), 1)
        ok = np.flatnonzero(table["tp"] / positives >= self.recall)
        return table["cut"][ok[0]]


class FalsePositiveRate(Threshold):
    """Promise an alert rate on normal data: the ``1 - rate`` quantile of
    the scores of normal rows.

    Without labels every fitted row counts as normal (so, on training data
    with few anomalies, it flags about ``rate`` of the rows); with labels
    only the rows labelled normal count.

    Parameters
    ----------
    rate : float, default=0.01
    """

    _primary = "rate"  # the parameter a spec like 'name:VALUE' sets

    def __init__(self, rate=0.01):
        self.rate = rate

    def _check_params(self):
        _in_open_range("FalsePositiveRate rate", self.rate, 0, 1)

    def fit(self, scores, clusters=None, n_clusters=None, y=None):
        scores = _check_scores(scores)
        self._check_params()
        if y is not None:
            normal = ~as_anomaly_labels(y)
            if not normal.any():
                raise InputError("FalsePositiveRate needs some rows labelled normal.")
            scores = scores[normal]
        self.cut_ = float(np.quantile(scores, 1.0 - self.rate))
        return self


THRESHOLDS = {
    cls.__name__: cls
    for cls in (
        Percentile,
        Contamination,
        MeanStd,
        Absolute,
        MedianSigma,
        PerCluster,
        CostOptimal,
        TargetPrecision,
        TargetRecall,
        FalsePositiveRate,
    )
}

_SPEC_NAMES = {name.lower(): cls for name, cls in THRESHOLDS.items()}


def parse_threshold(spec):
    """Build a threshold from text such as ``"percentile:95"``.

    >>> parse_threshold("meanstd:2.5")
    MeanStd(n_std=2.5)
    """
    name, _, arg = str(spec).partition(":")
    cls = _SPEC_NAMES.get(name.strip().lower())
    if cls is None:
        raise InputError(
            f"unknown threshold {name!r}; use one of "
            + ", ".join(f"{n}:VALUE" for n in _SPEC_NAMES)
        )
    if not arg:
        return cls()
    try:
        value = float(arg)
    except ValueError:
        raise InputError(f"threshold {spec!r}: {arg!r} is not a number.") from None
    return cls(**{cls._primary: value})


def validate_tiers(tiers):
    """Normalise ``tiers`` to a list of (name, Threshold) pairs, least severe
    first. Accepts a dict or a sequence of pairs."""
    if tiers is None:
        return []
    items = list(tiers.items()) if isinstance(tiers, dict) else list(tiers)
    seen = set()
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2):
            raise InputError(
                "tiers must be a dict {name: threshold} or a list of (name, threshold) "
                f"pairs; got the entry {item!r}."
            )
        name, threshold = item
        if not isinstance(name, str) or not name or name in seen:
            raise InputError(f"tiers: names must be distinct non-empty strings; got {name!r}.")
        if not isinstance(threshold, Threshold):
            raise InputError(f"tiers: {name!r} must be a threshold object, got {threshold!r}.")
        seen.add(name)
    return items


def fit_tiers(tiers, scores, clusters, n_clusters, y=None):
    """Fit a copy of each tier's threshold; returns a list of (name, fitted).

    Tiers go from least to most severe, so each must flag at most as many
    training rows as the one before it; otherwise the earlier tier would
    never be assigned, and the error names both."""
    fitted = [
        (name, clone(threshold).fit(scores, clusters, n_clusters, y))
        for name, threshold in validate_tiers(tiers)
    ]
    counts = [(name, int(np.count_nonzero(t.flag(scores, clusters)))) for name, t in fitted]
    for (before, n_before), (name, n) in itertools.pairwise(counts):
        if n > n_before:
            raise InputError(
                f"tiers out of order: {name!r} flags {n:,} training rows, more than "
                f"{before!r} before it ({n_before:,}), so {before!r} would never be "
                "assigned; list the tiers from least to most severe."
            )
    return fitted


def fit_cuts(threshold, tiers, scores, clusters, n_clusters, y=None):
    """(fitted threshold, fitted tiers) from training ``scores``; ``y`` is
    passed only to thresholds that need labels, so a fit stays unsupervised
    otherwise."""
    tiers = validate_tiers(tiers)
    if not any(t.needs_labels for t in [threshold, *dict(tiers).values()]):
        y = None
    fitted = clone(threshold).fit(scores, clusters, n_clusters, y)
    return fitted, fit_tiers(tiers, scores, clusters, n_clusters, y)


def assign_severity(fitted_tiers, scores, clusters):
    """Name of the most severe tier each row exceeds, or None."""
    codes = severity_codes(fitted_tiers, scores, clusters)
    names = np.array([name for name, _ in fitted_tiers] + [None], dtype=object)
    return names[codes]  # code -1 picks the trailing None


def severity_codes(fitted_tiers, scores, clusters):
    """Index into ``fitted_tiers`` of the most severe tier each row
    exceeds, or -1."""
    codes = np.full(len(scores), -1, dtype=np.int64)
    for code, (_, threshold) in enumerate(fitted_tiers):
        codes[threshold.flag(scores, clusters)] = code
    return codes
