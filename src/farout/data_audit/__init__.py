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

import pandas as pd
from pandas.api import types as ptypes

from ..exceptions import InputError
from ..features.schema import require_column
from .columns import (
    SENTINELS,
    Duplicates,
    Suspect,
    describe_column,
    find_duplicates,
    numeric_suspects,
)
from .labels import LabelCheck, check_labels
from .text import plain, problems, render
from .times import TimeCheck, check_times

__all__ = ["SENTINELS", "DataAudit", "Duplicates", "LabelCheck", "Suspect", "TimeCheck", "audit"]


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
        return problems(self)

    def to_dict(self):
        """JSON-ready: shares as fractions in [0, 1], counts and row numbers
        as integers, times as ISO text, missing numbers as None."""
        columns = [
            {"name": str(name), **{k: plain(v) for k, v in row.items()}}
            for name, row in self.columns.to_dict("index").items()
        ]
        time = None
        if self.time is not None:
            time = {k: plain(v) for k, v in vars(self.time).items() if k != "gaps"}
            time["gaps"] = [{k: plain(v) for k, v in gap.items()} for gap in self.time.gaps]
        return {
            "rows": self.n_rows,
            "row_numbers": "0-based data rows (row 0 is line 2 of a CSV file with a header)",
            "columns": columns,
            "duplicates": {k: plain(v) for k, v in vars(self.duplicates).items()},
            "suspects": [{k: plain(v) for k, v in vars(s).items()} for s in self.suspects],
            "time": time,
            "label": None
            if self.label is None
            else {k: plain(v) for k, v in vars(self.label).items()},
            "problems": self.problems,
        }

    def to_text(self):
        """The report as text: the column table, then the problems."""
        return render(self)

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
        row, numbers, found = describe_column(str(name), series, near_constant, max_examples)
        if name == label:
            row["near_constant"] = False  # a label is meant to be mostly one class
        rows.append(row)
        suspects += found
        if numbers is not None and name not in (time_column, label):
            suspects += numeric_suspects(
                str(name), numbers, ranges.get(name), far, min_spike, max_examples
            )
    time = None
    if time_column is not None:
        time, times = check_times(str(time_column), frame[time_column], gap_factor, max_examples)
        row = rows[list(frame.columns).index(time_column)]
        if row["kind"] == "text" and ptypes.is_datetime64_any_dtype(times.dtype):
            # text read as times: the table describes the times
            row.update(kind="datetime", min=time.start, median=times.median(), max=time.end)
    columns = pd.DataFrame(rows, index=pd.Index([str(c) for c in frame.columns], name="column"))
    return DataAudit(
        n_rows=int(frame.shape[0]),
        columns=columns,
        duplicates=find_duplicates(frame, max_examples),
        suspects=suspects,
        time=time,
        label=None if label is None else check_labels(label, frame[label], min_anomalies),
    )
