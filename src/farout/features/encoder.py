"""Columns in: numeric and categorical columns, missing values, scaling.

:class:`FeatureEncoder` turns a table (a pandas DataFrame or a 2-D array)
into the float64 matrix that k-means works on. Numeric columns are scaled;
categorical columns (category or string dtype) are one-hot encoded, left at
0/1 so that a changed category costs the same in every column. Everything it
learns is a plain array or a JSON-ready list, so a model file can hold it.
"""

import functools
import warnings

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler
from sklearn.utils.validation import check_is_fitted

from .. import names
from .._kernels.stats import column_moments
from ..exceptions import InputError, shown
from ..validation import check_rows, feature_labels
from .kinds import column_kind

__all__ = ["MAX_SCALED", "SCALINGS", "FeatureEncoder", "is_plain_numeric"]

SCALINGS = (*names.SCALINGS, None)

# Past this, squared distances overflow float64: refuse the value up front.
MAX_SCALED = 1e150
# Rows per chunk on the all-numeric fast path: float64 chunks stay small.
_CHUNK_ROWS = 65_536

_SCALERS = {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}


def _row_label(index, position):
    return shown(index[position]) if index is not None else str(position)


def _row_value(index, position):
    """The row's index label as a plain Python value, for an error's field."""
    if index is None:
        return position
    label = index[position]
    return label.item() if hasattr(label, "item") else label


class FeatureEncoder(TransformerMixin, BaseEstimator):
    """Learns column kinds, imputation values, categories and scaling: a
    scikit-learn transformer from a table to the float64 matrix the
    clusters see.

    Parameters
    ----------
    scaling : {"standard", "minmax", "robust"} or None
        How numeric columns are scaled; fitted on training data only.
    missing : {"error", "impute"}
        ``"error"`` rejects NaN; ``"impute"`` fills numeric NaN with the
        training median and categorical NaN with the most frequent category.
    max_categories : int
        A categorical column with more distinct values than this is refused:
        it is most likely an identifier, which one-hot encoding would blow up.

    Attributes
    ----------
    columns_ : list of dict
        Each input column's ``name``, ``kind`` ("numeric" or
        "categorical"), ``dtype`` and, if categorical, ``categories`` and
        ``fill`` (the imputed category).
    center_, scale_ : ndarray
        Scaling of the numeric columns: ``(x - center_) / scale_``.
    impute_values_ : ndarray
        Training medians of the numeric columns (NaN unless imputing).
    encoded_names_ : list of str
        Names of the encoded columns, e.g. ``amount`` or ``kind=a``.
    groups_ : ndarray of intp
        The input column of each encoded column.
    n_features_in_ : int

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"amount": [1.0, 3.0], "kind": ["a", "b"]})
    >>> FeatureEncoder().fit(frame).transform(frame).tolist()
    [[-1.0, 1.0, 0.0], [1.0, 0.0, 1.0]]
    """

    def __init__(self, scaling="standard", missing="error", max_categories=100):
        self.scaling = scaling
        self.missing = missing
        self.max_categories = max_categories

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.missing == "impute"
        return tags

    # ----------------------------------------------------------------- fit
    def fit(self, X, y=None, feature_names=None):
        """Learn the encoding from ``X`` (DataFrame or 2-D float array).
        ``feature_names`` name the columns in messages (default: the
        DataFrame's columns, else x0, x1, ...). Returns self."""
        if feature_names is None and isinstance(y, list) and all(isinstance(v, str) for v in y):
            warnings.warn(
                "FeatureEncoder.fit(X, feature_names) is deprecated; pass "
                "fit(X, feature_names=...).",
                FutureWarning,
                stacklevel=2,
            )
            feature_names = y
        X = check_rows(self, X, reset=True)
        if feature_names is None:
            feature_names = feature_labels(X)
        if self._fit_plain_numeric(X, feature_names):
            return self
        self.columns_ = []
        frame = X if isinstance(X, pd.DataFrame) else None
        numeric_values = []
        for j, name in enumerate(feature_names):
            if frame is None:
                kind = "numeric"
            else:
                kind = column_kind(name, frame.iloc[:, j])
            column = {"name": name, "kind": kind, "dtype": "float64"}
            if frame is not None:
                column["dtype"] = str(frame.iloc[:, j].dtype)
            if kind == "numeric":
                values = self._numeric_column(X, j, name, index=_index(X))
                if self.missing == "error" and np.isnan(values).any():
                    self._missing_error(name, np.isnan(values), _index(X))
                numeric_values.append(values)
            else:
                self._fit_categories(column, frame.iloc[:, j])
            self.columns_.append(column)
        numeric = np.column_stack(numeric_values) if numeric_values else np.empty((len(X), 0))
        self._fit_numeric(numeric)
        self._build_layout()
        return self

    def _fit_plain_numeric(self, X, feature_names):
        """Fast path for an all-numeric table: scaling statistics from one
        compiled pass, no per-column copies. Returns False (and
        learns nothing) when the general path is needed: robust scaling,
        or any NaN or inf, whose handling and messages live there."""
        if not is_plain_numeric(X) or self.scaling == "robust":
            return False
        if isinstance(X, pd.DataFrame):
            # one float64 block (a DataFrame's columns are separate arrays)
            moments = column_moments(X.to_numpy(dtype=np.float64), limit=MAX_SCALED)
        else:
            moments = column_moments(X, limit=MAX_SCALED)
        if moments is None:
            return False  # NaN, inf or a value too large: the general path names it
        self._set_moments(X, moments, feature_names)
        if self.missing == "impute":
            # no value is missing here; medians are kept for later batches
            self.impute_values_ = np.median(_as_float_matrix(X), axis=0)
        return True

    def fit_moments(self, X, moments, feature_names=None):
        """Learn the encoding of an all-numeric table from its column
        ``moments`` (count, mean, M2, min, max: :func:`farout._kernels.stats.column_moments`
        of every row, merged block by block), reading the columns' names and
        dtypes from ``X``, a few of its rows. What :meth:`fit` learns from the
        whole table, for a table held elsewhere (:mod:`farout.distributed`).
        Returns self."""
        X = check_rows(self, X, reset=True)
        self.check_moments_fit(X.dtypes if isinstance(X, pd.DataFrame) else None)
        self._set_moments(X, moments, feature_names or feature_labels(X))
        return self

    def check_moments_fit(self, dtypes=None):
        """An error saying why :meth:`fit_moments` cannot learn this encoding
        (robust scaling or imputation need medians; text columns need their
        categories), checked before any moment is computed; ``dtypes``: the
        table's column dtypes (a pandas Series), None for a float array."""
        if self.scaling == "robust" or self.missing == "impute":
            name = "scaling='robust'" if self.scaling == "robust" else "missing='impute'"
            raise InputError(
                f"{name} needs exact medians over every row, which column moments do not "
                "give; use scaling='standard', 'minmax' or None with missing='error', or "
                "fit in memory."
            )
        if dtypes is None:
            return
        other = [
            f"{str(name)!r} ({dtype})"
            for name, dtype in dtypes.items()
            if not (isinstance(dtype, np.dtype) and dtype.kind in "fiub")
        ]
        if other:
            raise InputError(
                f"column(s) {', '.join(other)} are not plain numeric; only all-numeric tables are "
                "encoded from column moments: drop or convert them (CLI: --exclude), or fit "
                "in memory."
            )

    def _set_moments(self, X, moments, feature_names):
        count, mean, m2, low, high = moments
        p = len(feature_names)
        self.columns_ = [
            {
                "name": name,
                "kind": "numeric",
                "dtype": str(X.dtypes.iloc[j]) if isinstance(X, pd.DataFrame) else "float64",
            }
            for j, name in enumerate(feature_names)
        ]
        self.impute_values_ = np.full(p, np.nan)
        with np.errstate(over="ignore", invalid="ignore"):
            if self.scaling == "standard":
                var = m2 / count
                # scikit-learn's rule: a variance within rounding of zero is constant
                eps = np.finfo(np.float64).eps
                constant = var <= count * eps * var + (count * mean * eps) ** 2
                center, scale = mean, np.where(constant, 1.0, np.sqrt(var))
            elif self.scaling == "minmax":
                center, scale = low, high - low
            else:
                center, scale = np.zeros(p), np.ones(p)
        self._set_scaling(np.asarray(center, dtype=np.float64), scale)
        self._build_layout()

    def _fit_categories(self, column, series):
        name = column["name"]
        values = series.astype("object")
        present = values[values.notna()]
        if present.empty:
            raise InputError(f"column {name!r} is entirely missing; drop it.")
        counts = present.astype(str).value_counts()
        if len(counts) > self.max_categories:
            raise InputError(
                f"column {name!r} has {len(counts):,} distinct values, more than "
                f"max_categories={self.max_categories}: it looks like an identifier. "
                "Drop it (CLI: --exclude) or raise max_categories."
            )
        if self.missing == "error" and values.isna().any():
            self._missing_error(name, values.isna().to_numpy(), series.index)
        column["categories"] = sorted(counts.index.tolist())
        column["fill"] = str(counts.index[0])

    def _fit_numeric(self, numeric):
        n_numeric = numeric.shape[1]
        self.impute_values_ = np.full(n_numeric, np.nan)
        if n_numeric and self.missing == "impute":
            with np.errstate(all="ignore"):
                all_nan = np.isnan(numeric).all(axis=0)
            if all_nan.any():
                name = self._numeric_names()[int(np.flatnonzero(all_nan)[0])]
                raise InputError(f"column {name!r} is entirely missing (NaN); drop it.")
            self.impute_values_ = np.nanmedian(numeric, axis=0)
            numeric = np.where(np.isnan(numeric), self.impute_values_, numeric)
        if self.scaling is None or n_numeric == 0:
            self.center_ = np.zeros(n_numeric)
            self.scale_ = np.ones(n_numeric)
            return
        with np.errstate(all="ignore"):
            scaler = _SCALERS[self.scaling]().fit(numeric)
        if self.scaling == "standard":
            center, scale = scaler.mean_, scaler.scale_
        elif self.scaling == "minmax":
            center, scale = scaler.data_min_, scaler.data_range_
        else:
            center, scale = scaler.center_, scaler.scale_
        self._set_scaling(
            np.asarray(center, dtype=np.float64).copy(), np.asarray(scale, dtype=np.float64).copy()
        )

    def _set_scaling(self, center, scale):
        bad = ~(np.isfinite(center) & np.isfinite(scale))
        if bad.any():
            name = self._numeric_names()[int(np.flatnonzero(bad)[0])]
            raise InputError(
                f"column {name!r} holds values too large to scale (their spread "
                "overflows float64); divide it by a constant (e.g. work in "
                "thousands) and fit again."
            )
        # A constant column carries no information; keep it at scale 1.
        scale[scale <= np.finfo(np.float64).tiny] = 1.0
        self.center_, self.scale_ = center, scale

    def _build_layout(self):
        names, groups, numeric_pos = [], [], []
        for j, column in enumerate(self.columns_):
            if column["kind"] == "numeric":
                numeric_pos.append(len(names))
                names.append(column["name"])
                groups.append(j)
            else:
                for category in column["categories"]:
                    names.append(f"{column['name']}={category}")
                    groups.append(j)
        self.encoded_names_ = names
        self.groups_ = np.asarray(groups, dtype=np.intp)
        self.numeric_positions_ = np.asarray(numeric_pos, dtype=np.intp)

    def _numeric_names(self):
        return [c["name"] for c in self.columns_ if c["kind"] == "numeric"]

    # ----------------------------------------------------------- transform
    def transform(self, X):
        """The encoded rows of ``X``, an array (n_samples, len(encoded_names_))."""
        check_is_fitted(self)
        return self.encode(check_rows(self, X, reset=False))[0]

    def get_feature_names_out(self, input_features=None):
        """Names of the encoded columns."""
        return np.asarray(self.encoded_names_, dtype=object)

    def encode(self, X, offset=0):
        """Encode ``X``; returns ``(Z, unseen)``. ``offset`` is the position
        of ``X``'s first row in a larger array, for error messages.

        ``unseen`` maps each categorical column name to a boolean mask of the
        rows whose category was not seen in training (encoded as all zeros).
        """
        n = len(X)
        index = X.index if isinstance(X, pd.DataFrame) else pd.RangeIndex(offset, offset + n)
        if not isinstance(X, pd.DataFrame):
            text = [c["name"] for c in self.columns_ if c["kind"] == "categorical"]
            if text:
                raise InputError(
                    f"the model has categorical column(s) {', '.join(map(repr, text))}; "
                    "pass a DataFrame with the training columns, not an array."
                )
        if is_plain_numeric(X) and all(c["kind"] == "numeric" for c in self.columns_):
            Z = self._transform_plain_numeric(X)
            if Z is not None:
                return Z, {}
        elif isinstance(X, pd.DataFrame):
            done = self._transform_mixed(X)
            if done is not None:
                return done
        Z = np.zeros((n, len(self.encoded_names_)))
        unseen = {}
        numeric_j = 0
        offset = 0
        for j, column in enumerate(self.columns_):
            name = column["name"]
            if column["kind"] == "numeric":
                values = self._numeric_column(X, j, name, index=index)
                nan = np.isnan(values)
                if nan.any():
                    if self.missing == "impute":
                        values = np.where(nan, self.impute_values_[numeric_j], values)
                    else:
                        self._missing_error(name, nan, index)
                with np.errstate(over="ignore", invalid="ignore"):
                    scaled = (values - self.center_[numeric_j]) / self.scale_[numeric_j]
                    too_large = ~(np.abs(scaled) < MAX_SCALED)
                if too_large.any():
                    row = int(np.flatnonzero(too_large)[0])
                    raise InputError(
                        f"column {name!r} at row {_row_label(index, row)} holds "
                        f"{shown(values[row])}, too large to use after scaling; "
                        "rescale the column or fix the row.",
                        row=_row_value(index, row),
                        column=name,
                    )
                Z[:, offset] = scaled
                numeric_j += 1
                offset += 1
            else:
                series = X.iloc[:, j].astype("object")
                missing = series.isna().to_numpy()
                if missing.any():
                    if self.missing == "impute":
                        series = series.where(~missing, column["fill"])
                    else:
                        self._missing_error(name, missing, index)
                as_text = series.astype(str)
                codes = pd.Index(column["categories"]).get_indexer(as_text)
                known = codes >= 0
                Z[np.flatnonzero(known), offset + codes[known]] = 1.0
                unseen[name] = ~known
                offset += len(column["categories"])
        return Z, unseen

    def _transform_plain_numeric(self, X):
        """Scale an all-numeric table chunk by chunk, straight into the
        output; None when a value needs the general path (NaN, inf, or too
        large), which imputes it or names it in an error."""
        Z = np.empty((X.shape[0], len(self.encoded_names_)))
        start = 0
        for chunk in _float_chunks(X):
            out = Z[start : start + chunk.shape[0]]
            np.subtract(chunk, self.center_, out=out)
            np.divide(out, self.scale_, out=out)
            with np.errstate(invalid="ignore"):
                if not (np.abs(out) < MAX_SCALED).all():
                    return None
            start += chunk.shape[0]
        return Z

    def _transform_mixed(self, X):
        """Encode a DataFrame with categorical columns without a pandas call
        per numeric column (they are scaled in one block) and with each
        column's categories looked up in a cached index: the fixed cost a
        small table pays. None when a value needs the general path (NaN,
        inf, too large, a category that is not a string), which imputes it
        or names it in an error."""
        numeric = [j for j, c in enumerate(self.columns_) if c["kind"] == "numeric"]
        # each column read once, as a Series: positional .iloc lookups cost
        # more than the encoding itself on a small table
        series = [column for _, column in X.items()]
        dtypes = [column.dtype for column in series]
        if not all(isinstance(dtypes[j], np.dtype) and dtypes[j].kind in "fiub" for j in numeric):
            return None
        widths = [1 if c["kind"] == "numeric" else len(c["categories"]) for c in self.columns_]
        at = np.concatenate([[0], np.cumsum(widths)[:-1]])
        Z = np.zeros((len(X), len(self.encoded_names_)))
        if numeric:
            block = np.empty((len(X), len(numeric)))
            for k, j in enumerate(numeric):
                block[:, k] = series[j].to_numpy()
            with np.errstate(over="ignore", invalid="ignore"):
                scaled = (block - self.center_) / self.scale_
                if not (np.abs(scaled) < MAX_SCALED).all():
                    return None
            Z[:, at[numeric]] = scaled
        unseen = {}
        for j, column in enumerate(self.columns_):
            if column["kind"] == "numeric":
                continue
            values = series[j].to_numpy(dtype=object)
            if not all(type(v) is str for v in values):
                return None
            codes = _category_codes(tuple(column["categories"]), values)
            known = codes >= 0
            Z[np.flatnonzero(known), at[j] + codes[known]] = 1.0
            unseen[column["name"]] = ~known
        return Z, unseen

    def _numeric_column(self, X, j, name, index):
        if not isinstance(X, pd.DataFrame):
            values = np.asarray(X[:, j], dtype=np.float64)
        else:
            series = X.iloc[:, j]
            if ptypes.is_complex_dtype(series.dtype):
                raise InputError(f"Complex data not supported: column {name!r} is complex.")
            if ptypes.is_bool_dtype(series.dtype) or ptypes.is_numeric_dtype(series.dtype):
                values = series.to_numpy(dtype=np.float64, na_value=np.nan)
            else:
                converted = pd.to_numeric(series, errors="coerce")
                bad = (converted.isna() & series.notna()).to_numpy()
                if bad.any():
                    row = int(np.flatnonzero(bad)[0])
                    raise InputError(
                        f"column {name!r} must be numeric, but row "
                        f"{_row_label(index, row)} holds {shown(series.iloc[row])}; "
                        "fix the value or drop the row.",
                        row=_row_value(index, row),
                        column=name,
                    )
                values = converted.to_numpy(dtype=np.float64, na_value=np.nan)
        inf = np.isinf(values)
        if inf.any():
            row = int(np.flatnonzero(inf)[0])
            raise InputError(
                f"column {name!r} holds inf at row {_row_label(index, row)} "
                f"({int(inf.sum())} inf value(s) in all); farout cannot use "
                "infinite values: fix or drop those rows.",
                row=_row_value(index, row),
                column=name,
            )
        return values

    def _missing_error(self, name, mask, index):
        row = int(np.flatnonzero(mask)[0])
        raise InputError(
            f"column {name!r} has {int(mask.sum())} missing (NaN) value(s), the "
            f"first at row {_row_label(index, row)}. Pass missing='impute' "
            "(CLI: --missing impute) to fill them from the training data, or "
            "clean the data first.",
            row=_row_value(index, row),
            column=name,
        )

    # -------------------------------------------------------------- state
    def get_state(self):
        """``{"meta", "arrays"}`` describing the fitted encoder."""
        meta = {
            "scaling": self.scaling,
            "missing": self.missing,
            "max_categories": self.max_categories,
            "columns": self.columns_,
        }
        arrays = {
            "center": self.center_,
            "scale": self.scale_,
            "impute_values": self.impute_values_,
        }
        return {"meta": meta, "arrays": arrays}

    @classmethod
    def from_state(cls, state, arrays=None):
        """The encoder described by a :meth:`get_state` dict. (The 0.2
        form ``from_state(meta, arrays)`` still works, with a warning.)"""
        if arrays is not None:
            warnings.warn(
                "FeatureEncoder.from_state(meta, arrays) is deprecated; pass the "
                "get_state() dict alone.",
                FutureWarning,
                stacklevel=2,
            )
            state = {"meta": state, "arrays": arrays}
        meta, arrays = state["meta"], state["arrays"]
        encoder = cls(meta["scaling"], meta["missing"], meta["max_categories"])
        encoder.n_features_in_ = len(meta["columns"])
        encoder.columns_ = meta["columns"]
        encoder.center_ = arrays["center"]
        encoder.scale_ = arrays["scale"]
        encoder.impute_values_ = arrays["impute_values"]
        encoder._build_layout()
        return encoder


def _renamed(old, new):
    def get(self):
        warnings.warn(
            f"FeatureEncoder.{old} is deprecated; use {new}.", FutureWarning, stacklevel=2
        )
        return getattr(self, new)

    return property(get, doc=f"Deprecated alias of ``{new}``.")


for _old in ("columns", "center", "scale", "impute_values", "encoded_names", "groups"):
    setattr(FeatureEncoder, _old, _renamed(_old, _old + "_"))
del _old


def is_plain_numeric(X):
    """True for a float array, or a DataFrame whose columns all have NumPy
    numeric or bool dtypes (no missing-value extension types)."""
    if isinstance(X, np.ndarray):
        return X.dtype.kind == "f"
    return isinstance(X, pd.DataFrame) and all(
        isinstance(dtype, np.dtype) and dtype.kind in "fiub" for dtype in X.dtypes
    )


@functools.lru_cache(maxsize=256)
def _category_lookup(categories):
    """A column's categories as a dict and as an index, built once."""
    return {c: i for i, c in enumerate(categories)}, pd.Index(list(categories), dtype=object)


def _category_codes(categories, values):
    """Each value's position in ``categories``, -1 for one not there. A
    small array is looked up in a dict: pandas' vectorised lookup costs more
    to set up than a few thousand dict reads."""
    lookup, index = _category_lookup(categories)
    if len(values) > 4096:
        return index.get_indexer(values)
    return np.fromiter((lookup.get(v, -1) for v in values), dtype=np.intp, count=len(values))


def _float_chunks(X):
    """Row chunks of an all-numeric table as float64 arrays."""
    for start in range(0, X.shape[0], _CHUNK_ROWS):
        if isinstance(X, pd.DataFrame):
            yield X.iloc[start : start + _CHUNK_ROWS].to_numpy(dtype=np.float64)
        else:
            yield np.asarray(X[start : start + _CHUNK_ROWS], dtype=np.float64)


def _as_float_matrix(X):
    return X.to_numpy(dtype=np.float64) if isinstance(X, pd.DataFrame) else np.asarray(X, float)


def _index(X):
    return X.index if isinstance(X, pd.DataFrame) else None
