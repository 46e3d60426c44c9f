"""Batch scoring of files: read in blocks, score, write as it goes.

Memory stays flat whatever the file size; the output appears only when the
whole file has been scored (it is written to a temporary name and renamed).

Two worker threads parse and score blocks while the main thread reads
ahead and writes results in file order. Each worker runs the compiled
kernels single-threaded, with BLAS held to one thread: one level of
parallelism, no oversubscription. CSV in and CSV out keeps each input line's
own text and appends the result columns to it, so no float is formatted
twice; Parquet keeps the input's Arrow columns as they are.
"""

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numba
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from .exceptions import InputError
from .io import (
    CsvBlock,
    TableWriter,
    detect_format,
    iter_tables,
    open_csv_blocks,
    splice_csv_lines,
)

__all__ = ["model_columns", "read_dtypes", "score_file"]

RESULT_COLUMNS = ("anomaly_score", "is_anomaly", "severity", "cluster", "reason")

# Blocks parsed and scored at once: one per core, plus one being written.
_WORKERS = 2
_AHEAD = 3
# Bytes of whole lines per CSV block (about 100,000 rows of 16 numbers).
_CSV_BLOCK_BYTES = 16 * 2**20


def read_dtypes(detector):
    """Dtypes to force when reading data for ``detector``: categorical columns
    are read as text, even when their values look like numbers."""
    return {c["name"]: str for c in detector.feature_schema() if c["kind"] == "categorical"}


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

    def work(block):
        numba.set_num_threads(1)  # the workers are the one level of parallelism
        frame, batch = _parse(block)
        result = detector.detect(model_columns(detector, frame), reasons=reasons, top=top)
        return block, frame, batch, result, _output(writer.fmt, header, block, frame, batch, result)

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
        for block, frame, _batch, result, out in _in_order(pool, work, blocks):
            if isinstance(out, bytes):
                writer.write_csv_lines(header.rstrip(b"\r\n") + _result_header(), out)
            elif isinstance(out, pa.Table):
                writer.write_arrow(out, frame.index)
            else:
                writer.write(out)
            rows += len(frame)
            flagged += int(result["is_anomaly"].sum())
            if total_bytes:  # CSV: estimate the rows to come from the bytes to come
                seen_bytes += len(block.body)
                bar.total = rows + int((total_bytes - seen_bytes) * rows / max(seen_bytes, 1))
            bar.update(len(frame))
    return {"rows": rows, "flagged": flagged}


def _frame_blocks(path, fmt, chunksize, dtypes):
    """DataFrames with file row numbers, or for a Parquet file (first row,
    Arrow batch) pairs, converted on a worker thread."""
    if fmt != "parquet" or path == "-":
        yield from iter_tables(path, chunksize=chunksize, fmt=fmt, dtypes=dtypes)
        return
    first = 0
    try:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunksize):
            yield first, batch
            first += batch.num_rows
    except (OSError, pa.ArrowException) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"{path}: cannot read the parquet data after row {first} ({message})."
        ) from None
    if first == 0:
        raise InputError(f"{path} holds no rows.")


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
        pa_csv.write_csv(
            _result_table(result), sink, write_options=pa_csv.WriteOptions(include_header=False)
        )
        return bytes(splice_csv_lines(block.body, sink.getvalue()))
    if out_fmt == "parquet":
        table = pa.Table.from_batches([batch]) if batch is not None else None
        if table is None:
            return _with_results(frame, result)
        for name, column in zip(RESULT_COLUMNS, _result_table(result).columns, strict=True):
            table = table.append_column(name, column)
        return table
    return pd.concat([frame, result], axis=1)


def _with_results(frame, result):
    # object columns become strings so every block has one Parquet schema
    out = pd.concat([frame, result], axis=1)
    for name in out.columns:
        if out[name].dtype == object:
            out[name] = out[name].astype("string")
    return pa.Table.from_pandas(out, preserve_index=False)
