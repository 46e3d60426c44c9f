"""The detectors the field compares against, with farout's score convention.

Every baseline is a scikit-learn estimator with ``fit(X)`` and
``anomaly_score(X)``: higher is more anomalous. They take numeric arrays;
:func:`farout.comparison.compare` encodes tables for them with the same
:class:`~farout.features.FeatureEncoder` farout uses, so every detector
sees the same features.

>>> import numpy as np
>>> X = np.r_[np.zeros((50, 2)) + np.arange(50)[:, None] % 5, [[40.0, 40.0]]]
>>> int(np.argmax(ZScore().fit(X).anomaly_score(X)))
50
"""

import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.ensemble import IsolationForest
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import LocalOutlierFactor
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = [
    "BASELINES",
    "IQR",
    "Autoencoder",
    "IsolationForestBaseline",
    "LOFBaseline",
    "OneClassSVMBaseline",
    "ZScore",
    "make_baseline",
]


class _Baseline(BaseEstimator):
    def _check(self, X, reset):
        if not reset:
            check_is_fitted(self)
        return validate_data(self, X, reset=reset, dtype=np.float64)


class ZScore(_Baseline):
    """Largest absolute z-score across features."""

    def fit(self, X, y=None):
        X = self._check(X, reset=True)
        self.mean_ = X.mean(axis=0)
        std = X.std(axis=0)
        self.scale_ = np.where(std > 0, std, 1.0)
        return self

    def anomaly_score(self, X):
        X = self._check(X, reset=False)
        return np.abs((X - self.mean_) / self.scale_).max(axis=1)


class IQR(_Baseline):
    """Largest distance outside Tukey's fences (Q1 - 1.5 IQR, Q3 + 1.5 IQR),
    in IQR units, across features; 0 inside every fence."""

    def fit(self, X, y=None):
        X = self._check(X, reset=True)
        q1, q3 = np.percentile(X, [25, 75], axis=0)
        iqr = q3 - q1
        self.iqr_ = np.where(iqr > 0, iqr, 1.0)
        self.low_ = q1 - 1.5 * iqr
        self.high_ = q3 + 1.5 * iqr
        return self

    def anomaly_score(self, X):
        X = self._check(X, reset=False)
        outside = np.maximum(self.low_ - X, 0.0) + np.maximum(X - self.high_, 0.0)
        return (outside / self.iqr_).max(axis=1)


class _Wrapped(_Baseline):
    """A scikit-learn detector on standardised features, sign flipped so
    higher is more anomalous."""

    def fit(self, X, y=None):
        X = self._check(X, reset=True)
        self.model_ = make_pipeline(StandardScaler(), self._make(X.shape[0])).fit(X)
        return self

    def anomaly_score(self, X):
        X = self._check(X, reset=False)
        return -self.model_.score_samples(X)


class IsolationForestBaseline(_Wrapped):
    """scikit-learn's IsolationForest (defaults)."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def _make(self, n_samples):
        return IsolationForest(random_state=self.random_state)


class LOFBaseline(_Wrapped):
    """Local Outlier Factor in novelty mode (scores new rows)."""

    def __init__(self, n_neighbors=20):
        self.n_neighbors = n_neighbors

    def _make(self, n_samples):
        # fewer neighbours than rows, or scikit-learn warns and clips itself
        neighbours = max(1, min(self.n_neighbors, n_samples - 1))
        return LocalOutlierFactor(n_neighbors=neighbours, novelty=True)


class OneClassSVMBaseline(_Wrapped):
    """One-class SVM (RBF kernel, nu=0.1), fitted on at most ``max_samples``
    rows: its cost grows with the square of the rows."""

    def __init__(self, nu=0.1, max_samples=5000, random_state=None):
        self.nu = nu
        self.max_samples = max_samples
        self.random_state = random_state

    def fit(self, X, y=None):
        X = self._check(X, reset=True)
        if X.shape[0] > self.max_samples:
            rng = np.random.default_rng(self.random_state)
            X = X[rng.choice(X.shape[0], self.max_samples, replace=False)]
        self.model_ = make_pipeline(StandardScaler(), OneClassSVM(nu=self.nu)).fit(X)
        return self


class Autoencoder(_Baseline):
    """A small autoencoder (scikit-learn's MLPRegressor trained to
    reproduce its standardised input through a narrow hidden layer); the
    score is the mean squared reconstruction error."""

    def __init__(self, hidden=None, max_iter=200, random_state=None):
        self.hidden = hidden
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X, y=None):
        X = self._check(X, reset=True)
        self.scaler_ = StandardScaler().fit(X)
        Z = self.scaler_.transform(X)
        width = self.hidden or max(2, X.shape[1] // 2)
        with warnings.catch_warnings():
            # a fixed training budget is part of the baseline's definition
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model_ = MLPRegressor(
                hidden_layer_sizes=(width,),
                max_iter=self.max_iter,
                random_state=self.random_state,
            ).fit(Z, Z)
        return self

    def anomaly_score(self, X):
        X = self._check(X, reset=False)
        Z = self.scaler_.transform(X)
        return ((self.model_.predict(Z).reshape(Z.shape) - Z) ** 2).mean(axis=1)


BASELINES = {
    "zscore": ZScore,
    "iqr": IQR,
    "iforest": IsolationForestBaseline,
    "lof": LOFBaseline,
    "ocsvm": OneClassSVMBaseline,
    "autoencoder": Autoencoder,
}


def make_baseline(name, random_state=None):
    """A fresh baseline by name (one of :data:`BASELINES`)."""
    cls = BASELINES[name]
    if "random_state" in cls().get_params():
        return cls(random_state=random_state)
    return cls()
