"""ParallelPostFit: a fitted detector's answers on Dask collections."""

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from ..exceptions import InputError
from ..features.schema import model_columns
from .fitting import fit_dask
from .partitions import broadcast, is_dask, serial_kernels
from .scoring import check_dataframe, result_meta, score_dask

__all__ = ["ParallelPostFit"]

# method -> (the Series name the detector gives it, its dtype)
_METHODS = {
    "anomaly_score": ("anomaly_score", np.float64),
    "score_samples": ("score_samples", np.float64),
    "decision_function": ("decision_function", np.float64),
    "predict": ("prediction", np.int64),
    "predict_cluster": ("cluster", np.intp),
}


class ParallelPostFit(BaseEstimator):
    """A detector whose answers come partition by partition on Dask
    collections, like dask-ml's ``ParallelPostFit``, with the anomaly
    detector's own methods too.

    ``fit`` on a Dask collection runs :func:`~farout.distributed.fit_dask`
    on a clone of ``estimator``; on data in memory, its ``fit``. Given an
    estimator fitted already, the wrapper answers without ``fit``.

    On a Dask DataFrame each method returns a lazy Dask Series (indexed like
    the input), on a Dask Array a lazy 1-D Array, and on data in memory what
    the estimator returns. ``anomaly_score``: higher is more anomalous;
    ``score_samples`` is its negative and ``decision_function`` is
    ``score_samples - offset_`` (negative: anomaly), as in scikit-learn;
    ``predict`` gives +1 normal, -1 anomaly. The fitted estimator's
    attributes (``cluster_centers_``, ``threshold_``, ...) read through.

    Parameters
    ----------
    estimator : KMeansAnomalyDetector
    passes : int, default=0
        Refinement passes of a Dask fit (see :func:`~farout.distributed.fit_dask`).

    Attributes
    ----------
    estimator_ : KMeansAnomalyDetector
        The fitted clone (after ``fit``).
    """

    def __init__(self, estimator, *, passes=0):
        self.estimator = estimator
        self.passes = passes

    def fit(self, X, y=None):
        """Fit a clone of ``estimator`` on ``X``; returns self."""
        estimator = clone(self.estimator)
        if is_dask(X):
            if y is not None:
                raise InputError("y is not taken by a Dask fit; fit in memory to use labels.")
            self.estimator_ = fit_dask(estimator, X, passes=self.passes)
        else:
            self.estimator_ = estimator.fit(X, y)
        return self

    def __getattr__(self, name):
        # fitted attributes read through to the fitted estimator
        if name.endswith("_") and not name.startswith("__"):
            fitted = self.__dict__.get("estimator_", self.__dict__.get("estimator"))
            if fitted is not None:
                return getattr(fitted, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __sklearn_is_fitted__(self):
        return "estimator_" in self.__dict__ or _is_fitted(self.estimator)

    def _fitted(self):
        check_is_fitted(self)
        return self.__dict__.get("estimator_", self.estimator)

    def anomaly_score(self, X):
        """A(x) per row: higher is more anomalous."""
        return self._answer("anomaly_score", X)

    def score_samples(self, X):
        """``-anomaly_score(X)``: lower is more abnormal."""
        return self._answer("score_samples", X)

    def decision_function(self, X):
        """``score_samples(X) - offset_``: negative means anomaly."""
        return self._answer("decision_function", X)

    def predict(self, X):
        """+1 for a normal row, -1 for an anomaly."""
        return self._answer("predict", X)

    def predict_cluster(self, X):
        """The nearest cluster of each row."""
        return self._answer("predict_cluster", X)

    def detect(self, X, reasons="flagged", top=3, confidence=False):
        """The result columns of each row (``anomaly_score``, ``is_anomaly``,
        ``severity``, ``cluster``, ``reason``), a lazy Dask DataFrame for a
        Dask DataFrame; see :func:`~farout.distributed.score_dask`."""
        estimator = self._fitted()
        if not is_dask(X):
            return estimator.detect(X, reasons=reasons, top=top, confidence=confidence)
        check_dataframe(X)
        scored = score_dask(estimator, X, reasons=reasons, top=top, confidence=confidence)
        return scored[list(result_meta(confidence).columns)]

    def _answer(self, method, X):
        estimator = self._fitted()
        if not is_dask(X):
            return getattr(estimator, method)(X)
        name, dtype = _METHODS[method]
        model = broadcast(estimator)
        if hasattr(X, "columns"):
            if getattr(estimator, "feature_names_in_", None) is not None:
                model_columns(estimator, pd.DataFrame(columns=list(X.columns)))  # named now
            return X.map_partitions(
                _partition_answer,
                model,
                method,
                meta=pd.Series([], dtype=dtype, name=name),
                align_dataframes=False,
            )
        if X.ndim != 2:
            raise InputError(f"X must be a 2-D Dask Array, got {X.ndim} dimension(s).")
        X = X.rechunk({1: -1})
        return X.map_blocks(
            _block_answer, model, method, drop_axis=1, dtype=dtype, meta=np.empty(0, dtype)
        )


def _partition_answer(frame, model, method):
    with serial_kernels():
        if len(frame) == 0:
            name, dtype = _METHODS[method]
            return pd.Series([], dtype=dtype, name=name, index=frame.index)
        X = frame
        if getattr(model, "feature_names_in_", None) is not None:
            X = model_columns(model, frame)
        return getattr(model, method)(X)


def _block_answer(block, model, method):
    with serial_kernels():
        if block.shape[0] == 0:
            return np.empty(0, dtype=_METHODS[method][1])
        return np.asarray(getattr(model, method)(block))


def _is_fitted(estimator):
    try:
        check_is_fitted(estimator)
    except Exception:  # NotFittedError, or not an estimator at all
        return False
    return True
