import io
import os

import numpy as np
import pandas as pd
import pytest

from farout import InputError
from farout.io import TableWriter, iter_tables, read_table, select_columns


def test_chunks_keep_file_row_numbers(tmp_path):
    path = tmp_path / "x.csv"
    pd.DataFrame({"a": range(10)}).to_csv(path, index=False)
    chunks = list(iter_tables(path, chunksize=4))
    assert [list(c.index) for c in chunks] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_parquet_chunks_keep_row_numbers(tmp_path):
    path = tmp_path / "x.parquet"
    pd.DataFrame({"a": range(10)}).to_parquet(path)
    assert list(pd.concat(iter_tables(path, chunksize=3)).index) == list(range(10))


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("empty.csv", "", "is empty"),
        ("header.csv", "a,b\n", "no rows|no data"),
        ("ragged.csv", "a,b\n1,2\n3,4,5\n", "cannot read the csv data"),
        ("x.xlsx", "a", "cannot tell the format"),
    ],
)
def test_bad_files_give_clear_errors(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InputError, match=match):
        read_table(path)


def test_select_columns_names_unknown():
    frame = pd.DataFrame({"a": [1], "b": [2]})
    assert list(select_columns(frame, exclude=["b"]).columns) == ["a"]
    with pytest.raises(InputError, match="unknown column.*'c'.*the data has: 'a', 'b'"):
        select_columns(frame, columns=["c"])


def test_writer_leaves_nothing_on_failure(tmp_path):
    out = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError), TableWriter(out) as writer:
        writer.write(pd.DataFrame({"a": [1]}))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_parquet_writer_unifies_chunk_schemas(tmp_path):
    out = tmp_path / "out.parquet"
    with TableWriter(out) as writer:
        writer.write(pd.DataFrame({"s": [None, None]}, dtype=object))
        writer.write(pd.DataFrame({"s": ["x", None]}, dtype=object))
    assert pd.read_parquet(out)["s"].tolist()[2] == "x"


def test_parquet_writer_names_a_column_that_changes_type(tmp_path):
    out = tmp_path / "out.parquet"
    with (
        pytest.raises(InputError, match="column 'x' is double in the first chunk"),
        TableWriter(out) as writer,
    ):
        writer.write(pd.DataFrame({"x": [np.nan, np.nan]}))
        writer.write(pd.DataFrame({"x": ["text", None]}, index=[2, 3]))
    assert not out.exists()


@pytest.mark.skipif(not hasattr(os, "O_DIRECT"), reason="O_DIRECT is Linux only")
def test_direct_file_writes_every_byte_in_order(tmp_path, monkeypatch):
    from farout import writer as fio

    monkeypatch.setattr(fio._DirectFile, "_STAGE", 3 * 4096)  # many drains
    path = tmp_path / "out.bin"
    path.touch()
    try:
        handle = io.BufferedWriter(fio._DirectFile(str(path)), buffer_size=1000)
    except OSError:
        pytest.skip("this file system refuses O_DIRECT")
    rng = np.random.default_rng(0)
    chunks = [
        rng.integers(0, 256, size, dtype=np.uint8).tobytes() for size in rng.integers(0, 20_000, 40)
    ]
    for chunk in chunks:
        handle.write(chunk)
    handle.write(b"text too\n")
    assert handle.tell() == sum(map(len, chunks)) + 9  # Arrow's Parquet writer asks
    handle.close()
    assert path.read_bytes() == b"".join(chunks) + b"text too\n"


@pytest.mark.skipif(not hasattr(os, "O_DIRECT"), reason="O_DIRECT is Linux only")
def test_parquet_output_past_the_page_cache_reads_back(tmp_path, monkeypatch, rng):
    from farout import writer as fio

    monkeypatch.setattr(fio._DirectFile, "_STAGE", 3 * 4096)  # many drains
    probe = tmp_path / "probe"
    probe.touch()
    try:
        fio._DirectFile(str(probe)).close()
    except OSError:
        pytest.skip("this file system refuses O_DIRECT")
    frames = [
        pd.DataFrame({"x": rng.normal(size=n), "kind": rng.choice(["a", "b"], n)})
        for n in (5000, 1, 3333)
    ]
    out = tmp_path / "out.parquet"
    with fio.TableWriter(out) as writer:
        assert isinstance(writer._handle.raw, fio._DirectFile)
        for frame in frames:
            writer.write(frame)
    pd.testing.assert_frame_equal(
        pd.read_parquet(out), pd.concat(frames, ignore_index=True), check_dtype=False
    )


def test_output_falls_back_to_a_buffered_file_without_o_direct(tmp_path, monkeypatch):
    from farout import writer as fio

    monkeypatch.delattr(os, "O_DIRECT", raising=False)
    out = tmp_path / "out.csv"
    with fio.TableWriter(out) as writer:
        writer.write(pd.DataFrame({"a": [1, 2]}))
    assert pd.read_csv(out)["a"].tolist() == [1, 2]


@pytest.mark.skipif(not hasattr(os, "O_DIRECT"), reason="O_DIRECT is Linux only")
@pytest.mark.parametrize("name", ["out.csv", "out.parquet"])
def test_a_full_disk_is_reported_and_leaves_nothing_behind(tmp_path, monkeypatch, name):
    import errno
    import gc

    from farout import writer as fio

    monkeypatch.setattr(fio._DirectFile, "_STAGE", 3 * 4096)  # many drains
    real_write = os.write

    def full_disk(fd, data):  # the output's writes fail past 20 KB
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".part") and os.lseek(fd, 0, 1) > 20_000:
            del data  # as os.write, keep no view of the buffer in the traceback
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(fio.os, "write", full_disk)
    frame = pd.DataFrame({"x": np.arange(20_000.0), "y": np.arange(20_000.0) * 2})
    out = tmp_path / name
    with pytest.raises(OSError, match="No space left"):
        with fio.TableWriter(out) as writer:
            if isinstance(writer._handle, io.BufferedWriter) and not isinstance(
                writer._handle.raw, fio._DirectFile
            ):
                pytest.skip("this file system refuses O_DIRECT")
            for start in range(0, len(frame), 5000):
                writer.write(frame.iloc[start : start + 5000])
    monkeypatch.setattr(fio.os, "write", real_write)
    assert os.listdir(tmp_path) == []  # no output, no temporary file
    # the failed file's descriptor was closed once: a file opened since stays open
    other = open(tmp_path / "other.txt", "w")  # noqa: SIM115
    gc.collect()
    other.write("still open")
    other.close()
    assert (tmp_path / "other.txt").read_text() == "still open"
