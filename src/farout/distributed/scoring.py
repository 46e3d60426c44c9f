"""Scoring a Dask DataFrame: a lazy DataFrame of the input's own columns
and the result columns, partition by partition, the model sent once."""

import numpy as np
import pandas as pd

from ..exceptions import InputError
from ..features.schema import model_columns
from .partitions import broadcast, serial_kernels

__all__ = ["TEXT", "result_meta", "score_dask"]

# The text columns' dtype: what pandas makes of a column of strings (object
# before pandas 3, its string dtype since). ``detect`` infers it per call, so
# a column of no names (``severity`` where no row reaches a tier) comes out
# as object; every partition is cast to this one dtype, Dask's meta.
TEXT = pd.Series(["text"]).dtype


def score_dask(detector, X, *, reasons="flagged", top=3, confidence=False):
    """Score Dask DataFrame ``X`` with fitted ``detector``: a lazy Dask
    DataFrame holding ``X``'s columns, then ``anomaly_score``,
    ``is_anomaly``, ``severity``, ``cluster`` and ``reason`` (and
    ``anomaly_probability`` and ``confidence`` with ``confidence=True``),
    each partition's rows exactly as ``detector.detect`` scores them.

    The model's columns are found by name (others are carried along);
    missing ones are an error naming them, raised here, before any work.
    The model is one key of the graph, fetched once by each worker, not
    pickled into each task.

    Parameters
    ----------
    detector : KMeansAnomalyDetector or SecondaryCheck, fitted
    X : dask.dataframe.DataFrame
    reasons, top, confidence
        As for :meth:`~farout.KMeansAnomalyDetector.detect`.
    """
    check_dataframe(X)
    model_columns(detector, pd.DataFrame(columns=list(X.columns)))  # missing: named now
    meta = pd.concat([empty_frame(X), result_meta(confidence)], axis=1)
    return X.map_partitions(
        _score_partition,
        broadcast(detector),
        reasons,
        top,
        confidence,
        meta=meta,
        align_dataframes=False,
    )


def check_dataframe(X):
    """An error unless ``X`` is a Dask DataFrame."""
    import dask.dataframe as dd

    if not isinstance(X, dd.DataFrame):
        raise InputError(
            f"X must be a Dask DataFrame, got {type(X).__name__}; in memory, use "
            "detector.detect(X)."
        )


def empty_frame(X):
    """A pandas frame of no rows with Dask DataFrame ``X``'s columns, dtypes
    and index dtype."""
    index = pd.Index([], dtype=X.index.dtype, name=X.index.name)
    return pd.DataFrame(
        {name: pd.Series([], dtype=dtype, index=index) for name, dtype in X.dtypes.items()},
        index=index,
    )


def result_meta(confidence=False):
    """The result columns (:data:`farout.findings.RESULT_COLUMNS`, then the
    confidence columns when asked) and their dtypes, as an empty frame: Dask's
    ``meta``."""
    columns = {
        "anomaly_score": np.float64,
        "is_anomaly": bool,
        "severity": TEXT,
        "cluster": np.intp,
        "reason": TEXT,
    }
    if confidence:
        columns.update(anomaly_probability=np.float64, confidence=np.float64)
    return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in columns.items()})


def _score_partition(frame, detector, reasons, top, confidence):
    if len(frame) == 0:
        return pd.concat([frame, result_meta(confidence).set_axis(frame.index)], axis=1)
    with serial_kernels():
        result = detector.detect(
            model_columns(detector, frame), reasons=reasons, top=top, confidence=confidence
        )
    result = result.astype({"severity": TEXT, "reason": TEXT})
    return pd.concat([frame, result], axis=1)
