"""The data audit: what is wrong with a table before anything is fitted.

:func:`audit` looks at every column (type, missing share, distinct values,
constant or near-constant, min / median / max), at exact duplicate rows, at
suspect values (codes such as -999 or 9999 that a failed reading leaves,
shown as a spike at one value beyond the column's robust range, and values
no reading can take), and, when named, at a time column (unparseable,
duplicate and out-of-order timestamps, gaps, the span covered) and a label
column (the anomaly share, and whether it is enough to evaluate on).
Suspect values are data errors to clean, not anomalies to learn.

Row numbers are 0-based positions in the table: row 0 is the first data
row, line 2 of a CSV file with its header. For a file read by farout they
are the numbers its error messages use.

>>> import pandas as pd
>>> frame = pd.DataFrame({"temp": [20.5, 21.0, -999.0, 20.8, 21.3, 20.9] * 3})
>>> found = audit(frame)
>>> [(s.column, s.value, s.count, s.rows[:3]) for s in found.suspects]
[('temp', -999.0, 3, [2, 8, 14])]
>>> found.duplicates.count
12
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from .exceptions import InputError, shown
from .features.labels import as_anomaly_labels
from .features.schema import require_column

__all__ = ["SENTINELS", "DataAudit", "Duplicates", "LabelCheck", "Suspect", "TimeCheck", "audit"]

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


@dataclass
class LabelCheck:
    """The label column: anomalies among the labelled rows, and whether
    they are ``enough`` to evaluate on (``reason`` says why, or why not)."""

    column: str
    n_labelled: int
    missing: int
    n_anomalies: int
    anomaly_share: float
    enough: bool
    reason: str


@dataclass
class DataAudit:
    """What :func:`audit` found.

    Attributes
    ----------
    n_rows : int
    columns : pandas.DataFrame
        One row per column: ``type`` (its dtype), ``kind`` (numeric,
        boolean, datetime or text), ``missing`` and ``missing_share``,
        ``distinct``, ``top`` (the most common value) and ``top_share`` (its
        share of the non-missing values), ``constant``, ``near_constant``,
        ``min``, ``median``, ``max`` (numeric and datetime columns).
    duplicates : Duplicates
    suspects : list of Suspect
    time : TimeCheck or None
    label : LabelCheck or None
    """

    n_rows: int
    columns: pd.DataFrame
    duplicates: Duplicates
    suspects: list = field(default_factory=list)
    time: TimeCheck = None
    label: LabelCheck = None

    @property
    def problems(self):
        """One line per problem found, in the order of the report."""
        return _problems(self)

    def to_dict(self):
        """JSON-ready: shares as fractions in [0, 1], counts and row numbers
        as integers, times as ISO text, missing numbers as None."""
        columns = [
            {"name": str(name), **{k: _plain(v) for k, v in row.items()}}
            for name, row in self.columns.to_dict("index").items()
        ]
        time = None
        if self.time is not None:
            time = {k: _plain(v) for k, v in vars(self.time).items() if k != "gaps"}
            time["gaps"] = [{k: _plain(v) for k, v in gap.items()} for gap in self.time.gaps]
        return {
            "rows": self.n_rows,
            "row_numbers": "0-based data rows (row 0 is line 2 of a CSV file with a header)",
            "columns": columns,
            "duplicates": {k: _plain(v) for k, v in vars(self.duplicates).items()},
            "suspects": [{k: _plain(v) for k, v in vars(s).items()} for s in self.suspects],
            "time": time,
            "label": None
            if self.label is None
            else {k: _plain(v) for k, v in vars(self.label).items()},
            "problems": self.problems,
        }

    def to_text(self):
        """The report as text: the column table, then the problems."""
        return _text(self)

    def __str__(self):
        return self.to_text()


def audit(
    frame,
    time_column=None,
    label=None,
    *,
    ranges=None,
    max_examples=5,
    near_constant=0.99,
    far=3.0,
    min_spike=3,
    gap_factor=5.0,
    min_anomalies=50,
):
    """Audit a table before fitting.

    Parameters
    ----------
    frame : pandas.DataFrame
    time_column : str, optional
        Checked for unparseable, missing, duplicate and out-of-order
        timestamps, gaps and the span covered (text is parsed as dates;
        numbers are taken as they are).
    label : str, optional
        Anomaly labels (0/1, booleans or +1/-1 with -1 = anomaly).
    ranges : dict of column -> (low, high), optional
        Plausible ranges (either end None for open); values outside are
        reported as suspects.
    max_examples : int, default=5
        Row numbers given per finding.
    near_constant : float, default=0.99
        A column whose most common value holds at least this share of its
        values is near-constant.
    far : float, default=3.0
        The robust range is the quartiles widened by ``far`` times the
        interquartile range (Tukey's "far out" fences).
    min_spike : int, default=3
        Rows one value beyond the robust range needs to be a spike; a known
        code (:data:`SENTINELS`) needs one.
    gap_factor : float, default=5.0
        A gap is an interval longer than this many usual (median) intervals.
    min_anomalies : int, default=50
        Labelled anomalies needed to evaluate on.

    Returns
    -------
    DataAudit
    """
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"audit takes a pandas DataFrame, got {type(frame).__name__}.")
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise InputError(f"the table is empty ({frame.shape[0]} rows, {frame.shape[1]} columns).")
    if max_examples < 1:
        raise InputError(f"max_examples must be at least 1, got {max_examples!r}.")
    ranges = dict(ranges or {})
    for name in ranges:
        require_column(frame, name, "--range")
    for name, role in ((time_column, "time"), (label, "label")):
        if name is not None:
            require_column(frame, name, role)
    rows, suspects = [], []
    for name in frame.columns:
        series = frame[name]
        row, numbers, found = _column(str(name), series, near_constant, max_examples)
        if name == label:
            row["near_constant"] = False  # a label is meant to be mostly one class
        rows.append(row)
        suspects += found
        if numbers is not None and name not in (time_column, label):
            suspects += _numeric_suspects(
                str(name), numbers, ranges.get(name), far, min_spike, max_examples
            )
    time = None
    if time_column is not None:
        series = frame[time_column]
        times, numbers, unparseable = _time_values(str(time_column), series)
        time = _time_check(
            str(time_column), series, times, numbers, unparseable, gap_factor, max_examples
        )
        row = rows[list(frame.columns).index(time_column)]
        if row["kind"] == "text" and ptypes.is_datetime64_any_dtype(times.dtype):
            # text read as times: the table describes the times
            row.update(kind="datetime", min=time.start, median=times.median(), max=time.end)
    columns = pd.DataFrame(rows, index=pd.Index([str(c) for c in frame.columns], name="column"))
    return DataAudit(
        n_rows=int(frame.shape[0]),
        columns=columns,
        duplicates=_duplicates(frame, max_examples),
        suspects=suspects,
        time=time,
        label=None if label is None else _label_check(label, frame[label], min_anomalies),
    )


# ------------------------------------------------------------- columns
def _column(name, series, near_constant, max_examples):
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


def _numeric_suspects(name, values, plausible, far, min_spike, max_examples):
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


def _duplicates(frame, max_examples):
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


# ---------------------------------------------------------------- time
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


def _time_check(name, series, times, t, unparseable, gap_factor, max_examples):
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
    return TimeCheck(
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


def _as_time(value, is_time):
    return pd.Timestamp(int(value)) if is_time else float(value)


def _as_length(value, is_time):
    return pd.Timedelta(int(round(value))) if is_time else float(value)


# --------------------------------------------------------------- label
def _label_check(name, series, min_anomalies, test_share=0.2):
    missing = series.isna().to_numpy()
    try:
        truth = as_anomaly_labels(series[~missing])
    except InputError as exc:
        raise InputError(f"label column {name!r}: {exc}") from None
    n, n_anomalies = int(truth.size), int(truth.sum())
    share = n_anomalies / n if n else 0.0
    in_test = n_anomalies * test_share
    if n_anomalies == 0:
        enough, reason = False, "no anomalies are labelled: nothing to measure detection on"
    elif n_anomalies == n:
        enough, reason = False, "every labelled row is an anomaly: there are no normal rows"
    elif n_anomalies < min_anomalies:
        enough = False
        reason = (
            f"{n_anomalies:,} anomalies, fewer than {min_anomalies}: a test split of "
            f"{test_share:.0%} would hold about {in_test:.0f}, and each one found or missed "
            f"would move its recall by {100 / max(in_test, 1):.0f} points; label more"
        )
    else:
        enough = True
        reason = (
            f"{n_anomalies:,} anomalies: a test split of {test_share:.0%} would hold about "
            f"{in_test:.0f}, each one moving its recall by {100 / in_test:.1f} points"
        )
    return LabelCheck(name, n, int(missing.sum()), n_anomalies, float(share), enough, reason)


# -------------------------------------------------------------- output
def _plain(value):
    """A JSON-ready value: NumPy scalars as Python numbers, NaN as None,
    times as ISO text, lengths of time in seconds."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, pd.Timedelta):
        return value.total_seconds()
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, (str, np.str_)):
        return str(value)
    return str(value)


def _count(n, noun):
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _rows(rows, total):
    text = ", ".join(map(str, rows))
    return f"row {text}" if total == 1 else f"rows {text}" + (", ..." if total > len(rows) else "")


def _problems(result):
    lines = []
    table = result.columns
    for name, row in table.iterrows():
        if row["missing"] == result.n_rows:
            lines.append(f"column {name!r} is missing in every row")
        elif row["constant"]:
            where = "every value present is" if row["missing"] else "every row holds"
            lines.append(f"column {name!r} is constant: {where} {shown(row['top'])}")
        elif row["near_constant"]:
            lines.append(
                f"column {name!r} is near-constant: {row['top_share']:.2%} of its values are "
                f"{shown(row['top'])}"
            )
        if 0 < row["missing"] < result.n_rows and row["missing_share"] >= 0.05:
            lines.append(
                f"column {name!r} is missing in {row['missing_share']:.1%} of the rows "
                f"({row['missing']:,})"
            )
    dup = result.duplicates
    if dup.count:
        pairs = ", ".join(f"{r} (= row {o})" for r, o in zip(dup.rows, dup.originals, strict=True))
        more = ", ..." if dup.count > len(dup.rows) else ""
        lines.append(
            f"{_count(dup.count, 'duplicate row')}, each repeating an earlier row: {pairs}{more}"
        )
    for s in result.suspects:
        lines.append(
            f"column {s.column!r}: {_WHAT[s.kind](s)} in {_count(s.count, 'row')} "
            f"({_rows(s.rows, s.count)}), {s.reason}"
        )
    time = result.time
    if time is not None:
        name = time.column
        for count, rows, what in (
            (time.unparseable, time.unparseable_rows, ("unparseable timestamp", "")),
            (time.missing, time.missing_rows, ("missing timestamp", "")),
            (
                time.duplicates,
                time.duplicate_rows,
                ("duplicate timestamp", ", repeating an earlier time"),
            ),
            (
                time.out_of_order,
                time.out_of_order_rows,
                ("out-of-order timestamp", ", earlier than a row above"),
            ),
        ):
            if count:
                lines.append(
                    f"time column {name!r}: {_count(count, what[0])}{what[1]}: {_rows(rows, count)}"
                )
        if time.n_gaps:
            shown_gaps = "; ".join(
                f"{_length_text(g['length'])} after row {g['after_row']} (to row {g['before_row']})"
                for g in time.gaps
            )
            lines.append(
                f"time column {name!r}: {_count(time.n_gaps, 'gap')} longer than "
                f"{time.gap_factor:g}x the usual interval of {_length_text(time.usual_interval)}, "
                f"the longest: {shown_gaps}"
            )
    label = result.label
    if label is not None and not label.enough:
        lines.append(f"label {label.column!r}: not enough to evaluate on: {label.reason}")
    if label is not None and label.missing:
        lines.append(f"label {label.column!r} is missing in {_count(label.missing, 'row')}")
    return lines


_WHAT = {
    "sentinel": lambda s: f"{s.value:.6g}",
    "text": lambda s: f"text {s.value!r}",
    "negative": lambda s: "a negative value",
    "infinite": lambda s: "an infinite value",
    "out_of_range": lambda s: "a value out of range",
}


def _length_text(length):
    if isinstance(length, pd.Timedelta):
        seconds = length.total_seconds()
        for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
            if seconds >= size:
                return f"{seconds / size:.3g} {unit}"
        return f"{seconds:.3g} s"
    return f"{length:.4g}"


def _value_text(value):
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, pd.Timestamp):
        return value.isoformat(sep=" ")
    text = str(value)
    return text if len(text) <= 16 else text[:15] + "\u2026"


def _text(result):
    table = result.columns
    shown_table = pd.DataFrame(
        {
            "type": table["type"],
            "kind": table["kind"],
            "missing": table["missing_share"].map(lambda v: f"{v:.1%}"),
            "distinct": table["distinct"].map(lambda v: f"{v:,}"),
            "top share": table["top_share"].map(lambda v: "" if np.isnan(v) else f"{v:.1%}"),
            "min": table["min"].map(_value_text),
            "median": table["median"].map(_value_text),
            "max": table["max"].map(_value_text),
        }
    )
    lines = [
        f"{result.n_rows:,} rows x {len(table)} columns (row numbers are 0-based data rows: "
        "row 0 is line 2 of a CSV file)",
        "",
        shown_table.to_string(),
        "",
    ]
    time = result.time
    if time is not None and time.start is not None:
        span = time.end - time.start
        lines.append(
            f"time {time.column!r}: {_value_text(time.start)} to {_value_text(time.end)} "
            f"({_length_text(span)}), usual interval "
            f"{_length_text(time.usual_interval) if time.usual_interval is not None else 'none'}"
        )
    if result.label is not None:
        label = result.label
        lines.append(
            f"label {label.column!r}: {label.n_anomalies:,} anomalies of {label.n_labelled:,} "
            f"labelled rows ({label.anomaly_share:.2%}); "
            + ("enough to evaluate on: " if label.enough else "not enough to evaluate on: ")
            + label.reason
        )
    problems = result.problems
    if time is not None or result.label is not None:
        lines.append("")
    if problems:
        lines.append(f"problems ({len(problems)}):")
        lines += [f"- {p}" for p in problems]
    else:
        lines.append("no problems found")
    return "\n".join(lines)
