"""The stream's door: rows checked whole before any of them changes the
model (so a refused batch leaves it as it was), and their times.
"""

import numpy as np
import pandas as pd

from ..exceptions import InputError, shown

__all__ = ["MAX_VALUE", "checked_rows", "row_entities", "row_times"]

#: Largest magnitude a value may have: its square must stay finite.
MAX_VALUE = 1e150


def checked_rows(X, names_in, n_features, n_seen):
    """(float array, index, names) of rows ``X`` (a DataFrame, a Series or
    dict for one row, or an array), against the stream's columns
    ``names_in`` and their number ``n_features`` (None before the first
    rows); array rows are numbered from ``n_seen``."""
    if isinstance(X, pd.Series):  # one row, its index the columns
        X = pd.DataFrame([X.to_numpy()], columns=X.index)
    if isinstance(X, dict):
        X = pd.DataFrame([X])
    if isinstance(X, pd.DataFrame):
        names = [str(c) for c in X.columns]
        if names_in is not None and names != names_in:
            missing = [n for n in names_in if n not in names]
            extra = [n for n in names if n not in names_in]
            raise InputError(
                f"the rows' columns differ from the stream's: missing {missing}, "
                f"unexpected {extra}; pass the columns {names_in} in order."
            )
        for name, column in X.items():
            if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
                raise InputError(
                    f"column {str(name)!r} is not numeric ({column.dtype}); the stream "
                    "detector takes numeric columns."
                )
        values, index = X.to_numpy(dtype=np.float64), X.index
    else:
        values = np.asarray(X, dtype=np.float64)
        if values.ndim == 1:
            values = values[None, :]
        if values.ndim != 2:
            raise InputError(f"rows must be 2-D, got shape {values.shape}.")
        names = names_in or [f"x{j}" for j in range(values.shape[1])]
        index = pd.RangeIndex(n_seen, n_seen + values.shape[0])
    if values.shape[1] == 0:
        raise InputError("the rows have no columns.")
    if n_features is not None and values.shape[1] != n_features:
        raise InputError(f"the rows have {values.shape[1]} columns; the stream has {n_features}.")
    bad = ~np.isfinite(values) | (np.abs(values) > MAX_VALUE)
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        raise InputError(
            f"row {index[i]!r}, column {names[j]!r} holds {shown(values[i, j])}; the stream "
            f"detector needs finite numbers within +-{MAX_VALUE:g} (fill, clip or drop "
            "the row first)."
        )
    return values, index, names


def row_entities(entities, index, n, needed):
    """Each row's entity as text, or None when no feature ``needed`` them.
    A missing entity is refused, naming its row."""
    if entities is None:
        if needed:
            raise InputError(
                "EntityFeatures needs each row's entity: pass entities= "
                "(farout stream: --entity-column)."
            )
        return None
    if not needed:
        raise InputError("entities= is given, but no EntityFeatures is among the features.")
    keys = pd.Series(entities)
    if len(keys) != n:
        raise InputError(f"entities must give one entity for each of the {n} rows.")
    if pd.api.types.is_float_dtype(keys) and (keys.dropna() % 1 == 0).all():
        keys = keys.astype("Int64")  # 12.0 (a column with gaps) is entity 12
    missing = keys.isna().to_numpy() | (keys.astype(str).str.strip() == "").to_numpy()
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise InputError(
            f"row {index[i]!r} has no entity; every row needs one (fill it, or drop the row)."
        )
    return keys.astype(str).tolist()


def row_times(times, index, n, last, why="a half_life in time"):
    """(each row's time in seconds since the epoch, seconds since the row
    before) of ``n`` rows; ``times`` may be None for rows indexed by time.
    ``last`` is the time of the row before them (None at the start). Rows
    out of time order are refused, naming the first."""
    if times is None and isinstance(index, pd.DatetimeIndex):
        times = index
    if times is None:
        raise InputError(
            f"{why} needs the rows' times: pass times=, or index the "
            "rows by time (farout stream: --time-column)."
        )
    stamps = pd.to_datetime(pd.Index(times), utc=True)
    if len(stamps) != n or stamps.isna().any():
        raise InputError(f"times must give one time for each of the {n} rows.")
    # seconds since the epoch (asi8 would be in the index's own unit)
    seconds = np.asarray(
        (stamps - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1), dtype=np.float64
    )
    previous = np.concatenate([[seconds[0] if last is None else last], seconds[:-1]])
    back = np.flatnonzero(seconds < previous)
    if back.size:
        i = int(back[0])
        raise InputError(
            f"row {index[i]!r}: its time {stamps[i]} is before the row's above it; "
            "the stream needs rows in time order."
        )
    return seconds, seconds - previous
