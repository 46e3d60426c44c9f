"""Files in and out: CSV, Parquet and JSON Lines, or ``-`` for standard
input/output. Reading can go in chunks so memory stays flat; writing goes to
a temporary name that is renamed on success, so a failed run never leaves a
half-written output behind.
"""

import io as _io
import os
import sys
import tempfile

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .exceptions import InputError

__all__ = ["FORMATS", "TableWriter", "detect_format", "iter_tables", "read_table", "select_columns"]

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
                source = _io.BytesIO(source.read())
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
            self._handle = sys.stdout
        else:
            folder = os.path.dirname(os.path.abspath(self.path))
            if not os.path.isdir(folder):
                raise InputError(f"{self.path}: the folder {folder} does not exist.")
            fd, self._tmp = tempfile.mkstemp(prefix=".farout-", suffix=".part", dir=folder)
            mode = "wb" if self.fmt == "parquet" else "w"
            self._handle = os.fdopen(fd, mode, **({} if mode == "wb" else {"newline": ""}))
        return self

    def write(self, frame):
        if self.fmt == "csv":
            frame.to_csv(self._handle, header=self._header, index=False)
        elif self.fmt == "jsonl":
            text = frame.to_json(orient="records", lines=True)
            self._handle.write(text if text.endswith("\n") or not text else text + "\n")
        else:
            # Object columns become strings so every chunk has one schema.
            for name in frame.columns:
                if frame[name].dtype == object:
                    frame = frame.assign(**{name: frame[name].astype("string")})
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self._handle, table.schema)
            self._parquet.write_table(self._conform(table, frame))
        self._header = False

    def _conform(self, table, frame):
        """Cast a chunk to the file's schema (set by the first chunk), or say
        which column changed type."""
        schema = self._parquet.schema
        try:
            return table.cast(schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            for field in schema:
                new = table.schema.field(field.name).type
                if new != field.type:
                    raise InputError(
                        f"{self.path}: column {field.name!r} is {field.type} in the first chunk "
                        f"but {new} near row {frame.index[0]}; Parquet needs one type per "
                        "column. Write CSV or JSON Lines, or use a larger --chunksize."
                    ) from None
            raise

    def __exit__(self, exc_type, exc, tb):
        if self._parquet is not None:
            self._parquet.close()
        if self.path == "-":
            self._handle.flush()
            return False
        self._handle.close()
        if exc_type is None:
            readable_by_others(self._tmp)
            os.replace(self._tmp, self.path)
        else:
            os.unlink(self._tmp)
        return False
