"""The compiled CSV kernels against their references: pandas' parser and
Python's float for numbers, Arrow's CSV writer for the spliced results."""

import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import farout.jobs.blocks
import farout.jobs.scoring
from farout import KMeansAnomalyDetector
from farout._kernels.csv import count_lines, format_scores, parse_numbers, splice_results
from farout.exceptions import InputError
from farout.jobs import score_file
from farout.thresholds import Percentile


def _pandas(text, n_columns):
    return pd.read_csv(io.BytesIO(text), header=None).iloc[:, :n_columns].to_numpy(np.float64)


def test_numbers_in_many_spellings_equal_pandas(rng):
    X = rng.standard_normal((2000, 6)) * 10.0 ** rng.integers(-8, 9, (2000, 6))
    lines = []
    for row in X:
        lines.append(
            ",".join(
                [
                    str(np.float32(row[0])),
                    f"{row[1]:.3f}",
                    f"{row[2]:.6e}",
                    f"{row[3]:+.2E}",
                    str(int(row[4])),
                    f"{row[5]:.0f}.",
                ]
            )
        )
    text = ("\n".join(lines) + "\n").encode()
    got = parse_numbers(text, 2000, list(range(6)))
    np.testing.assert_array_equal(got, _pandas(text, 6))


def test_long_and_huge_numbers_are_correctly_rounded(rng):
    # float64 repr: up to 17 significant digits, and exponents far past 22
    X = rng.standard_normal((500, 3)) * 10.0 ** rng.integers(-300, 300, (500, 3))
    text = ("\n".join(",".join(repr(float(v)) for v in row) for row in X) + "\n").encode()
    np.testing.assert_array_equal(parse_numbers(text, 500, [0, 1, 2], max_slow=1500), X)


@settings(max_examples=300, deadline=None)
@given(
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(["r", ".3g", ".9e", ".2f"])
)
def test_any_float_text_parses_as_python_float(value, spec):
    text = (repr(value) if spec == "r" else format(value, spec)).encode()
    got = parse_numbers(text + b",x\n", 1, [0, -1], max_slow=1)
    assert got is not None and got[0, 0] == float(text)
    # "-0" is an integer to pandas (0), any other spelling keeps the sign
    negative_zero = np.signbit(float(text)) and text != b"-0"
    assert np.signbit(got[0, 0]) == negative_zero


def test_skipped_fields_empty_fields_and_crlf():
    text = b"1.5,hello world,2\r\n,x,-0.0\r\n"
    got = parse_numbers(text, 2, [0, -1, 1])
    assert got[0].tolist() == [1.5, 2.0]
    assert np.isnan(got[1, 0]) and got[1, 1] == 0 and np.signbit(got[1, 1])


@pytest.mark.parametrize(
    "text",
    [
        b'1,"2"\n',  # quoted number
        b"1,NA\n",  # a missing-value word
        b"1,nan\n",
        b"1, 2\n",  # a space
        b"1,2,3\n",  # too many fields
        b"1\n",  # too few
        b"1,2\n\n",  # a blank line
        b"1,-\n",  # a lone sign
        b"1,1e\n",  # an exponent without digits
        b"1,0x10\n",
        b'1,2\n3,4\n"a,b",5\n',
    ],
)
def test_anything_but_plain_numbers_is_left_to_pandas(text):
    assert parse_numbers(text, text.count(b"\n"), [0, 1]) is None


@pytest.mark.parametrize("text", [b"1\n\n2\n", b"1\n2\n\n", b"1\r\n\r\n2\r\n"])
def test_a_blank_line_of_a_one_column_file_is_left_to_pandas(text):
    # one field per line: an empty line is not an empty field (pandas skips it)
    assert parse_numbers(text, text.count(b"\n"), [0]) is None


def test_more_lines_than_counted_is_refused_not_written_past_the_array():
    assert parse_numbers(b"1,2\n3,4\n5,6\n", 2, [0, 1]) is None


def test_a_skipped_field_may_hold_any_unquoted_text():
    got = parse_numbers(b"a b;c,1\n", 1, [-1, 0])
    assert got.tolist() == [[1.0]]
    assert parse_numbers(b'"a",1\n', 1, [-1, 0]) is None


def test_too_many_slow_numbers_give_up():
    text = b"0.12345678901234567,1\n" * 10
    assert parse_numbers(text, 10, [0, 1], max_slow=5) is None
    assert parse_numbers(text, 10, [0, 1], max_slow=10)[0, 0] == 0.12345678901234567


def test_count_lines():
    data = bytearray(b"a\nb\nc")
    assert count_lines(data, len(data)) == (2, True) and count_lines(data, 2) == (1, True)
    assert count_lines(bytearray("é\n".encode()), 3) == (1, False)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=40))
def test_scores_are_written_as_shortest_round_trip_text(values):
    data, offsets = format_scores(np.array(values))
    texts = [bytes(data[a:b]).decode() for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    assert [float(t) for t in texts] == values

    def digits(text):  # significant digits, whatever the notation
        return text.lower().split("e")[0].replace("-", "").replace(".", "").strip("0")

    # the digits of Python's repr (orjson may spell 1e-05 as 0.00001 or 1e-7)
    assert [digits(t) for t in texts] == [digits(repr(v)) for v in values]


def test_non_finite_scores_are_written_as_arrow_writes_them():
    data, offsets = format_scores(np.array([1.5, np.nan, np.inf]))
    texts = [bytes(data[a:b]) for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    assert texts == [b"1.5", b"nan", b"inf"]


def test_splice_matches_the_arrow_writer_layout():
    body = b"1,2\n3,4\r\n5,6\n"
    buffer, used = splice_results(
        body,
        [0.5, 1.25, 7.0],
        [False, True, True],
        [-1, 1, 0],
        ["low", 'hi"gh'],
        [3, 0, 12],
        [-1, 0, 1],
        ["a, b", ""],
        buffer=bytearray(4),  # too small: a new one is made
    )
    assert bytes(buffer[:used]) == (
        b'1,2,0.5,false,,3,\n3,4,1.25,true,"hi""gh",0,"a, b"\n5,6,7.0,true,"low",12,\n'
    )
    with pytest.raises(ValueError, match="one line of body per row"):
        splice_results(b"1\n", [1.0, 2.0], [0, 0], [-1, -1], [], [0, 0], [-1, -1], [])


@pytest.fixture
def scored_pair(rng, tmp_path, monkeypatch):
    """Score a file with the compiled paths and with the general ones."""
    frame = pd.DataFrame(rng.normal(size=(3000, 3)), columns=["a", "b", "c"])
    frame.loc[::300, "a"] += 9.0
    frame["note"] = [f"n{i}" for i in range(3000)]
    det = KMeansAnomalyDetector(
        3, random_state=0, tiers={"watch": Percentile(98.0), "act": Percentile(99.5)}
    )
    det.fit(frame[["a", "b", "c"]])
    monkeypatch.setattr(farout.jobs.blocks, "CSV_BLOCK_BYTES", 8192)

    def run(suffix_in, suffix_out, **kwargs):
        src = tmp_path / f"in.{suffix_in}"
        if not src.exists():
            frame.to_csv(src, index=False) if suffix_in == "csv" else frame.to_parquet(src)
        fast, slow = tmp_path / f"fast.{suffix_out}", tmp_path / f"slow.{suffix_out}"
        score_file(det, src, fast, progress=False, chunksize=700, **kwargs)
        with monkeypatch.context() as patch:
            patch.setattr(farout.jobs.scoring, "_numeric_plan", lambda *a: None)
            patch.setattr(farout.jobs.scoring, "_score_arrow", lambda *a: None)
            score_file(det, src, slow, progress=False, chunksize=700, **kwargs)
        return fast, slow

    return run


@pytest.mark.parametrize("reasons", ["flagged", "all", "none"])
def test_compiled_csv_path_writes_what_the_general_path_writes(scored_pair, reasons):
    fast, slow = scored_pair("csv", "csv", reasons=reasons)
    a, b = pd.read_csv(fast), pd.read_csv(slow)
    pd.testing.assert_frame_equal(a, b)
    assert a["severity"].notna().any()


def test_arrow_path_writes_what_the_general_path_writes(scored_pair):
    fast, slow = scored_pair("parquet", "parquet")
    a, b = pd.read_parquet(fast), pd.read_parquet(slow)
    pd.testing.assert_frame_equal(a, b)
    assert a["severity"].notna().any() and (a["reason"] != "").any()


def test_csv_with_missing_values_still_names_them(tmp_path, rng):
    frame = pd.DataFrame(rng.normal(size=(200, 2)), columns=["a", "b"])
    det = KMeansAnomalyDetector(2, random_state=0).fit(frame)
    frame.loc[150, "b"] = np.nan
    src = tmp_path / "in.csv"
    frame.to_csv(src, index=False)
    with pytest.raises(InputError, match="column 'b' has 1 missing"):
        score_file(det, src, tmp_path / "out.csv", progress=False)


@pytest.mark.parametrize(
    "text", [b"1" + b"0" * 70, b"0." + b"0" * 30 + b"1", b"-000123.4500", b"9" * 25, b"1e-400"]
)
def test_mantissa_overflow_and_zeros_read_as_python_float(text):
    # 10**64 wraps a 64-bit mantissa to zero: it must not read as 0
    got = parse_numbers(text + b"\n", 1, [0], max_slow=1)
    assert got[0, 0] == float(text)


@pytest.mark.parametrize(
    "text",
    [
        "a\n1\n2\n3\n\n",  # a trailing blank line, one column
        "a,b,c\n-0,0,0\n1,2,3\n-0,500,1000\n",  # "-0" in a column of integers
        "a,b,c\n-0.0,0,0\n1,2,3\n-0.0,500,1000\n",
    ],
)
def test_edge_files_score_the_same_on_both_paths(tmp_path, monkeypatch, text):
    names = text.split("\n")[0].split(",")
    rng = np.random.default_rng(0)
    det = KMeansAnomalyDetector(2, random_state=0, missing="impute")
    det.fit(pd.DataFrame(rng.normal(size=(300, len(names))), columns=names))
    src = tmp_path / "in.csv"
    src.write_text(text)
    score_file(det, src, tmp_path / "fast.csv", reasons="all", progress=False)
    monkeypatch.setattr(farout.jobs.scoring, "_numeric_plan", lambda *a: None)
    score_file(det, src, tmp_path / "slow.csv", reasons="all", progress=False)
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "fast.csv"), pd.read_csv(tmp_path / "slow.csv")
    )


def test_text_that_is_not_utf8_fails_on_both_paths(tmp_path, rng):
    frame = pd.DataFrame(rng.normal(size=(50, 2)), columns=["a", "b"])
    det = KMeansAnomalyDetector(2, random_state=0).fit(frame)
    src = tmp_path / "in.csv"
    src.write_bytes("a,b,name\n1,2,José\n3,4,x\n".encode("latin-1"))
    with pytest.raises(InputError, match="utf-8"):
        score_file(det, src, tmp_path / "out.csv", progress=False)
