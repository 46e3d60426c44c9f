"""Input checks at the estimators' door: everything below them (the
scoring core, the kernels) takes arrays as they are."""

import numbers

import numpy as np
import pandas as pd
from sklearn.utils.validation import validate_data

from .exceptions import InputError

__all__ = ["check_rows", "feature_labels", "is_int"]


def is_int(value):
    """True for an integer that is not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_rows(est, X, reset):
    """Validated rows for estimator ``est``: a DataFrame (its columns
    checked against the fitted names) or a float array. ``reset`` records
    the features, as ``fit`` does."""
    if isinstance(X, pd.DataFrame):
        fitted = None if reset else getattr(est, "feature_names_in_", None)
        # the columns exactly as fitted need no more checking: sklearn's own
        # check costs more than scoring a few rows
        if fitted is None or X.columns.tolist() != fitted.tolist():
            validate_data(est, X, reset=reset, skip_check_array=True)
        if X.shape[0] == 0:
            raise InputError(f"Found array with 0 sample(s) (shape={X.shape}); X is empty.")
        if X.shape[1] == 0:
            raise InputError(f"Found array with 0 feature(s) (shape={X.shape}).")
        return X
    try:
        return validate_data(
            est, X, reset=reset, dtype=[np.float64, np.float32], ensure_all_finite=False
        )
    except ValueError as exc:
        if "could not convert string to float" not in str(exc):
            raise
        raise InputError(
            f"array input must be numeric ({exc}); to use text columns as "
            "categories, pass a pandas DataFrame with column names."
        ) from None


def feature_labels(X):
    """Names for messages and explanations: the DataFrame's columns (as
    text, even when they are not strings), else x0, x1, ..."""
    if isinstance(X, pd.DataFrame):
        return [str(c) for c in X.columns]
    return [f"x{j}" for j in range(X.shape[1])]
