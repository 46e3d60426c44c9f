"""`farout stream` (issue 12, part 4): files and pipes, each line answered
as it arrives, bad rows named with nothing before them lost."""

import os
import select
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from farout import KMeansAnomalyDetector, load
from farout.cli import main
from farout.streaming import STREAM_COLUMNS, StreamDetector


@pytest.fixture()
def metrics(tmp_path):
    rng = np.random.default_rng(0)
    n = 2000
    frame = pd.DataFrame(
        {
            "ts": pd.date_range("2026-01-01", periods=n, freq="min").astype(str),
            "cpu": rng.normal(40, 3, n),
            "mem": rng.normal(60, 5, n),
        }
    )
    frame.loc[1500, "cpu"] = 150.0
    frame.to_csv(tmp_path / "m.csv", index=False)
    return frame


def _cli(*args):
    return [sys.executable, "-m", "farout", *map(str, args)]


def test_a_file_streams_to_what_the_detector_gives(metrics, tmp_path, capsys):
    out = tmp_path / "out.csv"
    assert main(["stream", str(tmp_path / "m.csv"), "-o", str(out), "--time-column", "ts"]) == 0
    got = pd.read_csv(out)
    want = StreamDetector().process(metrics[["cpu", "mem"]])
    assert list(got.columns) == ["ts", "cpu", "mem", *STREAM_COLUMNS]
    np.testing.assert_array_equal(got["anomaly_score"], want["anomaly_score"])
    np.testing.assert_array_equal(got["anomaly_likelihood"], want["anomaly_likelihood"])
    assert got["is_anomaly"].iloc[1500]
    assert "streamed 2,000 rows" in capsys.readouterr().err
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".farout-")]


def test_each_line_is_answered_as_it_arrives(metrics, tmp_path):
    lines = (tmp_path / "m.csv").read_text().splitlines()
    with subprocess.Popen(
        _cli("stream", "-", "-o", "-", "--time-column", "ts"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            process.stdin.write(lines[0] + "\n")
            answered = []
            for line in lines[1:4]:
                process.stdin.write(line + "\n")
                process.stdin.flush()
                # the input stays open: an answer now means it was flushed
                ready, _, _ = select.select([process.stdout], [], [], 30)
                assert ready, "no answer within 30 s to a line written"
                answered.append(process.stdout.readline())
                if len(answered) == 1:  # the header comes with the first row
                    answered.append(process.stdout.readline())
            assert answered[0].startswith("ts,cpu,mem,anomaly_score")
            assert answered[1].startswith(lines[1].split(",")[0])
            assert len(answered) == 4
        finally:
            process.stdin.close()
            process.wait(timeout=60)
    assert process.returncode == 0


def test_standard_input_as_json_lines(metrics, tmp_path):
    import json

    # (pandas' to_json rounds floats; json.dumps writes them exactly)
    text = "".join(json.dumps(r) + "\n" for r in metrics.iloc[:300].to_dict("records"))
    done = subprocess.run(
        _cli("stream", "-", "--format", "jsonl", "-o", "-", "--time-column", "ts"),
        input=text,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    from io import StringIO

    got = pd.read_csv(StringIO(done.stdout))
    want = StreamDetector().process(metrics[["cpu", "mem"]].iloc[:300])
    np.testing.assert_array_equal(got["anomaly_score"], want["anomaly_score"])


def test_a_timestamp_out_of_order_stops_the_stream_and_loses_nothing(metrics, tmp_path, capsys):
    bad = metrics.copy()
    bad.loc[1200, "ts"] = "2025-12-31 00:00:00"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    out, state = tmp_path / "out.csv", tmp_path / "state.farout"
    code = main(
        ["stream", str(tmp_path / "bad.csv"), "-o", str(out), "--time-column", "ts"]
        + ["--save-state", str(state)]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "row 1200" in err[0] and "before the row above it" in err[0]
    assert len(pd.read_csv(out)) == 1200  # every row before it, written
    # resuming from the checkpoint after the bad row gives the unbroken run
    metrics.iloc[1201:].to_csv(tmp_path / "rest.csv", index=False)
    out2 = tmp_path / "rest-out.csv"
    rest = ["stream", str(tmp_path / "rest.csv"), "-m", str(state), "-o", str(out2)]
    assert main([*rest, "--time-column", "ts"]) == 0
    unbroken = StreamDetector()
    unbroken.process(metrics[["cpu", "mem"]].iloc[:1200])
    want = unbroken.process(metrics[["cpu", "mem"]].iloc[1201:])
    np.testing.assert_array_equal(pd.read_csv(out2)["anomaly_score"], want["anomaly_score"])


def test_a_value_that_is_not_a_number_is_named(metrics, tmp_path, capsys):
    bad = metrics.astype({"mem": object})
    bad.loc[700, "mem"] = "n/a?"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    out = tmp_path / "out.csv"
    assert main(["stream", str(tmp_path / "bad.csv"), "-o", str(out), "--time-column", "ts"]) == 2
    err = capsys.readouterr().err
    assert "row 700: column 'mem' holds 'n/a?', not a number" in err
    assert len(pd.read_csv(out)) == 700


def test_start_from_a_fitted_model_or_resume_a_checkpoint(metrics, tmp_path):
    model = tmp_path / "m.farout"
    KMeansAnomalyDetector(2, random_state=0).fit(metrics[["cpu", "mem"]].iloc[:1000]).save(model)
    out = tmp_path / "out.csv"
    assert (
        main(
            ["stream", str(tmp_path / "m.csv"), "-m", str(model), "-o", str(out), "--exclude", "ts"]
        )
        == 0
    )
    assert pd.read_csv(out)["cluster"].iloc[0] in (0, 1)
    state = tmp_path / "s.farout"
    assert (
        main(
            [
                "stream",
                str(tmp_path / "m.csv"),
                "-o",
                str(out),
                "--exclude",
                "ts",
                "--save-state",
                str(state),
            ]
        )
        == 0
    )
    assert load(state).n_seen_ == len(metrics)


def test_an_unknown_entity_column_is_named(metrics, tmp_path, capsys):
    code = main(["stream", str(tmp_path / "m.csv"), "--entity-column", "host"])
    assert code == 2 and "no column 'host' (--entity-column)" in capsys.readouterr().err


def test_a_json_line_without_a_column_is_named_and_loses_nothing(tmp_path):
    import json

    lines = [json.dumps({"ts": f"2026-01-01 00:0{i}:00", "v": float(i)}) for i in range(4)]
    lines[2] = json.dumps({"ts": "2026-01-01 00:02:00"})
    out, state = tmp_path / "o.csv", tmp_path / "s.farout"
    done = subprocess.run(
        _cli(
            "stream",
            "-",
            "--format",
            "jsonl",
            "-o",
            out,
            "--time-column",
            "ts",
            "--save-state",
            state,
        ),
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "no column 'v'" in done.stderr
    assert len(pd.read_csv(out)) == 2 and load(state).n_seen_ == 2


def test_settings_with_a_checkpoint_are_refused(metrics, tmp_path, capsys):
    state = tmp_path / "s.farout"
    args = ["stream", str(tmp_path / "m.csv"), "-o", str(tmp_path / "o.csv"), "--exclude", "ts"]
    assert main([*args, "--save-state", str(state)]) == 0
    capsys.readouterr()
    assert main([*args, "-m", str(state), "--half-life", "50"]) == 2
    assert "drop --half-life" in capsys.readouterr().err


def test_a_half_life_in_time_from_the_command_line(metrics, tmp_path):
    out = tmp_path / "o.csv"
    args = ["stream", str(tmp_path / "m.csv"), "-o", str(out), "--time-column", "ts"]
    assert main([*args, "--half-life", "1d"]) == 0
    want = StreamDetector(half_life=1440).process(metrics[["cpu", "mem"]])  # 1,440 minutes
    np.testing.assert_array_equal(pd.read_csv(out)["anomaly_score"], want["anomaly_score"])


def test_a_resumed_stream_refuses_rows_from_before_its_checkpoint(metrics, tmp_path, capsys):
    state = tmp_path / "s.farout"
    metrics.iloc[:1000].to_csv(tmp_path / "head.csv", index=False)
    args = ["--time-column", "ts", "-o", str(tmp_path / "o.csv")]
    assert main(["stream", str(tmp_path / "head.csv"), *args, "--save-state", str(state)]) == 0
    metrics.iloc[500:700].to_csv(tmp_path / "old.csv", index=False)
    capsys.readouterr()
    assert main(["stream", str(tmp_path / "old.csv"), "-m", str(state), *args]) == 2
    assert "before the row above it" in capsys.readouterr().err


def test_a_stream_that_fails_on_its_first_row_leaves_no_output(tmp_path, capsys):
    pd.DataFrame({"ts": ["x"], "v": ["not a number"]}).to_csv(tmp_path / "bad.csv", index=False)
    out = tmp_path / "o.csv"
    assert main(["stream", str(tmp_path / "bad.csv"), "-o", str(out), "--time-column", "ts"]) == 2
    assert not out.exists()
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".farout-")]


def test_windowed_features_from_the_command_line(metrics, tmp_path, capsys):
    from farout.features import WindowFeatures

    out = tmp_path / "o.csv"
    args = ["stream", str(tmp_path / "m.csv"), "-o", str(out), "--time-column", "ts"]
    assert main([*args, "--rolling", "6", "--subsequence", "5", "--diff"]) == 0
    features = WindowFeatures(rolling=(6,), subsequence=5, diff=True)
    want = StreamDetector(features=features).process(metrics[["cpu", "mem"]])
    np.testing.assert_array_equal(pd.read_csv(out)["anomaly_score"], want["anomaly_score"])
    capsys.readouterr()
    assert main([*args, "--lags", "0"]) == 2
    assert "lags must hold whole numbers >= 1" in capsys.readouterr().err
