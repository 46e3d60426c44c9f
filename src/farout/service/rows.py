"""The door for rows sent as JSON: each row must hold every column the
model was fitted on, numbers where the model expects numbers and finite
ones. Errors name the row (its position in ``rows``, from 0) and the column.

Columns the model does not use are allowed and kept in the log with the
row, so an audit can group by them (an account, a device).
"""

import math
import operator

import numpy as np

from .errors import Invalid

__all__ = ["MAX_ROWS", "columns_of"]

#: Rows one request may carry; larger loads belong to ``farout score``.
MAX_ROWS = 10_000
_MISSING = object()
_NUMBERS = {int, float}
_TEXT = {str}


def _unencodable(text):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _clean(text):
    # PostgreSQL stores no NUL, and no text holds a lone surrogate
    return "\x00" not in text and (text.isascii() or not _unencodable(text))


def _bad_number(rows, name, column):
    for i, value in enumerate(column):
        if value is _MISSING:
            raise Invalid(
                f"rows[{i}] has no column {name!r}, which the model needs.", row=i, column=name
            )
        if type(value) not in _NUMBERS:
            raise Invalid(
                f"rows[{i}] column {name!r} must be a number, got {value!r}.", row=i, column=name
            )
        if not math.isfinite(value):
            raise Invalid(
                f"rows[{i}] column {name!r} must be finite, got {value!r}.", row=i, column=name
            )
    raise AssertionError("no bad value found")  # pragma: no cover


def _transposed(rows, names):
    """The rows' values as one tuple per column, in C loops (a column a
    row is missing sends the caller the slow way, which names the row)."""
    if not names:
        return None
    try:
        values = list(map(operator.itemgetter(*names), rows))
    except (KeyError, TypeError):
        return None
    return [values] if len(names) == 1 else list(zip(*values, strict=True))


def columns_of(rows, schema):
    """The rows checked, as ``{column: array}`` in the model's order
    (requests scored together join theirs).

    Parameters
    ----------
    rows : list of dict
    schema : list of dict
        ``feature_schema()`` of the model.
    """
    if not rows:
        raise Invalid("rows is empty; send at least one row.", field="rows")
    if len(rows) > MAX_ROWS:
        raise Invalid(
            f"rows holds {len(rows):,} rows, more than the {MAX_ROWS:,} one request may carry; "
            "split it, or score the file with `farout score`.",
            field="rows",
        )
    data = {}
    table = _transposed(rows, [feature["name"] for feature in schema])
    for j, feature in enumerate(schema):
        name = feature["name"]
        column = table[j] if table is not None else [row.get(name, _MISSING) for row in rows]
        if feature["kind"] == "numeric":
            if not set(map(type, column)) <= _NUMBERS:
                _bad_number(rows, name, column)
            values = np.array(column, dtype=np.float64)
            if not np.isfinite(values).all():
                _bad_number(rows, name, column)
        elif set(map(type, column)) <= _TEXT and _clean("".join(column)):
            values = np.array(column, dtype=object)  # all text, checked in C loops
        else:
            for i, value in enumerate(column):
                if value is _MISSING or value is None:
                    raise Invalid(
                        f"rows[{i}] has no value for column {name!r}, which the model needs.",
                        row=i,
                        column=name,
                    )
                if not isinstance(value, (str, int)) or isinstance(value, bool):
                    raise Invalid(
                        f"rows[{i}] column {name!r} must be a string (a category), got {value!r}.",
                        row=i,
                        column=name,
                    )
            text = [str(v) for v in column]
            for i, value in enumerate(text):
                if not _clean(value):
                    raise Invalid(
                        f"rows[{i}] column {name!r} holds a NUL or an invalid character.",
                        row=i,
                        column=name,
                    )
            values = np.array(text, dtype=object)
        data[name] = values
    return data
