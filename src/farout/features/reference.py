"""The training distribution of each input column, saved in the model file
so that monitoring compares live inputs with it from the first request.

For a seeded uniform sample of at most :data:`REFERENCE_ROWS` training
rows, a numeric column keeps its values (sorted, missing ones counted
apart) and a categorical column the count of each training category (rows
holding none of them, such as missing values, counted apart). A sample of
this size pins quantiles and shares well within the noise of the live
windows they are compared with, and keeps the file small (32 KiB a numeric
column).
"""

import numpy as np
import pandas as pd

from ..exceptions import ModelFileError

__all__ = ["REFERENCE_ROWS", "FeatureReference"]

#: Training rows the reference keeps (a seeded uniform sample above this).
REFERENCE_ROWS = 4096


class FeatureReference:
    """Each input column's training distribution.

    Parameters
    ----------
    columns : list of dict
        Per input column, in the model's order: ``name``, ``kind``
        (``"numeric"`` or ``"categorical"``), ``rows`` (sampled rows) and
        ``missing`` (of them, how many held no usable value); a numeric
        column's sorted ``values``, a categorical column's ``categories``
        and their ``counts``.

    Examples
    --------
    >>> import pandas as pd
    >>> from farout.features.encoder import FeatureEncoder
    >>> X = pd.DataFrame({"amount": [3.0, 1.0, 2.0], "kind": ["a", "b", "a"]})
    >>> ref = FeatureReference.from_rows(FeatureEncoder().fit(X), X)
    >>> ref.column("amount")["values"].tolist(), ref.column("kind")["counts"].tolist()
    ([1.0, 2.0, 3.0], [2, 1])
    """

    def __init__(self, columns):
        self.columns = columns

    @classmethod
    def from_rows(cls, encoder, X, size=REFERENCE_ROWS, seed=0):
        """The reference of validated training rows ``X`` (a DataFrame or a
        2-D array), whose columns ``encoder`` (fitted) describes."""
        n = X.shape[0]
        rows = None
        if n > size:
            rows = np.sort(np.random.default_rng(seed).choice(n, size, replace=False))
        columns = []
        for j, column in enumerate(encoder.columns_):
            raw = _column(X, j, rows)
            entry = {"name": column["name"], "kind": column["kind"], "rows": int(len(raw))}
            if column["kind"] == "numeric":
                values = _numbers(raw)
                present = values[np.isfinite(values)]
                entry["missing"] = int(len(values) - len(present))
                entry["values"] = np.sort(present)
            else:
                categories = list(column["categories"])
                text = pd.Series(raw, dtype=object)
                text = text[text.notna()].astype(str)
                counts = text.value_counts().reindex(categories, fill_value=0)
                entry["categories"] = categories
                entry["counts"] = counts.to_numpy(dtype=np.int64)
                entry["missing"] = int(len(raw) - int(entry["counts"].sum()))
            columns.append(entry)
        return cls(columns)

    def column(self, name):
        """The entry of column ``name`` (KeyError if the model has none)."""
        for entry in self.columns:
            if entry["name"] == name:
                return entry
        raise KeyError(name)

    def get_state(self):
        meta = [
            {k: v for k, v in entry.items() if k not in ("values", "counts")}
            for entry in self.columns
        ]
        arrays = {}
        for j, entry in enumerate(self.columns):
            key = "values" if entry["kind"] == "numeric" else "counts"
            arrays[f"{key}{j}"] = entry[key]
        return {"meta": {"columns": meta}, "arrays": arrays}

    @classmethod
    def from_state(cls, state, schema):
        """The reference a :meth:`get_state` tree describes, checked against
        the model's input ``schema`` (its encoder's ``columns_``)."""
        meta, arrays = state["meta"]["columns"], state["arrays"]
        names = [c["name"] for c in schema]
        if [c["name"] for c in meta] != names:
            raise ModelFileError("the model file's feature reference does not match its columns.")
        columns = []
        for j, (entry, column) in enumerate(zip(meta, schema, strict=True)):
            entry = dict(entry)
            if entry["kind"] != column["kind"]:
                raise ModelFileError(
                    f"the model file's feature reference gives column {entry['name']!r} "
                    "another kind than its schema."
                )
            if entry["kind"] == "numeric":
                values = np.asarray(arrays[f"values{j}"], dtype=np.float64)
                if values.ndim != 1 or np.any(np.diff(values) < 0):
                    raise ModelFileError("the model file's feature reference is not sorted.")
                entry["values"] = values
            else:
                counts = np.asarray(arrays[f"counts{j}"], dtype=np.int64)
                if counts.shape != (len(entry["categories"]),) or np.any(counts < 0):
                    raise ModelFileError(
                        "the model file's feature reference does not match its categories."
                    )
                entry["counts"] = counts
            columns.append(entry)
        return cls(columns)


def _column(X, j, rows):
    if isinstance(X, pd.DataFrame):
        series = X.iloc[:, j]
        return (series if rows is None else series.iloc[rows]).to_numpy(dtype=object)
    column = np.asarray(X)[:, j]
    return column if rows is None else column[rows]


def _numbers(raw):
    """Values as floats; anything that is not a finite number becomes NaN."""
    with np.errstate(all="ignore"):
        values = pd.to_numeric(pd.Series(raw), errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
    return np.where(np.isfinite(values), values, np.nan)
