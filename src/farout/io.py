"""Files in and out: CSV, Parquet and JSON Lines, or ``-`` for standard
input/output. Reading can go in chunks so memory stays flat; writing goes to
a temporary name that is renamed on success, so a failed run never leaves a
half-written output behind.
"""

import csv
import functools
import io
import mmap
import os
import queue
import re
import sys
import tempfile
import threading

import numba
import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ._kernels.csv import count_lines
from .exceptions import InputError

__all__ = [
    "FORMATS",
    "BufferPool",
    "CsvBlock",
    "TableWriter",
    "detect_format",
    "open_csv_blocks",
    "iter_tables",
    "read_table",
    "select_columns",
    "splice_csv_lines",
]

FORMATS = ("csv", "parquet", "jsonl")
_EXTENSIONS = {
    ".csv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


def detect_format(path, fmt=None):
    """The table format of ``path``: from ``fmt`` if given, else its extension
    (``-`` means CSV)."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise InputError(f"format must be one of {FORMATS}, got {fmt!r}.")
        return fmt
    if path == "-":
        return "csv"
    name = os.fspath(path).lower()
    if name.endswith(".gz"):
        name = name[:-3]
    ext = os.path.splitext(name)[1]
    if ext not in _EXTENSIONS:
        raise InputError(
            f"{path}: cannot tell the format from the extension {ext!r}; use .csv, "
            ".parquet or .jsonl, or pass --format."
        )
    return _EXTENSIONS[ext]


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


def iter_tables(path, *, chunksize=100_000, fmt=None, dtypes=None):
    """Yield DataFrames of at most ``chunksize`` rows, indexed by row number
    in the file (0-based, continuing across chunks).

    ``dtypes`` maps column names to dtypes to force (e.g. ``str`` for a
    categorical column whose values look like numbers).
    """
    fmt = detect_format(path, fmt)
    source = _source(path)
    offset = 0
    try:
        if fmt == "parquet":
            if source is sys.stdin.buffer:
                source = io.BytesIO(source.read())
            reader = pq.ParquetFile(source)
            for batch in reader.iter_batches(batch_size=chunksize):
                frame = batch.to_pandas()
                frame.index = pd.RangeIndex(offset, offset + len(frame))
                offset += len(frame)
                yield _apply_dtypes(frame, dtypes)
            return
        if fmt == "csv":
            chunks = pd.read_csv(source, chunksize=chunksize, dtype=dtypes)
        else:
            chunks = pd.read_json(source, lines=True, chunksize=chunksize, dtype=dtypes)
        for frame in chunks:
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

    def __init__(self, path, names, body, first_row, dtypes, n_lines=None, release=None):
        self.path, self.names, self.body = path, names, body
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
                io.BytesIO(self.body), header=None, names=self.names, dtype=self.dtypes
            )
        except pd.errors.EmptyDataError:
            frame = pd.DataFrame(columns=self.names)
        except (pd.errors.ParserError, ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"{self.path}: {self._locate(_first_line(exc))}") from None
        frame.index = pd.RangeIndex(self.first_row, self.first_row + len(frame))
        return frame

    def _locate(self, message):
        """The parser's message, its block-relative line made a file row."""
        found = re.search(r"line (\d+)", message)
        last = self.first_row + self.n_lines - 1
        if not found:
            return f"cannot read the csv data in rows {self.first_row}-{last} ({message})."
        row = self.first_row + int(found.group(1)) - 1
        detail = re.sub(r"\s*in line \d+", "", message).split("C error: ")[-1]
        return f"row {row} (line {row + 2} of the file) is malformed: {detail}."


def open_csv_blocks(path, *, block_bytes=16 * 2**20, dtypes=None):
    """Read a CSV file as blocks of whole lines, for parsing in parallel.

    Returns ``(header, blocks)``: the header line as bytes, and an iterator
    of :class:`CsvBlock` of about ``block_bytes`` each. Like pyarrow's
    parallel CSV reader, this assumes that quoted values hold no line breaks.
    """
    source = _source(path)
    with open(source, "rb") as handle:
        header = handle.readline()
    if not header.strip():
        raise InputError(f"{path} holds no data.")
    names = next(csv.reader([header.decode("utf-8", errors="replace")]))
    return header, _csv_blocks(path, len(header), names, block_bytes, dtypes)


def _csv_blocks(path, skip, names, block_bytes, dtypes):
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
            block = CsvBlock(path, names, view[:cut], first_row, dtypes, lines, release)
            block.ascii = ascii
            yield block
            first_row += lines
    if rest.strip():
        yield CsvBlock(path, names, rest + b"\n", first_row, dtypes)
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


def _json_default(value):
    """JSON for what orjson does not know: missing markers become null,
    NumPy scalars their Python value, anything else its text."""
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "isoformat"):  # pandas Timestamp and Timedelta
        return value.isoformat()
    return str(value)


def jsonl_records(frame):
    """A DataFrame as JSON Lines bytes, one object per row, every float
    written as its shortest round-trip text (orjson's Ryu), so reading the
    file back gives the same numbers. (pandas' ``to_json`` rounds floats to
    at most 15 significant digits, 10 by default.) NaN and inf become
    null, as in pandas; datetimes are ISO 8601 text.

    >>> jsonl_records(pd.DataFrame({"x": [1.23456e-12, 0.1 + 0.2], "s": ["a", None]}))
    b'{"x":1.23456e-12,"s":"a"}\\n{"x":0.30000000000000004,"s":null}\\n'
    """
    names = [str(name) for name in frame.columns]
    # Column lists hold Python scalars (exact floats, ints, bools, str)
    columns = [frame.iloc[:, j].tolist() for j in range(frame.shape[1])]
    dumps, default = orjson.dumps, _json_default
    lines = [
        dumps(dict(zip(names, values, strict=True)), default=default)
        for values in zip(*columns, strict=True)
    ]
    return b"\n".join(lines) + b"\n" if lines else b""


def _apply_dtypes(frame, dtypes):
    if dtypes:
        for name, dtype in dtypes.items():
            if name in frame.columns:
                frame[name] = frame[name].astype(dtype)
    return frame


def _first_line(exc):
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def read_table(path, *, fmt=None, dtypes=None):
    """Read a whole table into a DataFrame."""
    frames = list(iter_tables(path, chunksize=1_000_000, fmt=fmt, dtypes=dtypes))
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


def readable_by_others(path):
    """mkstemp creates files 0600; give the final file the permissions a
    plain open() would (0666 less the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


class _DirectFile(io.RawIOBase):
    """A file written past the page cache (``O_DIRECT``), through a
    page-aligned staging buffer; the unaligned tail is written normally on
    close. On this kind of machine a buffered write of 9.8 GB took 31 s of
    kernel time and the same bytes past the cache 0.3 s."""

    _ALIGN = 4096
    _STAGE = 32 * 2**20

    def __init__(self, path):
        self._stage = mmap.mmap(-1, self._STAGE)  # page-aligned, as O_DIRECT needs
        self._used = 0
        self._position = 0  # bytes taken so far: writes only append
        self._fd = os.open(path, os.O_WRONLY | os.O_DIRECT)
        try:  # some file systems accept the flag but refuse the writes
            os.write(self._fd, memoryview(self._stage)[: self._ALIGN])
            os.ftruncate(self._fd, 0)
            os.lseek(self._fd, 0, os.SEEK_SET)
        except OSError:
            os.close(self._fd)
            self._stage.close()
            raise

    def writable(self):
        return True

    def tell(self):
        """Bytes written so far (Arrow's Parquet writer records offsets)."""
        return self._position

    def write(self, data):
        data = memoryview(data).cast("B")
        self._position += len(data)
        done = 0
        while done < len(data):
            take = min(len(data) - done, self._STAGE - self._used)
            self._stage[self._used : self._used + take] = data[done : done + take]
            self._used += take
            done += take
            if self._used == self._STAGE:
                self._drain()
        return len(data)

    def _drain(self):
        """Write the staged bytes up to the last whole page."""
        aligned = self._used - self._used % self._ALIGN
        # released even when a write fails (full disk), so the stage can close
        with memoryview(self._stage) as view:
            written = 0
            while written < aligned:
                written += os.write(self._fd, view[written:aligned])
        self._stage.move(0, aligned, self._used - aligned)
        self._used -= aligned

    def close(self):
        if self.closed:
            return
        try:
            self._drain()
            if self._used:  # the unaligned tail: a plain write
                import fcntl  # POSIX only, as O_DIRECT is

                flags = fcntl.fcntl(self._fd, fcntl.F_GETFL)
                fcntl.fcntl(self._fd, fcntl.F_SETFL, flags & ~os.O_DIRECT)
                with memoryview(self._stage) as view:
                    written = 0
                    while written < self._used:
                        written += os.write(self._fd, view[written : self._used])
        finally:
            # closed once, whatever failed: a second close of the number
            # could close a file opened since
            try:
                os.close(self._fd)
            finally:
                self._stage.close()
                super().close()


def _open_output(path, fmt):
    """A binary handle for the temporary output file: past the page cache
    where the system allows it, else an ordinary buffered file."""
    if getattr(os, "O_DIRECT", None) is not None:
        try:
            return io.BufferedWriter(_DirectFile(path), buffer_size=2**20)
        except OSError:  # e.g. tmpfs refuses O_DIRECT
            pass
    return open(path, "wb")


class TableWriter:
    """Write DataFrames chunk by chunk; the file appears only on success.

    >>> import tempfile, os, pandas as pd
    >>> out = os.path.join(tempfile.mkdtemp(), "out.csv")
    >>> with TableWriter(out) as writer:
    ...     writer.write(pd.DataFrame({"a": [1, 2]}))
    >>> pd.read_csv(out)["a"].tolist()
    [1, 2]
    """

    def __init__(self, path, fmt=None):
        self.path = path
        if str(path).lower().endswith(".gz"):
            raise InputError(
                f"{path}: compressed output is not supported; write .csv, .parquet or .jsonl."
            )
        if (
            fmt is None
            and path != "-"
            and os.path.splitext(str(path).lower())[1] not in _EXTENSIONS
        ):
            raise InputError(f"{path}: name the output .csv, .parquet or .jsonl.")
        self.fmt = detect_format(path, fmt)
        self._handle = None
        self._tmp = None
        self._parquet = None
        self._header = True

    def __enter__(self):
        if self.path == "-":
            self._handle = sys.stdout.buffer
        else:
            folder = os.path.dirname(os.path.abspath(self.path))
            if not os.path.isdir(folder):
                raise InputError(f"{self.path}: the folder {folder} does not exist.")
            fd, self._tmp = tempfile.mkstemp(prefix=".farout-", suffix=".part", dir=folder)
            os.close(fd)
            self._handle = _open_output(self._tmp, self.fmt)
        return self

    def write(self, frame):
        if self.fmt == "csv":
            frame.to_csv(self._handle, header=self._header, index=False)
        elif self.fmt == "jsonl":
            self._handle.write(jsonl_records(frame))
        else:
            # Object columns become strings so every chunk has one schema.
            for name in frame.columns:
                if frame[name].dtype == object:
                    frame = frame.assign(**{name: frame[name].astype("string")})
            self.write_arrow(pa.Table.from_pandas(frame, preserve_index=False), frame.index)
        self._header = False

    def write_csv_lines(self, header, lines):
        """Write CSV text as it is (bytes): ``header`` before the first
        lines only."""
        if self._header:
            self._handle.write(header)
            self._header = False
        self._handle.write(lines)

    def write_arrow(self, table, index):
        """Append an Arrow table to a Parquet output (``index`` names the
        rows in an error)."""
        if self._parquet is None:
            # Dictionary-encode text only: trying it on every float column
            # cost four times the rest of the write, for nothing.
            text = [
                field.name
                for field in table.schema
                if pa.types.is_string(field.type) or pa.types.is_large_string(field.type)
            ]
            self._parquet = pq.ParquetWriter(self._handle, table.schema, use_dictionary=text)
        self._parquet.write_table(self._conform(table, index))
        self._header = False

    def _conform(self, table, index):
        """Cast a chunk to the file's schema (set by the first chunk), or say
        which column changed type."""
        schema = self._parquet.schema
        if table.schema.equals(schema):
            return table
        try:
            return table.cast(schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            for field in schema:
                new = table.schema.field(field.name).type
                if new != field.type:
                    raise InputError(
                        f"{self.path}: column {field.name!r} is {field.type} in the first chunk "
                        f"but {new} near row {index[0]}; Parquet needs one type per "
                        "column. Write CSV or JSON Lines, or use a larger --chunksize."
                    ) from None
            raise

    def __exit__(self, exc_type, exc, tb):
        if self.path == "-":
            if self._parquet is not None:
                self._parquet.close()
            self._handle.flush()
            return False
        try:
            try:
                if self._parquet is not None:
                    self._parquet.close()
            finally:
                self._handle.close()
        except BaseException:
            os.unlink(self._tmp)  # e.g. a full disk: no half-written file left
            raise
        if exc_type is None:
            readable_by_others(self._tmp)
            os.replace(self._tmp, self.path)
        else:
            os.unlink(self._tmp)
        return False
