"""The audit as people read it (its problems, one line each, and a
table) and as machines do (plain JSON values)."""

import numpy as np
import pandas as pd

from ..exceptions import shown

__all__ = ["plain", "problems", "render"]


def plain(value):
    """A JSON-ready value: NumPy scalars as Python numbers, NaN as None,
    times as ISO text, lengths of time in seconds."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
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


def problems(result):
    """One line per problem a :class:`~farout.data_audit.DataAudit` found."""
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


def render(result):
    """The audit as text: the column table, the time span and label, then
    the problems."""
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
