"""A secondary check that cuts false positives: a second, different detector
must agree before a row stays flagged.

The original method's post-processing step. farout flags rows; a checker
(Isolation Forest or LOF by default) re-scores them on the same encoded
features, and a row stays flagged only when the checker also puts it above
its ``checker_quantile``-th training percentile. Both scores are kept.

Whether it helps depends on the data: docs/benchmarks.md measures it on the
ADBench datasets against the fair alternative, simply raising farout's own
threshold to the same alert rate.
"""

import numbers

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .baselines import make_baseline
from .detector import KMeansAnomalyDetector
from .exceptions import InputError
from .persistence import write_state
from .persistence.estimator import secondary_from_state, secondary_state

__all__ = ["SecondaryCheck"]

CHECKERS = ("iforest", "lof")


class SecondaryCheck(OutlierMixin, BaseEstimator):
    """farout's flags, confirmed by a second detector.

    Parameters
    ----------
    detector : KMeansAnomalyDetector, default=None
        The primary detector (cloned); ``None`` means the default one.
    checker : {"iforest", "lof"}, default="iforest"
    checker_quantile : float, default=90.0
        A flagged row stays flagged only if the checker scores it above this
        percentile of the checker's training scores.
    random_state : int or None, default=None

    Attributes
    ----------
    detector_ : KMeansAnomalyDetector
    checker_ : estimator from :mod:`farout.baselines`
    checker_cut_ : float
    checker_rows_ : ndarray
        The encoded training rows the checker was fitted on, kept so that a
        saved check refits the same checker when loaded.
    checker_seed_ : int
    offset_ : float
        0: ``decision_function`` is the smaller of the two detectors'
        margins over their cuts, each in units of its training-score
        standard deviation, with the sign flipped; negative when both flag.
    """

    def __init__(self, detector=None, checker="iforest", checker_quantile=90.0, random_state=None):
        self.detector = detector
        self.checker = checker
        self.checker_quantile = checker_quantile
        self.random_state = random_state

    def fit(self, X, y=None):
        if self.checker not in CHECKERS:
            raise InputError(f"checker must be one of {CHECKERS}, got {self.checker!r}.")
        if (
            not isinstance(self.checker_quantile, (int, float))
            or not 0 < self.checker_quantile < 100
        ):
            raise InputError(
                f"checker_quantile must be in (0, 100), got {self.checker_quantile!r}."
            )
        if self.detector is not None and not isinstance(self.detector, KMeansAnomalyDetector):
            raise InputError(f"detector must be a KMeansAnomalyDetector, got {self.detector!r}.")
        detector = (
            KMeansAnomalyDetector(random_state=self.random_state)
            if self.detector is None
            else clone(self.detector)
        )
        self.detector_ = detector.fit(X)
        self.n_features_in_ = self.detector_.n_features_in_
        if hasattr(self.detector_, "feature_names_in_"):
            self.feature_names_in_ = self.detector_.feature_names_in_
        found = self.detector_.detection(X, keep_encoded=True)
        # The checker (a scikit-learn forest or LOF) cannot be stored without
        # pickle; its training rows and seed can, and refit it exactly.
        self.checker_seed_ = _seed(self.random_state)
        self.checker_rows_ = found.encoded
        self.checker_ = make_baseline(self.checker, self.checker_seed_).fit(found.encoded)
        checks = self.checker_.anomaly_score(found.encoded)
        self.checker_cut_ = float(np.percentile(checks, self.checker_quantile))
        self.detector_scale_ = float(found.scores.std()) or 1.0
        self.checker_scale_ = float(checks.std()) or 1.0
        self.offset_ = 0.0
        return self

    # ------------------------------------------------------------ state
    def get_state(self):
        """The fitted check as a state tree (see :mod:`farout.persistence`)."""
        check_is_fitted(self)
        return secondary_state(self)

    @classmethod
    def from_state(cls, state):
        """The fitted check a :meth:`get_state` tree describes."""
        return secondary_from_state(cls, state, KMeansAnomalyDetector)

    def save(self, path):
        """Write the fitted check to ``path`` (a zip; never pickled). Load
        it with :func:`farout.load`."""
        write_state(path, type(self).__name__, self.get_state())
        return path

    def _margins(self, X):
        check_is_fitted(self)
        found = self.detector_.detection(X, keep_encoded=True)
        checks = self.checker_.anomaly_score(found.encoded)
        cuts = self.detector_.threshold_.cuts(found.labels)
        primary = (found.scores - cuts) / self.detector_scale_
        secondary = (checks - self.checker_cut_) / self.checker_scale_
        return found, checks, np.minimum(primary, secondary)

    def score_samples(self, X):
        """Minus the smaller margin (scikit-learn: lower is more abnormal)."""
        found, _, margin = self._margins(X)
        return found.like(-margin, "score_samples")

    def decision_function(self, X):
        """Negative where both detectors flag the row."""
        found, _, margin = self._margins(X)
        return found.like(-margin - self.offset_, "decision_function")

    def predict(self, X):
        """-1 where both detectors flag the row, +1 elsewhere."""
        found, _, margin = self._margins(X)
        return found.like(np.where(margin > 0, -1, 1), "prediction")

    def detect(self, X, reasons="flagged", top=3):
        """The detector's :meth:`~KMeansAnomalyDetector.detect` table with
        ``flagged_by_farout``, ``checker_score`` and ``is_anomaly`` now
        meaning confirmed by both."""
        found, checks, margin = self._margins(X)
        table = self.detector_.detect(X, reasons=reasons, top=top)
        table.insert(1, "flagged_by_farout", table["is_anomaly"].to_numpy())
        table["checker_score"] = checks
        table["is_anomaly"] = margin > 0
        if reasons == "flagged":
            table.loc[~table["is_anomaly"], "reason"] = ""
        return table if found.index is not None else table.reset_index(drop=True)


def _seed(random_state):
    """An int seed for the checker: ``random_state`` itself when it is one
    (as before 0.3), else drawn from it (or fresh for None)."""
    if isinstance(random_state, numbers.Integral):
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
