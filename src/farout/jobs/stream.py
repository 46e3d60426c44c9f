"""``farout stream``: run a :class:`~farout.streaming.StreamDetector` over a
file or a pipe, writing each row with its results as it is processed.

- From a file, rows are read and processed in blocks; from standard input
  (``-``) one line at a time, so ``tail -f app.log | farout stream - -o -``
  answers each line as it arrives.
- To standard output each processed line is written and flushed at once;
  to a file, in blocks under a temporary name, renamed when the input ends.
- A bad row (not a number, missing, a timestamp before the one above it,
  or no entity with ``entity_column``) stops the stream with an error
  naming it. Everything before it has
  been processed: it is written (the output file is renamed into place)
  and, with ``save_state``, in the checkpoint, so rerunning from the bad
  row on resumes exactly.
"""

import csv
import io
import json
import sys

import numpy as np
import pandas as pd

from ..exceptions import InputError
from ..formats import detect_format
from ..io import select_columns
from ..outputs import check_not_input
from ..streaming.rows import MAX_VALUE
from ..writer import TableWriter
from .blocks import iter_frames

__all__ = ["stream_file"]

# Rows per block when reading a file.
_BLOCK_ROWS = 10_000


def stream_file(
    detector,
    data_path,
    out_path,
    *,
    time_column=None,
    entity_column=None,
    columns=None,
    exclude=None,
    save_state=None,
    fmt=None,
    sep=",",
):
    """Process ``data_path`` (CSV or JSON Lines, or ``-``) row by row with
    ``detector`` into ``out_path`` (or ``-``). Returns ``{"rows",
    "flagged"}``. ``time_column`` is kept, checked to be in order, and not
    a feature, and so is ``entity_column``, each row's entity for the
    detector's ``EntityFeatures``; ``columns`` / ``exclude`` choose the
    features."""
    check_not_input(out_path, data_path)
    in_fmt = detect_format(data_path, fmt)
    if in_fmt == "parquet" and data_path == "-":
        raise InputError("standard input can be CSV or JSON Lines, not Parquet.")
    counts = {"rows": 0, "flagged": 0}
    stream = _Stream(detector, time_column, entity_column, columns, exclude)
    failure = None
    with TableWriter(out_path, "csv" if out_path == "-" else None) as writer:
        # entities are read as text: "007" is not entity 7
        text = {entity_column: str} if entity_column else None
        frames = (
            _lines(sys.stdin, in_fmt, sep, entity_column)
            if data_path == "-"
            else iter_frames(data_path, fmt=in_fmt, chunksize=_BLOCK_ROWS, sep=sep, dtypes=text)
        )
        try:
            for frame in frames:
                done, failure = stream.process(frame)
                if done is not None and len(done):
                    writer.write(done)
                    counts["rows"] += len(done)
                    counts["flagged"] += int(done["is_anomaly"].sum())
                    if out_path == "-":
                        sys.stdout.flush()
                if failure is not None:
                    break
        except InputError as exc:  # unreadable input: keep what was done
            failure = exc
        if failure is not None and counts["rows"] == 0:
            raise failure  # nothing done: no output file at all
    if save_state is not None:
        detector.save(save_state)
    if failure is not None:
        raise failure
    return counts


class _Stream:
    """The checks a stream needs across blocks: the same columns, and
    timestamps in order."""

    def __init__(self, detector, time_column, entity_column, columns, exclude):
        self.detector = detector
        self.time_column, self.entity_column = time_column, entity_column
        self.columns, self.exclude = columns, exclude
        self.last_time = detector.last_time_  # a resumed stream keeps its order
        self.features = None

    def process(self, frame):
        """(the rows processed with their results, the error that stopped
        the block or None)."""
        if self.features is None:
            given = {"--time-column": self.time_column, "--entity-column": self.entity_column}
            keep = [c for c in given.values() if c]
            for flag, name in given.items():
                if name and name not in frame.columns:
                    raise InputError(
                        f"no column {name!r} ({flag}); the data has "
                        f"{', '.join(map(str, frame.columns))}."
                    )
            chosen = select_columns(frame, self.columns, (self.exclude or []) + keep)
            self.features = [str(c) for c in chosen.columns]
        absent = [c for c in self.features if c not in frame.columns]
        if absent:
            raise InputError(
                f"row {frame.index[0]}: no column {absent[0]!r} (the stream's first rows had it)."
            )
        X = frame[self.features]
        stop, failure = len(frame), None
        numbers = {}
        for name in self.features:
            column = X[name]
            numbers[name] = column
            if not pd.api.types.is_numeric_dtype(column):  # text among the numbers
                numbers[name] = pd.to_numeric(column, errors="coerce")
                text = np.flatnonzero((numbers[name].isna() & column.notna()).to_numpy())
                if text.size and text[0] < stop:
                    stop = int(text[0])
                    failure = InputError(
                        f"row {frame.index[stop]}: column {name!r} holds "
                        f"{column.iloc[stop]!r}, not a number."
                    )
        X = pd.DataFrame(numbers, index=frame.index).astype(np.float64)
        values = X.to_numpy()[:stop]
        bad = ~np.isfinite(values) | (np.abs(values) > MAX_VALUE)
        if bad.any():
            i, j = map(int, np.argwhere(bad)[0])
            stop = i
            failure = InputError(
                f"row {frame.index[i]}: column {self.features[j]!r} is missing, not finite "
                f"or beyond +-{MAX_VALUE:g}; the stream detector needs numbers in every feature."
            )
        times = entities = None
        if self.entity_column:
            keys = frame[self.entity_column].iloc[:stop]
            empty = (keys.isna() | (keys.astype(str).str.strip() == "")).to_numpy()
            if empty.any():
                stop = int(np.flatnonzero(empty)[0])
                failure = InputError(
                    f"row {frame.index[stop]}: --entity-column {self.entity_column!r} is "
                    "empty; every row needs an entity (fill it, or drop the row)."
                )
            entities = frame[self.entity_column].iloc[:stop]
        if self.time_column:
            stop, failure = self._in_order(frame, stop, failure)
            times = pd.to_datetime(frame[self.time_column].iloc[:stop], utc=True)
        if stop == 0:
            return None, failure
        part = frame.iloc[:stop]
        if entities is not None:
            entities = entities.iloc[:stop]
        results = self.detector.process(X.iloc[:stop], times=times, entities=entities)
        return pd.concat([part, results], axis=1), failure

    def _in_order(self, frame, stop, failure):
        times = pd.to_datetime(frame[self.time_column].iloc[:stop], errors="coerce", utc=True)
        if times.isna().any():
            i = int(np.flatnonzero(times.isna())[0])
            return i, InputError(
                f"row {frame.index[i]}: --time-column {self.time_column!r} holds "
                f"{frame[self.time_column].iloc[i]!r}, not a time."
            )
        previous = times.shift(1)
        if self.last_time is not None and len(times):
            previous.iloc[0] = self.last_time
        back = np.flatnonzero((times < previous).to_numpy())
        if back.size:
            i = int(back[0])
            return i, InputError(
                f"row {frame.index[i]}: time {times.iloc[i]} is before the row above it "
                f"({previous.iloc[i]}); the stream needs rows in time order "
                "(sort the input first)."
            )
        if len(times):
            self.last_time = times.iloc[-1]
        return stop, failure


def _lines(handle, fmt, sep, text_column=None):
    """One-row DataFrames from a text stream, as each line arrives."""
    if fmt == "jsonl":
        for number, line in enumerate(handle):
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(f"line {number + 1} is not JSON: {exc}.") from None
                if not isinstance(record, dict):
                    raise InputError(f"line {number + 1} is not a JSON object ({{...}}).")
                yield pd.DataFrame([record], index=[number])
        return
    header = handle.readline()
    if not header.strip():
        raise InputError("standard input is empty: expected a CSV header line.")
    names = next(csv.reader([header.lstrip("\ufeff")], delimiter=sep))
    for number, line in enumerate(handle):
        if not line.strip():
            continue
        fields = next(csv.reader(io.StringIO(line), delimiter=sep))
        if len(fields) != len(names):
            raise InputError(
                f"row {number} (line {number + 2}) has {len(fields)} fields; the header has "
                f"{len(names)}."
            )
        row = {}
        for name, text in zip(names, fields, strict=True):
            try:
                row[name] = text if name == text_column else float(text)
            except ValueError:
                row[name] = text
        yield pd.DataFrame([row], index=[number])
