"""Files in: CSV, Parquet and JSON Lines, or ``-`` for standard input.
Reading can go in chunks so memory stays flat. (Writing is
:mod:`farout.writer`; ``TableWriter`` is importable from here too.)
"""

import codecs
import csv
import functools
import io
import os
import queue
import re
import sys
import threading

import numba
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ._kernels.csv import count_lines
from .exceptions import InputError
from .formats import FORMATS, detect_format
from .writer import TableWriter

__all__ = [
    "FORMATS",
    "BufferPool",
    "CsvBlock",
    "TableWriter",
    "detect_format",
    "open_csv_blocks",
    "iter_parquet_batches",
    "iter_tables",
    "read_table",
    "select_columns",
    "check_delimiter",
    "splice_csv_lines",
]


def _source(path):
    if path == "-":
        return sys.stdin.buffer
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file.")
    if os.path.isdir(path):
        raise InputError(f"{path} is a directory, not a data file.")
    if os.path.getsize(path) == 0:
        raise InputError(f"{path} is empty.")
    return path


def iter_tables(path, *, chunksize=100_000, fmt=None, dtypes=None, sep=","):
    """Yield DataFrames of at most ``chunksize`` rows, indexed by row number
    in the file (0-based, continuing across chunks).

    ``dtypes`` maps column names to dtypes to force (e.g. ``str`` for a
    categorical column whose values look like numbers); ``sep`` is the CSV
    field delimiter.
    """
    fmt = detect_format(path, fmt)
    source = _source(path)
    offset = 0
    try:
        if fmt == "parquet":
            if source is sys.stdin.buffer:
                source = io.BytesIO(source.read())
            for offset, batch in iter_parquet_batches(path, chunksize, source):
                frame = batch.to_pandas()
                frame.index = pd.RangeIndex(offset, offset + len(frame))
                yield _apply_dtypes(frame, dtypes)
            return
        if fmt == "csv":
            chunks = pd.read_csv(
                source, chunksize=chunksize, dtype=dtypes, sep=sep, low_memory=False
            )
        else:
            chunks = pd.read_json(source, lines=True, chunksize=chunksize, dtype=dtypes)
        with chunks:  # closes the file, also when a check below refuses it
            for frame in chunks:
                if fmt == "csv" and offset == 0:
                    check_delimiter(path, [str(c) for c in frame.columns], sep)
                frame.index = pd.RangeIndex(offset, offset + len(frame))
                offset += len(frame)
                yield frame
    except pd.errors.EmptyDataError:
        raise InputError(f"{path} holds no data.") from None
    except (pd.errors.ParserError, ValueError, pa.ArrowException, UnicodeDecodeError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(
            f"{path}: cannot read the {fmt} data after row {offset} ({_first_line(exc)})."
        ) from None
    if offset == 0:
        raise InputError(f"{path} holds no rows.")


def iter_parquet_batches(path, chunksize, source=None):
    """(first row, Arrow batch) pairs of the Parquet file at ``path`` (or
    read from the open ``source``), at most ``chunksize`` rows each."""
    first = 0
    try:
        # Whole row groups, sliced without copying. (A memory map was 10%
        # faster but its pages count as resident: 4.2 GiB on a 3.7 GB file.
        # Arrow's own threads were 3x slower here than one.)
        reader = pq.ParquetFile(path if source is None else source)
        for group in range(reader.num_row_groups):
            table = reader.read_row_group(group, use_threads=False)
            for batch in table.to_batches(max_chunksize=chunksize):
                yield first, batch
                first += batch.num_rows
    except (OSError, pa.ArrowException) as exc:
        raise InputError(
            f"{path}: cannot read the parquet data after row {first} ({_first_line(exc)})."
        ) from None
    if first == 0:
        raise InputError(f"{path} holds no rows.")


class BufferPool:
    """Byte buffers to reuse: on this kind of machine, touching fresh memory
    (page faults) costs more than the work done in it. ``take`` never
    blocks; a buffer not given back is simply garbage-collected."""

    def __init__(self):
        self._free = queue.SimpleQueue()

    def take(self, size):
        """A bytearray of at least ``size`` bytes (a reused one if any fits)."""
        try:
            buffer = self._free.get_nowait()
        except queue.Empty:
            buffer = None
        if buffer is None or len(buffer) < size:
            buffer = bytearray(size + size // 16)
        return buffer

    def give(self, buffer):
        self._free.put(buffer)


class CsvBlock:
    """Whole lines of a CSV file, kept as bytes until :meth:`parse` (which
    can run on a worker thread). ``first_row`` is the file row number of the
    first line (0 = the line after the header). ``body`` may be a view of a
    pooled buffer: :meth:`release` hands it back once the block is done."""

    def __init__(self, path, names, body, first_row, dtypes, n_lines=None, release=None, sep=","):
        self.path, self.names, self.body, self.sep = path, names, body, sep
        self.first_row, self.dtypes = first_row, dtypes
        self.n_lines = body.count(b"\n") if n_lines is None else n_lines
        self._release = release
        self.ascii = None  # unknown; the reader sets it when it has scanned the bytes

    def release(self):
        """Give the block's buffer back to its pool; the block is unusable
        afterwards."""
        if self._release is not None:
            self.body, release, self._release = None, self._release, None
            release()

    def parse(self):
        try:
            frame = pd.read_csv(
                io.BytesIO(self.body),
                header=None,
                names=self.names,
                dtype=self.dtypes,
                sep=self.sep,
                low_memory=False,  # one type per column per block, no DtypeWarning
            )
        except pd.errors.EmptyDataError:
            frame = pd.DataFrame(columns=self.names)
        except (pd.errors.ParserError, ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"{self.path}: {self._locate(_first_line(exc))}") from None
        frame.index = pd.RangeIndex(self.first_row, self.first_row + len(frame))
        if len(self.names) > 1 and len(frame) and frame.iloc[:, -1].isna().any():
            self._refuse_short_rows(frame)
        return frame

    def _refuse_short_rows(self, frame):
        """pandas reads a row with too few fields (a file cut off mid-row, a
        ragged line) as missing values; name it instead, whatever the
        model's missing-value policy. Only rows whose last field is empty
        can be short, so only they are looked at."""
        lines = [line for line in bytes(self.body).split(b"\n") if line.strip()]
        if len(lines) != len(frame):
            return  # blank or odd lines: the row positions are not known here
        for position in np.flatnonzero(frame.iloc[:, -1].isna().to_numpy()):
            text = lines[position].decode("utf-8", errors="replace").rstrip("\r")
            fields = len(next(csv.reader([text], delimiter=self.sep)))
            if fields < len(self.names):
                row = self.first_row + int(position)
                raise InputError(
                    f"{self.path}: row {row} (line {row + 2} of the file) has {fields} of "
                    f"the header's {len(self.names)} fields: the row is truncated (was "
                    "the file cut off?) or lacks fields. Fix or drop the row."
                )

    def _locate(self, message):
        """The parser's message, its block-relative line made a file row."""
        found = re.search(r"line (\d+)", message)
        last = self.first_row + self.n_lines - 1
        if not found:
            return f"cannot read the csv data in rows {self.first_row}-{last} ({message})."
        row = self.first_row + int(found.group(1)) - 1
        detail = re.sub(r"\s*in line \d+", "", message).split("C error: ")[-1]
        return f"row {row} (line {row + 2} of the file) is malformed: {detail}."


def check_delimiter(path, names, sep):
    """Refuse a header that reads as one field but holds another common
    delimiter: the file is not separated by ``sep``."""
    if len(names) != 1:
        return
    for other in (";", "\t", "|", ","):
        if other != sep and other in names[0]:
            shown = "\\t" if other == "\t" else other
            raise InputError(
                f"{path}: the header reads as one column, {names[0][:60]!r}; the file seems "
                f"to use {shown!r} between fields: pass --sep '{shown}'."
            )


def open_csv_blocks(path, *, block_bytes=16 * 2**20, dtypes=None, sep=","):
    """Read a CSV file as blocks of whole lines, for parsing in parallel.

    Returns ``(header, blocks)``: the header line as bytes, and an iterator
    of :class:`CsvBlock` of about ``block_bytes`` each. Like pyarrow's
    parallel CSV reader, this assumes that quoted values hold no line breaks.
    """
    source = _source(path)
    with open(source, "rb") as handle:
        line = handle.readline()
    # a UTF-8 byte-order mark is not part of the first name (pandas drops it too)
    header = line.removeprefix(codecs.BOM_UTF8)
    if not header.strip():
        raise InputError(f"{path} holds no data.")
    if line.startswith(b"PAR1"):
        raise InputError(
            f"{path} is a Parquet file, not CSV; drop --format csv or pass --format parquet."
        )
    try:
        names = next(csv.reader([header.decode("utf-8")], delimiter=sep))
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: the header line is not UTF-8 text ({exc}); save the file as UTF-8 "
            "CSV, or pass --format if it is Parquet or JSON Lines."
        ) from None
    except csv.Error as exc:
        raise InputError(
            f"{path}: the first line is not a CSV header ({exc}); is the file of another "
            "format? Pass --format parquet or jsonl."
        ) from None
    check_delimiter(path, names, sep)
    return header, _csv_blocks(path, len(line), names, block_bytes, dtypes, sep)


def _csv_blocks(path, skip, names, block_bytes, dtypes, sep):
    first_row, rest = 0, b""
    pool = BufferPool()
    with open(path, "rb") as handle:
        handle.seek(skip)
        while True:
            # read into a reused buffer, after the previous block's unended line
            buffer = pool.take(len(rest) + block_bytes)
            view = memoryview(buffer)
            view[: len(rest)] = rest
            got = handle.readinto(view[len(rest) : len(rest) + block_bytes])
            if not got:
                pool.give(buffer)
                break
            end = len(rest) + got
            cut = buffer.rfind(b"\n", 0, end) + 1
            rest = bytes(view[cut:end])
            if not cut:
                pool.give(buffer)  # no line ended yet: read on
                continue
            lines, ascii = count_lines(buffer, cut)
            release = functools.partial(pool.give, buffer)
            block = CsvBlock(path, names, view[:cut], first_row, dtypes, lines, release, sep)
            block.ascii = ascii
            yield block
            first_row += lines
    if rest.strip():
        yield CsvBlock(path, names, rest + b"\n", first_row, dtypes, sep=sep)
        first_row += 1
    if first_row == 0:
        raise InputError(f"{path} holds no rows.")


@numba.njit(nogil=True, cache=True)
def _splice(body, extra, out):
    """Each line of ``body`` (without its line end, CR included), a comma,
    then the same line of ``extra`` (with its line end), in one pass.
    Returns the bytes used, or -1 if ``extra`` runs out of lines first."""
    i = j = k = 0
    n_body, n_extra = body.shape[0], extra.shape[0]
    while i < n_body:
        start = i
        while body[i] != 10:
            i += 1
        stop = i - 1 if i > start and body[i - 1] == 13 else i
        for t in range(start, stop):
            out[k] = body[t]
            k += 1
        out[k] = 44
        k += 1
        if j >= n_extra:
            return -1
        while extra[j] != 10:
            out[k] = extra[j]
            k += 1
            j += 1
        out[k] = 10
        k += 1
        j += 1
        i += 1
    return k if j == n_extra else -1


_buffers = threading.local()


def splice_csv_lines(body, extra):
    r"""Append each line of CSV text ``extra`` to the same line of ``body``
    (both bytes-like, one line per row, every line ended): the input's own
    text is written back unchanged, with no float formatting. Returns a
    memoryview of a per-thread buffer, valid until the thread's next call.

    >>> bytes(splice_csv_lines(b"1,2\n3,4\r\n", b"a\nb\n"))
    b'1,2,a\n3,4,b\n'
    """
    body_arr = np.frombuffer(body, dtype=np.uint8)
    extra_arr = np.frombuffer(extra, dtype=np.uint8)
    # the kernel scans to each line feed: an unended last line would run off
    for name, arr in (("body", body_arr), ("extra", extra_arr)):
        if arr.shape[0] and arr[-1] != 10:
            raise ValueError(f"splice_csv_lines needs every line of {name} ended by a line feed")
    # one comma per line, and every extra line holds at least its line feed
    size = body_arr.shape[0] + 2 * extra_arr.shape[0]
    out = getattr(_buffers, "out", None)
    if out is None or out.shape[0] < size:
        # reused between blocks: fresh pages cost more than the copy
        out = _buffers.out = np.empty(int(size * 1.25), dtype=np.uint8)
    used = _splice(body_arr, extra_arr, out)
    if used < 0:
        raise ValueError("splice_csv_lines needs as many lines in extra as in body")
    return memoryview(out)[:used]


def _apply_dtypes(frame, dtypes):
    if dtypes:
        for name, dtype in dtypes.items():
            if name in frame.columns:
                frame[name] = frame[name].astype(dtype)
    return frame


def _first_line(exc):
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def read_table(path, *, fmt=None, dtypes=None, sep=","):
    """Read a whole table into a DataFrame."""
    frames = list(iter_tables(path, chunksize=1_000_000, fmt=fmt, dtypes=dtypes, sep=sep))
    return frames[0] if len(frames) == 1 else pd.concat(frames)


def select_columns(frame, columns=None, exclude=None):
    """Keep ``columns`` (in that order), or all but ``exclude``; unknown names
    are an error that lists what the file holds."""
    known = [str(c) for c in frame.columns]
    for requested in (columns or [], exclude or []):
        unknown = [c for c in requested if c not in known]
        if unknown:
            raise InputError(
                f"unknown column(s) {', '.join(map(repr, unknown))}; the data has: "
                + ", ".join(map(repr, known))
            )
    if columns:
        frame = frame[list(columns)]
    if exclude:
        frame = frame.drop(columns=list(exclude))
    if frame.shape[1] == 0:
        raise InputError("no columns left to use after --columns/--exclude.")
    return frame
