"""Features that carry a row's context in a stream: lags, rolling
statistics, rate of change, deviation from a rolling baseline, and
subsequence windows (the shape of the last values, for anomalies that are
abnormal as a group).

Each feature of a row uses only that row and the rows before it. Before a
window has filled, it uses the rows there are (pandas' ``min_periods=1``),
and a lag or a subsequence reaching before the first row repeats the first
row. Two paths compute them and agree (tested): :meth:`WindowFeatures.transform`
on a whole table (pandas rolling), and :meth:`WindowFeatures.step`, one row
at a time with a bounded buffer of the last rows, which the stream
detector uses and saves in its checkpoints.
"""

from collections import deque

import numpy as np
import pandas as pd

from ..exceptions import InputError, shown

__all__ = ["WindowFeatures"]


class WindowFeatures:
    """Windowed features of numeric columns.

    Parameters
    ----------
    lags : tuple of int, default=()
        The value ``k`` rows before, for each ``k``.
    rolling : tuple of int, default=()
        For each window size ``w``: the mean, standard deviation, minimum
        and maximum of the last ``w`` values (this row's included).
    diff : bool, default=False
        The change since the row before (the rate of change per row).
    deviation : tuple of int, default=()
        For each ``w``: the value minus the mean of the ``w`` values before
        it (the deviation from a rolling baseline).
    subsequence : int or None, default=None
        The last ``subsequence`` values, z-normalised (KMeansAD's recipe):
        their shape, whatever their level. A constant stretch is all zeros.
    keep : bool, default=True
        Keep the columns themselves as features.

    Examples
    --------
    >>> import pandas as pd
    >>> f = WindowFeatures(lags=(1,), rolling=(3,), diff=True)
    >>> f.transform(pd.DataFrame({"v": [1.0, 2.0, 4.0]})).round(3).to_dict("list")["v_mean3"]
    [1.0, 1.5, 2.333]
    """

    def __init__(
        self, *, lags=(), rolling=(), diff=False, deviation=(), subsequence=None, keep=True
    ):
        self.lags = tuple(lags)
        self.rolling = tuple(rolling)
        self.diff = diff
        self.deviation = tuple(deviation)
        self.subsequence = subsequence
        self.keep = keep
        for name in ("lags", "rolling", "deviation"):
            for w in getattr(self, name):
                if not isinstance(w, (int, np.integer)) or isinstance(w, bool) or w < 1:
                    raise InputError(f"{name} must hold whole numbers >= 1, got {shown(w)}.")
        if self.subsequence is not None and (
            not isinstance(self.subsequence, (int, np.integer)) or self.subsequence < 2
        ):
            raise InputError(f"subsequence must be a whole number >= 2, got {shown(subsequence)}.")
        self._buffer = None

    @property
    def memory(self):
        """Rows of the past the features need."""
        sizes = [*self.lags, *self.rolling, *self.deviation, self.subsequence or 1, 1]
        return max(max(sizes), 2 if self.diff else 1)

    def names(self, columns):
        """The feature names, in order, for input ``columns``."""
        out = []
        for c in columns:
            out += [c] if self.keep else []
            out += [f"{c}_lag{k}" for k in self.lags]
            out += [f"{c}_{s}{w}" for w in self.rolling for s in ("mean", "std", "min", "max")]
            out += [f"{c}_diff"] if self.diff else []
            out += [f"{c}_dev{w}" for w in self.deviation]
            out += [f"{c}_shape{i}" for i in range(self.subsequence or 0)]
        return out

    needs_times = needs_entities = False

    # ------------------------------------------------------ batch path
    def transform(self, frame, *, times=None, entities=None):
        """The features of a whole table, row by row in order (pandas)."""
        columns = [str(c) for c in frame.columns]
        parts = []
        for c in frame.columns:
            v = frame[c].astype(np.float64)
            first = v.iloc[0] if len(v) else np.nan
            own = [v] if self.keep else []
            own += [v.shift(k).fillna(first) for k in self.lags]
            for w in self.rolling:
                r = v.rolling(w, min_periods=1)
                own += [r.mean(), r.std(ddof=0), r.min(), r.max()]
            own += [v.diff().fillna(0.0)] if self.diff else []
            own += [
                (v - v.shift(1).rolling(w, min_periods=1).mean()).fillna(0.0)
                for w in self.deviation
            ]
            if self.subsequence:
                w = self.subsequence
                shifted = np.column_stack([v.shift(w - 1 - i).fillna(first) for i in range(w)])
                own += list(_znorm(shifted).T)
            parts += [np.asarray(p, dtype=np.float64) for p in own]
        values = np.column_stack(parts) if parts else np.empty((len(frame), 0))
        return pd.DataFrame(values, columns=self.names(columns), index=frame.index)

    # ----------------------------------------------------- online path
    def online(self, values, *, seconds=None, rows=None, entities=None):
        """The features of rows ``values`` in order, as :meth:`step` gives."""
        values = np.asarray(values, dtype=np.float64)
        plain = not (self.lags or self.rolling or self.diff or self.deviation or self.subsequence)
        if plain and self.keep and len(values):
            # the columns themselves: no window to compute
            if self._buffer is None:
                self._buffer = deque(maxlen=1)
            self._buffer.append(values[-1].copy())
            return values
        return np.array([self.step(x) for x in values]).reshape(len(values), -1)

    def step(self, x):
        """The features of one more row ``x`` (an array of the columns),
        from the buffer of the rows before it; then the row joins it."""
        if self._buffer is None:
            self._buffer = deque(maxlen=self.memory)
        past = np.array(self._buffer) if self._buffer else np.empty((0, len(x)))
        rows = np.vstack([past, x[None, :]])
        n = rows.shape[0]
        out = []
        for j in range(len(x)):
            v = rows[:, j]
            now = v[-1]
            own = [now] if self.keep else []
            own += [v[-1 - k] if k < n else v[0] for k in self.lags]
            for w in self.rolling:
                last = v[-w:]
                own += [last.mean(), last.std(), last.min(), last.max()]
            own += [now - v[-2] if n > 1 else 0.0] if self.diff else []
            own += [now - v[-1 - w : -1].mean() if n > 1 else 0.0 for w in self.deviation]
            if self.subsequence:
                w = self.subsequence
                window = v[-w:] if n >= w else np.concatenate([np.full(w - n, v[0]), v])
                own += list(_znorm(window[None, :])[0])
            out += own
        self._buffer.append(np.asarray(x, dtype=np.float64))
        return np.asarray(out, dtype=np.float64)

    # ------------------------------------------------------------ state
    def get_state(self):
        meta = {
            "lags": list(self.lags),
            "rolling": list(self.rolling),
            "diff": bool(self.diff),
            "deviation": list(self.deviation),
            "subsequence": self.subsequence,
            "keep": bool(self.keep),
        }
        buffer = np.array(self._buffer) if self._buffer else np.empty((0, 0))
        return {"meta": meta, "arrays": {"buffer": buffer}}

    @classmethod
    def from_state(cls, state):
        meta = state["meta"]
        features = cls(
            lags=meta["lags"],
            rolling=meta["rolling"],
            diff=meta["diff"],
            deviation=meta["deviation"],
            subsequence=meta["subsequence"],
            keep=meta["keep"],
        )
        buffer = np.asarray(state["arrays"]["buffer"], dtype=np.float64)
        if buffer.size:
            features._buffer = deque(list(buffer), maxlen=features.memory)
        return features


def _znorm(windows):
    """Each row of ``windows`` minus its mean, over its standard deviation
    (a constant row: zeros)."""
    mean = windows.mean(axis=1, keepdims=True)
    sd = windows.std(axis=1, keepdims=True)
    scale = np.where(sd > 1e-12 * np.maximum(1.0, np.abs(mean)), sd, np.inf)
    return (windows - mean) / scale
