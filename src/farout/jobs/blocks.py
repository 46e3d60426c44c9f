"""Blocks of a file, read and parsed ahead on worker threads and handed
on in file order: what the file jobs share.

Two worker threads parse (and, for scoring, score) blocks while the main
thread reads ahead and consumes results in order, at most :data:`AHEAD`
blocks in flight, so memory stays flat whatever the file size.
"""

from collections import deque
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..io import CsvBlock, detect_format, iter_parquet_batches, iter_tables, open_csv_blocks

__all__ = [
    "AHEAD",
    "CSV_BLOCK_BYTES",
    "WORKERS",
    "in_order",
    "iter_frames",
    "open_blocks",
    "parquet_rows",
    "parse_block",
]

#: Blocks parsed and scored at once: one per core, plus one being written.
WORKERS = 2
AHEAD = 3
#: Bytes of whole lines per CSV block (about 100,000 rows of 16 numbers).
CSV_BLOCK_BYTES = 16 * 2**20


def iter_frames(path, *, fmt=None, chunksize=100_000, dtypes=None, sep=","):
    """DataFrames of a file, in order, indexed by file row number. CSV
    blocks (fields separated by ``sep``) are parsed on two worker threads."""
    _, blocks = open_blocks(path, detect_format(path, fmt), chunksize, dtypes, sep)
    with ThreadPoolExecutor(WORKERS, thread_name_prefix="farout-read") as pool:
        for block, (frame, _batch) in in_order(pool, lambda b: (b, parse_block(b)), blocks):
            if isinstance(block, CsvBlock):
                block.release()
            yield frame


def open_blocks(path, fmt, chunksize, dtypes, sep=","):
    """``(header, blocks)`` of a file in format ``fmt``: for a CSV file its
    header line and whole-line blocks of about :data:`CSV_BLOCK_BYTES`;
    otherwise no header, and DataFrames with file row numbers or, for a
    Parquet file, (first row, Arrow batch) pairs."""
    if fmt == "csv" and path != "-":
        return open_csv_blocks(path, block_bytes=CSV_BLOCK_BYTES, dtypes=dtypes, sep=sep)
    return None, _frame_blocks(path, fmt, chunksize, dtypes, sep)


def _frame_blocks(path, fmt, chunksize, dtypes, sep):
    """DataFrames with file row numbers, or for a Parquet file (first row,
    Arrow batch) pairs, converted on a worker thread."""
    if fmt != "parquet" or path == "-":
        yield from iter_tables(path, chunksize=chunksize, fmt=fmt, dtypes=dtypes, sep=sep)
        return
    yield from iter_parquet_batches(path, chunksize)


def parquet_rows(path):
    try:
        return pq.ParquetFile(path).metadata.num_rows
    except (OSError, pa.ArrowException):
        return None  # the reader reports the problem with context


def in_order(pool, work, blocks):
    """Results of ``work`` over ``blocks``, in order, at most :data:`AHEAD`
    blocks in flight (memory stays flat)."""
    pending = deque()
    for block in blocks:
        pending.append(pool.submit(work, block))
        if len(pending) >= AHEAD:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def parse_block(block):
    """(DataFrame, Arrow batch or None) of a block, on a worker thread."""
    if isinstance(block, pd.DataFrame):
        return block, None
    if isinstance(block, CsvBlock):
        return block.parse(), None
    first, batch = block
    frame = batch.to_pandas()
    frame.index = pd.RangeIndex(first, first + len(frame))
    return frame, batch
