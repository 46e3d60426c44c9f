"""Retraining with gates (issue 18 part 3): planted data problems stop the
job with their rows; a poisoned window and a low precision are rejected by
the gate named; a good window becomes challenger and champion stays; the
endpoint over real HTTP to ``farout serve``; rows analysts marked as
anomalies stay out of the fit; bad gates are refused naming the field."""

import json
import time

import numpy as np
import pytest
from servers import Server, farout, make_key, payments

import farout as fo
from farout.client import APIError, Client
from farout.gates import GateError, Gates, make_gates, read_gates
from farout.retraining import AuditFailed, TooFewRows, Window, retrain_detector
from farout.thresholds import Percentile

# ------------------------------------------------------------- the gates


def test_gates_from_a_file_and_flags(tmp_path):
    toml = tmp_path / "gates.toml"
    toml.write_text("min_rows = 500\nmin_precision = 0.8\nmax_score_drift = 0.1\n")
    gates = read_gates(toml)
    assert gates == Gates(min_rows=500, min_precision=0.8, max_score_drift=0.1)
    nested = tmp_path / "gates.json"
    nested.write_text(json.dumps({"gates": {"max_alert_rate_change": None}}))
    assert read_gates(nested).max_alert_rate_change is None  # null turns it off
    over = make_gates({"min_rows": 50}, base=gates)
    assert (over.min_rows, over.min_precision) == (50, 0.8)


@pytest.mark.parametrize(
    ("text", "suffix", "field", "words"),
    [
        ("max_drift = 0.1\n", ".toml", "max_drift", "unknown field 'max_drift'"),
        ("min_precision = 1.5\n", ".toml", "min_precision", "from 0 to 1, got 1.5"),
        ('min_rows = "many"\n', ".toml", "min_rows", "whole number, got 'many'"),
        ("min_rows = 1\n", ".toml", "min_rows", "at least 2"),
        ('{"max_score_drift": "low"}', ".json", "max_score_drift", "a number from 0 to 1"),
        ("min_rows = = 3\n", ".toml", None, "is not valid TOML"),
        ("[1, 2]", ".json", None, "must be a table"),
        ("min_rows: 3\n", ".yaml", None, "must end in .toml or .json"),
    ],
)
def test_bad_gate_files_name_the_field(tmp_path, text, suffix, field, words):
    path = tmp_path / f"gates{suffix}"
    path.write_text(text)
    with pytest.raises(GateError, match=words) as caught:
        read_gates(path)
    assert caught.value.field == field
    if field is not None:
        assert f"{field}" in str(caught.value) and str(path) in str(caught.value)


def test_the_cli_refuses_a_bad_gate_file_and_flag(tmp_path):
    path = tmp_path / "gates.toml"
    path.write_text("min_precision = 2\n")
    done = farout(
        "retrain",
        "--registry",
        str(tmp_path),
        "--from-log",
        "30d",
        "--gates",
        str(path),
        check=False,
    )
    assert done.returncode == 2 and "min_precision must be from 0 to 1, got 2" in done.stderr
    done = farout(
        "retrain",
        "--registry",
        str(tmp_path),
        "--from-log",
        "30d",
        "--max-score-drift",
        "high",
        check=False,
    )
    assert done.returncode == 2 and "--max-score-drift: must be a number or off" in done.stderr


# ------------------------------------------------------------ the library


@pytest.fixture(scope="module")
def champion():
    tiers = {"low": Percentile(95), "high": Percentile(99.5)}
    return fo.KMeansAnomalyDetector(n_clusters=3, random_state=0, tiers=tiers).fit(payments(800, 0))


def test_planted_problems_are_each_reported_with_their_rows(champion):
    frame = payments(400, 1)
    frame.loc[[5, 17, 40], "amount"] = -999.0
    frame["hour"] = frame["hour"].astype(object)
    frame.loc[[8, 60], "hour"] = "err"
    frame["kind"] = None
    with pytest.raises(AuditFailed) as caught:
        retrain_detector(champion, Window(frame))
    found = {(p["check"], p["column"]): p for p in caught.value.problems}
    assert set(found) == {("sentinel", "amount"), ("text", "hour"), ("all_missing", "kind")}
    assert found["sentinel", "amount"]["rows"] == [5, 17, 40]
    assert found["text", "hour"]["rows"] == [8, 60] and found["all_missing", "kind"]["count"] == 400
    assert "rows 5, 17, 40" in str(caught.value)

    stuck = payments(400, 2)
    stuck["kind"] = "card"
    stuck.loc[[3, 30], "hour"] = np.nan  # the model refuses missing values
    with pytest.raises(AuditFailed) as caught:
        retrain_detector(champion, Window(stuck))
    found = {(p["check"], p["column"]): p for p in caught.value.problems}
    assert set(found) == {("constant", "kind"), ("missing", "hour")}
    assert found["missing", "hour"]["rows"] == [3, 30]


def test_too_few_rows_stop_before_fitting(champion):
    window = Window(payments(300, 3))
    with pytest.raises(TooFewRows, match="225 rows to fit on.*fewer than the 500"):
        retrain_detector(champion, window, Gates(min_rows=500))


def test_a_file_window_from_python_and_the_cli(champion, tmp_path):
    """``farout.retrain`` on a registry and a file; a held-out split in
    the file's time order; the command line's table and exit codes."""
    registry = tmp_path / "registry"
    champion.save(tmp_path / "payments.farout")
    make_key(registry)  # creates the database
    from farout.service.database import Database, default_url
    from farout.service.registry import Registry

    db = Database(default_url(registry))
    Registry(registry, db).add(tmp_path / "payments.farout", "payments", actor="test")
    db.close()
    good = payments(1200, 4)
    good["at"] = np.arange(len(good)) * 60.0
    good.to_csv(tmp_path / "good.csv", index=False)
    done = fo.retrain(registry, data=tmp_path / "good.csv", time_column="at")
    assert done.outcome == "challenger" and done.version["version"] == 2
    assert done.version["provenance"]["window"]["source"] == "file"
    assert done.result.rows == {"window": 1200, "marked": 0, "fitted": 900, "held_out": 300}

    bad = good.copy()
    bad.loc[:899, "amount"] = np.random.default_rng(5).lognormal(3, 0.04, 900)  # a narrow source
    bad.to_parquet(tmp_path / "bad.parquet")
    args = ["retrain", "--registry", str(registry), "--data", str(tmp_path / "bad.parquet")]
    done = farout(*args, "--time-column", "at", check=False)
    assert done.returncode == 3, done.stderr
    assert "payments/3 failed max_alert_rate_change" in done.stdout
    table = done.stdout[done.stdout.index("gate ") :].splitlines()
    assert table[0].split() == ["gate", "measured", "limit", "result"]
    assert [line.split()[0] for line in table[1:5]] == [
        "min_rows",
        "min_precision",
        "max_alert_rate_change",
        "max_score_drift",
    ]
    assert table[3].split()[2:] == ["0.0300", "fail"]
    assert "rejected by gates max_alert_rate_change" in done.stderr
    shown = farout("info", str(registry / "models" / "payments" / "payments-v3.farout")).stdout
    assert "retrained from payments/1 on the file" in shown and "bad.parquet" in shown
    assert "rejected (failed max_alert_rate_change" in shown

    broken = good.copy()
    broken.loc[[7, 70, 700], "amount"] = 9999.0
    broken.to_csv(tmp_path / "broken.csv", index=False)
    done = farout(*args[:3], "--data", str(tmp_path / "broken.csv"), "--json", check=False)
    assert done.returncode == 2
    answer = json.loads(done.stdout)
    assert answer["outcome"] == "audit_failed"
    assert answer["problems"][0]["rows"] == [7, 70, 700]
    assert "fails its audit" in done.stderr


# ---------------------------------------------------------- over HTTP


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def service(request, tmp_path_factory, champion):
    """(admin client, score client, registry, db url or None)."""
    registry = tmp_path_factory.mktemp(f"retrain-{request.param}")
    db = (
        request.getfixturevalue("postgres").new_database()
        if request.param == "postgresql"
        else None
    )
    model = tmp_path_factory.mktemp("model") / "payments.farout"
    champion.save(model)
    admin_key, score_key = make_key(registry, db), make_key(registry, db, scope="score")
    server = Server(registry, db, "-q").start()
    try:
        admin, analyst = Client(server.url, admin_key), Client(server.url, score_key)
        admin.upload(model)
        yield admin, analyst, registry, db
    finally:
        server.stop()


def _scored(client, *frames):
    """Score each frame in its own request, oldest first; ``(since, until,
    predictions of each frame)``."""
    since, answers = time.time() - 0.001, []
    for frame in frames:
        answers.append(client.score(frame.to_dict("records"))["predictions"])
        time.sleep(0.01)  # the next request is scored strictly later
    return since, time.time() + 0.001, answers


def _aliases(client):
    (model,) = [m for m in client.models() if m["name"] == "payments"]
    return model["aliases"]


def test_a_good_window_becomes_challenger_through_the_endpoint(service):
    admin, analyst, *_ = service
    since, until, _ = _scored(analyst, payments(800, 10))
    with pytest.raises(APIError) as refused:
        analyst.retrain("payments", since, until)
    assert refused.value.status == 403
    done = admin.retrain("payments", since, until)
    assert done["outcome"] == "challenger" and done["champion"]["version"] == 1
    version = done["version"]
    assert version["status"] == "ready" and version["aliases"] == ["challenger"]
    provenance = version["provenance"]
    assert provenance["kind"] == "retraining" and provenance["from"] == done["champion"]
    assert provenance["window"]["source"] == "log"
    assert provenance["window"]["predictions"] == 800 and provenance["failed"] == []
    assert _aliases(admin) == {"champion": 1, "challenger": version["version"]}
    changes = [(c["action"], c["alias"], c["to_version"]) for c in admin.audit("payments")]
    assert ("register", None, version["version"]) in changes
    assert ("set_alias", "challenger", version["version"]) in changes
    assert [c for c in changes if c[1] == "champion"] == [("set_alias", "champion", 1)]
    table = {g["gate"]: g for g in done["retraining"]["gates"]}
    assert table["max_score_drift"]["status"] == "pass"
    assert table["max_score_drift"]["measured"] <= table["max_score_drift"]["limit"]


def test_the_endpoint_refuses_bad_gates_and_windows(service):
    admin, *_ = service
    with pytest.raises(APIError) as bad:
        admin.retrain("payments", "30d", gates={"min_precision": 2})
    assert bad.value.status == 422 and bad.value.fields["field"] == "gates.min_precision"
    with pytest.raises(APIError) as bad:
        admin.retrain("payments", "30d", gates={"max_drift": 0.1})
    assert bad.value.fields["field"] == "gates.max_drift" and "unknown field" in bad.value.message
    with pytest.raises(APIError) as bad:
        admin.retrain("payments", "last month")
    assert bad.value.status == 422 and bad.value.fields["field"] == "since"
    with pytest.raises(APIError) as bad:
        admin.retrain("payments", time.time() + 3600)
    assert bad.value.status == 422 and "logged no predictions" in bad.value.message
    with pytest.raises(APIError) as bad:
        admin.retrain("nobody", "30d")
    assert bad.value.status == 404


def test_the_endpoint_stops_on_a_failed_audit_with_rows_and_ids(service):
    admin, analyst, *_ = service
    frame = payments(400, 11)
    frame.loc[[3, 50, 120], "amount"] = -999.0
    frame["kind"] = "card"  # a source stuck at one value
    since, until, (predictions,) = _scored(analyst, frame)
    before = _aliases(admin)
    with pytest.raises(APIError) as failed:
        admin.retrain("payments", since, until)
    assert failed.value.status == 422 and failed.value.code == "audit_failed"
    found = {(p["check"], p["column"]): p for p in failed.value.fields["problems"]}
    assert set(found) == {("sentinel", "amount"), ("constant", "kind")}
    assert found["sentinel", "amount"]["rows"] == [3, 50, 120]
    ids = failed.value.fields["prediction_ids"]
    assert ids == {str(r): predictions[r]["prediction_id"] for r in (3, 50, 120)}
    assert failed.value.fields["audit"]["rows"] == 400
    assert _aliases(admin) == before  # nothing registered


def test_a_poisoned_window_is_rejected_with_its_gate(service):
    """The earlier rows come from a source that lost its spread: the new
    model flags most of the held-out rows, the champion few."""
    admin, analyst, registry, db = service
    narrow = payments(600, 12)
    narrow["amount"] = np.random.default_rng(12).lognormal(3, 0.04, 600)
    since, until, _ = _scored(analyst, narrow, payments(200, 13))
    before = _aliases(admin)
    args = ["retrain", "--registry", str(registry), *(["--db", db] if db else [])]
    args += ["--name", "payments", "--from-log", str(since), "--until", str(until), "--json"]
    done = farout(*args, check=False)
    assert done.returncode == 3, done.stderr
    answer = json.loads(done.stdout)
    assert (
        answer["outcome"] == "rejected"
        and "max_alert_rate_change" in answer["retraining"]["failed"]
    )
    measured = answer["retraining"]["measured"]
    assert measured["alert_rate_new"] > 10 * measured["alert_rate_champion"]
    number = answer["version"]["version"]
    stored = admin.version("payments", number)
    assert stored["status"] == "rejected" and stored["aliases"] == []
    assert stored["provenance"]["failed"] == answer["retraining"]["failed"]
    assert stored["provenance"]["measured"]["alert_rate_change"] == measured["alert_rate_change"]
    assert _aliases(admin) == before  # champion and challenger unchanged
    changes = [(c["action"], c["to_version"]) for c in admin.audit("payments")]
    assert ("register", number) in changes and ("reject", number) in changes
    # a rejected version cannot be made champion by hand either
    with pytest.raises(APIError) as caught:
        admin.set_alias("payments", "champion", number)
    assert caught.value.status == 409 and "max_alert_rate_change" in caught.value.message
    assert _aliases(admin) == before


def test_from_log_leaves_out_rows_analysts_marked_and_precision_gates(service):
    admin, analyst, registry, db = service
    early, late = payments(600, 14), payments(200, 15)
    early.loc[:19, "amount"] = 4000.0
    late.loc[:59, "amount"] = np.linspace(150, 3000, 60)
    since, until, (first, second) = _scored(analyst, early, late)
    ids = [p["prediction_id"] for p in first[:20]]
    verdicts = [{"prediction_id": i, "verdict": "anomaly", "analyst": "ann"} for i in ids[:10]]
    # ann changed her mind on five: her latest says normal, so they stay in the fit
    verdicts += [{"prediction_id": i, "verdict": "anomaly", "analyst": "ann"} for i in ids[10:15]]
    verdicts += [{"prediction_id": i, "verdict": "normal", "analyst": "ann"} for i in ids[10:15]]
    # one analyst's anomaly is enough to keep a row out
    verdicts += [{"prediction_id": i, "verdict": "normal", "analyst": "ann"} for i in ids[15:20]]
    verdicts += [{"prediction_id": i, "verdict": "anomaly", "analyst": "bob"} for i in ids[15:20]]
    # the held-out alerts: half confirmed
    held = [p["prediction_id"] for p in second[:60]]
    verdicts += [
        {"prediction_id": i, "verdict": "anomaly" if k % 2 else "normal", "analyst": "cy"}
        for k, i in enumerate(held)
    ]
    analyst.feedback(items=verdicts)
    args = ["retrain", "--registry", str(registry), *(["--db", db] if db else [])]
    args += ["--from-log", str(since), "--until", str(until), "--json", "--min-precision", "0.9"]
    args += ["--max-alert-rate-change", "off", "--max-score-drift", "off"]
    ran = farout(*args, check=False)
    assert ran.returncode == 3, ran.stderr
    done = json.loads(ran.stdout)
    rows = done["retraining"]["rows"]
    assert rows == {"window": 800, "marked": 15 + 30, "fitted": 600 - 15, "held_out": 200}
    assert done["outcome"] == "rejected" and done["retraining"]["failed"] == ["min_precision"]
    measured = done["retraining"]["measured"]
    assert measured["labelled_held_out"] == 60 and measured["labelled_alerts_new"] >= 30
    assert measured["precision_new"] == pytest.approx(0.5, abs=0.05)
    path = registry / "models" / "payments" / done["version"]["file"]
    assert fo.load(path).training_summary_["n_rows"] == 585
    loose = {"max_alert_rate_change": None, "max_score_drift": None}
    passed = admin.retrain("payments", since, until, gates={**loose, "min_precision": 0.4})
    assert passed["outcome"] == "challenger"
    gate = {g["gate"]: g for g in passed["retraining"]["gates"]}["min_precision"]
    assert gate["status"] == "pass" and gate["limit"] == 0.4
    assert _aliases(admin)["champion"] == 1
