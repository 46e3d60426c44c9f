"""A uniform sample of a stream of frames, in bounded memory."""

import numpy as np
import pandas as pd

from ..exceptions import InputError

__all__ = ["Reservoir"]


class Reservoir:
    """A uniform sample of ``size`` rows from frames offered in turn: each
    row gets a random key and the rows with the smallest keys are kept.

    Columns are NumPy arrays of ``size`` rows whose slots are overwritten in
    place, so memory stays near one sample (concatenating the sample with
    each block held three copies at once). Offered rows that could still
    enter wait in a small queue until an eighth of the sample is waiting."""

    def __init__(self, size, rng):
        self.size, self.rng = size, rng
        self.seen = 0
        self.columns = None  # name -> array of `size` slots
        self.keys = np.empty(0)
        self.rows = np.empty(0, dtype=np.int64)  # file row numbers
        self.filled = 0
        self.waiting, self.n_waiting = [], 0

    def offer(self, frame):
        keys = self.rng.random(len(frame))
        self.seen += len(frame)
        if self.columns is None:
            self.columns = {}
        for name in frame.columns:  # JSON Lines chunks may bring new keys
            self.columns.setdefault(name, None)
        if self.filled == self.size:
            # only rows whose key beats the largest kept can enter
            take = keys < self.keys.max()
            frame, keys = frame[take], keys[take]
        if len(frame):
            self.waiting.append((frame, keys))
            self.n_waiting += len(frame)
        if self.n_waiting >= max(1, self.size // 8) or self.filled + self.n_waiting <= self.size:
            self._merge()

    def _merge(self):
        if not self.waiting:
            return
        frames, keys = zip(*self.waiting, strict=True)
        frame = frames[0] if len(frames) == 1 else pd.concat(frames)
        keys = np.concatenate(keys)
        self.waiting, self.n_waiting = [], 0
        rows = np.asarray(frame.index, dtype=np.int64)
        held = self.filled
        if held + len(keys) <= self.size:
            slots, newcomers = np.arange(held, held + len(keys)), np.arange(len(keys))
        else:
            # the smallest keys of held and waiting rows stay; newcomers go
            # to the free slots, then to the slots of the evicted
            pool = np.concatenate([self.keys[:held], keys])
            keep = np.zeros(len(pool), dtype=bool)
            keep[np.argpartition(pool, self.size - 1)[: self.size]] = True
            newcomers = np.flatnonzero(keep[held:])
            slots = np.concatenate([np.arange(held, self.size), np.flatnonzero(~keep[:held])])
        self._write(frame, keys, rows, slots, newcomers)

    def _write(self, frame, keys, rows, slots, newcomers):
        if len(self.keys) == 0:
            self.keys = np.full(self.size, np.inf)
            self.rows = np.zeros(self.size, dtype=np.int64)
        for name in self.columns:
            # a column the rows lack is missing in them, as pd.concat has it
            if name in frame.columns:
                values = frame[name].to_numpy()[newcomers]
            else:
                values = np.full(len(newcomers), np.nan)
            column = self.columns[name]
            if column is None:
                # a column first seen now was missing in the rows held
                column = np.empty(self.size, dtype=values.dtype)
                if self.filled:
                    column = np.full(self.size, np.nan, dtype=np.result_type(values.dtype, float))
            else:  # a later block may widen the type (ints, then floats or text)
                try:
                    dtype = np.result_type(column.dtype, values.dtype)
                except TypeError:
                    dtype = np.dtype(object)
                if (column.dtype == bool) != (values.dtype == bool):
                    dtype = np.dtype(object)  # booleans beside numbers: pd.concat keeps both
                if dtype != column.dtype:
                    column = column.astype(dtype)
            column[slots] = values
            self.columns[name] = column
        self.keys[slots] = keys[newcomers]
        self.rows[slots] = rows[newcomers]
        self.filled = min(self.size, self.filled + len(slots))

    def frame(self):
        """The sample, in file order, indexed by file row number."""
        self._merge()
        if self.columns is None or self.filled == 0:
            raise InputError("the data holds no rows to fit on.")
        order = np.argsort(self.rows[: self.filled], kind="stable")
        index = pd.Index(self.rows[: self.filled][order])
        columns, self.columns = self.columns, None
        dtypes = {column.dtype for column in columns.values()}
        if len(dtypes) == 1 and np.issubdtype(dtypes.pop(), np.number):
            # one 2-D block, filled column by column as the reservoir's go:
            # one copy of the sample in memory, and the fit's conversion to
            # an array needs no further copy
            names = list(columns)
            block = np.empty((self.filled, len(names)), dtype=columns[names[0]].dtype)
            for j, name in enumerate(names):
                block[:, j] = columns.pop(name)[: self.filled][order]
            return pd.DataFrame(block, columns=names, index=index, copy=False)
        return pd.DataFrame(
            {name: column[: self.filled][order] for name, column in columns.items()},
            index=index,
        )
