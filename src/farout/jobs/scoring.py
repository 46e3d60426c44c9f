"""Scoring a file of any size, block by block.

Memory stays flat whatever the file size, and the output appears only when
the whole file has been scored (it is written to a temporary name and
renamed). Blocks are parsed and scored on the worker threads of
:mod:`.blocks`, each running the compiled kernels single-threaded with BLAS
held to one thread: one level of parallelism, no oversubscription. CSV in
and CSV out keeps each input line's own text and appends the result columns
to it, so no float is formatted twice; Parquet keeps the input's Arrow
columns as they are.

For an all-numeric model there are two fast paths, which write what the
general path (pandas in, :meth:`detect`'s DataFrame out) writes (the tests
compare them; :mod:`farout._kernels.csv` names the rare spellings where
pandas' reading depends on the rest of the block): CSV to CSV parses the
model's fields with the compiled parser and splices the results on in one
compiled pass; Parquet to Parquet feeds the Arrow columns to the kernels and
appends the results as Arrow arrays. A block the fast path cannot take (a
quoted number, ``NA``, a malformed line) goes the general way, which also
names the row in any error.
"""

import csv
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numba
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from .._kernels.csv import parse_numbers, splice_results
from ..exceptions import InputError, shown
from ..features.schema import model_columns, read_dtypes
from ..findings import CONFIDENCE_COLUMNS, RESULT_COLUMNS
from ..io import BufferPool, CsvBlock, TableWriter, detect_format, splice_csv_lines
from ..outputs import check_not_input
from ..validation import is_int
from .blocks import WORKERS, in_order, open_blocks, parquet_rows, parse_block

__all__ = ["score_file"]


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
    sep=",",
    progress=None,
    confidence=False,
):
    """Score ``data_path`` block by block into ``out_path``.

    The output holds every input column followed by ``anomaly_score``,
    ``is_anomaly``, ``severity``, ``cluster`` and ``reason``. ``chunksize``
    is the rows per block for Parquet and JSON Lines; CSV files are cut
    into blocks of about 16 MB of whole lines. ``sep`` is the input's CSV
    field delimiter; CSV output is always comma-separated. ``confidence``
    adds ``anomaly_probability`` and ``confidence`` after ``reason``.

    Returns
    -------
    dict with ``rows`` and ``flagged`` counts.
    """
    if not is_int(chunksize) or chunksize < 1:
        raise InputError(
            f"chunksize (--chunksize) must be a positive number of rows, got {shown(chunksize)}."
        )
    check_not_input(out_path, data_path)
    in_fmt = detect_format(data_path, fmt)
    writer = TableWriter(out_path, out_fmt)
    dtypes = read_dtypes(detector)
    header, blocks = open_blocks(data_path, in_fmt, chunksize, dtypes, sep)
    total_bytes = None if header is None else os.path.getsize(data_path) - len(header)
    total_rows = parquet_rows(data_path) if in_fmt == "parquet" and data_path != "-" else None
    numeric_model = all(c["kind"] == "numeric" for c in detector.feature_schema())
    # CSV to CSV, all-numeric model: numbers parsed straight into an array
    # (input lines keep their own text only when they are comma-separated too)
    csv_to_csv = numeric_model and writer.fmt == "csv" and header is not None and sep == ","
    # (the compiled splice writes the five result columns only)
    plan = _numeric_plan(detector, header) if csv_to_csv and not confidence else None
    columns = RESULT_COLUMNS + (CONFIDENCE_COLUMNS if confidence else ())
    buffers = BufferPool()

    def work(block):
        numba.set_num_threads(1)  # the workers are the one level of parallelism
        if plan is not None:
            lines = _score_csv_lines(detector, block, plan, reasons, top, buffers)
            if lines is not None:
                return lines
        if (
            numeric_model
            and writer.fmt == "parquet"
            and isinstance(block, tuple)
            and not confidence
        ):
            table = _score_arrow(detector, block, reasons, top)
            if table is not None:
                return table
        frame, batch = parse_block(block)
        result = detector.detect(
            model_columns(detector, frame), reasons=reasons, top=top, confidence=confidence
        )
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
        ThreadPoolExecutor(WORKERS, thread_name_prefix="farout-score") as pool,
    ):
        for block, scored in in_order(pool, lambda b: (b, work(b)), blocks):
            out = scored.out
            if isinstance(out, pa.Table):
                writer.write_arrow(out, scored.index)
            elif isinstance(out, pd.DataFrame):
                writer.write(out)
            else:  # CSV lines: bytes, or a pooled buffer and the bytes used in it
                buffer, used = out if isinstance(out, tuple) else (out, len(out))
                lines = memoryview(buffer)[:used]
                writer.write_csv_lines(header.rstrip(b"\r\n") + _result_header(columns), lines)
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


def _score_arrow(detector, block, reasons, top):
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
    severity = pa.DictionaryArray.from_arrays(tiers, pa.array(found.tier_names, pa.large_string()))
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


def _score_csv_lines(detector, block, plan, reasons, top, buffers):
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
        found.tier_names,
        found.labels,
        reason,
        list(found.reason_texts),
        buffer=buffers.take(0),
        line_ends=line_ends,
    )
    return _Scored(len(X), int(found.flags.sum()), out, frame.index)


def _result_header(columns):
    return ("," + ",".join(columns) + "\n").encode()


def _result_table(result):
    return pa.Table.from_pandas(
        result.astype({"severity": "string", "reason": "string"}), preserve_index=False
    )


def _output(out_fmt, header, block, frame, batch, result):
    """What the writer appends for a block: CSV bytes (each input line with
    its results spliced on), an Arrow table (Parquet), or a DataFrame."""
    splice = isinstance(block, CsvBlock) and block.sep == "," and block.n_lines == len(frame)
    if out_fmt == "csv" and splice:
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
        for name, column in zip(result.columns, _result_table(result).columns, strict=True):
            table = table.append_column(name, column)
        return table
    return pd.concat([frame, result], axis=1)
