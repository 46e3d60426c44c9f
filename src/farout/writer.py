"""Files out: CSV, Parquet and JSON Lines, or ``-`` for standard output.
Writing goes to a temporary name that is renamed on success, so a failed
run never leaves a half-written output behind.
"""

import io
import mmap
import os
import sys

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .exceptions import InputError
from .formats import EXTENSIONS, detect_format
from .outputs import discard_output, finish_output, temporary_output

__all__ = ["TableWriter", "jsonl_records"]


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
        if fmt is None and path != "-" and os.path.splitext(str(path).lower())[1] not in EXTENSIONS:
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
            fd, self._tmp = temporary_output(self.path)
            os.close(fd)
            self._handle = _open_output(self._tmp, self.fmt)
        return self

    def write(self, frame):
        if self.fmt == "csv":
            # booleans as true/false, as the Arrow writer and JSON spell them
            flags = [name for name in frame.columns if frame[name].dtype == bool]
            if flags:
                words = {name: np.where(frame[name], "true", "false") for name in flags}
                frame = frame.assign(**words)
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
            discard_output(self._tmp)  # e.g. a full disk: no half-written file left
            raise
        if exc_type is None:
            finish_output(self._tmp, self.path)
        else:
            discard_output(self._tmp)
        return False
