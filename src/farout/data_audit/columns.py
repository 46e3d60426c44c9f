"""The audit of each column: its table row, suspect values, and exact
duplicate rows."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

__all__ = [
    "SENTINELS",
    "Duplicates",
    "Suspect",
    "describe_column",
    "find_duplicates",
    "numeric_suspects",
]

#: Values that data sources use as codes for a missing or failed reading.
#: Beyond a column's robust range, even one of them is reported.
SENTINELS = (-999999.0, -99999.0, -9999.0, -999.0, -500.0, -99.0, 0.0, 999.0, 9999.0, 99999.0)

# A numeric column read as text is taken as numbers with a few text values
# when at least this share of its values are numbers (the encoder's rule).
_MOSTLY_NUMBERS = 0.9


@dataclass
class Duplicates:
    """Exact duplicate rows: ``count`` rows repeat an earlier row; ``rows``
    are the first of them and ``originals`` the earlier row each repeats."""

    count: int
    rows: list
    originals: list


@dataclass
class Suspect:
    """Values to clean rather than learn from, in one column.

    ``kind`` is ``"sentinel"`` (one value repeated beyond the robust range,
    or a known code such as -999 there), ``"out_of_range"`` (outside the
    plausible range given), ``"negative"`` (below 0 in a column otherwise
    never below it), ``"infinite"`` or ``"text"`` (text in a column of
    numbers). ``value`` is the value for a sentinel or a text, else None.
    """

    column: str
    kind: str
    value: object
    count: int
    rows: list
    reason: str


def describe_column(name, series, near_constant, max_examples):
    """The column's table row, its values as numbers (None when it holds
    none), and the suspects found while reading it (text among numbers)."""
    n = len(series)
    missing = series.isna().to_numpy()
    present = series[~missing]
    counts = _value_counts(present)
    top_share = float(counts.iloc[0] / len(present)) if len(present) else np.nan
    numbers, suspects = None, []
    kind = "text"
    if ptypes.is_bool_dtype(series.dtype):
        kind = "boolean"
    elif ptypes.is_datetime64_any_dtype(series.dtype):
        kind = "datetime"
    elif ptypes.is_numeric_dtype(series.dtype) and not ptypes.is_complex_dtype(series.dtype):
        kind = "numeric"
        numbers = series.to_numpy(dtype=np.float64, na_value=np.nan)
    elif len(present):
        as_numbers = pd.to_numeric(series, errors="coerce")
        text = as_numbers.isna().to_numpy() & ~missing
        n_numbers = int(as_numbers.notna().sum())
        # numbers with a few stray texts; text that is all digits stays text (codes)
        if text.any() and n_numbers >= _MOSTLY_NUMBERS * (n_numbers + int(text.sum())):
            kind = "numeric"
            numbers = as_numbers.to_numpy(dtype=np.float64, na_value=np.nan)
            suspects = _text_suspects(name, series, text, max_examples)
    low = median = high = None
    if numbers is not None:
        finite = numbers[np.isfinite(numbers)]
        if finite.size:
            low, median, high = (float(v) for v in np.percentile(finite, [0, 50, 100]))
    elif kind == "datetime" and len(present):
        low, median, high = present.min(), present.median(), present.max()
    distinct = int(len(counts))
    row = {
        "type": str(series.dtype),
        "kind": kind,
        "missing": int(missing.sum()),
        "missing_share": float(missing.mean()) if n else 0.0,
        "distinct": distinct,
        "top": counts.index[0] if distinct else None,
        "top_share": top_share,
        "constant": distinct <= 1,
        "near_constant": bool(distinct > 1 and top_share >= near_constant),
        "min": low,
        "median": median,
        "max": high,
    }
    return row, numbers, suspects


def _value_counts(present):
    try:
        return present.value_counts(sort=True)
    except TypeError:  # unhashable values (lists in JSON Lines): count their text
        return present.astype(str).value_counts(sort=True)


def _text_suspects(name, series, text, max_examples):
    """Each text value in a column of numbers (``n/a``, ``error``), most
    frequent first."""
    positions = np.flatnonzero(text)
    values = pd.Series(series.iloc[positions].astype(str).to_numpy(), index=positions)
    found = []
    for value, group in values.groupby(values.to_numpy(), sort=False):
        rows = [int(p) for p in group.index]
        found.append(
            Suspect(
                column=name,
                kind="text",
                value=value,
                count=len(rows),
                rows=rows[:max_examples],
                reason="in a column of numbers: a typo or a code for a missing reading; "
                "fix it or set it missing",
            )
        )
    return sorted(found, key=lambda s: (-s.count, s.rows[0]))


def numeric_suspects(name, values, plausible, far, min_spike, max_examples):
    """Infinite values, spikes beyond the robust range, values outside the
    plausible range and stray negatives, each row reported once."""
    found = []
    taken = np.zeros(values.shape[0], dtype=bool)

    def report(mask, kind, value, reason):
        rows = np.flatnonzero(mask & ~taken)
        if rows.size:
            taken[rows] = True
            found.append(
                Suspect(
                    name, kind, value, int(rows.size), [int(r) for r in rows[:max_examples]], reason
                )
            )

    report(np.isinf(values), "infinite", None, "no reading takes it; set it missing")
    finite = np.isfinite(values)
    x = values[finite]
    if x.size >= 10:
        # The range comes from the values other than known codes, so that a
        # code holding a quarter of the rows still falls outside it.
        coded = np.isin(x, SENTINELS)
        base = x[~coded] if np.count_nonzero(~coded) >= 10 else x
        q1, q3 = np.percentile(base, [25, 75])
        iqr = q3 - q1
        if iqr > 0:
            low, high = q1 - far * iqr, q3 + far * iqr
            span = f"[{low:.4g}, {high:.4g}] (quartiles \u00b1 {far:g} IQR)"
            for side, outside in (("below", x < low), ("above", x > high)):
                spikes, counts = np.unique(x[outside], return_counts=True)
                for value, count in zip(spikes, counts, strict=True):
                    known = value in SENTINELS
                    # a spike is one value that holds at least half the rows out there
                    if known or (count >= min_spike and 2 * count >= outside.sum()):
                        what = (
                            "a common code for a missing or failed reading"
                            if known
                            else (
                                "one value repeated far from the rest, as a code for a missing "
                                "or failed reading is"
                            )
                        )
                        report(
                            values == value,
                            "sentinel",
                            float(value),
                            f"far {side} the robust range {span}: {what}; set it missing "
                            "rather than learn it as an anomaly",
                        )
    if plausible is not None:
        low, high = plausible
        outside = finite & (
            (values < (-np.inf if low is None else low))
            | (values > (np.inf if high is None else high))
        )
        report(
            outside,
            "out_of_range",
            None,
            f"outside the plausible range [{low}, {high}] given; fix or set it missing",
        )
    if x.size >= 20:
        negative = finite & (values < 0)
        n_negative = int(np.count_nonzero(negative & ~taken))
        if 0 < n_negative <= 0.005 * x.size:
            report(
                negative,
                "negative",
                None,
                "in a column otherwise never below 0 (an amount, a count, a duration?): "
                "check the sign or the unit",
            )
    return found


def find_duplicates(frame, max_examples):
    """Rows equal in every column to an earlier row (missing values equal)."""
    try:
        groups = frame.groupby(list(frame.columns), dropna=False, sort=False).ngroup()
    except TypeError:  # unhashable values: compare their text
        groups = frame.astype(str).groupby(list(frame.columns), sort=False).ngroup()
    groups = groups.to_numpy()
    first = pd.Series(np.arange(len(groups))).groupby(groups).transform("min").to_numpy()
    repeats = np.flatnonzero(first != np.arange(len(groups)))
    return Duplicates(
        count=int(repeats.size),
        rows=[int(r) for r in repeats[:max_examples]],
        originals=[int(first[r]) for r in repeats[:max_examples]],
    )
