"""The table formats farout reads and writes, and how a path names one."""

import os

from .exceptions import InputError

__all__ = ["EXTENSIONS", "FORMATS", "detect_format"]

FORMATS = ("csv", "parquet", "jsonl")
EXTENSIONS = {
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
    if ext not in EXTENSIONS:
        raise InputError(
            f"{path}: cannot tell the format from the extension {ext!r}; use .csv, "
            ".parquet or .jsonl, or pass --format."
        )
    return EXTENSIONS[ext]
