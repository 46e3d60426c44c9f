"""Batch jobs on files of any size: scoring, and fitting on a file larger
than memory.

Scoring reads in blocks, scores and writes as it goes: memory stays flat
whatever the file size, and the output appears only when the whole file has
been scored (it is written to a temporary name and renamed). Fitting draws
a uniform reservoir sample in one pass, fits on it, then refines the
clusters with mini-batch passes over the whole file.

Two worker threads parse and score blocks while the main thread reads
ahead and writes results in file order. Each worker runs the compiled
kernels single-threaded, with BLAS held to one thread: one level of
parallelism, no oversubscription. CSV in and CSV out keeps each input line's
own text and appends the result columns to it, so no float is formatted
twice; Parquet keeps the input's Arrow columns as they are.

For an all-numeric model there are two fast paths, which write what the
general path (pandas in, :meth:`detect`'s DataFrame out) writes (the tests
compare them; :mod:`._csv` names the rare spellings where pandas' reading
depends on the rest of the block): CSV to
CSV parses the model's fields with the compiled parser of :mod:`._csv` and
splices the results on in one compiled pass; Parquet to Parquet feeds the
Arrow columns to the kernels and appends the results as Arrow arrays. A
block the fast path cannot take (a quoted number, ``NA``, a malformed line)
goes the general way, which also names the row in any error.
"""

import copy
import csv
import os
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numba
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from ._kernels.csv import parse_numbers, splice_results
from ._kernels.kmeans import as_generator
from .exceptions import InputError
from .features.schema import model_columns
from .findings import RESULT_COLUMNS
from .io import (
    BufferPool,
    CsvBlock,
    TableWriter,
    detect_format,
    iter_parquet_batches,
    iter_tables,
    open_csv_blocks,
    select_columns,
    splice_csv_lines,
)

__all__ = ["fit_file", "iter_frames", "model_columns", "read_dtypes", "score_file"]

# Blocks parsed and scored at once: one per core, plus one being written.
_WORKERS = 2
_AHEAD = 3
# Bytes of whole lines per CSV block (about 100,000 rows of 16 numbers).
_CSV_BLOCK_BYTES = 16 * 2**20


def read_dtypes(detector):
    """Dtypes to force when reading data for ``detector``: categorical columns
    are read as text, even when their values look like numbers."""
    return {c["name"]: str for c in detector.feature_schema() if c["kind"] == "categorical"}


def score_file(
    detector,
    data_path,
    out_path,
    *,
    chunksize=100_000,
    reasons="flagged",
    top=3,
    fmt=None,
    out_fmt=None,
    progress=None,
):
    """Score ``data_path`` block by block into ``out_path``.

    The output holds every input column followed by ``anomaly_score``,
    ``is_anomaly``, ``severity``, ``cluster`` and ``reason``. ``chunksize``
    is the rows per block for Parquet and JSON Lines; CSV files are cut
    into blocks of about 16 MB of whole lines.

    Returns
    -------
    dict with ``rows`` and ``flagged`` counts.
    """
    in_fmt = detect_format(data_path, fmt)
    writer = TableWriter(out_path, out_fmt)
    dtypes = read_dtypes(detector)
    if in_fmt == "csv" and data_path != "-":
        header, blocks = open_csv_blocks(data_path, block_bytes=_CSV_BLOCK_BYTES, dtypes=dtypes)
        total_bytes = os.path.getsize(data_path) - len(header)
    else:
        header, total_bytes = None, None
        blocks = _frame_blocks(data_path, in_fmt, chunksize, dtypes)
    total_rows = _parquet_rows(data_path) if in_fmt == "parquet" and data_path != "-" else None
    numeric_model = all(c["kind"] == "numeric" for c in detector.feature_schema())
    # CSV to CSV, all-numeric model: numbers parsed straight into an array
    csv_to_csv = numeric_model and writer.fmt == "csv" and header is not None
    plan = _numeric_plan(detector, header) if csv_to_csv else None
    tier_names = [name for name, _ in detector.tiers_]
    buffers = BufferPool()

    def work(block):
        numba.set_num_threads(1)  # the workers are the one level of parallelism
        if plan is not None:
            lines = _score_csv_lines(detector, block, plan, reasons, top, tier_names, buffers)
            if lines is not None:
                return lines
        if numeric_model and writer.fmt == "parquet" and isinstance(block, tuple):
            table = _score_arrow(detector, block, reasons, top, tier_names)
            if table is not None:
                return table
        frame, batch = _parse(block)
        result = detector.detect(model_columns(detector, frame), reasons=reasons, top=top)
        out = _output(writer.fmt, header, block, frame, batch, result)
        return _Scored(len(frame), int(result["is_anomaly"].sum()), out, frame.index)

    rows = flagged = seen_bytes = 0
    # progress: None shows a bar only on a terminal (tqdm's rule)
    disable = None if progress is None else not progress
    bar = tqdm(total=total_rows, unit=" rows", unit_scale=True, disable=disable, desc="scoring")
    with (
        bar,
        writer,
        threadpool_limits(1, user_api="blas"),
        ThreadPoolExecutor(_WORKERS, thread_name_prefix="farout-score") as pool,
    ):
        for block, scored in _in_order(pool, lambda b: (b, work(b)), blocks):
            out = scored.out
            if isinstance(out, pa.Table):
                writer.write_arrow(out, scored.index)
            elif isinstance(out, pd.DataFrame):
                writer.write(out)
            else:  # CSV lines: bytes, or a pooled buffer and the bytes used in it
                buffer, used = out if isinstance(out, tuple) else (out, len(out))
                lines = memoryview(buffer)[:used]
                writer.write_csv_lines(header.rstrip(b"\r\n") + _result_header(), lines)
                if isinstance(out, tuple):
                    buffers.give(buffer)
            rows += scored.rows
            flagged += scored.flagged
            if total_bytes:  # CSV: estimate the rows to come from the bytes to come
                seen_bytes += len(block.body)
                bar.total = rows + int((total_bytes - seen_bytes) * rows / max(seen_bytes, 1))
            if isinstance(block, CsvBlock):
                block.release()
            bar.update(scored.rows)
    return {"rows": rows, "flagged": flagged}


class _Scored(NamedTuple):
    """A scored block: its row and flag counts, what the writer appends,
    and the rows' index (named in a write error)."""

    rows: int
    flagged: int
    out: object
    index: object


def _score_arrow(detector, block, reasons, top, tier_names):
    """Score a Parquet batch of numeric model columns without pandas in
    between: the batch's columns go out as they came in, the results are
    appended as Arrow arrays. None when a model column is not numeric."""
    first, batch = block
    names = [str(name) for name in detector.feature_names_in_]
    if any(name not in batch.schema.names for name in names) or any(
        name in batch.schema.names for name in RESULT_COLUMNS
    ):
        return None  # the general path names the problem
    types = [batch.schema.field(name).type for name in names]
    if not all(pa.types.is_floating(t) or pa.types.is_integer(t) for t in types):
        return None
    # Column-major, as the batch is: each column is one contiguous copy.
    # The ensemble's kernel reads this block as it is; the nearest-centre
    # kernel makes its own row-major copy of each scoring block.
    X = _scratch_columns(batch.num_rows, len(names))
    for j, name in enumerate(names):
        X[:, j] = batch.column(name).to_numpy(zero_copy_only=False)  # nulls are NaN
    frame = pd.DataFrame(X, columns=names, index=pd.RangeIndex(first, first + len(X)), copy=False)
    found = detector.findings(frame, reasons, top)
    tiers = pa.array(found.tiers, mask=found.tiers < 0)
    severity = pa.DictionaryArray.from_arrays(tiers, pa.array(tier_names, pa.large_string()))
    table = pa.Table.from_batches([batch])
    for name, column in zip(
        RESULT_COLUMNS,
        (
            pa.array(found.scores),
            pa.array(found.flags),
            severity.cast(pa.large_string()),
            pa.array(found.labels.astype(np.int64)),
            _large_strings(len(X), found.reason_rows, found.reason_texts),
        ),
        strict=True,
    ):
        table = table.append_column(name, column)
    return _Scored(len(X), int(found.flags.sum()), table, frame.index)


def _large_strings(n, rows, texts):
    """An Arrow large_string array of ``n`` empty strings but ``texts`` at
    ``rows``, built from its buffers (no Python string per row)."""
    encoded = [text.encode("utf-8") for text in texts]
    lengths = np.zeros(n, dtype=np.int64)
    lengths[rows] = [len(text) for text in encoded]
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    return pa.LargeStringArray.from_buffers(
        n, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))
    )


def _scratch_columns(n, p):
    """A per-thread column-major float64 array of n rows (a view of a
    reused buffer)."""
    flat = getattr(_scratch, "columns", None)
    if flat is None or flat.size < n * p:
        flat = _scratch.columns = np.empty(max(n * p, 1))
    return flat[: n * p].reshape(p, n).T


def _scratch_rows(n, p):
    """A per-thread float64 array of n rows (a view of a reused buffer:
    fresh memory is slow to touch)."""
    rows = getattr(_scratch, "rows", None)
    if rows is None or rows.shape[0] < n or rows.shape[1] != p:
        rows = _scratch.rows = np.empty((max(n, 1), p))
    return rows[:n]


def _numeric_plan(detector, header):
    """For the compiled CSV parser (an all-numeric model): the model column
    each field of the file goes to (-1: not a model column), or None when
    the header repeats a name (pandas renames it)."""
    names = next(csv.reader([header.decode("utf-8", errors="replace").rstrip("\r\n")]))
    if len(set(names)) != len(names):
        return None
    model_columns(detector, pd.DataFrame(columns=names))  # missing columns: the usual error
    position = {str(name): j for j, name in enumerate(detector.feature_names_in_)}
    return np.array([position.get(name, -1) for name in names], dtype=np.int64)


_scratch = threading.local()


def _score_csv_lines(detector, block, plan, reasons, top, tier_names, buffers):
    """Score a CSV block whose model columns are plain numbers, and splice
    the results onto its lines; None when a line needs pandas' parser, or
    when the text is not UTF-8 (pandas then names the problem)."""
    if not block.ascii:
        try:
            str(block.body, "utf-8")
        except UnicodeDecodeError:
            return None
    rows = _scratch_rows(block.n_lines, int(plan.max()) + 1)
    line_ends = getattr(_scratch, "line_ends", None)
    if line_ends is None or line_ends.shape[0] < block.n_lines:
        line_ends = _scratch.line_ends = np.empty(block.n_lines, dtype=np.int64)
    X = parse_numbers(block.body, block.n_lines, plan, out=rows, line_ends=line_ends)
    if X is None:
        return None
    first = block.first_row
    frame = pd.DataFrame(
        X,
        columns=list(detector.feature_names_in_),
        index=pd.RangeIndex(first, first + len(X)),
        copy=False,
    )
    found = detector.findings(frame, reasons, top)
    reason = np.full(len(X), -1, dtype=np.int64)
    reason[found.reason_rows] = np.arange(len(found.reason_rows))
    out = splice_results(
        block.body,
        found.scores,
        found.flags,
        found.tiers,
        tier_names,
        found.labels,
        reason,
        list(found.reason_texts),
        buffer=buffers.take(0),
        line_ends=line_ends,
    )
    return _Scored(len(X), int(found.flags.sum()), out, frame.index)


def iter_frames(path, *, fmt=None, chunksize=100_000, dtypes=None):
    """DataFrames of a file, in order, indexed by file row number. CSV
    blocks are parsed on two worker threads."""
    in_fmt = detect_format(path, fmt)
    if in_fmt == "csv" and path != "-":
        _, blocks = open_csv_blocks(path, block_bytes=_CSV_BLOCK_BYTES, dtypes=dtypes)
    else:
        blocks = _frame_blocks(path, in_fmt, chunksize, dtypes)
    with ThreadPoolExecutor(_WORKERS, thread_name_prefix="farout-read") as pool:
        for block, (frame, _batch) in _in_order(pool, lambda b: (b, _parse(b)), blocks):
            if isinstance(block, CsvBlock):
                block.release()
            yield frame


def fit_file(
    detector,
    data_path,
    *,
    fmt=None,
    columns=None,
    exclude=None,
    sample_rows=1_000_000,
    passes=1,
    chunksize=100_000,
    random_state=None,
    progress=None,
):
    """Fit ``detector`` on a file of any size, with memory bounded by
    ``sample_rows``.

    A file of at most ``sample_rows`` rows is fitted in memory, exactly as
    ``detector.fit`` would. A larger file is read once to draw a uniform
    sample of ``sample_rows`` rows (a reservoir: each row gets a random key
    and the smallest keys are kept); the detector is fitted on the sample
    (scaling, categories, k selection, initialisation, ensemble); then
    ``passes`` passes over the whole file move the clusters with mini-batch
    steps (:meth:`~farout.KMeansAnomalyDetector.refine_clusters`), and the
    threshold and tiers are refitted on the sample. ``random_state`` seeds
    the sample; None takes the detector's ``random_state``, so a seeded
    detector fits the same model from the same file every time.

    Returns
    -------
    dict with ``rows`` (in the file), ``sampled`` (rows fitted on) and
    ``passes`` (refinement passes made).
    """
    if random_state is None:
        # reproducible with the detector's own seed; a generator is copied,
        # so that sampling leaves the fit's own draws as they would be
        random_state = copy.deepcopy(getattr(detector, "random_state", None))
    reservoir = _Reservoir(sample_rows, as_generator(random_state))
    disable = None if progress is None else not progress
    with tqdm(unit=" rows", unit_scale=True, disable=disable, desc="sampling") as bar:
        for frame in iter_frames(data_path, fmt=fmt, chunksize=chunksize):
            reservoir.offer(select_columns(frame, columns, exclude))
            bar.update(len(frame))
    sample, rows = reservoir.frame(), reservoir.seen
    pa.default_memory_pool().release_unused()  # Arrow keeps freed blocks cached
    detector.fit(sample)
    made = 0
    if rows > len(sample) and data_path == "-":
        raise InputError(
            f"standard input held {rows:,} rows, more than --sample-rows {sample_rows:,}, "
            "and it cannot be read a second time to refine the clusters; fit on a file, "
            "or raise --sample-rows."
        )
    if rows > len(sample):
        names = list(detector.feature_names_in_)
        for made in range(1, passes + 1):
            with tqdm(
                total=rows, unit=" rows", unit_scale=True, disable=disable, desc=f"pass {made}"
            ) as bar:
                for frame in iter_frames(data_path, fmt=fmt, chunksize=chunksize):
                    # the model's columns, by name (a JSON Lines chunk may
                    # lack one: missing there, as in the sample)
                    detector.refine_clusters(frame.reindex(columns=names))
                    bar.update(len(frame))
        detector.fit_threshold(sample, tiers=detector.tiers)
    return {"rows": rows, "sampled": len(sample), "passes": made}


class _Reservoir:
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


def _frame_blocks(path, fmt, chunksize, dtypes):
    """DataFrames with file row numbers, or for a Parquet file (first row,
    Arrow batch) pairs, converted on a worker thread."""
    if fmt != "parquet" or path == "-":
        yield from iter_tables(path, chunksize=chunksize, fmt=fmt, dtypes=dtypes)
        return
    yield from iter_parquet_batches(path, chunksize)


def _parquet_rows(path):
    try:
        return pq.ParquetFile(path).metadata.num_rows
    except (OSError, pa.ArrowException):
        return None  # the reader reports the problem with context


def _in_order(pool, work, blocks):
    """Results of ``work`` over ``blocks``, in order, at most ``_AHEAD``
    blocks in flight (memory stays flat)."""
    pending = deque()
    for block in blocks:
        pending.append(pool.submit(work, block))
        if len(pending) >= _AHEAD:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _parse(block):
    """(DataFrame, Arrow batch or None) of a block, on a worker thread."""
    if isinstance(block, pd.DataFrame):
        return block, None
    if isinstance(block, CsvBlock):
        return block.parse(), None
    first, batch = block
    frame = batch.to_pandas()
    frame.index = pd.RangeIndex(first, first + len(frame))
    return frame, batch


def _result_header():
    return ("," + ",".join(RESULT_COLUMNS) + "\n").encode()


def _result_table(result):
    return pa.Table.from_pandas(
        result.astype({"severity": "string", "reason": "string"}), preserve_index=False
    )


def _output(out_fmt, header, block, frame, batch, result):
    """What the writer appends for a block: CSV bytes (each input line with
    its results spliced on), an Arrow table (Parquet), or a DataFrame."""
    if out_fmt == "csv" and isinstance(block, CsvBlock) and block.n_lines == len(frame):
        sink = pa.BufferOutputStream()
        table = _result_table(result)
        # no reason: an empty field, as pandas writes it on the other paths
        reason = table.column("reason")
        table = table.set_column(4, "reason", pc.if_else(pc.equal(reason, ""), None, reason))
        options = pa_csv.WriteOptions(include_header=False)
        pa_csv.write_csv(table, sink, write_options=options)
        return bytes(splice_csv_lines(block.body, sink.getvalue()))
    if out_fmt == "parquet" and batch is not None:
        table = pa.Table.from_batches([batch])
        for name, column in zip(RESULT_COLUMNS, _result_table(result).columns, strict=True):
            table = table.append_column(name, column)
        return table
    return pd.concat([frame, result], axis=1)
