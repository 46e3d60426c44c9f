"""Which kind each input column is: numeric or categorical, from its
dtype and, for an object column, its values; a column of numbers with a
few stray text values is named, not silently taken as text."""

import warnings

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from ..exceptions import FaroutWarning, InputError, shown

__all__ = ["column_kind"]


def column_kind(name, series):
    """'numeric' or 'categorical', or an InputError naming the column."""
    dtype = series.dtype
    if ptypes.is_complex_dtype(dtype):
        raise InputError(f"Complex data not supported: column {name!r} is complex.")
    if ptypes.is_bool_dtype(dtype) or ptypes.is_numeric_dtype(dtype):
        return "numeric"
    if dtype == np.dtype(object):
        # An object column is whatever its values are.
        inferred = pd.api.types.infer_dtype(series, skipna=True)
        if inferred in ("string", "mixed"):
            _stray_text(name, series, refuse=inferred == "mixed")
        if inferred in ("string", "empty"):
            return "categorical"
        if inferred in ("integer", "floating", "mixed-integer-float", "decimal", "boolean"):
            return "numeric"
    elif isinstance(dtype, pd.CategoricalDtype):
        return "categorical"
    elif ptypes.is_string_dtype(dtype):
        _stray_text(name, series, refuse=False)
        return "categorical"
    raise InputError(
        f"column {name!r} has dtype {dtype} that farout cannot use: it is neither "
        "numeric nor categorical (string/category). Convert it, or drop it "
        "(CLI: --exclude)."
    )


def _stray_text(name, series, refuse):
    """A column of numbers with a few text values (a typo, ``n/a``): numbers
    beside text are refused, naming the row; a column read as text all
    through is taken as categorical, as it may be codes, with a warning that
    says so and names the row."""
    as_numbers = pd.to_numeric(series, errors="coerce")
    text = (as_numbers.isna() & series.notna()).to_numpy()
    numbers = int(np.count_nonzero(as_numbers.notna()))
    if not (text.any() and numbers >= 0.9 * (numbers + int(text.sum()))):
        return
    row = int(np.flatnonzero(text)[0])
    where = (
        f"column {name!r} holds numbers except at {int(text.sum()):,} row(s), the first "
        f"row {shown(series.index[row])} with {shown(series.iloc[row])}"
    )
    if refuse:
        raise InputError(f"{where}; fix or drop those rows.")
    warnings.warn(
        f"{where}, so it is taken as categorical (each distinct number a category); "
        "if it is numeric, fix or drop those rows.",
        FaroutWarning,
        stacklevel=2,
    )
