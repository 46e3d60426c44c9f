"""The command line, driven through a real subprocess."""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from farout.datasets import make_transactions


def farout(*args, stdin=None, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "farout.cli", *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    path = folder / "tx.csv"
    make_transactions(3000, random_state=2).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def model(data_csv):
    path = data_csv.parent / "model.farout"
    run = farout(
        "fit",
        data_csv,
        "-o",
        path,
        "--exclude",
        "is_fraud,fraud_type",
        "--threshold",
        "percentile:97",
        "--tiers",
        "warning=percentile:97,critical=percentile:99.5",
    )
    assert run.returncode == 0, run.stderr
    assert "k=" in run.stdout
    return path


def test_fit_score_round_trip(data_csv, model, tmp_path):
    out = tmp_path / "scored.csv"
    run = farout("score", data_csv, "-m", model, "-o", out)
    assert run.returncode == 0, run.stderr
    scored = pd.read_csv(out)
    original = pd.read_csv(data_csv)
    assert list(scored.columns) == list(original.columns) + [
        "anomaly_score",
        "is_anomaly",
        "severity",
        "cluster",
        "reason",
    ]
    assert len(scored) == len(original)
    flagged = scored[scored["is_anomaly"]]
    assert (
        flagged["reason"].notna().all() and scored.loc[~scored["is_anomaly"], "reason"].isna().all()
    )
    assert set(flagged["severity"]) <= {"warning", "critical"}
    # the same scores as the library gives
    from farout import load

    det = load(model)
    lib = det.anomaly_score(original.drop(columns=["is_fraud", "fraud_type"]))
    pd.testing.assert_series_equal(scored["anomaly_score"], lib, check_names=False, rtol=1e-12)


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_other_formats(data_csv, model, tmp_path, suffix):
    frame = pd.read_csv(data_csv)
    src = tmp_path / f"in{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(src)
    else:
        frame.to_json(src, orient="records", lines=True)
    out = tmp_path / f"out{suffix}"
    run = farout("score", src, "-m", model, "-o", out, "--chunksize", "700")
    assert run.returncode == 0, run.stderr
    back = pd.read_parquet(out) if suffix == ".parquet" else pd.read_json(out, lines=True)
    assert len(back) == len(frame) and "anomaly_score" in back.columns


def test_stdin_to_stdout(data_csv, model):
    run = farout(
        "score", "-", "-m", model, "-o", "-", "--reasons", "none", stdin=data_csv.read_text()
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0].endswith("anomaly_score,is_anomaly,severity,cluster,reason")
    assert len(run.stdout.splitlines()) == 3001


def test_evaluate_matches_library(data_csv, model):
    run = farout("evaluate", data_csv, "-m", model, "--label", "is_fraud", "--json")
    assert run.returncode == 0, run.stderr
    metrics = json.loads(run.stdout)
    from farout import load
    from farout.evaluation import evaluate

    frame = pd.read_csv(data_csv)
    det = load(model)
    result = det.detect(frame.drop(columns=["is_fraud", "fraud_type"]), reasons="none")
    assert metrics == evaluate(
        frame["is_fraud"], result["anomaly_score"], flags=result["is_anomaly"]
    )
    assert metrics["roc_auc"] > 0.9
    text = farout("evaluate", data_csv, "-m", model, "--label", "is_fraud")
    assert "roc_auc" in text.stdout and "precision" in text.stdout


def test_explain_and_info(data_csv, model, tmp_path):
    run = farout(
        "explain", data_csv, "-m", model, "-n", "2", "--top", "2", "-o", tmp_path / "e.csv"
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("row ") == 2 and "typical" in run.stdout
    assert len(pd.read_csv(tmp_path / "e.csv")) == 2
    rows = farout("explain", data_csv, "-m", model, "--rows", "0,5")
    assert rows.stdout.startswith("row 0:") and "row 5:" in rows.stdout
    info = farout("info", model)
    assert info.returncode == 0, info.stderr
    for word in ("clusters", "merchant_category", "categorical", "Percentile(q=97", "critical"):
        assert word in info.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (("score", "missing.csv", "-m", "MODEL", "-o", "x.csv"), "missing.csv: no such file"),
        (("info", "DATA"), "not a farout model file"),
        (("fit", "DATA", "-o", "m.farout", "--exclude", "nope"), "unknown column(s) 'nope'"),
        (
            ("fit", "DATA", "-o", "m.farout", "--threshold", "median:3"),
            "unknown threshold 'median'",
        ),
        (("fit", "DATA", "-o", "m.farout", "--k", "lots"), "--k must be 'auto' or an integer"),
        (("evaluate", "DATA", "-m", "MODEL", "--label", "fraud"), "no label column 'fraud'"),
        (("explain", "DATA", "-m", "MODEL", "--rows", "99999"), "out of range"),
        (("fit", "DATA", "-o", "m.farout", "--passes", "0"), "--passes must be >= 1, got 0"),
    ],
)
def test_input_errors_exit_2_with_one_line(data_csv, model, tmp_path, args, message):
    args = [str(data_csv) if a == "DATA" else str(model) if a == "MODEL" else a for a in args]
    run = farout(*args, cwd=tmp_path)
    assert run.returncode == 2
    assert message in run.stderr
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1


def test_bad_row_is_named_and_output_not_left_behind(model, data_csv, tmp_path):
    frame = pd.read_csv(data_csv).astype({"amount": object})
    frame.loc[1234, "amount"] = "n/a?"
    src = tmp_path / "bad.csv"
    frame.to_csv(src, index=False)
    out = tmp_path / "out.csv"
    run = farout("score", src, "-m", model, "-o", out, "--chunksize", "500")
    assert run.returncode == 2
    assert "row 1234" in run.stderr and "amount" in run.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == [src]


def test_usage_error_exits_2():
    run = farout("fit")
    assert run.returncode == 2 and "usage" in run.stderr


def test_demo_writes_outputs(tmp_path):
    run = farout("demo", "--out", tmp_path / "demo", "--rows", "3000", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    for word in ("precision", "recall", "F1", "ROC-AUC", "PR-AUC", "five most anomalous"):
        assert word in run.stdout
    assert (tmp_path / "demo" / "model.farout").exists()
    assert len(pd.read_csv(tmp_path / "demo" / "scored.csv")) == 3000


def test_compare_prints_one_table(data_csv):
    run = farout(
        "compare",
        data_csv,
        "--label",
        "is_fraud",
        "--baselines",
        "zscore,iqr",
        "--score-mode",
        "distance",
        "--alert-rate",
        "0.03",
    )
    assert run.returncode == 0, run.stderr
    assert "alert rate 3.00%" in run.stdout
    for word in ("farout", "zscore", "iqr", "roc_auc", "pr_auc", "fit_seconds"):
        assert word in run.stdout


def test_evaluate_by_group_and_sweep(data_csv, model, tmp_path):
    sweep = tmp_path / "sweep.csv"
    run = farout(
        "evaluate",
        data_csv,
        "-m",
        model,
        "--label",
        "is_fraud",
        "--by",
        "customer_segment",
        "--sweep",
        sweep,
        "--fp-cost",
        "50",
        "--fn-cost",
        "5000",
    )
    assert run.returncode == 0, run.stderr
    assert "by customer_segment (weakest first)" in run.stdout and "retiree" in run.stdout
    table = pd.read_csv(sweep)
    assert {"cut", "precision", "recall", "f1", "alert_rate", "expected_cost"} <= set(table.columns)
    assert table["flagged"].iloc[0] == 0 and table["recall"].iloc[-1] == 1.0


def test_threshold_command_freezes_a_cost_optimal_cut(data_csv, model, tmp_path):
    out = tmp_path / "costed.farout"
    run = farout(
        "threshold",
        data_csv,
        "-m",
        model,
        "--label",
        "is_fraud",
        "--target",
        "cost",
        "--fp-cost",
        "50",
        "--fn-cost",
        "5000",
        "-o",
        out,
    )
    assert run.returncode == 0, run.stderr
    from farout import load
    from farout.thresholds import CostOptimal

    det = load(out)
    frame = pd.read_csv(data_csv)
    scores = load(model).anomaly_score(frame[list(det.feature_names_in_)])
    expected = CostOptimal(fp_cost=50, fn_cost=5000).fit(scores, y=frame["is_fraud"])
    assert isinstance(det.threshold_, CostOptimal) and det.threshold_.cut_ == expected.cut_
    missing = farout(
        "threshold", data_csv, "-m", model, "--target", "recall", "--value", "0.9", "-o", out
    )
    assert missing.returncode == 2 and "needs --label" in missing.stderr


def test_compare_can_exclude_a_leaking_column(data_csv):
    run = farout(
        "compare",
        data_csv,
        "--label",
        "is_fraud",
        "--exclude",
        "fraud_type",
        "--baselines",
        "zscore",
    )
    assert run.returncode == 0, run.stderr
    leak = farout("compare", data_csv, "--label", "is_fraud", "--exclude", "is_fraud")
    assert leak.returncode == 2 and "--exclude must not name" in leak.stderr


def test_fit_on_standard_input_larger_than_the_sample_says_why_it_stops(data_csv):
    run = farout("fit", "-", "-o", "m.farout", "--sample-rows", "500", stdin=data_csv.read_text())
    assert run.returncode == 2
    assert "cannot be read a second time" in run.stderr and "--sample-rows" in run.stderr
