"""The audit of a time column: unparseable, missing, duplicate and
out-of-order timestamps, gaps, and the span covered."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from ..exceptions import InputError, shown

__all__ = ["TimeCheck", "check_times"]


@dataclass
class TimeCheck:
    """The time column's checks. Times are Timestamps, or numbers for a
    numeric time column; ``usual_interval`` and the gaps' lengths are
    Timedeltas or numbers. Each gap is a dict of ``after_row``,
    ``before_row`` (the rows either side of it, in time order), ``start``,
    ``end`` and ``length``; the longest gaps are kept."""

    column: str
    missing: int
    missing_rows: list
    unparseable: int
    unparseable_rows: list
    duplicates: int
    duplicate_rows: list
    out_of_order: int
    out_of_order_rows: list
    usual_interval: object
    gap_factor: float
    n_gaps: int
    gaps: list
    start: object
    end: object


def _time_values(name, series):
    """(times as a Series, numbers to compare them by, unparseable mask):
    a datetime column as it is, a numeric one as numbers, text parsed."""
    missing = series.isna().to_numpy()
    if ptypes.is_numeric_dtype(series.dtype) and not ptypes.is_bool_dtype(series.dtype):
        times = series.astype(np.float64)
        return times, times.to_numpy(), np.zeros(len(series), dtype=bool)
    if ptypes.is_datetime64_any_dtype(series.dtype):
        times = series
    else:
        times = _parse_times(series)
    if getattr(times.dt, "tz", None) is not None:
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    unparseable = times.isna().to_numpy() & ~missing
    if unparseable.all():
        raise InputError(
            f"time column {name!r} holds no readable timestamps (e.g. row 0: "
            f"{shown(series.iloc[0])}); pass the column that holds the times."
        )
    numbers = times.to_numpy().astype("datetime64[ns]").astype(np.int64).astype(np.float64)
    numbers[times.isna().to_numpy()] = np.nan
    return times, numbers, unparseable


def _parse_times(series):
    """Text as timestamps, unreadable ones NaT: ISO 8601 first, then each
    value in whatever format it has, whichever reads more."""
    text = series.astype("string")
    best = None
    for how in ({"format": "ISO8601"}, {"format": "mixed"}):
        for utc in (False, True):  # True when the values mix UTC offsets
            try:
                parsed = pd.to_datetime(text, errors="coerce", utc=utc, **how)
            except (ValueError, TypeError):
                continue
            if best is None or parsed.notna().sum() > best.notna().sum():
                best = parsed
            break
        if best is not None and best.notna().sum() == series.notna().sum():
            break
    return best


def check_times(name, series, gap_factor, max_examples):
    """The checks of time column ``name`` (its values ``series``), and the
    times as read: a Series of Timestamps, or of numbers."""
    times, t, unparseable = _time_values(name, series)
    is_time = ptypes.is_datetime64_any_dtype(times.dtype)
    valid = np.isfinite(t)
    positions = np.flatnonzero(valid)
    tv = t[valid]
    order = np.argsort(tv, kind="stable")
    duplicate = np.zeros(tv.size, dtype=bool)
    duplicate[order[1:]] = np.diff(tv[order]) == 0
    # out of order: earlier than a row above it in the table
    before = np.maximum.accumulate(np.r_[-np.inf, tv[:-1]])
    late = tv < before
    steps = np.diff(tv[order])
    positive = steps[steps > 0]
    usual = float(np.median(positive)) if positive.size else None
    gaps = []
    n_gaps = 0
    if usual is not None:
        where = np.flatnonzero(steps > gap_factor * usual)
        n_gaps = int(where.size)
        longest = where[np.argsort(-steps[where], kind="stable")][:max_examples]
        for i in sorted(longest):
            gaps.append(
                {
                    "after_row": int(positions[order[i]]),
                    "before_row": int(positions[order[i + 1]]),
                    "start": _as_time(tv[order[i]], is_time),
                    "end": _as_time(tv[order[i + 1]], is_time),
                    "length": _as_length(steps[i], is_time),
                }
            )
    missing = np.flatnonzero(series.isna().to_numpy())
    check = TimeCheck(
        column=name,
        missing=int(missing.size),
        missing_rows=[int(r) for r in missing[:max_examples]],
        unparseable=int(unparseable.sum()),
        unparseable_rows=[int(r) for r in np.flatnonzero(unparseable)[:max_examples]],
        duplicates=int(duplicate.sum()),
        duplicate_rows=[int(r) for r in positions[duplicate][:max_examples]],
        out_of_order=int(late.sum()),
        out_of_order_rows=[int(r) for r in positions[late][:max_examples]],
        usual_interval=None if usual is None else _as_length(usual, is_time),
        gap_factor=float(gap_factor),
        n_gaps=n_gaps,
        gaps=gaps,
        start=_as_time(tv.min(), is_time) if tv.size else None,
        end=_as_time(tv.max(), is_time) if tv.size else None,
    )
    return check, times


def _as_time(value, is_time):
    return pd.Timestamp(int(value)) if is_time else float(value)


def _as_length(value, is_time):
    return pd.Timedelta(int(round(value))) if is_time else float(value)
