"""The columns a model needs, found by name in a table, and the dtypes to
read them with."""

from ..exceptions import InputError
from ..findings import RESULT_COLUMNS

__all__ = ["model_columns", "read_dtypes", "require_column"]


def require_column(frame, name, role):
    """``frame[name]``, or an error naming the ``role`` ("label", "time")
    and the columns the data has."""
    if name not in frame.columns:
        raise InputError(
            f"no {role} column {name!r}; the data has: "
            + ", ".join(map(repr, map(str, frame.columns)))
        )
    return frame[name]


def model_columns(detector, frame):
    """The model's feature columns of ``frame``, by name; other columns are
    ignored. Missing columns are an error that names them."""
    names = getattr(detector, "feature_names_in_", None)
    if names is None:
        raise InputError(
            "the model was fitted on an array without column names; score it from "
            "Python with the same column order, or refit it on a named table."
        )
    names = [str(n) for n in names]
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise InputError(
            f"the data lacks the model's column(s) {', '.join(map(repr, missing))}; "
            f"the model needs: {', '.join(map(repr, names))}."
        )
    clash = [n for n in RESULT_COLUMNS if n in frame.columns]
    if clash:
        raise InputError(
            f"the data already has column(s) {', '.join(map(repr, clash))}, which scoring "
            "adds; rename or drop them first."
        )
    return frame[names]


def read_dtypes(detector):
    """Dtypes to force when reading data for ``detector``: categorical columns
    are read as text, even when their values look like numbers."""
    return {c["name"]: str for c in detector.feature_schema() if c["kind"] == "categorical"}
