"""The data audit (farout.audit, farout audit): each planted problem is
reported with its row numbers, clean data gives none, JSON is for
machines."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from farout.cli import main
from farout.data_audit import audit

N = 400


def _clean(seed=0, n=N):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "ts": pd.date_range("2024-03-01", periods=n, freq="min"),
            "temperature": rng.normal(21.0, 1.5, n),
            "amount": rng.lognormal(3.0, 1.0, n),
            "items": rng.integers(1, 6, n),
            "merchant": rng.choice(["grocer", "fuel", "online", "travel"], n),
            "is_fraud": (np.arange(n) % 7 == 0).astype(int),
        }
    )


@pytest.fixture(scope="module")
def planted():
    """A table with one of each problem, and where each was planted."""
    frame = _clean()
    frame["status"] = "ok"  # constant
    humidity = np.random.default_rng(1).normal(55.0, 5.0, N)
    frame["humidity"] = np.where(np.arange(N) % 10 < 7, np.nan, humidity)  # 70% missing
    frame.loc[[17, 120, 333], "temperature"] = -999.0  # a sentinel
    frame["amount"] = frame["amount"].astype(object)
    frame.loc[[40, 41], "amount"] = "n/a"  # text among numbers
    frame.loc[250, "items"] = -2  # a stray negative
    frame.loc[60, "ts"] = frame.loc[59, "ts"]  # a duplicate timestamp
    frame.loc[90, "ts"] = frame.loc[85, "ts"] + pd.Timedelta("30s")  # out of order
    frame.loc[300:, "ts"] += pd.Timedelta("3h")  # a gap of 3 hours after row 299
    frame = pd.concat([frame, frame.iloc[[5, 6]]], ignore_index=True)  # duplicates 400, 401
    frame["ts"] = frame["ts"].dt.strftime("%Y-%m-%d %H:%M:%S")
    frame.loc[200, "ts"] = "not a time"  # unparseable
    return frame


def test_each_planted_problem_is_reported_with_its_rows(planted):
    result = audit(planted, time_column="ts", label="is_fraud")
    table = result.columns
    assert table.loc["status", "constant"] and table.loc["status", "top"] == "ok"
    assert table.loc["humidity", "missing_share"] == pytest.approx(0.7, abs=0.01)
    assert table.loc["humidity", "missing"] == 282  # with the two duplicated rows

    assert result.duplicates.count == 2
    assert result.duplicates.rows == [400, 401] and result.duplicates.originals == [5, 6]

    suspects = {(s.column, s.kind): s for s in result.suspects}
    sentinel = suspects["temperature", "sentinel"]
    assert (sentinel.value, sentinel.count, sentinel.rows) == (-999.0, 3, [17, 120, 333])
    text = suspects["amount", "text"]
    assert (text.value, text.count, text.rows) == ("n/a", 2, [40, 41])
    negative = suspects["items", "negative"]
    assert (negative.count, negative.rows) == (1, [250])
    assert len(result.suspects) == 3  # nothing else is suspect

    time = result.time
    assert (time.unparseable, time.unparseable_rows) == (1, [200])
    assert 60 in time.duplicate_rows
    assert (time.out_of_order, time.out_of_order_rows) == (3, [90, 400, 401])
    assert time.usual_interval == pd.Timedelta("1min")
    assert time.n_gaps == 1
    gap = time.gaps[0]
    assert (gap["after_row"], gap["before_row"]) == (299, 300)
    assert gap["length"] == pd.Timedelta("3h1min")

    problems = "\n".join(result.problems)
    for needle in (
        "column 'status' is constant: every row holds 'ok'",
        "column 'humidity' is missing in 70.1% of the rows (282)",
        "2 duplicate rows, each repeating an earlier row: 400 (= row 5), 401 (= row 6)",
        "column 'temperature': -999 in 3 rows (rows 17, 120, 333), far below the robust range",
        "column 'amount': text 'n/a' in 2 rows (rows 40, 41)",
        "column 'items': a negative value in 1 row (row 250)",
        "time column 'ts': 1 unparseable timestamp: row 200",
        "time column 'ts': 1 gap longer than 5x the usual interval of 1 min",
        "after row 299 (to row 300)",
    ):
        assert needle in problems, needle


def test_clean_data_has_no_problems():
    for seed in range(5):
        result = audit(_clean(seed, n=2_000), time_column="ts", label="is_fraud")
        assert result.problems == [], (seed, result.problems)
        assert result.label.enough


def test_a_sentinel_holding_a_quarter_of_the_rows_is_still_found():
    frame = _clean()
    frame.loc[frame.index % 4 == 0, "temperature"] = 9999.0
    found = [s for s in audit(frame).suspects if s.column == "temperature"]
    assert [(s.value, s.count) for s in found] == [(9999.0, N // 4)]
    assert found[0].rows == [0, 4, 8, 12, 16]


def test_an_unknown_code_repeated_beyond_the_range_is_a_spike_and_a_single_outlier_is_not():
    frame = _clean()
    frame.loc[[3, 30, 300], "temperature"] = 77.7  # repeated: a code
    frame.loc[150, "amount"] = 5_000.0  # one extreme value: perhaps an anomaly, not a code
    found = audit(frame).suspects
    assert [(s.column, s.value, s.rows) for s in found] == [("temperature", 77.7, [3, 30, 300])]


def test_plausible_ranges_and_infinite_values():
    frame = _clean()
    frame.loc[[8, 9], "temperature"] = [65.0, 70.0]
    frame.loc[12, "amount"] = np.inf
    result = audit(frame, ranges={"temperature": (-40, 60)})
    kinds = {(s.column, s.kind): s.rows for s in result.suspects}
    assert kinds[("temperature", "out_of_range")] == [8, 9]
    assert kinds[("amount", "infinite")] == [12]


def test_label_with_too_few_anomalies_says_why():
    frame = _clean()
    frame["is_fraud"] = 0
    frame.loc[[1, 2, 3], "is_fraud"] = 1
    label = audit(frame, label="is_fraud").label
    assert (label.n_anomalies, label.enough) == (3, False)
    assert label.anomaly_share == pytest.approx(3 / N)
    assert "fewer than 50" in label.reason
    frame.loc[4, "is_fraud"] = np.nan
    label = audit(frame, label="is_fraud").label
    assert (label.missing, label.n_labelled) == (1, N - 1)


def test_a_numeric_time_column_is_taken_as_numbers():
    frame = pd.DataFrame({"t": [1.0, 2.0, 3.0, 3.0, 2.5, 4.0, 20.0, 21.0], "x": range(8)})
    time = audit(frame, time_column="t").time
    assert (time.duplicate_rows, time.out_of_order_rows) == ([3], [4])
    assert time.usual_interval == 1.0 and time.n_gaps == 1
    assert (time.gaps[0]["after_row"], time.start, time.end) == (5, 1.0, 21.0)


def test_to_dict_is_json_with_shares_in_0_1_and_counts_as_ints(planted):
    data = json.loads(json.dumps(audit(planted, "ts", "is_fraud").to_dict(), allow_nan=False))
    for column in data["columns"]:
        assert 0 <= column["missing_share"] <= 1 and 0 <= column["top_share"] <= 1
        assert isinstance(column["missing"], int) and isinstance(column["distinct"], int)
    assert 0 <= data["label"]["anomaly_share"] <= 1
    assert all(isinstance(r, int) for s in data["suspects"] for r in s["rows"])
    assert data["time"]["gaps"][0]["length"] == 3 * 3600 + 60  # seconds
    assert data["time"]["start"] == "2024-03-01T00:00:00"


@pytest.fixture(scope="module")
def planted_csv(planted, tmp_path_factory):
    path = tmp_path_factory.mktemp("audit") / "planted.csv"
    planted.to_csv(path, index=False)
    return path


def test_cli_json_is_alone_on_stdout(planted_csv, capsys):
    code = main(["audit", str(planted_csv), "--time-column", "ts", "--label", "is_fraud", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    data = json.loads(out)  # nothing but the JSON
    assert data["rows"] == N + 2 and data["duplicates"]["rows"] == [400, 401]
    sentinel = next(s for s in data["suspects"] if s["kind"] == "sentinel")
    # the rows named are data rows: row r is line r + 2 of the file
    lines = planted_csv.read_text().splitlines()  # lines[0] is the header, line 1
    assert all("-999.0" in lines[r + 1] for r in sentinel["rows"])


def test_cli_prints_a_table_and_the_problems(planted_csv):
    done = subprocess.run(
        [sys.executable, "-m", "farout", "audit", str(planted_csv), "--time-column", "ts"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "402 rows x 8 columns" in done.stdout
    assert "temperature" in done.stdout and "problems (" in done.stdout
    assert "-999 in 3 rows (rows 17, 120, 333)" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.csv"], "missing.csv: no such file."),
        (["EMPTY"], "is empty."),
        (["DATA", "--label", "nope"], "no label column 'nope'; the data has:"),
        (["DATA", "--time-column", "when"], "no time column 'when'"),
        (["DATA", "--range", "depth=0:9"], "no --range column 'depth'"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(planted_csv, tmp_path, capsys, args, message):
    (tmp_path / "empty.csv").write_text("")
    swap = {"DATA": str(planted_csv), "EMPTY": str(tmp_path / "empty.csv")}
    argv = ["audit"] + [swap.get(a, str(tmp_path / a) if a.endswith(".csv") else a) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_farout_audit_is_the_function():
    import farout.data_audit  # importing the module leaves farout.audit the function

    assert farout.audit is audit and callable(farout.audit)


def test_report_opens_with_the_audit(planted):
    from farout import KMeansAnomalyDetector
    from farout.report import model_report

    features = ["temperature", "items"]
    frame = planted.copy()
    frame["amount"] = pd.to_numeric(frame["amount"], errors="coerce")
    det = KMeansAnomalyDetector(3, random_state=0).fit(frame[features])
    page = model_report(det, frame, audit=True, label="is_fraud")
    assert 'data-section="audit"' in page
    assert "-999 in 3 rows (rows 17, 120, 333)" in page
    assert 'data-section="audit"' not in model_report(det, frame)
