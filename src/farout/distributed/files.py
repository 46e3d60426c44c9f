"""The command line's files on Dask: a folder of Parquet files or a glob of
CSV files in, a folder of Parquet partitions out (each under a temporary
name until complete, the folder too)."""

import glob
import os

import dask
import pyarrow as pa
import pyarrow.parquet as pq

from ..exceptions import InputError
from ..io import select_columns
from ..outputs import (
    discard_output,
    finish_folder,
    finish_output,
    temporary_folder,
    temporary_output,
)

__all__ = ["data_files", "read_dask", "write_parquet_folder"]


def data_files(path):
    """The files ``path`` names, in name order: a folder's ``*.parquet``
    files, a glob's matches, or the one file; an error naming ``path`` when
    there are none."""
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(glob.escape(path), "*.parquet")))
        if not files:
            raise InputError(
                f"{path}: the folder holds no *.parquet file; give a folder of Parquet "
                "files or a glob of CSV files (quoted, e.g. 'data/*.csv')."
            )
        return files
    files = sorted(glob.glob(path)) if glob.has_magic(path) else [path]
    files = [f for f in files if os.path.isfile(f)]
    if not files:
        raise InputError(
            f"{path}: no such file, and no file matches it; give a folder of Parquet files "
            "or a glob of CSV files (quoted, e.g. 'data/*.csv')."
        )
    return files


def read_dask(path, *, sep=",", dtypes=None, columns=None, exclude=None, blocksize="64MB"):
    """A Dask DataFrame of the rows of the files ``path`` names
    (:func:`data_files`), file after file: Parquet files one partition per
    row group as Dask reads them, CSV files in blocks of ``blocksize``;
    ``dtypes`` forces CSV columns' types; ``columns`` / ``exclude`` select
    columns by name."""
    import dask.dataframe as dd

    files = data_files(path)
    kinds = {os.path.splitext(f)[1].lower() for f in files}
    if kinds == {".parquet"}:
        frame = dd.read_parquet(files)
    elif kinds <= {".csv", ".txt", ".tsv"}:
        frame = dd.read_csv(files, sep=sep, dtype=dtypes or None, blocksize=blocksize)
    else:
        raise InputError(
            f"{path}: the files are {', '.join(sorted(kinds))}; with --dask, DATA is Parquet "
            "(a folder or files ending .parquet) or CSV (.csv), one kind at a time."
        )
    return select_columns(frame, columns, exclude)


def write_parquet_folder(frame, path, count=None):
    """Write Dask DataFrame ``frame`` into the new folder ``path``, one
    ``part-NNNNN.parquet`` per partition, each written under a temporary
    name and renamed, inside a temporary folder renamed to ``path`` once
    every partition is written: a failed job leaves nothing behind.
    ``count(partition)`` gives each partition's tally (e.g. rows flagged),
    summed over the partitions; returns ``(rows, tally)``. The workers
    write the files: ``path`` must be on a file system they share."""
    tmp = temporary_folder(path)
    width = max(5, len(str(frame.npartitions)))
    try:
        written = [
            dask.delayed(_write_partition, pure=False)(
                part, tmp, f"part-{i:0{width}d}.parquet", count
            )
            for i, part in enumerate(frame.to_delayed())
        ]
        tallies = dask.compute(*written)
        finish_folder(tmp, path)
    except BaseException:
        discard_output(tmp)
        raise
    return sum(t[0] for t in tallies), sum(t[1] for t in tallies)


def _write_partition(partition, folder, name, count):
    fd, tmp = temporary_output(os.path.join(folder, name))
    os.close(fd)
    try:
        table = pa.Table.from_pandas(partition, preserve_index=False)
        pq.write_table(table, tmp)
        finish_output(tmp, os.path.join(folder, name))
    except BaseException:
        discard_output(tmp)
        raise
    return len(partition), 0 if count is None else int(count(partition))
