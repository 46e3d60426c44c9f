"""Anomaly labels as farout reads them: 0/1, booleans, or scikit-learn's
outlier convention (+1 normal, -1 anomaly)."""

import numpy as np
import pandas as pd

from ..exceptions import InputError, shown

__all__ = ["as_anomaly_labels"]


def as_anomaly_labels(y_true):
    """Boolean array, True for anomalies, from labels given as 0/1, booleans,
    or scikit-learn's outlier convention (+1 normal, -1 anomaly)."""
    y = pd.Series(np.asarray(y_true).ravel())
    if y.isna().any():
        row = int(np.flatnonzero(y.isna().to_numpy())[0])
        raise InputError(f"labels have missing values (first at row {row}); fill or drop them.")
    if y.dtype == bool:
        return y.to_numpy()
    try:
        values = set(pd.unique(y.astype(np.float64)))
    except (TypeError, ValueError):
        raise InputError(
            "labels must be 0/1, True/False or +1/-1 (-1 = anomaly); got values such as "
            f"{', '.join(shown(v) for v in list(pd.unique(y))[:5])}."
        ) from None
    numeric = y.astype(np.float64).to_numpy()
    if values <= {0.0, 1.0}:
        return numeric == 1.0
    if values <= {-1.0, 1.0}:
        return numeric == -1.0
    raise InputError(
        "labels must be 0/1, True/False or +1/-1 (-1 = anomaly); got the values "
        f"{', '.join(shown(v) for v in sorted(values)[:5])}."
    )
