"""The door for rows sent as JSON: each row must hold every column the
model was fitted on, numbers where the model expects numbers and finite
ones. Errors name the row (its position in ``rows``, from 0) and the column.

Columns the model does not use are allowed and kept in the log with the
row, so an audit can group by them (an account, a device).
"""

import math

import numpy as np

from .errors import Invalid

__all__ = ["MAX_ROWS", "columns_of"]

#: Rows one request may carry; larger loads belong to ``farout score``.
MAX_ROWS = 10_000
_MISSING = object()
_NUMBERS = {int, float}


def _unencodable(text):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


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
    for feature in schema:
        name = feature["name"]
        column = [row.get(name, _MISSING) for row in rows]
        if feature["kind"] == "numeric":
            if not set(map(type, column)) <= _NUMBERS:
                _bad_number(rows, name, column)
            values = np.array(column, dtype=np.float64)
            if not np.isfinite(values).all():
                _bad_number(rows, name, column)
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
                # PostgreSQL stores no NUL, and no text holds a lone surrogate
                if "\x00" in value or not value.isascii() and _unencodable(value):
                    raise Invalid(
                        f"rows[{i}] column {name!r} holds a NUL or an invalid character.",
                        row=i,
                        column=name,
                    )
            values = np.array(text, dtype=object)
        data[name] = values
    return data
